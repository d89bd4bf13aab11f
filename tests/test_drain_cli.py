"""`kvtui drain` and `kvtui uncordon` as an admin runs them, against the simulator.

Each command runs in a subprocess with the isolated HOME of conftest, so the audit log and the
drain journal land in the test's own state dir. Read-only checks share one cluster; a test
that cordons, drains or breaks something gets a cluster of its own (they start in ~0.1 s).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import pty
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kvtui.cluster.drain_journal import DrainJournal
from kvtui.drain_cli import parse_duration
from kvtui.sim.runner import SimHandle, running_simulator
from tests.sim.http_helpers import Api, make_api
from tests.test_cli import assert_one_line_error, kvtui

# `  0:42 cluster-x/vm-1  migrating (Running) → kv-node-3`
CHANGE = re.compile(r"^\s*\d+:\d{2} (?P<namespace>[^/\s]+)/(?P<name>\S+)  (?P<label>.+)$")
VMIS = "/apis/kubevirt.io/v1/virtualmachineinstances"
VMIMS = "/apis/kubevirt.io/v1/virtualmachineinstancemigrations"


def on(handle: SimHandle, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return kvtui(
        "--kubeconfig", str(handle.kubeconfig), "--context", handle.context, *args, timeout=timeout
    )


def state_dir() -> Path:
    return Path(os.environ["XDG_STATE_HOME"]) / "kvtui"


def audit_entries() -> list[dict[str, Any]]:
    path = state_dir() / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def cordoned(api: Api, node: str) -> bool:
    return bool(api.get(f"/api/v1/nodes/{node}")["spec"].get("unschedulable"))


def changes(stdout: str) -> dict[str, list[str]]:
    """Each VM's (or pod's) change lines, in order."""
    lines: dict[str, list[str]] = {}
    for line in stdout.splitlines():
        if match := CHANGE.match(line):
            lines.setdefault(match["name"], []).append(match["label"])
    return lines


def assert_calm(by_item: dict[str, list[str]]) -> None:
    """One line per state change: never the same state twice in a row for one VM."""
    for name, labels in by_item.items():
        repeats = [a for a, b in itertools.pairwise(labels) if a == b]
        assert not repeats, (name, labels)


def plan_rows(stdout: str) -> dict[str, list[str]]:
    """The plan table's rows by VM or pod name: [strategy, outcome, target, detail]."""
    rows = {}
    for line in stdout.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if len(cells) == 5 and re.fullmatch(r"[^/\s]+/\S+", cells[0]) and not CHANGE.match(line):
            rows[cells[0].split("/", 1)[1]] = cells[1:]
    return rows


def row(rows: dict[str, list[str]], prefix: str) -> list[str]:
    [found] = [cells for name, cells in rows.items() if name.startswith(prefix)]
    return found


def daemonset_pods(api: Api, node: str) -> list[dict]:
    pods = api.get(f"/api/v1/pods?fieldSelector=spec.nodeName%3D{node}")["items"]
    return [
        p
        for p in pods
        if any(o["kind"] == "DaemonSet" for o in p["metadata"].get("ownerReferences") or ())
    ]


@pytest.fixture(scope="module")
def shared() -> Iterator[SimHandle]:
    """One cluster for the tests that only plan or are refused: none of them changes it."""
    with running_simulator(scenario="default", speed=10.0, seed=21) as handle:
        yield handle


@pytest.fixture(scope="module")
def shared_api(shared: SimHandle, tmp_path_factory: pytest.TempPathFactory) -> Api:
    return make_api(shared, tmp_path_factory.mktemp("ca"))


@pytest.fixture
def cluster() -> Iterator[SimHandle]:
    with running_simulator(scenario="default", speed=10.0, seed=22) as handle:
        yield handle


@pytest.fixture
def api(cluster: SimHandle, tmp_path: Path) -> Api:
    return make_api(cluster, tmp_path)


@pytest.fixture
def unchanged(shared: SimHandle, shared_api: Api) -> Iterator[None]:
    """The shared cluster is exactly as before: no node cordoned, nothing evacuating."""
    yield
    assert not any(cordoned(shared_api, f"kv-node-{i}") for i in range(1, 5))
    vmis = shared_api.get(VMIS)["items"]
    assert not any(v["status"].get("evacuationNodeName") for v in vmis)
    assert shared_api.get(VMIMS)["items"] == []
    assert not [e for e in audit_entries() if e["result"] == "ok" and not e["dry_run"]]
    assert not (state_dir() / "drains").exists() or not any((state_dir() / "drains").iterdir())


# -- durations ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90.0),
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("1h0m5s", 3605.0),
        ("1.5s", 1.5),
        ("250ms", 0.25),
        ("2m30s", 150.0),
        (" 10s ", 10.0),
        ("0", 0.0),
        ("0s", 0.0),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "90", "5x", "-5s", "5 m", "m", "1h30", "s5", "1.s", "5S"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=r"not a duration.*90s"):
        parse_duration(text)


# -- the plan ----------------------------------------------------------------------------


@pytest.mark.usefixtures("unchanged")
def test_plan_text(shared: SimHandle, shared_api: Api) -> None:
    proc = on(shared, "drain", "kv-node-4", "--plan")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    out = proc.stdout
    lines = out.splitlines()
    assert lines[0].startswith("Drain plan for kv-node-4 (context kvtui-sim): ")
    rows = plan_rows(out)

    strategy, outcome, target, detail = row(rows, "staging-db-")
    assert (strategy, outcome, target) == ("LiveMigrate", "blocked", "-")
    assert detail.startswith("not live-migratable (DisksNotLiveMigratable")
    strategy, outcome, _, detail = row(rows, "ci-runners-md-")
    assert (strategy, outcome) == ("External", "replaced by KKP")
    assert "KKP deletes Machine" in detail
    strategy, outcome, target, detail = row(rows, "prod-eu-workers-")
    assert (strategy, outcome) == ("LiveMigrate", "live-migrate")
    assert (
        re.fullmatch(r"kv-node-[123]", target) and detail == f"live-migrates to {target} (likely)"
    )

    daemons = daemonset_pods(shared_api, "kv-node-4")
    assert len(daemons) >= 3
    [ignored] = [line for line in lines if line.strip().startswith("Ignored: ")]
    for pod in daemons:
        owner = pod["metadata"]["ownerReferences"][0]["name"]
        assert f"DaemonSet {owner}" in ignored
        assert pod["metadata"]["name"] not in out  # named as ignored, not as a row
    assert re.search(r"^Capacity: moving pods need .* CPU, .*Gi; \d+ schedulable", out, re.M)
    assert re.search(r"^User clusters on this node: \w+ 1 of \d+ VMs; ", out, re.M)
    assert re.search(r"^Estimate: ~\S+ for 1 live migration, 2 at a time", out, re.M)
    assert lines[-1].startswith("Estimate: ") and not CHANGE.search(out)  # the plan only
    assert not audit_entries()


@pytest.mark.usefixtures("unchanged")
def test_plan_json(shared: SimHandle) -> None:
    proc = on(shared, "drain", "kv-node-4", "--plan", "-o", "json")
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    assert plan["node"] == "kv-node-4" and plan["cordoned"] is False
    by_vmi = {p["vmi"]: p for p in plan["pods"] if p["vmi"]}
    [db] = [p for name, p in by_vmi.items() if name.startswith("staging-db-")]
    assert (db["outcome"], db["expect"]) == ("blocked", "blocked")
    assert "DisksNotLiveMigratable" in db["detail"]
    [worker] = [p for name, p in by_vmi.items() if name.startswith("prod-eu-workers-")]
    assert (worker["outcome"], worker["expect"]) == ("live-migrate", "migrated")
    assert all({"outcome", "expect", "namespace", "pod"} <= p.keys() for p in plan["pods"])
    assert isinstance(plan["capacity"]["fits"], bool)
    outcomes = [p["outcome"] for p in plan["pods"]]
    assert plan["counts"] == {o: outcomes.count(o) for o in set(outcomes)}
    assert plan["counts"]["ignored"] >= 3


@pytest.mark.usefixtures("unchanged")
def test_the_plan_is_allowed_in_a_read_only_session(shared: SimHandle) -> None:
    proc = on(shared, "--read-only", "drain", "kv-node-2", "--plan")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Drain plan for kv-node-2")


# -- refusals ----------------------------------------------------------------------------


@pytest.mark.usefixtures("unchanged")
def test_without_yes_and_without_a_terminal_nothing_happens(shared: SimHandle) -> None:
    proc = on(shared, "drain", "kv-node-2")  # stdin is /dev/null: no one to ask
    assert proc.returncode == 2
    assert_one_line_error(proc, "--yes")


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("answer", [b"n\n", b"\n", b""], ids=["no", "enter", "eof"])
def test_on_a_terminal_only_yes_drains(shared: SimHandle, answer: bytes) -> None:
    base = ["--kubeconfig", str(shared.kubeconfig), "--context", shared.context]
    controller, terminal = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kvtui.cli", *base, "drain", "kv-node-2"],
            stdin=terminal,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        os.write(controller, answer or b"\x04")  # ^D: end of input on a terminal
        out, err = proc.communicate(timeout=60)
    finally:
        os.close(controller)
        os.close(terminal)
    assert proc.returncode == 1, out + err
    assert "Drain kv-node-2 on context kvtui-sim (3 pods)? [y/N] " in out
    assert out.rstrip().endswith("Nothing changed.") and err == ""


@pytest.mark.usefixtures("unchanged")
def test_a_read_only_session_refuses_to_drain(shared: SimHandle) -> None:
    proc = on(shared, "drain", "kv-node-2", "--yes", "--read-only")
    assert proc.returncode == 1
    assert_one_line_error(proc, "read-only", "--plan")


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("extra", [["--yes"], ["--plan"], ["--dry-run"]])
def test_an_unknown_node(shared: SimHandle, extra: list[str]) -> None:
    proc = on(shared, "drain", "nope", *extra)
    assert proc.returncode == 1
    assert_one_line_error(proc, 'node "nope" not found')


def test_a_bad_timeout_is_an_argparse_error() -> None:
    proc = kvtui("drain", "kv-node-1", "--timeout", "5x")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr + proc.stdout
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("kvtui drain: error: argument --timeout:")
    assert "'5x'" in last and "90s" in last


@pytest.mark.usefixtures("unchanged")
def test_uncordon_an_unknown_node(shared: SimHandle) -> None:
    proc = on(shared, "uncordon", "nope")
    assert proc.returncode == 1
    assert_one_line_error(proc, "nope")


# -- draining ----------------------------------------------------------------------------


def test_a_full_drain(cluster: SimHandle, api: Api) -> None:
    proc = on(cluster, "drain", "kv-node-2", "--yes", "--timeout", "2m", timeout=150)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr == ""
    out = proc.stdout
    assert out.startswith("Drain plan for kv-node-2 (context kvtui-sim): ")
    rows = plan_rows(out)
    vms = {name for name, cells in rows.items() if cells[0] != "(pod)"}
    assert len(vms) == 3

    by_vm = changes(out)
    assert set(by_vm) == vms
    assert_calm(by_vm)
    finals = {name: labels[-1] for name, labels in by_vm.items()}
    for name, (strategy, *_) in rows.items():
        if strategy == "External":
            assert finals[name] == "replaced"
        else:
            assert re.fullmatch(r"migrated on kv-node-[134]", finals[name]), by_vm[name]
            assert any(label.startswith("migrating (Running)") for label in by_vm[name])
    assert all(len(labels) <= 8 for labels in by_vm.values()), by_vm

    verdict = out.rstrip().splitlines()[-1]
    assert re.fullmatch(
        r"kv-node-2 drained in [^:]+: 2 migrated, 1 replaced(, .+)?, 0 blocked", verdict
    )
    assert cordoned(api, "kv-node-2")  # a drained node stays cordoned, like kubectl's

    audit = audit_entries()
    assert {(e["context"], e["user"]) for e in audit} == {("kvtui-sim", "kvtui-admin")}
    verbs = [e["verb"] for e in audit]
    assert verbs[0] == "cordon" and verbs[-1] == "drain" and verbs.count("evict") == 3
    assert all(e["result"] == "ok" and not e["dry_run"] for e in audit)
    assert audit[0]["target"] == audit[-1]["target"] == "node/kv-node-2"
    entry = DrainJournal().load("kvtui-sim", "kv-node-2")
    assert entry is not None and entry.status == "drained" and entry.verdict == verdict


def test_a_full_drain_as_json_lines(cluster: SimHandle) -> None:
    proc = on(cluster, "drain", "kv-node-2", "--yes", "--timeout", "2m", "-o", "json", timeout=150)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [e["event"] for e in events[:1] + events[-1:]] == ["plan", "verdict"]
    assert {e["event"] for e in events[1:-1]} == {"change"}
    plan, verdict = events[0]["plan"], events[-1]
    vms = {p["vmi"] for p in plan["pods"] if p["vmi"]}
    assert {e["name"] for e in events[1:-1]} == vms
    for name in vms:
        mine = [e for e in events[1:-1] if e["name"] == name]
        assert mine[0]["previous"] == "" and mine[-1]["state"] in ("migrated", "replaced")
        for a, b in itertools.pairwise(mine):
            assert (a["state"], a["phase"]) != (b["state"], b["phase"]), mine
    assert verdict["drained"] is True and verdict["status"] == "drained"
    assert verdict["counts"] == {"migrated": 2, "replaced": 1}
    assert verdict["remaining"] == [] and verdict["errors"] == []
    assert verdict["line"].startswith("kv-node-2 drained in ")


def test_a_blocked_vm_times_out(cluster: SimHandle, api: Api) -> None:
    proc = on(cluster, "drain", "kv-node-4", "--yes", "--timeout", "10s", timeout=60)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = proc.stdout
    [db] = [name for name in plan_rows(out) if name.startswith("staging-db-")]
    [verdict] = [line for line in out.splitlines() if line.startswith("kv-node-4 timed out after")]
    assert verdict.endswith(", 1 blocked")
    [left] = [line for line in out.splitlines() if line.startswith("  still there: ")]
    assert left.startswith(f"  still there: {db}: blocked: ")
    assert "is not live-migratable" in left
    assert "`kvtui drain kv-node-4` again to resume" in out
    assert "`kvtui uncordon kv-node-4`" in out

    # The webhook refuses the eviction again every 5-7 s; that is not news for the admin.
    by_vm = changes(out)
    assert_calm(by_vm)
    refusals = [label for label in by_vm[db] if "is not live-migratable" in label]
    assert len(refusals) == 1 and len(by_vm[db]) <= 3, by_vm[db]
    attempts = [e for e in audit_entries() if e["verb"] == "evict" and db in e["target"]]
    assert attempts and attempts[0]["result"] == "error"

    assert cordoned(api, "kv-node-4")
    vmi = next(v for v in api.get(VMIS)["items"] if v["metadata"]["name"] == db)
    assert vmi["status"]["nodeName"] == "kv-node-4" and vmi["status"]["phase"] == "Running"
    entry = DrainJournal().load("kvtui-sim", "kv-node-4")
    assert entry.status == "timed out" and entry.verdict == verdict


def test_a_dry_run_changes_nothing(cluster: SimHandle, api: Api) -> None:
    proc = on(cluster, "drain", "kv-node-2", "--dry-run")  # no --yes, no terminal: fine
    assert proc.returncode == 0, proc.stdout + proc.stderr
    verdict = proc.stdout.rstrip().splitlines()[-1]
    assert verdict.startswith("dry run of kv-node-2: the server would ")
    assert verdict.endswith("nothing changed")
    assert not cordoned(api, "kv-node-2")
    assert not any(v["status"].get("evacuationNodeName") for v in api.get(VMIS)["items"])
    assert api.get(VMIMS)["items"] == []
    audit = audit_entries()
    assert audit and all(e["dry_run"] for e in audit)
    assert DrainJournal().load("kvtui-sim", "kv-node-2") is None


# -- uncordon ----------------------------------------------------------------------------


def test_uncordon(cluster: SimHandle, api: Api) -> None:
    resp = api(
        "PATCH",
        "/api/v1/nodes/kv-node-1",
        {"spec": {"unschedulable": True}},
        content_type="application/merge-patch+json",
    )
    assert resp.status_code == 200, resp.text
    dry = on(cluster, "uncordon", "kv-node-1", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "dry run" in dry.stdout
    assert cordoned(api, "kv-node-1")

    proc = on(cluster, "uncordon", "kv-node-1")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "node/kv-node-1 uncordoned on context kvtui-sim"
    assert not cordoned(api, "kv-node-1")
    audit = [(e["verb"], e["target"], e["dry_run"]) for e in audit_entries()]
    assert audit == [
        ("uncordon", "node/kv-node-1", True),
        ("uncordon", "node/kv-node-1", False),
    ]


def test_uncordon_is_refused_in_a_read_only_session(cluster: SimHandle, api: Api) -> None:
    api(
        "PATCH",
        "/api/v1/nodes/kv-node-1",
        {"spec": {"unschedulable": True}},
        content_type="application/merge-patch+json",
    ).raise_for_status()
    proc = on(cluster, "--read-only", "uncordon", "kv-node-1")
    assert proc.returncode == 1
    assert_one_line_error(proc, "read-only")
    assert cordoned(api, "kv-node-1")


# -- resuming after the SSH session dropped ----------------------------------------------


class Lines:
    """A subprocess's stdout, line by line, without ever blocking the test for good."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, args=(proc,), daemon=True).start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def until(self, what: str, check: Callable[[list[str]], bool], deadline: float) -> None:
        end = time.monotonic() + deadline
        while not check(self.seen):
            try:
                line = self._queue.get(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                raise AssertionError(f"no {what} within {deadline:g}s:\n" + "\n".join(self.seen))
            self.seen.append(line)


def stalled_frontends(api: Api) -> list[str]:
    """Stall the migrations of kv-node-1's two frontend VMs: a drain stays in progress."""
    frontends = sorted(
        v["metadata"]["name"]
        for v in api.get(VMIS)["items"]
        if v["metadata"]["name"].startswith("prod-eu-frontend-")
        and v["status"].get("nodeName") == "kv-node-1"
    )
    assert len(frontends) == 2
    api("PUT", "/_sim/faults", {"stall_migrations": frontends}).raise_for_status()
    return frontends


def drain_until_migrating(
    cluster: SimHandle, frontends: list[str], stop: signal.Signals
) -> tuple[int, str]:
    """Start `kvtui drain kv-node-1 --yes`, send `stop` once both frontends migrate."""
    base = ["--kubeconfig", str(cluster.kubeconfig), "--context", cluster.context]
    proc = subprocess.Popen(
        [sys.executable, "-m", "kvtui.cli", *base, "drain", "kv-node-1", "--yes"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def both_running(seen: list[str]) -> bool:
        labels = changes("\n".join(seen))
        return all(
            labels.get(name, [""])[-1].startswith("migrating (Running)") for name in frontends
        )

    try:
        Lines(proc).until("migrations running", both_running, deadline=30)
    finally:
        proc.send_signal(stop)
        try:
            proc.wait(15)
        finally:
            proc.kill()
    assert proc.stderr is not None
    return proc.returncode, proc.stderr.read()


def test_ctrl_c_leaves_the_drain_in_progress(cluster: SimHandle, api: Api) -> None:
    frontends = stalled_frontends(api)
    code, err = drain_until_migrating(cluster, frontends, signal.SIGINT)
    assert code == 130 and err == ""
    entry = DrainJournal().load("kvtui-sim", "kv-node-1")
    assert entry.status == "running"
    assert cordoned(api, "kv-node-1")

    # Uncordoning gives the drain up: the next `kvtui drain` is a new one, confirmed anew.
    api("PUT", "/_sim/faults", {"stall_migrations": []}).raise_for_status()
    assert on(cluster, "uncordon", "kv-node-1").returncode == 0
    proc = on(cluster, "drain", "kv-node-1")
    assert "Resuming" not in proc.stdout
    assert proc.returncode == 2
    assert_one_line_error(proc, "--yes")
    assert not cordoned(api, "kv-node-1")


def test_a_drain_killed_midway_resumes(cluster: SimHandle, api: Api) -> None:
    frontends = stalled_frontends(api)
    drain_until_migrating(cluster, frontends, signal.SIGKILL)  # the SSH session drops
    original = {p["vmi"] for p in DrainJournal().load("kvtui-sim", "kv-node-1").plan["pods"]}
    original.discard("")
    assert len(original) == 3 and set(frontends) < original

    entry = DrainJournal().load("kvtui-sim", "kv-node-1")
    assert entry.status == "running" and entry.plan["node"] == "kv-node-1"
    assert cordoned(api, "kv-node-1")

    # Asking what a drain would do now must not end the one in progress.
    dry = on(cluster, "drain", "kv-node-1", "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "Resuming" not in dry.stdout
    assert DrainJournal().load("kvtui-sim", "kv-node-1").status == "running"

    api("PUT", "/_sim/faults", {"stall_migrations": []}).raise_for_status()
    proc = on(cluster, "drain", "kv-node-1", "--yes", "--timeout", "2m", timeout=150)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert out.startswith("Resuming the drain of kv-node-1")
    by_vm = changes(out)
    assert set(by_vm) == original  # the board of the drain that started, bastion included
    assert_calm(by_vm)
    [bastion] = original - set(frontends)
    assert re.fullmatch(r"shut down|restarted on kv-node-[234]", by_vm[bastion][0]), by_vm
    for name in frontends:
        assert re.fullmatch(r"migrated on kv-node-[234]", by_vm[name][-1]), by_vm[name]
    verdict = out.rstrip().splitlines()[-1]
    assert re.fullmatch(
        r"kv-node-1 drained in [^:]+: 2 migrated, 0 replaced, 1 shut down.*", verdict
    )

    cordons = [e["target"] for e in audit_entries() if e["verb"] == "cordon" and not e["dry_run"]]
    assert cordons == ["node/kv-node-1"]  # the first run's: resuming does not cordon again
    entry = DrainJournal().load("kvtui-sim", "kv-node-1")
    assert entry.status == "drained" and entry.verdict == verdict

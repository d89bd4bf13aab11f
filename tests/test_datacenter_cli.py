"""`kvtui datacenter list|get|validate|apply` as an admin runs them, against the simulator.

Commands run in subprocesses with conftest's isolated HOME. Tests that only read or are
refused share one cluster and check it is exactly as before; a test that applies gets its own.
What reached the server is read from the simulator's request log, so "nothing was sent" is a
fact, not an inference.
"""

from __future__ import annotations

import json
import os
import pty
import queue
import re
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from kvtui.sim.runner import SimHandle, running_simulator
from tests.conftest import Kubectl, require_tool
from tests.sim.http_helpers import Api, make_api
from tests.test_cli import assert_one_line_error, kvtui

DC = "kubevirt-ham1"
SEED = "/apis/kubermatic.k8c.io/v1/namespaces/kubermatic/seeds/europe-west"
FINDING = re.compile(
    r"^(?P<file>[^:]+):(?:(?P<line>\d+):)? (?P<severity>error|warning): (?P<what>.+)$"
)


def on(handle: SimHandle, *args: str) -> subprocess.CompletedProcess[str]:
    return kvtui("--kubeconfig", str(handle.kubeconfig), "--context", handle.context, *args)


def block(api: Api) -> dict:
    return api.get(SEED)["spec"]["datacenters"][DC]["spec"]["kubevirt"]


def seed_patches(api: Api) -> list[str]:
    return [
        r["query"]
        for r in api("GET", "/_sim/requests").json()
        if r["method"] == "PATCH" and r["path"] == SEED
    ]


def audit_entries() -> list[dict]:
    path = Path(os.environ["XDG_STATE_HOME"]) / "kvtui" / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def write(path: Path, data: dict | str) -> Path:
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


def edited(live: dict) -> dict:
    return {**live, "dnsPolicy": "None", "dnsConfig": {"nameservers": ["10.0.0.10"]}}


@pytest.fixture(scope="module")
def shared() -> Iterator[SimHandle]:
    with running_simulator(scenario="default", speed=10.0, seed=41) as handle:
        yield handle


@pytest.fixture(scope="module")
def shared_api(shared: SimHandle, tmp_path_factory: pytest.TempPathFactory) -> Api:
    return make_api(shared, tmp_path_factory.mktemp("ca"))


@pytest.fixture
def unchanged(shared_api: Api) -> Iterator[dict]:
    """The shared Seed is exactly as before and no real change was audited."""
    before = shared_api.get(SEED)
    patches = len(seed_patches(shared_api))
    yield before
    assert shared_api.get(SEED) == before
    assert all(query == "dryRun=All" for query in seed_patches(shared_api)[patches:])
    assert not [e for e in audit_entries() if e["result"] == "ok" and not e["dry_run"]]


@pytest.fixture
def cluster() -> Iterator[SimHandle]:
    with running_simulator(scenario="default", speed=10.0, seed=42) as handle:
        yield handle


@pytest.fixture
def api(cluster: SimHandle, tmp_path: Path) -> Api:
    return make_api(cluster, tmp_path)


# -- list and get --------------------------------------------------------------------------
@pytest.mark.usefixtures("unchanged")
def test_list_text_and_json(shared: SimHandle, shared_api: Api) -> None:
    proc = on(shared, "datacenter", "list")
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    header, *rows = proc.stdout.splitlines()
    assert re.split(r"\s{2,}", header) == [
        "DC",
        "SEED",
        "DNS POLICY",
        "NAMESERVERS",
        "IMAGES",
        "STORAGE CLASSES",
        "POLICIES",
        "EVICTION",
        "CLUSTERS",
    ]
    [row] = rows
    assert row.startswith(f"{DC}  ")
    assert "kubermatic/europe-west" in row and "ClusterFirst" in row and "LiveMigrate" in row
    assert "rook-ceph-block ✓" in row

    proc = on(shared, "datacenter", "list", "-o", "json")
    assert proc.returncode == 0, proc.stderr
    [entry] = json.loads(proc.stdout)
    assert entry["name"] == DC and entry["seed"] == "europe-west"
    assert entry["seed_namespace"] == "kubermatic" and entry["storage_classes_checked"]
    assert entry["eviction_strategy"] == "LiveMigrate" and entry["dns_policy"] == "ClusterFirst"
    assert {c["name"]: c["exists"] for c in entry["storage_classes"]}["rook-ceph-block"] is True


@pytest.mark.usefixtures("unchanged")
def test_get_prints_the_block_exactly(shared: SimHandle, shared_api: Api) -> None:
    live = block(shared_api)
    proc = on(shared, "datacenter", "get", DC)
    assert proc.returncode == 0, proc.stderr
    assert yaml.safe_load(proc.stdout) == live
    assert list(yaml.safe_load(proc.stdout)) == list(live)  # the server's key order
    proc = on(shared, "datacenter", "get", DC, "-o", "json")
    assert proc.returncode == 0 and json.loads(proc.stdout) == live


@pytest.mark.usefixtures("unchanged")
def test_get_an_unknown_datacenter(shared: SimHandle) -> None:
    proc = on(shared, "datacenter", "get", "nope")
    assert proc.returncode == 1
    assert_one_line_error(proc, "nope")


# -- validate ------------------------------------------------------------------------------
@pytest.mark.usefixtures("unchanged")
def test_validate(shared: SimHandle, shared_api: Api, tmp_path: Path) -> None:
    good = write(tmp_path / "good.yaml", edited(block(shared_api)))
    proc = on(shared, "datacenter", "validate", "-f", str(good))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not [line for line in proc.stdout.splitlines() if ": error: " in line]

    bad = write(
        tmp_path / "bad.yaml",
        "dnsPolicy: Sometimes\nvmEvictionStrategy: LiveMigrate\n"
        "infraStorageClasses:\n  - name: no-such-class\n",
    )
    proc = on(shared, "datacenter", "validate", "-f", str(bad))
    assert proc.returncode == 1
    assert_one_line_error(proc, str(bad), "error")
    found = [FINDING.match(line) for line in proc.stdout.splitlines()]
    assert all(found), proc.stdout
    severities = [m["severity"] for m in found if m]
    assert severities == sorted(severities)  # errors first, then warnings
    [policy] = [m for m in found if m and "dnsPolicy" in m["what"]]
    assert policy["file"] == str(bad) and policy["line"] == "1" and policy["severity"] == "error"

    broken = write(tmp_path / "broken.yaml", "dnsPolicy: None\ndnsConfig: {nameservers: [1\n")
    proc = on(shared, "datacenter", "validate", "-f", str(broken))
    assert proc.returncode == 1
    [line] = proc.stdout.splitlines()
    match = FINDING.match(line)
    assert match and match["severity"] == "error" and match["line"] is not None


@pytest.mark.usefixtures("unchanged")
def test_validate_warnings_only_exit_0(shared: SimHandle, shared_api: Api, tmp_path: Path) -> None:
    # The live block of the default scenario is valid but has the NodeLocal DNS problem.
    live = write(tmp_path / "live.yaml", block(shared_api))
    proc = on(shared, "datacenter", "validate", "-f", str(live))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = [FINDING.match(line) for line in proc.stdout.splitlines()[:-1]]
    assert found and all(m and m["severity"] == "warning" for m in found), proc.stdout
    assert proc.stdout.splitlines()[-1] == f"{live}: valid"


def test_validate_without_a_cluster_skips_only_the_storage_class_check(tmp_path: Path) -> None:
    # conftest points KUBECONFIG at a missing file: no infra cluster to ask.
    good = write(
        tmp_path / "good.yaml", {"dnsPolicy": "None", "dnsConfig": {"nameservers": ["10.0.0.10"]}}
    )
    proc = kvtui("datacenter", "validate", "-f", str(good))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr.startswith("kvtui: note: storage classes not checked: ")
    bad = write(tmp_path / "bad.yaml", "vmEvictionStrategy: Sometimes\n")
    proc = kvtui("datacenter", "validate", "-f", str(bad))
    assert proc.returncode == 1 and f"{bad}:1: error: vmEvictionStrategy: " in proc.stdout


@pytest.mark.usefixtures("unchanged")
def test_the_seed_is_written_through_the_seed_context(
    shared: SimHandle, shared_api: Api, tmp_path: Path
) -> None:
    good = write(tmp_path / "good.yaml", edited(block(shared_api)))
    # Infra through the admin context, the Seed through the viewer: the server refuses.
    proc = on(
        shared, "--seed-context", shared.readonly_context, "datacenter", "apply", DC,
        "-f", str(good), "--yes",
    )  # fmt: skip
    assert proc.returncode == 1
    assert_one_line_error(proc, "forbidden: cannot patch seeds", "europe-west")
    [entry] = audit_entries()
    assert entry["context"] == shared.readonly_context and entry["result"] == "error"
    # And the other way round, reading only: the list still checks the infra classes.
    proc = kvtui(
        "--kubeconfig", str(shared.kubeconfig), "--context", shared.readonly_context,
        "--seed-context", shared.context, "datacenter", "list",
    )  # fmt: skip
    assert proc.returncode == 0 and "rook-ceph-block ✓" in proc.stdout


# -- apply: refusals -----------------------------------------------------------------------
@pytest.mark.usefixtures("unchanged")
def test_apply_sends_nothing_on_a_validation_error(shared: SimHandle, tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.yaml", "dnsPolicy: Sometimes\n")
    proc = on(shared, "datacenter", "apply", DC, "-f", str(bad), "--yes")
    assert proc.returncode == 1
    assert_one_line_error(proc, str(bad))
    assert not audit_entries()


@pytest.mark.usefixtures("unchanged")
def test_apply_without_yes_and_without_a_terminal(
    shared: SimHandle, shared_api: Api, tmp_path: Path
) -> None:
    good = write(tmp_path / "good.yaml", edited(block(shared_api)))
    patches = len(seed_patches(shared_api))
    proc = on(shared, "datacenter", "apply", DC, "-f", str(good))
    assert proc.returncode == 2
    assert_one_line_error(proc, "--yes")
    assert "+dnsPolicy: None" in proc.stdout  # the diff came first
    assert seed_patches(shared_api)[patches:] == []


@pytest.mark.usefixtures("unchanged")
def test_a_read_only_session_refuses_to_apply(
    shared: SimHandle, shared_api: Api, tmp_path: Path
) -> None:
    good = write(tmp_path / "good.yaml", edited(block(shared_api)))
    patches = len(seed_patches(shared_api))
    for extra in (["--yes"], ["--dry-run"]):
        proc = on(shared, "--read-only", "datacenter", "apply", DC, "-f", str(good), *extra)
        assert proc.returncode == 1
        assert_one_line_error(proc, "read-only")
    assert seed_patches(shared_api)[patches:] == []


@pytest.mark.usefixtures("unchanged")
def test_dry_run_changes_nothing(shared: SimHandle, shared_api: Api, tmp_path: Path) -> None:
    good = write(tmp_path / "good.yaml", edited(block(shared_api)))
    patches = len(seed_patches(shared_api))
    proc = on(shared, "datacenter", "apply", DC, "-f", str(good), "--dry-run")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Dry run: the server accepts the change" in proc.stdout
    assert "\033[" not in proc.stdout  # a pipe gets no colours
    assert seed_patches(shared_api)[patches:] == ["dryRun=All"]
    [entry] = audit_entries()
    assert entry["verb"] == "datacenter-apply" and entry["dry_run"] is True


# -- apply ---------------------------------------------------------------------------------
def test_apply_then_undo_with_the_saved_block(cluster: SimHandle, api: Api, tmp_path: Path) -> None:
    original = block(api)
    before = api.get(SEED)
    new = edited(original)
    proc = on(
        cluster, "datacenter", "apply", DC, "-f", str(write(tmp_path / "dc.yaml", new)), "--yes"
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert f"Changes to datacenter {DC} on seed kubermatic/europe-west" in out
    assert "+dnsPolicy: None" in out and "-dnsPolicy: ClusterFirst" in out
    assert "Impact:" in out
    assert block(api) == new
    after = api.get(SEED)
    assert after["metadata"]["resourceVersion"] in out
    assert after["status"] == before["status"] and after["spec"]["location"] == "Hamburg"
    assert seed_patches(api) == ["dryRun=All", ""]
    assert [(e["verb"], e["target"], e["dry_run"], e["result"]) for e in audit_entries()] == [
        ("datacenter-apply", f"seed/kubermatic/europe-west/datacenters/{DC}", False, "ok")
    ]

    [saved] = re.findall(r"to undo: kvtui datacenter apply \S+ -f (\S+)", out)
    assert stat.S_IMODE(os.stat(saved).st_mode) == 0o600
    proc = on(cluster, "datacenter", "apply", DC, "-f", saved, "--yes")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert block(api) == original

    proc = on(cluster, "datacenter", "apply", DC, "-f", saved, "--yes")
    assert proc.returncode == 0 and proc.stdout.splitlines()[-1].startswith("No changes: ")


class Terminal:
    """`kvtui` with a terminal for stdin, its stdout read as it comes."""

    def __init__(self, handle: SimHandle, *args: str) -> None:
        self.controller, terminal = pty.openpty()
        base = ["--kubeconfig", str(handle.kubeconfig), "--context", handle.context]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kvtui.cli", *base, *args],
            stdin=terminal,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        os.close(terminal)
        self.out = ""
        self.chunks: queue.Queue[str] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        while chunk := self.proc.stdout.read(1):
            self.chunks.put(chunk)

    def _drain(self) -> None:
        while not self.chunks.empty():
            self.out += self.chunks.get_nowait()

    def wait_for(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.out:
            try:
                self.out += self.chunks.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {text!r} in:\n{self.out}") from None

    def answer(self, text: str) -> tuple[int, str, str]:
        """Type `text`; the exit code, all of stdout and stderr."""
        os.write(self.controller, text.encode())
        assert self.proc.stderr is not None
        try:
            self.proc.wait(timeout=30)
            err = self.proc.stderr.read()
        finally:
            os.close(self.controller)
        self.reader.join(timeout=10)
        self._drain()
        return self.proc.returncode, self.out, err


@pytest.mark.kubectl
def test_a_kubectl_patch_while_asking_is_a_conflict_and_loses_neither_edit(
    cluster: SimHandle, api: Api, tmp_path: Path
) -> None:
    kubectl = Kubectl(require_tool("kubectl"), cluster.kubeconfig)
    ours = edited(block(api))
    mine = write(tmp_path / "dc.yaml", ours)
    term = Terminal(cluster, "datacenter", "apply", DC, "-f", str(mine))
    term.wait_for("? [y/N] ")
    theirs = {
        "spec": {"datacenters": {DC: {"spec": {"kubevirt": {"vmEvictionStrategy": "External"}}}}}
    }
    kubectl(
        "patch",
        "seed",
        "europe-west",
        "-n",
        "kubermatic",
        "--type",
        "merge",
        "-p",
        json.dumps(theirs),
    )
    after_kubectl = api.get(SEED)
    code, out, err = term.answer("y\n")
    assert code == 1, out + err
    assert "Traceback" not in out + err
    assert err.startswith("kvtui: error: seed kubermatic/europe-west changed since it was loaded")
    assert api.get(SEED) == after_kubectl  # nothing of ours applied, theirs kept
    # kubectl's patch, then ours: refused at its dry run, so the real one was never sent.
    patches = [r for r in api("GET", "/_sim/requests").json() if r["method"] == "PATCH"]
    assert [(r["query"], r["code"]) for r in patches][-1] == ("dryRun=All", 409)
    assert len(patches) == 2
    assert "Their change to datacenter" in out and "+vmEvictionStrategy: External" in out
    assert "Our change (not applied):" in out and "+dnsPolicy: None" in out

    [rebased] = re.findall(r"then: kvtui datacenter apply \S+ -f (\S+)", out)
    proc = on(cluster, "datacenter", "apply", DC, "-f", rebased, "--yes")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    final = block(api)
    assert final["vmEvictionStrategy"] == "External" and final["dnsPolicy"] == "None"
    assert final["dnsConfig"] == {"nameservers": ["10.0.0.10"]}

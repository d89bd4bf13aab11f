"""`kvtui doctor` and `kvtui snapshot` as an admin runs them, against the simulator.

Each command runs in a subprocess with the isolated HOME of conftest (the audit log lands in
the test's state dir). Read-only runs share one cluster per scenario; a test that fixes
something gets a cluster of its own.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kvtui.cluster.doctor import CHECKS
from kvtui.sim.faults import Faults
from kvtui.sim.runner import SimHandle, running_simulator
from tests.conftest import Kubectl
from tests.test_cli import assert_one_line_error, kvtui

LB = "a8d41e6b02c7f4a93b5d80f6a1c9e3b2"
SELECTOR = ("get", "service", LB, "-n", "cluster-k4n8vb2t6w", "-o", "jsonpath={.spec.selector}")
OLD_SELECTOR = {f"cloud.kubevirt.io/{LB}": "grafana"}


def on(handle: SimHandle, *args: str, context: str | None = None) -> Any:
    return kvtui(
        "--kubeconfig", str(handle.kubeconfig), "--context", context or handle.context, *args
    )


def audit_entries() -> list[dict[str, Any]]:
    path = Path(os.environ["XDG_STATE_HOME"]) / "kvtui" / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture(scope="module")
def shared() -> Iterator[SimHandle]:
    with running_simulator(scenario="default", speed=10.0, seed=41) as handle:
        yield handle


@pytest.fixture(scope="module")
def clean() -> Iterator[SimHandle]:
    restricted = ("kubevirts.kubevirt.io",)
    with running_simulator(scenario="clean", speed=10.0, seed=42, restricted=restricted) as h:
        yield h


@pytest.fixture
def own() -> Iterator[SimHandle]:
    with running_simulator(scenario="default", speed=10.0, seed=43) as handle:
        yield handle


# -- kvtui doctor ------------------------------------------------------------------------------
def test_text_report_shows_every_check_id_and_exits_1_on_failures(shared: SimHandle) -> None:
    proc = on(shared, "doctor")
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "kvtui doctor · context kvtui-sim (seed: same context)"
    assert lines[1] == "23 checks: 16 ok · 3 warnings · 4 failures · 0 could not check"
    for spec in CHECKS:
        assert f"  {spec.id}  " in proc.stdout
    failing = [line.split()[1] for line in lines if line.startswith("  FAIL")]
    assert failing == [
        "kubevirt.feature-gates",
        "dns.nodelocal-collision",
        "upgrade.lb-selector",
        "vms.migratable",
    ]
    assert "fix: kvtui doctor --fix upgrade.lb-selector  (rewrite the selector" in proc.stdout
    assert proc.stderr == ""


def test_json_report(shared: SimHandle) -> None:
    proc = on(shared, "doctor", "-o", "json")
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    assert [c["id"] for c in report["checks"]] == [spec.id for spec in CHECKS]
    assert report["exit_code"] == 1 and report["context"] == "kvtui-sim"
    assert report["counts"] == {"ok": 16, "warning": 3, "failure": 4, "could-not-check": 0}
    lb = next(c for c in report["checks"] if c["id"] == "upgrade.lb-selector")
    assert lb["status"] == "failure" and lb["area"] == "upgrade"
    assert lb["fix"]["command"] == "kvtui doctor --fix upgrade.lb-selector"
    assert lb["fix"]["targets"] == [f"service/cluster-k4n8vb2t6w/{LB}"]
    assert "+    cluster.x-k8s.io/cluster-name: k4n8vb2t6w" in lb["fix"]["diff"]
    nodes = next(c for c in report["checks"] if c["id"] == "nodes.count")
    assert nodes["status"] == "ok" and nodes["fix"] is None and len(nodes["evidence"]) == 5


def test_only_some_areas(shared: SimHandle) -> None:
    proc = on(shared, "doctor", "--only", "nodes,network", "--only", "cdi.version", "-v")
    assert proc.returncode == 0, proc.stdout
    shown = [line.split()[1] for line in proc.stdout.splitlines() if line.startswith("  ok")]
    assert shown == [
        "nodes.count",
        "nodes.kvm",
        "nodes.resources",
        "cdi.version",
        "network.cni",
        "network.default-policies",
    ]
    assert "· kv-node-1: Ready, devices.kubevirt.io/kvm 1000" in proc.stdout  # -v: evidence


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["doctor", "--only", "vm"], "unknown area or check 'vm'"),
        (["doctor", "--skip", "upgrade.nope"], "unknown area or check 'upgrade.nope'"),
        (
            ["doctor", "--fix", "upgrade.lb-selector", "--skip", "vms"],
            "leave out --only and --skip",
        ),
        (["doctor", "--dry-run"], "--dry-run and --yes go with --fix CHECK"),
        (["doctor", "--fix", "vms.bogus"], "checks with a fix: kubevirt.feature-gates"),
        (["doctor", "--fix", "vms.ready", "--only", "vms"], "leave out --only"),
        (["doctor", "--fix", "vms.ready", "-o", "json"], "leave out -o json"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(shared: SimHandle, args: list[str], fragment: str):
    proc = on(shared, *args)
    assert proc.returncode == 2
    assert_one_line_error(proc, fragment)


def test_a_clean_cluster_exits_0(clean: SimHandle) -> None:
    proc = on(clean, "doctor")
    assert proc.returncode == 0
    assert (
        proc.stdout.splitlines()[1]
        == "23 checks: 23 ok · 0 warnings · 0 failures · 0 could not check"
    )


def test_checks_that_could_not_run_exit_2(clean: SimHandle) -> None:
    proc = on(clean, "doctor", "--only", "kubevirt", context=clean.restricted_context)
    assert proc.returncode == 2, proc.stdout
    assert (
        "  UNKNOWN  kubevirt.version            could not check: context kvtui-sim-restricted: "
        'forbidden: cannot list kubevirts: User "kvtui-restricted" cannot list resource '
        '"kubevirts"' in proc.stdout
    )
    report = json.loads(on(clean, "doctor", "-o", "json", context=clean.restricted_context).stdout)
    assert report["exit_code"] == 2 and report["counts"]["could-not-check"] == 6


def test_skip_what_cannot_run_on_a_real_infra_cluster() -> None:
    """MachineDeployments live in the user clusters: a real infra cluster does not serve them,
    so that check cannot run there (exit 2, saying why) until --skip leaves it out."""
    with running_simulator(
        scenario="clean", speed=10.0, seed=46, missing_apis=("cluster.k8s.io",)
    ) as infra:
        alone = on(infra, "doctor", "-o", "json")
        report = json.loads(alone.stdout)
        assert alone.returncode == 2
        unknown = [c for c in report["checks"] if c["status"] == "could-not-check"]
        assert [c["id"] for c in unknown] == ["upgrade.machine-deployments"]
        assert "MachineDeployments live in the user clusters" in unknown[0]["reason"]
        skipped = on(infra, "doctor", "--skip", "upgrade.machine-deployments,dns", "-o", "json")
        assert skipped.returncode == 0, skipped.stdout
        ids = [c["id"] for c in json.loads(skipped.stdout)["checks"]]
        assert "upgrade.machine-deployments" not in ids and "upgrade.lb-selector" in ids
        assert not any(i.startswith("dns.") for i in ids) and len(ids) == len(CHECKS) - 1 - sum(
            spec.area == "dns" for spec in CHECKS
        )


def test_seed_on_another_context(tmp_path: Path) -> None:
    """The Seed lives on the KKP cluster: without --seed-context the infra cluster's checks that
    need it say so; with it, they read the datacenters there."""
    with (
        running_simulator(
            scenario="clean", speed=10.0, seed=44, missing_apis=("kubermatic.k8c.io",)
        ) as infra,
        running_simulator(scenario="clean", speed=10.0, seed=45) as seed,
    ):
        merged = _merged_kubeconfig(tmp_path, {"infra": infra, "seed": seed})
        alone = kvtui("--kubeconfig", str(merged), "--context", "infra", "doctor", "-o", "json")
        report = json.loads(alone.stdout)
        assert alone.returncode == 2
        unknown = {
            c["id"]: c["reason"] for c in report["checks"] if c["status"] == "could-not-check"
        }
        assert set(unknown) == {"storage.infra-classes", "vms.eviction-strategy"}
        assert all(r.endswith("pass --seed-context") for r in unknown.values())
        both = kvtui(
            "--kubeconfig", str(merged), "--context", "infra", "--seed-context", "seed", "doctor"
        )
        assert both.returncode == 0, both.stdout
        assert both.stdout.splitlines()[0] == "kvtui doctor · context infra (seed: context seed)"


def _merged_kubeconfig(tmp_path: Path, sims: dict[str, SimHandle]) -> Path:
    merged: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [],
        "users": [],
        "contexts": [],
        "current-context": next(iter(sims)),
    }
    for name, handle in sims.items():
        config = yaml.safe_load(handle.kubeconfig.read_text())
        merged["clusters"].append({"name": name, "cluster": config["clusters"][0]["cluster"]})
        merged["users"].append({"name": name, "user": {"token": handle.token}})
        merged["contexts"].append({"name": name, "context": {"cluster": name, "user": name}})
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(merged))
    path.chmod(0o600)
    return path


# -- kvtui doctor --fix ------------------------------------------------------------------------
def test_fix_previews_asks_and_applies(own: SimHandle, kubectl_binary: str) -> None:
    kubectl = Kubectl(kubectl_binary, own.kubeconfig)
    selector = lambda: json.loads(kubectl(*SELECTOR).stdout)  # noqa: E731
    # A dry run shows the diff and the server's verdict, and changes nothing.
    dry = on(own, "doctor", "--fix", "upgrade.lb-selector", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"-    cloud.kubevirt.io/{LB}: grafana" in dry.stdout
    assert "+    cluster.x-k8s.io/cluster-name: k4n8vb2t6w" in dry.stdout
    assert f"Dry run: the server accepts the fix for service/cluster-k4n8vb2t6w/{LB}." in dry.stdout
    assert selector() == OLD_SELECTOR
    # Without a terminal to ask on and without --yes: nothing changes.
    unasked = on(own, "doctor", "--fix", "upgrade.lb-selector")
    assert unasked.returncode == 2
    assert_one_line_error(unasked, "pass --yes")
    assert selector() == OLD_SELECTOR
    # A read-only session shows the diff and refuses.
    read_only = on(own, "--read-only", "doctor", "--fix", "upgrade.lb-selector", "--yes")
    assert read_only.returncode == 1
    assert_one_line_error(read_only, "context kvtui-sim is read-only")
    assert selector() == OLD_SELECTOR
    # --yes applies, then checks again.
    done = on(own, "doctor", "--fix", "upgrade.lb-selector", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1].startswith("upgrade.lb-selector now: ok: ")
    assert selector() == {"cluster.x-k8s.io/cluster-name": "k4n8vb2t6w"}
    entries = [e for e in audit_entries() if e["verb"] == "doctor-fix"]
    target = f"service/cluster-k4n8vb2t6w/{LB} (upgrade.lb-selector)"
    assert [(e["target"], e["dry_run"], e["result"]) for e in entries] == [
        (target, True, "ok"),  # --dry-run
        (target, True, "ok"),  # unasked: the preview's dry run before asking
        (target, True, "ok"),  # --yes: the preview
        (target, True, "ok"),  # apply: dry run first
        (target, False, "ok"),
    ]
    assert {e["context"] for e in entries} == {"kvtui-sim"}
    again = on(own, "doctor", "--fix", "upgrade.lb-selector")
    assert again.returncode == 0 and "ok, nothing to fix" in again.stdout


def test_fix_without_a_mechanical_fix_prints_the_steps(shared: SimHandle) -> None:
    proc = on(shared, "doctor", "--fix", "vms.migratable")
    assert proc.returncode == 1
    assert "No mechanical fix for this check; by hand:" in proc.stdout
    assert "ReadWriteMany" in proc.stdout


# -- kvtui snapshot ----------------------------------------------------------------------------
def test_snapshot_is_one_screen_of_what_is_wrong(kubectl_binary: str, tmp_path: Path) -> None:
    faults = Faults(fail_migrations=["bastion"])
    with running_simulator(scenario="default", speed=10.0, seed=46, faults=faults) as sim:
        kubectl = Kubectl(kubectl_binary, sim.kubeconfig)
        kubectl("cordon", "kv-node-2")
        frontend = kubectl(
            "get",
            "vmi",
            "-n",
            "cluster-x7k2mq9p4d",
            "-l",
            "md=prod-eu-frontend",
            "-o",
            "jsonpath={.items[0].metadata.name}",
        ).stdout
        sim.call(lambda: sim.simulator.api.config.faults.stall_migrations.append(frontend))
        _migrate(kubectl, tmp_path, "cluster-k4n8vb2t6w", "bastion", "move-bastion")
        _migrate(kubectl, tmp_path, "cluster-x7k2mq9p4d", frontend, "move-frontend")
        _wait_for_phase(kubectl, "cluster-k4n8vb2t6w", "move-bastion", "Failed")
        proc = on(sim, "snapshot")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) <= 40
    assert lines[0].startswith(f"kvtui snapshot · context kvtui-sim ({sim.url}) · ")
    assert "NODES  5/5 Ready · 1 cordoned" in lines
    assert "  kv-node-2  Ready  cordoned" in lines
    assert "VMS  11 running · 0 unhealthy · 1 cannot live-migrate (LiveMigrate)" in lines
    stuck = [line for line in lines if line.startswith("  cannot live-migrate: ")]
    assert len(stuck) == 1 and "staging-db" in stuck[0]
    assert stuck[0].endswith(": DisksNotLiveMigratable")
    assert "MIGRATIONS  1 running · 1 failed" in lines
    assert any(line.startswith(f"  running: cluster-x7k2mq9p4d/{frontend}  ") for line in lines)
    assert any(
        line.startswith("  failed: cluster-k4n8vb2t6w/bastion  (move-bastion)") for line in lines
    )
    doctor = lines.index(next(line for line in lines if line.startswith("DOCTOR  ")))
    assert [line.split(":")[0] for line in lines[doctor + 1 : doctor + 5]] == [
        "  FAIL kubevirt.feature-gates",
        "  FAIL dns.nodelocal-collision",
        "  FAIL upgrade.lb-selector",
        "  FAIL vms.migratable",
    ]


def _migrate(kubectl: Kubectl, tmp_path: Path, namespace: str, vmi: str, name: str) -> None:
    manifest = tmp_path / f"{name}.json"
    manifest.write_text(
        json.dumps(
            {
                "apiVersion": "kubevirt.io/v1",
                "kind": "VirtualMachineInstanceMigration",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {"vmiName": vmi},
            }
        )
    )
    kubectl("create", "-f", str(manifest))


def _wait_for_phase(kubectl: Kubectl, namespace: str, name: str, phase: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        got = kubectl("get", "vmim", name, "-n", namespace, "-o", "jsonpath={.status.phase}")
        if got.stdout == phase:
            return
        time.sleep(0.2)
    raise AssertionError(f"vmim {namespace}/{name} never reached {phase}")

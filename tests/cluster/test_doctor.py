"""The doctor against the simulator: every problem the default scenario plants is found by the
right check, and the clean scenario passes every check.

Two simulators serve the module and nothing here changes them: the default scenario (its
`problems:` plus the configuration drift its KubeVirt section documents) and `clean`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from kvtui.cluster.connection import Connection
from kvtui.cluster.doctor import AREAS, CHECKS, DoctorReport, Status, run_doctor, select
from kvtui.cluster.doctor_model import CheckResult
from kvtui.sim.runner import SimHandle, running_simulator
from kvtui.sim.scenario import load_scenario

# The default scenario's deliberate problems (its `problems:` tags) and the check that must
# find each, with a name the evidence must mention.
PLANTED = {
    "not-live-migratable": ("vms.migratable", "staging-db"),
    "eviction-none": ("vms.eviction-strategy", "cluster-k4n8vb2t6w/bastion: None"),
    "old-lb-selector": ("upgrade.lb-selector", "a8d41e6b02c7f4a93b5d80f6a1c9e3b2"),
    "nodelocal-dns-collision": ("dns.nodelocal-collision", "kubevirt-ham1"),
}
# What else is wrong with the default cluster, and only that.
DEFAULT_NOT_OK = {
    "kubevirt.feature-gates": Status.FAILURE,  # Snapshot left out
    "monitoring.kubevirt": Status.WARNING,  # monitorAccount never set
    "storage.infra-classes": Status.WARNING,  # local-path: local and WaitForFirstConsumer
    "vms.eviction-strategy": Status.WARNING,  # bastion None, ci-runners-md External
    "vms.migratable": Status.FAILURE,
    "upgrade.lb-selector": Status.FAILURE,
    "dns.nodelocal-collision": Status.FAILURE,
}


def _report(handle: SimHandle) -> DoctorReport:
    async def run() -> DoctorReport:
        async with await Connection.open(str(handle.kubeconfig), handle.context) as conn:
            return await run_doctor(conn)

    return asyncio.run(run())


@pytest.fixture(scope="module")
def default_sim() -> Iterator[SimHandle]:
    with running_simulator(scenario="default", speed=10.0, seed=11) as handle:
        yield handle


@pytest.fixture(scope="module")
def default(default_sim: SimHandle) -> DoctorReport:
    return _report(default_sim)


@pytest.fixture(scope="module")
def clean() -> DoctorReport:
    with running_simulator(scenario="clean", speed=10.0, seed=12) as handle:
        return _report(handle)


def text(result: CheckResult) -> str:
    return "\n".join([result.summary, *result.evidence])


def test_every_check_has_a_stable_id_in_its_area() -> None:
    ids = [spec.id for spec in CHECKS]
    assert len(ids) == len(set(ids))
    for spec in CHECKS:
        assert spec.area in AREAS and spec.id.startswith(f"{spec.area}.")
        assert spec.title and spec.what
    assert {spec.area for spec in CHECKS} == set(AREAS)
    assert [s.id for s in select(["vms", "kubevirt.version"])] == [
        "kubevirt.version",
        *[s.id for s in CHECKS if s.area == "vms"],
    ]
    with pytest.raises(ValueError, match="unknown area or check 'vm'"):
        select(["vm"])


@pytest.mark.parametrize("problem", load_scenario("default").problems)
def test_each_planted_problem_is_found_by_its_check(problem: str, default: DoctorReport) -> None:
    tag = problem.split(":", 1)[0]
    assert tag in PLANTED, f"the default scenario plants {tag!r}: which check finds it?"
    check, marker = PLANTED[tag]
    result = default.get(check)
    assert result is not None and result.status in (Status.WARNING, Status.FAILURE)
    assert marker in text(result)


def test_the_default_cluster_is_diagnosed_exactly(default: DoctorReport) -> None:
    found = {r.id: r.status for r in default.results if r.status is not Status.OK}
    assert found == DEFAULT_NOT_OK
    assert default.exit_code == 1
    assert default.infra_context == default.seed_context == "kvtui-sim"


def test_the_drift_the_default_scenario_documents(default: DoctorReport) -> None:
    gates = default.get("kubevirt.feature-gates")
    assert gates.summary == "1 required feature gate missing: Snapshot"
    assert "LiveMigration: GA: always on, listing it is harmless" in gates.evidence
    assert [t.target for t in gates.fix.targets] == ["kubevirt/kubevirt/kubevirt"]
    monitoring = default.get("monitoring.kubevirt")
    assert "monitorAccount is not set" in monitoring.summary
    [target] = monitoring.fix.targets
    assert target.after == {
        "spec": {"monitorNamespace": "monitoring", "monitorAccount": "prometheus-k8s"}
    }
    storage = default.get("storage.infra-classes")
    assert "local provisioner rancher.io/local-path" in text(storage)
    eviction = default.get("vms.eviction-strategy")
    ci = [line for line in eviction.evidence if "ci-runners-md" in line]
    assert len(ci) == 2 and all(
        "External; datacenter kubevirt-ham1 says LiveMigrate" in c for c in ci
    )
    # HonorWaitForFirstConsumer is set, and local-path is why it has to be.
    assert default.get("cdi.honor-wffc").summary == (
        "HonorWaitForFirstConsumer is enabled for local-path"
    )


def test_the_old_selector_fix_and_its_evidence(default: DoctorReport) -> None:
    result = default.get("upgrade.lb-selector")
    [line] = result.evidence
    assert "(tenant Service default/grafana)" in line
    assert "matches 0 pods; cluster.x-k8s.io/cluster-name=k4n8vb2t6w would match 3 pods" in line
    [target] = result.fix.targets
    assert target.namespace == "cluster-k4n8vb2t6w"
    assert target.body()["spec"] == {
        "selector": {
            "cloud.kubevirt.io/a8d41e6b02c7f4a93b5d80f6a1c9e3b2": None,
            "cluster.x-k8s.io/cluster-name": "k4n8vb2t6w",
        }
    }
    assert target.body()["metadata"]["resourceVersion"] == target.resource_version != ""


def test_the_clean_scenario_passes_every_check(clean: DoctorReport) -> None:
    assert {r.id: r.summary for r in clean.results if r.status is not Status.OK} == {}
    assert [r.id for r in clean.results] == [spec.id for spec in CHECKS]
    assert clean.exit_code == 0
    assert all(r.fix is None for r in clean.results)


def test_passing_checks_still_say_why(clean: DoctorReport) -> None:
    assert clean.get("nodes.count").summary.startswith("4 schedulable nodes")
    assert len(clean.get("nodes.count").evidence) == 5  # the control-plane node too
    assert clean.get("dns.nodelocal-collision").evidence[0] == (
        "DaemonSet kube-system/node-local-dns binds 169.254.20.10"
    )
    assert clean.get("cdi.honor-wffc").summary.startswith("not needed")


def test_only_runs_the_named_areas_quickly(default_sim: SimHandle) -> None:
    async def run() -> DoctorReport:
        async with await Connection.open(str(default_sim.kubeconfig), default_sim.context) as c:
            return await run_doctor(c, only=["vms", "cdi.version"])

    start = time.monotonic()
    report = asyncio.run(run())
    assert time.monotonic() - start < 5
    assert [r.id for r in report.results] == [
        "cdi.version",
        "vms.ready",
        "vms.migratable",
        "vms.migrations",
        "vms.eviction-strategy",
    ]
    assert [area for area, _ in report.by_area()] == ["cdi", "vms"]
    assert report.to_dict()["counts"] == {
        "ok": 3,
        "warning": 1,
        "failure": 1,
        "could-not-check": 0,
    }

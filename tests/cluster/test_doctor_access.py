"""Checks that cannot run say "could not check" with the reason, never fail or crash: a token
denied some kinds (403), and a cluster that does not serve an API group (missing CRD).

The simulator's restricted token (`restricted=`) may read everything but the kinds named; its
`missing_apis=` answers 404 for whole API groups, as for CRDs that are not installed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from kvtui.cluster.connection import Connection
from kvtui.cluster.doctor import DoctorReport, Status, run_doctor
from kvtui.sim.runner import SimHandle, running_simulator
from tests.conftest import Kubectl

DENIED = ("kubevirts.kubevirt.io", "seeds.kubermatic.k8c.io")


def _report(handle: SimHandle, context: str) -> DoctorReport:
    async def run() -> DoctorReport:
        async with await Connection.open(str(handle.kubeconfig), context) as conn:
            return await run_doctor(conn)

    return asyncio.run(run())


@pytest.fixture(scope="module")
def restricted_sim() -> Iterator[SimHandle]:
    with running_simulator(scenario="clean", speed=10.0, seed=21, restricted=DENIED) as handle:
        yield handle


@pytest.fixture(scope="module")
def restricted(restricted_sim: SimHandle) -> DoctorReport:
    return _report(restricted_sim, restricted_sim.restricted_context)


def by_status(report: DoctorReport, status: Status) -> dict[str, str]:
    return {r.id: r.reason for r in report.results if r.status is status}


def test_forbidden_reads_are_could_not_check_with_the_403(restricted: DoctorReport) -> None:
    unknown = by_status(restricted, Status.UNKNOWN)
    kubevirt = {
        "kubevirt.installed",
        "kubevirt.version",
        "kubevirt.feature-gates",
        "kubevirt.migrations",
        "kubevirt.eviction-strategy",
        "monitoring.kubevirt",
    }
    seed = {"storage.infra-classes", "vms.eviction-strategy"}
    assert set(unknown) == kubevirt | seed
    for check in kubevirt:
        assert unknown[check] == (
            "context kvtui-sim-restricted: forbidden: cannot list kubevirts: User "
            '"kvtui-restricted" cannot list resource "kubevirts" in API group "kubevirt.io" '
            "at the cluster scope"
        )
    for check in seed:
        assert 'cannot list resource "seeds"' in unknown[check]
    # Nothing fails on the clean cluster: "could not check" is what remains, exit code 2.
    assert by_status(restricted, Status.FAILURE) == {}
    assert restricted.exit_code == 2
    assert restricted.get("kubevirt.version").summary.startswith("could not check: context ")


def test_checks_that_can_do_without_the_seed_say_so(restricted: DoctorReport) -> None:
    policies = restricted.get("network.default-policies")
    assert policies.status is Status.OK
    assert any("without the Seed" in line for line in policies.evidence)
    assert restricted.get("dns.nodelocal-collision").status is Status.OK
    assert restricted.get("cdi.honor-wffc").status is Status.OK


def test_the_restricted_token_is_denied_by_the_server_too(
    restricted_sim: SimHandle, kubectl_binary: str
) -> None:
    kubectl = Kubectl(kubectl_binary, restricted_sim.kubeconfig)
    context = restricted_sim.restricted_context
    denied = kubectl("get", "kubevirts", "-A", context=context, check=False)
    assert denied.returncode != 0 and "Forbidden" in denied.stderr
    assert "kvtui-restricted" in denied.stderr
    allowed = kubectl("get", "vmis", "-A", "-o", "name", context=context)
    assert allowed.stdout.count("virtualmachineinstance") == 7
    can_i = kubectl("auth", "can-i", "list", "kubevirts.kubevirt.io", context=context, check=False)
    assert can_i.stdout.startswith("no")
    assert kubectl("auth", "can-i", "list", "nodes", context=context).stdout.strip() == "yes"
    patch = kubectl("cordon", "kv-node-1", context=context, check=False)
    assert 'cannot patch resource "nodes"' in patch.stderr  # kubectl cordon still exits 0
    assert kubectl("get", "node", "kv-node-1", "-o", "jsonpath={.spec.unschedulable}").stdout == ""


def test_the_admin_token_of_a_restricted_simulator_sees_everything(
    restricted_sim: SimHandle,
) -> None:
    report = _report(restricted_sim, restricted_sim.context)
    assert report.exit_code == 0


NOT_SERVED = "is not served by context kvtui-sim (CRD not installed)"
NO_KUBEVIRT = "KubeVirt is not installed (see kubevirt.installed)"
NO_SEED = (
    f"seeds.kubermatic.k8c.io {NOT_SERVED}; KKP objects live on the seed cluster: "
    "pass --seed-context"
)


@pytest.mark.parametrize(
    ("missing", "failed", "unknown"),
    [
        (
            "cdi.kubevirt.io",
            {"cdi.installed": f"cdis.cdi.kubevirt.io {NOT_SERVED}"},
            {
                "cdi.version": "CDI is not installed (see cdi.installed)",
                "cdi.honor-wffc": "CDI is not installed (see cdi.installed)",
            },
        ),
        (
            "kubevirt.io",
            {"kubevirt.installed": f"kubevirts.kubevirt.io {NOT_SERVED}"},
            {
                "kubevirt.version": NO_KUBEVIRT,
                "kubevirt.feature-gates": NO_KUBEVIRT,
                "kubevirt.migrations": NO_KUBEVIRT,
                "kubevirt.eviction-strategy": NO_KUBEVIRT,
                "monitoring.kubevirt": NO_KUBEVIRT,
                "vms.ready": f"virtualmachineinstances.kubevirt.io {NOT_SERVED}",
                "vms.migratable": f"virtualmachineinstances.kubevirt.io {NOT_SERVED}",
                "vms.migrations": f"virtualmachineinstancemigrations.kubevirt.io {NOT_SERVED}",
                "vms.eviction-strategy": f"virtualmachineinstances.kubevirt.io {NOT_SERVED}",
            },
        ),
        (
            "kubermatic.k8c.io",
            {},
            {"storage.infra-classes": NO_SEED, "vms.eviction-strategy": NO_SEED},
        ),
    ],
)
def test_a_missing_crd(missing: str, failed: dict[str, str], unknown: dict[str, str]) -> None:
    with running_simulator(scenario="clean", speed=10.0, seed=22, missing_apis=(missing,)) as sim:
        report = _report(sim, sim.context)
    assert {r.id: r.evidence for r in report.results if r.status is Status.FAILURE} == {
        check: (evidence,) for check, evidence in failed.items()
    }
    assert by_status(report, Status.UNKNOWN) == unknown
    assert report.exit_code == (1 if failed else 2)

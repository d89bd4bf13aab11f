"""A migration to a chosen node: `spec.addedNodeSelector` reaches the target pod's node selector,
so the guest lands on that node, and a selector no node satisfies leaves it in Scheduling."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from kvtui.sim.runner import SimHandle, running_simulator
from tests.sim.http_helpers import Api, assert_status, make_api

VMIS = "kubevirt.io/virtualmachineinstances"
VMIMS = "/apis/kubevirt.io/v1/namespaces/{ns}/virtualmachineinstancemigrations"
WORKERS = ("kv-node-1", "kv-node-2", "kv-node-3", "kv-node-4")
HOSTNAME = "kubernetes.io/hostname"


@pytest.fixture(scope="module")
def cluster() -> Iterator[SimHandle]:
    with running_simulator(scenario="default", speed=10.0, seed=8) as handle:
        yield handle


@pytest.fixture(scope="module")
def api(cluster: SimHandle, tmp_path_factory: pytest.TempPathFactory) -> Api:
    return make_api(cluster, tmp_path_factory.mktemp("ca"))


def wait_for(what: str, check: Callable[[], Any], deadline: float) -> Any:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out after {deadline:g}s waiting for {what}")


def worker_vmis(cluster: SimHandle) -> list[dict]:
    """prod-eu-workers VMIs: live-migratable, no node affinity, only a soft spread."""
    vmis = cluster.call(lambda: cluster.simulator.store.list(VMIS))
    return sorted(
        (v for v in vmis if v["metadata"]["name"].startswith("prod-eu-workers-")),
        key=lambda v: v["metadata"]["name"],
    )


def vmi_now(cluster: SimHandle, vmi: dict) -> dict:
    meta = vmi["metadata"]
    return cluster.call(lambda: cluster.simulator.store.get(VMIS, meta["namespace"], meta["name"]))


def create_migration(api: Api, vmi: dict, selector: Any) -> dict:
    ns = vmi["metadata"]["namespace"]
    body = {
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachineInstanceMigration",
        "metadata": {"generateName": "kubevirt-migrate-vm-", "namespace": ns},
        "spec": {"vmiName": vmi["metadata"]["name"], "addedNodeSelector": selector},
    }
    resp = api("POST", VMIMS.format(ns=ns), body)
    assert resp.status_code == 201, resp.text
    return resp.json()


def current(api: Api, vmim: dict) -> dict:
    meta = vmim["metadata"]
    return api.get(f"{VMIMS.format(ns=meta['namespace'])}/{meta['name']}")


def phase_of(api: Api, vmim: dict) -> str:
    return (current(api, vmim).get("status") or {}).get("phase", "")


def target_pod(api: Api, vmim: dict) -> dict:
    state = current(api, vmim)["status"]["migrationState"]
    ns = vmim["metadata"]["namespace"]
    return api.get(f"/api/v1/namespaces/{ns}/pods/{state['targetPod']}")


def test_migration_lands_on_the_chosen_node(cluster: SimHandle, api: Api) -> None:
    vmi = worker_vmis(cluster)[0]
    source = vmi["status"]["nodeName"]
    chosen = [n for n in WORKERS if n != source][-1]
    vmim = create_migration(api, vmi, {HOSTNAME: chosen})
    wait_for("the migration to succeed", lambda: phase_of(api, vmim) == "Succeeded", 60)
    done = current(api, vmim)
    assert done["spec"]["addedNodeSelector"] == {HOSTNAME: chosen}
    assert done["status"]["migrationState"]["targetNode"] == chosen
    assert vmi_now(cluster, vmi)["status"]["nodeName"] == chosen
    selector = target_pod(api, vmim)["spec"]["nodeSelector"]
    assert selector[HOSTNAME] == chosen
    assert selector["kubevirt.io/schedulable"] == "true"  # the VMI's own rules stay


def test_a_selector_no_node_satisfies_stays_in_scheduling(cluster: SimHandle, api: Api) -> None:
    vmi = worker_vmis(cluster)[1]
    source = vmi["status"]["nodeName"]
    vmim = create_migration(api, vmi, {HOSTNAME: "no-such-node"})
    wait_for("the target pod", lambda: phase_of(api, vmim) == "Scheduling", 30)

    def unschedulable() -> bool:
        conditions = (target_pod(api, vmim).get("status") or {}).get("conditions") or []
        return any(
            c["type"] == "PodScheduled" and c.get("reason") == "Unschedulable" for c in conditions
        )

    wait_for("the scheduler's verdict", unschedulable, 30)
    pod = target_pod(api, vmim)
    assert pod["status"]["phase"] == "Pending" and not pod["spec"].get("nodeName")
    assert phase_of(api, vmim) == "Scheduling"
    assert vmi_now(cluster, vmi)["status"]["nodeName"] == source
    meta = vmim["metadata"]
    resp = api("DELETE", f"{VMIMS.format(ns=meta['namespace'])}/{meta['name']}")
    assert resp.status_code == 200, resp.text


def test_a_selector_must_map_strings_to_strings(cluster: SimHandle, api: Api) -> None:
    vmi = worker_vmis(cluster)[2]
    ns = vmi["metadata"]["namespace"]
    body = {
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachineInstanceMigration",
        "metadata": {"generateName": "kubevirt-migrate-vm-", "namespace": ns},
        "spec": {"vmiName": vmi["metadata"]["name"], "addedNodeSelector": {HOSTNAME: 7}},
    }
    status = assert_status(api("POST", VMIMS.format(ns=ns), body), 422, "Invalid")
    assert f"spec.addedNodeSelector.{HOSTNAME}" in status["message"]

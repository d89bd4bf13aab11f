"""The KKP side of the simulator: MachineDeployments, machine-controller, VMI eviction, seed.

Only the KKP controllers run here; VMIs are written by the tests where the virt-controller
would create them, so these tests pin the machine side's behaviour on its own.
"""

from __future__ import annotations

import copy
import re

import pytest

from kvtui.sim.controllers.kkp_seed import CLUSTERS, SEEDS
from kvtui.sim.controllers.machines import (
    MACHINE_DEPLOYMENTS,
    MACHINE_FINALIZER,
    MACHINES,
    VMIS,
    VMS,
    add_kkp_controllers,
)
from kvtui.sim.scenario import load_scenario
from kvtui.sim.store import Obj, Store
from kvtui.sim.world import SimClock, World

PROD = "cluster-x7k2mq9p4d"
STAGING = "cluster-k4n8vb2t6w"
CI = "cluster-q2z9f5m7hc"


@pytest.fixture
def world() -> World:
    clock = SimClock(speed=0.0)  # time moves only when a test advances it
    store = Store(clock.now)
    world = World(store, clock, seed=0)
    scenario = load_scenario("default")
    world.settings.update(scenario.settings)
    add_kkp_controllers(world)
    store.load(scenario.objects)
    world.settle()
    return world


def machines(store: Store, namespace: str, md: str, live_only: bool = True) -> list[Obj]:
    out = [
        m
        for m in store.list(MACHINES, namespace)
        if any(r["name"] == md for r in m["metadata"].get("ownerReferences") or ())
    ]
    if live_only:
        out = [m for m in out if not m["metadata"].get("deletionTimestamp")]
    return sorted(out, key=lambda m: m["metadata"]["name"])


def vm_of(store: Store, machine: Obj) -> Obj | None:
    return store.get(VMS, machine["metadata"]["namespace"], machine["metadata"]["name"])


def run_vmi(store: Store, vm: Obj, node: str = "kv-node-1", **status: object) -> Obj:
    """Write the Running VMI the virt-controller, scheduler and virt-handler would produce."""
    meta = vm["metadata"]
    template = vm["spec"]["template"]
    return store.create(
        VMIS,
        {
            "apiVersion": "kubevirt.io/v1",
            "kind": "VirtualMachineInstance",
            "metadata": {
                "name": meta["name"],
                "namespace": meta["namespace"],
                "labels": dict(template["metadata"]["labels"]),
            },
            "spec": copy.deepcopy(template["spec"]),
            "status": {
                "phase": "Running",
                "nodeName": node,
                "interfaces": [{"name": "default", "ipAddress": "10.16.0.42"}],
                **status,
            },
        },
    )


def run_all(world: World) -> None:
    for vm in world.store.list(VMS):
        meta = vm["metadata"]
        if world.store.get(VMIS, meta["namespace"], meta["name"]) is None:
            run_vmi(world.store, vm)
    world.settle()


def test_machine_deployments_keep_their_machines(world: World) -> None:
    store = world.store
    for md in store.list(MACHINE_DEPLOYMENTS):
        name, namespace = md["metadata"]["name"], md["metadata"]["namespace"]
        owned = machines(store, namespace, name)
        assert len(owned) == md["spec"]["replicas"]
        for machine in owned:
            meta = machine["metadata"]
            assert re.fullmatch(rf"{name}-[0-9a-f]{{10}}-[a-z0-9]{{5}}", meta["name"])
            assert meta["labels"] == md["spec"]["template"]["metadata"]["labels"]
            assert meta["finalizers"] == [MACHINE_FINALIZER]
            owner = meta["ownerReferences"][0]
            assert (owner["kind"], owner["uid"], owner["controller"]) == (
                "MachineDeployment",
                md["metadata"]["uid"],
                True,
            )
            assert machine["spec"]["providerSpec"] == md["spec"]["template"]["spec"]["providerSpec"]
        assert md["status"]["replicas"] == md["spec"]["replicas"]
        assert md["status"]["updatedReplicas"] == md["spec"]["replicas"]
        assert md["status"]["readyReplicas"] == 0
        assert md["status"]["observedGeneration"] == md["metadata"]["generation"]


def test_each_machine_gets_a_kkp_shaped_vm(world: World) -> None:
    store = world.store
    machine = machines(store, PROD, "prod-eu-workers")[0]
    vm = vm_of(store, machine)
    assert vm is not None
    name = machine["metadata"]["name"]
    expected_labels = {
        **machine["metadata"]["labels"],
        "cluster.x-k8s.io/cluster-name": "x7k2mq9p4d",
        "cluster.x-k8s.io/role": "worker",
        "kubermatic.k8c.io/project-id": "wz5r8t2k6n",
        "kubermatic.k8c.io/cluster-id": "x7k2mq9p4d",
        "kubevirt.io/vm": name,
        "md": "prod-eu-workers",
    }
    assert vm["metadata"]["labels"] == expected_labels
    assert vm["spec"]["template"]["metadata"]["labels"] == expected_labels
    assert vm["spec"]["runStrategy"] == "Once"
    assert vm["spec"]["instancetype"] == {
        "name": "standard-2",
        "kind": "VirtualMachineInstancetype",
    }
    assert vm["spec"]["preference"]["kind"] == "VirtualMachinePreference"
    spec = vm["spec"]["template"]["spec"]
    assert spec["evictionStrategy"] == "LiveMigrate"
    assert spec["terminationGracePeriodSeconds"] == 30
    assert spec["dnsPolicy"] == "ClusterFirst"
    assert spec["affinity"] == {}
    assert spec["topologySpreadConstraints"] == [
        {
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": {"md": "prod-eu-workers"}},
        }
    ]
    annotations = vm["spec"]["template"]["metadata"]["annotations"]
    assert annotations["sim.kvtui.dev/cpu-load"] == "0.45"
    assert annotations["kubevirt.io/allow-pod-bridge-network-live-migration"] == "true"
    dv = vm["spec"]["dataVolumeTemplates"][0]
    assert dv["metadata"]["name"] == name
    assert dv["spec"]["storage"]["accessModes"] == ["ReadWriteMany"]  # from the StorageProfile
    assert [d["name"] for d in spec["domain"]["devices"]["disks"]] == [
        "datavolumedisk",
        "cloudinitdisk",
    ]
    secret_name = spec["volumes"][1]["cloudInitNoCloud"]["secretRef"]["name"]
    secret = store.get("/secrets", PROD, secret_name)
    assert secret["metadata"]["ownerReferences"][0]["uid"] == vm["metadata"]["uid"]


def test_placement_and_strategy_follow_the_machine_deployment(world: World) -> None:
    store = world.store
    db = vm_of(store, machines(store, STAGING, "staging-db")[0])
    db_spec = db["spec"]["template"]["spec"]
    assert db["spec"]["dataVolumeTemplates"][0]["spec"]["storage"]["accessModes"] == [
        "ReadWriteOnce"
    ]
    assert db_spec["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ] == {
        "nodeSelectorTerms": [
            {
                "matchExpressions": [
                    {"key": "kubernetes.io/hostname", "operator": "In", "values": ["kv-node-4"]}
                ]
            }
        ]
    }
    frontend = vm_of(store, machines(store, PROD, "prod-eu-frontend")[0])
    spec = frontend["spec"]["template"]["spec"]
    preferred = spec["affinity"]["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert preferred == [
        {
            "weight": 1,
            "preference": {
                "matchExpressions": [
                    {"key": "kubernetes.io/hostname", "operator": "In", "values": ["kv-node-1"]}
                ]
            },
        }
    ]
    assert spec["topologySpreadConstraints"] == [
        {
            "maxSkew": 1,
            "topologyKey": "topology.kubernetes.io/region",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": {"md": "prod-eu-frontend"}},
        }
    ]
    runner = vm_of(store, machines(store, CI, "ci-runners-md")[0])
    assert runner["spec"]["template"]["spec"]["evictionStrategy"] == "External"  # MD left it empty
    assert runner["spec"]["instancetype"]["kind"] == "VirtualMachineClusterInstancetype"


def test_running_vmi_gives_the_machine_its_node(world: World) -> None:
    store = world.store
    machine = machines(store, PROD, "prod-eu-workers")[0]
    run_vmi(store, vm_of(store, machine))
    world.settle()
    machine = store.get(MACHINES, PROD, machine["metadata"]["name"])
    name = machine["metadata"]["name"]
    assert machine["status"]["nodeRef"] == {"apiVersion": "v1", "kind": "Node", "name": name}
    assert machine["spec"]["providerID"] == f"kubevirt://{name}"
    assert {"type": "InternalIP", "address": "10.16.0.42"} in machine["status"]["addresses"]
    md = store.get(MACHINE_DEPLOYMENTS, PROD, "prod-eu-workers")
    assert md["status"]["readyReplicas"] == 1
    run_all(world)
    md = store.get(MACHINE_DEPLOYMENTS, PROD, "prod-eu-workers")
    assert md["status"]["readyReplicas"] == md["status"]["availableReplicas"] == 3


def test_deleting_a_machine_deletes_its_vm_and_a_replacement_appears(world: World) -> None:
    store = world.store
    doomed = machines(store, STAGING, "staging-md")[0]
    name = doomed["metadata"]["name"]
    store.delete(MACHINES, STAGING, name)
    world.settle()
    assert store.get(MACHINES, STAGING, name) is None
    assert store.get(VMS, STAGING, name) is None
    replacement = machines(store, STAGING, "staging-md")
    assert len(replacement) == 2 and name not in {m["metadata"]["name"] for m in replacement}
    assert all(vm_of(store, m) is not None for m in replacement)


def test_a_joined_node_is_drained_before_its_vm_goes(world: World) -> None:
    store = world.store
    run_all(world)
    doomed = machines(store, STAGING, "staging-md")[0]
    name = doomed["metadata"]["name"]
    store.delete(MACHINES, STAGING, name)
    world.settle()
    assert store.get(VMS, STAGING, name) is not None  # the user-cluster drain is under way
    world.clock.advance(5)
    world.settle()
    assert store.get(VMS, STAGING, name) is not None
    world.clock.advance(6)
    world.settle()
    assert store.get(VMS, STAGING, name) is None
    assert store.get(MACHINES, STAGING, name) is None


def test_scaling_a_machine_deployment(world: World) -> None:
    store = world.store
    store.mutate(
        MACHINE_DEPLOYMENTS, PROD, "prod-eu-workers", lambda md: md["spec"].update(replicas=5)
    )
    world.settle()
    assert len(machines(store, PROD, "prod-eu-workers")) == 5
    assert (
        len(
            [
                vm
                for vm in store.list(VMS, PROD)
                if vm["metadata"]["labels"]["md"] == "prod-eu-workers"
            ]
        )
        == 5
    )
    store.mutate(
        MACHINE_DEPLOYMENTS, PROD, "prod-eu-workers", lambda md: md["spec"].update(replicas=1)
    )
    world.settle()
    assert len(machines(store, PROD, "prod-eu-workers", live_only=False)) == 1
    assert (
        len(
            [
                vm
                for vm in store.list(VMS, PROD)
                if vm["metadata"]["labels"]["md"] == "prod-eu-workers"
            ]
        )
        == 1
    )
    assert store.get(MACHINE_DEPLOYMENTS, PROD, "prod-eu-workers")["status"]["replicas"] == 1


def test_template_change_rolls_machines_one_at_a_time(world: World) -> None:
    store = world.store
    run_all(world)
    before = {m["metadata"]["name"] for m in machines(store, PROD, "prod-eu-workers")}

    def bump(md: Obj) -> None:
        md["spec"]["template"]["metadata"]["annotations"]["sim.kvtui.dev/cpu-load"] = "0.9"

    store.mutate(MACHINE_DEPLOYMENTS, PROD, "prod-eu-workers", bump)
    world.settle()
    live = machines(store, PROD, "prod-eu-workers")
    assert len(live) == 4  # maxSurge 1, maxUnavailable 0: nothing old goes before a new is ready
    for _ in range(10):
        run_all(world)
    after = machines(store, PROD, "prod-eu-workers")
    assert len(after) == 3 and not before & {m["metadata"]["name"] for m in after}
    vm = vm_of(store, after[0])
    assert vm["spec"]["template"]["metadata"]["annotations"]["sim.kvtui.dev/cpu-load"] == "0.9"
    md = store.get(MACHINE_DEPLOYMENTS, PROD, "prod-eu-workers")
    assert md["status"]["updatedReplicas"] == md["status"]["readyReplicas"] == 3


def test_external_evacuation_replaces_the_machine(world: World) -> None:
    store = world.store
    run_all(world)
    evacuated = machines(store, CI, "ci-runners-md")[0]
    name = evacuated["metadata"]["name"]

    def mark(vmi: Obj) -> None:
        vmi["status"]["evacuationNodeName"] = "kv-node-1"

    store.mutate(VMIS, CI, name, mark)
    world.settle()
    assert store.get(MACHINES, CI, name)["metadata"]["deletionTimestamp"]
    live = machines(store, CI, "ci-runners-md")
    assert len(live) == 2 and name not in {m["metadata"]["name"] for m in live}
    assert store.get(VMS, CI, name) is not None  # still draining the user-cluster node
    world.clock.advance(11)
    world.settle()
    assert store.get(VMS, CI, name) is None
    assert store.get(MACHINES, CI, name) is None
    events = [e for e in store.list("/events", CI) if e["involvedObject"]["name"] == name]
    assert any(e["source"]["component"] == "kkp-kubevirt-vmi-eviction" for e in events)


def test_live_migrate_evacuation_leaves_the_machine_alone(world: World) -> None:
    store = world.store
    run_all(world)
    machine = machines(store, PROD, "prod-eu-frontend")[0]
    name = machine["metadata"]["name"]
    store.mutate(VMIS, PROD, name, lambda vmi: vmi["status"].update(evacuationNodeName="kv-node-1"))
    world.settle()
    assert not store.get(MACHINES, PROD, name)["metadata"].get("deletionTimestamp")


def test_unknown_instancetype_is_a_machine_error(world: World) -> None:
    store = world.store

    def break_it(md: Obj) -> None:
        value = md["spec"]["template"]["spec"]["providerSpec"]["value"]
        value["cloudProviderSpec"]["virtualMachine"]["instancetype"]["name"] = "standard-64"

    store.mutate(MACHINE_DEPLOYMENTS, STAGING, "staging-md", break_it)
    world.settle()
    new = [
        m
        for m in machines(store, STAGING, "staging-md")
        if (m.get("status") or {}).get("errorMessage")
    ]
    assert new and "standard-64" in new[0]["status"]["errorMessage"]
    assert vm_of(store, new[0]) is None


def test_seed_and_cluster_bookkeeping(world: World) -> None:
    store = world.store
    seed = store.get(SEEDS, "kubermatic", "europe-west")
    assert seed["status"]["clusters"] == 3 and seed["status"]["phase"] == "Healthy"
    cluster = copy.deepcopy(store.get(CLUSTERS, None, "x7k2mq9p4d"))
    cluster["metadata"] = {"name": "n3wc1u5t3r", "labels": {"project-id": "wz5r8t2k6n"}}
    cluster["spec"]["humanReadableName"] = "new"
    cluster["status"] = {"address": {"ip": "198.51.100.99"}}
    store.create(CLUSTERS, cluster)
    world.settle()
    created = store.get(CLUSTERS, None, "n3wc1u5t3r")
    assert created["status"]["phase"] == "Running"
    assert created["status"]["namespaceName"] == "cluster-n3wc1u5t3r"
    assert store.get("/namespaces", None, "cluster-n3wc1u5t3r") is not None
    policy = store.get(
        "networking.k8s.io/networkpolicies", "cluster-n3wc1u5t3r", "cluster-isolation"
    )
    assert {"to": [{"ipBlock": {"cidr": "198.51.100.99/32"}}]} in policy["spec"]["egress"]
    assert store.get(
        "instancetype.kubevirt.io/virtualmachineinstancetypes", "cluster-n3wc1u5t3r", "standard-8"
    )
    assert store.get(SEEDS, "kubermatic", "europe-west")["status"]["clusters"] == 4
    store.delete(CLUSTERS, None, "x7k2mq9p4d")
    world.settle()
    assert store.get(CLUSTERS, None, "x7k2mq9p4d") is None
    assert store.get(SEEDS, "kubermatic", "europe-west")["status"]["clusters"] == 3

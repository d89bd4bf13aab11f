"""The simulated kube-scheduler: filters, scores, failure messages, retries and scale."""

from __future__ import annotations

from kvtui.sim.controllers.kubelet import Kubelet
from kvtui.sim.controllers.scheduler import Scheduler
from kvtui.sim.store import Store
from kvtui.sim.world import SimClock, World
from tests.sim.cluster_objects import (
    START,
    condition,
    events,
    get_pod,
    make_world,
    node,
    pod,
    run,
)

NODES = "/nodes"
PODS = "/pods"


def bound_node(world: World, name: str, namespace: str = "default") -> str | None:
    return get_pod(world, name, namespace)["spec"].get("nodeName")


def test_binds_a_pending_pod_and_records_the_event() -> None:
    world = make_world()
    world.store.load([node("node-a"), pod("web")])
    world.settle()

    scheduled = get_pod(world, "web")
    assert scheduled["spec"]["nodeName"] == "node-a"
    assert condition(scheduled, "PodScheduled")["status"] == "True"
    [event] = events(world, "Scheduled")
    assert event["message"] == "Successfully assigned default/web to node-a"
    assert event["source"]["component"] == "default-scheduler"
    assert event["involvedObject"]["name"] == "web"


def test_prefers_the_least_allocated_node() -> None:
    world = make_world()
    world.store.load([node("node-a"), node("node-b"), pod("big", cpu="12", memory="48Gi")])
    world.settle()
    first = bound_node(world, "big")
    world.store.create(PODS, pod("small"))
    world.settle()
    assert bound_node(world, "small") not in (None, first)


def test_equal_nodes_fill_in_name_order() -> None:
    world = make_world()
    world.store.load([node("node-b"), node("node-a"), node("node-c")])
    world.store.create(PODS, pod("p0"))
    world.settle()
    assert bound_node(world, "p0") == "node-a"


def test_unschedulable_message_counts_reasons_like_kube_scheduler() -> None:
    world = make_world()
    world.store.load(
        [
            node("node-a", unschedulable=True),
            node("node-b", memory="1Gi"),
            node("node-c", memory="1Gi"),
            pod("hungry", memory="4Gi"),
        ]
    )
    world.settle()

    stuck = get_pod(world, "hungry")
    assert "nodeName" not in stuck["spec"]
    scheduled = condition(stuck, "PodScheduled")
    assert scheduled["status"] == "False"
    assert scheduled["reason"] == "Unschedulable"
    assert scheduled["message"] == (
        "0/3 nodes are available: 1 node(s) were unschedulable, 2 Insufficient memory. "
        "preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, "
        "2 No preemption victims found for incoming pod."
    )
    assert stuck["status"]["phase"] == "Pending"
    assert len(events(world, "FailedScheduling")) == 1

    # Retrying with the same result neither rewrites the pod nor repeats the event.
    rv = stuck["metadata"]["resourceVersion"]
    run(world, 12)
    assert get_pod(world, "hungry")["metadata"]["resourceVersion"] == rv
    assert len(events(world, "FailedScheduling")) == 1

    # Uncordoning the node is a node event: the pod is retried and lands there.
    world.store.mutate(NODES, "", "node-a", lambda n: n["spec"].pop("unschedulable"))
    world.settle()
    assert bound_node(world, "hungry") == "node-a"
    assert condition(get_pod(world, "hungry"), "PodScheduled")["status"] == "True"


def test_new_failure_message_records_a_new_event() -> None:
    world = make_world()
    world.store.load([node("node-a", memory="1Gi"), pod("hungry", memory="4Gi")])
    world.settle()
    world.store.create(
        NODES, node("node-b", taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}])
    )
    world.settle()
    messages = [e["message"] for e in events(world, "FailedScheduling")]
    assert len(messages) == 2
    assert "1 node(s) had untolerated taint {dedicated: gpu}" in messages[1]
    assert messages[1].startswith("0/2 nodes are available")


def test_taints_and_tolerations() -> None:
    world = make_world()
    taint = {"key": "dedicated", "value": "vm", "effect": "NoSchedule"}
    world.store.load(
        [
            node("node-a", taints=[taint]),
            pod("plain"),
            pod(
                "equal",
                tolerations=[
                    {"key": "dedicated", "operator": "Equal", "value": "vm", "effect": "NoSchedule"}
                ],
            ),
            pod("wrong-value", tolerations=[{"key": "dedicated", "value": "db"}]),
            pod("exists-all", tolerations=[{"operator": "Exists"}]),
        ]
    )
    world.settle()
    assert bound_node(world, "plain") is None
    assert bound_node(world, "wrong-value") is None
    assert bound_node(world, "equal") == "node-a"
    assert bound_node(world, "exists-all") == "node-a"


def test_not_ready_nodes_are_skipped() -> None:
    world = make_world()
    world.store.load(
        [
            node("node-a", annotations={"sim.kvtui.dev/not-ready": "true"}),
            node("node-b"),
        ]
    )
    world.settle()  # the kubelet reports node-a NotReady
    world.store.create(PODS, pod("p"))
    world.settle()
    assert bound_node(world, "p") == "node-b"
    world.store.mutate(
        NODES,
        "",
        "node-b",
        lambda n: n["metadata"]["annotations"].update({"sim.kvtui.dev/not-ready": "true"}),
    )
    world.settle()
    world.store.create(PODS, pod("q"))
    world.settle()
    message = condition(get_pod(world, "q"), "PodScheduled")["message"]
    assert message.startswith(
        "0/2 nodes are available: 2 node(s) had untolerated taint {node.kubernetes.io/not-ready: }."
    )


def test_node_selector_and_required_affinity() -> None:
    world = make_world()
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["nvme"]}]},
                    {"matchExpressions": [{"key": "gpu", "operator": "Exists"}]},
                ]
            }
        }
    }
    world.store.load(
        [
            node("node-a", labels={"kubevirt.io/schedulable": "false", "disk": "hdd"}),
            node("node-b", labels={"kubevirt.io/schedulable": "true", "disk": "hdd"}),
            node("node-c", labels={"kubevirt.io/schedulable": "true", "gpu": "a100"}),
            pod("selected", nodeSelector={"kubevirt.io/schedulable": "true"}),
            pod("affine", affinity=affinity),
            pod("nowhere", nodeSelector={"zone": "mars"}),
        ]
    )
    world.settle()
    assert bound_node(world, "selected") in ("node-b", "node-c")
    assert bound_node(world, "affine") == "node-c"
    message = condition(get_pod(world, "nowhere"), "PodScheduled")["message"]
    assert message.startswith(
        "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."
    )


def test_preferred_affinity_outweighs_free_capacity() -> None:
    world = make_world()
    preferred = {
        "nodeAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 1,
                    "preference": {
                        "matchExpressions": [{"key": "pool", "operator": "In", "values": ["fast"]}]
                    },
                }
            ]
        }
    }
    world.store.load(
        [
            node("node-a", cpu="64", memory="256Gi"),
            node("node-b", labels={"pool": "fast"}),
            pod("p", affinity=preferred),
        ]
    )
    world.settle()
    assert bound_node(world, "p") == "node-b"


def test_requests_are_tracked_incrementally() -> None:
    world = make_world()
    scheduler = world.find(Scheduler)
    two = pod("two", cpu=None, memory=None)
    two["spec"]["containers"] = [
        {"name": "a", "resources": {"requests": {"cpu": "250m", "memory": "1Gi"}}},
        {
            "name": "b",
            "resources": {"limits": {"cpu": "1", "memory": "2Gi", "devices.kubevirt.io/kvm": "1"}},
        },
    ]
    two["spec"]["initContainers"] = [
        {"name": "init", "resources": {"requests": {"cpu": "2", "memory": "100Mi"}}}
    ]
    world.store.load([node("node-a"), two, pod("one", cpu="500m", memory="512Mi")])
    world.settle()
    mi = 1024 * 1024
    assert scheduler.requested("node-a") == {
        "cpu": 2000 + 500,
        "memory": 3 * 1024 * mi + 512 * mi,
        "devices.kubevirt.io/kvm": 1,
        "pods": 2,
    }
    # A terminating pod still holds its resources; a finished or removed one does not.
    world.store.delete(PODS, "default", "one", grace_seconds=30)
    assert scheduler.requested("node-a")["pods"] == 2
    world.store.mutate(PODS, "default", "two", lambda p: p["status"].update(phase="Succeeded"))
    assert scheduler.requested("node-a") == {
        "cpu": 500,
        "memory": 512 * mi,
        "devices.kubevirt.io/kvm": 0,
        "pods": 1,
    }
    world.store.remove(PODS, "default", "one")
    assert scheduler.requested("node-a")["pods"] == 0
    assert scheduler.requested("no-such-node") == {}


def test_pod_limit_and_extended_resources() -> None:
    world = make_world()
    kvm_pod = pod("vm")
    kvm_pod["spec"]["containers"][0]["resources"]["limits"] = {"devices.kubevirt.io/kvm": "1"}
    world.store.load(
        [
            node("plain", kvm=False),
            node("full", pods="0"),
            kvm_pod,
        ]
    )
    world.settle()
    message = condition(get_pod(world, "vm"), "PodScheduled")["message"]
    assert message.startswith(
        "0/2 nodes are available: 1 Insufficient devices.kubevirt.io/kvm, 1 Too many pods."
    )


def test_freed_resources_unblock_a_waiting_pod() -> None:
    world = make_world()
    world.store.load([node("node-a", cpu="2"), pod("first", cpu="1500m")])
    world.settle()
    world.store.create(PODS, pod("second", cpu="1"))
    world.settle()
    assert bound_node(world, "second") is None
    world.store.remove(PODS, "default", "first")
    world.settle()
    assert bound_node(world, "second") == "node-a"


def test_other_schedulers_and_bound_or_deleted_pods_are_left_alone() -> None:
    world = make_world()
    world.store.load(
        [
            node("node-a"),
            pod("custom", schedulerName="volcano"),
            pod("preset", nodeName="node-b"),
            pod("gated", schedulingGates=[{"name": "wait"}]),
        ]
    )
    world.settle()
    assert bound_node(world, "custom") is None
    assert bound_node(world, "preset") == "node-b"
    assert bound_node(world, "gated") is None
    assert not events(world, "FailedScheduling")


def test_hard_topology_spread_keeps_zones_balanced() -> None:
    world = make_world()
    spread = [
        {
            "maxSkew": 1,
            "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": "db"}},
        }
    ]
    # zone-a has far more room, so least-allocated alone would pile everything there.
    world.store.load(
        [
            node("a-1", cpu="64", memory="256Gi", labels={"topology.kubernetes.io/zone": "zone-a"}),
            node("b-1", labels={"topology.kubernetes.io/zone": "zone-b"}),
            node("no-zone", cpu="64", memory="256Gi"),
        ]
    )
    for i in range(6):
        world.store.create(
            PODS, pod(f"db-{i}", labels={"app": "db"}, topologySpreadConstraints=spread)
        )
        world.settle()
    placed = [bound_node(world, f"db-{i}") for i in range(6)]
    assert placed.count("a-1") == 3
    assert placed.count("b-1") == 3

    # With zone-b full, a seventh pod would make the skew 2: it must wait.
    world.store.mutate(NODES, "", "b-1", lambda n: n["spec"].update(unschedulable=True))
    world.store.create(PODS, pod("db-6", labels={"app": "db"}, topologySpreadConstraints=spread))
    world.store.create(PODS, pod("db-7", labels={"app": "db"}, topologySpreadConstraints=spread))
    world.settle()
    assert bound_node(world, "db-6") == "a-1"
    assert bound_node(world, "db-7") is None
    message = condition(get_pod(world, "db-7"), "PodScheduled")["message"]
    assert "1 node(s) didn't match pod topology spread constraints," in message
    assert "1 node(s) didn't match pod topology spread constraints (missing required label)" in (
        message
    )


def test_soft_topology_spread_prefers_empty_hosts() -> None:
    spread = [
        {
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": {"md": "workers"}},
        }
    ]

    def place(with_spread: bool) -> list[str | None]:
        world = make_world()
        world.store.load(
            [node("busy"), node("idle"), pod("other", cpu="8", memory="32Gi", nodeName="busy")]
        )
        names = []
        for i in range(2):
            extra = {"topologySpreadConstraints": spread} if with_spread else {}
            world.store.create(PODS, pod(f"w-{i}", labels={"md": "workers"}, **extra))
            world.settle()
            names.append(bound_node(world, f"w-{i}"))
        return names

    assert place(False) == ["idle", "idle"]
    assert place(True) == ["idle", "busy"]


def test_periodic_retry_happens_every_five_seconds() -> None:
    world = make_world()
    world.store.load([node("node-a", memory="1Gi"), pod("hungry", memory="4Gi")])
    world.settle()
    assert world.step() == 0
    world.clock.advance(5.1)
    assert world.step() > 0


def test_start_picks_up_objects_loaded_before_the_controllers() -> None:
    clock = SimClock(speed=0.0, start=START)
    store = Store(clock.now)
    world = World(store, clock, seed=1)
    store.load([node("node-a"), pod("early")])
    scheduler = world.add(Scheduler(world))
    world.add(Kubelet(world))
    for controller in world.controllers:
        controller.start()
    world.settle()
    assert bound_node(world, "early") == "node-a"
    assert scheduler.requested("node-a")["pods"] == 1


def test_thousands_of_pods_are_placed_and_started() -> None:
    world = make_world()
    world.store.load(
        [
            node(
                f"node-{i:03d}",
                labels={
                    "kubevirt.io/schedulable": "true",
                    "topology.kubernetes.io/zone": f"zone-{i % 4}",
                },
            )
            for i in range(200)
        ]
    )
    spread = [
        {
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": {"md": "md-0"}},
        }
    ]
    for i in range(2000):
        extra = {"topologySpreadConstraints": spread} if i % 2 else {}
        world.store.create(
            PODS,
            pod(
                f"virt-launcher-vm-{i}",
                f"cluster-{i % 20}",
                cpu="100m",
                memory="1274Mi",
                labels={"kubevirt.io": "virt-launcher", "md": "md-0"},
                nodeSelector={"kubevirt.io/schedulable": "true"},
                readinessGates=[{"conditionType": "kubevirt.io/virtual-machine-unpaused"}],
                **extra,
            ),
        )
    steps = 0
    while steps < 20:
        world.settle()
        pods = world.store.list(PODS)
        if all(p["status"].get("phase") == "Running" for p in pods):
            break
        world.clock.advance(1.0)
        steps += 1
    pods = world.store.list(PODS)
    assert len(pods) == 2000
    assert all(p["status"]["phase"] == "Running" for p in pods)
    per_node: dict[str, int] = {}
    for p in pods:
        per_node[p["spec"]["nodeName"]] = per_node.get(p["spec"]["nodeName"], 0) + 1
    assert len(per_node) == 200
    assert max(per_node.values()) - min(per_node.values()) <= 2
    assert len({p["status"]["podIP"] for p in pods}) == 2000
    assert steps <= 5

"""The DaemonSet controller and the node labels virt-handler keeps."""

from __future__ import annotations

from kvtui.sim.world import World
from tests.sim.cluster_objects import condition, daemonset, make_world, node, run

NODES, PODS, DAEMONSETS = "/nodes", "/pods", "apps/daemonsets"
KVM_TAINT = {"key": "kubevirt.io/kvm", "value": "only", "effect": "NoSchedule"}


def ds_pods(world: World, name: str, namespace: str = "kube-system") -> dict[str, dict]:
    """Live pods of one DaemonSet, by node."""
    out = {}
    for p in world.store.list(PODS, namespace):
        refs = p["metadata"].get("ownerReferences") or []
        if refs and refs[0]["name"] == name and not p["metadata"].get("deletionTimestamp"):
            out[p["spec"]["nodeName"]] = p
    return out


def labels_of(world: World, node_name: str) -> dict[str, str]:
    return world.store.get(NODES, "", node_name)["metadata"].get("labels") or {}


def test_one_pod_per_eligible_node_including_cordoned_ones() -> None:
    world = make_world(daemonsets=True)
    world.store.load(
        [
            node("node-a"),
            node("node-b", unschedulable=True),
            node("node-c", taints=[KVM_TAINT]),
            node("node-d", labels={"kubernetes.io/os": "windows"}),
            daemonset(
                "agent",
                "kube-system",
                {
                    "nodeSelector": {"kubernetes.io/hostname": "node-a"},
                    "containers": [{"name": "agent", "image": "example/agent:1"}],
                },
            ),
        ]
    )
    ds = world.store.get(DAEMONSETS, "kube-system", "agent")
    world.store.mutate(
        DAEMONSETS,
        "kube-system",
        "agent",
        lambda d: d["spec"]["template"]["spec"].pop("nodeSelector"),
    )
    world.settle()

    pods = ds_pods(world, "agent")
    assert sorted(pods) == ["node-a", "node-b", "node-d"]
    made = pods["node-b"]
    assert made["metadata"]["name"].startswith("agent-")
    assert len(made["metadata"]["name"]) == len("agent-") + 5
    labels = made["metadata"]["labels"]
    assert labels["app"] == "agent"
    assert labels["pod-template-generation"] == "2"
    assert labels["controller-revision-hash"]
    assert made["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "name": "agent",
            "uid": ds["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    terms = made["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]["nodeSelectorTerms"]
    assert terms == [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-b"]}]}
    ]
    assert {
        "key": "node.kubernetes.io/unschedulable",
        "operator": "Exists",
        "effect": "NoSchedule",
    } in made["spec"]["tolerations"]


def test_status_counts_and_running_pods() -> None:
    world = make_world(daemonsets=True)
    world.store.load([node("node-a"), node("node-b"), daemonset("agent", "kube-system")])
    world.settle()
    status = world.store.get(DAEMONSETS, "kube-system", "agent")["status"]
    assert status["desiredNumberScheduled"] == 2
    assert status["currentNumberScheduled"] == 2
    assert status["numberReady"] == 0
    assert status["numberUnavailable"] == 2
    run(world, 2.5)
    status = world.store.get(DAEMONSETS, "kube-system", "agent")["status"]
    assert status == {
        "currentNumberScheduled": 2,
        "numberMisscheduled": 0,
        "desiredNumberScheduled": 2,
        "numberReady": 2,
        "observedGeneration": 1,
        "updatedNumberScheduled": 2,
        "numberAvailable": 2,
    }
    assert all(p["status"]["phase"] == "Running" for p in ds_pods(world, "agent").values())


def test_deleted_pods_are_recreated_and_new_nodes_get_one() -> None:
    world = make_world(daemonsets=True)
    world.store.load([node("node-a"), daemonset("agent", "kube-system")])
    run(world, 2.5)
    old = ds_pods(world, "agent")["node-a"]
    world.store.delete(PODS, "kube-system", old["metadata"]["name"], grace_seconds=0)
    world.store.create(NODES, node("node-b"))
    world.settle()
    pods = ds_pods(world, "agent")
    assert sorted(pods) == ["node-a", "node-b"]
    assert pods["node-a"]["metadata"]["name"] != old["metadata"]["name"]


def test_no_execute_taint_evicts_and_node_deletion_cleans_up() -> None:
    world = make_world(daemonsets=True)
    world.store.load([node("node-a"), node("node-b"), daemonset("agent", "kube-system")])
    run(world, 2.5)
    world.store.mutate(
        NODES,
        "",
        "node-a",
        lambda n: n["spec"].update(taints=[{"key": "maintenance", "effect": "NoExecute"}]),
    )
    world.store.remove(NODES, "", "node-b")
    run(world, 2.5)
    assert ds_pods(world, "agent") == {}
    assert world.store.list(PODS, "kube-system") == []


def test_template_change_rolls_pods_one_at_a_time() -> None:
    world = make_world(daemonsets=True)
    world.store.load(
        [node("node-a"), node("node-b"), node("node-c"), daemonset("agent", "kube-system")]
    )
    run(world, 2.5)
    world.store.mutate(
        DAEMONSETS,
        "kube-system",
        "agent",
        lambda d: d["spec"]["template"]["spec"]["containers"][0].update(
            image="quay.io/example/agent:v2"
        ),
    )
    world.settle()
    terminating = [
        p for p in world.store.list(PODS, "kube-system") if p["metadata"].get("deletionTimestamp")
    ]
    assert len(terminating) == 1
    run(world, 20)
    pods = ds_pods(world, "agent")
    assert len(pods) == 3
    assert {p["spec"]["containers"][0]["image"] for p in pods.values()} == {
        "quay.io/example/agent:v2"
    }
    assert {p["metadata"]["labels"]["pod-template-generation"] for p in pods.values()} == {"2"}
    status = world.store.get(DAEMONSETS, "kube-system", "agent")["status"]
    assert status["updatedNumberScheduled"] == 3
    assert status["observedGeneration"] == 2


def test_virt_handler_labels_and_heartbeat() -> None:
    world = make_world(daemonsets=True)
    handler = daemonset(
        "virt-handler",
        "kubevirt",
        {
            "tolerations": [{"key": "kubevirt.io/kvm", "operator": "Exists"}],
            "containers": [
                {"name": "virt-handler", "image": "quay.io/kubevirt/virt-handler:v1.6.4"}
            ],
        },
        labels={"kubevirt.io": "virt-handler"},
    )
    world.store.load([node("kv-1", taints=[KVM_TAINT]), node("cp-1", kvm=False), handler])
    world.settle()
    assert "kubevirt.io/schedulable" not in labels_of(world, "kv-1")  # not running yet
    run(world, 2.5)

    labels = labels_of(world, "kv-1")
    assert labels["kubevirt.io/schedulable"] == "true"
    assert labels["kubevirt.io/cpumanager"] == "false"
    assert labels["cpumanager"] == "false"
    first = world.store.get(NODES, "", "kv-1")["metadata"]["annotations"]["kubevirt.io/heartbeat"]
    assert "kubevirt.io/schedulable" not in labels_of(world, "cp-1")  # no /dev/kvm there

    beats = []
    world.store.listeners.append(
        lambda etype, key, obj, old: (
            beats.append(obj["metadata"]["annotations"].get("kubevirt.io/heartbeat"))
            if key == NODES and obj["metadata"]["name"] == "kv-1"
            else None
        )
    )
    run(world, 300, step=2.0)
    distinct = set(beats) - {first}
    assert 3 <= len(distinct) <= 5  # every 60-72 s

    # The handler pod goes away: the node is no longer schedulable for VMs.
    pod_name = ds_pods(world, "virt-handler", "kubevirt")["kv-1"]["metadata"]["name"]
    world.store.mutate(
        NODES,
        "",
        "kv-1",
        lambda n: n["spec"].update(taints=[{"key": "maintenance", "effect": "NoExecute"}]),
    )
    world.settle()
    assert world.store.get(PODS, "kubevirt", pod_name)["metadata"].get("deletionTimestamp")
    assert labels_of(world, "kv-1")["kubevirt.io/schedulable"] == "false"


def test_prelabelled_node_without_handler_is_marked_after_a_grace_period() -> None:
    world = make_world(daemonsets=True)
    handler = daemonset("virt-handler", "kubevirt", labels={"kubevirt.io": "virt-handler"})
    world.store.load(
        [
            node("kv-1", labels={"kubevirt.io/schedulable": "true"}),
            node(
                "kv-2",
                labels={"kubevirt.io/schedulable": "true"},
                taints=[{"key": "broken", "effect": "NoSchedule"}],
            ),
            handler,
        ]
    )
    run(world, 20)
    assert labels_of(world, "kv-1")["kubevirt.io/schedulable"] == "true"
    assert labels_of(world, "kv-2")["kubevirt.io/schedulable"] == "true"
    run(world, 15)
    assert labels_of(world, "kv-1")["kubevirt.io/schedulable"] == "true"
    assert labels_of(world, "kv-2")["kubevirt.io/schedulable"] == "false"


def test_unready_handler_stops_the_heartbeat_but_keeps_the_labels() -> None:
    world = make_world(daemonsets=True)
    handler = daemonset("virt-handler", "kubevirt", labels={"kubevirt.io": "virt-handler"})
    world.store.load([node("kv-1"), handler])
    run(world, 3)
    world.store.mutate(
        NODES,
        "",
        "kv-1",
        lambda n: n["metadata"]["annotations"].update({"sim.kvtui.dev/not-ready": "true"}),
    )
    world.settle()
    stopped = world.store.get(NODES, "", "kv-1")["metadata"]["annotations"]["kubevirt.io/heartbeat"]
    run(world, 200, step=5.0)
    after = world.store.get(NODES, "", "kv-1")["metadata"]
    assert after["annotations"]["kubevirt.io/heartbeat"] == stopped
    assert after["labels"]["kubevirt.io/schedulable"] == "true"
    handler_pod = next(iter(ds_pods(world, "virt-handler", "kubevirt").values()))
    assert condition(handler_pod, "Ready")["status"] == "False"

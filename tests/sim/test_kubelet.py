"""The simulated kubelets: pod start-up and status, graceful deletion, node status and leases."""

from __future__ import annotations

import ipaddress

from kvtui.sim.controllers.kubelet import Kubelet
from kvtui.sim.controllers.podutil import pod_is_terminated, pod_requests, qos_class
from kvtui.sim.world import World
from tests.sim.cluster_objects import condition, get_pod, make_world, node, pod, run

NODES, PODS, LEASES = "/nodes", "/pods", "coordination.k8s.io/leases"
NOT_READY = "sim.kvtui.dev/not-ready"


def phase(world: World, name: str) -> str:
    return get_pod(world, name)["status"].get("phase", "")


def launcher(name: str, **spec: object) -> dict:
    return pod(
        name,
        labels={"kubevirt.io": "virt-launcher"},
        readinessGates=[{"conditionType": "kubevirt.io/virtual-machine-unpaused"}],
        **spec,
    )


def test_pod_starts_after_two_seconds_with_full_status() -> None:
    world = make_world()
    world.store.load([node("node-a"), pod("web")])
    world.settle()
    assert phase(world, "web") == "Pending"
    run(world, 1.5)
    assert phase(world, "web") == "Pending"
    run(world, 1.0)

    running = get_pod(world, "web")
    status = running["status"]
    assert status["phase"] == "Running"
    assert status["hostIP"] == "10.16.0.6"
    assert ipaddress.ip_address(status["podIP"]) in ipaddress.ip_network("10.244.0.0/24")
    assert status["podIPs"] == [{"ip": status["podIP"]}]
    assert status["qosClass"] == "Burstable"
    assert status["startTime"]
    for kind in (
        "PodScheduled",
        "Initialized",
        "ContainersReady",
        "Ready",
        "PodReadyToStartContainers",
    ):
        assert condition(running, kind)["status"] == "True", kind
    [container] = status["containerStatuses"]
    assert container["name"] == "main"
    assert container["ready"] is True and container["started"] is True
    assert container["restartCount"] == 0
    assert container["containerID"].startswith("containerd://")
    assert len(container["containerID"]) == len("containerd://") + 64
    assert container["imageID"].startswith("registry.example/app@sha256:")
    assert "startedAt" in container["state"]["running"]


def test_virt_launcher_takes_three_seconds_and_its_gate_counts_as_passed() -> None:
    world = make_world()
    world.store.load([node("node-a"), launcher("virt-launcher-vm-abcde")])
    run(world, 2.5)
    assert phase(world, "virt-launcher-vm-abcde") == "Pending"
    run(world, 1.0)
    running = get_pod(world, "virt-launcher-vm-abcde")
    assert running["status"]["phase"] == "Running"
    assert condition(running, "kubevirt.io/virtual-machine-unpaused")["status"] == "True"
    assert condition(running, "Ready")["status"] == "True"


def test_a_gate_reported_false_keeps_the_pod_unready() -> None:
    world = make_world()
    world.store.load([node("node-a"), launcher("virt-launcher-vm-paused")])
    run(world, 3.5)
    world.store.mutate(
        PODS,
        "default",
        "virt-launcher-vm-paused",
        lambda p: [
            c.update(status="False")
            for c in p["status"]["conditions"]
            if c["type"] == "kubevirt.io/virtual-machine-unpaused"
        ],
    )
    world.settle()
    assert condition(get_pod(world, "virt-launcher-vm-paused"), "Ready")["status"] == "False"


def test_pod_ips_are_unique_per_node_cidr_and_reused_after_deletion() -> None:
    world = make_world()
    cidr_node = node("node-b")
    cidr_node["spec"]["podCIDR"] = "10.128.4.0/24"
    world.store.load([node("node-a"), cidr_node])
    world.store.load([pod(f"a-{i}", nodeName="node-a") for i in range(5)])
    world.store.load([pod(f"b-{i}", nodeName="node-b") for i in range(5)])
    run(world, 2.5)
    a_ips = {get_pod(world, f"a-{i}")["status"]["podIP"] for i in range(5)}
    b_ips = {get_pod(world, f"b-{i}")["status"]["podIP"] for i in range(5)}
    assert len(a_ips) == 5 and len(b_ips) == 5
    assert all(ip.startswith("10.128.4.") for ip in b_ips)
    assert not a_ips & b_ips
    freed = get_pod(world, "b-0")["status"]["podIP"]
    world.store.delete(PODS, "default", "b-0", grace_seconds=0)
    world.store.create(PODS, pod("b-new", nodeName="node-b"))
    run(world, 2.5)
    assert get_pod(world, "b-new")["status"]["podIP"] == freed
    # A pod that finished keeps its status but no longer holds the address.
    done = get_pod(world, "b-1")["status"]["podIP"]
    world.store.mutate(PODS, "default", "b-1", lambda p: p["status"].update(phase="Succeeded"))
    world.store.create(PODS, pod("b-next", nodeName="node-b"))
    run(world, 2.5)
    assert get_pod(world, "b-next")["status"]["podIP"] == done


def test_graceful_deletion_waits_at_most_two_seconds() -> None:
    world = make_world()
    world.store.load([node("node-a"), pod("web"), pod("quick")])
    run(world, 2.5)
    world.store.delete(PODS, "default", "web", grace_seconds=30)
    world.store.delete(PODS, "default", "quick", grace_seconds=1)
    world.settle()
    assert world.store.get(PODS, "default", "web") is not None
    run(world, 1.0)
    assert world.store.get(PODS, "default", "quick") is None
    assert world.store.get(PODS, "default", "web") is not None
    run(world, 1.0)
    assert world.store.get(PODS, "default", "web") is None


def test_pods_that_never_ran_or_finished_go_at_once() -> None:
    world = make_world()
    world.store.load([node("node-a"), pod("done"), pod("unbound", nodeSelector={"x": "y"})])
    run(world, 2.5)
    world.store.mutate(PODS, "default", "done", lambda p: p["status"].update(phase="Succeeded"))
    world.store.create(PODS, pod("starting", nodeName="node-a"))
    world.settle()
    for name in ("done", "unbound", "starting"):
        world.store.delete(PODS, "default", name, grace_seconds=30)
    world.settle()
    for name in ("done", "unbound", "starting"):
        assert world.store.get(PODS, "default", name) is None, name


def test_finalizers_hold_a_stopped_pod() -> None:
    world = make_world()
    held = pod("held")
    held["metadata"]["finalizers"] = ["example.com/hold"]
    world.store.load([node("node-a"), held])
    run(world, 2.5)
    world.store.delete(PODS, "default", "held", grace_seconds=30)
    run(world, 3)
    assert world.store.get(PODS, "default", "held") is not None
    world.store.mutate(PODS, "default", "held", lambda p: p["metadata"].update(finalizers=[]))
    assert world.store.get(PODS, "default", "held") is None


def test_node_conditions_are_posted_and_refreshed_sparingly() -> None:
    world = make_world()
    world.store.create(NODES, node("node-a", ready=None))
    world.settle()
    posted = world.store.get(NODES, "", "node-a")
    kinds = {c["type"]: c for c in posted["status"]["conditions"]}
    assert set(kinds) == {
        "Ready",
        "MemoryPressure",
        "DiskPressure",
        "PIDPressure",
        "NetworkUnavailable",
    }
    assert kinds["Ready"]["status"] == "True"
    assert kinds["Ready"]["reason"] == "KubeletReady"
    assert all(kinds[k]["status"] == "False" for k in kinds if k != "Ready")
    first_beat = kinds["Ready"]["lastHeartbeatTime"]

    writes = []
    world.store.listeners.append(
        lambda etype, key, obj, old: writes.append(obj) if key == NODES else None
    )
    run(world, 120, step=1.0)
    assert 2 <= len(writes) <= 4  # every 40 s, not every step
    ready = next(c for c in writes[-1]["status"]["conditions"] if c["type"] == "Ready")
    assert ready["lastHeartbeatTime"] > first_beat
    assert ready["lastTransitionTime"] == kinds["Ready"]["lastTransitionTime"]


def test_leases_are_created_and_renewed_every_ten_seconds() -> None:
    world = make_world()
    world.store.load([node("node-a"), node("node-b")])
    world.settle()
    lease = world.store.get(LEASES, "kube-node-lease", "node-a")
    assert lease is not None
    assert lease["spec"]["holderIdentity"] == "node-a"
    assert lease["spec"]["leaseDurationSeconds"] == 40
    assert lease["metadata"]["ownerReferences"][0]["kind"] == "Node"
    first = lease["spec"]["renewTime"]
    assert first.endswith("Z") and "." in first  # MicroTime

    renewals = []
    world.store.listeners.append(
        lambda etype, key, obj, old: renewals.append(obj) if key == LEASES else None
    )
    run(world, 60, step=1.0)
    per_node = [r for r in renewals if r["metadata"]["name"] == "node-a"]
    assert 5 <= len(per_node) <= 7
    assert world.store.get(LEASES, "kube-node-lease", "node-a")["spec"]["renewTime"] > first


def test_not_ready_annotation_takes_the_node_and_its_pods_down_and_back() -> None:
    world = make_world()
    world.store.load([node("node-a"), pod("web", nodeName="node-a")])
    run(world, 2.5)
    world.store.mutate(
        NODES, "", "node-a", lambda n: n["metadata"]["annotations"].update({NOT_READY: "true"})
    )
    world.store.create(PODS, pod("late", nodeName="node-a"))
    run(world, 5)

    down = world.store.get(NODES, "", "node-a")
    ready = next(c for c in down["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False"
    assert ready["reason"] == "KubeletNotReady"
    assert phase(world, "web") == "Running"
    assert condition(get_pod(world, "web"), "Ready")["status"] == "False"
    assert phase(world, "late") == "Pending"  # nothing starts on a node whose kubelet is down

    # Deleting a pod on a NotReady node does not wait for a grace period.
    world.store.delete(PODS, "default", "web", grace_seconds=30)
    world.settle()
    assert world.store.get(PODS, "default", "web") is None

    world.store.mutate(NODES, "", "node-a", lambda n: n["metadata"]["annotations"].pop(NOT_READY))
    run(world, 2.5)
    assert phase(world, "late") == "Running"
    assert condition(get_pod(world, "late"), "Ready")["status"] == "True"


def test_pods_on_a_missing_node_stay_pending_and_deleted_nodes_are_collected() -> None:
    world = make_world()
    world.store.load(
        [node("node-a"), pod("web", nodeName="node-a"), pod("ghost", nodeName="node-x")]
    )
    run(world, 3)
    assert phase(world, "ghost") == "Pending"
    world.store.remove(NODES, "", "node-a")
    run(world, 30)
    assert world.store.get(PODS, "default", "web") is not None
    run(world, 15)
    assert world.store.get(PODS, "default", "web") is None
    assert phase(world, "ghost") == "Pending"


def test_start_delay_setting_starts_pods_at_once() -> None:
    world = make_world()
    world.settings["kubelet_start_delay"] = 0
    world.store.load([node("node-a"), launcher("virt-launcher-now")])
    world.settle()
    assert phase(world, "virt-launcher-now") == "Running"


def test_kubelet_start_enqueues_existing_objects() -> None:
    world = make_world()
    kubelet = world.find(Kubelet)
    world.store.load([node("node-a"), pod("web", nodeName="node-a")])
    kubelet.queue.clear()
    kubelet.start()
    run(world, 2.5)
    assert phase(world, "web") == "Running"


def test_pod_requests_follow_kubernetes_rules() -> None:
    spec_pod = pod("p", cpu=None, memory=None)
    spec_pod["spec"].update(
        containers=[
            {"name": "a", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}},
            {"name": "b", "resources": {"limits": {"cpu": "500m", "memory": "512Mi"}}},
        ],
        initContainers=[
            {"name": "big-init", "resources": {"requests": {"cpu": "4", "memory": "100Mi"}}},
            {
                "name": "sidecar",
                "restartPolicy": "Always",
                "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
            },
        ],
        overhead={"cpu": "50m", "memory": "10Mi"},
    )
    mi = 1024 * 1024
    # containers 1.5 cpu + sidecar 0.1 = 1.6 < init 4 (the sidecar starts after big-init).
    assert pod_requests(spec_pod) == {"cpu": 4000 + 50, "memory": 1600 * mi + 10 * mi, "pods": 1}
    assert pod_requests(pod("empty", cpu=None, memory=None)) == {"pods": 1}


def test_qos_classes() -> None:
    guaranteed = pod("g", cpu=None, memory=None)
    guaranteed["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "1", "memory": "1Gi"}}
    assert qos_class(guaranteed) == "Guaranteed"
    explicit = pod("e", cpu=None, memory=None)
    explicit["spec"]["containers"][0]["resources"] = {
        "requests": {"cpu": "1", "memory": "1Gi"},
        "limits": {"cpu": "1", "memory": "1Gi"},
    }
    assert qos_class(explicit) == "Guaranteed"
    partial = pod("b", cpu=None, memory=None)
    partial["spec"]["containers"][0]["resources"] = {
        "requests": {"cpu": "500m", "memory": "1Gi"},
        "limits": {"cpu": "1", "memory": "1Gi"},
    }
    assert qos_class(partial) == "Burstable"
    assert qos_class(pod("r", memory=None)) == "Burstable"
    assert qos_class(pod("n", cpu=None, memory=None)) == "BestEffort"


def test_pod_is_terminated() -> None:
    finished = pod("f")
    finished["status"]["phase"] = "Failed"
    assert pod_is_terminated(finished)
    assert not pod_is_terminated(pod("p"))

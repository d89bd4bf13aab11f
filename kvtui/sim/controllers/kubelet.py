"""The kubelets of all simulated nodes: start and stop bound pods, post node status, renew leases.

Pods get one status write when they start (no ContainerCreating step: at 10,000 pods every write
counts). Node status and Leases live in `nodestatus.py`; this controller owns their timers.
"""

from __future__ import annotations

import hashlib
import ipaddress
from typing import Any

from kvtui.sim.controllers.nodestatus import (
    EPSILON,
    NodeStatusReporter,
    node_ready,
    wants_not_ready,
)
from kvtui.sim.controllers.podutil import (
    get_condition,
    pod_is_terminated,
    qos_class,
    rfc3339,
    set_condition,
    update,
)
from kvtui.sim.kubevirt import is_virt_launcher
from kvtui.sim.store import Obj
from kvtui.sim.world import Controller, World

PODS, NODES = "/pods", "/nodes"
POD_START_SECONDS = 2.0
LAUNCHER_START_SECONDS = 3.0
MAX_STOP_SECONDS = 2.0
DEFAULT_GRACE_SECONDS = 30
PODGC_QUARANTINE_SECONDS = 40.0
SETTING_START_DELAY = "kubelet_start_delay"  # world.settings override for every pod's startup

PodKey = tuple[str, str]


class PodNetwork:
    """Pod IPs of one node, handed out from its pod CIDR and given back when pods go."""

    def __init__(self, cidr: str) -> None:
        self.network = ipaddress.ip_network(cidr, strict=False)
        self.next = 2  # .0 is the network, .1 the node's bridge
        self.free: list[int] = []

    def allocate(self) -> str:
        if self.free:
            offset = self.free.pop()
        elif self.next < self.network.num_addresses - 1:
            offset, self.next = self.next, self.next + 1
        else:
            return ""
        return str(self.network[offset])

    def release(self, ip: str) -> None:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return
        if address in self.network:
            self.free.append(int(address) - int(self.network.network_address))


class Kubelet(Controller):
    """Every node's kubelet, plus the node lifecycle and pod GC bits that keep them honest."""

    name = "kubelet"
    watches = (PODS, NODES)

    def __init__(self, world: World) -> None:
        super().__init__(world)
        self._node_index: dict[str, int] = {}
        self._networks: dict[str, PodNetwork] = {}
        self._pod_ips: dict[PodKey, tuple[str, str]] = {}  # pod -> node, ip
        self._pods_on: dict[str, set[PodKey]] = {}
        self._start_at: dict[PodKey, float] = {}
        self._stop_at: dict[PodKey, float] = {}
        self.node_status = NodeStatusReporter(self)

    def start(self) -> None:
        for node in self.store.list(NODES):
            self.enqueue(("node", node["metadata"]["name"]))
        for pod in self.store.list(PODS):
            self.on_event("ADDED", PODS, pod, None)

    # -- events --------------------------------------------------------------------------
    def on_event(self, etype: str, key: str, obj: Obj, old: Obj | None) -> None:
        meta = obj["metadata"]
        if key == NODES:
            name = meta["name"]
            if etype == "DELETED":
                self.enqueue(("gone", name))
            elif old is None or wants_not_ready(obj) != wants_not_ready(old):
                self.enqueue(("node", name))
            return
        pod_key = (meta.get("namespace", ""), meta["name"])
        node = "" if etype == "DELETED" else (obj.get("spec") or {}).get("nodeName") or ""
        previous = ((old or {}).get("spec") or {}).get("nodeName") or ""
        if previous and previous != node:
            self._pods_on.get(previous, set()).discard(pod_key)
        if node:
            self._pods_on.setdefault(node, set()).add(pod_key)
        if etype == "DELETED":
            self._start_at.pop(pod_key, None)
            self._stop_at.pop(pod_key, None)
            self._release_ip(pod_key)
        else:
            if pod_is_terminated(obj):  # the sandbox is gone, and its IP with it
                self._release_ip(pod_key)
            self.enqueue(("pod", *pod_key))

    def _release_ip(self, pod_key: PodKey) -> None:
        held = self._pod_ips.pop(pod_key, None)
        if held is not None and held[0] in self._networks:
            self._networks[held[0]].release(held[1])

    # -- reconcile -----------------------------------------------------------------------
    def reconcile(self, item: Any) -> None:
        kind = item[0]
        if kind == "pod":
            self._sync_pod((item[1], item[2]))
        elif kind == "node":
            self._index_of(item[1])
            if self.node_status.sync_node(item[1]):  # readiness flipped: pods follow
                for pod_key in self._pods_on.get(item[1], ()):
                    self.enqueue(("pod", *pod_key))
        elif kind == "lease":
            self.node_status.sync_lease(item[1])
        elif kind == "gone":
            self._node_gone(item[1])
        elif kind == "podgc":
            self._collect_orphans(item[1])

    def _sync_pod(self, key: PodKey) -> None:
        pod = self.store.get(PODS, *key)
        if pod is None:
            return
        spec = pod.get("spec") or {}
        node = self.store.get(NODES, "", spec["nodeName"]) if spec.get("nodeName") else None
        if pod["metadata"].get("deletionTimestamp"):
            self._stop(key, pod, node)
            return
        if node is None or pod_is_terminated(pod):
            return  # unbound, bound to a node that does not exist (yet), or finished
        ready = node_ready(node)
        if (pod.get("status") or {}).get("phase") == "Running":
            self._sync_readiness(key, pod, ready)
            return
        if not ready:
            return  # the kubelet is down: nothing starts until it is back
        now = self.world.now()
        due = self._start_at.get(key)
        if due is None:
            delay = self.world.settings.get(SETTING_START_DELAY)
            if delay is None:
                delay = LAUNCHER_START_SECONDS if is_virt_launcher(pod) else POD_START_SECONDS
            due = self._start_at[key] = now + delay
            if delay > 0:  # no ContainerCreating write: one status write per start is enough
                self.after(delay, ("pod", *key))
                return
        if now + EPSILON < due:
            return
        self._start_at.pop(key, None)
        self._write_running(key, pod, node, now)

    def _stop(self, key: PodKey, pod: Obj, node: Obj | None) -> None:
        """Graceful deletion: stop the containers, then drop the pod from the API."""
        meta = pod["metadata"]
        ran = (pod.get("status") or {}).get("phase") == "Running"
        now = self.world.now()
        if ran and node is not None and node_ready(node) and not pod_is_terminated(pod):
            due = self._stop_at.get(key)
            if due is None:
                grace = meta.get("deletionGracePeriodSeconds")
                grace = DEFAULT_GRACE_SECONDS if grace is None else grace
                due = self._stop_at[key] = now + min(float(grace), MAX_STOP_SECONDS)
                if due > now:
                    self.after(due - now, ("pod", *key))
                    return
            if now + EPSILON < due:
                return
        if meta.get("finalizers"):
            return  # whoever owns the finalizer finishes the deletion
        self._stop_at.pop(key, None)
        if self.store.get(PODS, *key) is not None:
            self.store.remove(PODS, *key)

    def _write_running(self, key: PodKey, pod: Obj, node: Obj, now: float) -> None:
        stamp = rfc3339(now)
        spec = pod.get("spec") or {}
        host = self._host_fields(node)
        ip = host["hostIP"] if spec.get("hostNetwork") else self._pod_ip(key, node)
        rng = self.world.rng

        def container_status(c: Obj, init: bool) -> Obj:
            state = (
                {
                    "terminated": {
                        "exitCode": 0,
                        "reason": "Completed",
                        "startedAt": stamp,
                        "finishedAt": stamp,
                    }
                }
                if init
                else {"running": {"startedAt": stamp}}
            )
            return {
                "name": c.get("name", ""),
                "image": c.get("image", ""),
                "imageID": _image_id(c.get("image", "")),
                "containerID": f"containerd://{rng.getrandbits(256):064x}",
                "ready": not init,
                "restartCount": 0,
                "started": not init,
                "lastState": {},
                "state": state,
            }

        def running(p: Obj) -> None:
            status = p.setdefault("status", {})
            status["phase"] = "Running"
            status.update(host)
            status["podIP"] = ip
            status["podIPs"] = [{"ip": ip}] if ip else []
            status.setdefault("startTime", stamp)
            status["qosClass"] = qos_class(p)
            for kind in (
                "PodReadyToStartContainers",
                "Initialized",
                "ContainersReady",
                "PodScheduled",
            ):
                set_condition(p, {"type": kind, "status": "True"}, stamp)
            _ensure_gates(p, stamp)
            set_condition(
                p, {"type": "Ready", "status": "True" if _gates_pass(p) else "False"}, stamp
            )
            status["containerStatuses"] = [
                container_status(c, False) for c in spec.get("containers") or ()
            ]
            if spec.get("initContainers"):
                status["initContainerStatuses"] = [
                    container_status(c, True) for c in spec["initContainers"]
                ]

        update(self.store, PODS, pod, running)

    def _sync_readiness(self, key: PodKey, pod: Obj, node_is_ready: bool) -> None:
        """Running pods are Ready while their node is (the node lifecycle controller's rule)."""
        want = node_is_ready and _gates_pass(pod)
        condition = get_condition(pod, "Ready")
        if (
            condition is not None
            and (condition.get("status") == "True") == want
            and (node_is_ready or not _gates_missing(pod))
        ):
            return
        stamp = rfc3339(self.world.now())

        def readiness(p: Obj) -> None:
            _ensure_gates(p, stamp)
            ok = node_is_ready and _gates_pass(p)
            set_condition(p, {"type": "Ready", "status": "True" if ok else "False"}, stamp)

        update(self.store, PODS, pod, readiness)

    # -- pod networking ------------------------------------------------------------------
    def _index_of(self, node_name: str) -> int:
        return self._node_index.setdefault(node_name, len(self._node_index))

    def _host_fields(self, node: Obj) -> dict[str, Any]:
        addresses = (node.get("status") or {}).get("addresses") or ()
        ip = next((a.get("address") for a in addresses if a.get("type") == "InternalIP"), None)
        if not ip:
            index = self._index_of(node["metadata"]["name"])
            ip = f"192.168.{index // 250}.{index % 250 + 2}"
        return {"hostIP": ip, "hostIPs": [{"ip": ip}]}

    def _pod_ip(self, key: PodKey, node: Obj) -> str:
        name = node["metadata"]["name"]
        held = self._pod_ips.get(key)
        if held is not None and held[0] == name:
            return held[1]
        network = self._networks.get(name)
        if network is None:
            index = self._index_of(name)
            cidr = (node.get("spec") or {}).get("podCIDR") or (
                f"10.{244 + index // 256}.{index % 256}.0/24"
            )
            network = self._networks[name] = PodNetwork(cidr)
        ip = network.allocate()
        self._pod_ips[key] = (name, ip)
        return ip

    def _node_gone(self, name: str) -> None:
        """Pod GC frees the node's pods after a while (the garbage collector takes the Lease)."""
        self.node_status.forget(name)
        self._networks.pop(name, None)
        if self._pods_on.get(name):
            self.after(PODGC_QUARANTINE_SECONDS, ("podgc", name))

    def _collect_orphans(self, name: str) -> None:
        """PodGC: pods bound to a node that no longer exists fail and are force-deleted."""
        if self.store.get(NODES, "", name) is not None:
            return
        stamp = rfc3339(self.world.now())
        for ns, pod_name in list(self._pods_on.pop(name, ())):
            pod = self.store.get(PODS, ns, pod_name)
            if pod is None:
                continue

            def fail(p: Obj) -> None:
                if not pod_is_terminated(p):
                    p.setdefault("status", {})["phase"] = "Failed"
                set_condition(
                    p,
                    {
                        "type": "DisruptionTarget",
                        "status": "True",
                        "reason": "DeletionByPodGC",
                        "message": "PodGC: node no longer exists",
                    },
                    stamp,
                )

            update(self.store, PODS, pod, fail)
            if not pod["metadata"].get("finalizers"):
                self.store.remove(PODS, ns, pod_name)


def _image_id(image: str) -> str:
    if "@" in image:
        return image
    repository = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    return f"{repository}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"


def _gates(pod: Obj) -> list[str]:
    return [g.get("conditionType", "") for g in (pod.get("spec") or {}).get("readinessGates") or ()]


def _gates_missing(pod: Obj) -> bool:
    return any(get_condition(pod, gate) is None for gate in _gates(pod))


def _gates_pass(pod: Obj) -> bool:
    """Readiness gates nobody has reported on count as passed (virt-handler would say so)."""
    for gate in _gates(pod):
        condition = get_condition(pod, gate)
        if condition is not None and condition.get("status") != "True":
            return False
    return True


def _ensure_gates(pod: Obj, stamp: str) -> None:
    for gate in _gates(pod):
        if get_condition(pod, gate) is None:
            set_condition(pod, {"type": gate, "status": "True"}, stamp)

"""What each kubelet reports about its node: status conditions every 40 s, its Lease every 10 s.

Both are staggered per node and skipped when nothing is due, so 200 idle nodes cost a trickle of
watch events, not a storm. The Kubelet controller owns the timers and calls in here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from kvtui.sim.controllers.podutil import get_condition, update
from kvtui.sim.model import SIM_PREFIX
from kvtui.sim.store import Obj, now_rfc3339

if TYPE_CHECKING:
    from kvtui.sim.world import Controller

NODES, LEASES = "/nodes", "coordination.k8s.io/leases"
LEASE_NAMESPACE = "kube-node-lease"
LEASE_DURATION_SECONDS = 40
LEASE_RENEW_SECONDS = 10.0
NODE_STATUS_SECONDS = 40.0
ANN_NOT_READY = SIM_PREFIX + "not-ready"  # "true": the node's kubelet reports NotReady
EPSILON = 1e-6

_HEALTHY = (
    ("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
)
_READY = ("KubeletReady", "kubelet is posting ready status")
_NOT_READY = ("KubeletNotReady", "container runtime is down: sim.kvtui.dev/not-ready is set")


def node_ready(node: Obj) -> bool:
    """Whether the node's Ready condition is True."""
    condition = get_condition(node, "Ready")
    return condition is not None and condition.get("status") == "True"


def wants_not_ready(node: Obj | None) -> bool:
    if node is None:
        return False
    return (node["metadata"].get("annotations") or {}).get(ANN_NOT_READY) == "true"


def micro_time(ts: float) -> str:
    """A metav1.MicroTime, as Lease renewTime carries it."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class NodeStatusReporter:
    """Node conditions and Lease renewals of every kubelet, on the owning controller's timers.

    The controller reconciles `("node", name)` and `("lease", name)` items by calling
    `sync_node` and `sync_lease`.
    """

    def __init__(self, controller: Controller) -> None:
        self.controller = controller
        self.world = controller.world
        self.store = controller.store
        self._status_due: dict[str, float] = {}
        self._lease_due: dict[str, float] = {}
        self._reported_ready: dict[str, bool] = {}

    def forget(self, name: str) -> None:
        """The node is gone (the garbage collector removes its Lease by ownerReference)."""
        self._status_due.pop(name, None)
        self._lease_due.pop(name, None)
        self._reported_ready.pop(name, None)

    def sync_node(self, name: str) -> bool:
        """Post node status if it is due or wrong; True when readiness flipped."""
        node = self.store.get(NODES, "", name)
        if node is None:
            return False
        now = self.world.now()
        ready = not wants_not_ready(node)
        stale = self._conditions_differ(node, ready)
        due = self._status_due.get(name)
        first = due is None
        if stale or (not first and now + EPSILON >= due):
            self._post_status(node, ready, now)
        elif not first:
            return self._flipped(name, ready)  # an early timer; the one for `due` is pending
        # The first period is random, so nodes loaded together do not beat together.
        period = self.world.rng.uniform(0, NODE_STATUS_SECONDS) if first else NODE_STATUS_SECONDS
        self._status_due[name] = now + period
        self.controller.after(period, ("node", name))
        if name not in self._lease_due:
            self.controller.enqueue(("lease", name))
        return self._flipped(name, ready)

    def _flipped(self, name: str, ready: bool) -> bool:
        flipped = self._reported_ready.get(name, ready) != ready
        self._reported_ready[name] = ready
        return flipped

    @staticmethod
    def _conditions_differ(node: Obj, ready: bool) -> bool:
        wanted = {kind: "False" for kind, _, _ in _HEALTHY}
        wanted["NetworkUnavailable"] = "False"
        wanted["Ready"] = "True" if ready else "False"
        have = {
            c.get("type"): c.get("status")
            for c in (node.get("status") or {}).get("conditions") or ()
        }
        return any(have.get(kind) != status for kind, status in wanted.items())

    def _post_status(self, node: Obj, ready: bool, now: float) -> None:
        stamp = now_rfc3339(now)
        wanted = [(kind, "False", reason, message) for kind, reason, message in _HEALTHY]
        wanted.append(("Ready", "True" if ready else "False", *(_READY if ready else _NOT_READY)))

        def post(obj: Obj) -> None:
            conditions = obj.setdefault("status", {}).setdefault("conditions", [])
            if not any(c.get("type") == "NetworkUnavailable" for c in conditions):
                conditions.insert(
                    0,
                    {
                        "type": "NetworkUnavailable",
                        "status": "False",
                        "reason": "RouteCreated",
                        "message": "RouteController created a route",
                        "lastHeartbeatTime": stamp,
                        "lastTransitionTime": stamp,
                    },
                )
            for kind, status, reason, message in wanted:
                fresh = {
                    "type": kind,
                    "status": status,
                    "lastHeartbeatTime": stamp,
                    "lastTransitionTime": stamp,
                    "reason": reason,
                    "message": message,
                }
                i = next((i for i, c in enumerate(conditions) if c.get("type") == kind), None)
                if i is None:
                    conditions.append(fresh)
                    continue
                if conditions[i].get("status") == status:
                    fresh["lastTransitionTime"] = conditions[i].get("lastTransitionTime", stamp)
                conditions[i] = fresh

        update(self.store, NODES, node, post)

    def sync_lease(self, name: str) -> None:
        node = self.store.get(NODES, "", name)
        if node is None:
            self._lease_due.pop(name, None)
            return
        now = self.world.now()
        lease = self.store.get(LEASES, LEASE_NAMESPACE, name)
        due = self._lease_due.get(name)
        if lease is not None and due is None:
            due = now + self.world.rng.uniform(0, LEASE_RENEW_SECONDS)  # stagger renewals
        elif lease is None or now + EPSILON >= due:
            self._renew(node, lease, now)
            due = now + LEASE_RENEW_SECONDS
        else:
            return  # an early timer; the one for `due` is pending
        self._lease_due[name] = due
        self.controller.after(due - now, ("lease", name))

    def _renew(self, node: Obj, lease: Obj | None, now: float) -> None:
        meta = node["metadata"]
        spec = {
            "holderIdentity": meta["name"],
            "leaseDurationSeconds": LEASE_DURATION_SECONDS,
            "renewTime": micro_time(now),
        }
        if lease is None:
            self.store.create(
                LEASES,
                {
                    "apiVersion": "coordination.k8s.io/v1",
                    "kind": "Lease",
                    "metadata": {
                        "name": meta["name"],
                        "namespace": LEASE_NAMESPACE,
                        "ownerReferences": [
                            {
                                "apiVersion": "v1",
                                "kind": "Node",
                                "name": meta["name"],
                                "uid": meta.get("uid"),
                            }
                        ],
                    },
                    "spec": spec,
                },
            )
        else:
            update(self.store, LEASES, lease, lambda obj: obj.setdefault("spec", {}).update(spec))

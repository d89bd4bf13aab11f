"""The DaemonSet controller, and the node labels virt-handler keeps while its pod runs.

DaemonSet pods are bound by the controller itself (`spec.nodeName` plus the `matchFields`
node affinity real clusters show), and tolerate cordons, which is why `kubectl drain` has to
skip them with `--ignore-daemonsets`.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import orjson

from kvtui.sim.controllers.nodefit import daemon_tolerations, node_placement
from kvtui.sim.controllers.podutil import get_condition, update
from kvtui.sim.model import KVM_RESOURCE, LABEL_SCHEDULABLE
from kvtui.sim.store import Obj, StoreError, now_rfc3339
from kvtui.sim.world import Controller, World

DAEMONSETS, PODS, NODES = "apps/daemonsets", "/pods", "/nodes"
VIRT_HANDLER = ("kubevirt", "virt-handler")
ANN_HEARTBEAT = "kubevirt.io/heartbeat"
HANDLER_LABELS = {
    LABEL_SCHEDULABLE: "true",
    "kubevirt.io/cpumanager": "false",
    "cpumanager": "false",
}
HEARTBEAT_SECONDS = 60.0
HEARTBEAT_JITTER = 1.2  # virt-handler waits 60 s times a random factor up to this
STARTUP_GRACE_SECONDS = 30.0  # a node that never had a handler is marked after this long
ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # k8s rand.SafeEncodeString

DsKey = tuple[str, str]


def revision_hash(template: Obj) -> str:
    """The `controller-revision-hash` of a pod template (stable, in k8s' safe alphabet)."""
    digest = hashlib.sha256(orjson.dumps(template, option=orjson.OPT_SORT_KEYS)).digest()
    return "".join(ALPHABET[ord(c) % len(ALPHABET)] for c in str(int.from_bytes(digest[:4], "big")))


def daemon_owner(pod: Obj) -> str | None:
    for ref in pod["metadata"].get("ownerReferences") or ():
        if ref.get("kind") == "DaemonSet" and ref.get("controller"):
            return ref.get("name")
    return None


class DaemonSetController(Controller):
    """One pod per eligible node for every DaemonSet; virt-handler's node labels on the side."""

    name = "daemonset-controller"
    watches = (DAEMONSETS, NODES, PODS)

    def __init__(self, world: World) -> None:
        super().__init__(world)
        self._pods: dict[DsKey, dict[str, str]] = {}  # DaemonSet -> pod name -> node
        self._handlers: dict[str, dict[str, tuple[bool, bool]]] = {}  # node -> pod -> run, ready
        self._handler_ran: set[str] = set()  # nodes where a virt-handler pod has run
        self._missing_since: dict[str, float] = {}
        self._beat_due: dict[str, float] = {}

    def start(self) -> None:
        for pod in self.store.list(PODS):
            self.on_event("ADDED", PODS, pod, None)
        for node in self.store.list(NODES):
            self.on_event("ADDED", NODES, node, None)
        for ds in self.store.list(DAEMONSETS):
            self.on_event("ADDED", DAEMONSETS, ds, None)

    # -- events --------------------------------------------------------------------------
    def on_event(self, etype: str, key: str, obj: Obj, old: Obj | None) -> None:
        meta = obj["metadata"]
        if key == DAEMONSETS:
            self.enqueue(("ds", meta.get("namespace", ""), meta["name"]))
        elif key == NODES:
            if (
                old is None
                or etype == "DELETED"
                or _placement_fields(obj) != _placement_fields(old)
            ):
                self._enqueue_all()  # which nodes should run daemon pods may have changed
            self.enqueue(("handler", meta["name"]))
        else:
            self._on_pod(etype, obj, old)

    def _on_pod(self, etype: str, pod: Obj, old: Obj | None) -> None:
        owner = daemon_owner(pod)
        if owner is None:
            return
        meta = pod["metadata"]
        ds_key = (meta.get("namespace", ""), owner)
        node = (pod.get("spec") or {}).get("nodeName") or ""
        pods = self._pods.setdefault(ds_key, {})
        if etype == "DELETED":
            pods.pop(meta["name"], None)
        else:
            pods[meta["name"]] = node
        if etype != "MODIFIED" or _pod_state(pod) != _pod_state(old):
            self.enqueue(("ds", *ds_key))
        if ds_key == VIRT_HANDLER and node:
            handlers = self._handlers.setdefault(node, {})
            if etype == "DELETED":
                handlers.pop(meta["name"], None)
            else:
                running, ready, _ = _pod_state(pod)
                handlers[meta["name"]] = (running, ready)
            self.enqueue(("handler", node))

    def _enqueue_all(self) -> None:
        for ds_key in self._pods:
            self.enqueue(("ds", *ds_key))
        for ds in self.store.list(DAEMONSETS):
            self.enqueue(("ds", ds["metadata"].get("namespace", ""), ds["metadata"]["name"]))

    # -- reconcile -----------------------------------------------------------------------
    def reconcile(self, item: Any) -> None:
        if item[0] == "ds":
            self._sync_daemonset((item[1], item[2]))
        elif item[0] == "handler":
            self._sync_handler_node(item[1])

    def _sync_daemonset(self, ds_key: DsKey) -> None:
        ns, name = ds_key
        ds = self.store.get(DAEMONSETS, ns, name)
        owned = {n: self.store.get(PODS, ns, n) for n in self._pods.get(ds_key, {})}
        owned = {n: p for n, p in owned.items() if p is not None}
        if ds is None:  # the garbage collector removes the pods of a deleted DaemonSet
            if not owned:
                self._pods.pop(ds_key, None)
            return
        template = (ds.get("spec") or {}).get("template") or {}
        pod_spec = template.get("spec") or {}
        revision = revision_hash(template)
        by_node: dict[str, list[Obj]] = {}
        for pod in owned.values():
            if pod["metadata"].get("deletionTimestamp"):
                continue
            if (pod.get("status") or {}).get("phase") == "Failed":
                self._delete_pod(pod, grace=0)  # the controller replaces failed daemon pods
                continue
            by_node.setdefault((pod.get("spec") or {}).get("nodeName") or "", []).append(pod)
        counts = dict.fromkeys(("desired", "current", "ready", "updated", "misscheduled"), 0)
        outdated: list[Obj] = []
        for node in sorted(self.store.list(NODES), key=lambda n: n["metadata"]["name"]):
            node_name = node["metadata"]["name"]
            pods = sorted(
                by_node.pop(node_name, []), key=lambda p: p["metadata"].get("creationTimestamp", "")
            )
            should_run, keep = node_placement(pod_spec, node)
            if should_run:
                counts["desired"] += 1
            if pods and not keep:
                counts["misscheduled"] += 1
                for pod in pods:
                    self._delete_pod(pod)
                continue
            if not pods:
                if should_run:
                    self._create_pod(ds, template, revision, node_name)
                continue
            for extra in pods[1:]:
                self._delete_pod(extra)
            pod = pods[0]
            if not should_run:
                continue  # may stay (a NoSchedule taint it does not tolerate came later)
            counts["current"] += 1
            if _is_ready(pod):
                counts["ready"] += 1
            if (pod["metadata"].get("labels") or {}).get("controller-revision-hash") == revision:
                counts["updated"] += 1
            else:
                outdated.append(pod)
        for pods in by_node.values():  # bound to nodes that are gone
            for pod in pods:
                self._delete_pod(pod, grace=0)
        self._roll(ds, outdated, counts)
        self._write_status(ds, counts)

    def _roll(self, ds: Obj, outdated: list[Obj], counts: dict[str, int]) -> None:
        """RollingUpdate: replace outdated pods, at most maxUnavailable of them at a time."""
        strategy = (ds.get("spec") or {}).get("updateStrategy") or {}
        if not outdated or strategy.get("type", "RollingUpdate") != "RollingUpdate":
            return
        raw = (strategy.get("rollingUpdate") or {}).get("maxUnavailable", 1)
        if isinstance(raw, str) and raw.endswith("%"):
            limit = math.ceil(counts["desired"] * int(raw[:-1]) / 100)
        else:
            limit = int(raw)
        budget = max(limit, 1) - (counts["desired"] - counts["ready"])
        for pod in sorted(outdated, key=_is_ready):
            if not _is_ready(pod):
                self._delete_pod(pod)  # unavailable anyway
            elif budget > 0:
                budget -= 1
                self._delete_pod(pod)

    def _create_pod(self, ds: Obj, template: Obj, revision: str, node_name: str) -> None:
        meta = ds["metadata"]
        tmeta = template.get("metadata") or {}
        spec = dict(template.get("spec") or {})
        affinity = dict(spec.get("affinity") or {})
        node_affinity = dict(affinity.get("nodeAffinity") or {})
        node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {
            "nodeSelectorTerms": [
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node_name]}]}
            ]
        }
        affinity["nodeAffinity"] = node_affinity
        spec.update(affinity=affinity, tolerations=daemon_tolerations(spec), nodeName=node_name)
        spec.setdefault("schedulerName", "default-scheduler")
        labels = {
            **(tmeta.get("labels") or {}),
            "controller-revision-hash": revision,
            "pod-template-generation": str(meta.get("generation", 1)),
        }
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "namespace": meta.get("namespace"),
                "labels": labels,
                "annotations": dict(tmeta.get("annotations") or {}),
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "DaemonSet",
                        "name": meta["name"],
                        "uid": meta.get("uid"),
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": spec,
            "status": {"phase": "Pending"},
        }
        for _ in range(10):
            suffix = "".join(self.world.rng.choice(ALPHABET) for _ in range(5))
            pod["metadata"]["name"] = f"{meta['name']}-{suffix}"
            try:
                self.store.create(PODS, pod)
            except StoreError as err:
                if err.code != 409:
                    raise
                continue
            self.world.record_event(
                ds,
                "SuccessfulCreate",
                f"Created pod: {pod['metadata']['name']}",
                component="daemonset-controller",
            )
            return

    def _delete_pod(self, pod: Obj, grace: int | None = None) -> None:
        meta = pod["metadata"]
        if grace is None:
            grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
        try:
            self.store.delete(PODS, meta.get("namespace"), meta["name"], grace_seconds=grace)
        except StoreError:
            return

    def _write_status(self, ds: Obj, counts: dict[str, int]) -> None:
        status = {
            "currentNumberScheduled": counts["current"],
            "numberMisscheduled": counts["misscheduled"],
            "desiredNumberScheduled": counts["desired"],
            "numberReady": counts["ready"],
            "observedGeneration": ds["metadata"].get("generation", 1),
            "updatedNumberScheduled": counts["updated"],
            "numberAvailable": counts["ready"],
        }
        if counts["desired"] > counts["ready"]:
            status["numberUnavailable"] = counts["desired"] - counts["ready"]

        def write(obj: Obj) -> bool:
            current = obj.get("status") or {}
            merged = {k: v for k, v in current.items() if k not in (*status, "numberUnavailable")}
            merged.update(status)
            if merged == current:
                return False
            obj["status"] = merged
            return True

        update(self.store, DAEMONSETS, ds, write)

    # -- virt-handler --------------------------------------------------------------------
    def _sync_handler_node(self, node_name: str) -> None:
        """Labels and heartbeat virt-handler keeps on its node while it runs there."""
        node = self.store.get(NODES, "", node_name)
        if node is None:
            for state in (self._handlers, self._missing_since, self._beat_due):
                state.pop(node_name, None)
            self._handler_ran.discard(node_name)
            return
        if not _has_kvm(node) or (
            self.store.get(DAEMONSETS, *VIRT_HANDLER) is None
            and not self._handlers.get(node_name)
            and node_name not in self._handler_ran
        ):
            return  # KubeVirt is not installed, or this node cannot run VMs anyway
        now = self.world.now()
        labels = node["metadata"].get("labels") or {}
        states = self._handlers.get(node_name, {}).values()
        running = any(run for run, _ in states)
        ready = any(run and ok for run, ok in states)
        if not running:
            self._beat_due.pop(node_name, None)
            lost = node_name in self._handler_ran
            if labels.get(LABEL_SCHEDULABLE) == "false" or not (
                lost or labels.get(LABEL_SCHEDULABLE) == "true"
            ):
                return  # nothing claims this node can run VMs
            grace = 0.0 if lost else STARTUP_GRACE_SECONDS
            since = self._missing_since.get(node_name)
            if since is None:
                since = self._missing_since[node_name] = now
                if grace:
                    self.after(grace, ("handler", node_name))
            if now + 1e-6 >= since + grace:
                self._label(node, {LABEL_SCHEDULABLE: "false"}, None)
            return
        self._missing_since.pop(node_name, None)
        self._handler_ran.add(node_name)
        stale = any(labels.get(k) != v for k, v in HANDLER_LABELS.items())
        has_beat = ANN_HEARTBEAT in (node["metadata"].get("annotations") or {})
        due = self._beat_due.get(node_name)
        beat = ready and (not has_beat or (due is not None and now + 1e-6 >= due))
        if due is None and has_beat:
            due = now + self.world.rng.uniform(0, HEARTBEAT_SECONDS)  # stagger the first
        elif beat or due is None or stale:
            due = now + HEARTBEAT_SECONDS * self.world.rng.uniform(1.0, HEARTBEAT_JITTER)
        if stale or beat:
            self._label(node, HANDLER_LABELS, now_rfc3339(now) if beat else None)
        if due != self._beat_due.get(node_name):
            self._beat_due[node_name] = due
            self.after(due - now, ("handler", node_name))

    def _label(self, node: Obj, labels: dict[str, str], heartbeat: str | None) -> None:
        def write(obj: Obj) -> None:
            obj["metadata"].setdefault("labels", {}).update(labels)
            if heartbeat is not None:
                obj["metadata"].setdefault("annotations", {})[ANN_HEARTBEAT] = heartbeat

        update(self.store, NODES, node, write)


def _has_kvm(node: Obj) -> bool:
    status = node.get("status") or {}
    return KVM_RESOURCE in (status.get("allocatable") or status.get("capacity") or {})


def _placement_fields(node: Obj) -> tuple[Any, Any]:
    return node["metadata"].get("labels"), (node.get("spec") or {}).get("taints")


def _pod_state(pod: Obj | None) -> tuple[bool, bool, bool]:
    """(running, ready, terminating): the parts of a daemon pod its DaemonSet counts."""
    if pod is None:
        return False, False, False
    deleting = bool(pod["metadata"].get("deletionTimestamp"))
    running = (pod.get("status") or {}).get("phase") == "Running" and not deleting
    return running, running and _is_ready(pod), deleting


def _is_ready(pod: Obj) -> bool:
    condition = get_condition(pod, "Ready")
    return condition is not None and condition.get("status") == "True"

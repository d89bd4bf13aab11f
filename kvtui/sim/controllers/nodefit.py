"""Whether a pod fits a node, the kube-scheduler way: filters, reasons and the failure message.

The scheduler controller keeps the state (per-node requests, pod counts); this module holds the
rules, so the DaemonSet controller and tests can use the same taint and affinity logic.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from kvtui.sim.controllers.podutil import Resources, resource_list
from kvtui.sim.selectors import node_selector_term_matches
from kvtui.sim.store import Obj

TAINT_UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
TAINT_NOT_READY = "node.kubernetes.io/not-ready"
TAINT_UNREACHABLE = "node.kubernetes.io/unreachable"
HARD_EFFECTS = ("NoSchedule", "NoExecute")
CORDON_TAINT = {"key": TAINT_UNSCHEDULABLE, "effect": "NoSchedule"}

REASON_UNSCHEDULABLE = "node(s) were unschedulable"
REASON_AFFINITY = "node(s) didn't match Pod's node affinity/selector"
REASON_SPREAD = "node(s) didn't match pod topology spread constraints"
REASON_SPREAD_LABEL = REASON_SPREAD + " (missing required label)"
REASON_TOO_MANY_PODS = "Too many pods"
NOT_HELPFUL = "Preemption is not helpful for scheduling"
NO_VICTIMS = "No preemption victims found for incoming pod"
NO_NODES = "no nodes available to schedule pods"

DAEMON_TOLERATIONS = (
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
)
HOST_NETWORK_TOLERATION = {
    "key": "node.kubernetes.io/network-unavailable",
    "operator": "Exists",
    "effect": "NoSchedule",
}

OPTIONAL_RESOURCES = frozenset({"ephemeral-storage"})  # only checked where the node reports it


class NodeInfo:
    """What the scheduler needs of one node, rebuilt only when one of those fields changes."""

    __slots__ = (
        "allocatable",
        "fields",
        "labels",
        "name",
        "requested",
        "sched_key",
        "taints",
        "unschedulable",
    )

    def __init__(self, node: Obj, requested: Resources) -> None:
        meta, spec, status = node["metadata"], node.get("spec") or {}, node.get("status") or {}
        self.name: str = meta["name"]
        self.labels: dict[str, str] = meta.get("labels") or {}
        self.fields = {"metadata.name": self.name}
        self.unschedulable = bool(spec.get("unschedulable"))
        taints = [t for t in spec.get("taints") or () if t.get("effect") in HARD_EFFECTS]
        ready = next(
            (c.get("status") for c in status.get("conditions") or () if c.get("type") == "Ready"),
            "Unknown",
        )
        if ready != "True":  # what the node lifecycle controller would taint it with
            key = TAINT_NOT_READY if ready == "False" else TAINT_UNREACHABLE
            if not any(t.get("key") == key for t in taints):
                taints.append({"key": key, "effect": "NoSchedule"})
        self.taints = taints
        raw = status.get("allocatable") or status.get("capacity") or {}
        self.allocatable = resource_list(raw)
        self.requested = requested  # the scheduler's running total, updated in place
        self.sched_key = (self.labels, taints, self.unschedulable, raw)

    def free_score(self) -> float:
        """Least-allocated score, 0..100: the mean free share of cpu and memory."""
        total = 0.0
        for resource in ("cpu", "memory"):
            capacity = self.allocatable.get(resource, 0)
            if capacity > 0:
                total += max(capacity - self.requested.get(resource, 0), 0) / capacity
        return 50.0 * total

    def shortages(self, need: list[tuple[str, int]]) -> list[str]:
        """Filter reasons for the resources the node cannot give (empty if the pod fits)."""
        requested, allocatable = self.requested, self.allocatable
        out = []
        for resource, amount in need:
            if requested.get(resource, 0) + amount > allocatable.get(resource, 0) and (
                resource not in OPTIONAL_RESOURCES or resource in allocatable
            ):
                out.append(
                    REASON_TOO_MANY_PODS if resource == "pods" else f"Insufficient {resource}"
                )
        return out


class StaticFit:
    """The node-only filters for one pod shape: which nodes pass, and why the others failed.

    `affinity_ok` are the nodes matching nodeSelector and required affinity whatever their
    taints: topology spread counts pods on those.
    """

    __slots__ = ("affinity_ok", "candidates", "eligible", "names", "preferred", "rejects")

    def __init__(self) -> None:
        self.candidates: set[str] = set()
        self.affinity_ok: list[NodeInfo] = []
        self.rejects: Counter[str] = Counter()
        self.eligible: dict[tuple[str, ...], list[NodeInfo]] = {}  # by topology keys
        self.names: dict[tuple[str, ...], set[str]] = {}
        self.preferred: dict[bytes, dict[str, int]] = {}  # preferred terms -> node -> weight

    def eligible_for(self, keys: tuple[str, ...]) -> list[NodeInfo]:
        nodes = self.eligible.get(keys)
        if nodes is None:
            nodes = self.eligible[keys] = [
                n for n in self.affinity_ok if all(k in n.labels for k in keys)
            ]
        return nodes

    def eligible_names(self, keys: tuple[str, ...]) -> set[str]:
        names = self.names.get(keys)
        if names is None:
            names = self.names[keys] = {n.name for n in self.eligible_for(keys)}
        return names


def static_fit(nodes: dict[str, NodeInfo], spec: Obj) -> StaticFit:
    """Run the filters that look at the node only: cordon, taints, selector and affinity."""
    fit = StaticFit()
    selector = spec.get("nodeSelector") or {}
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    )
    terms = (required or {}).get("nodeSelectorTerms") or () if required is not None else None
    tolerations = spec.get("tolerations") or []
    tolerates_cordon = any(tolerates(t, CORDON_TAINT) for t in tolerations)
    for name in sorted(nodes):
        info = nodes[name]
        matches = all(info.labels.get(k) == v for k, v in selector.items()) and (
            terms is None
            or any(node_selector_term_matches(t, info.labels, info.fields) for t in terms)
        )
        if matches:
            fit.affinity_ok.append(info)
        if info.unschedulable and not tolerates_cordon:
            fit.rejects[REASON_UNSCHEDULABLE] += 1
            continue
        taint = untolerated_taint(info.taints, tolerations)
        if taint is not None:
            key, value = taint.get("key"), taint.get("value", "")
            fit.rejects[f"node(s) had untolerated taint {{{key}: {value}}}"] += 1
            continue
        if not matches:
            fit.rejects[REASON_AFFINITY] += 1
            continue
        fit.candidates.add(name)
    return fit


def tolerates(toleration: Obj, taint: Obj) -> bool:
    """Whether one toleration tolerates one taint (an empty key with Exists tolerates all)."""
    effect = toleration.get("effect")
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key")
    if key and key != taint.get("key"):
        return False
    if toleration.get("operator") == "Exists":
        return True
    if not key:
        return False
    return (toleration.get("value") or "") == (taint.get("value") or "")


def untolerated_taint(taints: list[Obj], tolerations: list[Obj]) -> Obj | None:
    """The first NoSchedule/NoExecute taint none of the tolerations tolerates."""
    for taint in taints:
        if taint.get("effect") in HARD_EFFECTS and not any(
            tolerates(t, taint) for t in tolerations
        ):
            return taint
    return None


def spread_violation(info: NodeInfo, spread: list[tuple[str, dict[str, int], int]]) -> str:
    """Reason a node breaks a DoNotSchedule constraint: (topology key, per-domain pods, cap)."""
    for topology_key, domains, allowed in spread:
        value = info.labels.get(topology_key)
        if value is None:
            return REASON_SPREAD_LABEL
        if domains.get(value, 0) > allowed:
            return REASON_SPREAD
    return ""


def fit_error(total: int, reasons: Counter[str], resource_failures: int) -> str:
    """kube-scheduler's FitError text, with the preemption post-filter's verdict appended."""
    if not total:
        return NO_NODES
    parts = sorted(f"{count} {reason}" for reason, count in reasons.items())
    preemption = []
    if resource_failures:
        preemption.append(f"{resource_failures} {NO_VICTIMS}")
    if total - resource_failures:
        preemption.append(f"{total - resource_failures} {NOT_HELPFUL}")
    return (
        f"0/{total} nodes are available: {', '.join(parts)}. preemption: 0/{total} nodes "
        f"are available: {', '.join(sorted(preemption))}."
    )


def preferred_terms(spec: Obj) -> list[Any]:
    return (
        ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
            "preferredDuringSchedulingIgnoredDuringExecution"
        )
    ) or []


def daemon_tolerations(pod_spec: Obj) -> list[Obj]:
    """The template's tolerations plus those the DaemonSet controller adds to every pod."""
    tolerations = list(pod_spec.get("tolerations") or ())
    extra = [*DAEMON_TOLERATIONS]
    if pod_spec.get("hostNetwork"):
        extra.append(HOST_NETWORK_TOLERATION)
    tolerations += [t for t in extra if t not in tolerations]
    return tolerations


def node_placement(pod_spec: Obj, node: Obj) -> tuple[bool, bool]:
    """(should run, may keep running) of a daemon pod on a node, as the controller decides."""
    labels = node["metadata"].get("labels") or {}
    selector = pod_spec.get("nodeSelector") or {}
    if any(labels.get(k) != v for k, v in selector.items()):
        return False, False
    required = ((pod_spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    )
    if required is not None:
        fields = {"metadata.name": node["metadata"]["name"]}
        terms = required.get("nodeSelectorTerms") or ()
        if not any(node_selector_term_matches(t, labels, fields) for t in terms):
            return False, False
    tolerations = daemon_tolerations(pod_spec)
    taints = (node.get("spec") or {}).get("taints") or []
    if untolerated_taint(taints, tolerations) is None:
        return True, True
    no_execute = [t for t in taints if t.get("effect") == "NoExecute"]
    return False, untolerated_taint(no_execute, tolerations) is None

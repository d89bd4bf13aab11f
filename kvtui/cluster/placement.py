"""Where could a pod run? kube-scheduler's filters, as far as a drain plan needs them.

The drain plan asks, for each VM that must leave a node, which other nodes would take its
virt-launcher pod: cordon, readiness, taints, node selector, required node affinity, free
requests (CPU, memory, KVM devices, pod count) and hard topology spread. Each refusal carries a
reason in the scheduler's own words, so "blocked" always says why. Scoring follows the default
profile's two main terms (least allocated, preferred node affinity), enough to name a likely
target; the real scheduler decides.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kvtui.cluster.views import KVM_RESOURCE, Node, Pod, byte_count

HOSTNAME = "kubernetes.io/hostname"


def tolerates(tolerations: Iterable[Mapping[str, Any]], taint: Mapping[str, Any]) -> bool:
    """Does one of the tolerations tolerate this taint (the scheduler's matching rules)?"""
    for tol in tolerations:
        if tol.get("effect") and tol.get("effect") != taint.get("effect"):
            continue
        if tol.get("operator") == "Exists":
            if not tol.get("key") or tol.get("key") == taint.get("key"):
                return True
        elif tol.get("key") == taint.get("key") and (tol.get("value") or "") == (
            taint.get("value") or ""
        ):
            return True
    return False


def _expression_matches(labels: Mapping[str, str], expr: Mapping[str, Any]) -> bool:
    key, op, values = expr.get("key", ""), expr.get("operator", ""), expr.get("values") or []
    if op == "In":
        return labels.get(key) in values
    if op == "NotIn":
        return labels.get(key) not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    if op in ("Gt", "Lt") and key in labels and values:
        try:
            have, want = int(labels[key]), int(values[0])
        except ValueError:
            return False
        return have > want if op == "Gt" else have < want
    return False


def label_selector_matches(labels: Mapping[str, str], selector: Mapping[str, Any] | None) -> bool:
    """A metav1.LabelSelector (matchLabels AND matchExpressions); None matches nothing."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    return all(_expression_matches(labels, e) for e in selector.get("matchExpressions") or ())


def _term_matches(labels: Mapping[str, str], term: Mapping[str, Any]) -> bool:
    exprs = term.get("matchExpressions") or []
    if not exprs and not term.get("matchFields"):
        return False  # an empty term matches no node
    fields = {"metadata.name": labels.get(HOSTNAME, "")}
    return all(_expression_matches(labels, e) for e in exprs) and all(
        _expression_matches(fields, f) for f in term.get("matchFields") or ()
    )


def node_affinity(spec: Mapping[str, Any]) -> Mapping[str, Any]:
    return ((spec.get("affinity") or {}).get("nodeAffinity")) or {}


def required_affinity_matches(labels: Mapping[str, str], spec: Mapping[str, Any]) -> bool:
    """Required node affinity: any of the nodeSelectorTerms (no terms: any node)."""
    required = node_affinity(spec).get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    terms = required.get("nodeSelectorTerms") or []
    return not terms or any(_term_matches(labels, t) for t in terms)


def preferred_affinity_score(labels: Mapping[str, str], spec: Mapping[str, Any]) -> int:
    """The sum of the weights of the preferred terms this node matches."""
    preferred = node_affinity(spec).get("preferredDuringSchedulingIgnoredDuringExecution") or []
    return sum(
        int(p.get("weight") or 0)
        for p in preferred
        if _term_matches(labels, p.get("preference") or {})
    )


@dataclass
class NodeRoom:
    """What a node has left for new pods (allocatable minus the requests of its pods)."""

    node: Node
    cpu_m: int
    memory: int
    kvm: int
    pods: int

    @property
    def name(self) -> str:
        return self.node.name

    def take(self, pod: Pod) -> None:
        self.cpu_m -= pod.requests_cpu_m
        self.memory -= pod.requests_memory
        self.kvm -= pod.requests_count(KVM_RESOURCE)
        self.pods -= 1


def node_rooms(nodes: Iterable[Node], pods: Iterable[Pod]) -> dict[str, NodeRoom]:
    """Free room per node from every pod that still holds its requests there."""
    rooms = {
        n.name: NodeRoom(
            n,
            n.cpu_allocatable_m,
            n.memory_allocatable,
            n.kvm_allocatable,
            int(byte_count((n.status.get("allocatable") or {}).get("pods")) or 110),
        )
        for n in nodes
    }
    for pod in pods:
        room = rooms.get(pod.node)
        if room is not None and not pod.terminated:
            room.take(pod)
    return rooms


@dataclass
class Fit:
    """The answer for one pod: nodes that take it (best first), and why each other one won't."""

    nodes: list[str] = field(default_factory=list)
    refusals: dict[str, str] = field(default_factory=dict)

    @property
    def best(self) -> str | None:
        return self.nodes[0] if self.nodes else None

    def why_not(self) -> str:
        """One line: every node's refusal, grouped ("kv-node-2, kv-node-3: cordoned")."""
        by_reason: dict[str, list[str]] = {}
        for node, reason in sorted(self.refusals.items()):
            by_reason.setdefault(reason, []).append(node)
        return "; ".join(f"{', '.join(nodes)}: {reason}" for reason, nodes in by_reason.items())


def _fmt_bytes(value: int) -> str:
    return f"{value / 1024**3:.1f}Gi"


def _spread_refusal(
    pod: Pod, node: Node, nodes: Mapping[str, Node], pods: Iterable[Pod]
) -> str | None:
    """Hard topology spread (`DoNotSchedule`): would this node push a domain past maxSkew?"""
    constraints = [
        c
        for c in pod.spec.get("topologySpreadConstraints") or ()
        if c.get("whenUnsatisfiable", "DoNotSchedule") == "DoNotSchedule"
    ]
    for c in constraints:
        key = c.get("topologyKey", "")
        if key not in node.labels:
            return f"lacks the topology label {key}"
        counts: Counter[str] = Counter(
            {n.labels[key]: 0 for n in nodes.values() if key in n.labels}
        )
        for other in pods:
            where = nodes.get(other.node)
            if (
                where is not None
                and key in where.labels
                and other.key != pod.key
                and not other.terminated
                and label_selector_matches(other.labels, c.get("labelSelector"))
            ):
                counts[where.labels[key]] += 1
        domain = node.labels[key]
        skew = counts[domain] + 1 - min(counts.values(), default=0)
        if skew > int(c.get("maxSkew") or 1):
            return f"topology spread on {key} (skew {skew} > maxSkew {c.get('maxSkew', 1)})"
    return None


def refusal(
    pod: Pod,
    room: NodeRoom,
    nodes: Mapping[str, Node],
    pods: Iterable[Pod],
) -> str | None:
    """Why this node would not take the pod, or None when it would."""
    node = room.node
    spec = pod.spec
    if node.unschedulable:
        return "cordoned"
    if node.ready is not True:
        return "not Ready"
    tolerations = spec.get("tolerations") or []
    for taint in node.taints:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not tolerates(tolerations, taint):
            return f"taint {taint.get('key')}={taint.get('value', '')}:{taint.get('effect')}"
    labels = node.labels
    for key, value in (spec.get("nodeSelector") or {}).items():
        if labels.get(key) != value:
            return f"node selector {key}={value}"
    if not required_affinity_matches(labels, spec):
        return "required node affinity"
    kvm = pod.requests_count(KVM_RESOURCE)
    if kvm and room.kvm < kvm:
        return "no free KVM device" if node.kvm_allocatable else "no KVM"
    if pod.requests_cpu_m > room.cpu_m:
        return f"insufficient cpu ({pod.requests_cpu_m}m wanted, {max(room.cpu_m, 0)}m free)"
    if pod.requests_memory > room.memory:
        return (
            f"insufficient memory ({_fmt_bytes(pod.requests_memory)} wanted, "
            f"{_fmt_bytes(max(room.memory, 0))} free)"
        )
    if room.pods < 1:
        return "too many pods"
    return _spread_refusal(pod, node, nodes, pods)


def fit(
    pod: Pod,
    rooms: Mapping[str, NodeRoom],
    pods: Iterable[Pod],
    exclude: Iterable[str] = (),
) -> Fit:
    """Which nodes (other than `exclude`) would take the pod, best guess first."""
    nodes = {name: room.node for name, room in rooms.items()}
    pods = list(pods)
    skip = set(exclude)
    answer = Fit()
    fitting: list[NodeRoom] = []
    for name, room in sorted(rooms.items()):
        if name in skip:
            continue
        why = refusal(pod, room, nodes, pods)
        if why:
            answer.refusals[name] = why
        else:
            fitting.append(room)
    # kube-scheduler's default profile: least allocated (0..100) plus preferred node affinity
    # normalised over the candidates (0..100) at weight 2.
    preferred = {r.name: preferred_affinity_score(r.node.labels, pod.spec) for r in fitting}
    top = max(preferred.values(), default=0) or 1
    scored = sorted(
        (-(_least_allocated(pod, r) + 2 * 100.0 * preferred[r.name] / top), r.name) for r in fitting
    )
    answer.nodes = [name for _, name in scored]
    return answer


def _least_allocated(pod: Pod, room: NodeRoom) -> float:
    """The mean free share of CPU and memory once the pod is there, 0..100."""
    total = 0.0
    for free, want, allocatable in (
        (room.cpu_m, pod.requests_cpu_m, room.node.cpu_allocatable_m),
        (room.memory, pod.requests_memory, room.node.memory_allocatable),
    ):
        if allocatable > 0:
            total += max(free - want, 0) / allocatable
    return 50.0 * total


def least_allocated(pod: Pod, room: NodeRoom) -> float:
    """kube-scheduler's LeastAllocated score of the node once the pod is there, 0..100."""
    return _least_allocated(pod, room)


def spread_domains(
    constraint: Mapping[str, Any],
    namespace: str,
    spec: Mapping[str, Any],
    nodes: Iterable[Node],
    pods: Iterable[Pod],
    keys: Iterable[str] = (),
) -> dict[str, int]:
    """Pods matching a topology spread constraint per domain, as the scheduler counts them.

    kube-scheduler's defaults (nodeAffinityPolicy Honor, nodeTaintsPolicy Ignore): a node is a
    domain member when it matches the pod's nodeSelector and required node affinity and carries
    the constraint's key (and every key in `keys`), cordoned, tainted or not Ready alike. Only
    live pods of the pod's own namespace count.
    """
    topology_key = constraint.get("topologyKey", "")
    needed = {topology_key, *keys}
    selector = spec.get("nodeSelector") or {}
    domain_of: dict[str, str] = {}
    counts: dict[str, int] = {}
    for node in nodes:
        labels = node.labels
        if not needed <= labels.keys():
            continue
        if any(labels.get(k) != v for k, v in selector.items()):
            continue
        if not required_affinity_matches(labels, spec):
            continue
        domain_of[node.name] = labels[topology_key]
        counts.setdefault(labels[topology_key], 0)
    for pod in pods:
        domain = domain_of.get(pod.node)
        if (
            domain is not None
            and pod.namespace == namespace
            and not pod.terminated
            and not pod.deleting
            and label_selector_matches(pod.labels, constraint.get("labelSelector"))
        ):
            counts[domain] += 1
    return counts

"""Where would VMs land under a scheduling preset? A dry run of kube-scheduler, on paper.

Given the infra nodes, the pods that use them and a target (new replicas of a
MachineDeployment, or VMs that exist), the preview says which nodes qualify and why the others
do not (the drain planner's filters from `placement.py`), how the spread over each topology
domain looks before and after, and where each VM would go, one at a time as the scheduler
binds them: required affinity and DoNotSchedule spread filter; least-allocated, preferred
affinity (weight 2) and ScheduleAnyway spread (weight 2) score, as the default profile does.

Ties: the highest total wins, equal totals go to the node whose name sorts first (the real
scheduler picks at random among equals; the simulator, like this preview, by name).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kvtui.cluster.placement import (
    HOSTNAME,
    Fit,
    label_selector_matches,
    least_allocated,
    node_rooms,
    preferred_affinity_score,
    refusal,
    spread_domains,
)
from kvtui.cluster.presets import (
    HARD,
    SOFT,
    ZONE,
    Preset,
    SpreadConstraint,
    SpreadGroup,
    machine_deployment_group,
    vm_group,
    vm_scheduling,
)
from kvtui.cluster.views import KVM_RESOURCE, Node, Pod

WEIGHT_AFFINITY = WEIGHT_SPREAD = 2  # kube-scheduler's default plugin weights (fit counts 1)


# -- targets -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReplicaSize:
    """What one VM's virt-launcher pod requests (cpu in millicores, memory in bytes)."""

    cpu_m: int
    memory: int
    kvm: int = 1

    @classmethod
    def of_pod(cls, pod: Mapping[str, Any]) -> ReplicaSize:
        view = Pod(dict(pod))
        return cls(view.requests_cpu_m, view.requests_memory, view.requests_count(KVM_RESOURCE))


@dataclass(frozen=True)
class NewReplicas:
    """`count` new VMs of a MachineDeployment; its VMs that run already count toward the
    spread. `rollout` replaces them one by one instead (new first, then the oldest goes, by
    name), which is what a changed MachineDeployment template makes machine-controller do."""

    namespace: str
    machine_deployment: str
    count: int
    size: ReplicaSize
    rollout: bool = False


@dataclass(frozen=True)
class ExistingVms:
    """VMs that exist, each placed anew in turn (a restart or migration each), the others
    staying where they are meanwhile. `group` is whom the spread counts together; by default
    `presets.vm_group` of their pods' labels."""

    namespace: str
    names: tuple[str, ...]
    group: SpreadGroup | None = None


Target = NewReplicas | ExistingVms


def machine_deployment_pods(
    pods: Iterable[Mapping[str, Any]], namespace: str, machine_deployment: str
) -> list[dict[str, Any]]:
    """The live virt-launcher pods of one MachineDeployment's VMs (by machine-controller's
    `md` label), sorted by name; the first one's `ReplicaSize` is the MD's."""
    group = machine_deployment_group(namespace, machine_deployment)
    found = [
        dict(p)
        for p in pods
        if (view := Pod(dict(p))).virt_launcher
        and view.namespace == namespace
        and view.node
        and not view.terminated
        and label_selector_matches(view.labels, group.selector)
    ]
    return sorted(found, key=lambda p: Pod(p).name)


# -- answers -------------------------------------------------------------------------------
@dataclass(frozen=True)
class NodeVerdict:
    """Whether a node could take the first VM now, and if not why (the scheduler's words)."""

    name: str
    qualifies: bool
    reason: str = ""
    preferred: bool = False  # matches the preset's soft node affinity
    domains: dict[str, str] = field(default_factory=dict)  # topology key -> this node's value


@dataclass(frozen=True)
class DomainSpread:
    """The group's VMs per value of one topology key, before and after. `eligible` are the
    domains the scheduler counts (nodes matching the hard affinity): the skew is over those."""

    topology_key: str
    before: dict[str, int]
    after: dict[str, int]
    eligible: frozenset[str]
    constraint: SpreadConstraint | None = None  # the preset's, None: shown for information

    def _skew(self, counts: Mapping[str, int]) -> int:
        values = [counts.get(d, 0) for d in self.eligible]
        return max(values) - min(values) if values else 0

    @property
    def skew_before(self) -> int:
        return self._skew(self.before)

    @property
    def skew_after(self) -> int:
        return self._skew(self.after)


@dataclass(frozen=True)
class Landing:
    """Where one VM goes (`node`), or why none takes it (`reason`); `notes` say what the
    scheduler had to give up on (a soft preference, a ScheduleAnyway skew)."""

    vm: str
    node: str | None
    reason: str = ""
    notes: tuple[str, ...] = ()
    from_node: str = ""  # where an existing VM runs now


@dataclass(frozen=True)
class PlacementPreview:
    group: SpreadGroup
    nodes: list[NodeVerdict]
    spread: list[DomainSpread]
    landings: list[Landing]
    not_running: list[str] = field(default_factory=list)  # ExistingVms without a live pod

    @property
    def unplaced(self) -> list[Landing]:
        return [landing for landing in self.landings if landing.node is None]

    @property
    def qualifying(self) -> list[str]:
        return [v.name for v in self.nodes if v.qualifies]


# -- the preview ---------------------------------------------------------------------------
@dataclass
class _Item:
    name: str
    pod: Pod  # spec with the preset's affinity, labels with the group's
    own: tuple[str, str] | None = None  # an existing VM's pod key, released before placing
    retire: tuple[str, str] | None = None  # a rollout's old pod, released after placing


def _with_group(labels: Mapping[str, str], group: SpreadGroup) -> dict[str, str]:
    out = dict(labels)
    out.update((group.selector.get("matchLabels") or {}).items())
    if group.label is not None:
        out[group.label[0]] = group.label[1]
    return out


def _replica_pod(name: str, namespace: str, labels: dict, size: ReplicaSize, affinity: dict):
    requests = {"cpu": f"{size.cpu_m}m", "memory": str(size.memory)}
    if size.kvm:
        requests[KVM_RESOURCE] = str(size.kvm)
    return Pod(
        {
            "metadata": {"namespace": namespace, "name": name, "labels": labels},
            "spec": {
                "affinity": copy.deepcopy(affinity),
                "containers": [{"name": "compute", "resources": {"requests": requests}}],
            },
            "status": {"phase": "Pending"},
        }
    )


def _placed(pod: Pod, node: str) -> Pod:
    raw = copy.deepcopy(pod.raw)
    raw["spec"]["nodeName"] = node
    raw["status"] = {"phase": "Running"}
    return Pod(raw)


def _plan(
    preset: Preset, pods: list[Pod], target: Target
) -> tuple[SpreadGroup, list[_Item], list[Pod], list[str]]:
    """The group, the VMs to place in order, the pods as they start out, and VMs not running."""
    live = [p for p in pods if p.node and not p.terminated]
    ns = target.namespace
    if isinstance(target, NewReplicas):
        group = machine_deployment_group(ns, target.machine_deployment)
        affinity = vm_scheduling(preset, group.selector)["affinity"]
        labels = _with_group({}, group)
        old = [
            p
            for p in live
            if p.namespace == ns
            and p.virt_launcher
            and label_selector_matches(p.labels, group.selector)
        ]
        old.sort(key=lambda p: p.name)
        items = []
        for index in range(target.count):
            name = f"{target.machine_deployment} #{index + 1}"
            retire = old[index].key if target.rollout and index < len(old) else None
            pod = _replica_pod(name, ns, labels, target.size, affinity)
            items.append(_Item(name, pod, retire=retire))
        return group, items, live, []
    by_vm = {p.vmi_name: p for p in live if p.namespace == ns and p.virt_launcher and p.vmi_name}
    running = [by_vm[n] for n in sorted(target.names) if n in by_vm]
    not_running = [n for n in sorted(target.names) if n not in by_vm]
    group = target.group or vm_group(preset, ns, [p.labels for p in running])
    affinity = vm_scheduling(preset, group.selector)["affinity"]
    state = []
    items = []
    targets = {p.key for p in running}
    for p in live:
        if p.key not in targets:
            state.append(p)
            continue
        raw = copy.deepcopy(p.raw)
        raw["metadata"]["labels"] = _with_group(p.labels, group)
        raw["spec"]["affinity"] = copy.deepcopy(affinity)
        raw["spec"].pop("topologySpreadConstraints", None)
        moved = Pod(raw)
        state.append(moved)
    for p in running:
        pod = next(s for s in state if s.key == p.key)
        raw = copy.deepcopy(pod.raw)
        raw["spec"].pop("nodeName", None)
        items.append(_Item(p.vmi_name, Pod(raw), own=p.key))
    return group, items, state, not_running


def _constraint_dicts(preset: Preset, group: SpreadGroup) -> list[dict[str, Any]]:
    return vm_scheduling(preset, group.selector)["topologySpreadConstraints"]


def _hard_spread_counts(
    pod: Pod, hard: list[dict], nodes: list[Node], state: list[Pod]
) -> list[tuple[dict, dict[str, int]]]:
    """Each DoNotSchedule constraint with its domain counts, once per scheduling cycle."""
    keys = [c["topologyKey"] for c in hard]
    return [(c, spread_domains(c, pod.namespace, pod.spec, nodes, state, keys)) for c in hard]


def _hard_spread_refusal(
    pod: Pod, node: Node, hard: list[tuple[dict, dict[str, int]]]
) -> str | None:
    """PodTopologySpread's filter: the node's domain may not get ahead of the emptiest
    domain by more than maxSkew."""
    for c, counts in hard:
        key = c["topologyKey"]
        if key not in node.labels:
            return f"lacks the topology label {key}"
        if not counts:
            continue
        own = 1 if label_selector_matches(pod.labels, c.get("labelSelector")) else 0
        skew = counts.get(node.labels[key], 0) + own - min(counts.values())
        if skew > int(c["maxSkew"]):
            return f"topology spread on {key} (skew {skew} > maxSkew {c['maxSkew']})"
    return None


def _soft_spread_scores(
    pod: Pod, soft: list[dict], nodes: list[Node], state: list[Pod]
) -> dict[str, float]:
    """PodTopologySpread's score (0..100) for ScheduleAnyway: fewer matching pods in the
    node's domains is better, normalised over the nodes that carry every key."""
    if not soft:
        return {}
    keys = [c["topologyKey"] for c in soft]
    raw: dict[str, int] = {}
    per_constraint = [spread_domains(c, pod.namespace, pod.spec, nodes, state, keys) for c in soft]
    for node in nodes:
        if not all(k in node.labels for k in keys):
            continue
        values = [node.labels[c["topologyKey"]] for c in soft]
        if not all(v in counts for v, counts in zip(values, per_constraint, strict=True)):
            continue  # not a domain member (the hard node affinity leaves it out)
        raw[node.name] = sum(counts[v] for v, counts in zip(values, per_constraint, strict=True))
    top, low = max(raw.values(), default=0), min(raw.values(), default=0)
    if not top:
        return dict.fromkeys(raw, 100.0)
    return {name: 100.0 * (top + low - count) / top for name, count in raw.items()}


def _skew_notes(pod: Pod, soft: list[dict], nodes: list[Node], state: list[Pod]) -> list[str]:
    notes = []
    for c in soft:
        counts = spread_domains(c, pod.namespace, pod.spec, nodes, state)
        if counts and max(counts.values()) - min(counts.values()) > int(c["maxSkew"]):
            skew = max(counts.values()) - min(counts.values())
            notes.append(
                f"spread on {c['topologyKey']}: skew {skew} > maxSkew {c['maxSkew']} "
                "(ScheduleAnyway lets it be)"
            )
    return notes


def _place(
    item: _Item, preset: Preset, group: SpreadGroup, nodes: list[Node], state: list[Pod]
) -> tuple[str | None, str, list[str]]:
    """One scheduling cycle: the chosen node (or None and why), and notes about it."""
    constraints = _constraint_dicts(preset, group)
    hard = [c for c in constraints if c["whenUnsatisfiable"] == "DoNotSchedule"]
    soft = [c for c in constraints if c["whenUnsatisfiable"] != "DoNotSchedule"]
    pod = item.pod
    rooms = node_rooms(nodes, state)
    by_name = {n.name: n for n in nodes}
    fit = Fit()
    candidates = []
    hard_counts = _hard_spread_counts(pod, hard, nodes, state)
    for node in nodes:
        why = refusal(pod, rooms[node.name], by_name, state) or _hard_spread_refusal(
            pod, node, hard_counts
        )
        if why:
            fit.refusals[node.name] = why
        else:
            candidates.append(node)
    if not candidates:
        return None, fit.why_not() or "no nodes", []
    preferred = {n.name: preferred_affinity_score(n.labels, pod.spec) for n in candidates}
    top = max(preferred.values(), default=0)
    spread = _soft_spread_scores(pod, soft, nodes, state)
    scored = []
    for node in candidates:
        total = least_allocated(pod, rooms[node.name])
        if top:
            total += WEIGHT_AFFINITY * 100.0 * preferred[node.name] / top
        if soft:
            total += WEIGHT_SPREAD * spread.get(node.name, 0.0)
        scored.append((-total, node.name))
    chosen = min(scored)[1]
    notes = []
    affinity = preset.affinity
    if (
        affinity is not None
        and affinity.type == SOFT
        and not affinity.matches(by_name[chosen].labels)
    ):
        notes.append(f"preferred node affinity not met ({affinity.describe()})")
    after = [*state, _placed(pod, chosen)]
    notes += _skew_notes(pod, soft, nodes, after)
    return chosen, "", notes


def _spread_table(
    preset: Preset,
    group: SpreadGroup,
    spec: dict,
    nodes: list[Node],
    before: list[Pod],
    after: list[Pod],
) -> list[DomainSpread]:
    constraints = {c.topology_key: c for c in preset.effective_spread}
    keys = list(dict.fromkeys([HOSTNAME, ZONE, *constraints]))
    out = []
    for key in keys:
        probe = {"topologyKey": key, "labelSelector": group.selector}
        if not any(key in n.labels for n in nodes):
            continue
        eligible = spread_domains(probe, group.namespace, spec, nodes, before)
        out.append(
            DomainSpread(
                key,
                spread_domains(probe, group.namespace, {}, nodes, before),
                spread_domains(probe, group.namespace, {}, nodes, after),
                frozenset(eligible),
                constraints.get(key),
            )
        )
    return out


def preview_placement(
    preset: Preset,
    nodes: Iterable[Mapping[str, Any]],
    pods: Iterable[Mapping[str, Any]],
    target: Target,
) -> PlacementPreview:
    """Where `target`'s VMs would run under `preset`, given the cluster as `nodes` and `pods`
    (raw dicts, as listed) show it; nothing is sent anywhere."""
    node_views = sorted((Node(dict(n)) for n in nodes), key=lambda n: n.name)
    pod_views = [Pod(dict(p)) for p in pods]
    group, items, state, not_running = _plan(preset, pod_views, target)
    start = list(state)
    verdicts = _verdicts(preset, group, items, node_views, state)
    landings = []
    for item in items:
        from_node = ""
        if item.own is not None:
            from_node = next((p.node for p in state if p.key == item.own), "")
            state = [p for p in state if p.key != item.own]
        node, reason, notes = _place(item, preset, group, node_views, state)
        if node is not None:
            state.append(_placed(item.pod, node))
        elif item.own is not None:  # it cannot move: it stays where it is
            state.append(_placed(item.pod, from_node))
        if item.retire is not None:
            state = [p for p in state if p.key != item.retire]
        landings.append(Landing(item.name, node, reason, tuple(notes), from_node))
    spec = (
        items[0].pod.spec
        if items
        else {"affinity": vm_scheduling(preset, group.selector)["affinity"]}
    )
    return PlacementPreview(
        group,
        verdicts,
        _spread_table(preset, group, spec, node_views, start, state),
        landings,
        not_running,
    )


def _verdicts(
    preset: Preset, group: SpreadGroup, items: list[_Item], nodes: list[Node], state: list[Pod]
) -> list[NodeVerdict]:
    """Each node against the first VM to place, before anything moves."""
    constraints = _constraint_dicts(preset, group)
    hard = [c for c in constraints if c["whenUnsatisfiable"] == "DoNotSchedule"]
    keys = list(dict.fromkeys([HOSTNAME, ZONE, *(c["topologyKey"] for c in constraints)]))
    first = items[0] if items else None
    if first is not None and first.own is not None:
        state = [p for p in state if p.key != first.own]
    rooms = node_rooms(nodes, state)
    by_name = {n.name: n for n in nodes}
    affinity = preset.affinity
    out = []
    for node in nodes:
        why = None
        if first is not None:
            why = refusal(first.pod, rooms[node.name], by_name, state)
        if why is None and affinity is not None and affinity.type == HARD:
            why = None if affinity.matches(node.labels) else "required node affinity"
        if why is None:
            missing = [c["topologyKey"] for c in hard if c["topologyKey"] not in node.labels]
            why = f"lacks the topology label {missing[0]}" if missing else None
        out.append(
            NodeVerdict(
                node.name,
                why is None,
                why or "",
                affinity is not None and affinity.type == SOFT and affinity.matches(node.labels),
                {k: node.labels[k] for k in keys if k in node.labels},
            )
        )
    return out

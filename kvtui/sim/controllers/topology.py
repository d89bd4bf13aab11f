"""Where a namespace's pods run, counted per label selector, for topology spread constraints.

Counts are kept per node from pod events and built lazily per (namespace, selector), so the
scheduler reads a domain's pod count without listing pods.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson

from kvtui.sim.controllers.nodefit import NodeInfo, StaticFit
from kvtui.sim.selectors import label_selector_from_dict
from kvtui.sim.store import Obj

HOSTNAME = "kubernetes.io/hostname"

PodKey = tuple[str, str]
Spread = list[tuple[str, dict[str, int], int]]


class SpreadIndex:
    """Pods of one namespace matching one label selector, counted per node."""

    __slots__ = ("counts", "selector")

    def __init__(self, selector: Any) -> None:
        self.selector = selector
        self.counts: Counter[str] = Counter()


class PodTopology:
    """Bound, live pods by namespace, and their counts per node for each selector asked about."""

    def __init__(self) -> None:
        self.members: dict[str, dict[str, tuple[str, dict]]] = {}  # ns -> name -> node, labels
        self.indexes: dict[tuple[str, bytes], SpreadIndex] = {}
        self.by_namespace: dict[str, list[SpreadIndex]] = {}

    def set_member(self, key: PodKey, node: str, labels: dict) -> bool:
        """Record where a pod counts (node "" = nowhere); True if anything changed."""
        ns, name = key
        members = self.members.setdefault(ns, {})
        current = members.get(name)
        if current == (node, labels) or (current is None and not node):
            return False
        for index in self.by_namespace.get(ns, ()):
            if current is not None and index.selector.matches(current[1]):
                index.counts[current[0]] -= 1
            if node and index.selector.matches(labels):
                index.counts[node] += 1
        if node:
            members[name] = (node, labels)
        else:
            members.pop(name, None)
        return True

    def index(self, namespace: str, label_selector: dict | None) -> SpreadIndex:
        key = (namespace, orjson.dumps(label_selector, option=orjson.OPT_SORT_KEYS))
        index = self.indexes.get(key)
        if index is None:
            index = SpreadIndex(label_selector_from_dict(label_selector))
            for node, labels in self.members.get(namespace, {}).values():
                if index.selector.matches(labels):
                    index.counts[node] += 1
            self.indexes[key] = index
            self.by_namespace.setdefault(namespace, []).append(index)
        return index

    def domains(self, namespace: str, constraint: dict, eligible: list[NodeInfo]) -> dict[str, int]:
        """Matching pods per value of the constraint's topology key, over eligible nodes."""
        topology_key = constraint.get("topologyKey", "")
        counts = self.index(namespace, constraint.get("labelSelector")).counts
        domains: dict[str, int] = {}
        for info in eligible:
            value = info.labels[topology_key]
            domains[value] = domains.get(value, 0) + counts.get(info.name, 0)
        return domains

    def hard_spread(self, pod: Obj, constraints: list[dict], static: StaticFit) -> Spread:
        """Per DoNotSchedule constraint: topology key, pods per domain, largest count allowed."""
        meta = pod["metadata"]
        namespace, labels = meta.get("namespace", ""), meta.get("labels") or {}
        eligible = static.eligible_for(tuple(c.get("topologyKey", "") for c in constraints))
        out = []
        for constraint in constraints:
            domains = self.domains(namespace, constraint, eligible)
            index = self.index(namespace, constraint.get("labelSelector"))
            self_match = 1 if index.selector.matches(labels) else 0
            lowest = min(domains.values()) if domains else 0
            allowed = int(constraint.get("maxSkew", 1)) + lowest - self_match
            out.append((constraint.get("topologyKey", ""), domains, allowed))
        return out

    def soft_counts(
        self, pod: Obj, soft: list[dict], static: StaticFit
    ) -> tuple[set[str], dict[str, int], int, int]:
        """Matching pods in each eligible node's domains (sparse when only hostnames count).

        Returns (eligible nodes, node -> count, highest, lowest); an eligible node missing
        from the map counts 0.
        """
        namespace = pod["metadata"].get("namespace", "")
        keys = tuple(c.get("topologyKey", "") for c in soft)
        eligible = static.eligible_for(keys)
        names = static.eligible_names(keys)
        if all(k == HOSTNAME for k in keys):  # one node per domain: only non-zero counts
            raw: dict[str, int] = {}
            for constraint in soft:
                counts = self.index(namespace, constraint.get("labelSelector")).counts
                for node, count in counts.items():
                    if count and node in names:
                        raw[node] = raw.get(node, 0) + count
            low = 0 if len(raw) < len(names) else min(raw.values(), default=0)
            return names, raw, max(raw.values(), default=0), low
        raw = dict.fromkeys((n.name for n in eligible), 0)
        for constraint in soft:
            domains = self.domains(namespace, constraint, eligible)
            topology_key = constraint.get("topologyKey", "")
            for info in eligible:
                raw[info.name] += domains[info.labels[topology_key]]
        return names, raw, max(raw.values(), default=0), min(raw.values(), default=0)

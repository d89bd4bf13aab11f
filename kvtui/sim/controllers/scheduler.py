"""kube-scheduler for the simulated cluster: filters, scores and binds pending pods.

Per-node requested totals and per-selector pod counts (`topology.py`) follow pod events,
node-only filters (`nodefit.py`) are cached per pod shape, and nodes stay ranked by free
capacity, so a decision usually looks at a handful of nodes and never at the pods (the large
scenario has 10,000 of them).
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import Counter
from collections.abc import Callable
from typing import Any

import orjson

from kvtui.sim.controllers.nodefit import (
    NodeInfo,
    StaticFit,
    fit_error,
    preferred_terms,
    spread_violation,
    static_fit,
)
from kvtui.sim.controllers.podutil import (
    Resources,
    pod_is_terminated,
    pod_requests,
    rfc3339,
    set_condition,
    update,
)
from kvtui.sim.controllers.topology import PodTopology
from kvtui.sim.selectors import node_selector_term_matches
from kvtui.sim.store import Obj
from kvtui.sim.world import Controller, World

PODS, NODES = "/pods", "/nodes"
SCHEDULER_NAME = "default-scheduler"
RETRY_SECONDS = 5.0
RETRY = "retry-unschedulable"  # queue item: try unschedulable pods again, something changed
PERIODIC = "periodic-retry"  # timer item: try all unschedulable pods again
# Plugin weights of the default profile (NodeResourcesFit counts 1); scores are 0..100 each.
WEIGHT_AFFINITY, WEIGHT_SPREAD = 2, 2
MAX_SCORE = 100.0

PodKey = tuple[str, str]


class Scheduler(Controller):
    """Binds pods that have no node to the best node that fits, as kube-scheduler would."""

    name = "scheduler"
    watches = (PODS, NODES)

    def __init__(self, world: World) -> None:
        super().__init__(world)
        self._nodes: dict[str, NodeInfo] = {}
        self._requested: dict[str, Resources] = {}
        self._charges: dict[PodKey, tuple[str, str, Resources]] = {}  # uid, node, requests
        self._topology = PodTopology()
        self._rank: list[tuple[float, str]] = []  # (-free score, name), best first
        self._score: dict[str, float] = {}
        self._static: dict[bytes, StaticFit] = {}
        self._unschedulable: dict[PodKey, int] = {}  # pod -> generation at its last failure
        self._failures: dict[bytes, tuple[int, str]] = {}  # pod shape -> generation, message
        self._generation = 0  # bumped whenever a node or a pod placement changes
        self._failure_generation = -1  # generation of the newest cached failure
        self._binding: tuple[str, Resources] = ("", {})  # uid and requests of the pod we bind
        self._retry_armed = False  # a RETRY item is queued
        self._periodic_armed = False  # a PERIODIC timer is pending

    # -- public --------------------------------------------------------------------------
    def requested(self, node_name: str) -> dict[str, int]:
        """Requests of the non-terminated pods bound to the node (cpu in millicores)."""
        return dict(self._requested.get(node_name, {}))

    def start(self) -> None:
        for node in self.store.list(NODES):
            self._on_node("ADDED", node)
        for pod in self.store.list(PODS):
            self._on_pod("ADDED", pod, None)

    # -- events --------------------------------------------------------------------------
    def on_event(self, etype: str, key: str, obj: Obj, old: Obj | None) -> None:
        if key == PODS:
            self._on_pod(etype, obj, old)
        else:
            self._on_node(etype, obj)

    def _on_node(self, etype: str, node: Obj) -> None:
        name = node["metadata"]["name"]
        if etype == "DELETED":
            if self._nodes.pop(name, None) is not None:
                self._rerank(name)
                self._changed(nodes=True)
            return
        info = NodeInfo(node, self._requested.setdefault(name, {}))
        current = self._nodes.get(name)
        if current is not None and current.sched_key == info.sched_key:
            return  # a heartbeat or an annotation: nothing the scheduler looks at
        self._nodes[name] = info
        self._rerank(name)
        self._changed(nodes=True)

    def _on_pod(self, etype: str, pod: Obj, old: Obj | None) -> None:
        meta = pod["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        spec = pod.get("spec") or {}
        node = "" if etype == "DELETED" or pod_is_terminated(pod) else spec.get("nodeName") or ""
        changed = self._set_charge(key, meta.get("uid", ""), node, pod)
        member = node if node and not meta.get("deletionTimestamp") else ""
        changed = self._topology.set_member(key, member, meta.get("labels") or {}) or changed
        if changed:
            self._changed()
        if etype != "DELETED" and wants_scheduling(pod):
            # New, or changed by someone else; our own status writes need no second look.
            labels_changed = old is not None and meta.get("labels") != old["metadata"].get("labels")
            if old is None or labels_changed or spec != old.get("spec"):
                self.enqueue(key)
        else:
            self._unschedulable.pop(key, None)

    def _set_charge(self, key: PodKey, uid: str, node: str, pod: Obj) -> bool:
        current = self._charges.get(key)
        if current is not None and current[0] == uid and current[1] == node:
            return False
        requests = current[2] if current is not None and current[0] == uid else None
        if current is not None:
            _add(self._requested.setdefault(current[1], {}), current[2], -1)
            del self._charges[key]
            self._rerank(current[1])
        if node:
            if requests is None:
                binding = self._binding
                requests = binding[1] if binding[0] == uid else pod_requests(pod)
            _add(self._requested.setdefault(node, {}), requests, 1)
            self._charges[key] = (uid, node, requests)
            self._rerank(node)
        return True

    def _rerank(self, name: str) -> None:
        old = self._score.pop(name, None)
        if old is not None:
            del self._rank[bisect_left(self._rank, (-old, name))]
        info = self._nodes.get(name)
        if info is not None:
            score = self._score[name] = info.free_score()
            insort(self._rank, (-score, name))

    def _changed(self, nodes: bool = False) -> None:
        self._generation += 1
        if nodes:
            self._static.clear()
        if self._unschedulable and not self._retry_armed:
            self._retry_armed = True
            self.enqueue(RETRY)

    # -- reconcile -----------------------------------------------------------------------
    def reconcile(self, item: Any) -> None:
        if item == RETRY:
            self._retry_armed = False
            for key, generation in self._unschedulable.items():
                if generation < self._generation:
                    self.enqueue(key)
            return
        if item == PERIODIC:
            for key in self._unschedulable:
                self.enqueue(key)
            self._periodic_armed = bool(self._unschedulable)
            if self._periodic_armed:
                self.after(RETRY_SECONDS, PERIODIC)
            return
        pod = self.store.get(PODS, item[0], item[1])
        if pod is None or not wants_scheduling(pod):
            self._unschedulable.pop(item, None)
            return
        self._schedule(item, pod)

    def _schedule(self, key: PodKey, pod: Obj) -> None:
        requests = pod_requests(pod)
        shape = None
        if self._failure_generation == self._generation:  # a failure may be cached
            shape = _shape(pod, requests)
            cached = self._failures.get(shape)
            if cached is not None and cached[0] == self._generation:
                self._fail(key, pod, cached[1])
                return
        node, message = self._decide(pod, requests)
        if node is None:
            if len(self._failures) > 10_000:
                self._failures.clear()
            self._failures[shape or _shape(pod, requests)] = (self._generation, message)
            self._failure_generation = self._generation
            self._fail(key, pod, message)
            return
        self._unschedulable.pop(key, None)
        self._binding = (pod["metadata"].get("uid", ""), requests)
        stamp = rfc3339(self.world.now())

        def bind(p: Obj) -> None:
            p["spec"]["nodeName"] = node
            p.setdefault("status", {}).setdefault("phase", "Pending")
            set_condition(p, {"type": "PodScheduled", "status": "True"}, stamp)

        bound = update(self.store, PODS, pod, bind)
        self.world.record_event(
            bound,
            "Scheduled",
            f"Successfully assigned {key[0]}/{key[1]} to {node}",
            component=SCHEDULER_NAME,
        )

    def _fail(self, key: PodKey, pod: Obj, message: str) -> None:
        self._unschedulable[key] = self._generation
        if not self._periodic_armed:
            self._periodic_armed = True
            self.after(RETRY_SECONDS, PERIODIC)
        previous = next(
            (
                c
                for c in (pod.get("status") or {}).get("conditions") or ()
                if c.get("type") == "PodScheduled"
            ),
            None,
        )
        if (
            previous is not None
            and previous.get("status") == "False"
            and (previous.get("message") == message)
        ):
            return
        stamp = rfc3339(self.world.now())
        condition = {
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": message,
        }

        def mark(p: Obj) -> None:
            p.setdefault("status", {}).setdefault("phase", "Pending")
            set_condition(p, condition, stamp)

        updated = update(self.store, PODS, pod, mark)
        self.world.record_event(
            updated, "FailedScheduling", message, "Warning", component=SCHEDULER_NAME
        )

    # -- the algorithm -------------------------------------------------------------------
    def _decide(self, pod: Obj, requests: Resources) -> tuple[str | None, str]:
        """The chosen node, or None and the kube-scheduler style reason it cannot be placed.

        Nodes are visited best free score first; the walk stops once no later node could
        beat the best so far even with full affinity and spread scores. On equal scores the
        node seen first wins, so equal nodes fill in name order like a deterministic
        kube-scheduler would.
        """
        if not self._nodes:
            return None, fit_error(0, Counter(), 0)
        spec = pod.get("spec") or {}
        static = self._static_fit(spec)
        need = [(r, v) for r, v in requests.items() if v > 0]
        constraints = spec.get("topologySpreadConstraints") or ()
        hard = [
            c for c in constraints if c.get("whenUnsatisfiable", "DoNotSchedule") == "DoNotSchedule"
        ]
        soft = [c for c in constraints if c.get("whenUnsatisfiable") == "ScheduleAnyway"]
        spread = self._topology.hard_spread(pod, hard, static) if hard else []
        bonus, bonus_max = self._bonus(pod, soft, static)
        reasons: Counter[str] = Counter()
        resource_failures = 0
        best, best_total = None, -1.0
        candidates, nodes = static.candidates, self._nodes
        for neg_score, name in self._rank:
            if best is not None and bonus_max - neg_score <= best_total:
                break  # ties go to the node seen first: most free, then by name
            if name not in candidates:
                continue
            info = nodes[name]
            short = info.shortages(need)
            if short:
                resource_failures += 1
                reasons.update(short)
                continue
            reason = spread_violation(info, spread) if spread else ""
            if reason:
                reasons[reason] += 1
                continue
            total = -neg_score + bonus(info) if bonus_max else -neg_score
            if total > best_total or (total == best_total and name < best):
                best, best_total = name, total
        if best is None:
            return None, fit_error(len(nodes), reasons + static.rejects, resource_failures)
        return best, ""

    def _static_fit(self, spec: Obj) -> StaticFit:
        required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
            "requiredDuringSchedulingIgnoredDuringExecution"
        )
        signature = orjson.dumps(
            [spec.get("nodeSelector"), required, spec.get("tolerations")],
            option=orjson.OPT_SORT_KEYS,
        )
        fit = self._static.get(signature)
        if fit is None:
            fit = self._static[signature] = static_fit(self._nodes, spec)
        return fit

    def _bonus(
        self, pod: Obj, soft: list[dict], static: StaticFit
    ) -> tuple[Callable[[NodeInfo], float], float]:
        """Scores beyond free capacity (preferred affinity, ScheduleAnyway spread), and their cap.

        Both are normalised over the candidate nodes, as kube-scheduler normalises its scores.
        """
        parts: list[Callable[[NodeInfo], float]] = []
        cap = 0.0
        preferred = preferred_terms(pod.get("spec") or {})
        if preferred:
            weights = self._preferred_weights(preferred, static)
            top = max(weights.values(), default=0)
            if top > 0:
                scale = WEIGHT_AFFINITY * MAX_SCORE / top
                parts.append(lambda info: weights.get(info.name, 0) * scale)
                cap += WEIGHT_AFFINITY * MAX_SCORE
        if soft:
            names, raw, top, low = self._topology.soft_counts(pod, soft, static)
            spread_scale = WEIGHT_SPREAD * MAX_SCORE / top if top else 0.0
            parts.append(
                lambda info: (
                    0.0
                    if info.name not in names
                    else (
                        (top + low - raw.get(info.name, 0)) * spread_scale
                        if top
                        else WEIGHT_SPREAD * MAX_SCORE
                    )
                )
            )
            cap += WEIGHT_SPREAD * MAX_SCORE
        return (lambda info: sum(part(info) for part in parts)), cap

    def _preferred_weights(self, preferred: list[Any], static: StaticFit) -> dict[str, int]:
        key = orjson.dumps(preferred, option=orjson.OPT_SORT_KEYS)
        weights = static.preferred.get(key)
        if weights is None:
            weights = static.preferred[key] = {}
            for name in static.candidates:
                info = self._nodes[name]
                weight = sum(
                    int(p.get("weight", 0))
                    for p in preferred
                    if node_selector_term_matches(
                        p.get("preference") or {}, info.labels, info.fields
                    )
                )
                if weight:
                    weights[name] = weight
        return weights


def wants_scheduling(pod: Obj) -> bool:
    """A pod this scheduler should place: unbound, pending, alive and addressed to it."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName") or pod["metadata"].get("deletionTimestamp"):
        return False
    if spec.get("schedulerName") not in (None, "", SCHEDULER_NAME) or spec.get("schedulingGates"):
        return False
    return (pod.get("status") or {}).get("phase") in (None, "", "Pending")


def _shape(pod: Obj, requests: Resources) -> bytes:
    """Everything a scheduling failure depends on besides the state of the cluster."""
    spec = pod.get("spec") or {}
    meta = pod["metadata"]
    parts: list[Any] = [
        spec.get("nodeSelector"),
        spec.get("affinity"),
        spec.get("tolerations"),
        requests,
    ]
    if spec.get("topologySpreadConstraints"):
        parts += [spec["topologySpreadConstraints"], meta.get("namespace"), meta.get("labels")]
    return orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)


def _add(into: Resources, more: Resources, sign: int) -> None:
    for name, amount in more.items():
        into[name] = into.get(name, 0) + sign * amount

"""The pre-flight plan of a node drain: what will happen to every pod, before anything changes.

`kubectl drain` finds out what a drain does by doing it. The plan says it first, per pod, from
the same rules the cluster applies: KubeVirt's eviction webhook and evacuation controller
(fact sheet §6.1–6.3: `LiveMigrate` migrates, `External` is left to KKP's machine-controller,
`None` is shut down, `LiveMigrateIfPossible` migrates when it can), PodDisruptionBudgets,
emptyDir data, and whether another node would take the pod at all (`placement`). Then the
cluster-wide view: can the other nodes absorb the VMs, which KKP user clusters lose how many
of their nodes, and roughly how long the migrations take under the KubeVirt CR's limits.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from kvtui.cluster import kinds, placement
from kvtui.cluster.cache import ClusterCache
from kvtui.cluster.connection import Connection
from kvtui.cluster.errors import Forbidden
from kvtui.cluster.views import Node, Pod, Vm, Vmi, byte_count

KKP_NAMESPACE_PREFIX = "cluster-"
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
# KubeVirt's defaults for `spec.configuration.migrations` (fact sheet §6.5).
MIGRATION_DEFAULTS: dict[str, Any] = {
    "parallelMigrationsPerCluster": 5,
    "parallelOutboundMigrationsPerNode": 2,
    "bandwidthPerMigration": "0Mi",
    "completionTimeoutPerGiB": 150,
    "progressTimeout": 150,
}
ASSUMED_LINK_RATE = 1024**3  # bytes/s: "0Mi" is unlimited; a 10 GbE link moves about this
MIGRATION_SETUP_SECONDS = 5.0  # target pod scheduled, started and the domain prepared
DIRTY_PAGE_FACTOR = 1.25  # pages the guest dirties again are sent again
RESTARTING_RUN_STRATEGIES = ("Always", "RerunOnFailure")


class Outcome(StrEnum):
    """What the drain will do to a pod."""

    MIGRATE = "live-migrate"
    REPLACE = "replaced by KKP"
    SHUT_DOWN = "shut down"
    BEST_EFFORT = "best effort"
    EVICT = "evict"
    IGNORE = "ignored"
    BLOCKED = "blocked"


@dataclass
class PodPlan:
    """The plan for one pod on the node; `vmi` is set for a VM's virt-launcher pod."""

    namespace: str
    pod: str
    outcome: Outcome
    detail: str
    expect: str  # the end state: migrated, replaced, shut down, restarted, evicted, blocked, ...
    vmi: str = ""
    strategy: str = ""
    target: str = ""  # the likely new node
    memory: int = 0  # requests of the pod
    cpu_m: int = 0
    guest_memory: int = 0
    no_room: bool = False  # no other node would take it
    cluster: str = ""  # KKP user cluster id
    pod_uid: str = ""
    vmi_uid: str = ""  # to tell the VMI from a replacement of the same name
    emptydir: list[str] = field(default_factory=list)

    @property
    def is_vm(self) -> bool:
        return bool(self.vmi)

    @property
    def name(self) -> str:
        """What the admin calls it: the VM for a virt-launcher pod, else the pod."""
        return self.vmi or self.pod


@dataclass
class Capacity:
    """Can the other schedulable nodes absorb what leaves (requests vs allocatable)?"""

    needed_cpu_m: int = 0
    needed_memory: int = 0
    free_cpu_m: int = 0
    free_memory: int = 0
    nodes: list[str] = field(default_factory=list)
    unplaced: list[str] = field(default_factory=list)

    @property
    def fits(self) -> bool:
        return not self.unplaced


@dataclass
class ClusterImpact:
    """A KKP user cluster with worker VMs on the node: how many of its VMs sit there."""

    cluster: str
    on_node: int
    total: int


@dataclass
class Estimate:
    """A rough duration for the live migrations, from the KubeVirt CR's limits."""

    seconds: float = 0.0
    migrations: int = 0
    parallel: int = 1
    bandwidth: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass
class DrainPlan:
    node: str
    cordoned: bool
    pods: list[PodPlan]
    capacity: Capacity
    clusters: list[ClusterImpact]
    estimate: Estimate
    warnings: list[str] = field(default_factory=list)
    migrations: dict[str, Any] = field(default_factory=dict)  # the KubeVirt CR's limits

    @property
    def vms(self) -> list[PodPlan]:
        return [p for p in self.pods if p.is_vm]

    @property
    def blocked(self) -> list[PodPlan]:
        return [p for p in self.pods if p.outcome is Outcome.BLOCKED]

    def counts(self) -> Counter[str]:
        return Counter(p.outcome.value for p in self.pods)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DrainPlan:
        """The plan as `to_dict` wrote it (the drain journal keeps it for a resume)."""
        pods = [PodPlan(**{**p, "outcome": Outcome(p["outcome"])}) for p in data.get("pods") or ()]
        capacity = {k: v for k, v in (data.get("capacity") or {}).items() if k != "fits"}
        return cls(
            node=data["node"],
            cordoned=bool(data.get("cordoned")),
            pods=pods,
            capacity=Capacity(**capacity),
            clusters=[ClusterImpact(**c) for c in data.get("clusters") or ()],
            estimate=Estimate(**(data.get("estimate") or {})),
            warnings=list(data.get("warnings") or ()),
            migrations=dict(data.get("migrations") or {}),
        )

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["capacity"]["fits"] = self.capacity.fits
        out["counts"] = dict(self.counts())
        return out


@dataclass(frozen=True)
class PlanOptions:
    """kubectl drain's switches that change what may be evicted."""

    delete_emptydir_data: bool = False
    force: bool = False  # evict pods no controller will recreate


def migration_settings(kubevirt: Mapping[str, Any] | None) -> dict[str, Any]:
    """`spec.configuration.migrations` of the KubeVirt CR over KubeVirt's defaults."""
    spec = (kubevirt or {}).get("spec") or {}
    configured = (spec.get("configuration") or {}).get("migrations") or {}
    return {**MIGRATION_DEFAULTS, **configured}


def cluster_eviction_default(kubevirt: Mapping[str, Any] | None) -> str:
    spec = (kubevirt or {}).get("spec") or {}
    return (spec.get("configuration") or {}).get("evictionStrategy") or "None"


def kkp_cluster(namespace: str) -> str:
    """The KKP user cluster id of an infra namespace `cluster-<id>`, else ""."""
    return (
        namespace[len(KKP_NAMESPACE_PREFIX) :] if namespace.startswith(KKP_NAMESPACE_PREFIX) else ""
    )


def _emptydirs(pod: Mapping[str, Any]) -> list[str]:
    return [
        v.get("name", "") for v in (pod.get("spec") or {}).get("volumes") or () if "emptyDir" in v
    ]


def _allowed_disruptions(pdb: Mapping[str, Any], pods: Iterable[Pod]) -> int:
    """`status.disruptionsAllowed`, or, before the disruption controller has written it,
    the same sum from the matching pods (healthy = Running and not deleting)."""
    status = pdb.get("status") or {}
    if "disruptionsAllowed" in status:
        return int(status["disruptionsAllowed"] or 0)
    spec = pdb.get("spec") or {}
    namespace = (pdb.get("metadata") or {}).get("namespace")
    matching = [
        p
        for p in pods
        if p.namespace == namespace
        and placement.label_selector_matches(p.labels, spec.get("selector"))
    ]
    healthy = sum(1 for p in matching if p.phase == "Running" and not p.deleting)

    def resolve(value: int | str) -> int:
        if isinstance(value, str) and value.endswith("%"):
            return -(-int(value[:-1]) * len(matching) // 100)
        return int(value)

    if "maxUnavailable" in spec:
        return resolve(spec["maxUnavailable"]) - (len(matching) - healthy)
    return healthy - resolve(spec.get("minAvailable", 1))


def _blocking_pdb(pod: Pod, pdbs: Iterable[Mapping[str, Any]], pods: Iterable[Pod]) -> str:
    """The first PodDisruptionBudget that allows no disruption of this pod now, if any."""
    for pdb in pdbs:
        meta = pdb.get("metadata") or {}
        if meta.get("namespace") != pod.namespace:
            continue
        owners = meta.get("ownerReferences") or ()
        if any(ref.get("kind") == "VirtualMachineInstance" for ref in owners):
            continue  # KubeVirt's own budget guards the migration, not the eviction
        selector = (pdb.get("spec") or {}).get("selector")
        if not placement.label_selector_matches(pod.labels, selector):
            continue
        if _allowed_disruptions(pdb, pods) < 1:
            return f"PodDisruptionBudget {meta.get('name')} allows 0 disruptions"
    return ""


class _Planner:
    def __init__(
        self,
        node: str,
        nodes: list[Node],
        pods: list[Pod],
        vmis: Mapping[tuple[str, str], Vmi],
        vms: Mapping[tuple[str, str], Vm],
        pdbs: list[Mapping[str, Any]],
        kubevirt: Mapping[str, Any] | None,
        options: PlanOptions,
    ) -> None:
        self.node = node
        self.nodes = nodes
        self.pods = pods
        self.vmis = vmis
        self.vms = vms
        self.pdbs = pdbs
        self.default_strategy = cluster_eviction_default(kubevirt)
        self.options = options
        self.rooms = placement.node_rooms(nodes, pods)
        self.placed: list[Pod] = list(pods)  # every pod, moved ones at their likely node

    def place(self, pod: Pod) -> tuple[str, str]:
        """Book the pod on its likely new node: (node, "") or ("", why no node takes it)."""
        answer = placement.fit(pod, self.rooms, self.placed, exclude=(self.node,))
        if answer.best is None:
            return "", f"no other node fits: {answer.why_not() or 'no other nodes'}"
        self.rooms[answer.best].take(pod)
        moved = {**pod.raw, "spec": {**pod.spec, "nodeName": answer.best}}
        self.placed.append(Pod(moved))
        return answer.best, ""

    def plan_pod(self, raw: Mapping[str, Any]) -> PodPlan:
        pod = Pod(dict(raw))
        base = {
            "namespace": pod.namespace,
            "pod": pod.name,
            "pod_uid": pod.uid,
            "cpu_m": pod.requests_cpu_m,
            "memory": pod.requests_memory,
            "cluster": kkp_cluster(pod.namespace),
            "emptydir": _emptydirs(raw),
        }
        if MIRROR_ANNOTATION in pod.annotations:
            return PodPlan(**base, outcome=Outcome.IGNORE, detail="static pod", expect="stays")
        if pod.owner_kind == "DaemonSet":
            return PodPlan(
                **base,
                outcome=Outcome.IGNORE,
                detail=f"DaemonSet {pod.owner_name}",
                expect="stays",
            )
        if pod.terminated:
            return PodPlan(
                **base, outcome=Outcome.EVICT, detail=f"{pod.phase}: removed", expect="evicted"
            )
        if pod.virt_launcher and pod.vmi_name:
            return self.plan_vm(pod, base)
        return self.plan_plain(pod, base)

    def plan_plain(self, pod: Pod, base: dict[str, Any]) -> PodPlan:
        blocked = _blocking_pdb(pod, self.pdbs, self.pods)
        if not blocked and base["emptydir"] and not self.options.delete_emptydir_data:
            blocked = (
                f"emptyDir data in {', '.join(base['emptydir'])} "
                "(allow with --delete-emptydir-data)"
            )
        if not blocked and not pod.owner_kind and not self.options.force:
            blocked = "no controller recreates it: evicting deletes it for good (use --force)"
        if blocked:
            return PodPlan(**base, outcome=Outcome.BLOCKED, detail=blocked, expect="blocked")
        detail = f"recreated by its {pod.owner_kind}" if pod.owner_kind else "deleted for good"
        if base["emptydir"]:
            detail += f"; emptyDir data in {', '.join(base['emptydir'])} is lost"
        target, _ = self.place(pod) if pod.owner_kind else ("", "")
        return PodPlan(
            **base, outcome=Outcome.EVICT, detail=detail, expect="evicted", target=target
        )

    def plan_vm(self, pod: Pod, base: dict[str, Any]) -> PodPlan:
        key = (pod.namespace, pod.vmi_name)
        vmi = self.vmis.get(key)
        base["vmi"] = pod.vmi_name
        if vmi is None:
            return PodPlan(
                **base, outcome=Outcome.EVICT, detail="its VMI is gone", expect="evicted"
            )
        strategy = vmi.effective_eviction_strategy(self.default_strategy)
        base["strategy"] = strategy
        base["guest_memory"] = vmi.memory
        base["vmi_uid"] = vmi.uid
        if vmi.node and vmi.node != self.node:
            return PodPlan(
                **base,
                outcome=Outcome.BLOCKED,
                detail=f"target pod of a migration from {vmi.node}: cancel it or let it finish",
                expect="blocked",
            )
        blocked = _blocking_pdb(pod, self.pdbs, self.pods)
        if blocked:
            return PodPlan(**base, outcome=Outcome.BLOCKED, detail=blocked, expect="blocked")
        migratable = vmi.live_migratable is True
        why_not = (
            f"not live-migratable ({vmi.not_migratable_reason}"
            + (f": {vmi.not_migratable_message}" if vmi.not_migratable_message else "")
            + ")"
        )
        if strategy == "LiveMigrate" and not migratable:
            return PodPlan(**base, outcome=Outcome.BLOCKED, detail=why_not, expect="blocked")
        if strategy in ("LiveMigrate", "LiveMigrateIfPossible") and migratable:
            target, no_room = self.place(pod)
            if no_room:
                return PodPlan(
                    **base, outcome=Outcome.BLOCKED, detail=no_room, expect="blocked", no_room=True
                )
            outcome = Outcome.MIGRATE if strategy == "LiveMigrate" else Outcome.BEST_EFFORT
            return PodPlan(
                **base,
                outcome=outcome,
                detail=f"live-migrates to {target} (likely)",
                expect="migrated",
                target=target,
            )
        if strategy == "External":
            target, no_room = self.place(pod)
            detail = (
                f"KKP deletes Machine {pod.vmi_name}; the user cluster node is drained, "
                "the VM deleted and a new one created"
            )
            if no_room:
                detail += f" (but {no_room})"
            return PodPlan(
                **base,
                outcome=Outcome.REPLACE,
                detail=detail,
                expect="replaced",
                target=target,
                no_room=bool(no_room),
            )
        # None, or LiveMigrateIfPossible that cannot migrate: the pod is evicted outright.
        outcome = Outcome.SHUT_DOWN if strategy != "LiveMigrateIfPossible" else Outcome.BEST_EFFORT
        vm = self.vms.get(key) if vmi.owner_vm else None
        prefix = f"{why_not}: " if outcome is Outcome.BEST_EFFORT else ""
        if vm is None:
            return PodPlan(
                **base,
                outcome=outcome,
                detail=prefix + "shut down; no VM restarts it (standalone VMI)",
                expect="shut down",
            )
        if vm.run_strategy not in RESTARTING_RUN_STRATEGIES:
            return PodPlan(
                **base,
                outcome=outcome,
                detail=prefix + f"shut down; stays off (runStrategy {vm.run_strategy})",
                expect="shut down",
            )
        target, no_room = self.place(pod)
        if no_room:
            return PodPlan(
                **base,
                outcome=outcome,
                detail=prefix + f"shut down; cannot restart: {no_room}",
                expect="shut down",
                no_room=True,
            )
        return PodPlan(
            **base,
            outcome=outcome,
            detail=prefix
            + f"shut down, restarts on {target} (likely; runStrategy {vm.run_strategy})",
            expect="restarted",
            target=target,
        )


def estimate_duration(plans: Iterable[PodPlan], settings: Mapping[str, Any]) -> Estimate:
    """Migrations run `parallelOutboundMigrationsPerNode` at a time (capped by the cluster
    limit), each taking setup time plus its memory, sent about 1.25 times, at the bandwidth."""
    moving = [p for p in plans if p.expect == "migrated"]
    parallel = max(
        1,
        min(
            int(settings["parallelOutboundMigrationsPerNode"]),
            int(settings["parallelMigrationsPerCluster"]),
        ),
    )
    configured = str(settings.get("bandwidthPerMigration") or "0")
    bandwidth = byte_count(configured)
    notes = []
    if not bandwidth:
        bandwidth = ASSUMED_LINK_RATE
        notes.append(f"bandwidthPerMigration {configured} is unlimited: assumed ~1 GiB/s")
    per_gib = float(settings["completionTimeoutPerGiB"])
    slots = [0.0] * parallel
    for plan in moving:
        memory = plan.guest_memory or plan.memory
        transfer = memory * DIRTY_PAGE_FACTOR / bandwidth
        start = heapq.heappop(slots)
        heapq.heappush(slots, start + MIGRATION_SETUP_SECONDS + transfer)
        limit = per_gib * max(1.0, memory / 1024**3)
        if transfer > limit:
            notes.append(
                f"{plan.name}: ~{transfer:.0f}s of transfer exceeds completionTimeoutPerGiB "
                f"({limit:.0f}s): KubeVirt will abort it"
            )
    return Estimate(
        seconds=max(slots) if moving else 0.0,
        migrations=len(moving),
        parallel=parallel,
        bandwidth=configured,
        notes=notes,
    )


def build_plan(
    node: str,
    *,
    nodes: Iterable[Mapping[str, Any]],
    pods: Iterable[Mapping[str, Any]],
    node_pods: Iterable[Mapping[str, Any]],
    vmis: Iterable[Mapping[str, Any]],
    vms: Iterable[Mapping[str, Any]] = (),
    pdbs: Iterable[Mapping[str, Any]] = (),
    kubevirt: Mapping[str, Any] | None = None,
    options: PlanOptions | None = None,
) -> DrainPlan:
    """The plan for draining `node`.

    `pods` are all pods of the cluster (trimmed copies will do: requests and labels), and
    `node_pods` the node's own pods in full (affinity, tolerations, volumes).
    """
    node_views = [Node(dict(n)) for n in nodes]
    by_name = {n.name: n for n in node_views}
    if node not in by_name:
        raise LookupError(f'node "{node}" not found')
    vmi_views = {v.key: v for v in (Vmi(dict(r)) for r in vmis)}
    vm_views = {v.key: v for v in (Vm(dict(r)) for r in vms)}
    planner = _Planner(
        node,
        node_views,
        [Pod(dict(p)) for p in pods],
        vmi_views,
        vm_views,
        list(pdbs),
        kubevirt,
        options or PlanOptions(),
    )
    ordered = sorted(
        node_pods,
        key=lambda p: (
            (p.get("metadata") or {}).get("namespace", ""),
            (p.get("metadata") or {}).get("name", ""),
        ),
    )
    free = {
        name: room
        for name, room in planner.rooms.items()
        if name != node and room.node.ready is True and not room.node.unschedulable
    }
    capacity = Capacity(
        free_cpu_m=sum(max(r.cpu_m, 0) for r in free.values()),
        free_memory=sum(max(r.memory, 0) for r in free.values()),
        nodes=sorted(free),
    )
    plans = [planner.plan_pod(p) for p in ordered]
    for plan in plans:
        if plan.target or plan.no_room:
            capacity.needed_cpu_m += plan.cpu_m
            capacity.needed_memory += plan.memory
        if plan.no_room:
            capacity.unplaced.append(plan.name)
    on_node = Counter(p.cluster for p in plans if p.is_vm and p.cluster)
    totals = Counter(kkp_cluster(v.namespace) for v in vmi_views.values())
    clusters = [ClusterImpact(c, n, totals[c]) for c, n in sorted(on_node.items())]
    warnings = []
    for impact in clusters:
        if impact.on_node == impact.total:
            warnings.append(
                f"every VM of user cluster {impact.cluster} ({impact.total}) is on {node}"
            )
    if not capacity.fits:
        warnings.append(f"the other nodes cannot take {', '.join(capacity.unplaced)}")
    settings = migration_settings(kubevirt)
    return DrainPlan(
        node=node,
        cordoned=by_name[node].unschedulable,
        pods=plans,
        capacity=capacity,
        clusters=clusters,
        estimate=estimate_duration(plans, settings),
        warnings=warnings,
        migrations=settings,
    )


async def _objects(conn: Connection, cache: ClusterCache, kind: kinds.Kind) -> list[dict]:
    """From the cache when it watches the kind, else one LIST (the headless drain keeps
    its watches to what it follows)."""
    if cache.has(kind):
        return cache.items(kind)
    return (await conn.get_json(kind.path())).get("items") or []


async def make_plan(
    conn: Connection, cache: ClusterCache, node: str, options: PlanOptions | None = None
) -> DrainPlan:
    """The plan from the live cache plus fresh reads: the node's pods in full (the cache
    trims affinity and volumes away), the PodDisruptionBudgets, and any kind the cache lacks."""
    node_pods = await conn.get_json(kinds.PODS.path(), {"fieldSelector": f"spec.nodeName={node}"})
    warnings = []
    try:
        pdbs = (await conn.get_json(kinds.PDBS.path())).get("items") or []
    except Forbidden as exc:
        pdbs = []
        warnings.append(f"PodDisruptionBudgets not checked: {exc}")
    kubevirts = await _objects(conn, cache, kinds.KUBEVIRTS)
    plan = build_plan(
        node,
        nodes=await _objects(conn, cache, kinds.NODES),
        pods=cache.items(kinds.PODS),
        node_pods=node_pods.get("items") or [],
        vmis=cache.items(kinds.VMIS),
        vms=await _objects(conn, cache, kinds.VMS),
        pdbs=pdbs,
        kubevirt=kubevirts[0] if kubevirts else None,
        options=options,
    )
    plan.warnings[:0] = warnings
    return plan

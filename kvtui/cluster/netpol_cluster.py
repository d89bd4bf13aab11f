"""The NetworkPolicies of an infra cluster as KKP sees them: where each one comes from, what it
selects, and where a namespace has drifted from its datacenter's configuration.

KKP reconciles `cluster-isolation` and `allow-kubevirt-importer` (fact sheet §2.1) and every
`customNetworkPolicies` entry, spec verbatim (§2.3), into each user cluster's infra namespace.
So for a `cluster-<id>` namespace the datacenter says exactly which policies should be there
and what they say; a policy that reads otherwise (edited by hand, or left behind after the
datacenter changed) or one that is missing is drift. Everything here is read through the
Connection; the explainer itself (`netpol`) stays pure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kvtui.cluster import kinds
from kvtui.cluster.connection import Connection
from kvtui.cluster.datacenter import Datacenter, infra_namespaces, list_datacenters
from kvtui.cluster.datacenter_fields import DEFAULT_POLICY_NAMES
from kvtui.cluster.errors import Forbidden, NotFound
from kvtui.cluster.netpol_endpoints import namespace_labels
from kvtui.cluster.netpol_kkp import (
    CUSTOM,
    KKP_DEFAULT,
    OTHER,
    expected_policies,
    spec_differences,
)
from kvtui.cluster.netpol_sentences import rule_sentences, spec_of
from kvtui.cluster.placement import label_selector_matches

NETWORK_POLICIES = kinds.Kind("NetworkPolicy", "networking.k8s.io", "v1", "networkpolicies", True)
SERVICES = kinds.Kind("Service", "", "v1", "services", True)

ORIGIN_TEXT = {KKP_DEFAULT: "KKP default", CUSTOM: "custom (DC)", OTHER: "other"}
EE_ISOLATION_PREFIX = "cluster-isolation-"  # §2.2: one per cluster in the namespacedMode namespace
FINISHED_PHASES = ("Succeeded", "Failed")
DOMAIN_ANNOTATION = "kubevirt.io/domain"  # a virt-launcher pod's VMI (= VM) name (§5.7)


@dataclass(frozen=True)
class UserCluster:
    """A KKP Cluster of a KubeVirt datacenter, and where its VMs and policies live."""

    id: str
    name: str
    datacenter: str
    namespace: str
    address: str  # status.address.ip: cluster-isolation's rule 3 (empty until known)


@dataclass
class NetpolWorld:
    """One reading of everything the policies, the explainer and the fix need."""

    policies: list[dict[str, Any]]
    namespaces: dict[str, dict[str, str]]  # name -> labels, as `explain` takes them
    pods: list[dict[str, Any]]  # the pods that run or will (finished ones are left out)
    services: list[dict[str, Any]]
    datacenters: list[Datacenter] = field(default_factory=list)
    clusters: list[UserCluster] = field(default_factory=list)
    seed_note: str = ""  # why the datacenters are unknown (origins then go by name only)

    def cluster_of(self, namespace: str) -> UserCluster | None:
        return next((c for c in self.clusters if c.namespace == namespace), None)

    def datacenter(self, name: str) -> Datacenter | None:
        return next((dc for dc in self.datacenters if dc.ref.name == name), None)

    def pods_in(self, namespace: str) -> list[dict[str, Any]]:
        return [p for p in self.pods if _meta(p).get("namespace") == namespace]


@dataclass(frozen=True)
class PolicyState:
    """A policy as found (or, `policy` None, as the datacenter says it should be found)."""

    namespace: str
    name: str
    origin: str
    policy: dict[str, Any] | None
    expected: Mapping[str, Any] | None  # the spec the datacenter produces here; None: none
    datacenter: str = ""
    cluster: str = ""
    selected: tuple[dict[str, Any], ...] = ()
    drift: str = ""  # "" when the namespace is as its datacenter says

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)

    @property
    def missing(self) -> bool:
        return self.policy is None

    @property
    def spec(self) -> Mapping[str, Any]:
        return spec_of(self.policy) if self.policy is not None else (self.expected or {})

    def sentences(self) -> list[str]:
        return rule_sentences(self.spec)


# -- reading -------------------------------------------------------------------------------
def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


async def _items(conn: Connection, kind: kinds.Kind, namespace: str | None) -> list[dict]:
    return (await conn.get_json(kind.path(namespace))).get("items") or []


async def read_world(
    conn: Connection, seed_conn: Connection | None = None, namespace: str | None = None
) -> NetpolWorld:
    """Policies, namespaces, pods and Services of the infra cluster (one namespace or all), and
    the datacenters and user clusters from the Seed (`seed_conn`, default: `conn`).

    A cluster without KKP's kinds, or a user who may not read Seeds, still gets the policies:
    origins then go by name, and `seed_note` says why drift is not checked.
    """
    policies, pods, services = await asyncio.gather(
        _items(conn, NETWORK_POLICIES, namespace),
        _items(conn, kinds.PODS, namespace),
        _items(conn, SERVICES, namespace),
    )
    try:
        namespaces = namespace_labels(await _items(conn, kinds.NAMESPACES, None))
    except Forbidden:  # the labels stay unknown: namespaceSelectors see only the name label
        namespaces = {}
    for obj in (*policies, *pods):
        namespaces.setdefault(_meta(obj).get("namespace", ""), {})
    world = NetpolWorld(
        policies=sorted(policies, key=lambda p: (_meta(p).get("namespace"), _meta(p)["name"])),
        namespaces=namespaces,
        pods=[p for p in pods if (p.get("status") or {}).get("phase") not in FINISHED_PHASES],
        services=services,
    )
    seed = seed_conn or conn
    try:
        datacenters = await list_datacenters(seed)
        clusters = await _items(seed, kinds.CLUSTERS, None)
    except (NotFound, Forbidden) as exc:
        world.seed_note = f"datacenters unknown ({exc}): origins by name, no drift check"
        return world
    world.datacenters = datacenters
    world.clusters = user_clusters(datacenters, clusters)
    return world


def user_clusters(
    datacenters: Iterable[Datacenter], clusters: Iterable[Mapping[str, Any]]
) -> list[UserCluster]:
    """The KKP Clusters of the KubeVirt datacenters, with their infra namespace and address."""
    by_name = {c["metadata"]["name"]: c for c in clusters}
    found = []
    for dc in datacenters:
        for cluster_id in dc.clusters:
            raw = by_name.get(cluster_id) or {}
            status = raw.get("status") or {}
            [namespace] = infra_namespaces(dc.kubevirt, [cluster_id])
            found.append(
                UserCluster(
                    id=cluster_id,
                    name=str((raw.get("spec") or {}).get("humanReadableName") or cluster_id),
                    datacenter=dc.ref.name,
                    namespace=str(namespace),
                    address=str((status.get("address") or {}).get("ip") or ""),
                )
            )
    return found


# -- the states the pane and `netpol list` show --------------------------------------------
def selected_pods(world: NetpolWorld, namespace: str, spec: Mapping[str, Any]) -> list[dict]:
    """The pods of `namespace` a spec's podSelector picks (a missing one picks every pod), one
    per VM: a migrating VM has two running virt-launcher pods, the source stands for it."""
    selector = spec.get("podSelector") or {}
    return one_pod_per_vm(
        p
        for p in world.pods_in(namespace)
        if label_selector_matches(_meta(p).get("labels") or {}, selector)
    )


def vm_name(pod: Mapping[str, Any]) -> str:
    """The VM (= VMI) a virt-launcher pod runs, "" for any other pod."""
    meta = _meta(pod)
    if (meta.get("labels") or {}).get("kubevirt.io") != "virt-launcher":
        return ""
    return str((meta.get("annotations") or {}).get(DOMAIN_ANNOTATION) or "")


def launcher_rank(pod: Mapping[str, Any]) -> tuple[bool, bool, str]:
    """Which of a VM's pods stands for it: a running one, the migration source before the
    target (KubeVirt labels the target with its migration job)."""
    labels = _meta(pod).get("labels") or {}
    running = (pod.get("status") or {}).get("phase") == "Running"
    return (not running, "kubevirt.io/migrationJobUID" in labels, str(_meta(pod).get("name")))


def one_pod_per_vm(pods: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The pods in order, each VM's pods folded into the one that stands for it."""
    kept: dict[str, dict[str, Any]] = {}
    for pod in pods:
        key = vm_name(pod) and f"vm/{_meta(pod).get('namespace')}/{vm_name(pod)}"
        key = key or f"pod/{_meta(pod).get('namespace')}/{_meta(pod).get('name')}"
        if key not in kept or launcher_rank(pod) < launcher_rank(kept[key]):
            kept[key] = pod
    return list(kept.values())


def pod_label(pod: Mapping[str, Any]) -> str:
    """`vm/<name>` for a virt-launcher pod (a VM is its pod), the pod's name otherwise."""
    vm = vm_name(pod)
    return f"vm/{vm}" if vm else str(_meta(pod).get("name", ""))


def selection_text(labels: Iterable[str]) -> str:
    """`5 VMs`, `2 VMs, 1 pod`, `none`, from pod_label()s."""
    labels = list(labels)
    vms = sum(label.startswith("vm/") for label in labels)
    others = len(labels) - vms
    parts = [f"{vms} VM{'s' if vms != 1 else ''}"] if vms else []
    if others:
        parts.append(f"{others} pod{'s' if others != 1 else ''}")
    return ", ".join(parts) or "none"


def policy_states(world: NetpolWorld, namespace: str | None = None) -> list[PolicyState]:
    """Every policy with its origin, selection and drift, and every missing one, in
    namespace/name order; `namespace` keeps one namespace."""
    expected = _expected_by_namespace(world)
    states = []
    for policy in world.policies:
        ns = _meta(policy).get("namespace", "")
        if not namespace or ns == namespace:
            states.append(_found(world, policy, expected.get(ns)))
    seen = {s.key for s in states}
    for ns, names in expected.items():
        if namespace and ns != namespace:
            continue
        cluster = world.cluster_of(ns)
        dc = cluster.datacenter if cluster else ""
        for name, (origin, spec) in names.items():
            if (ns, name) in seen:
                continue
            what = "KKP's default" if origin == KKP_DEFAULT else "a customNetworkPolicies entry"
            pods = tuple(selected_pods(world, ns, spec))
            drift = f"missing: datacenter {dc} has it ({what})"
            states.append(PolicyState(ns, name, origin, None, spec, dc, _id(cluster), pods, drift))
    return sorted(states, key=lambda s: s.key)


def _id(cluster: UserCluster | None) -> str:
    return cluster.id if cluster else ""


def _found(
    world: NetpolWorld, policy: dict[str, Any], expected: dict[str, tuple[str, dict]] | None
) -> PolicyState:
    """A policy that exists, against what its namespace's datacenter produces (if any)."""
    ns, name = _meta(policy).get("namespace", ""), _meta(policy).get("name", "")
    cluster = world.cluster_of(ns)
    dc = cluster.datacenter if cluster else ""
    origin, spec = (expected or {}).get(name, (_origin_by_name(name), None))
    drift = ""
    if spec is not None:
        parts = spec_differences(spec_of(policy), spec)
        if parts:
            drift = f"differs from datacenter {dc}: {', '.join(parts)}"
    elif expected is not None and origin == KKP_DEFAULT and name in DEFAULT_POLICY_NAMES:
        drift = f"left behind: datacenter {dc} no longer produces it"
    pods = tuple(selected_pods(world, ns, spec_of(policy)))
    return PolicyState(ns, name, origin, policy, spec, dc, _id(cluster), pods, drift)


def _origin_by_name(name: str) -> str:
    if name in DEFAULT_POLICY_NAMES or name.startswith(EE_ISOLATION_PREFIX):
        return KKP_DEFAULT
    return OTHER


def _expected_by_namespace(world: NetpolWorld) -> dict[str, dict[str, tuple[str, dict]]]:
    """Namespace -> what its datacenter produces there (several clusters may share one)."""
    out: dict[str, dict[str, tuple[str, dict]]] = {}
    for cluster in world.clusters:
        dc = world.datacenter(cluster.datacenter)
        if dc is None:
            continue
        out.setdefault(cluster.namespace, {}).update(
            expected_policies(dc.kubevirt, cluster.address)
        )
    return out

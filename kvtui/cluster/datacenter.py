"""KKP's KubeVirt datacenters: read them from the Seeds, summarize them, and say whom a change
reaches.

A datacenter is `spec.datacenters.<name>` of a Seed (fact sheet §1.1); its `spec.kubevirt`
block configures every user cluster whose `Cluster.spec.cloud.dc` names it. The block is kept
as the raw dict the server sent, copied, so an editor can change it without touching the Seed.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kvtui.cluster import datacenter_fields as dcf
from kvtui.cluster import kinds
from kvtui.cluster.connection import Connection
from kvtui.cluster.datacenter_fields import FIELDS
from kvtui.cluster.datacenter_validation import volume_modes
from kvtui.cluster.errors import Forbidden, NotFound
from kvtui.cluster.schema import FieldSpec

__all__ = [
    "CLUSTERS",
    "FIELDS",
    "SEEDS",
    "Datacenter",
    "DatacenterRef",
    "DatacenterSummary",
    "FieldSpec",
    "StorageClassInfo",
    "get_datacenter",
    "impact",
    "infra_namespaces",
    "infra_storage_classes",
    "list_datacenters",
    "summarize",
]

SEEDS = kinds.SEEDS
CLUSTERS = kinds.CLUSTERS
DEFAULT_SHARED_NAMESPACE = "kubevirt-workload"  # §1.4 namespacedMode.name CRD default
# Fields the summary shows in their own columns; the rest go into `flags`.
_SUMMARIZED = frozenset(
    {
        "dnsPolicy",
        "dnsConfig",
        "images",
        "infraStorageClasses",
        "customNetworkPolicies",
        "vmEvictionStrategy",
    }
)


@dataclass(frozen=True)
class DatacenterRef:
    """Where a datacenter lives: the Seed and the key under its `spec.datacenters`."""

    seed_namespace: str
    seed: str
    name: str


@dataclass
class Datacenter:
    """One KubeVirt datacenter as read, with the Seed version a change must start from."""

    ref: DatacenterRef
    country: str
    location: str
    kubevirt: dict[str, Any]  # the raw spec.kubevirt block (a deep copy)
    resource_version: str  # the Seed's metadata.resourceVersion when read
    clusters: list[str] = field(default_factory=list)  # KKP Clusters with spec.cloud.dc == name


@dataclass
class StorageClassInfo:
    """An infra storage class of the block, next to what the infra cluster says of it."""

    name: str
    default: bool
    exists: bool
    binding_mode: str  # the infra StorageClass's (Immediate when it says none), else the block's
    provisioner: str  # "" when the class does not exist
    volume_mode: str  # the modes CDI offers, preferred first ("Block, Filesystem"); "" unknown


@dataclass
class DatacenterSummary:
    """What an admin checks first about a datacenter, with KKP's defaults filled in."""

    name: str
    seed: str
    dns_policy: str
    nameservers: list[str]
    images: dict[str, list[str]]  # OS -> versions
    storage_classes: list[StorageClassInfo]
    policies: list[str]  # custom NetworkPolicy names
    eviction_strategy: str  # effective: "" reads as External
    flags: dict[str, Any]  # every other field: booleans with their defaults, objects when set
    clusters: list[str]


# -- reading -------------------------------------------------------------------------------
def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _seed_key(seed: Mapping[str, Any]) -> tuple[str, str]:
    return seed["metadata"].get("namespace", ""), seed["metadata"]["name"]


async def _read(seed_conn: Connection) -> tuple[list[Datacenter], set[str]]:
    """The KubeVirt datacenters of every Seed, and the names of all other datacenters."""
    seeds = (await seed_conn.get_json(SEEDS.path())).get("items") or []
    clusters = (await seed_conn.get_json(CLUSTERS.path())).get("items") or []
    by_dc: dict[str, list[str]] = {}
    for cluster in clusters:
        dc_name = _mapping(_mapping(cluster.get("spec")).get("cloud")).get("dc")
        if isinstance(dc_name, str):
            by_dc.setdefault(dc_name, []).append(cluster["metadata"]["name"])
    found: list[Datacenter] = []
    others: set[str] = set()
    for seed in sorted(
        seeds, key=lambda s: (s["metadata"].get("namespace", ""), s["metadata"]["name"])
    ):
        meta = seed["metadata"]
        datacenters = _mapping(_mapping(seed.get("spec")).get("datacenters"))
        for name in sorted(datacenters):
            dc = _mapping(datacenters[name])
            block = _mapping(dc.get("spec")).get("kubevirt")
            if not isinstance(block, dict):
                others.add(name)
                continue
            found.append(
                Datacenter(
                    ref=DatacenterRef(meta.get("namespace", ""), meta["name"], name),
                    country=str(dc.get("country") or ""),
                    location=str(dc.get("location") or ""),
                    kubevirt=copy.deepcopy(block),
                    resource_version=str(meta.get("resourceVersion") or ""),
                    clusters=sorted(by_dc.get(name, ())),
                )
            )
    return found, others


async def list_datacenters(seed_conn: Connection) -> list[Datacenter]:
    """Every KubeVirt datacenter of every Seed, with the user clusters that use it."""
    found, _ = await _read(seed_conn)
    return found


async def get_datacenter(seed_conn: Connection, name: str) -> Datacenter:
    """One KubeVirt datacenter by name (names are unique across Seeds, §1.1)."""
    found, others = await _read(seed_conn)
    for dc in found:
        if dc.ref.name == name:
            return dc
    if name in others:
        raise LookupError(f'datacenter "{name}" is not a KubeVirt datacenter')
    raise LookupError(f'datacenter "{name}" not found')


async def infra_storage_classes(infra_conn: Connection) -> list[dict]:
    """The infra cluster's StorageClasses, each with its CDI StorageProfile's
    `claimPropertySets` copied in (the volume modes CDI offers), where CDI says."""
    classes = (await infra_conn.get_json(kinds.STORAGE_CLASSES.path())).get("items") or []
    try:
        profiles = (await infra_conn.get_json(kinds.STORAGE_PROFILES.path())).get("items") or []
    except (NotFound, Forbidden):  # no CDI, or no right to read it: modes stay unknown
        profiles = []
    claims = {
        p["metadata"]["name"]: _list(_mapping(p.get("status")).get("claimPropertySets"))
        for p in profiles
    }
    result = []
    for storage_class in classes:
        storage_class = dict(storage_class)
        sets = claims.get(storage_class["metadata"]["name"])
        if sets:
            storage_class["claimPropertySets"] = copy.deepcopy(sets)
        result.append(storage_class)
    return result


# -- summary -------------------------------------------------------------------------------
def summarize(dc: Datacenter, infra_storage_classes: Iterable[dict]) -> DatacenterSummary:
    """The datacenter at a glance; storage classes are matched against the infra cluster's."""
    block = dc.kubevirt
    infra = {_mapping(sc.get("metadata")).get("name"): sc for sc in infra_storage_classes}
    operating_systems = _mapping(
        _mapping(_mapping(block.get("images")).get("http")).get("operatingSystems")
    )
    images = {
        str(os): [str(version) for version in _mapping(versions)]
        for os, versions in operating_systems.items()
    }
    storage = []
    for item in _list(block.get("infraStorageClasses")):
        item = _mapping(item)
        name = item.get("name")
        if not isinstance(name, str):
            continue
        found = infra.get(name)
        if found is not None:
            binding = found.get("volumeBindingMode") or "Immediate"
        else:
            binding = item.get("volumeBindingMode") or "Immediate"
        storage.append(
            StorageClassInfo(
                name=name,
                default=item.get("isDefaultClass") is True,
                exists=found is not None,
                binding_mode=str(binding),
                provisioner=str(found.get("provisioner") or "") if found else "",
                volume_mode=", ".join(volume_modes(found)) if found else "",
            )
        )
    flags: dict[str, Any] = {}
    for spec in FIELDS:
        if spec.name in _SUMMARIZED:
            continue
        value = block.get(spec.name)
        if spec.kind == "bool":
            flags[spec.name] = spec.default if value is None else value
        elif value is not None:
            flags[spec.name] = copy.deepcopy(value)
    return DatacenterSummary(
        name=dc.ref.name,
        seed=dc.ref.seed,
        dns_policy=str(dcf.effective(block, "dnsPolicy")),
        nameservers=[str(n) for n in _nameservers(block)],
        images=images,
        storage_classes=storage,
        policies=list(_custom_policies(block)),
        eviction_strategy=str(block.get("vmEvictionStrategy") or dcf.DEFAULT_EVICTION_STRATEGY),
        flags=flags,
        clusters=list(dc.clusters),
    )


def _nameservers(block: Mapping[str, Any]) -> list[Any]:
    return _list(_mapping(block.get("dnsConfig")).get("nameservers"))


def _custom_policies(block: Mapping[str, Any]) -> dict[str, Any]:
    """Custom policy name -> spec, in the block's order."""
    policies: dict[str, Any] = {}
    for item in _list(block.get("customNetworkPolicies")):
        name = _mapping(item).get("name")
        if isinstance(name, str):
            policies.setdefault(name, _mapping(item).get("spec"))
    return policies


# -- impact --------------------------------------------------------------------------------
def infra_namespaces(block: Mapping[str, Any], clusters: Iterable[str]) -> list[str]:
    """Where KKP puts the clusters' VMs and policies: `cluster-<id>` each, or in namespacedMode
    the one shared namespace (fact sheet §1.5)."""
    clusters = list(clusters)
    mode = _mapping(block.get("namespacedMode"))
    if mode.get("enabled") is True:
        return [str(mode.get("name") or DEFAULT_SHARED_NAMESPACE)] if clusters else []
    return [f"cluster-{cluster}" for cluster in clusters]


def _where(namespaces: list[str]) -> str:
    return ", ".join(namespaces) if namespaces else "no namespace yet"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def impact(dc: Datacenter, old: Mapping, new: Mapping) -> list[str]:
    """What changing the block from `old` to `new` reaches, one readable line each: the fields,
    the user clusters, and the NetworkPolicies (by name and namespace) that will change. No
    change, no lines."""
    old, new = _mapping(old), _mapping(new)
    if old == new:
        return []
    known = [spec.name for spec in FIELDS]
    changed = [name for name in known if old.get(name) != new.get(name)]
    changed += sorted(k for k in {*old, *new} - set(known) if old.get(k) != new.get(k))
    lines = [f"changes {', '.join(changed)}"]
    name = dc.ref.name
    if dc.clusters:
        clusters = _count(len(dc.clusters), "user cluster")
        lines.append(f"affects {clusters} of datacenter {name}: {', '.join(dc.clusters)}")
    else:
        lines.append(f"no user cluster uses datacenter {name}: only clusters created later get it")
    lines += _custom_policy_impact(dc, old, new)
    lines += _default_policy_impact(dc, old, new)
    lines += _storage_impact(old, new)
    lines += _template_impact(dc, old, new)
    return lines


def _custom_policy_impact(dc: Datacenter, old: Mapping, new: Mapping) -> list[str]:
    """§2.3: one NetworkPolicy per entry in every infra namespace; KKP never deletes one."""
    before, after = _custom_policies(old), _custom_policies(new)
    old_ns = _where(infra_namespaces(old, dc.clusters))
    new_ns = _where(infra_namespaces(new, dc.clusters))
    lines = []
    for policy, spec in after.items():
        if policy not in before:
            lines.append(f'NetworkPolicy "{policy}" is created in {new_ns}')
        elif before[policy] != spec:
            lines.append(f'NetworkPolicy "{policy}" changes in {new_ns}')
    for policy in before:
        if policy not in after:
            lines.append(
                f'NetworkPolicy "{policy}" leaves the datacenter, but KKP does not delete it: it '
                f"stays in {old_ns} until deleted by hand"
            )
    return lines


def _defaults_on(block: Mapping[str, Any]) -> bool:
    """§2.1: the defaults exist unless disabled explicitly or in namespacedMode."""
    namespaced = _mapping(block.get("namespacedMode")).get("enabled") is True
    return block.get("enableDefaultNetworkPolicies") is not False and not namespaced


def _default_policy_impact(dc: Datacenter, old: Mapping, new: Mapping) -> list[str]:
    defaults = " and ".join(f'"{p}"' for p in dcf.DEFAULT_POLICY_NAMES)
    was, will = _defaults_on(old), _defaults_on(new)
    if was and not will:
        where = _where(infra_namespaces(old, dc.clusters))
        return [f"NetworkPolicies {defaults}: KKP stops reconciling them in {where}"]
    if will and not was:
        where = _where(infra_namespaces(new, dc.clusters))
        return [f"NetworkPolicies {defaults} are created in {where}"]
    lines = []
    if will and _nameservers(old) != _nameservers(new):
        # §2.1 rule 4: one DNS egress rule per nameserver.
        servers = ", ".join(map(str, _nameservers(new))) or "none"
        where = _where(infra_namespaces(new, dc.clusters))
        lines.append(
            f'NetworkPolicy "cluster-isolation" changes its DNS egress (nameservers: {servers}) '
            f"in {where}"
        )
    lines += _isolation_impact(dc, old, new)
    return lines


def _isolation(block: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """What shapes the EE per-cluster isolation policy (§2.2), None when there is none."""
    network = _mapping(block.get("providerNetwork"))
    policy = _mapping(network.get("networkPolicy"))
    namespaced = _mapping(block.get("namespacedMode")).get("enabled") is True
    enabled = policy.get("enabled") is True or network.get("networkPolicyEnabled") is True
    if not (namespaced and network and enabled):
        return None
    mode = policy.get("mode") or "allow"
    dns = tuple(map(str, _nameservers(block))) if mode == "deny" else ()
    return (mode, dns)


def _isolation_impact(dc: Datacenter, old: Mapping, new: Mapping) -> list[str]:
    before, after = _isolation(old), _isolation(new)
    if before == after:
        return []
    names = ", ".join(f"cluster-isolation-{c}" for c in dc.clusters) or "cluster-isolation-<id>"
    if after is None:
        verb, block = "are no longer reconciled", old
    else:
        verb, block = ("are created" if before is None else "change"), new
    return [f"NetworkPolicies {names} {verb} in {_where(infra_namespaces(block, dc.clusters))}"]


def _storage_impact(old: Mapping, new: Mapping) -> list[str]:
    """§1.4: each infra class becomes a tenant StorageClass `kubevirt-<name>`."""

    def classes(block: Mapping) -> dict[str, bool]:
        items = (_mapping(item) for item in _list(block.get("infraStorageClasses")))
        return {i["name"]: i.get("isDefaultClass") is True for i in items if "name" in i}

    before, after = classes(old), classes(new)
    lines = [
        f'tenant StorageClass "kubevirt-{n}" is offered to the user clusters'
        for n in after
        if n not in before
    ]
    lines += [
        f'tenant StorageClass "kubevirt-{n}" is no longer offered to the user clusters'
        for n in before
        if n not in after
    ]
    old_default = next((n for n, d in before.items() if d), None)
    new_default = next((n for n, d in after.items() if d), None)
    if old_default != new_default:
        shown = f'"kubevirt-{new_default}"' if new_default else "none"
        lines.append(f"the user clusters' default StorageClass becomes {shown}")
    return lines


def _template_impact(dc: Datacenter, old: Mapping, new: Mapping) -> list[str]:
    """§3: KKP's standard instance types and preference, unless disabled."""
    where = _where(infra_namespaces(new, dc.clusters))
    lines = []
    for key, what in (
        ("disableDefaultInstanceTypes", "instance types standard-2/4/8"),
        ("disableDefaultPreferences", "preference sockets-advantage"),
    ):
        was, will = old.get(key) is True, new.get(key) is True
        if will and not was:
            lines.append(f"KKP stops reconciling the {what} in {where}")
        elif was and not will:
            lines.append(f"KKP creates the {what} in {where}")
    return lines

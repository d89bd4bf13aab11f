"""KubeVirt instance types and preferences: read them, say which are KKP's standard set, and
find the VMs that use each.

Four kinds share one API group (fact sheet §3.1): namespaced `VirtualMachineInstancetype` /
`VirtualMachinePreference` and their cluster-scoped twins. KKP reconciles its standard set
(standard-2/4/8, sockets-advantage) as the *namespaced* kinds into every user cluster's infra
namespace unless the datacenter disables it (§3, §1.4); admins add cluster-scoped ones for all.
Objects stay the raw dicts the server sent; `Template` is a thin view over one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

from kvtui.cluster import kinds
from kvtui.cluster.connection import Connection
from kvtui.cluster.datacenter import Datacenter, infra_namespaces
from kvtui.cluster.datacenter_apply import same_json
from kvtui.cluster.errors import Forbidden, NotFound
from kvtui.cluster.formats import parse_quantity
from kvtui.cluster.views import _View

GROUP = "instancetype.kubevirt.io"
# Newest first: v1beta1 since KubeVirt 1.x; v1alpha1/2 are all KubeVirt < 1.6 may serve (§3).
VERSIONS = ("v1beta1", "v1alpha2", "v1alpha1")

INSTANCETYPE = kinds.INSTANCETYPES.name
CLUSTER_INSTANCETYPE = kinds.CLUSTER_INSTANCETYPES.name
PREFERENCE = kinds.PREFERENCES.name
CLUSTER_PREFERENCE = kinds.CLUSTER_PREFERENCES.name
KINDS: dict[str, kinds.Kind] = {
    k.name: k
    for k in (
        kinds.INSTANCETYPES,
        kinds.CLUSTER_INSTANCETYPES,
        kinds.PREFERENCES,
        kinds.CLUSTER_PREFERENCES,
    )
}

# KKP's standard set, spec for spec as its manifests have it (§3); no labels, no annotations.
STANDARD_INSTANCETYPES: dict[str, dict[str, Any]] = {
    "standard-2": {"cpu": {"guest": 2}, "memory": {"guest": "8Gi"}},
    "standard-4": {"cpu": {"guest": 4}, "memory": {"guest": "16Gi"}},
    "standard-8": {"cpu": {"guest": 8}, "memory": {"guest": "32Gi"}},
}
STANDARD_PREFERENCES: dict[str, dict[str, Any]] = {
    "sockets-advantage": {"cpu": {"preferredCPUTopology": "preferSockets"}},
}

# preferredCPUTopology: the v1beta1 spellings, and the deprecated ones they replace (§3.1).
TOPOLOGIES = ("sockets", "cores", "threads", "spread", "any")
DEPRECATED_TOPOLOGIES = {
    "preferSockets": "sockets",
    "preferCores": "cores",
    "preferThreads": "threads",
    "preferSpread": "spread",
    "preferAny": "any",
}
DEFAULT_TOPOLOGY = "sockets"  # what KubeVirt applies when a preference names none

STANDARD = "standard"
MODIFIED = "modified"


class TemplateKey(NamedTuple):
    """One instance type or preference: its Kind, namespace ("" when cluster-scoped), name."""

    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{KINDS[self.kind].plural if self.kind in KINDS else self.kind} {where}{self.name}"


VmKey = tuple[str, str]  # (namespace, name)


# -- the view ------------------------------------------------------------------------------
def normalized_topology(value: str) -> str:
    """A preferredCPUTopology in the v1beta1 spelling (`preferSockets` reads as `sockets`)."""
    return DEPRECATED_TOPOLOGIES.get(value, value)


class Template(_View):
    """An instance type or a preference, of either scope, as the server sent it."""

    __slots__ = ()

    @property
    def kind(self) -> str:
        return self.raw.get("kind") or ""

    @property
    def template_key(self) -> TemplateKey:
        return TemplateKey(self.kind, "" if self.cluster_scoped else self.namespace, self.name)

    @property
    def cluster_scoped(self) -> bool:
        return self.kind in (CLUSTER_INSTANCETYPE, CLUSTER_PREFERENCE)

    @property
    def is_preference(self) -> bool:
        return self.kind in (PREFERENCE, CLUSTER_PREFERENCE)

    @property
    def scope(self) -> str:
        return "cluster" if self.cluster_scoped else "namespaced"

    @property
    def api_version(self) -> str:
        return self.raw.get("apiVersion") or ""

    @property
    def resource_version(self) -> str:
        return self.metadata.get("resourceVersion") or ""

    def _spec_part(self, part: str) -> dict[str, Any]:
        value = self.spec.get(part)
        return value if isinstance(value, dict) else {}

    @property
    def vcpus(self) -> int | None:
        """`spec.cpu.guest` of an instance type; None for a preference or when missing."""
        guest = self._spec_part("cpu").get("guest")
        return guest if isinstance(guest, int) and not isinstance(guest, bool) else None

    @property
    def memory(self) -> str:
        """`spec.memory.guest` as written (`8Gi`); "" when missing."""
        guest = self._spec_part("memory").get("guest")
        return str(guest) if guest is not None else ""

    @property
    def memory_bytes(self) -> int:
        """`spec.memory.guest` in bytes; 0 when missing or malformed."""
        try:
            return int(parse_quantity(self.memory))
        except ValueError:
            return 0

    @property
    def dedicated_cpu(self) -> bool:
        return self._spec_part("cpu").get("dedicatedCPUPlacement") is True

    @property
    def isolate_emulator_thread(self) -> bool:
        return self._spec_part("cpu").get("isolateEmulatorThread") is True

    @property
    def hugepages(self) -> str:
        """`spec.memory.hugepages.pageSize` (`2Mi`, `1Gi`); "" when not backed by hugepages."""
        pages = self._spec_part("memory").get("hugepages")
        return str((pages or {}).get("pageSize") or "") if isinstance(pages, dict) else ""

    @property
    def max_sockets(self) -> int | None:
        value = self._spec_part("cpu").get("maxSockets")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def preferred_topology(self) -> str:
        """`spec.cpu.preferredCPUTopology` as written, old spelling included; "" when unset."""
        return str(self._spec_part("cpu").get("preferredCPUTopology") or "")

    @property
    def topology(self) -> str:
        """The CPU topology a preference makes KubeVirt use, in the v1beta1 spelling."""
        if not self.is_preference:
            return ""
        return normalized_topology(self.preferred_topology) or DEFAULT_TOPOLOGY


# -- KKP's standard set --------------------------------------------------------------------
def standard_spec(kind: str, name: str) -> dict[str, Any] | None:
    """KKP's spec for a standard name of that kind; None when KKP has no such object (KKP
    makes the namespaced kinds only)."""
    if kind == INSTANCETYPE:
        return STANDARD_INSTANCETYPES.get(name)
    if kind == PREFERENCE:
        return STANDARD_PREFERENCES.get(name)
    return None


def _comparable(spec: Mapping[str, Any]) -> Any:
    """A spec with its meaning kept and its spelling dropped: quantities as numbers, CPU
    topologies in the v1beta1 spelling."""
    out: dict[str, Any] = {k: v for k, v in spec.items()}
    memory = out.get("memory")
    if isinstance(memory, Mapping) and "guest" in memory:
        try:
            guest: Any = parse_quantity(str(memory["guest"]))
        except ValueError:
            guest = memory["guest"]
        out["memory"] = {**memory, "guest": guest}
    cpu = out.get("cpu")
    if isinstance(cpu, Mapping) and isinstance(cpu.get("preferredCPUTopology"), str):
        out["cpu"] = {
            **cpu,
            "preferredCPUTopology": normalized_topology(cpu["preferredCPUTopology"]),
        }
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, Decimal) or isinstance(b, Decimal):
        return a == b
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return same_json(a, b)


def standard_status(template: Template) -> str:
    """`STANDARD` for one of KKP's standard set as KKP makes it, `MODIFIED` for a namesake
    whose spec differs, "" for anything else (cluster-scoped kinds included)."""
    wanted = standard_spec(template.kind, template.name)
    if wanted is None:
        return ""
    return STANDARD if _same(_comparable(template.spec), _comparable(wanted)) else MODIFIED


@dataclass(frozen=True)
class StandardPolicy:
    """What a datacenter tells KKP about its standard set, for one infra namespace."""

    datacenter: str
    instancetypes_disabled: bool
    preferences_disabled: bool


def standard_policies(datacenters: Iterable[Datacenter]) -> dict[str, StandardPolicy]:
    """Infra namespace -> its datacenter's disableDefaultInstanceTypes/Preferences (§1.4)."""
    policies: dict[str, StandardPolicy] = {}
    for dc in datacenters:
        policy = StandardPolicy(
            dc.ref.name,
            dc.kubevirt.get("disableDefaultInstanceTypes") is True,
            dc.kubevirt.get("disableDefaultPreferences") is True,
        )
        for namespace in infra_namespaces(dc.kubevirt, dc.clusters):
            policies[namespace] = policy
    return policies


def kkp_disabled(template: Template, policies: Mapping[str, StandardPolicy]) -> bool:
    """Whether this standard-named object sits where its datacenter tells KKP not to
    reconcile the standard set: KKP neither keeps nor repairs it there."""
    if standard_spec(template.kind, template.name) is None:
        return False
    policy = policies.get(template.namespace)
    if policy is None:
        return False
    return policy.preferences_disabled if template.is_preference else policy.instancetypes_disabled


def missing_standard(
    namespace: str, templates: Iterable[Template], policy: StandardPolicy | None = None
) -> list[TemplateKey]:
    """The standard objects `namespace` lacks, in KKP's order; a kind its datacenter disables
    is left out (KKP would not make it there either). A namesake counts as present."""
    present = {t.template_key for t in templates}
    wanted: list[TemplateKey] = []
    if policy is None or not policy.instancetypes_disabled:
        wanted += [TemplateKey(INSTANCETYPE, namespace, name) for name in STANDARD_INSTANCETYPES]
    if policy is None or not policy.preferences_disabled:
        wanted += [TemplateKey(PREFERENCE, namespace, name) for name in STANDARD_PREFERENCES]
    return [key for key in wanted if key not in present]


def standard_gaps(
    templates: Iterable[Template], datacenters: Iterable[Datacenter]
) -> dict[str, list[TemplateKey]]:
    """Each KKP user cluster's infra namespace that lacks some of the standard set -> what it
    lacks, by namespace: where "install the standard set" has work to do."""
    templates = list(templates)
    gaps: dict[str, list[TemplateKey]] = {}
    for namespace, policy in sorted(standard_policies(datacenters).items()):
        missing = missing_standard(namespace, templates, policy)
        if missing:
            gaps[namespace] = missing
    return gaps


# -- usage ---------------------------------------------------------------------------------
_REF_KINDS = {
    # KubeVirt compares the lower-cased kind with the Kind's singular and plural resource names;
    # an empty kind means the cluster-scoped one.
    "instancetype": {
        "": CLUSTER_INSTANCETYPE,
        "virtualmachineclusterinstancetype": CLUSTER_INSTANCETYPE,
        "virtualmachineclusterinstancetypes": CLUSTER_INSTANCETYPE,
        "virtualmachineinstancetype": INSTANCETYPE,
        "virtualmachineinstancetypes": INSTANCETYPE,
    },
    "preference": {
        "": CLUSTER_PREFERENCE,
        "virtualmachineclusterpreference": CLUSTER_PREFERENCE,
        "virtualmachineclusterpreferences": CLUSTER_PREFERENCE,
        "virtualmachinepreference": PREFERENCE,
        "virtualmachinepreferences": PREFERENCE,
    },
}


def _ref_key(ref: Any, what: str, vm_namespace: str) -> TemplateKey | None:
    if not isinstance(ref, Mapping) or not isinstance(ref.get("name"), str) or not ref["name"]:
        return None
    kind = _REF_KINDS[what].get(str(ref.get("kind") or "").lower())
    if kind is None:
        return None
    namespace = "" if kind in (CLUSTER_INSTANCETYPE, CLUSTER_PREFERENCE) else vm_namespace
    return TemplateKey(kind, namespace, ref["name"])


def vm_references(vm: Mapping[str, Any]) -> list[TemplateKey]:
    """The instance type and preference a VM uses: `spec.instancetype`/`spec.preference`, and
    `status.instancetypeRef`/`preferenceRef` (what is applied) when they name another."""
    meta = vm.get("metadata") or {}
    namespace = meta.get("namespace") or ""
    spec = vm.get("spec") or {}
    status = vm.get("status") or {}
    found: list[TemplateKey] = []
    for what, status_key in (("instancetype", "instancetypeRef"), ("preference", "preferenceRef")):
        for ref in (spec.get(what), status.get(status_key)):
            key = _ref_key(ref, what, namespace)
            if key is not None and key not in found:
                found.append(key)
    return found


@dataclass(frozen=True)
class Usage:
    """Which VMs use which template; `missing` holds references to templates not listed."""

    by_template: dict[TemplateKey, list[VmKey]]
    missing: dict[TemplateKey, list[VmKey]] = field(default_factory=dict)

    def users(self, key: TemplateKey) -> list[VmKey]:
        return self.by_template.get(key) or self.missing.get(key) or []

    def count(self, key: TemplateKey) -> int:
        return len(self.users(key))

    def counts(self) -> dict[TemplateKey, int]:
        return {key: len(vms) for key, vms in self.by_template.items()}


def usage(templates: Iterable[Template], vms: Iterable[Mapping[str, Any]]) -> Usage:
    """Every template with the VMs (namespace, name; sorted) that reference it."""
    by_template: dict[TemplateKey, list[VmKey]] = {t.template_key: [] for t in templates}
    missing: dict[TemplateKey, list[VmKey]] = {}
    for vm in vms:
        meta = vm.get("metadata") or {}
        vm_key = (meta.get("namespace") or "", meta.get("name") or "")
        for key in vm_references(vm):
            (by_template if key in by_template else missing).setdefault(key, []).append(vm_key)
    for users in (*by_template.values(), *missing.values()):
        users.sort()
    return Usage(by_template, missing)


# -- a row per template ----------------------------------------------------------------------
@dataclass(frozen=True)
class Entry:
    """A template with what the object alone cannot say: KKP status and who uses it."""

    template: Template
    standard: str  # STANDARD | MODIFIED | ""
    kkp_disabled: bool  # a standard name where the datacenter disables KKP's standard set
    users: tuple[VmKey, ...]


def entries(
    templates: Iterable[Template],
    vms: Iterable[Mapping[str, Any]],
    datacenters: Iterable[Datacenter] = (),
) -> list[Entry]:
    """One entry per template, in the order a table shows them: cluster-scoped first, then by
    namespace; instance types before preferences, then by name."""
    templates = list(templates)
    used = usage(templates, vms)
    policies = standard_policies(datacenters)
    ordered = sorted(
        templates, key=lambda t: (not t.cluster_scoped, t.namespace, t.is_preference, t.name)
    )
    return [
        Entry(t, standard_status(t), kkp_disabled(t, policies), tuple(used.users(t.template_key)))
        for t in ordered
    ]


# -- reading -------------------------------------------------------------------------------
def pick_version(group: Mapping[str, Any] | None) -> str | None:
    """The version to use from the group's discovery document: v1beta1 if served, else the
    newest alpha; None when the group serves none we know."""
    served = {str(v.get("version")) for v in (group or {}).get("versions") or () if v}
    return next((v for v in VERSIONS if v in served), None)


async def served_version(conn: Connection) -> str | None:
    """The instancetype.kubevirt.io version the cluster serves; None without the API."""
    try:
        group = await conn.get_json(f"/apis/{GROUP}")
    except NotFound:
        return None
    return pick_version(group)


def kind_at(kind: str, version: str) -> kinds.Kind:
    """One of the four Kinds at a served version (paths differ only in the version)."""
    return dataclasses.replace(KINDS[kind], version=version)


@dataclass(frozen=True)
class Catalog:
    """Every instance type and preference the cluster has, and what could not be read."""

    version: str | None  # the API version read; None: the cluster has no instancetype API
    templates: list[Template]
    unreadable: list[str] = field(default_factory=list)  # one readable error per kind

    def of_kind(self, kind: str) -> list[Template]:
        return [t for t in self.templates if t.kind == kind]


async def list_templates(conn: Connection, *, version: str | None = None) -> Catalog:
    """All four kinds at the served version (all namespaces for the namespaced ones). A kind
    the server lacks (404) lists as empty; one we may not list is named in `unreadable`."""
    version = version or await served_version(conn)
    if version is None:
        return Catalog(None, [])
    templates: list[Template] = []
    unreadable: list[str] = []
    for name in KINDS:
        kind = kind_at(name, version)
        try:
            items = (await conn.get_json(kind.path())).get("items") or []
        except NotFound:
            continue
        except Forbidden as exc:
            unreadable.append(str(exc))
            continue
        for item in items:
            item.setdefault("apiVersion", kind.api_version)
            item.setdefault("kind", kind.name)
            templates.append(Template(item))
    return Catalog(version, templates, unreadable)


async def list_vms(conn: Connection) -> list[dict[str, Any]]:
    """Every VirtualMachine in the infra cluster, as raw dicts."""
    return (await conn.get_json(kinds.VMS.path())).get("items") or []

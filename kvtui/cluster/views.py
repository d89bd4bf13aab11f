"""Thin read-only views over the cache's raw API dicts: named properties, no second copy.

A view holds only a reference to its dict (`__slots__ = ("raw",)`), so wrapping 10,000 objects
for one repaint costs next to nothing; every property reads the dict when asked. Properties are
tolerant: a field the server left out reads as `""`, `0`, `None` or an empty collection.
"""

from __future__ import annotations

import math
from datetime import datetime
from functools import lru_cache
from typing import Any

from kubernetes.utils.quantity import parse_quantity

KVM_RESOURCE = "devices.kubevirt.io/kvm"
SCHEDULABLE_LABEL = "kubevirt.io/schedulable"
ROLE_PREFIX = "node-role.kubernetes.io/"
FINAL_POD_PHASES = frozenset({"Succeeded", "Failed"})
FINAL_MIGRATION_PHASES = frozenset({"Succeeded", "Failed"})
# Annotations virt-controller puts on a VMI created from a VM with an instancetype/preference.
_REF_ANNOTATIONS = {
    "instancetype": ("kubevirt.io/instancetype-name", "kubevirt.io/cluster-instancetype-name"),
    "preference": ("kubevirt.io/preference-name", "kubevirt.io/cluster-preference-name"),
}
_EMPTY: dict[str, Any] = {}


@lru_cache(maxsize=4096)
def quantity(value: str | int | float | None) -> float:
    """A Kubernetes quantity ("15500m", "62Gi", "1k") as a number; 0 when absent or malformed.

    Cached: a cluster repeats the same few quantity strings thousands of times.
    """
    if value is None or value == "":
        return 0.0
    try:
        return float(parse_quantity(value))
    except (ValueError, TypeError):
        return 0.0


def millicores(value: str | int | float | None) -> int:
    """A CPU quantity in millicores, rounded up like the scheduler does ("1.5" -> 1500)."""
    return math.ceil(round(quantity(value) * 1000, 6))


def byte_count(value: str | int | float | None) -> int:
    """A memory quantity in bytes, rounded up."""
    return math.ceil(quantity(value))


@lru_cache(maxsize=8192)
def timestamp(value: str | None) -> float | None:
    """An RFC 3339 API timestamp as epoch seconds (None when absent or malformed)."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except (ValueError, TypeError):
        return None


def _condition(conditions: Any, type_: str) -> dict[str, Any] | None:
    for cond in conditions or ():
        if isinstance(cond, dict) and cond.get("type") == type_:
            return cond
    return None


class _View:
    """Shared metadata accessors of every view."""

    __slots__ = ("raw",)

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.namespace + '/' if self.namespace else ''}{self.name})"

    @property
    def metadata(self) -> dict[str, Any]:
        return self.raw.get("metadata") or _EMPTY

    @property
    def spec(self) -> dict[str, Any]:
        return self.raw.get("spec") or _EMPTY

    @property
    def status(self) -> dict[str, Any]:
        return self.raw.get("status") or _EMPTY

    @property
    def name(self) -> str:
        return self.metadata.get("name") or ""

    @property
    def namespace(self) -> str:
        return self.metadata.get("namespace") or ""

    @property
    def key(self) -> tuple[str, str]:
        """(namespace, name): the cache's key, "" as namespace for cluster-scoped objects."""
        meta = self.metadata
        return (meta.get("namespace") or "", meta.get("name") or "")

    @property
    def uid(self) -> str:
        return self.metadata.get("uid") or ""

    @property
    def labels(self) -> dict[str, str]:
        return self.metadata.get("labels") or _EMPTY

    @property
    def annotations(self) -> dict[str, str]:
        return self.metadata.get("annotations") or _EMPTY

    @property
    def created(self) -> str:
        """`metadata.creationTimestamp` as the API wrote it (RFC 3339)."""
        return self.metadata.get("creationTimestamp") or ""

    @property
    def deleting(self) -> bool:
        return bool(self.metadata.get("deletionTimestamp"))

    @property
    def conditions(self) -> list[dict[str, Any]]:
        return self.status.get("conditions") or []

    def condition(self, type_: str) -> dict[str, Any] | None:
        """The status condition of that type, or None."""
        return _condition(self.status.get("conditions"), type_)


class Node(_View):
    """A node of the infra cluster, as KubeVirt and the scheduler see it."""

    __slots__ = ()

    @property
    def ready(self) -> bool | None:
        """Ready condition: True, False, or None when unknown (no condition / "Unknown")."""
        cond = self.condition("Ready")
        if cond is None or cond.get("status") not in ("True", "False"):
            return None
        return cond["status"] == "True"

    @property
    def unschedulable(self) -> bool:
        """Cordoned (`spec.unschedulable`)."""
        return bool(self.spec.get("unschedulable"))

    @property
    def roles(self) -> list[str]:
        """Roles from `node-role.kubernetes.io/<role>` labels (and legacy `kubernetes.io/role`)."""
        labels = self.labels
        roles = sorted(k[len(ROLE_PREFIX) :] for k in labels if k.startswith(ROLE_PREFIX))
        legacy = labels.get("kubernetes.io/role")
        if legacy and legacy not in roles:
            roles.append(legacy)
        return [r for r in roles if r]

    @property
    def kvm_capacity(self) -> int:
        return int(quantity((self.status.get("capacity") or _EMPTY).get(KVM_RESOURCE)))

    @property
    def kvm_allocatable(self) -> int:
        return int(quantity((self.status.get("allocatable") or _EMPTY).get(KVM_RESOURCE)))

    @property
    def schedulable_label(self) -> str | None:
        """virt-handler's heartbeat label `kubevirt.io/schedulable` ("true"/"false"), if any."""
        return self.labels.get(SCHEDULABLE_LABEL)

    @property
    def kvm_capable(self) -> bool:
        """Can take VMs: allocatable KVM devices and virt-handler says schedulable."""
        return self.kvm_allocatable > 0 and self.schedulable_label == "true"

    @property
    def taints(self) -> list[dict[str, Any]]:
        return self.spec.get("taints") or []

    @property
    def kubelet_version(self) -> str:
        return (self.status.get("nodeInfo") or _EMPTY).get("kubeletVersion") or ""

    @property
    def cpu_allocatable_m(self) -> int:
        return millicores((self.status.get("allocatable") or _EMPTY).get("cpu"))

    @property
    def memory_allocatable(self) -> int:
        return byte_count((self.status.get("allocatable") or _EMPTY).get("memory"))

    @property
    def internal_ip(self) -> str:
        for address in self.status.get("addresses") or ():
            if address.get("type") == "InternalIP":
                return address.get("address") or ""
        return ""

    @property
    def heartbeat(self) -> str:
        """virt-handler's last heartbeat (annotation `kubevirt.io/heartbeat`), RFC 3339."""
        return self.annotations.get("kubevirt.io/heartbeat") or ""


class Vmi(_View):
    """A VirtualMachineInstance: the running guest, where it runs, whether it can move."""

    __slots__ = ()

    @property
    def phase(self) -> str:
        return self.status.get("phase") or ""

    @property
    def node(self) -> str:
        return self.status.get("nodeName") or ""

    @property
    def ip(self) -> str:
        """The first interface's address, like `kubectl get vmi`'s IP column."""
        interfaces = self.status.get("interfaces") or ()
        if not interfaces:
            return ""
        return interfaces[0].get("ipAddress") or ""

    @property
    def ready(self) -> bool:
        cond = self.condition("Ready")
        return cond is not None and cond.get("status") == "True"

    @property
    def live_migratable(self) -> bool | None:
        """The `LiveMigratable` condition: True/False, None when it is not reported."""
        cond = self.condition("LiveMigratable")
        if cond is None or cond.get("status") not in ("True", "False"):
            return None
        return cond["status"] == "True"

    @property
    def not_migratable_reason(self) -> str:
        """Why the VMI cannot live-migrate (condition reason, e.g. `DisksNotLiveMigratable`)."""
        cond = self.condition("LiveMigratable")
        if cond is None or cond.get("status") == "True":
            return ""
        return cond.get("reason") or cond.get("message") or "NotMigratable"

    @property
    def not_migratable_message(self) -> str:
        cond = self.condition("LiveMigratable")
        if cond is None or cond.get("status") == "True":
            return ""
        return cond.get("message") or ""

    @property
    def eviction_strategy(self) -> str | None:
        """`spec.evictionStrategy` as set on the VMI (None: the cluster default applies)."""
        return self.spec.get("evictionStrategy") or None

    def effective_eviction_strategy(self, cluster_default: str) -> str:
        """The VMI's strategy, else the KubeVirt CR's `spec.configuration.evictionStrategy`."""
        return self.spec.get("evictionStrategy") or cluster_default or "None"

    @property
    def migration_state(self) -> dict[str, Any]:
        return self.status.get("migrationState") or _EMPTY

    @property
    def migrating(self) -> bool:
        """A migration has started and neither completed nor failed."""
        state = self.status.get("migrationState")
        return bool(
            state
            and state.get("startTimestamp")
            and not state.get("completed")
            and not state.get("failed")
        )

    @property
    def evacuation_node(self) -> str:
        """`status.evacuationNodeName`: the node an eviction asked this VMI to leave."""
        return self.status.get("evacuationNodeName") or ""

    @property
    def active_pods(self) -> dict[str, str]:
        return self.status.get("activePods") or _EMPTY

    @property
    def vcpus(self) -> int:
        """Guest vCPUs: the current topology, else the spec's, else the CPU resource."""
        topology = self.status.get("currentCPUTopology")
        domain = self.spec.get("domain") or _EMPTY
        if not topology:
            cpu = domain.get("cpu") or _EMPTY
            if any(k in cpu for k in ("sockets", "cores", "threads")):
                topology = cpu
        if topology:
            return (
                int(topology.get("sockets") or 1)
                * int(topology.get("cores") or 1)
                * int(topology.get("threads") or 1)
            )
        resources = domain.get("resources") or _EMPTY
        for part in ("limits", "requests"):
            value = (resources.get(part) or _EMPTY).get("cpu")
            if value:
                return max(1, math.ceil(quantity(value)))
        return 1

    @property
    def memory(self) -> int:
        """Guest memory in bytes (`domain.memory.guest`, else the memory request/limit)."""
        domain = self.spec.get("domain") or _EMPTY
        guest = (domain.get("memory") or _EMPTY).get("guest")
        if guest:
            return byte_count(guest)
        resources = domain.get("resources") or _EMPTY
        for part in ("requests", "limits"):
            value = (resources.get(part) or _EMPTY).get("memory")
            if value:
                return byte_count(value)
        return 0

    def _ref(self, what: str) -> str:
        annotations = self.annotations
        for key in _REF_ANNOTATIONS[what]:
            if annotations.get(key):
                return annotations[key]
        return ""

    @property
    def instancetype(self) -> str:
        """From the annotation virt-controller sets (`kubevirt.io/[cluster-]instancetype-name`)."""
        return self._ref("instancetype")

    @property
    def preference(self) -> str:
        return self._ref("preference")

    @property
    def owner_vm(self) -> str:
        """The owning VirtualMachine's name, "" for a standalone VMI."""
        for ref in self.metadata.get("ownerReferences") or ():
            if ref.get("kind") == "VirtualMachine":
                return ref.get("name") or ""
        return ""

    @property
    def guest_os(self) -> str:
        info = self.status.get("guestOSInfo") or _EMPTY
        return " ".join(p for p in (info.get("name"), info.get("version")) if p)


class Vm(_View):
    """A VirtualMachine: the desired state (run strategy, instancetype) and its summary status."""

    __slots__ = ()

    @property
    def printable_status(self) -> str:
        return self.status.get("printableStatus") or ""

    @property
    def run_strategy(self) -> str:
        """`spec.runStrategy`; the deprecated `spec.running` maps to Always/Halted."""
        spec = self.spec
        strategy = spec.get("runStrategy")
        if strategy:
            return strategy
        return "Always" if spec.get("running") else "Halted"

    @property
    def instancetype(self) -> str:
        return (self.spec.get("instancetype") or _EMPTY).get("name") or ""

    @property
    def instancetype_kind(self) -> str:
        return (self.spec.get("instancetype") or _EMPTY).get("kind") or ""

    @property
    def preference(self) -> str:
        return (self.spec.get("preference") or _EMPTY).get("name") or ""

    @property
    def ready(self) -> bool:
        return bool(self.status.get("ready"))

    @property
    def created_vmi(self) -> bool:
        """`status.created`: a VMI exists for this VM."""
        return bool(self.status.get("created"))

    @property
    def vmi_key(self) -> tuple[str, str]:
        """The cache key of this VM's VMI (same namespace and name)."""
        return self.key

    @property
    def template_spec(self) -> dict[str, Any]:
        return (self.spec.get("template") or _EMPTY).get("spec") or _EMPTY

    @property
    def eviction_strategy(self) -> str | None:
        """The template's `evictionStrategy` (None: the cluster default applies)."""
        return self.template_spec.get("evictionStrategy") or None

    @property
    def vcpus(self) -> int | None:
        """vCPUs the template asks for; None when they come from an instancetype."""
        if self.instancetype:
            return None
        return Vmi({"spec": self.template_spec}).vcpus

    @property
    def memory(self) -> int | None:
        """Guest memory the template asks for; None when it comes from an instancetype."""
        if self.instancetype:
            return None
        return Vmi({"spec": self.template_spec}).memory or None


class Pod(_View):
    """A pod: where it runs and what it requests (the scheduler's view of node usage)."""

    __slots__ = ()

    @property
    def node(self) -> str:
        return self.spec.get("nodeName") or ""

    @property
    def phase(self) -> str:
        return self.status.get("phase") or ""

    @property
    def terminated(self) -> bool:
        """Succeeded or Failed: it no longer holds its requests on the node."""
        return self.status.get("phase") in FINAL_POD_PHASES

    @property
    def ready(self) -> bool:
        cond = self.condition("Ready")
        return cond is not None and cond.get("status") == "True"

    def _requests(self, resource: str, parse: Any) -> int:
        # The scheduler's rule: max(sum of containers, largest init container) + overhead.
        spec = self.spec
        total = 0
        for container in spec.get("containers") or ():
            value = ((container.get("resources") or _EMPTY).get("requests") or _EMPTY).get(resource)
            if value:
                total += parse(value)
        for container in spec.get("initContainers") or ():
            value = ((container.get("resources") or _EMPTY).get("requests") or _EMPTY).get(resource)
            if value:
                total = max(total, parse(value))
        overhead = (spec.get("overhead") or _EMPTY).get(resource)
        if overhead:
            total += parse(overhead)
        return total

    @property
    def requests_cpu_m(self) -> int:
        return self._requests("cpu", millicores)

    def requests_count(self, resource: str) -> int:
        """Requests of a countable resource (`devices.kubevirt.io/kvm`, `pods`)."""
        return self._requests(resource, lambda v: int(quantity(v)))

    @property
    def requests_memory(self) -> int:
        return self._requests("memory", byte_count)

    @property
    def owner_kind(self) -> str:
        """The controlling owner's kind (`DaemonSet`, `VirtualMachineInstance`, ...), or ""."""
        refs = self.metadata.get("ownerReferences") or ()
        for ref in refs:
            if ref.get("controller"):
                return ref.get("kind") or ""
        return (refs[0].get("kind") or "") if refs else ""

    @property
    def owner_name(self) -> str:
        refs = self.metadata.get("ownerReferences") or ()
        for ref in refs:
            if ref.get("controller"):
                return ref.get("name") or ""
        return (refs[0].get("name") or "") if refs else ""

    @property
    def virt_launcher(self) -> bool:
        return self.labels.get("kubevirt.io") == "virt-launcher"

    @property
    def vmi_name(self) -> str:
        """For a virt-launcher pod, its VMI's name (annotation `kubevirt.io/domain`)."""
        return self.annotations.get("kubevirt.io/domain") or ""


class Migration(_View):
    """A VirtualMachineInstanceMigration (VMIM)."""

    __slots__ = ()

    @property
    def vmi_name(self) -> str:
        return self.spec.get("vmiName") or ""

    @property
    def vmi_key(self) -> tuple[str, str]:
        return (self.namespace, self.vmi_name)

    @property
    def phase(self) -> str:
        return self.status.get("phase") or ""

    @property
    def final(self) -> bool:
        return self.status.get("phase") in FINAL_MIGRATION_PHASES

    @property
    def migration_state(self) -> dict[str, Any]:
        return self.status.get("migrationState") or _EMPTY

    @property
    def source_node(self) -> str:
        return self.migration_state.get("sourceNode") or ""

    @property
    def target_node(self) -> str:
        return self.migration_state.get("targetNode") or ""

    @property
    def started(self) -> str:
        """When the guest started moving (`migrationState.startTimestamp`), RFC 3339."""
        return self.migration_state.get("startTimestamp") or ""

    @property
    def ended(self) -> str:
        return self.migration_state.get("endTimestamp") or ""

    @property
    def evacuation(self) -> bool:
        """Created by the evacuation controller for a drain (annotation names the node)."""
        return "kubevirt.io/evacuationMigration" in self.annotations

    @property
    def priority(self) -> str:
        return self.spec.get("priority") or ""

    @property
    def requested_node(self) -> str:
        """The node the admin chose (`addedNodeSelector` on the hostname label), or ""."""
        selector = self.spec.get("addedNodeSelector") or _EMPTY
        return selector.get("kubernetes.io/hostname") or ""

    @property
    def phase_transitions(self) -> list[tuple[str, str]]:
        """(phase, RFC 3339 time it was entered), oldest first."""
        return [
            (stamp.get("phase") or "", stamp.get("phaseTransitionTimestamp") or "")
            for stamp in self.status.get("phaseTransitionTimestamps") or ()
            if isinstance(stamp, dict)
        ]

    def phase_since(self, phase: str) -> str:
        """When the migration entered that phase (RFC 3339), "" if it never did."""
        for stamp in reversed(self.status.get("phaseTransitionTimestamps") or ()):
            if stamp.get("phase") == phase:
                return stamp.get("phaseTransitionTimestamp") or ""
        return ""

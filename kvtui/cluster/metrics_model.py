"""The questions a metrics source answers, as typed values, and the errors it raises.

Both sources (Prometheus, and a direct scrape of the virt-handlers) answer with the same types,
wrapped in a `Reading` that says where the numbers came from and how old they are, so a pane
never needs to know which source it talks to. Units are fixed per question: CPU in cores
(CPU-seconds per second), memory in bytes, traffic in bytes per second, vCPU wait in seconds
per second (summed over a VM's vCPUs).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Generic, Literal, TypeVar

from kvtui.cluster import kinds, views

T = TypeVar("T")
Objects = Callable[[kinds.Kind], list[dict]]  # the session's cache: `session.cache.items`
Point = tuple[float, float]  # (epoch seconds, value)


class VmMetric(StrEnum):
    """A per-VM number the KubeVirt dashboard ranks VMs by."""

    CPU = "cpu"
    MEMORY = "memory"  # used: available minus usable, as the dashboard computes it
    NET_RX = "net_rx"
    NET_TX = "net_tx"
    STORAGE_READ = "storage_read"
    STORAGE_WRITE = "storage_write"
    VCPU_WAIT = "vcpu_wait"

    @property
    def unit(self) -> str:
        return VM_UNITS[self]


VM_UNITS = {
    VmMetric.CPU: "cores",
    VmMetric.MEMORY: "bytes",
    VmMetric.NET_RX: "bytes/s",
    VmMetric.NET_TX: "bytes/s",
    VmMetric.STORAGE_READ: "bytes/s",
    VmMetric.STORAGE_WRITE: "bytes/s",
    VmMetric.VCPU_WAIT: "s/s",
}


class NodeMetric(StrEnum):
    """A per-node number: what the node's VMs use (not the whole host: no node-exporter)."""

    CPU = "cpu"  # cores used by the node's VMs
    MEMORY = "memory"  # resident bytes of the node's VMs
    VMS = "vms"  # running VMIs the node's virt-handler reports


@dataclass(frozen=True, order=True)
class VmRef:
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class VmUsage:
    """One VM's numbers; None where the source has none yet (a rate needs two samples)."""

    namespace: str
    name: str
    node: str = ""
    cpu: float | None = None
    memory: float | None = None  # used bytes
    memory_total: float | None = None  # the domain's memory
    net_rx: float | None = None
    net_tx: float | None = None
    storage_read: float | None = None
    storage_write: float | None = None
    vcpu_wait: float | None = None

    @property
    def ref(self) -> VmRef:
        return VmRef(self.namespace, self.name)

    def value(self, metric: VmMetric) -> float | None:
        return getattr(self, metric.value)


@dataclass(frozen=True)
class NodeUsage:
    """What one node's VMs use, against what the node offers (allocatable, from the Node)."""

    node: str
    vms: int | None  # None: its virt-handler was not scraped yet
    cpu: float | None  # cores used by VMs
    memory: float | None  # bytes resident
    cpu_allocatable: float | None  # cores
    memory_allocatable: float | None  # bytes

    @property
    def cpu_share(self) -> float | None:
        """Used over allocatable, 0..1 (more when overcommitted); None when either is unknown."""
        return _share(self.cpu, self.cpu_allocatable)

    @property
    def memory_share(self) -> float | None:
        return _share(self.memory, self.memory_allocatable)

    def value(self, metric: NodeMetric) -> float | None:
        if metric is NodeMetric.VMS:
            return None if self.vms is None else float(self.vms)
        return getattr(self, metric.value)


def _share(used: float | None, total: float | None) -> float | None:
    return used / total if used is not None and total else None


@dataclass(frozen=True)
class MigrationCounts:
    """Migrations by state, as virt-controller counts them (pending includes not yet seen)."""

    pending: int = 0
    scheduling: int = 0
    running: int = 0  # Scheduled .. Synchronizing: everything between scheduling and the end
    succeeded: int = 0  # VMIM objects that still exist
    failed: int = 0


SourceKind = Literal["prometheus", "direct"]


@dataclass(frozen=True)
class SourceInfo:
    """Which source answered: shown in the pane's title ("Prometheus http://…")."""

    kind: SourceKind
    label: str
    note: str = ""  # why this source: "no Prometheus found (...)", "found in the cluster: ..."


@dataclass(frozen=True)
class Reading(Generic[T]):
    """An answer with its provenance: the source, when it arrived, how old its data is."""

    value: T
    source: SourceInfo
    fetched_at: float  # epoch seconds the answer was put together
    sampled_at: float | None = None  # epoch s: oldest handler scrape, or newest Prometheus sample
    notes: tuple[str, ...] = field(default=())  # partial problems: "virt-handler on X: ..."

    def age(self, now: float | None = None) -> float:
        """Seconds since the data was sampled (since it was fetched when that is unknown)."""
        at = self.sampled_at if self.sampled_at is not None else self.fetched_at
        return max(0.0, (time.time() if now is None else now) - at)


@dataclass
class Traffic:
    """What a source moved: requests made and response body bytes received (decompressed)."""

    requests: int = 0
    bytes: int = 0

    def add(self, size: int) -> None:
        self.requests += 1
        self.bytes += size


class MetricsError(Exception):
    """A source could not answer. `str()` is one line naming the source and the reason."""

    kind = "error"

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


class MetricsUnavailable(MetricsError):
    """Cannot reach the source now (refused, timed out, 5xx, proxy trouble); retry later."""

    kind = "unavailable"


class MetricsAuthError(MetricsError):
    """The source refused our credentials (401/403, or RBAC on the proxy)."""

    kind = "unauthorized"


class MetricsQueryError(MetricsError):
    """The source answered, but not with what was asked (bad query, unexpected body)."""

    kind = "query"


# -- helpers both sources share --------------------------------------------------------------
_RUNNING_MIGRATION_PHASES = frozenset(
    {"Running", "Scheduled", "PreparingTarget", "TargetReady", "WaitingForSync", "Synchronizing"}
)


def ranked(rows: Sequence[VmUsage], by: VmMetric) -> list[VmUsage]:
    """Highest first; VMs without the number last, by name."""
    return sorted(
        rows, key=lambda r: (r.value(by) is None, -(r.value(by) or 0.0), r.namespace, r.name)
    )


def allocatable(node: dict) -> tuple[float, float]:
    """(cores, bytes) a node offers to pods."""
    view = views.Node(node)
    return view.cpu_allocatable_m / 1000.0, float(view.memory_allocatable)


def count_migrations(vmims: Iterable[dict]) -> MigrationCounts:
    """Migrations by state from VMIM objects, as virt-controller counts them (an unset phase
    is pending)."""
    counts = dict.fromkeys(("pending", "scheduling", "running", "succeeded", "failed"), 0)
    for vmim in vmims:
        phase = (vmim.get("status") or {}).get("phase") or ""
        if phase in ("", "Pending"):
            counts["pending"] += 1
        elif phase == "Scheduling":
            counts["scheduling"] += 1
        elif phase in _RUNNING_MIGRATION_PHASES:
            counts["running"] += 1
        elif phase in ("Succeeded", "Failed"):
            counts[phase.lower()] += 1
    return MigrationCounts(**counts)


def count_phases(vmis: Iterable[dict]) -> dict[str, int]:
    """VMIs per phase; one without a phase yet is Pending."""
    counts: dict[str, int] = {}
    for vmi in vmis:
        phase = (vmi.get("status") or {}).get("phase") or "Pending"
        counts[phase] = counts.get(phase, 0) + 1
    return counts

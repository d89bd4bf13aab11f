"""k9s-style renderers: one pure function per resource kind turns views into a table row.

A `Row` carries display strings, a health tag the UI maps to a style ("ok", "warn", "error",
"muted") and per-column sort keys (numbers where the column is numeric, so sorting by CPU% or
AGE orders by value, not by text). No Textual here: the UI only lays rows out.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass

from kvtui.cluster.views import Migration, Node, Pod, Vm, Vmi, timestamp

NONE = "—"
BAR_CELLS = 5
OK, WARN, ERROR, MUTED = "ok", "warn", "error", "muted"

NODE_COLUMNS = (
    "NAME",
    "STATUS",
    "ROLES",
    "KVM",
    "VIRT-HANDLER",
    "VMIS",
    "CPU",
    "MEMORY",
    "TAINTS",
    "VERSION",
    "AGE",
)
VM_COLUMNS = (
    "NAMESPACE",
    "NAME",
    "STATUS",
    "NODE",
    "INSTANCETYPE",
    "PREFERENCE",
    "CPUS",
    "MEMORY",
    "IP",
    "EVICTION",
    "MIGRATABLE",
    "MIGRATION",
    "AGE",
)

# VM printableStatus values that need an admin's attention.
VM_ERROR_STATUSES = frozenset(
    {
        "CrashLoopBackOff",
        "Unknown",
        "ErrorUnschedulable",
        "ErrImagePull",
        "ImagePullBackOff",
        "ErrorPvcNotFound",
        "DataVolumeError",
    }
)
VM_TRANSITION_STATUSES = frozenset(
    {
        "Provisioning",
        "Starting",
        "Stopping",
        "Terminating",
        "Migrating",
        "WaitingForVolumeBinding",
        "WaitingForReceiver",
        "Paused",
    }
)
VM_STOPPED_STATUSES = frozenset({"Stopped"})
VMI_ERROR_PHASES = frozenset({"Failed", "Unknown"})


@dataclass(frozen=True, slots=True)
class Row:
    """One table row: `key` is the cache key (namespace, name) it was made from."""

    key: tuple[str, str]
    cells: tuple[str, ...]
    health: str
    sort_keys: tuple


def age(created: str, now: float) -> str:
    """How long ago `created` (RFC 3339) was, the way kubectl prints AGE (`3h4m`, `5d`)."""
    then = timestamp(created)
    if then is None:
        return "<unknown>"
    return human_duration(now - then)


def human_duration(seconds: float) -> str:
    """kubectl's HumanDuration: two units while they matter, one after."""
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    s = int(seconds)
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        rest = s % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if hours < 24 * 8:
        rest = hours % 24
        return f"{days}d{rest}h" if rest else f"{days}d"
    if hours < 24 * 365 * 2:
        return f"{days}d"
    years = days // 365
    if hours < 24 * 365 * 8:
        rest = days % 365
        return f"{years}y{rest}d" if rest else f"{years}y"
    return f"{years}y"


def _age_seconds(created: str, now: float) -> float:
    then = timestamp(created)
    return now - then if then is not None else -1.0


_BINARY_UNITS = (("Ei", 2**60), ("Pi", 2**50), ("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20))


def format_bytes(value: int) -> str:
    """Bytes as a short binary quantity (`8Gi`, `1.5Gi`, `512Mi`), like kubectl shows them."""
    if value <= 0:
        return "0"
    for unit, size in _BINARY_UNITS:
        if value >= size:
            number = value / size
            if number >= 100 or number == int(number):
                return f"{number:.0f}{unit}"
            return f"{number:.1f}".rstrip("0").rstrip(".") + unit
    return f"{value / 1024:.0f}Ki"


def format_count(value: int) -> str:
    """A device count the way kubectl prints quantities: 1000 -> `1k`, 110 -> `110`."""
    for suffix, size in (("M", 1_000_000), ("k", 1000)):
        if value >= size and value % size == 0:
            return f"{value // size}{suffix}"
    return str(value)


def usage_bar(used: float, total: float) -> tuple[str, float]:
    """`▇▇▇▁▁ 42%` and the percentage (for sorting); `—` when nothing is allocatable."""
    if total <= 0:
        return NONE, -1.0
    percent = used * 100.0 / total
    # Rounded up: any use at all shows as one cell.
    filled = min(BAR_CELLS, max(0, math.ceil(round(percent * BAR_CELLS / 100, 6))))
    return f"{'▇' * filled}{'▁' * (BAR_CELLS - filled)} {percent:.0f}%", percent


def format_taint(taint: dict) -> str:
    key = taint.get("key") or ""
    value = taint.get("value")
    effect = taint.get("effect") or ""
    text = f"{key}={value}" if value else key
    return f"{text}:{effect}" if effect else text


def node_usage(pods: Iterable[Pod]) -> dict[str, tuple[int, int]]:
    """Node name -> (requested millicores, requested memory bytes) of its non-terminated pods."""
    usage: dict[str, list[int]] = {}
    for pod in pods:
        node = pod.node
        if not node or pod.terminated:
            continue
        entry = usage.get(node)
        if entry is None:
            entry = usage[node] = [0, 0]
        entry[0] += pod.requests_cpu_m
        entry[1] += pod.requests_memory
    return {node: (cpu, mem) for node, (cpu, mem) in usage.items()}


def node_row(
    node: Node,
    vmi_count: int,
    requested_cpu_m: int,
    requested_mem: int,
    virt_handler: str,
    now: float | None = None,
) -> Row:
    """NAME STATUS ROLES KVM VIRT-HANDLER VMIS CPU MEMORY TAINTS VERSION AGE.

    `virt_handler` is the phase of the node's virt-handler pod ("Running") or "missing".
    """
    now = time.time() if now is None else now
    ready = node.ready
    status = {True: "Ready", False: "NotReady", None: "Unknown"}[ready]
    if node.unschedulable:
        status += ",SchedulingDisabled"
    roles = ",".join(node.roles) or "<none>"

    kvm = node.kvm_allocatable
    label = node.schedulable_label
    mark = "✓" if label == "true" else "✗"
    if kvm > 0:
        kvm_cell = f"{format_count(kvm)} {mark}"
    else:
        kvm_cell = NONE if label is None else f"{NONE} {mark}"

    cpu_cell, cpu_pct = usage_bar(requested_cpu_m, node.cpu_allocatable_m)
    mem_cell, mem_pct = usage_bar(requested_mem, node.memory_allocatable)
    taints = node.taints
    taints_cell = ", ".join(format_taint(t) for t in taints) if taints else NONE
    created = node.created

    kvm_node = kvm > 0 or label is not None
    if ready is not True:
        health = ERROR
    elif node.unschedulable or (kvm_node and (not node.kvm_capable or virt_handler != "Running")):
        health = WARN
    elif not kvm_node:
        health = MUTED
    else:
        health = OK

    cells = (
        node.name,
        status,
        roles,
        kvm_cell,
        virt_handler,
        str(vmi_count),
        cpu_cell,
        mem_cell,
        taints_cell,
        node.kubelet_version,
        age(created, now),
    )
    sort_keys = (
        node.name,
        status,
        roles,
        kvm,
        virt_handler,
        vmi_count,
        cpu_pct,
        mem_pct,
        taints_cell,
        node.kubelet_version,
        _age_seconds(created, now),
    )
    return Row(("", node.name), cells, health, sort_keys)


def vm_row(
    vm: Vm | None,
    vmi: Vmi | None,
    migration: Migration | None,
    cluster_default_strategy: str,
    now: float | None = None,
) -> Row:
    """NAMESPACE NAME STATUS NODE INSTANCETYPE PREFERENCE CPUS MEMORY IP EVICTION MIGRATABLE
    MIGRATION AGE, for a VM and/or its VMI (a standalone VMI has no VM; a stopped VM no VMI).
    """
    now = time.time() if now is None else now
    base = vm if vm is not None else vmi
    if base is None:
        raise ValueError("vm_row needs a VM or a VMI")
    namespace, name = base.key

    if vm is not None:
        status = vm.printable_status or (vmi.phase if vmi is not None else "") or "Unknown"
    else:
        status = vmi.phase or "Unknown"  # type: ignore[union-attr]

    node = vmi.node if vmi is not None else ""
    # The VM's spec names them; a standalone VMI only has virt-controller's annotations.
    instancetype = (vm.instancetype if vm is not None else "") or (
        vmi.instancetype if vmi is not None else ""
    )
    preference = (vm.preference if vm is not None else "") or (
        vmi.preference if vmi is not None else ""
    )

    if vmi is not None:
        cpus: int | None = vmi.vcpus
        memory: int | None = vmi.memory or None
        strategy = vmi.effective_eviction_strategy(cluster_default_strategy)
    else:
        cpus, memory = vm.vcpus, vm.memory  # type: ignore[union-attr]
        strategy = vm.eviction_strategy or cluster_default_strategy or "None"  # type: ignore[union-attr]

    migratable = vmi.live_migratable if vmi is not None else None
    if migratable is True:
        migratable_cell = "yes"
    elif migratable is False:
        migratable_cell = f"no: {vmi.not_migratable_reason}"  # type: ignore[union-attr]
    else:
        migratable_cell = NONE

    migration_phase = (migration.phase or "Pending") if migration is not None else ""
    created = base.created
    ip = vmi.ip if vmi is not None else ""

    if (
        status in VM_ERROR_STATUSES
        or (vmi is not None and vmi.phase in VMI_ERROR_PHASES)
        or (migration is not None and migration.phase == "Failed")
    ):
        health = ERROR
    elif strategy == "LiveMigrate" and migratable is False:
        health = WARN  # draining its node will block on this VM
    elif status in VM_TRANSITION_STATUSES or (migration is not None and not migration.final):
        health = WARN
    elif status in VM_STOPPED_STATUSES or (vm is not None and vmi is None):
        health = MUTED
    else:
        health = OK

    cells = (
        namespace,
        name,
        status,
        node or NONE,
        instancetype or NONE,
        preference or NONE,
        str(cpus) if cpus else NONE,
        format_bytes(memory) if memory else NONE,
        ip or NONE,
        strategy,
        migratable_cell,
        migration_phase or NONE,
        age(created, now),
    )
    sort_keys = (
        namespace,
        name,
        status,
        node,
        instancetype,
        preference,
        cpus or 0,
        memory or 0,
        _ip_sort_key(ip),
        strategy,
        migratable_cell,
        migration_phase,
        _age_seconds(created, now),
    )
    return Row((namespace, name), cells, health, sort_keys)


def _ip_sort_key(ip: str) -> tuple:
    """IPv4 addresses sort numerically; anything else after them, as text."""
    parts = ip.split(".")
    if len(parts) == 4 and all(p.isdigit() for p in parts):
        return (0, *map(int, parts))
    return (1, ip)

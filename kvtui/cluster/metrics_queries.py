"""Every PromQL query kvtui sends, and the KubeVirt series names behind them (fact sheet §8).

The per-VM expressions are the KubeVirt dashboard's (top consumers: CPU, memory used =
available - usable, network and storage traffic, vCPU wait), grouped by VM. A table is one
query: each column is tagged with a `column` label by `label_replace` and the columns are
joined with `or`. The VM table is asked for the rows shown only, after `topk` ranked them, so
an answer stays a few KB however large the cluster. Migration series are asked for under their
current and their older names, newest first.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence

from kvtui.cluster.metrics_model import NodeMetric, VmMetric, VmRef

DEFAULT_WINDOW = "2m"  # rate() window: four of prometheus-operator's default 30 s scrapes

CPU_SECONDS = "kubevirt_vmi_cpu_usage_seconds_total"
MEMORY_AVAILABLE = "kubevirt_vmi_memory_available_bytes"
MEMORY_USABLE = "kubevirt_vmi_memory_usable_bytes"
MEMORY_DOMAIN = "kubevirt_vmi_memory_domain_bytes"
MEMORY_RESIDENT = "kubevirt_vmi_memory_resident_bytes"
NET_RX_BYTES = "kubevirt_vmi_network_receive_bytes_total"
NET_TX_BYTES = "kubevirt_vmi_network_transmit_bytes_total"
STORAGE_READ_BYTES = "kubevirt_vmi_storage_read_traffic_bytes_total"
STORAGE_WRITE_BYTES = "kubevirt_vmi_storage_write_traffic_bytes_total"
VCPU_WAIT_SECONDS = "kubevirt_vmi_vcpu_wait_seconds_total"
VMI_INFO = "kubevirt_vmi_info"
VMI_PHASE_COUNT_LEGACY = "kubevirt_vmi_phase_count"  # before kubevirt_vmi_info

# Counter family summed per VM for each rated metric.
VM_COUNTERS: dict[VmMetric, str] = {
    VmMetric.CPU: CPU_SECONDS,
    VmMetric.NET_RX: NET_RX_BYTES,
    VmMetric.NET_TX: NET_TX_BYTES,
    VmMetric.STORAGE_READ: STORAGE_READ_BYTES,
    VmMetric.STORAGE_WRITE: STORAGE_WRITE_BYTES,
    VmMetric.VCPU_WAIT: VCPU_WAIT_SECONDS,
}
MEMORY_TOTAL = "memory_total"  # the extra VM table column: the domain's memory, with its node
SAMPLED = "_sampled"  # the column holding the newest sample's timestamp

# Per migration (source virt-handler), current name first.
MIGRATION_SERIES: dict[str, tuple[str, ...]] = {
    "processed": (
        "kubevirt_vmi_migration_data_processed_bytes",
        "kubevirt_migrate_vmi_data_processed_bytes",
    ),
    "remaining": (
        "kubevirt_vmi_migration_data_remaining_bytes",
        "kubevirt_migrate_vmi_data_remaining_bytes",
    ),
    "dirty_rate": (
        "kubevirt_vmi_migration_dirty_memory_rate_bytes",
        "kubevirt_migrate_vmi_dirty_memory_rate_bytes",
    ),
    "transfer_rate": (
        "kubevirt_vmi_migration_memory_transfer_rate_bytes",
        "kubevirt_migrate_vmi_memory_transfer_rate_bytes",
        "kubevirt_vmi_migration_disk_transfer_rate_bytes",  # misnamed: it was memory
        "kubevirt_migrate_vmi_disk_transfer_rate_bytes",
    ),
    "total": (
        "kubevirt_vmi_migration_data_bytes_total",
        "kubevirt_vmi_migration_data_total_bytes",
    ),
}
# Cluster-wide counts (virt-controller), current name first.
MIGRATION_COUNT_SERIES: dict[str, tuple[str, ...]] = {
    "pending": ("kubevirt_vmi_migrations_in_pending_phase", "kubevirt_migrate_vmi_pending_count"),
    "unset": ("kubevirt_vmi_migrations_in_unset_phase",),
    "scheduling": (
        "kubevirt_vmi_migrations_in_scheduling_phase",
        "kubevirt_migrate_vmi_scheduling_count",
    ),
    "running": ("kubevirt_vmi_migrations_in_running_phase", "kubevirt_migrate_vmi_running_count"),
    "succeeded": ("kubevirt_vmi_migration_succeeded", "kubevirt_migrate_vmi_succeeded"),
    "failed": ("kubevirt_vmi_migration_failed", "kubevirt_migrate_vmi_failed"),
}


# -- label matchers --------------------------------------------------------------------------
def _quote(value: str) -> str:
    return json.dumps(value)  # a PromQL string takes Go escapes, which JSON's are a subset of


def _any_of(values: Iterable[str]) -> str:
    return _quote("|".join(re.escape(v) for v in sorted(set(values))))


def vm_matchers(namespace: str | None = None, vms: Sequence[VmRef] = ()) -> str:
    """Matchers (without braces) for one namespace and/or a set of VMs.

    A set of VMs becomes two regexes, which may also match other namespace/name pairs: callers
    keep only the pairs they asked for.
    """
    parts = []
    if namespace:
        parts.append(f"namespace={_quote(namespace)}")
    if vms:
        if not namespace:
            parts.append(f"namespace=~{_any_of(v.namespace for v in vms)}")
        parts.append(f"name=~{_any_of(v.name for v in vms)}")
    return ",".join(parts)


def node_matchers(nodes: Sequence[str]) -> str:
    return f"node=~{_any_of(nodes)}" if nodes else ""


def _series(family: str, matchers: str) -> str:
    return f"{family}{{{matchers}}}" if matchers else family


def _tagged(expr: str, column: str) -> str:
    return f'label_replace({expr}, "column", "{column}", "", "")'


# -- per VM ----------------------------------------------------------------------------------
def vm_expr(metric: VmMetric | str, matchers: str = "", window: str = DEFAULT_WINDOW) -> str:
    """One number per VM: a rate for counters, used memory, or the domain memory (with node)."""
    if metric == MEMORY_TOTAL:
        return f"max by (namespace, name, node) ({_series(MEMORY_DOMAIN, matchers)})"
    metric = VmMetric(metric)
    if metric is VmMetric.MEMORY:
        used = f"{_series(MEMORY_AVAILABLE, matchers)} - {_series(MEMORY_USABLE, matchers)}"
        return f"sum by (namespace, name) ({used})"
    return f"sum by (namespace, name) (rate({_series(VM_COUNTERS[metric], matchers)}[{window}]))"


def vm_top_query(
    metric: VmMetric, limit: int, matchers: str = "", window: str = DEFAULT_WINDOW
) -> str:
    """The `limit` VMs highest in one metric (the ranking step of the VM table)."""
    return f"topk({limit}, {vm_expr(metric, matchers, window)})"


def vm_table_query(matchers: str = "", window: str = DEFAULT_WINDOW) -> str:
    """Every VM column in one query, for the VMs the matchers select.

    The pane ranks first (`vm_top_query`) and then asks this for the rows shown only: with
    10,000 VMs that is ~0.1 s of Prometheus time, where one query filtering each column by
    `and on (namespace, name) topk(...)` took seconds.
    """
    parts = [_tagged(vm_expr(c, matchers, window), str(c)) for c in (MEMORY_TOTAL, *VmMetric)]
    parts.append(_tagged(f"max(timestamp({_series(MEMORY_DOMAIN, matchers)}))", SAMPLED))
    return " or ".join(parts)


# -- per node --------------------------------------------------------------------------------
def node_expr(metric: NodeMetric, matchers: str = "", window: str = DEFAULT_WINDOW) -> str:
    if metric is NodeMetric.VMS:
        return f"count by (node) ({_series(MEMORY_DOMAIN, matchers)})"
    if metric is NodeMetric.CPU:
        return f"sum by (node) (rate({_series(CPU_SECONDS, matchers)}[{window}]))"
    return f"sum by (node) ({_series(MEMORY_RESIDENT, matchers)})"


def node_table_query(window: str = DEFAULT_WINDOW) -> str:
    """VM count, CPU and resident memory of every node's VMs, in one query."""
    parts = [_tagged(node_expr(metric, "", window), metric.value) for metric in NodeMetric]
    parts.append(_tagged(f"max(timestamp({MEMORY_DOMAIN}))", SAMPLED))
    return " or ".join(parts)


# -- cluster-wide ----------------------------------------------------------------------------
def vmi_phase_query() -> str:
    """VMIs per phase (virt-controller's info series; the older count series as a fallback)."""
    return f"count by (phase) ({VMI_INFO}) or sum by (phase) ({VMI_PHASE_COUNT_LEGACY})"


def migration_counts_query() -> str:
    parts = []
    for state, names in MIGRATION_COUNT_SERIES.items():
        either = " or ".join(f"sum({name})" for name in names)
        parts.append(_tagged(f"({either})", state))
    return " or ".join(parts)


def migration_progress_query() -> str:
    """Per migrating VMI: data processed/remaining/total, dirty rate and transfer rate."""
    parts = []
    for column, names in MIGRATION_SERIES.items():
        either = " or ".join(f"max by (namespace, name) ({name})" for name in names)
        parts.append(_tagged(f"({either})", column))
    return " or ".join(parts)


def all_queries(window: str = DEFAULT_WINDOW) -> dict[str, str]:
    """Every query shape kvtui sends (with example arguments), for tests and documentation."""
    example = VmRef("default", "vm")
    return {
        **{f"vm_top_{m.value}": vm_top_query(m, 10, "", window) for m in VmMetric},
        "vm_table": vm_table_query(vm_matchers(vms=[example]), window),
        "vm_table_one_vm": vm_table_query(vm_matchers(example.namespace, [example]), window),
        **{f"vm_range_{m.value}": vm_expr(m, vm_matchers(vms=[example]), window) for m in VmMetric},
        "node_table": node_table_query(window),
        **{f"node_range_{m.value}": node_expr(m, node_matchers(["n"]), window) for m in NodeMetric},
        "vmi_phases": vmi_phase_query(),
        "migration_counts": migration_counts_query(),
        "migration_progress": migration_progress_query(),
    }

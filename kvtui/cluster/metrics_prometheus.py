"""The metrics questions answered by PromQL (`metrics_queries`) over a `PromApi`.

Each table is one query whose answer carries only the rows asked for; the answers are turned
into the typed values of `metrics_model`. Node allocatable comes from the Node objects (no
kube-state-metrics needed); sparklines are `query_range` with a rate window no shorter than
the step.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from kvtui.cluster import kinds
from kvtui.cluster.metrics_model import (
    MigrationCounts,
    NodeMetric,
    NodeUsage,
    Objects,
    Point,
    Reading,
    SourceInfo,
    Traffic,
    VmMetric,
    VmRef,
    VmUsage,
    allocatable,
    ranked,
)
from kvtui.cluster.metrics_prometheus_api import PromApi, window_seconds
from kvtui.cluster.metrics_queries import (
    DEFAULT_WINDOW,
    MEMORY_TOTAL,
    SAMPLED,
    migration_counts_query,
    migration_progress_query,
    node_expr,
    node_matchers,
    node_table_query,
    vm_expr,
    vm_matchers,
    vm_table_query,
    vm_top_query,
    vmi_phase_query,
)
from kvtui.cluster.migration_metrics import MigrationSample

VMI_PHASES = (
    "Pending",
    "Scheduling",
    "Scheduled",
    "Running",
    "Succeeded",
    "Failed",
    "Unknown",
    "WaitingForSync",
)
_PHASE_BY_LOWER = {p.lower(): p for p in VMI_PHASES}


# -- answers ---------------------------------------------------------------------------------
def _number(text: Any) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return None if value != value or value in (float("inf"), float("-inf")) else value


def _columns(result: list[dict]) -> tuple[dict[str, list[tuple[dict, float]]], float | None]:
    """Samples of a tagged query per column, and the `_sampled` timestamp if present."""
    out: dict[str, list[tuple[dict, float]]] = {}
    sampled = None
    for series in result:
        labels = series.get("metric") or {}
        value = _number((series.get("value") or (None, None))[1])
        if value is None:
            continue
        column = labels.get("column", "")
        if column == SAMPLED:
            sampled = value
        else:
            out.setdefault(column, []).append((labels, value))
    return out, sampled


def _identity(series: dict) -> dict[str, str]:
    labels = series.get("metric") or {}
    return {"namespace": labels.get("namespace", ""), "name": labels.get("name", "")}


def vm_rows(result: list[dict]) -> tuple[list[VmUsage], float | None]:
    """`VmUsage` rows from a `vm_table_query` answer."""
    columns, sampled = _columns(result)
    fields: dict[VmRef, dict[str, Any]] = {}
    for column, samples in columns.items():
        for labels, value in samples:
            ref = VmRef(labels.get("namespace", ""), labels.get("name", ""))
            row = fields.setdefault(ref, {})
            row[column] = value
            if column == MEMORY_TOTAL:
                row["node"] = labels.get("node", "")
    known = {m.value for m in VmMetric} | {MEMORY_TOTAL, "node"}
    rows = [
        VmUsage(ref.namespace, ref.name, **{k: v for k, v in row.items() if k in known})
        for ref, row in fields.items()
    ]
    return rows, sampled


class PrometheusSource:
    """The metrics questions answered by PromQL (see `metrics_queries`)."""

    def __init__(self, api: PromApi, objects: Objects, window: str = DEFAULT_WINDOW) -> None:
        window_seconds(window)  # refuse a bad window now, not on every refresh
        self.api = api
        self.objects = objects
        self.window = window
        self.info = SourceInfo("prometheus", api.label)

    @property
    def traffic(self) -> Traffic:
        return self.api.traffic

    def _reading(self, value: Any, sampled: float | None = None) -> Reading:
        return Reading(value, self.info, time.time(), sampled)

    async def top_vms(
        self, by: VmMetric = VmMetric.CPU, limit: int = 10, namespace: str | None = None
    ) -> Reading[list[VmUsage]]:
        by = VmMetric(by)
        ranking = await self.api.query(vm_top_query(by, limit, vm_matchers(namespace), self.window))
        refs = [VmRef(**_identity(series)) for series in ranking]
        if not refs:
            return self._reading([])
        answer = await self.api.query(vm_table_query(vm_matchers(namespace, refs), self.window))
        rows, sampled = vm_rows(answer)
        wanted = set(refs)
        return self._reading(ranked([r for r in rows if r.ref in wanted], by)[:limit], sampled)

    async def vm_usage(self, vm: VmRef) -> Reading[VmUsage | None]:
        query = vm_table_query(vm_matchers(vm.namespace, [vm]), self.window)
        rows, sampled = vm_rows(await self.api.query(query))
        return self._reading(next((r for r in rows if r.ref == vm), None), sampled)

    def _range_window(self, step: float) -> str:
        return f"{max(window_seconds(self.window), step):g}s"

    async def vm_history(
        self, metric: VmMetric, vms: Sequence[VmRef], window: float = 900.0, points: int = 60
    ) -> Reading[dict[VmRef, list[Point]]]:
        if not vms:
            return self._reading({})
        end = time.time()
        step = max(window / max(points, 1), 1.0)
        expr = vm_expr(VmMetric(metric), vm_matchers(vms=vms), self._range_window(step))
        result = await self.api.query_range(expr, end - window, end, step)
        wanted = set(vms)
        out: dict[VmRef, list[Point]] = {}
        for series in result:
            labels = series.get("metric") or {}
            ref = VmRef(labels.get("namespace", ""), labels.get("name", ""))
            if ref in wanted:
                out[ref] = _points(series)
        return self._reading(out, end)

    async def node_usage(self) -> Reading[list[NodeUsage]]:
        columns, sampled = _columns(await self.api.query(node_table_query(self.window)))
        found: dict[str, dict[str, float]] = {}
        for column, samples in columns.items():
            for labels, value in samples:
                found.setdefault(labels.get("node", ""), {})[column] = value
        nodes = {n["metadata"]["name"]: n for n in self.objects(kinds.NODES)}
        rows = []
        for name in sorted(set(nodes) | set(found) - {""}):
            got = found.get(name, {})
            cpu, memory = allocatable(nodes[name]) if name in nodes else (None, None)
            vms = int(got.get(NodeMetric.VMS.value, 0))
            rows.append(
                NodeUsage(
                    name,
                    vms,
                    got.get(NodeMetric.CPU.value, 0.0 if not vms else None),
                    got.get(NodeMetric.MEMORY.value, 0.0 if not vms else None),
                    cpu,
                    memory,
                )
            )
        return self._reading(rows, sampled)

    async def node_history(
        self, metric: NodeMetric, nodes: Sequence[str], window: float = 900.0, points: int = 60
    ) -> Reading[dict[str, list[Point]]]:
        if not nodes:
            return self._reading({})
        end = time.time()
        step = max(window / max(points, 1), 1.0)
        expr = node_expr(NodeMetric(metric), node_matchers(nodes), self._range_window(step))
        result = await self.api.query_range(expr, end - window, end, step)
        wanted = set(nodes)
        out = {}
        for series in result:
            node = (series.get("metric") or {}).get("node", "")
            if node in wanted:
                out[node] = _points(series)
        return self._reading(out, end)

    async def vmis_by_phase(self) -> Reading[dict[str, int]]:
        counts: dict[str, int] = {}
        for series in await self.api.query(vmi_phase_query()):
            phase = (series.get("metric") or {}).get("phase", "")
            value = _number((series.get("value") or (None, None))[1])
            if value is not None:
                key = _PHASE_BY_LOWER.get(phase.lower(), phase or "Unknown")
                counts[key] = counts.get(key, 0) + int(value)
        return self._reading(counts)

    async def migration_counts(self) -> Reading[MigrationCounts]:
        columns, _ = _columns(await self.api.query(migration_counts_query()))
        got = {column: int(sum(v for _, v in samples)) for column, samples in columns.items()}
        return self._reading(
            MigrationCounts(
                pending=got.get("pending", 0) + got.get("unset", 0),
                scheduling=got.get("scheduling", 0),
                running=got.get("running", 0),
                succeeded=got.get("succeeded", 0),
                failed=got.get("failed", 0),
            )
        )

    async def migration_progress(self) -> Reading[dict[VmRef, MigrationSample]]:
        columns, _ = _columns(await self.api.query(migration_progress_query()))
        found: dict[VmRef, dict[str, float]] = {}
        for column, samples in columns.items():
            for labels, value in samples:
                ref = VmRef(labels.get("namespace", ""), labels.get("name", ""))
                found.setdefault(ref, {})[column] = value
        return self._reading(
            {
                ref: MigrationSample(
                    processed_bytes=int(got.get("processed", 0)),
                    remaining_bytes=int(got.get("remaining", 0)),
                    dirty_rate=got.get("dirty_rate", 0.0),
                    transfer_rate=got.get("transfer_rate", 0.0),
                )
                for ref, got in found.items()
                if "processed" in got or "remaining" in got
            }
        )

    async def close(self) -> None:
        await self.api.close()


def _points(series: dict) -> list[Point]:
    out = []
    for stamp, text in series.get("values") or ():
        value = _number(text)
        if value is not None:
            out.append((float(stamp), value))
    return out

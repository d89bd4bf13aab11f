"""Rows and lines of the metrics pane (pure): VM and node rows with sparklines, the source
line (which source, how fresh, what it costs), and the cluster summary."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import humanize
from textual.markup import escape

from kvtui.cluster.doctor_model import CheckResult
from kvtui.cluster.metrics_model import (
    MigrationCounts,
    NodeUsage,
    Point,
    Reading,
    SourceInfo,
    Traffic,
    VmUsage,
)
from kvtui.cluster.presenters import Row, human_duration

SPARK = "▁▂▃▄▅▆▇█"
VM_COLUMNS = (
    "NAMESPACE",
    "NAME",
    "NODE",
    "CPU",
    "CPU TREND",
    "MEMORY",
    "NET RX",
    "NET TX",
    "DISK R",
    "DISK W",
    "VCPU WAIT",
)
NODE_COLUMNS = ("NAME", "VMS", "CPU", "CPU %", "CPU TREND", "MEMORY", "MEM %")
NONE = "–"


def sparkline(points: Sequence[Point], width: int = 16) -> str:
    """The last `width` values as block characters, scaled to their own maximum ("" empty)."""
    values = [v for _, v in points if v is not None and math.isfinite(v)]
    values = values[-width:]
    if not values:
        return ""
    top = max(values)
    if top <= 0:
        return SPARK[0] * len(values)
    return "".join(SPARK[min(len(SPARK) - 1, int(v / top * (len(SPARK) - 1)))] for v in values)


def cores(value: float | None) -> str:
    return NONE if value is None else f"{value:.2f}"


def size(value: float | None) -> str:
    return NONE if value is None else humanize.naturalsize(value, binary=True, format="%.1f")


def rate(value: float | None) -> str:
    return NONE if value is None else f"{size(value)}/s"


def share(value: float | None) -> str:
    return NONE if value is None else f"{value * 100:.0f}%"


def _num(value: float | None) -> float:
    return -1.0 if value is None else value


def vm_row(usage: VmUsage, trend: Sequence[Point] = ()) -> Row:
    """One VM: CPU in cores, memory used of its domain, traffic, vCPU wait (share of a vCPU)."""
    memory = size(usage.memory)
    if usage.memory is not None and usage.memory_total:
        memory += f" / {size(usage.memory_total)}"
    hot = usage.cpu is not None and usage.cpu >= 0.9
    return Row(
        key=(usage.namespace, usage.name),
        cells=(
            usage.namespace,
            usage.name,
            usage.node or NONE,
            cores(usage.cpu),
            sparkline(trend),
            memory,
            rate(usage.net_rx),
            rate(usage.net_tx),
            rate(usage.storage_read),
            rate(usage.storage_write),
            share(usage.vcpu_wait),
        ),
        health="warn" if hot else "ok",
        sort_keys=(
            usage.namespace,
            usage.name,
            usage.node,
            _num(usage.cpu),
            _num(usage.cpu),
            _num(usage.memory),
            _num(usage.net_rx),
            _num(usage.net_tx),
            _num(usage.storage_read),
            _num(usage.storage_write),
            _num(usage.vcpu_wait),
        ),
    )


def node_row(usage: NodeUsage, trend: Sequence[Point] = ()) -> Row:
    """One node: its VMs, and CPU/memory the VMs use against what the node can give."""
    cpu = f"{cores(usage.cpu)} / {cores(usage.cpu_allocatable)}"
    memory = f"{size(usage.memory)} / {size(usage.memory_allocatable)}"
    cpu_share, memory_share = usage.cpu_share, usage.memory_share
    loaded = max(_num(cpu_share), _num(memory_share))
    return Row(
        key=("", usage.node),
        cells=(
            usage.node,
            NONE if usage.vms is None else str(usage.vms),
            cpu,
            share(cpu_share),
            sparkline(trend),
            memory,
            share(memory_share),
        ),
        health="error" if loaded >= 0.95 else "warn" if loaded >= 0.8 else "ok",
        sort_keys=(
            usage.node,
            -1 if usage.vms is None else usage.vms,
            _num(usage.cpu),
            _num(cpu_share),
            _num(usage.cpu),
            _num(usage.memory),
            _num(memory_share),
        ),
    )


def source_line(
    info: SourceInfo | None,
    reading: Reading | None,
    traffic: Traffic | None,
    per_minute: float | None,
    error: str,
    now: float,
) -> str:
    """Which source, how fresh, what it costs; a failing source in the error colour."""
    if info is None:
        return "[dim]Looking for a metrics source…[/]"
    parts = [f"[b]{escape(info.label)}[/b]"]
    if info.note:
        parts.append(f"[dim]{escape(info.note)}[/]")
    if error:
        parts.append(f"[$error]{escape(error)}[/]")
        if reading is not None:
            parts.append(f"showing data from {human_duration(reading.age(now))} ago")
    elif reading is not None:
        parts.append(f"data {human_duration(reading.age(now))} old")
    if traffic is not None and per_minute is not None:
        parts.append(f"{humanize.naturalsize(per_minute, binary=True)}/min fetched")
    return " · ".join(parts)


def summary_line(phases: Mapping[str, int] | None, migrations: MigrationCounts | None) -> str:
    """VMIs by phase and migrations running / pending / failed."""
    parts = []
    if phases is not None:
        shown = ", ".join(f"{n} {phase}" for phase, n in sorted(phases.items()))
        parts.append(f"[b]VMIs[/b] {escape(shown) or 'none'}")
    if migrations is not None:
        failed = f"[$error]{migrations.failed} failed[/]" if migrations.failed else "0 failed"
        waiting = migrations.pending + migrations.scheduling
        parts.append(f"[b]Migrations[/b] {migrations.running} running, {waiting} pending, {failed}")
    return "   ".join(parts)


def setup_line(results: Sequence[CheckResult]) -> str:
    """The monitoring setup in one line: each link's mark, then what to do about the first
    one that is not right."""
    if not results:
        return ""
    marks = {"ok": "[$success]✓[/]", "warning": "[$warning]![/]", "failure": "[$error]✗[/]"}
    links = " ".join(
        f"{marks.get(str(r.status), '[dim]?[/]')} {escape(r.id.removeprefix('monitoring.'))}"
        for r in results
    )
    line = f"[b]Monitoring setup[/b] {links}"
    wrong = next((r for r in results if str(r.status) != "ok"), None)
    if wrong is not None:
        todo = wrong.instructions[0] if wrong.instructions else ""
        line += f"\n  {escape(wrong.summary)}" + (f": {escape(todo)}" if todo else "")
    return line

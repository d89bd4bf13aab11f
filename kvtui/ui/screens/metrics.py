"""The metrics pane: the hottest VMs (CPU, memory, network and storage traffic, vCPU wait)
or the nodes (VMs, CPU and memory in use against allocatable), with sparklines, from
Prometheus or, without one, straight from the virt-handlers.

The pane asks its source while it is shown, every REFRESH_SECONDS after the last answer (asks
never overlap). A source that fails keeps the last numbers on screen, says what failed in the
source line, and is asked again on the next refresh; no other pane depends on it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Hashable

from textual import work
from textual.app import ComposeResult
from textual.widgets import Static

from kvtui.cluster.cache import ChangeSet
from kvtui.cluster.doctor_model import CheckResult
from kvtui.cluster.kinds import Kind
from kvtui.cluster.metrics_model import (
    MetricsError,
    MigrationCounts,
    NodeMetric,
    NodeUsage,
    Point,
    Reading,
    VmMetric,
    VmRef,
    VmUsage,
)
from kvtui.cluster.metrics_source import MetricsSource, open_metrics_source
from kvtui.cluster.monitoring_check import check_monitoring, prometheus_api
from kvtui.cluster.presenters import Row
from kvtui.cluster.session import Session, Target
from kvtui.ui.actions import Safety
from kvtui.ui.metrics_presenter import (
    NODE_COLUMNS,
    VM_COLUMNS,
    node_row,
    setup_line,
    source_line,
    summary_line,
    vm_row,
)
from kvtui.ui.screens.pane import PaneScreen
from kvtui.ui.widgets.resource_table import ColumnSpec, ResourceTable

REFRESH_SECONDS = 5.0
TOP_VMS = 25  # rows asked for; sparklines for these only (the traffic stays small)
RANGES = (300.0, 900.0, 3600.0, 21600.0)  # the sparklines' windows: 5m, 15m, 1h, 6h
NUMERIC = {"CPU", "MEMORY", "NET RX", "NET TX", "DISK R", "DISK W", "VCPU WAIT", "VMS"}


def _columns(names: tuple[str, ...]) -> tuple[ColumnSpec, ...]:
    return tuple(
        ColumnSpec(
            name,
            align="right" if name in NUMERIC or name.endswith("%") else "left",
            width=16 if name.endswith("TREND") else None,
        )
        for name in names
    )


class MetricsScreen(PaneScreen):
    scope = "metrics"
    pane_title = "Metrics"
    target_kind = "vm"
    columns = _columns(VM_COLUMNS)

    def __init__(self, session: Session, safety: Safety) -> None:
        super().__init__(session, safety)
        self.source: MetricsSource | None = None
        self.view = "vms"
        self.range_index = 1
        self.vms: list[VmUsage] = []
        self.nodes: list[NodeUsage] = []
        self.vm_trends: dict[VmRef, list[Point]] = {}
        self.node_trends: dict[str, list[Point]] = {}
        self.phases: dict[str, int] | None = None
        self.migrations: MigrationCounts | None = None
        self.last: Reading | None = None
        self.error = ""
        self.asked = 0
        self.started = time.monotonic()
        self._asking = asyncio.Lock()  # the poll and a key never ask at the same time
        self.setup: list[CheckResult] = []  # the monitoring setup check, once per opening

    def compose(self) -> ComposeResult:
        for widget in super().compose():
            if isinstance(widget, ResourceTable):
                yield Static("", id="metrics-source")
                yield Static("", id="metrics-summary")
                yield Static("", id="metrics-setup")
            yield widget

    def on_mount(self) -> None:
        super().on_mount()
        self.sort_hottest_first()
        self.table.empty_message = "Asking for the numbers…"
        self.paint_lines()
        self.poll()

    async def on_unmount(self) -> None:
        super().on_unmount()
        if self.source is not None:
            await self.source.close()

    @property
    def window(self) -> float:
        return RANGES[self.range_index]

    # -- reading --------------------------------------------------------------------------
    @work(exclusive=True, group="metrics-read")
    async def poll(self) -> None:
        """Ask while shown; the next ask is armed when the last one has answered."""
        session = self.session
        self.source = await open_metrics_source(
            session.connection, session.cache.items, session.prometheus
        )
        self.setup = await check_monitoring(session.connection, prometheus_api(self.source))
        if self.is_attached:
            self.query_one("#metrics-setup", Static).update(setup_line(self.setup))
        while True:
            if self.is_current or not self.asked:
                await self.refresh_numbers()
            await asyncio.sleep(REFRESH_SECONDS)

    async def refresh_numbers(self) -> None:
        async with self._asking:
            await self._ask()

    async def _ask(self) -> None:
        source = self.source
        if source is None:
            return
        try:
            if self.view == "vms":
                top = await source.top_vms(VmMetric.CPU, limit=TOP_VMS)
                self.vms, self.last = top.value, top
                refs = [usage.ref for usage in top.value]
                trend = await source.vm_history(VmMetric.CPU, refs, self.window)
                self.vm_trends = trend.value
            else:
                nodes = await source.node_usage()
                self.nodes, self.last = nodes.value, nodes
                names = [n.node for n in nodes.value]
                trend = await source.node_history(NodeMetric.CPU, names, self.window)
                self.node_trends = trend.value
            self.phases = (await source.vmis_by_phase()).value
            self.migrations = (await source.migration_counts()).value
            self.error = ""
        except MetricsError as exc:
            self.error = str(exc)
        self.asked += 1
        if self.is_attached:
            self.reload()
            self.paint_lines()

    def paint_lines(self) -> None:
        source = self.source
        traffic = source.traffic if source is not None else None
        minutes = max((time.monotonic() - self.started) / 60, 1 / 60)
        per_minute = traffic.bytes / minutes if traffic is not None else None
        info = source.info if source is not None else None
        line = source_line(info, self.last, traffic, per_minute, self.error, time.time())
        self.query_one("#metrics-source", Static).update(line)
        self.query_one("#metrics-summary", Static).update(
            summary_line(self.phases, self.migrations)
        )

    # -- rows -----------------------------------------------------------------------------
    def build_rows(self) -> list[Row]:
        if self.view == "vms":
            return [vm_row(u, self.vm_trends.get(u.ref, ())) for u in self.vms]
        return [node_row(n, self.node_trends.get(n.node, ())) for n in self.nodes]

    def reload(self) -> None:
        super().reload()
        if self.error and not self.table.row_count:
            self.table.empty_message = f"No numbers: {self.error}"
        elif not self.asked:
            self.table.empty_message = "Asking for the numbers…"
        else:
            self.table.empty_message = "No running VMs report metrics"

    def apply_changes(self, changes: ChangeSet) -> None:
        """The rows come from the metrics source, not from the cache."""

    def sort_hottest_first(self) -> None:
        """By CPU, highest first (the sort keys still switch it as in every table)."""
        names = [c.name for c in self.shown_columns]
        if "CPU" in names:
            self.table.sort_by(names.index("CPU"), reverse=True)

    # -- keys -----------------------------------------------------------------------------
    async def action_metrics_view(self) -> None:
        self.view = "nodes" if self.view == "vms" else "vms"
        self.columns = _columns(NODE_COLUMNS if self.view == "nodes" else VM_COLUMNS)
        self.target_kind = "node" if self.view == "nodes" else "vm"
        if hasattr(self, "_choice"):
            del self._choice  # the config's column choice is per view
        self.table.set_columns(self.shown_columns)
        self.sort_hottest_first()
        self.table.set_rows([])
        self.reload()
        await self.refresh_numbers()

    async def action_metrics_range(self) -> None:
        self.range_index = (self.range_index + 1) % len(RANGES)
        minutes = int(self.window // 60)
        label = f"{minutes // 60}h" if minutes >= 60 else f"{minutes}m"
        self.notify(f"Sparklines: the last {label}.")
        await self.refresh_numbers()

    def action_drill(self) -> None:
        """A VM row opens its VM health screen."""
        key = self.table.cursor_key
        if key is None or self.view != "vms":
            return
        from kvtui.ui.screens.vm_health import VmHealthScreen

        self.app.push_screen(VmHealthScreen(self.session, key[0], key[1]))

    def target_for(self, key: Hashable) -> Target:
        namespace, name = key  # type: ignore[misc]
        if self.view == "nodes":
            return Target("node", name, None)
        return Target("vm", name, namespace)

    def object_at_cursor(self) -> tuple[Kind, str | None, str] | None:
        from kvtui.cluster import kinds

        key = self.table.cursor_key
        if key is None:
            return None
        if self.view == "nodes":
            return kinds.NODES, None, key[1]
        return kinds.VMIS, key[0], key[1]

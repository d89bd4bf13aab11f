"""One line of live numbers for one VM: CPU and memory now, with sparklines of the last 15
minutes, and where they come from. Used by the VM health screen; it asks the same metrics
source the metrics pane uses, every few seconds while shown, and a failing source is one dim
line, never an error that takes the screen down."""

from __future__ import annotations

import asyncio

from textual import work
from textual.markup import escape
from textual.widgets import Static

from kvtui.cluster.metrics_model import MetricsError, VmMetric, VmRef
from kvtui.cluster.metrics_source import MetricsSource, open_metrics_source
from kvtui.cluster.session import Session
from kvtui.ui.metrics_presenter import cores, size, sparkline

ASK_EVERY = 5.0
WINDOW = 900.0


class SparklineLine(Static):
    """A line of numbers asked of the metrics source every ASK_EVERY seconds while shown;
    subclasses say what to ask (`text`)."""

    def __init__(self, session: Session) -> None:
        super().__init__("[dim]Metrics: asking…[/]", classes="sparklines")
        self.session = session
        self.source: MetricsSource | None = None
        self.asked = 0

    def on_mount(self) -> None:
        self.follow()

    async def on_unmount(self) -> None:
        if self.source is not None:
            await self.source.close()

    @work(exclusive=True, group="vm-sparklines")
    async def follow(self) -> None:
        session = self.session
        self.source = await open_metrics_source(
            session.connection, session.cache.items, session.prometheus
        )
        while True:
            await self.ask()
            await asyncio.sleep(ASK_EVERY)

    async def ask(self) -> None:
        source = self.source
        assert source is not None
        try:
            self.update(await self.text(source))
        except MetricsError as exc:
            self.update(f"[dim]Metrics: {escape(str(exc))}[/]")
        finally:
            self.asked += 1

    async def text(self, source: MetricsSource) -> str:  # pragma: no cover - abstract
        raise NotImplementedError


class VmSparklines(SparklineLine):
    """CPU and memory of one VM (the VM health screen)."""

    def __init__(self, session: Session, namespace: str, name: str) -> None:
        super().__init__(session)
        self.ref = VmRef(namespace, name)

    async def text(self, source: MetricsSource) -> str:
        now = await source.vm_usage(self.ref)
        cpu = await source.vm_history(VmMetric.CPU, [self.ref], WINDOW)
        memory = await source.vm_history(VmMetric.MEMORY, [self.ref], WINDOW)
        usage = now.value
        if usage is None:
            return f"[dim]Metrics: no numbers for this VM ({escape(now.source.label)})[/]"
        memory_text = size(usage.memory)
        if usage.memory_total:
            memory_text += f" / {size(usage.memory_total)}"
        return (
            f"[b]CPU[/] {sparkline(cpu.value.get(self.ref, ()))} {cores(usage.cpu)} cores   "
            f"[b]Memory[/] {sparkline(memory.value.get(self.ref, ()))} {memory_text}   "
            f"[dim]{escape(now.source.label)}, last 15m[/]"
        )

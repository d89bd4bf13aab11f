"""One line of live numbers for one node, over its VMs list: what its VMs use of the node's
CPU and memory, with sparklines of the last 15 minutes."""

from __future__ import annotations

from textual.markup import escape

from kvtui.cluster.metrics_model import NodeMetric
from kvtui.cluster.metrics_source import MetricsSource
from kvtui.cluster.session import Session
from kvtui.ui.metrics_presenter import cores, share, size, sparkline
from kvtui.ui.widgets.vm_sparklines import WINDOW, SparklineLine


class NodeSparklines(SparklineLine):
    def __init__(self, session: Session, node: str) -> None:
        super().__init__(session)
        self.node = node

    async def text(self, source: MetricsSource) -> str:
        nodes = await source.node_usage()
        usage = next((n for n in nodes.value if n.node == self.node), None)
        if usage is None:
            return f"[dim]Metrics: no numbers for this node ({escape(nodes.source.label)})[/]"
        cpu = await source.node_history(NodeMetric.CPU, [self.node], WINDOW)
        memory = await source.node_history(NodeMetric.MEMORY, [self.node], WINDOW)
        return (
            f"[b]VMs use CPU[/] {sparkline(cpu.value.get(self.node, ()))} "
            f"{cores(usage.cpu)} / {cores(usage.cpu_allocatable)} ({share(usage.cpu_share)})   "
            f"[b]memory[/] {sparkline(memory.value.get(self.node, ()))} "
            f"{size(usage.memory)} / {size(usage.memory_allocatable)} "
            f"({share(usage.memory_share)})   [dim]{escape(nodes.source.label)}, last 15m[/]"
        )

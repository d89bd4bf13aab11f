"""The Nodes pane: KubeVirt hosts with KVM capacity, virt-handler, VMIs, requests and taints."""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable

from kvtui.cluster import kinds
from kvtui.cluster.presenters import NODE_COLUMNS, Row, node_row, node_usage
from kvtui.cluster.session import Target
from kvtui.cluster.views import Node, Pod, Vmi
from kvtui.ui.screens.pane import PaneScreen
from kvtui.ui.widgets.resource_table import ColumnSpec

RIGHT = {"VMIS", "CPU", "MEMORY", "AGE"}


class NodesScreen(PaneScreen):
    scope = "nodes"
    pane_title = "Nodes"
    target_kind = "node"
    columns = tuple(
        ColumnSpec(name, align="right" if name in RIGHT else "left") for name in NODE_COLUMNS
    )

    def build_rows(self) -> list[Row]:
        cache = self.session.cache
        pods = [Pod(p) for p in cache.items(kinds.PODS)]
        usage = node_usage(pods)
        handlers = {p.node: p.phase for p in pods if p.labels.get("kubevirt.io") == "virt-handler"}
        vmi_count = Counter(Vmi(v).node for v in cache.items(kinds.VMIS))
        rows = []
        self.labels = {}
        for raw in cache.items(kinds.NODES):
            node = Node(raw)
            cpu, memory = usage.get(node.name, (0, 0))
            rows.append(
                node_row(
                    node,
                    vmi_count.get(node.name, 0),
                    cpu,
                    memory,
                    handlers.get(node.name, "missing"),
                    now=self.app.clock(),
                )
            )
            self.labels[rows[-1].key] = node.labels
        return rows

    def target_for(self, key: Hashable) -> Target:
        _, name = key  # type: ignore[misc]
        return Target("node", name)

    def action_drill(self) -> None:
        key = self.table.cursor_key
        if key is None:
            return
        from kvtui.ui.screens.vms import VmsScreen

        self.app.push_screen(VmsScreen(self.session, self.safety, node=key[1]))

    def object_at_cursor(self) -> tuple[kinds.Kind, str | None, str] | None:
        key = self.table.cursor_key
        return (kinds.NODES, None, key[1]) if key is not None else None

    def action_cordon(self) -> None:
        self.request("cordon")

    def action_uncordon(self) -> None:
        self.request("uncordon")

    def action_drain(self) -> None:
        """The drain screen for the node under the cursor: the plan, then the board."""
        key = self.table.cursor_key
        if key is None:
            return
        from kvtui.ui.screens.drain import DrainScreen

        self.app.push_screen(DrainScreen(self.session, self.safety, key[1]))

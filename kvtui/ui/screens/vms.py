"""The VMs pane: VMs and their VMIs across user clusters, with eviction and migration state."""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable

from textual.app import ComposeResult

from kvtui.cluster import kinds
from kvtui.cluster.cache import ChangeSet
from kvtui.cluster.migrations import migration_targets
from kvtui.cluster.presenters import VM_COLUMNS, Row, vm_row
from kvtui.cluster.session import Session, Target
from kvtui.cluster.views import Migration, Node, Vm, Vmi
from kvtui.ui.actions import Safety
from kvtui.ui.screens.node_picker import NodePickerScreen
from kvtui.ui.screens.pane import PaneScreen
from kvtui.ui.widgets.node_sparklines import NodeSparklines
from kvtui.ui.widgets.resource_table import ColumnSpec, ResourceTable

RIGHT = {"CPUS", "MEMORY", "AGE"}
ROW_KINDS = {kinds.VMS.name, kinds.VMIS.name, kinds.VMIMS.name}


class VmsScreen(PaneScreen):
    scope = "vms"
    pane_title = "VMs"
    target_kind = "vm"
    columns = tuple(
        ColumnSpec(name, align="right" if name in RIGHT else "left") for name in VM_COLUMNS
    )

    def __init__(self, session: Session, safety: Safety, *, node: str | None = None) -> None:
        super().__init__(session, safety, subtitle=f"node {node}" if node else "")
        self.node = node

    def compose(self) -> ComposeResult:
        """A node's VMs (drilled down from Nodes) get the node's live numbers above them."""
        for widget in super().compose():
            if self.node and isinstance(widget, ResourceTable):
                yield NodeSparklines(self.session, self.node)
            yield widget

    def _migrations(self) -> dict[tuple[str, str], Migration]:
        """The newest migration of each VMI (running ones win over finished ones)."""
        latest: dict[tuple[str, str], Migration] = {}
        for raw in self.session.cache.items(kinds.VMIMS):
            mig = Migration(raw)
            key = (mig.namespace, mig.vmi_name)
            old = latest.get(key)
            if old is None or (not mig.final, mig.created) > (not old.final, old.created):
                latest[key] = mig
        return latest

    def _row(
        self, key: tuple[str, str], default: str, migrations: dict[tuple[str, str], Migration]
    ) -> Row | None:
        cache = self.session.cache
        vm_raw = cache.get(kinds.VMS, *key)
        vmi_raw = cache.get(kinds.VMIS, *key)
        if vm_raw is None and vmi_raw is None:
            return None
        vmi = Vmi(vmi_raw) if vmi_raw else None
        if self.node and (vmi is None or vmi.node != self.node):
            return None
        vm = Vm(vm_raw) if vm_raw else None
        self.labels[key] = (vm or vmi).labels  # type: ignore[union-attr]
        return vm_row(vm, vmi, migrations.get(key), default, now=self.app.clock())

    def build_rows(self) -> list[Row]:
        cache = self.session.cache
        keys = {
            (o["metadata"]["namespace"], o["metadata"]["name"])
            for kind in (kinds.VMS, kinds.VMIS)
            for o in cache.items(kind)
        }
        default = self.session.cluster_eviction_default()
        migrations = self._migrations()
        self.labels = {}
        rows = [self._row(k, default, migrations) for k in sorted(keys)]
        return [r for r in rows if r is not None]

    def apply_changes(self, changes: ChangeSet) -> None:
        """Only the VMs whose VM, VMI or migration changed are re-rendered."""
        touched: set[tuple[str, str]] = set()
        for kind_name, keys in changes.kinds.items():
            if kind_name not in ROW_KINDS:
                continue
            if kind_name == kinds.VMIMS.name:
                for namespace, name in keys:
                    raw = self.session.cache.get(kinds.VMIMS, namespace, name)
                    if raw is not None:
                        touched.add((namespace, Migration(raw).vmi_name))
            else:
                touched.update(keys)
        if not touched:
            if changes.states_changed:
                self.reload()
            return
        if len(touched) > 2000:
            self.reload()
            return
        default = self.session.cluster_eviction_default()
        migrations = self._migrations()
        changed, removed = [], []
        for key in touched:
            row = self._row(key, default, migrations)
            if row is None:
                removed.append(key)
            else:
                changed.append(row)
        self.table.update_rows(self.project(changed), removed)

    def target_for(self, key: Hashable) -> Target:
        namespace, name = key  # type: ignore[misc]
        return Target("vm", name, namespace)

    def action_drill(self) -> None:
        key = self.table.cursor_key
        if key is not None:
            from kvtui.ui.screens.vm_health import VmHealthScreen

            self.app.push_screen(VmHealthScreen(self.session, key[0], key[1]))

    def object_at_cursor(self) -> tuple[kinds.Kind, str | None, str] | None:
        key = self.table.cursor_key
        if key is None:
            return None
        kind = kinds.VMS if self.session.cache.get(kinds.VMS, *key) else kinds.VMIS
        return kind, key[0], key[1]

    def action_vm_start(self) -> None:
        self.request("vm_start")

    def action_vm_stop(self) -> None:
        self.request("vm_stop")

    def action_vm_restart(self) -> None:
        self.request("vm_restart")

    def action_vm_migrate(self) -> None:
        self.request("vm_migrate")

    def action_vm_migrate_to(self) -> None:
        """Ask which node first (or any node), then confirm naming it."""
        count = len(self.targets())
        if not count:
            self.notify("Nothing selected.", severity="warning")
            return
        cache = self.session.cache
        names = migration_targets(Node(raw) for raw in cache.items(kinds.NODES))
        on_node = Counter(Vmi(raw).node for raw in cache.items(kinds.VMIS))
        nodes = [(name, f"{on_node.get(name, 0)} VMIs") for name in names]

        def chosen(node: str | None) -> None:
            if node is None:
                return
            self.request(
                "vm_migrate_to",
                label="Migrate",
                detail=f"to node {node}" if node else "to any node",
                params={"target_node": node} if node else None,
            )

        question = f"Migrate {count} VM{'s' if count != 1 else ''} to which node?"
        self.app.push_screen(NodePickerScreen(question, nodes), chosen)

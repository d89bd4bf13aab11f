"""The Migrations pane: every VirtualMachineInstanceMigration, where it moves a guest from and
to, how far it got, and cancel for the ones in flight."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable

from textual import work

from kvtui.cluster import kinds
from kvtui.cluster.cache import ChangeSet
from kvtui.cluster.migration_metrics import (
    MigrationSample,
    converging,
    scrape_migrations,
    virt_handler_pods,
)
from kvtui.cluster.migration_rows import MIGRATION_COLUMNS, migration_row
from kvtui.cluster.presenters import Row
from kvtui.cluster.session import Session, Target
from kvtui.cluster.views import Migration
from kvtui.ui.actions import Safety
from kvtui.ui.screens.pane import PaneScreen
from kvtui.ui.widgets.resource_table import ColumnSpec

RIGHT = {"PROGRESS", "DURATION", "AGE"}
WIDE = {"TIMELINE": 120}
POLL_SECONDS = 2.0

Key = tuple[str, str]


class MigrationsScreen(PaneScreen):
    scope = "migrations"
    pane_title = "Migrations"
    target_kind = "migration"
    columns = tuple(
        ColumnSpec(name, align="right" if name in RIGHT else "left", max_width=WIDE.get(name, 48))
        for name in MIGRATION_COLUMNS
    )

    def __init__(self, session: Session, safety: Safety) -> None:
        super().__init__(session, safety)
        # (namespace, VMI name) -> the latest and the one before, from the virt-handlers
        self.samples: dict[Key, MigrationSample] = {}
        self.previous: dict[Key, MigrationSample] = {}
        self.polling = False

    def _row(self, migration: Migration) -> Row:
        sample = previous = None
        if migration.phase == "Running":
            sample = self.samples.get(migration.vmi_key)
            previous = self.previous.get(migration.vmi_key)
        trend = converging(sample, previous) if sample is not None else None
        self.labels[migration.key] = migration.labels
        return migration_row(migration, sample, trend, now=self.app.clock())

    def build_rows(self) -> list[Row]:
        self.labels = {}
        return [self._row(Migration(raw)) for raw in self.session.cache.items(kinds.VMIMS)]

    def reload(self) -> None:
        super().reload()
        self.follow_progress()

    def apply_changes(self, changes: ChangeSet) -> None:
        """Only the migrations that changed are re-rendered."""
        keys = changes.keys(kinds.VMIMS)
        if not keys:
            if changes.states_changed:
                self.reload()
            return
        changed, removed = [], []
        for namespace, name in keys:
            raw = self.session.cache.get(kinds.VMIMS, namespace, name)
            if raw is None:
                removed.append((namespace, name))
                self.labels.pop((namespace, name), None)
            else:
                changed.append(self._row(Migration(raw)))
        self.table.update_rows(self.project(changed), removed)
        self.follow_progress()

    # -- progress from the virt-handlers -------------------------------------------------
    def running_migrations(self) -> list[Migration]:
        migrations = (Migration(raw) for raw in self.session.cache.items(kinds.VMIMS))
        return [m for m in migrations if m.phase == "Running"]

    def follow_progress(self) -> None:
        """Start polling the virt-handlers while some migration runs (one poller at a time)."""
        if not self.polling and self.running_migrations():
            self.polling = True
            self.poll_progress()

    @work(exclusive=True, group="migration-progress")
    async def poll_progress(self) -> None:
        """Every POLL_SECONDS after the last answer (polls never overlap) until none runs."""
        try:
            while running := self.running_migrations():
                if self.is_current:  # another pane on top: nobody to show progress to
                    sources = {m.source_node for m in running if m.source_node}
                    pods = virt_handler_pods(self.session.cache.items(kinds.PODS), sources)
                    samples = await scrape_migrations(self.session.connection, pods)
                    self.previous, self.samples = self.samples, samples
                    self.table.update_rows(self.project([self._row(m) for m in running]), [])
                await asyncio.sleep(POLL_SECONDS)
        finally:
            self.polling = False

    # -- actions -------------------------------------------------------------------------
    def target_for(self, key: Hashable) -> Target:
        namespace, name = key  # type: ignore[misc]
        return Target("migration", name, namespace)

    def object_at_cursor(self) -> tuple[kinds.Kind, str | None, str] | None:
        key = self.table.cursor_key
        return (kinds.VMIMS, key[0], key[1]) if key is not None else None

    def action_drill(self) -> None:
        self.action_describe()

    def action_migration_cancel(self) -> None:
        self.request("migration_cancel")

"""What every table pane shares: header, live table, filter and command prompt, footer, keys.

A pane turns cache objects into rows with the presenters, repaints on the cache's coalesced
change sets, and hands mutating actions to the app with the targets named.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from textual.app import ComposeResult
from textual.message import Message
from textual.widgets import Footer

from kvtui.cluster.cache import ChangeSet
from kvtui.cluster.filters import RowFilter, parse_filter
from kvtui.cluster.kinds import Kind
from kvtui.cluster.presenters import Row
from kvtui.cluster.session import Session, Target
from kvtui.ui.actions import BY_NAME, Safety
from kvtui.ui.screens.action_screen import ActionScreen
from kvtui.ui.screens.confirm import Confirmation
from kvtui.ui.widgets.prompt import Prompt
from kvtui.ui.widgets.resource_table import ColumnSpec, ResourceTable
from kvtui.ui.widgets.status_header import StatusHeader


class PaneScreen(ActionScreen):
    """Base of the table panes; subclasses say what rows they show."""

    show_back = False  # escape leaves a drilled-down pane; the base panes stay (`:q` quits)
    pane_title = ""
    target_kind = ""
    columns: Sequence[ColumnSpec] = ()

    def __init__(self, session: Session, safety: Safety, *, subtitle: str = "") -> None:
        super().__init__(session, safety)
        self.subtitle = subtitle
        self.row_filter: RowFilter | None = None
        self.labels: dict[Hashable, dict[str, str]] = {}
        self._unsubscribe = None

    def compose(self) -> ComposeResult:
        yield StatusHeader(self.session, self.safety, self.pane_title, self.subtitle)
        table = ResourceTable(id="table")
        table.set_columns(self.shown_columns)
        yield table
        yield Prompt(id="prompt")
        yield Footer()

    @property
    def table(self) -> ResourceTable:
        return self.query_one(ResourceTable)

    def on_mount(self) -> None:
        self.table.empty_message = "Waiting for the cluster…"
        self.reload()
        self._unsubscribe = self.session.cache.subscribe(self._on_changes)
        self.table.focus()

    def on_unmount(self) -> None:
        if self._unsubscribe:
            self._unsubscribe()

    class CacheChanged(Message):
        """The cache's coalesced change set, brought into the screen's own message loop."""

        def __init__(self, changes: ChangeSet) -> None:
            super().__init__()
            self.changes = changes

    def _on_changes(self, changes: ChangeSet) -> None:
        # Called by the cache outside Textual's context: only hand the changes over.
        self.post_message(self.CacheChanged(changes))

    def on_pane_screen_cache_changed(self, message: CacheChanged) -> None:
        if self.is_attached:
            self.apply_changes(message.changes)
            self.query_one(StatusHeader).refresh_state()

    # -- rows ----------------------------------------------------------------------------
    def build_rows(self) -> list[Row]:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def shown_columns(self) -> tuple[ColumnSpec, ...]:
        return tuple(self.columns[i] for i in self._column_choice())

    def _column_choice(self) -> tuple[int, ...]:
        """Indexes of the columns the config file picks for this pane (NAME always stays)."""
        if not hasattr(self, "_choice"):
            names = [c.name for c in self.columns]
            wanted = [n.upper() for n in self.session.config.columns.get(self.scope, [])]
            unknown = [n for n in wanted if n not in names]
            if unknown:
                self.notify(
                    f"config: unknown {self.scope} column(s) {', '.join(unknown)}; "
                    f"known: {', '.join(names)}",
                    severity="warning",
                    timeout=10,
                )
            picked = [names.index(n) for n in wanted if n in names]
            if picked and names.index("NAME") not in picked:
                picked.insert(0, names.index("NAME"))
            self._choice = tuple(picked) or tuple(range(len(names)))
        return self._choice

    def project(self, rows: Sequence[Row]) -> list[Row]:
        """Rows cut to the chosen columns (all of them unless the config file says)."""
        choice = self._column_choice()
        if len(choice) == len(self.columns):
            return list(rows)
        return [
            Row(
                r.key,
                tuple(r.cells[i] for i in choice),
                r.health,
                tuple(r.sort_keys[i] for i in choice) if r.sort_keys else r.sort_keys,
            )
            for r in rows
        ]

    def reload(self) -> None:
        rows = self.project(self.build_rows())
        self.table.set_rows(rows)
        synced = self.session.cache.synced()
        self.table.empty_message = (
            "No rows match the filter"
            if self.row_filter
            else f"No {self.pane_title.lower()}"
            if synced
            else "Waiting for the cluster…"
        )

    def apply_changes(self, changes: ChangeSet) -> None:
        """Default: rebuild every row (cheap for small panes); VMs override incrementally."""
        self.reload()

    # -- actions -------------------------------------------------------------------------
    def offered(self, action: str) -> bool:
        # While the prompt is open, `:` and `/` are text for it.
        return action not in ("command", "filter") or not self.query_one(Prompt).display

    def action_command(self) -> None:
        self.query_one(Prompt).open("command")

    def action_filter(self) -> None:
        self.query_one(Prompt).open("filter", self.row_filter.text if self.row_filter else "")

    def on_prompt_entered(self, message: Prompt.Entered) -> None:
        if message.mode == "command":
            self.app.run_command(message.value)
        else:
            self.set_filter(message.value)
        self.table.focus()

    def on_prompt_edited(self, message: Prompt.Edited) -> None:
        if message.mode == "filter":
            self.set_filter(message.value, live=True)

    def on_prompt_closed(self, message: Prompt.Closed) -> None:
        self.table.focus()

    def set_filter(self, text: str, live: bool = False) -> None:
        """Apply the filter line; while typing (`live`), a regex that is not complete yet
        (`kv-node-[`) keeps the last good filter quietly, and only Enter reports it."""
        try:
            self.row_filter = parse_filter(text) if text.strip() else None
        except ValueError as exc:
            if not live:
                self.notify(str(exc), severity="warning")
            return
        if self.row_filter is None:
            self.table.set_filter(None)
        else:
            row_filter = self.row_filter
            self.table.set_filter(
                lambda row: row_filter.matches(row.cells, self.labels.get(row.key, {}))
            )
        self.query_one(StatusHeader).set_filter(text)

    def on_resource_table_selected(self, message: ResourceTable.Selected) -> None:
        message.stop()
        self.action_drill()

    def action_drill(self) -> None:
        """Enter: subclasses open what lies below a row."""

    def action_mark(self) -> None:
        self.table.action_toggle_mark()

    def action_sort_name(self) -> None:
        self.table.sort_by(self._column("NAME"))

    def action_sort_age(self) -> None:
        self.table.sort_by(self._column("AGE"))

    def action_sort_prev(self) -> None:
        self.table.sort_by(max(0, (self.table.sort_column or 0) - 1))

    def action_sort_next(self) -> None:
        self.table.sort_by(min(len(self.shown_columns) - 1, (self.table.sort_column or 0) + 1))

    def _column(self, name: str) -> int:
        names = [c.name for c in self.shown_columns]
        return names.index(name) if name in names else 0

    def object_at_cursor(self) -> tuple[Kind, str | None, str] | None:
        """The kind, namespace and name that `d` and `y` show; subclasses say which."""
        return None

    def action_describe(self) -> None:
        self._show("describe")

    def action_yaml(self) -> None:
        self._show("yaml")

    def _show(self, how: str) -> None:
        found = self.object_at_cursor()
        if found is not None:
            from kvtui.ui.screens.object_view import ObjectViewScreen

            self.app.push_screen(ObjectViewScreen(self.session, *found, how))

    def targets(self) -> list[Target]:
        """The marked rows in table order (then any the filter hides, sorted), else the row
        under the cursor: the confirmation lists targets in the order the user sees them."""
        marked = self.table.marked_keys
        shown = [k for k in self.table.keys_in_view() if k in marked]
        hidden = sorted(marked.difference(shown), key=str)
        keys = shown + hidden or (
            [self.table.cursor_key] if self.table.cursor_key is not None else []
        )
        return [self.target_for(k) for k in keys]

    def target_for(self, key: Hashable) -> Target:  # pragma: no cover - abstract
        raise NotImplementedError

    def request(
        self,
        action: str,
        *,
        label: str | None = None,
        detail: str = "",
        params: Mapping[str, Any] | None = None,
    ) -> None:
        """Hand the targets to the app's one confirmation path; `label`, `detail` and `params`
        name and carry what an action asked for first (a migration's target node)."""
        targets = self.targets()
        if not targets:
            self.notify("Nothing selected.", severity="warning")
            return
        self.app.confirm_and_run(
            Confirmation(
                action,
                self.session.context,
                targets,
                label or BY_NAME[action].label,
                detail,
                dict(params or {}),
            )
        )

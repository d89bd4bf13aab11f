"""The drain's table: the plan before it starts, one row per VM (and pod) while it runs.

A drain has tens of rows, not thousands, so Textual's DataTable does; rows are replaced in
place and the cursor stays on the same pod across repaints.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist

from kvtui.cluster.drain import DrainPlan, Outcome
from kvtui.cluster.drain_report import BOARD_COLUMNS, PLAN_COLUMNS, board_cells, plan_cells
from kvtui.cluster.drain_run import DrainItem, State

OUTCOME_STYLE = {
    Outcome.BLOCKED: "bold red",
    Outcome.REPLACE: "yellow",
    Outcome.SHUT_DOWN: "yellow",
    Outcome.BEST_EFFORT: "yellow",
    Outcome.IGNORE: "dim",
}
STATE_STYLE = {
    State.BLOCKED: "bold red",
    State.FAILED: "bold red",
    State.MIGRATED: "green",
    State.REPLACED: "green",
    State.RESTARTED: "green",
    State.EVICTED: "green",
    State.SHUT_DOWN: "yellow",
    State.MIGRATING: "cyan",
}


# VM, state ("migrating: PreparingTarget"), route, elapsed, progress, last message (in full
# in the panel below the board for the row under the cursor)
BOARD_WIDTHS = (32, 26, 24, 7, 36, 60)


class DrainBoard(DataTable):
    """Plan rows or board rows; `cursor_pod` is the (namespace, pod) under the cursor."""

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = True
        self._mode = ""

    def _columns(
        self, mode: str, names: tuple[str, ...], widths: tuple[int | None, ...] = ()
    ) -> None:
        if self._mode != mode:
            self.clear(columns=True)
            for name, width in zip(names, widths or (None,) * len(names), strict=True):
                self.add_column(name, width=width)
            self._mode = mode

    def _replace(self, rows: list[tuple[str, tuple[Text | str, ...]]]) -> None:
        """Swap in new rows, keeping the cursor on the same key where it still exists."""
        current = self.cursor_pod
        self.clear()
        for key, cells in rows:
            self.add_row(*cells, key=key)
        keys = [k for k, _ in rows]
        if current is not None and "/".join(current) in keys:
            self.move_cursor(row=keys.index("/".join(current)))

    def show_plan(self, plan: DrainPlan) -> None:
        self._columns("plan", PLAN_COLUMNS)
        rows = []
        for p in sorted(
            plan.pods, key=lambda p: (p.outcome is Outcome.IGNORE, p.namespace, p.name)
        ):
            cells = list(plan_cells(p))
            cells[3] = Text(cells[3], style=OUTCOME_STYLE.get(p.outcome, ""))
            rows.append((f"{p.namespace}/{p.pod}", tuple(cells)))
        self._replace(rows)

    def show_items(self, items: list[DrainItem], node: str, now: float) -> None:
        # Fixed widths: a column sized by the longest value it ever showed would make the
        # board's layout depend on the drain's history.
        self._columns("board", BOARD_COLUMNS, BOARD_WIDTHS)
        rows = []
        for item in items:
            cells = list(board_cells(item, node, now))
            style = "bold red" if item.stuck else STATE_STYLE.get(item.state, "")
            cells[1] = Text(cells[1], style=style)
            rows.append((f"{item.plan.namespace}/{item.plan.pod}", tuple(cells)))
        self._replace(rows)

    @property
    def cursor_pod(self) -> tuple[str, str] | None:
        if not self.row_count:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except CellDoesNotExist:
            return None
        namespace, _, pod = (key or "").partition("/")
        return (namespace, pod) if pod else None

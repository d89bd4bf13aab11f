"""A table for tens of thousands of live rows: paints only the visible window, at most 10 Hz.

Textual's DataTable keeps a renderable per cell and re-measures on every add; a cluster with
10,000 VMIs changing every second needs rows kept by key, ordered incrementally (bisect, not a
re-sort per event) and repaints coalesced by a timer.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from time import monotonic
from typing import ClassVar, Literal

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.timer import Timer

from kvtui.ui.widgets.row_index import RowIndex, TableRow

HEALTHS = ("ok", "warn", "error", "muted")
MARKER = "● "
MARKER_WIDTH = 2
COLUMN_GAP = 2
TEXT_CACHE_LIMIT = 8_192


@dataclass(frozen=True)
class ColumnSpec:
    """One column: a fixed `width`, or auto (content width within `min_width`..`max_width`).

    Columns with a `ratio` share whatever width the viewport has left over.
    """

    name: str
    width: int | None = None
    align: Literal["left", "right"] = "left"
    min_width: int = 3
    ratio: int | None = None
    max_width: int = 48


def _text_width(text: str) -> int:
    return len(text) if text.isascii() else cell_len(text)


def _fit(text: str, width: int, align: str) -> str:
    """Pad or truncate (with an ellipsis) to exactly `width` cells."""
    if text.isascii():
        if len(text) > width:
            return text[: width - 1] + "…" if width > 0 else ""
        return text.rjust(width) if align == "right" else text.ljust(width)
    length = cell_len(text)
    if length > width:
        return set_cell_size(text, width - 1) + "…" if width > 0 else ""
    pad = " " * (width - length)
    return pad + text if align == "right" else text + pad


def _column_widths(rows: Iterable[TableRow], count: int) -> list[int]:
    """The widest cell of each column, measured in C loops (len) where the text is ASCII."""
    cells = [row.cells for row in rows]
    widths = []
    for index in range(count):
        try:
            column = list(map(itemgetter(index), cells))
        except IndexError:  # a short row
            column = [row[index] if index < len(row) else "" for row in cells]
        measure = len if "".join(column).isascii() else cell_len
        widths.append(max(map(measure, column), default=0))
    return widths


class ResourceTable(ScrollView, can_focus=True):
    """Rows by key, sorted, filtered, marked; a fixed header; only visible lines are rendered.

    Data changes (`set_rows`, `update_rows`, `sort_by`, `set_filter`) repaint at most every
    `REPAINT_INTERVAL` seconds; cursor keys repaint at once.
    """

    REPAINT_INTERVAL: ClassVar[float] = 0.1

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("pageup", "cursor_page_up", "Page up", show=False),
        Binding("pagedown", "cursor_page_down", "Page down", show=False),
        Binding("home,g", "cursor_first", "First", show=False),
        Binding("end,G", "cursor_last", "Last", show=False),
        Binding("enter", "select_cursor", "Select", show=False),
        Binding("space", "toggle_mark", "Mark", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "resource-table--header",
        "resource-table--cursor",
        "resource-table--marked",
        "resource-table--empty",
        *(f"resource-table--{health}" for health in HEALTHS),
    }

    DEFAULT_CSS = """
    ResourceTable {
        background: $surface;
        color: $foreground;
        height: 1fr;
        & > .resource-table--header {
            background: $panel;
            color: $foreground;
            text-style: bold;
        }
        & > .resource-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        &:focus > .resource-table--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: $block-cursor-text-style;
        }
        & > .resource-table--marked {
            background: $accent 30%;
            text-style: bold;
        }
        & > .resource-table--ok {
        }
        & > .resource-table--warn {
            color: $warning;
        }
        & > .resource-table--error {
            color: $error;
        }
        & > .resource-table--muted {
            color: $text-muted;
        }
        & > .resource-table--empty {
            color: $text-muted;
            text-style: italic;
        }
    }
    """

    class Highlighted(Message):
        """The cursor is on a different row (`key` is None when the table is empty).

        When data changes move the cursor, this is posted with the repaint, so at most 10/s.
        """

        def __init__(self, resource_table: ResourceTable, key: Hashable | None) -> None:
            self.resource_table = resource_table
            self.key = key
            super().__init__()

        @property
        def control(self) -> ResourceTable:
            return self.resource_table

    class Selected(Message):
        """Enter (or a double click) on a row."""

        def __init__(self, resource_table: ResourceTable, key: Hashable) -> None:
            self.resource_table = resource_table
            self.key = key
            super().__init__()

        @property
        def control(self) -> ResourceTable:
            return self.resource_table

    empty_message: reactive[str] = reactive("No rows")

    def __init__(
        self,
        columns: Sequence[ColumnSpec] = (),
        *,
        empty_message: str = "No rows",
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self._columns: tuple[ColumnSpec, ...] = ()
        self._content_widths: list[int] = []
        self._index = RowIndex()
        self._marked: set[Hashable] = set()
        self._cursor_key: Hashable | None = None
        self._cursor_row = 0
        self._announced: Hashable | None = None
        self._anchor_row: int | None = None  # the cursor's row as last painted
        self._reveal_cursor = False
        self._widths_version = 0
        self._layout_key: tuple[int, int] | None = None
        self._layout_id = 0
        self._widths: list[int] = []
        self._natural_width = 0
        self._texts: dict[Hashable, tuple[TableRow, int, str]] = {}
        self._styles: dict[tuple[str, bool, bool], Style] = {}
        self._dirty = False
        self._last_repaint = -1.0
        self._repaint_timer: Timer | None = None
        self.repaint_count = 0
        """Repaints the table asked for after data changes (throttled to 10 per second)."""
        self.paint_count = 0
        """Passes in which Textual rendered lines of this widget, for any reason (data,
        cursor, scroll, focus); passes served wholly from Textual's line cache do not count."""
        self.lines_rendered = 0
        """Lines rendered (header, rows, blanks) since mount: a paint renders a window."""
        self.set_reactive(ResourceTable.empty_message, empty_message)
        if columns:
            self.set_columns(columns)

    # ---- public data API -------------------------------------------------------------------

    @property
    def columns(self) -> tuple[ColumnSpec, ...]:
        return self._columns

    @property
    def row_count(self) -> int:
        """Rows passing the filter."""
        return len(self._index)

    @property
    def total_count(self) -> int:
        return self._index.total

    @property
    def cursor_key(self) -> Hashable | None:
        return self._cursor_key

    @property
    def cursor_row(self) -> int:
        """The cursor's position among the rows on display (0 when empty)."""
        return self._cursor_row

    @property
    def marked_keys(self) -> frozenset[Hashable]:
        """Marked rows that exist, shown or filtered out (removed rows lose their mark)."""
        return frozenset(self._marked)

    @property
    def sort_column(self) -> int | None:
        return self._index.sort_column

    @property
    def sort_reverse(self) -> bool:
        return self._index.reverse

    def get_row(self, key: Hashable) -> TableRow | None:
        return self._index.get(key)

    def keys_in_view(self) -> list[Hashable]:
        """The displayed keys, top to bottom (a copy)."""
        return self._index.keys()

    def set_columns(self, columns: Sequence[ColumnSpec]) -> None:
        self._columns = tuple(columns)
        self._content_widths = _column_widths(self._index.rows(), len(self._columns))
        sort_column = self._index.sort_column
        if sort_column is not None and sort_column >= len(self._columns):
            self._index.sort(None, False)
        self._widths_version += 1
        self._changed()

    def set_rows(self, rows: Sequence[TableRow]) -> None:
        """Replace every row; the cursor (on its screen line) and marks stay on their keys."""
        self._index.replace(rows)
        self._marked = {key for key in self._marked if self._index.get(key) is not None}
        self._texts.clear()
        self._content_widths = _column_widths(self._index.rows(), len(self._columns))
        self._widths_version += 1
        self._changed()

    def update_rows(self, changed: Iterable[TableRow], removed: Iterable[Hashable] = ()) -> None:
        """Add or replace rows by key and drop removed keys (first), without a re-sort."""
        changed = list(changed)
        removed = list(removed)
        for key in removed:
            self._marked.discard(key)
            self._texts.pop(key, None)
        widths = self._content_widths
        grown = False
        for row in changed:
            for index, cell in enumerate(row.cells[: len(widths)]):
                width = _text_width(cell)
                if width > widths[index]:
                    widths[index] = width
                    grown = True
        if grown:
            self._widths_version += 1
        self._index.update(changed, removed)
        self._changed()

    def sort_by(self, column_index: int | None, reverse: bool | None = None) -> None:
        """Sort by a column (again on the same column: flip the direction); None: as given."""
        if column_index is not None and not 0 <= column_index < len(self._columns):
            raise IndexError(f"no column {column_index} (table has {len(self._columns)})")
        if reverse is None:
            reverse = column_index == self._index.sort_column and not self._index.reverse
        self._index.sort(column_index, reverse)
        self._reveal_cursor = True
        self._changed()

    def set_filter(self, predicate: Callable[[TableRow], bool] | None) -> None:
        """Show only rows the predicate accepts (None: all); marks on hidden rows are kept."""
        self._index.filter(predicate)
        self._reveal_cursor = True
        self._changed()

    def clear_marks(self) -> None:
        self._marked.clear()
        self.refresh()

    def move_cursor(self, key: Hashable) -> bool:
        """Put the cursor on a key; False when it is not on display."""
        row = self._index.locate(key)
        if row is None:
            return False
        self._move_cursor_to(row)
        return True

    # ---- repaint throttle ------------------------------------------------------------------

    def _sync_cursor(self) -> None:
        """Follow the cursor's key; if it went away, stay on the same row number."""
        index = self._index
        row = None if self._cursor_key is None else index.locate(self._cursor_key)
        if row is None:
            row = min(self._cursor_row, len(index) - 1)
        self._cursor_row = max(row, 0)
        self._cursor_key = index.key_at(self._cursor_row) if index else None

    def _changed(self) -> None:
        """Data changed: repaint now if the last repaint is old enough, else once, later."""
        self._sync_cursor()
        self._dirty = True
        if not self.is_mounted or self._repaint_timer is not None:
            return
        wait = self._last_repaint + self.REPAINT_INTERVAL - monotonic()
        if wait <= 0:
            self._repaint()
        else:
            self._repaint_timer = self.set_timer(wait, self._repaint)

    def _repaint(self) -> None:
        """Apply pending data changes to the screen: size, scroll position, one refresh."""
        if self._repaint_timer is not None:
            self._repaint_timer.stop()
            self._repaint_timer = None
        if not self._dirty:
            return
        self._dirty = False
        self._last_repaint = monotonic()
        self.repaint_count += 1
        self._ensure_layout()
        self.virtual_size = Size(self._natural_width, len(self._index) + 1)
        page = self._page_height()
        if self._reveal_cursor:
            self._scroll_cursor_into_view()
        elif self._anchor_row is not None and 0 <= self._anchor_row - self.scroll_y < page:
            # Rows came or went above the cursor: keep it on the same screen line.
            offset = self._anchor_row - round(self.scroll_y)
            self.scroll_to(y=max(0, self._cursor_row - offset), animate=False, force=True)
        self._reveal_cursor = False
        self._anchor_row = self._cursor_row
        self.refresh()
        self._announce()

    def on_mount(self) -> None:
        if self._dirty:
            self._repaint()

    # ---- cursor ----------------------------------------------------------------------------

    def _page_height(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def _scroll_cursor_into_view(self) -> None:
        top = round(self.scroll_y)
        page = self._page_height()
        if self._cursor_row < top:
            self.scroll_to(y=self._cursor_row, animate=False, force=True)
        elif self._cursor_row >= top + page:
            self.scroll_to(y=self._cursor_row - page + 1, animate=False, force=True)

    def _announce(self) -> None:
        if self._cursor_key != self._announced:
            self._announced = self._cursor_key
            self.post_message(self.Highlighted(self, self._cursor_key))

    def _move_cursor_to(self, row: int, *, page: bool = False) -> None:
        """Move the cursor; a page move scrolls by as much, keeping the cursor's screen line."""
        self._repaint()  # pending data first: the cursor moves over what is on screen
        if not self._index:
            return
        old = self._cursor_row
        self._cursor_row = max(0, min(row, len(self._index) - 1))
        self._cursor_key = self._index.key_at(self._cursor_row)
        self.refresh_line(old + 1)
        self.refresh_line(self._cursor_row + 1)
        if page:
            delta = self._cursor_row - old
            self.scroll_to(y=round(self.scroll_y) + delta, animate=False, force=True)
        self._scroll_cursor_into_view()
        self._anchor_row = self._cursor_row
        self._announce()

    def action_cursor_up(self) -> None:
        self._move_cursor_to(self._cursor_row - 1)

    def action_cursor_down(self) -> None:
        self._move_cursor_to(self._cursor_row + 1)

    def action_cursor_page_up(self) -> None:
        self._move_cursor_to(self._cursor_row - self._page_height(), page=True)

    def action_cursor_page_down(self) -> None:
        self._move_cursor_to(self._cursor_row + self._page_height(), page=True)

    def action_cursor_first(self) -> None:
        self._move_cursor_to(0)

    def action_cursor_last(self) -> None:
        self._move_cursor_to(len(self._index) - 1)

    def action_select_cursor(self) -> None:
        if self._cursor_key is not None:
            self.post_message(self.Selected(self, self._cursor_key))

    def action_toggle_mark(self) -> None:
        key = self._cursor_key
        if key is None:
            return
        if key in self._marked:
            self._marked.discard(key)
        else:
            self._marked.add(key)
        self.refresh_line(self._cursor_row + 1)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        if offset.y == 0:
            column = self._column_at(offset.x + round(self.scroll_x))
            if column is not None:
                self.sort_by(column)
            return
        row = offset.y - 1 + round(self.scroll_y)
        if row < len(self._index):
            self._move_cursor_to(row)
            if event.chain >= 2:
                self.action_select_cursor()

    # ---- layout and rendering --------------------------------------------------------------

    def _ensure_layout(self) -> None:
        """Column widths for the current content and viewport width, recomputed on change."""
        layout_key = (self._widths_version, self.size.width)
        if layout_key == self._layout_key:
            return
        widths = []
        for spec, content in zip(self._columns, self._content_widths, strict=True):
            if spec.width is not None:
                widths.append(spec.width)
            else:
                natural = max(spec.min_width, _text_width(spec.name) + 1, content)
                widths.append(min(natural, max(spec.max_width, spec.min_width)))
        gaps = COLUMN_GAP * max(0, len(widths) - 1)
        self._natural_width = MARKER_WIDTH + sum(widths) + gaps
        spare = self.size.width - self._natural_width
        ratios = [(index, spec.ratio) for index, spec in enumerate(self._columns) if spec.ratio]
        if spare > 0 and ratios:
            total = sum(ratio for _, ratio in ratios)
            given = 0
            for index, ratio in ratios:
                share = spare * ratio // total
                widths[index] += share
                given += share
            widths[ratios[-1][0]] += spare - given
        if widths != self._widths:
            self._layout_id += 1
            self._widths = widths
        self._layout_key = layout_key

    def _column_at(self, x: int) -> int | None:
        start = MARKER_WIDTH
        for index, width in enumerate(self._widths):
            if start <= x < start + width + COLUMN_GAP:
                return index
            start += width + COLUMN_GAP
        return None

    def _row_text(self, key: Hashable, row: TableRow) -> str:
        """The padded cells of a row as one string, cached by (row identity, layout)."""
        cached = self._texts.get(key)
        if cached is not None and cached[0] is row and cached[1] == self._layout_id:
            return cached[2]
        gap = " " * COLUMN_GAP
        cells = row.cells
        text = gap.join(
            _fit(cells[index] if index < len(cells) else "", width, spec.align)
            for index, (spec, width) in enumerate(zip(self._columns, self._widths, strict=True))
        )
        if len(self._texts) >= TEXT_CACHE_LIMIT:
            self._texts.clear()
        self._texts[key] = (row, self._layout_id, text)
        return text

    def _layer(self, component: str) -> Style:
        """Only what a component class sets, with its colours blended as Textual does."""
        full = self.get_component_rich_style(component)
        partial = self.get_component_rich_style(component, partial=True)
        return partial + Style(
            color=full.color if partial.color else None,
            bgcolor=full.bgcolor if partial.bgcolor else None,
        )

    def _row_style(self, health: str, marked: bool, cursor: bool) -> Style:
        """Base, then health (colour), marked (tint), cursor: a marked warning stays amber."""
        cache_key = (health, marked, cursor)
        style = self._styles.get(cache_key)
        if style is None:
            style = self.rich_style
            if health in HEALTHS:
                style += self._layer(f"resource-table--{health}")
            if marked:
                style += self._layer("resource-table--marked")
            if cursor:
                style += self._layer("resource-table--cursor")
            self._styles[cache_key] = style
        return style

    def render_lines(self, crop: Region) -> list[Strip]:
        self._styles.clear()  # component styles may have changed (focus, theme)
        self._ensure_layout()
        rendered = self.lines_rendered
        strips = super().render_lines(crop)
        if self.lines_rendered != rendered:
            self.paint_count += 1
        return strips

    def render_line(self, y: int) -> Strip:
        self.lines_rendered += 1
        width = self.size.width
        scroll_x = round(self.scroll_x)
        if y == 0:
            return self._render_header(scroll_x, width)
        if not self._index:
            return self._render_empty(y, width)
        index = y - 1 + round(self.scroll_y)
        if index >= len(self._index):
            return Strip.blank(width, self.rich_style)
        return self._render_row(index, scroll_x, width)

    def _render_header(self, scroll_x: int, width: int) -> Strip:
        style = self.get_component_rich_style("resource-table--header")
        names = []
        for index, (spec, cell_width) in enumerate(zip(self._columns, self._widths, strict=True)):
            name = spec.name
            if index == self._index.sort_column:
                name += "▼" if self._index.reverse else "▲"
            names.append(_fit(name, cell_width, spec.align))
        text = " " * MARKER_WIDTH + (" " * COLUMN_GAP).join(names)
        return Strip([Segment(text, style)]).crop_extend(scroll_x, scroll_x + width, style)

    def _render_empty(self, y: int, width: int) -> Strip:
        if y != 1 + (self.size.height - 1) // 2:
            return Strip.blank(width, self.rich_style)
        style = self.get_component_rich_style("resource-table--empty")
        text = _fit(self.empty_message, width, "left").strip()
        left = max(0, (width - _text_width(text)) // 2)
        line = Strip([Segment(" " * left, self.rich_style), Segment(text, style)])
        return line.adjust_cell_length(width, self.rich_style)

    def _render_row(self, index: int, scroll_x: int, width: int) -> Strip:
        key = self._index.key_at(index)
        row = self._index[key]
        marked = key in self._marked
        style = self._row_style(row.health, marked, index == self._cursor_row)
        line = Strip(
            [
                Segment(MARKER if marked else " " * MARKER_WIDTH, style),
                Segment(self._row_text(key, row), style),
            ]
        )
        return line.crop_extend(scroll_x, scroll_x + width, style)

"""ResourceTable behaviour through Pilot: rendering, cursor, sort, filter, marks, throttle."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from time import monotonic
from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.pilot import Pilot

from kvtui.ui.widgets.resource_table import ColumnSpec, ResourceTable

COLUMNS = (
    ColumnSpec("NAME"),
    ColumnSpec("PHASE"),
    ColumnSpec("CPU", align="right"),
    ColumnSpec("NODE", ratio=1),
)


@dataclass(frozen=True)
class Row:
    """Shaped like kvtui.cluster.presenters.Row, without importing the domain."""

    key: Hashable
    cells: tuple[str, ...]
    health: str = "ok"
    sort_keys: tuple[Any, ...] = ()


def vm_row(index: int, cpu: int | None = None, phase: str = "Running") -> Row:
    cpu = index % 17 if cpu is None else cpu
    health = {"Running": "ok", "Pending": "warn", "Failed": "error"}.get(phase, "muted")
    return Row(
        key=f"vm-{index:05}",
        cells=(f"vm-{index:05}", phase, str(cpu), f"node-{index % 5}"),
        health=health,
        sort_keys=(None, None, cpu, None),
    )


class TableApp(App[None]):
    def __init__(self, rows: Sequence[Row] = ()) -> None:
        super().__init__()
        self.initial_rows = rows
        self.highlighted: list[Hashable | None] = []
        self.selected: list[Hashable] = []

    def compose(self) -> ComposeResult:
        yield ResourceTable(COLUMNS, empty_message="No VMs match the filter")

    def on_mount(self) -> None:
        self.query_one(ResourceTable).set_rows(self.initial_rows)

    def on_resource_table_highlighted(self, message: ResourceTable.Highlighted) -> None:
        self.highlighted.append(message.key)

    def on_resource_table_selected(self, message: ResourceTable.Selected) -> None:
        self.selected.append(message.key)


async def settle(pilot: Pilot[None]) -> None:
    """Let a throttled repaint happen and the screen paint."""
    await pilot.pause(ResourceTable.REPAINT_INTERVAL + 0.05)


def lines(table: ResourceTable) -> list[str]:
    return [table.render_line(y).text for y in range(table.size.height)]


def names_on_screen(table: ResourceTable) -> list[str]:
    return [line.split()[0] for line in lines(table)[1:] if line.strip() and "vm-" in line]


async def test_rows_render_with_a_fixed_header() -> None:
    app = TableApp([vm_row(i) for i in range(50)])
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.query_one(ResourceTable)
        await settle(pilot)
        rendered = lines(table)
        assert rendered[0].split() == ["NAME", "PHASE", "CPU", "NODE"]
        assert rendered[1].split() == ["vm-00000", "Running", "0", "node-0"]
        assert "vm-00028" in app.export_screenshot()
        await pilot.press("G")
        await settle(pilot)
        assert lines(table)[0].split() == ["NAME", "PHASE", "CPU", "NODE"]
        assert lines(table)[-1].split()[0] == "vm-00049"


async def test_health_marks_and_cursor_are_styled_by_component_classes() -> None:
    phases = ["Running", "Pending", "Failed", "Succeeded", "Running", "Pending"]
    app = TableApp([vm_row(i, phase=phase) for i, phase in enumerate(phases)])
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.query_one(ResourceTable)
        table.focus()
        await pilot.press("down", "space", "down")  # mark the Pending row, cursor on Failed
        await settle(pilot)

        def style(y: int):
            return next(iter(table.render_line(y))).style

        component = table.get_component_rich_style
        ok, warn, error, muted = style(5), style(6), style(3), style(4)
        assert warn.color == component("resource-table--warn").color != ok.color
        assert muted.color == component("resource-table--muted").color != ok.color
        assert error.bgcolor == component("resource-table--cursor").bgcolor != ok.bgcolor
        marked = style(2)
        assert marked.color == warn.color  # the mark tints; the health colour stays
        assert marked.bgcolor == component("resource-table--marked").bgcolor != ok.bgcolor


async def test_only_visible_rows_are_rendered() -> None:
    app = TableApp([vm_row(i) for i in range(10_000)])
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.query_one(ResourceTable)
        await settle(pilot)
        rendered: list[int] = []
        render_row = table._render_row

        def counting(index: int, scroll_x: int, width: int):
            rendered.append(index)
            return render_row(index, scroll_x, width)

        table._render_row = counting  # type: ignore[method-assign]
        table.refresh()
        await pilot.pause()
        assert 0 < len(rendered) <= 30
        rendered.clear()
        await pilot.press("pagedown", "pagedown")
        await settle(pilot)
        assert 0 < len(rendered) <= 3 * 30
        assert min(rendered) >= 28
        rendered.clear()
        table.update_rows([vm_row(i, cpu=99) for i in range(0, 10_000, 2)])
        await settle(pilot)
        assert len(rendered) <= 2 * 30


async def test_cursor_moves_and_enter_selects() -> None:
    app = TableApp([vm_row(i) for i in range(100)])
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.query_one(ResourceTable)
        table.focus()
        await settle(pilot)
        assert table.cursor_key == "vm-00000"
        await pilot.press("down", "down")
        assert table.cursor_key == "vm-00002"
        await pilot.press("up")
        assert table.cursor_key == "vm-00001"
        await pilot.press("pagedown")
        page = table.scrollable_content_region.height - 1
        assert table.cursor_row == 1 + page
        await pilot.press("G")
        assert table.cursor_key == "vm-00099"
        await settle(pilot)
        assert "vm-00099" in lines(table)[-1]
        await pilot.press("g")
        assert table.cursor_key == "vm-00000"
        assert table.scroll_y == 0
        await pilot.press("end", "pageup", "home", "down")
        assert table.cursor_key == "vm-00001"
        await pilot.press("enter")
        await pilot.pause()
        assert app.selected == ["vm-00001"]
        assert app.highlighted[0] == "vm-00000"
        assert app.highlighted[-1] == "vm-00001"
        assert "vm-00099" in app.highlighted


async def test_sorting_uses_sort_keys_and_toggles() -> None:
    app = TableApp([vm_row(i, cpu=cpu) for i, cpu in enumerate([9, 10, 2, 100, 2])])
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.query_one(ResourceTable)
        table.sort_by(2)
        await settle(pilot)
        assert "CPU▲" in lines(table)[0]
        # Numeric sort keys, not string order ("10" < "2"); ties keep their given order.
        assert names_on_screen(table) == [
            "vm-00002",
            "vm-00004",
            "vm-00000",
            "vm-00001",
            "vm-00003",
        ]
        table.sort_by(2)
        await settle(pilot)
        assert "CPU▼" in lines(table)[0]
        assert names_on_screen(table) == [
            "vm-00003",
            "vm-00001",
            "vm-00000",
            "vm-00002",
            "vm-00004",
        ]
        table.sort_by(0, reverse=True)  # no sort keys for NAME: the cell text
        assert table.keys_in_view()[0] == "vm-00004"
        table.sort_by(None)
        assert table.keys_in_view() == [f"vm-{i:05}" for i in range(5)]


async def test_clicking_a_header_sorts() -> None:
    app = TableApp([vm_row(i, cpu=20 - i) for i in range(20)])
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.query_one(ResourceTable)
        await settle(pilot)
        x = lines(table)[0].index("CPU")
        await pilot.click(ResourceTable, offset=(x, 0))
        assert table.sort_column == 2
        assert table.keys_in_view()[0] == "vm-00019"


async def test_filter_and_counts() -> None:
    app = TableApp([vm_row(i) for i in range(100)])
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.query_one(ResourceTable)
        await settle(pilot)
        await pilot.press("down", "down", "down")
        table.set_filter(lambda row: row.cells[3] == "node-3")
        await settle(pilot)
        assert (table.row_count, table.total_count) == (20, 100)
        assert table.cursor_key == "vm-00003"
        assert all(line.split()[-1] == "node-3" for line in lines(table)[1:21])
        table.set_filter(lambda row: False)
        await settle(pilot)
        assert table.row_count == 0
        assert table.cursor_key is None
        assert "No VMs match the filter" in "".join(lines(table))
        table.set_filter(None)
        assert table.row_count == 100


async def test_marks_survive_sorting_filtering_and_updates() -> None:
    app = TableApp([vm_row(i) for i in range(30)])
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.query_one(ResourceTable)
        table.focus()
        await settle(pilot)
        await pilot.press("space", "down", "down", "space", "down", "space", "space")
        assert table.marked_keys == {"vm-00000", "vm-00002"}
        await settle(pilot)
        assert lines(table)[1].startswith("●")
        assert not lines(table)[2].startswith("●")
        table.sort_by(2, reverse=True)
        table.set_filter(lambda row: row.key != "vm-00002")
        table.update_rows([vm_row(0, cpu=50, phase="Failed"), vm_row(2, cpu=51)])
        await settle(pilot)
        assert table.marked_keys == {"vm-00000", "vm-00002"}
        assert lines(table)[1].startswith("● vm-00000")
        table.set_filter(None)
        await settle(pilot)
        assert [line[:10] for line in lines(table)[1:3]] == ["● vm-00002", "● vm-00000"]
        table.update_rows([], removed=["vm-00002"])
        assert table.marked_keys == {"vm-00000"}
        table.clear_marks()
        assert table.marked_keys == frozenset()


async def test_updates_keep_the_cursor_on_its_key() -> None:
    app = TableApp([vm_row(i, cpu=i) for i in range(10, 200)])
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.query_one(ResourceTable)
        table.focus()
        table.sort_by(2)
        await settle(pilot)
        assert table.move_cursor("vm-00049")
        await pilot.press("down")
        await settle(pilot)
        assert table.cursor_key == "vm-00050"
        screen_line = table.cursor_row - round(table.scroll_y)
        # Rows sorting before the cursor arrive, others change in place.
        table.update_rows(
            [vm_row(i, cpu=i) for i in range(10)] + [vm_row(60, cpu=61, phase="Pending")]
        )
        await settle(pilot)
        assert table.cursor_key == "vm-00050"
        assert table.cursor_row == 50
        assert table.cursor_row - round(table.scroll_y) == screen_line
        assert "vm-00050" in lines(table)[screen_line + 1]
        # A full reload with more rows above the cursor: the same, the cursor's line stays.
        table.set_rows([vm_row(i, cpu=i) for i in range(-5, 200)])
        await settle(pilot)
        assert (table.cursor_key, table.cursor_row) == ("vm-00050", 55)
        assert table.cursor_row - round(table.scroll_y) == screen_line
        # The cursor's row moves by its sort key: the cursor follows it (after vm-00005,
        # which ties and came first; CPUs -5..4 are above).
        table.update_rows([vm_row(50, cpu=5)])
        assert (table.cursor_key, table.cursor_row) == ("vm-00050", 11)
        # The cursor's row goes away: the cursor stays on the same line.
        table.update_rows([], removed=["vm-00050"])
        assert (table.cursor_key, table.cursor_row) == ("vm-00006", 11)
        await settle(pilot)
        assert app.highlighted[-1] == "vm-00006"


async def test_repaints_are_throttled_under_a_flood() -> None:
    app = TableApp([vm_row(i) for i in range(1_000)])
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.query_one(ResourceTable)
        await settle(pilot)
        repaints, paints = table.repaint_count, table.paint_count
        started = monotonic()
        for step in range(500):
            table.update_rows([vm_row(step % 20, cpu=step)])
            await asyncio.sleep(0.001)
        elapsed = monotonic() - started
        await settle(pilot)
        limit = elapsed / ResourceTable.REPAINT_INTERVAL + 2
        assert table.repaint_count - repaints <= limit
        assert table.paint_count - paints <= limit
        assert lines(table)[20].split()[2] == "499"  # the last update made it to the screen
        # 500 updates without yielding: the first repaints at once, the rest in one more.
        repaints = table.repaint_count
        for step in range(500):
            table.update_rows([vm_row(step % 20, cpu=step)])
        await settle(pilot)
        assert table.repaint_count - repaints <= 2


async def test_empty_state_message_is_centered() -> None:
    app = TableApp([])
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.query_one(ResourceTable)
        await settle(pilot)
        rendered = lines(table)
        assert table.cursor_key is None
        assert rendered[0].split() == ["NAME", "PHASE", "CPU", "NODE"]
        (line,) = [line for line in rendered[1:] if line.strip()]
        assert line.strip() == "No VMs match the filter"
        left = len(line) - len(line.lstrip())
        right = len(line) - len(line.rstrip())
        assert abs(left - right) <= 1
        assert 10 <= rendered.index(line) <= 20
        table.empty_message = "Nothing-here"
        await pilot.pause()
        assert "Nothing-here" in app.export_screenshot()
        await pilot.press("down", "enter", "space")
        assert app.selected == []


@pytest.mark.parametrize("sort_column", [None, 2])
async def test_incremental_updates_match_a_full_rebuild(sort_column: int | None) -> None:
    """Random adds, changes and removals (small and bulk) against a brute-force model."""
    rng = random.Random(3)
    app = TableApp([vm_row(i, cpu=rng.randrange(50)) for i in range(500)])
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.query_one(ResourceTable)
        await settle(pilot)
        model = {f"vm-{i:05}": table.get_row(f"vm-{i:05}") for i in range(500)}
        predicate: Callable[[Row], bool] = lambda row: int(row.cells[2]) % 3 != 0  # noqa: E731
        table.set_filter(predicate)
        table.sort_by(sort_column, reverse=True)
        next_index = 500
        for batch in (5, 1, 40, 300, 3, 900, 2):
            changed = []
            for _ in range(batch):
                if rng.random() < 0.3:
                    changed.append(vm_row(next_index, cpu=rng.randrange(50)))
                    next_index += 1
                else:
                    key = rng.choice(sorted(model))
                    changed.append(vm_row(int(key[3:]), cpu=rng.randrange(50)))
            keep = {row.key for row in changed}
            removable = sorted(key for key in model if key not in keep)
            removed = rng.sample(removable, k=min(len(removable), batch // 3))
            table.update_rows(changed, removed)
            for key in removed:
                model.pop(key, None)
            for row in changed:
                model[row.key] = row
            # Unsorted: the order rows arrived in. Sorted: descending CPU, ties in arrival order.
            expected = [key for key, row in model.items() if predicate(row)]
            if sort_column is not None:
                expected.sort(key=lambda key: -model[key].sort_keys[2])
            assert table.keys_in_view() == expected
            assert table.total_count == len(model)
        await settle(pilot)

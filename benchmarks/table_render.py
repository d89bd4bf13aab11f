"""Benchmark ResourceTable against Textual's DataTable (the peer), measured in the same run.

Prints, for 10,000 VMI-like rows in a 160x50 headless app: load + first paint (target
<= 0.2 s), 1,000 row updates applied and painted (target <= 50 ms to apply), and paints per
second under a flood of 10,000 updates in 2 s (target <= 10/s); then the ratios DataTable / ours.
"Painted" means the widget's `render_lines` produced lines that contain the expected text.

    python benchmarks/table_render.py [--rows 10000] [--updates 1000] [--flood 10000] [--big 0]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from bisect import bisect_left
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter
from typing import Any

from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.pilot import Pilot
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import DataTable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kvtui.ui.widgets.resource_table import ColumnSpec, ResourceTable

SIZE = (160, 50)
COLUMNS = (
    ColumnSpec("NAMESPACE"),
    ColumnSpec("NAME"),
    ColumnSpec("PHASE"),
    ColumnSpec("NODE"),
    ColumnSpec("IP"),
    ColumnSpec("VCPU", align="right"),
    ColumnSpec("MEMORY", align="right"),
    ColumnSpec("LIVE-MIGRATABLE"),
    ColumnSpec("AGE", align="right", ratio=1),
)
PHASES = ("Running", "Running", "Running", "Scheduling", "Pending", "Failed", "Succeeded")
HEALTH = {"Running": "ok", "Scheduling": "warn", "Pending": "warn", "Failed": "error"}
UPDATED_COLUMNS = (2, 3, 4)  # a status change touches phase, node and IP


@dataclass(frozen=True, slots=True)
class Row:
    key: Hashable
    cells: tuple[str, ...]
    health: str
    sort_keys: tuple[Any, ...]


def vmi_row(index: int, generation: int = 0) -> Row:
    phase = PHASES[(index * 3 + generation) % len(PHASES)]
    node = (index + generation * 13) % 200
    vcpu = 1 << (index % 4)
    memory = vcpu * 2
    age = 60 * (index % 1440) + generation
    cells = (
        f"cluster-{index // 100:04x}",
        f"vm-{index:06}",
        phase,
        f"kv-node-{node:03}",
        f"10.{(index >> 16) & 255}.{(index >> 8) & 255}.{(index + generation) & 255}",
        str(vcpu),
        f"{memory}Gi",
        "True" if index % 3 else "False",
        f"{age // 3600}h{age // 60 % 60}m",
    )
    return Row(f"vm-{index:06}", cells, HEALTH.get(phase, "muted"), (None,) * 5 + (vcpu, memory))


class PaintClock:
    """Counts a widget's paints and notes the first one showing an expected text.

    A paint is a `render_lines` pass that rendered lines (called `render_line`); passes that
    Textual serves from its line cache (e.g. when only a scrollbar changed) do not count.
    """

    def __init__(self) -> None:
        self.paints = 0
        self.times: list[float] = []
        self.expect: str | None = None
        self.seen_at: float | None = None
        self.lines = 0
        self.busy = 0.0  # seconds spent in render_lines

    def note(self, strips: list[Strip], lines_before: int, started: float) -> None:
        self.busy += perf_counter() - started
        if self.lines != lines_before:
            self.paints += 1
            self.times.append(perf_counter())
        expect = self.expect
        if expect is not None and self.seen_at is None and any(expect in s.text for s in strips):
            self.seen_at = perf_counter()

    def watch_for(self, text: str) -> None:
        self.expect, self.seen_at = text, None

    def busiest_second(self, since: float) -> int:
        """The most paints in any one-second window [t, t + 1) after `since`."""
        times = [t for t in self.times if t >= since]
        return max((bisect_left(times, t + 1.0) - i for i, t in enumerate(times)), default=0)


class PeerTable(DataTable):
    def __init__(self) -> None:
        super().__init__()
        self.clock = PaintClock()

    def render_lines(self, crop: Region) -> list[Strip]:
        lines_before, started = self.clock.lines, perf_counter()
        strips = super().render_lines(crop)
        self.clock.note(strips, lines_before, started)
        return strips

    def render_line(self, y: int) -> Strip:
        self.clock.lines += 1
        return super().render_line(y)


class OurTable(ResourceTable):
    def __init__(self) -> None:
        super().__init__(COLUMNS)
        self.clock = PaintClock()

    def render_lines(self, crop: Region) -> list[Strip]:
        lines_before, started = self.clock.lines, perf_counter()
        strips = super().render_lines(crop)
        self.clock.note(strips, lines_before, started)
        return strips

    def render_line(self, y: int) -> Strip:
        self.clock.lines += 1
        return super().render_line(y)


class TableApp(App[None]):
    def __init__(self, table: Widget) -> None:
        super().__init__()
        self.table = table

    def compose(self) -> ComposeResult:
        yield self.table


async def painted(pilot: Pilot[None], clock: PaintClock, timeout: float = 60.0) -> float:
    """Wait until the watched text has been painted; the moment it was."""
    deadline = perf_counter() + timeout
    while clock.seen_at is None:
        if perf_counter() > deadline:
            raise SystemExit(f"{clock.expect!r} was never painted")
        await pilot.pause()
    return clock.seen_at


async def flood(pilot: Pilot[None], count: int, seconds: float, apply_batch) -> float:
    """Apply `count` single-row updates spread over `seconds`; the elapsed time."""
    ticks = max(1, int(seconds / 0.01))
    per_tick = max(1, count // ticks)
    started = perf_counter()
    done = 0
    for tick in range(ticks):
        apply_batch(range(done, done + per_tick))
        done += per_tick
        delay = started + (tick + 1) * seconds / ticks - perf_counter()
        await asyncio.sleep(max(0.0, delay))
    await pilot.pause()
    return perf_counter() - started


async def measure_peer(args: argparse.Namespace, rows: list[Row]) -> dict[str, float]:
    table = PeerTable()
    app = TableApp(table)
    figures: dict[str, float] = {}
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        column_keys = table.add_columns(*(column.name for column in COLUMNS))
        table.clock.watch_for(rows[0].cells[1])
        started = perf_counter()
        for row in rows:
            table.add_row(*row.cells, key=row.key)
        figures["load_call"] = perf_counter() - started
        figures["load_paint"] = await painted(pilot, table.clock) - started
        assert rows[0].cells[1] in app.export_screenshot()

        changed = [vmi_row(index, 1) for index in range(args.updates)]
        table.clock.watch_for(changed[0].cells[4])
        started = perf_counter()
        for row in changed:
            for column in UPDATED_COLUMNS:
                table.update_cell(row.key, column_keys[column], row.cells[column])
        figures["update_call"] = perf_counter() - started
        figures["update_paint"] = await painted(pilot, table.clock) - started

        def apply(indexes: range) -> None:
            for index in indexes:
                row = vmi_row(index % len(rows), 2 + index)
                for column in UPDATED_COLUMNS:
                    table.update_cell(row.key, column_keys[column], row.cells[column])

        await pilot.pause(0.2)
        paints, since, busy = table.clock.paints, perf_counter(), table.clock.busy
        elapsed = await flood(pilot, args.flood, args.flood_seconds, apply)
        figures["flood_paint_ms"] = (table.clock.busy - busy) / elapsed * 1000
        figures["flood_paints_per_s"] = (table.clock.paints - paints) / elapsed
        figures["flood_busiest_second"] = table.clock.busiest_second(since)
        figures["flood_elapsed"] = elapsed
    return figures


async def measure_ours(args: argparse.Namespace, rows: list[Row]) -> dict[str, float]:
    table = OurTable()
    app = TableApp(table)
    figures: dict[str, float] = {}
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        table.clock.watch_for(rows[0].cells[1])
        started = perf_counter()
        table.set_rows(rows)
        figures["load_call"] = perf_counter() - started
        figures["load_paint"] = await painted(pilot, table.clock) - started
        assert rows[0].cells[1] in app.export_screenshot()

        await pilot.pause(0.2)
        changed = [vmi_row(index, 1) for index in range(args.updates)]
        table.clock.watch_for(changed[0].cells[4])
        started = perf_counter()
        table.update_rows(changed)
        figures["update_call"] = perf_counter() - started
        figures["update_paint"] = await painted(pilot, table.clock) - started

        # The same, sorted by a column the updates change: rows move, no re-sort.
        table.sort_by(3)
        await pilot.pause(0.2)
        changed = [vmi_row(index, 7) for index in range(args.updates)]
        started = perf_counter()
        table.update_rows(changed)
        figures["sorted_update_call"] = perf_counter() - started

        def apply(indexes: range) -> None:
            for index in indexes:
                table.update_rows([vmi_row(index % len(rows), 2 + index)])

        table.sort_by(None)
        await pilot.pause(0.2)
        paints, repaints, since = table.clock.paints, table.repaint_count, perf_counter()
        busy = table.clock.busy
        elapsed = await flood(pilot, args.flood, args.flood_seconds, apply)
        figures["flood_paint_ms"] = (table.clock.busy - busy) / elapsed * 1000
        figures["flood_paints_per_s"] = (table.clock.paints - paints) / elapsed
        figures["flood_busiest_second"] = table.clock.busiest_second(since)
        figures["flood_repaints_per_s"] = (table.repaint_count - repaints) / elapsed
        figures["flood_elapsed"] = elapsed

        if args.big:
            big = [vmi_row(index) for index in range(args.big)]
            await pilot.pause(0.2)
            table.clock.watch_for(big[0].cells[1] + " ")
            table.set_rows([])
            await pilot.pause(0.2)
            started = perf_counter()
            table.set_rows(big)
            figures["big_load_paint"] = await painted(pilot, table.clock) - started
            await pilot.pause(0.2)
            started = perf_counter()
            table.update_rows(vmi_row(index, 1) for index in range(0, args.big, 97))
            figures["big_update_call"] = perf_counter() - started
    return figures


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--updates", type=int, default=1_000)
    parser.add_argument("--flood", type=int, default=10_000)
    parser.add_argument("--flood-seconds", type=float, default=2.0)
    parser.add_argument("--big", type=int, default=0, help="also load this many rows (ours)")
    args = parser.parse_args()

    rows = [vmi_row(index) for index in range(args.rows)]
    peer = await measure_peer(args, rows)
    ours = await measure_ours(args, rows)

    print(f"{args.rows:,} rows, {len(COLUMNS)} columns, {SIZE[0]}x{SIZE[1]} headless\n")
    print(f"{'':44}{'DataTable':>12}{'ResourceTable':>16}{'ratio':>9}")

    def line(label: str, key: str, target: float | None = None) -> None:
        ratio = peer[key] / ours[key] if ours[key] else float("inf")
        check = f"  {verdict(ours[key] <= target)} (<= {target * 1000:.0f} ms)" if target else ""
        print(f"{label:44}{ms(peer[key]):>12}{ms(ours[key]):>16}{ratio:8.1f}x{check}")

    line(f"load {args.rows:,} rows (call)", "load_call")
    line(f"load {args.rows:,} rows + first paint", "load_paint", 0.2)
    line(f"apply {args.updates:,} row updates (call)", "update_call", 0.05)
    line(f"apply {args.updates:,} row updates + paint", "update_paint")
    flood_label = f"flood of {args.flood:,} updates in {args.flood_seconds:g} s: took"
    print(f"{flood_label:44}{peer['flood_elapsed']:10.2f} s{ours['flood_elapsed']:14.2f} s")
    peer_rate, our_rate = peer["flood_paints_per_s"], ours["flood_paints_per_s"]
    print(f"{'  paints/s (mean)':44}{peer_rate:12.1f}{our_rate:16.1f}")
    peer_peak, our_peak = peer["flood_busiest_second"], ours["flood_busiest_second"]
    print(
        f"{'  paints in the busiest second':44}{peer_peak:12.0f}{our_peak:16.0f}"
        f"{'':9}  {verdict(our_peak <= 10)} (<= 10)"
    )
    peer_busy, our_busy = peer["flood_paint_ms"], ours["flood_paint_ms"]
    print(
        f"{'  ms painting per second of flood':44}{peer_busy:12.1f}{our_busy:16.1f}"
        f"{peer_busy / max(our_busy, 1e-9):8.1f}x"
    )
    print()
    sorted_label = f"ours, sorted by NODE, {args.updates:,} updates moving rows:"
    print(f"{sorted_label:56}{ms(ours['sorted_update_call'])}")
    print(
        f"{'ours, repaints requested per second of flood:':56}{ours['flood_repaints_per_s']:8.1f}"
    )
    if args.big:
        big_updates = len(range(0, args.big, 97))
        print(f"{f'ours, load {args.big:,} rows + first paint:':56}{ms(ours['big_load_paint'])}")
        big_label = f"ours, {big_updates:,} updates on {args.big:,} rows:"
        print(f"{big_label:56}{ms(ours['big_update_call'])}")


if __name__ == "__main__":
    asyncio.run(main())

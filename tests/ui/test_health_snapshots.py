"""Pictures of the Health pane on the default cluster (every check, and the failures only) and of
two checks' details: a mechanical fix as a diff, and one that only gives steps by hand.

Pinned as the other pictures are (conftest: the cluster's start, seed and names; the app's
clock, so "last run" is fixed and "took" is 0.0 s; the arm timer). Regenerate with
`--snapshot-update`, then look at the SVGs.
"""

from __future__ import annotations

import types

import pytest
from textual.pilot import Pilot

from kvtui.ui import actions
from kvtui.ui.screens.health import HealthScreen
from tests.ui.conftest import (
    AppFactory,
    current_table,
    press_line,
    wait_screen,
    wait_sync,
    wait_until,
)

SIM_SPEED = 1.0
SIZE = (160, 45)


@pytest.fixture(autouse=True)
def _still(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(actions, "time", types.SimpleNamespace(monotonic=lambda: 1000.0))


async def pane_ready(pilot: Pilot) -> HealthScreen:
    await wait_sync(pilot, 5)
    await press_line(pilot, "colon", "health")
    await wait_screen(pilot, "HealthScreen")
    screen = pilot.app.screen
    assert isinstance(screen, HealthScreen)
    await wait_until(pilot, lambda: screen.report is not None, "the doctor's report")
    table = current_table(pilot)
    await wait_until(pilot, lambda: table.row_count == len(screen.report.results), "the rows")
    await pilot.pause(0.1)
    return screen


def detail_of(check: str):
    async def run_before(pilot: Pilot) -> None:
        screen = await pane_ready(pilot)
        result = screen.report.get(check)
        current_table(pilot).move_cursor((result.area, check))
        await pilot.press("enter")
        await wait_screen(pilot, "CheckDetailScreen")
        await pilot.pause(0.1)

    return run_before


def test_health_pane(snap_compare, app_factory: AppFactory) -> None:
    """23 checks by area: the default scenario's failures and warnings among the ok ones."""
    assert snap_compare(app_factory(frozen=True), terminal_size=SIZE, run_before=pane_ready)


def test_health_pane_failures_only(snap_compare, app_factory: AppFactory) -> None:
    """`!`: only the failing checks, each with its area."""

    async def failures(pilot: Pilot) -> None:
        screen = await pane_ready(pilot)
        await pilot.press("exclamation_mark")
        await wait_until(pilot, lambda: screen.failures_only, "the filter")
        await pilot.pause(0.2)

    assert snap_compare(app_factory(frozen=True), terminal_size=SIZE, run_before=failures)


def test_health_detail_with_fix(snap_compare, app_factory: AppFactory) -> None:
    """upgrade.lb-selector: the old selector's evidence, the fix as a diff, ctrl+f."""
    run_before = detail_of("upgrade.lb-selector")
    assert snap_compare(app_factory(frozen=True), terminal_size=SIZE, run_before=run_before)


def test_health_detail_by_hand(snap_compare, app_factory: AppFactory) -> None:
    """dns.nodelocal-collision: the guide's FAQ collision, the steps by hand."""
    run_before = detail_of("dns.nodelocal-collision")
    assert snap_compare(app_factory(frozen=True), terminal_size=SIZE, run_before=run_before)

"""Pictures of the Network policies pane (with the detail open) and of the reachability
explainer: the FAQ traffic allowed, and a denial with its proposed fix and reach.

Pinned as the other pictures are (conftest: the cluster's start, seed and names; the app's
clock; the arm timer); the fields' cursors do not blink. Regenerate with `--snapshot-update`,
then look at the SVGs.
"""

from __future__ import annotations

import types

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Static

from kvtui.sim.runner import SimHandle
from kvtui.ui import actions
from kvtui.ui.screens.netpol_explain import FIELDS, NetpolExplainScreen
from tests.ui.conftest import (
    AppFactory,
    current_table,
    press_line,
    wait_screen,
    wait_sync,
    wait_until,
)

SIM_SPEED = 1.0
SIZE = (160, 50)
PROD = "cluster-x7k2mq9p4d"


@pytest.fixture(autouse=True)
def _still(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(actions, "time", types.SimpleNamespace(monotonic=lambda: 1000.0))


def load_balancer(sim: SimHandle) -> str:
    services = sim.call(lambda: sim.simulator.store.list("/services", PROD))
    [lb] = [s["metadata"]["name"] for s in services if s["spec"].get("type") == "LoadBalancer"]
    return lb


async def pane_ready(pilot: Pilot) -> None:
    await wait_sync(pilot, 5)
    await press_line(pilot, "colon", "np")
    await wait_screen(pilot, "NetpolsScreen")
    table = current_table(pilot)
    await wait_until(pilot, lambda: table.row_count == 9, "the nine policies")


def explained(source: str, port: str, lb: str):
    async def run_before(pilot: Pilot) -> None:
        await pane_ready(pilot)
        await pilot.press("r")
        await wait_screen(pilot, "NetpolExplainScreen")
        screen = pilot.app.screen
        assert isinstance(screen, NetpolExplainScreen)
        for field, value in zip(FIELDS, (source, f"{PROD}/{lb}", port), strict=True):
            screen.query_one(f"#{field}", Input).value = value
        for field in screen.query(Input):
            field.cursor_blink = False
        screen.query_one(f"#{FIELDS[2]}", Input).focus()
        await pilot.press("enter")
        verdict = screen.query_one("#np-verdict", Static)
        await wait_until(
            pilot,
            lambda: "ALLOWED" in str(verdict.content) or "DENIED" in str(verdict.content),
            "the verdict",
        )
        await pilot.pause(0.1)

    return run_before


def test_netpol_pane_with_detail(snap_compare, app_factory: AppFactory) -> None:
    """The nine policies of the three user clusters, prod-eu's allow-external-traffic open."""

    async def detail(pilot: Pilot) -> None:
        await pane_ready(pilot)
        current_table(pilot).move_cursor((PROD, "allow-external-traffic"))
        await pilot.press("enter")
        await pilot.pause(0.1)

    assert snap_compare(app_factory(frozen=True), terminal_size=SIZE, run_before=detail)


def test_netpol_explainer_allowed(snap_compare, app_factory: AppFactory, ui_sim: SimHandle) -> None:
    """The FAQ: 10.200.10.0/24 to prod-eu's LoadBalancer, admitted by allow-external-traffic."""
    run_before = explained("10.200.10.0/24", "443", load_balancer(ui_sim))
    assert snap_compare(app_factory(frozen=True), terminal_size=SIZE, run_before=run_before)


def test_netpol_explainer_denied_with_fix(
    snap_compare, app_factory: AppFactory, ui_sim: SimHandle
) -> None:
    """10.200.20.0/24 to the same LoadBalancer: denied, the fix and its reach per cluster."""
    run_before = explained("10.200.20.0/24", "443", load_balancer(ui_sim))
    assert snap_compare(app_factory(frozen=True), terminal_size=SIZE, run_before=run_before)

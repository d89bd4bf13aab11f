"""Pictures of a drain: the plan, the board mid-drain, the verdict.

The drain's clock is frozen (elapsed times read 0s, retries never fire), migration metrics are
not sampled (their byte counts never repeat), and the board is pictured once its states have
settled: the non-migratable VM refused, the External VM waiting on KKP (10 s of cluster time at
1x), the LiveMigrate VM's migration held Running by the simulator's stall fault.
"""

from __future__ import annotations

import types

import pytest
from textual.pilot import Pilot

from kvtui.cluster.drain_run import State
from kvtui.sim.runner import SimHandle
from kvtui.ui import actions
from kvtui.ui.screens.drain import DrainScreen
from tests.ui.conftest import AppFactory, wait_screen, wait_sync, wait_until
from tests.ui.test_app_actions import select

SIM_SPEED = 1.0
SIZE = (160, 40)


@pytest.fixture(autouse=True)
def _still(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(actions, "time", types.SimpleNamespace(monotonic=lambda: 1000.0))
    monkeypatch.setattr(DrainScreen, "sample_metrics", False)


async def plan_ready(pilot: Pilot, node: str = "kv-node-4") -> DrainScreen:
    await wait_sync(pilot, 5)
    await select(pilot, node)
    await pilot.press("D")
    await wait_screen(pilot, "DrainScreen")
    screen = pilot.app.screen
    assert isinstance(screen, DrainScreen)
    await wait_until(pilot, lambda: screen.plan is not None, "the plan")
    await pilot.pause(0.1)
    return screen


async def start(pilot: Pilot) -> None:
    await pilot.press("W", "S")
    await wait_screen(pilot, "ConfirmScreen")
    await pilot.click("#apply")
    await wait_screen(pilot, "DrainScreen")


def test_drain_plan(snap_compare, app_factory: AppFactory) -> None:
    """kv-node-4's plan: one VM blocked (RWO disk), one replaced by KKP, one migrating."""
    assert snap_compare(app_factory(frozen=True), terminal_size=SIZE, run_before=plan_ready)


def test_drain_board_mid_drain(snap_compare, app_factory: AppFactory, ui_sim: SimHandle) -> None:
    workers = ui_sim.call(
        lambda: [
            v["metadata"]["name"]
            for v in ui_sim.simulator.store.list("kubevirt.io/virtualmachineinstances")
            if v["status"].get("nodeName") == "kv-node-4"
            and v["metadata"]["name"].startswith("prod-eu-workers-")
        ]
    )
    ui_sim.call(lambda: ui_sim.simulator.api.config.faults.update({"stall_migrations": workers}))

    async def mid_drain(pilot: Pilot) -> None:
        await plan_ready(pilot)
        await start(pilot)
        drain = pilot.app.drains["kv-node-4"]
        wanted = {State.BLOCKED, State.REPLACING, State.MIGRATING}

        def settled() -> bool:
            states = {i.state for i in drain.items}
            blocked = [i for i in drain.items if i.state is State.BLOCKED]
            running = [i for i in drain.items if i.phase == "Running"]
            return states == wanted and blocked[0].refused and bool(running)

        await wait_until(pilot, settled, "blocked, being replaced and migrating", 8)
        await pilot.pause(0.3)

    try:
        assert snap_compare(app_factory(frozen=True), terminal_size=SIZE, run_before=mid_drain)
    finally:
        ui_sim.call(lambda: ui_sim.simulator.api.config.faults.update({"stall_migrations": []}))

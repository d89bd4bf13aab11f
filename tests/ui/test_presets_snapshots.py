"""A picture of the presets screen: a saved preset in the editor and its placement preview
for a MachineDeployment's next VMs. Pinned as the other pictures are (conftest)."""

from __future__ import annotations

import types

import pytest
from textual.pilot import Pilot

from kvtui.cluster.config import Config
from kvtui.cluster.presets import NodeAffinityPreset, Preset, SpreadConstraint
from kvtui.ui import actions
from kvtui.ui.screens.presets import PresetsScreen
from tests.ui.conftest import AppFactory, press_line, wait_screen, wait_sync, wait_until

SIM_SPEED = 1.0
SIZE = (160, 45)
ZONES = Preset(
    "zones",
    (SpreadConstraint(1, "topology.kubernetes.io/zone", "DoNotSchedule"),),
    NodeAffinityPreset("soft", "topology.kubernetes.io/zone", ("zone-a",)),
)


@pytest.fixture(autouse=True)
def _still(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(actions, "time", types.SimpleNamespace(monotonic=lambda: 1000.0))


async def presets_ready(pilot: Pilot) -> None:
    await wait_sync(pilot, 5)
    await press_line(pilot, "colon", "presets")
    await wait_screen(pilot, "PresetsScreen")
    screen = pilot.app.screen
    assert isinstance(screen, PresetsScreen)
    await wait_until(pilot, lambda: screen.machine_deployments, "the MachineDeployments")
    await wait_until(
        pilot,
        lambda: "Placement of" in str(screen.query_one("#preset-preview").render()),
        "the preview",
    )
    screen.query_one("#presets-list").focus()
    await pilot.pause(0.2)


def test_presets_screen(snap_compare, app_factory: AppFactory) -> None:
    """The zones preset: hard zone spread, soft zone-a; where staging-db's next VM lands."""
    app = app_factory(config=Config(presets=[ZONES]), frozen=True)
    assert snap_compare(app, terminal_size=SIZE, run_before=presets_ready)

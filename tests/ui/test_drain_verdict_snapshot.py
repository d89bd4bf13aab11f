"""The picture of a finished drain: every VM at its end and the verdict line.

A module of its own so its cluster runs at 10x (KKP's replacement of the External VM takes
10 s of cluster time) while the mid-drain picture needs 1x to hold its states still.
"""

from __future__ import annotations

import types

import pytest
from textual.pilot import Pilot

from kvtui.ui import actions
from kvtui.ui.screens.drain import DrainScreen
from tests.ui.conftest import AppFactory, wait_until
from tests.ui.test_drain_snapshots import SIZE, plan_ready, start

SIM_SPEED = 10.0


@pytest.fixture(autouse=True)
def _still(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(actions, "time", types.SimpleNamespace(monotonic=lambda: 1000.0))
    monkeypatch.setattr(DrainScreen, "sample_metrics", False)


def test_drain_verdict(snap_compare, app_factory: AppFactory) -> None:
    """kv-node-2 drained: two VMs migrated, the External one replaced by KKP."""

    async def finished(pilot: Pilot) -> None:
        await plan_ready(pilot, "kv-node-2")
        await start(pilot)
        drain = pilot.app.drains["kv-node-2"]
        await wait_until(pilot, lambda: drain.verdict is not None, "the verdict", 60)
        await pilot.pause(0.3)

    assert snap_compare(app_factory(frozen=True), terminal_size=SIZE, run_before=finished)

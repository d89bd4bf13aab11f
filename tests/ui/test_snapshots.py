"""Pictures of what a user sees, compared with the accepted ones in `__snapshots__/`.

Everything that could vary is pinned: the simulated cluster's start, seed and generated
names (conftest), the app's clock, and the armed countdown's monotonic clock. Regenerate
with `pytest tests/ui/test_snapshots.py --snapshot-update`, then look at the SVGs.
"""

from __future__ import annotations

import types

import pytest
from textual.pilot import Pilot
from textual.widgets import Static

from kvtui.ui import actions
from kvtui.ui.widgets.vm_sparklines import VmSparklines
from tests.ui.conftest import AppFactory, wait_rows, wait_screen, wait_sync, wait_until
from tests.ui.migration_history import recorded_migrations

SIZES = {"80x24": (80, 24), "160x50": (160, 50)}


@pytest.fixture(autouse=True)
def _fixed_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    """VM health's metrics line from fixed numbers: the live ones change by the second."""
    from kvtui.ui.widgets import vm_sparklines
    from tests.ui.test_metrics_snapshots import FixedSource

    async def opened(*_args: object) -> FixedSource:
        return FixedSource()

    monkeypatch.setattr(vm_sparklines, "open_metrics_source", opened)


@pytest.fixture(autouse=True)
def _frozen_countdown(monkeypatch: pytest.MonkeyPatch) -> None:
    """`Safety` reads `time.monotonic()` for the armed countdown; stop it at 10:00."""
    monkeypatch.setattr(actions, "time", types.SimpleNamespace(monotonic=lambda: 1000.0))


async def nodes_ready(pilot: Pilot) -> None:
    await wait_sync(pilot, 5)


async def vms_ready(pilot: Pilot) -> None:
    await wait_sync(pilot, 5)
    await pilot.press("colon", *"vms", "enter")
    await wait_screen(pilot, "VmsScreen")
    await wait_rows(pilot, 11)


async def health_ready(pilot: Pilot) -> None:
    await vms_ready(pilot)
    await pilot.press("enter")
    await wait_screen(pilot, "VmHealthScreen")
    events = pilot.app.screen.query_one("#health-events", Static)
    await wait_until(pilot, lambda: "SuccessfulCreate" in str(events.content), "VM events")
    line = pilot.app.screen.query_one(VmSparklines)
    await wait_until(pilot, lambda: line.asked, "the metrics line")


@pytest.mark.parametrize("size", SIZES)
def test_nodes_pane(snap_compare, app_factory: AppFactory, size: str) -> None:
    """The Nodes pane: five nodes, writes locked, the footer's write keys greyed."""
    assert snap_compare(app_factory(), terminal_size=SIZES[size], run_before=nodes_ready)


@pytest.mark.parametrize("size", SIZES)
def test_vms_pane(snap_compare, app_factory: AppFactory, size: str) -> None:
    """The VMs pane: eleven VMs; staging-db is not live-migratable and stands out."""
    assert snap_compare(app_factory(), terminal_size=SIZES[size], run_before=vms_ready)


@pytest.mark.parametrize("size", SIZES)
def test_vm_health(snap_compare, app_factory: AppFactory, size: str) -> None:
    """VM health of the first VM (bastion): verdict, summary, conditions and events."""
    assert snap_compare(app_factory(), terminal_size=SIZES[size], run_before=health_ready)


def test_confirmation_dialog(snap_compare, app_factory: AppFactory) -> None:
    """Cordon of two marked nodes after W: the dialog names the context and both targets,
    and the header shows the armed countdown."""

    async def run_before(pilot: Pilot) -> None:
        await nodes_ready(pilot)
        await pilot.press("down", "space", "down", "space", "W", "c")
        await wait_screen(pilot, "ConfirmScreen")

    assert snap_compare(app_factory(), terminal_size=(100, 30), run_before=run_before)


def test_read_only_header(snap_compare, app_factory: AppFactory) -> None:
    """Read-only mode: READ-ONLY in the header, and no write key in the footer at all."""
    assert snap_compare(
        app_factory(read_only=True), terminal_size=(100, 24), run_before=nodes_ready
    )


def test_migrations_pane(snap_compare, app_factory: AppFactory) -> None:
    """The Migrations pane with finished migrations: a user's migration to a chosen node, a
    drain's evacuation and a failed one, each with its route, duration and phase timeline."""

    async def run_before(pilot: Pilot) -> None:
        await nodes_ready(pilot)
        await pilot.press("colon", *"migrations", "enter")
        await wait_screen(pilot, "MigrationsScreen")
        await wait_rows(pilot, 3)

    with recorded_migrations(app_factory.sim):
        assert snap_compare(app_factory(), terminal_size=(160, 24), run_before=run_before)

"""Pictures of the Instance types pane and its form: the default scenario's templates, a new
instance type with errors at its fields, and KKP's sockets-advantage in the edit form.

Pinned as the other pictures are (conftest: the cluster's start, seed and names; the app's
clock; the arming countdown stands still here); the inputs' cursors do not blink. Regenerate
with `--snapshot-update`, then look at the SVGs.
"""

from __future__ import annotations

import types

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from kvtui.ui import actions
from kvtui.ui.screens.instancetype_form import TemplateFormScreen
from kvtui.ui.screens.instancetypes import InstancetypesScreen
from tests.ui.conftest import AppFactory, press_line, wait_screen, wait_sync, wait_until

SIZE = (160, 45)


@pytest.fixture(autouse=True)
def _still(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(actions, "time", types.SimpleNamespace(monotonic=lambda: 1000.0))


async def pane_ready(pilot: Pilot) -> InstancetypesScreen:
    await wait_sync(pilot, 5)
    await press_line(pilot, "colon", "it")
    await wait_screen(pilot, "InstancetypesScreen")
    screen = pilot.app.screen
    assert isinstance(screen, InstancetypesScreen)
    await wait_until(pilot, lambda: screen.catalog is not None, "the templates")
    await pilot.pause(0.1)
    return screen


async def form_ready(pilot: Pilot, key: str) -> TemplateFormScreen:
    await pilot.press("W", key)
    await wait_screen(pilot, "TemplateFormScreen")
    form = pilot.app.screen
    assert isinstance(form, TemplateFormScreen)
    for field in form.query(Input):
        field.cursor_blink = False
    pilot.app.clear_notifications()  # "writes armed" would time out on a slow machine
    await pilot.pause(0.1)
    return form


def test_instancetypes_pane(snap_compare, app_factory: AppFactory) -> None:
    """Cluster-wide ones first, then KKP's standard set per infra namespace, with the VMs
    using each and the datacenter's policy above."""
    assert snap_compare(app_factory(frozen=True), terminal_size=SIZE, run_before=pane_ready)


def test_instancetype_form_errors(snap_compare, app_factory: AppFactory) -> None:
    """A new instance type: errors at the vCPUs and the memory, the name taken."""

    async def errors(pilot: Pilot) -> None:
        await pane_ready(pilot)
        form = await form_ready(pilot, "a")
        values = {"name": "cx1.medium", "cpus": "0", "memory": "8Gb", "hugepages": "2Mi"}
        for attr, value in values.items():
            form.query_one(f"#it-{attr}").value = value  # type: ignore[attr-defined]
        await pilot.pause(0.1)

    assert snap_compare(app_factory(frozen=True), terminal_size=SIZE, run_before=errors)


def test_preference_edit_form(snap_compare, app_factory: AppFactory) -> None:
    """KKP's sockets-advantage: its old topology spelling warned about, a change to send."""

    async def edit(pilot: Pilot) -> None:
        screen = await pane_ready(pilot)
        key = next(k for k in screen.entries if k.name == "sockets-advantage")
        screen.table.move_cursor(key)
        form = await form_ready(pilot, "o")
        form.query_one("#it-efi").value = True  # type: ignore[attr-defined]
        await pilot.pause(0.1)

    assert snap_compare(app_factory(frozen=True), terminal_size=SIZE, run_before=edit)

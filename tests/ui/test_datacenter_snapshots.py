"""Pictures of the Datacenter screen: the form, the YAML mode, a validation error, the diff.

Pinned as the other pictures are (conftest: the cluster's start, seed and names; the app's
clock); the editor's cursor does not blink and the debounced validation has run before the
picture is taken. Regenerate with `--snapshot-update`, then look at the SVGs.
"""

from __future__ import annotations

import types

import pytest
from textual.pilot import Pilot
from textual.widgets import TextArea

from kvtui.ui import actions
from kvtui.ui.screens.datacenter import YAML, DatacenterScreen
from tests.ui.conftest import AppFactory, press_line, wait_screen, wait_sync, wait_until

SIM_SPEED = 1.0
SIZE = (160, 45)
NAMESERVER = "dnsPolicy: None\ndnsConfig: {nameservers: [8.8.8.8]}"


@pytest.fixture(autouse=True)
def _still(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(actions, "time", types.SimpleNamespace(monotonic=lambda: 1000.0))


async def dc_ready(pilot: Pilot, *, yaml: bool = True) -> DatacenterScreen:
    await wait_sync(pilot, 5)
    await press_line(pilot, "colon", "dc")
    await wait_screen(pilot, "DatacenterScreen")
    screen = pilot.app.screen
    assert isinstance(screen, DatacenterScreen)
    await wait_until(pilot, lambda: screen.block is not None, "the datacenter in the editors")
    if yaml:
        await pilot.press("Y")
        await wait_until(pilot, lambda: screen.mode == YAML, "the YAML mode")
    for area in screen.query(TextArea):
        area.cursor_blink = False
    await pilot.pause(0.1)
    return screen


async def form_ready(pilot: Pilot) -> DatacenterScreen:
    return await dc_ready(pilot, yaml=False)


async def edited(pilot: Pilot, change: tuple[str, str]) -> DatacenterScreen:
    screen = await dc_ready(pilot)
    area = screen.editor
    area.replace(area.text.replace(*change), area.document.start, area.document.end)
    area.move_cursor((0, 0))
    await wait_until(pilot, lambda: screen._validate_timer is not None, "the timer")
    await wait_until(pilot, lambda: screen._validate_timer is None, "the validation")
    await pilot.pause(0.1)
    return screen


def test_datacenter_form(snap_compare, app_factory: AppFactory) -> None:
    """kubevirt-ham1 in the form: selects for enums and flags, the lists, the warning at its
    field (local-path)."""
    assert snap_compare(app_factory(frozen=True), terminal_size=SIZE, run_before=form_ready)


def test_datacenter_yaml_mode(snap_compare, app_factory: AppFactory) -> None:
    """kubevirt-ham1 as loaded: summary, the block as YAML, one warning (local-path)."""
    assert snap_compare(app_factory(frozen=True), terminal_size=SIZE, run_before=dc_ready)


def test_datacenter_validation_error(snap_compare, app_factory: AppFactory) -> None:
    """A CIDR with a /33 prefix: an error at its line and path."""

    async def bad_cidr(pilot: Pilot) -> None:
        await edited(pilot, ("10.200.10.0/24", "10.200.10.0/33"))

    assert snap_compare(app_factory(frozen=True), terminal_size=SIZE, run_before=bad_cidr)


def test_datacenter_diff(snap_compare, app_factory: AppFactory) -> None:
    """A nameserver added: the diff against the live block and its impact."""

    async def diff(pilot: Pilot) -> None:
        await edited(pilot, ("dnsPolicy: ClusterFirst", NAMESERVER))
        await pilot.press("F")
        await pilot.pause(0.1)

    assert snap_compare(app_factory(frozen=True), terminal_size=SIZE, run_before=diff)


def test_datacenter_unsaved_edit_dialog(snap_compare, app_factory: AppFactory) -> None:
    """escape with an edit not applied: asked, "Keep editing" focused, where the edit goes."""

    async def leaving(pilot: Pilot) -> None:
        await edited(pilot, ("dnsPolicy: ClusterFirst", NAMESERVER))
        await pilot.press("escape")
        await wait_screen(pilot, "UnsavedEditScreen")
        await pilot.pause(0.1)

    assert snap_compare(app_factory(frozen=True), terminal_size=SIZE, run_before=leaving)

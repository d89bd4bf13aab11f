"""An edit that is not applied or saved is never dropped by a stray key: leaving the datacenter
editor, switching presets and cancelling the instance type form ask first (escape and enter
keep editing), and what the admin leaves anyway is kept where it says (a file for a datacenter
edit, also on quit). Unchanged editors leave at once."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, OptionList

from kvtui.cluster.config import Config, load_config, save_presets
from kvtui.cluster.datacenter_apply import saved_blocks_dir
from kvtui.cluster.presets import parse_presets
from kvtui.sim.runner import SimHandle
from kvtui.ui.screens.unsaved_edit import UnsavedEditScreen
from tests.ui.conftest import AppFactory, notes, started, wait_screen, wait_until
from tests.ui.test_datacenter_screen import edit, live_block, open_dc
from tests.ui.test_instancetypes_pane import open_form, open_pane
from tests.ui.test_presets_screen import ZONE, open_presets


def question(pilot: Pilot) -> str:
    screen = pilot.app.screen
    assert isinstance(screen, UnsavedEditScreen), type(screen).__name__
    return f"{screen.what} {screen.fate}"


async def escape_to(pilot: Pilot, name: str) -> None:
    await pilot.press("escape")
    await wait_screen(pilot, name)


async def test_leaving_the_datacenter_editor_asks_and_keeps_the_edit_in_a_file(
    app_factory: AppFactory, ui_sim: SimHandle
) -> None:
    before = live_block(ui_sim)
    async with started(app_factory) as pilot:
        screen = await open_dc(pilot)  # YAML mode
        typed = screen.editor.text.replace("vmEvictionStrategy: LiveMigrate", "# ours\n")
        typed += "vmEvictionStrategy: External\n"
        await edit(pilot, screen, typed)
        screen.editor.focus()
        await pilot.press("escape")  # out of the editor: not leaving yet
        await pilot.pause()
        assert pilot.app.screen is screen and not screen.editing
        await escape_to(pilot, "UnsavedEditScreen")  # leaving: asked
        assert "not applied" in question(pilot) and "I imports it" in question(pilot)
        await escape_to(pilot, "DatacenterScreen")  # escape keeps editing
        assert screen.editor.text == typed
        await pilot.press("escape")
        await wait_screen(pilot, "UnsavedEditScreen")
        await pilot.press("enter")  # the focus starts on "Keep editing"
        await wait_screen(pilot, "DatacenterScreen")
        assert screen.editor.text == typed

        await pilot.press("escape")
        await wait_screen(pilot, "UnsavedEditScreen")
        await pilot.click("#go")
        await wait_screen(pilot, "NodesScreen")
        [saved] = saved_blocks_dir().glob("*-edit-*.yaml")
        assert saved.read_text() == typed  # as typed, comment included
        assert saved.stat().st_mode & 0o777 == 0o600
        assert any(str(saved) in n for n in notes(pilot))
    assert live_block(ui_sim) == before  # nothing was applied


async def test_an_unchanged_datacenter_editor_leaves_at_once(app_factory: AppFactory) -> None:
    async with started(app_factory) as pilot:
        await open_dc(pilot, yaml=False)
        await escape_to(pilot, "NodesScreen")
        assert not saved_blocks_dir().exists() or not list(saved_blocks_dir().glob("*.yaml"))


async def test_quitting_keeps_a_datacenter_edit_even_a_broken_one(app_factory: AppFactory) -> None:
    async with started(app_factory) as pilot:
        screen = await open_dc(pilot)
        typed = screen.editor.text + "dnsConfig: {nameservers: [8.8.8.8\n"  # does not parse
        await edit(pilot, screen, typed)
        assert screen.block is None
        await pilot.press("ctrl+c")
        await wait_until(pilot, lambda: not pilot.app.is_running, "the app to quit", 10)
    [saved] = saved_blocks_dir().glob("*-edit-*.yaml")
    assert saved.read_text() == typed  # a broken edit is kept as typed too


def two_presets() -> Config:
    raw = [
        {"name": name, "topologySpreadConstraints": [{"topologyKey": key, "maxSkew": 1}]}
        for name, key in (("spread-hosts", "kubernetes.io/hostname"), ("spread-zones", ZONE))
    ]
    presets, findings = parse_presets(raw, "presets")
    assert not findings
    return Config(presets=presets)


async def test_presets_ask_before_an_unsaved_change_is_dropped(app_factory: AppFactory) -> None:
    async with started(app_factory, config=two_presets()) as pilot:
        screen = await open_presets(pilot)
        name = screen.query_one("#preset-name", Input)
        name.focus()
        await pilot.press("end", "x")
        await wait_until(pilot, lambda: screen.unsaved, "the change")
        await pilot.press("escape")  # out of the field, onto the list
        assert pilot.app.focused is screen.query_one("#presets-list")

        listing = screen.query_one("#presets-list", OptionList)
        listing.highlighted = 1  # another preset: asked, and staying keeps the edit
        await pilot.press("enter")
        await wait_screen(pilot, "UnsavedEditScreen")
        assert "spread-hostsx" in question(pilot) and "not saved" in question(pilot)
        await escape_to(pilot, "PresetsScreen")
        assert listing.highlighted == screen.index == 0
        assert screen.editor.raw["name"] == "spread-hostsx"
        await pilot.press("ctrl+n")  # a new one would drop it too
        await wait_screen(pilot, "UnsavedEditScreen")
        await escape_to(pilot, "PresetsScreen")
        assert screen.editor.raw["name"] == "spread-hostsx"

        await pilot.press("escape")  # leaving: asked
        await wait_screen(pilot, "UnsavedEditScreen")
        await escape_to(pilot, "PresetsScreen")
        assert screen.editor.raw["name"] == "spread-hostsx"
        await pilot.press("escape")
        await wait_screen(pilot, "UnsavedEditScreen")
        await pilot.click("#go")
        await wait_screen(pilot, "NodesScreen")

        screen = await open_presets(pilot)  # unchanged: leaves at once
        await escape_to(pilot, "NodesScreen")


async def test_the_instance_type_form_asks_before_discarding(app_factory: AppFactory) -> None:
    async with started(app_factory) as pilot:
        await open_pane(pilot)
        form = await open_form(pilot, "a")
        await escape_to(pilot, "InstancetypesScreen")  # nothing typed: gone at once

        form = await open_form(pilot, "a")
        form.query_one("#it-name", Input).focus()
        await pilot.press(*"cx9")
        await wait_until(pilot, form.changed, "the change")
        await escape_to(pilot, "UnsavedEditScreen")
        assert "cx9" in question(pilot) and "not saved" in question(pilot)
        await escape_to(pilot, "TemplateFormScreen")
        assert form.query_one("#it-name", Input).value == "cx9"
        await pilot.click("#it-cancel")  # the Cancel button asks too
        await wait_screen(pilot, "UnsavedEditScreen")
        await pilot.click("#go")
        await wait_screen(pilot, "InstancetypesScreen")


async def test_nowhere_to_save_keeps_the_edit_on_screen(
    app_factory: AppFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A state directory that cannot be written: leaving anyway stays (the edit is on screen,
    the reason said), an import changes nothing, and quitting prints the edit instead."""
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    async with started(app_factory) as pilot:
        screen = await open_dc(pilot)
        typed = screen.editor.text + "# ours\n"
        typed = typed.replace("vmEvictionStrategy: LiveMigrate", "vmEvictionStrategy: External")
        await edit(pilot, screen, typed)
        monkeypatch.setenv("XDG_STATE_HOME", str(blocked))  # mkdir under a file fails

        await pilot.press("escape")
        await wait_screen(pilot, "UnsavedEditScreen")
        await pilot.click("#go")
        await wait_screen(pilot, "DatacenterScreen")
        assert pilot.app.screen is screen and screen.editor.text == typed
        await wait_until(pilot, lambda: any("could not be saved" in n for n in notes(pilot)), "why")

        other = tmp_path / "other.yaml"
        other.write_text("vmEvictionStrategy: External\n")
        screen.import_from(other)
        await wait_until(pilot, lambda: any("nothing imported" in n for n in notes(pilot)), "why")
        assert screen.editor.text == typed

        [line] = pilot.app.keep_unapplied_edits()  # what quitting prints
        assert "could not be saved" in line and line.endswith(typed)


async def test_deleting_a_preset_asks_and_then_shows_the_next(app_factory: AppFactory) -> None:
    config = two_presets()
    save_presets(config.presets)
    async with started(app_factory, config=config) as pilot:
        screen = await open_presets(pilot)
        screen.query_one("#presets-list").focus()
        await pilot.press("Z")
        await wait_screen(pilot, "UnsavedEditScreen")
        assert "Delete the preset spread-hosts" in question(pilot)
        await escape_to(pilot, "PresetsScreen")  # kept
        assert [p.name for p in load_config().presets] == ["spread-hosts", "spread-zones"]

        await pilot.press("Z")
        await wait_screen(pilot, "UnsavedEditScreen")
        await pilot.click("#go")
        await wait_screen(pilot, "PresetsScreen")
        await wait_until(pilot, lambda: screen.editor.raw["name"] == "spread-zones", "the next")
        assert [p.name for p in load_config().presets] == ["spread-zones"]
        assert [p.name for p in screen.presets] == ["spread-zones"] and not screen.unsaved

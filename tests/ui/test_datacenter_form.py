"""The Datacenter screen's form: controls generated from the schema edit the block, lists and
maps grow, shrink and reorder, findings show at their field, switching to YAML and back keeps
the edit (and what the form cannot show), export/import keep every edit, and an apply from
the form lands on the simulated Seed exactly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from textual.pilot import Pilot
from textual.widgets import Select
from textual.widgets._select import SelectOverlay

from kvtui.cluster.block_edit import path_text
from kvtui.cluster.datacenter_apply import saved_blocks_dir
from kvtui.sim.runner import SimHandle
from kvtui.ui.screens.datacenter import FORM, YAML, DatacenterScreen
from kvtui.ui.screens.path_prompt import PathPromptScreen
from kvtui.ui.widgets.form_controls import (
    FieldInput,
    FieldNotes,
    FieldSelect,
    ItemButton,
    KeySelect,
    SpecEditor,
)
from tests.ui.conftest import (
    NODES,
    AppFactory,
    notes,
    started,
    wait_screen,
    wait_sync,
    wait_until,
)
from tests.ui.test_datacenter_screen import confirm, edit, live_block, open_dc

SIM_SPEED = 10.0


def control(screen: DatacenterScreen, kind: type, *path: Any, role: str | None = None) -> Any:
    """The form's control of that type at `path` (and role)."""
    for widget in screen.form.query(kind):
        if widget.path == path and (role is None or widget.role == role):
            return widget
    raise AssertionError(f"no {kind.__name__} at {path_text(path)}")


async def wait_control(
    pilot: Pilot, screen: DatacenterScreen, kind: type, *path: Any, role: str | None = None
) -> Any:
    """`control`, once the form shows it (it may be drawing itself again right now)."""

    def shown() -> Any:
        try:
            return control(screen, kind, *path, role=role)
        except AssertionError:
            return None

    return await wait_until(pilot, shown, f"{kind.__name__} at {path_text(path)}")


def button(screen: DatacenterScreen, op: str, *path: Any, index: Any = None) -> ItemButton:
    for widget in screen.form.query(ItemButton):
        if widget.path == path and widget.op == op and widget.index == index:
            return widget
    raise AssertionError(f"no {op} button at {path_text(path)}[{index}]")


def note(screen: DatacenterScreen, *path: Any) -> str:
    found = [n for n in screen.form.query(FieldNotes) if n.path_text == path_text(path)]
    assert found, f"no notes at {path_text(path)}"
    return str(found[0].render()) if found[0].display else ""


async def validated(pilot: Pilot, screen: DatacenterScreen) -> None:
    """Until the debounced validation of the last edit has run (in the form: has seen every
    change the form announced)."""
    await pilot.pause(0.1)
    await wait_until(
        pilot,
        lambda: (
            screen._validate_timer is None
            and (screen.mode != FORM or screen.checked_changes == screen.form.changes)
        ),
        "the validation",
    )


async def press_button(pilot: Pilot, screen: DatacenterScreen, widget: ItemButton) -> None:
    widget.focus()
    await pilot.press("enter")
    await validated(pilot, screen)


async def type_into(pilot: Pilot, screen: DatacenterScreen, widget: FieldInput, text: str) -> None:
    """Focus an input, clear it and type `text` key by key, as a person would."""
    widget.focus()
    await wait_until(pilot, lambda: widget.has_focus, "the focus")
    widget.value = ""
    await pilot.press(*text)
    await validated(pilot, screen)


async def choose(pilot: Pilot, screen: DatacenterScreen, widget: Select, label: str) -> None:
    """Open a select with enter and walk down to the option shown as `label`."""
    widget.focus()
    await pilot.press("enter")
    await pilot.pause()
    labels = [str(prompt) for prompt, _ in widget._options]
    overlay = widget.query_one(SelectOverlay)
    target, now = labels.index(label), overlay.highlighted or 0
    for _ in range(abs(target - now)):
        await pilot.press("down" if target > now else "up")
    await pilot.press("enter")
    await validated(pilot, screen)


async def add_nameserver(pilot: Pilot, screen: DatacenterScreen, address: str) -> None:
    """The form's way to add one: the list's add button, then type into the new input."""
    index = len(screen.form.block.get("dnsConfig", {}).get("nameservers", []))
    await press_button(pilot, screen, button(screen, "add", "dnsConfig", "nameservers"))
    await type_into(
        pilot, screen, control(screen, FieldInput, "dnsConfig", "nameservers", index), address
    )


async def test_form_edits_dns_and_applies_exactly_that(
    app_factory: AppFactory, ui_sim: SimHandle
) -> None:
    before = live_block(ui_sim)
    async with started(app_factory) as pilot:
        screen = await open_dc(pilot, yaml=False)
        assert screen.mode == FORM
        policy = control(screen, FieldSelect, "dnsPolicy")
        assert policy.value == "ClusterFirst"
        assert "DNS collision" in note(screen, "dnsPolicy")  # the known issue, at its field

        await choose(pilot, screen, policy, "None")
        assert screen.form.block["dnsPolicy"] == "None"
        assert "requires at least one" in note(screen, "dnsConfig", "nameservers") or any(
            "nameserver" in f.message for f in screen.errors
        )
        await add_nameserver(pilot, screen, "8.8.8.8")
        assert screen.block["dnsConfig"] == {"nameservers": ["8.8.8.8"]}
        assert screen.errors == []

        await pilot.press("escape")  # leave the form: the screen's keys work again
        await pilot.press("W")
        title = await confirm(pilot, "P")
        assert title.startswith("Apply 1 target")
        await wait_until(
            pilot,
            lambda: live_block(ui_sim).get("dnsConfig") == {"nameservers": ["8.8.8.8"]},
            "the new block on the Seed",
        )
        after = live_block(ui_sim)
        assert after == {**before, "dnsPolicy": "None", "dnsConfig": {"nameservers": ["8.8.8.8"]}}
        await wait_until(pilot, lambda: screen.applied is not None, "the apply to finish")
        await confirm(pilot, "U")
        await wait_until(pilot, lambda: live_block(ui_sim) == before, "the old block back")
        await wait_until(
            pilot, lambda: control(screen, FieldSelect, "dnsPolicy").value == "ClusterFirst", "form"
        )


async def test_lists_add_remove_reorder_and_show_errors_at_the_item(
    app_factory: AppFactory,
) -> None:
    async with started(app_factory) as pilot:
        screen = await open_dc(pilot, yaml=False)
        await choose(pilot, screen, control(screen, FieldSelect, "dnsPolicy"), "None")
        for address in ("10.0.0.10", "10.0.0.11", "10.0.0.300"):
            await add_nameserver(pilot, screen, address)
        servers = ("dnsConfig", "nameservers")
        assert screen.form.block["dnsConfig"]["nameservers"] == [
            "10.0.0.10",
            "10.0.0.11",
            "10.0.0.300",
        ]
        await wait_until(pilot, lambda: len(screen.errors) == 1, "the bad address found")
        [error] = screen.errors
        assert error.path == "dnsConfig.nameservers[2]"
        assert "10.0.0.300" in note(screen, *servers, 2)  # under the item that is wrong
        assert note(screen, *servers, 0) == ""

        await press_button(pilot, screen, button(screen, "up", *servers, index=2))
        assert screen.block["dnsConfig"]["nameservers"][1] == "10.0.0.300"
        assert screen.errors[0].path == "dnsConfig.nameservers[1]"
        control(screen, FieldInput, *servers, 0).focus()
        await pilot.press("alt+down")  # the keyboard way
        await validated(pilot, screen)
        assert screen.block["dnsConfig"]["nameservers"] == ["10.0.0.300", "10.0.0.10", "10.0.0.11"]
        assert screen.focused is control(screen, FieldInput, *servers, 1)  # focus follows

        await press_button(pilot, screen, button(screen, "remove", *servers, index=1))
        await press_button(pilot, screen, button(screen, "remove", *servers, index=0))
        assert screen.block["dnsConfig"]["nameservers"] == ["10.0.0.11"]
        assert screen.errors == []
        await press_button(pilot, screen, button(screen, "remove", *servers, index=0))
        assert "dnsConfig" not in screen.block  # nothing left: unset, not an empty object
        assert any("nameserver" in f.message for f in screen.errors)


async def test_switching_modes_keeps_the_edit_and_what_the_form_cannot_show(
    app_factory: AppFactory,
) -> None:
    async with started(app_factory) as pilot:
        screen = await open_dc(pilot)  # YAML mode
        typed = screen.editor.text.replace(
            "dnsPolicy: ClusterFirst",
            "# our comment\ndnsPolicy: ClusterFirst\nshinyNewField: {a: 1}\n"
            "disableDefaultPreferences: yes",
        )
        await edit(pilot, screen, typed)
        await pilot.press("Y")
        await wait_until(pilot, lambda: screen.mode == FORM, "the form")
        unknown = control(screen, FieldInput, "shinyNewField", role="raw")
        assert yaml.safe_load(unknown.value) == {"a": 1}
        assert "unknown key" in note(screen, "shinyNewField")
        await pilot.press("Y")  # nothing changed in the form: the text comes back as typed
        await wait_until(pilot, lambda: screen.mode == YAML, "the YAML")
        assert screen.editor.text == typed

        await pilot.press("Y")
        await wait_until(pilot, lambda: screen.mode == FORM, "the form")
        await press_button(pilot, screen, button(screen, "drop", index="shinyNewField"))
        await choose(pilot, screen, control(screen, FieldSelect, "vmEvictionStrategy"), "External")
        await pilot.press("escape")
        await pilot.press("Y")
        await wait_until(pilot, lambda: screen.mode == YAML, "the YAML")
        block = yaml.safe_load(screen.editor.text)
        assert "shinyNewField" not in block and block["vmEvictionStrategy"] == "External"
        assert block["disableDefaultPreferences"] is True  # kept from the YAML edit

        broken = screen.editor.text + "dnsConfig: {nameservers: [8.8.8.8\n"
        await edit(pilot, screen, broken)
        await pilot.press("Y")  # a YAML error: the form is refused, the text stays
        await pilot.pause(0.2)
        assert screen.mode == YAML and screen.editor.text == broken
        assert any("fix it first" in n for n in notes(pilot))

        twice = yaml.safe_dump(block) + "vmEvictionStrategy: LiveMigrate\n"
        await edit(pilot, screen, twice)  # a key twice: the form would keep only one
        await pilot.press("Y")
        await pilot.pause(0.2)
        assert screen.mode == YAML and screen.editor.text == twice


async def test_policy_spec_editor_holds_a_syntax_error_without_losing_it(
    app_factory: AppFactory,
) -> None:
    async with started(app_factory) as pilot:
        screen = await open_dc(pilot, yaml=False)
        spec = control(screen, SpecEditor, "customNetworkPolicies", 0, "spec")
        assert spec.language == "yaml"
        good = spec.text
        bad = good.replace("cidr: 10.200.10.0/24", "cidr: [10.200.10.0/24")
        spec.replace(bad, spec.document.start, spec.document.end)
        await validated(pilot, screen)
        await wait_until(pilot, lambda: len(screen.errors) == 1, "the syntax error found")
        [error] = screen.errors
        assert error.path == "customNetworkPolicies[0].spec" and "YAML syntax" in error.message
        assert "YAML syntax" in note(screen, "customNetworkPolicies", 0, "spec")
        await pilot.press("Y")
        await pilot.pause(0.2)
        assert screen.mode == FORM and spec.text == bad  # refused, nothing lost
        assert any("customNetworkPolicies[0].spec" in n for n in notes(pilot))

        spec.replace(good.replace("10.200.10.0/24", "10.200.0.0/16"), *_whole(spec))
        await validated(pilot, screen)
        assert screen.errors == []
        policy = screen.block["customNetworkPolicies"][0]["spec"]
        assert policy["ingress"][0]["from"][0]["ipBlock"]["cidr"] == "10.200.0.0/16"

        await press_button(pilot, screen, button(screen, "add", "customNetworkPolicies"))
        new = screen.block["customNetworkPolicies"][1]
        assert new["name"] == "" and new["spec"]["policyTypes"] == ["Ingress"]
        paths = {f.path for f in screen.errors}  # the half-made policy cannot be applied
        assert "customNetworkPolicies[1].name" in paths
        assert any(p.startswith("customNetworkPolicies[1].spec") for p in paths)


def _whole(area: Any) -> tuple[Any, Any]:
    return area.document.start, area.document.end


async def test_image_map_keys_rename_and_refuse_duplicates(app_factory: AppFactory) -> None:
    async with started(app_factory) as pilot:
        screen = await open_dc(pilot, yaml=False)
        systems = ("images", "http", "operatingSystems")
        versions = dict(screen.form.block["images"]["http"]["operatingSystems"]["ubuntu"])
        first, second = list(versions)[:2]
        key = control(screen, FieldInput, *systems, "ubuntu", first, role="key")
        await type_into(pilot, screen, key, second)
        await pilot.press("tab")  # leaving the key commits it: taken, so a problem
        await wait_until(pilot, lambda: screen.form.problems, "the problem")
        await validated(pilot, screen)
        assert list(screen.form.block["images"]["http"]["operatingSystems"]["ubuntu"])[:2] == [
            first,
            second,
        ]
        assert any("used twice" in f.message for f in screen.errors)

        key = await wait_control(pilot, screen, FieldInput, *systems, "ubuntu", first, role="key")
        await type_into(pilot, screen, key, "26.04")
        await pilot.press("enter")
        await validated(pilot, screen)
        ubuntu = screen.block["images"]["http"]["operatingSystems"]["ubuntu"]
        assert list(ubuntu)[:2] == ["26.04", second] and ubuntu["26.04"] == versions[first]
        assert not any("used twice" in f.message for f in screen.errors)

        oses = list(screen.block["images"]["http"]["operatingSystems"])
        await press_button(pilot, screen, button(screen, "add", *systems))
        added = [o for o in screen.block["images"]["http"]["operatingSystems"] if o not in oses]
        assert len(added) == 1 and control(screen, KeySelect, *systems, added[0]).value == added[0]


async def test_export_and_import_keep_every_edit(app_factory: AppFactory, tmp_path: Path) -> None:
    async with started(app_factory) as pilot:
        screen = await open_dc(pilot, yaml=False)
        await choose(pilot, screen, control(screen, FieldSelect, "vmEvictionStrategy"), "External")
        await pilot.press("escape")
        exported = tmp_path / "ham1.yaml"
        await pilot.press("O")
        await wait_screen(pilot, "PathPromptScreen")
        prompt = pilot.app.screen
        assert isinstance(prompt, PathPromptScreen)
        prompt.query_one("#path-prompt-input").value = str(exported)
        await pilot.press("enter")
        await wait_until(pilot, exported.exists, "the exported file")
        assert yaml.safe_load(exported.read_text()) == screen.block
        assert exported.stat().st_mode & 0o777 == 0o600

        exported.write_text("# theirs\n")  # a file there already: replaced only when agreed
        for answer in ("escape", "#go"):
            await pilot.press("O")
            await wait_screen(pilot, "PathPromptScreen")
            pilot.app.screen.query_one("#path-prompt-input").value = str(exported)
            await pilot.press("enter")
            await wait_screen(pilot, "UnsavedEditScreen")
            await (pilot.press(answer) if answer == "escape" else pilot.click(answer))
            await wait_screen(pilot, "DatacenterScreen")
            if answer == "escape":
                await pilot.pause(0.2)
                assert exported.read_text() == "# theirs\n"
        await wait_until(pilot, lambda: "theirs" not in exported.read_text(), "the replacement")
        assert yaml.safe_load(exported.read_text()) == screen.block

        other = tmp_path / "other.yaml"
        other.write_text("dnsPolicy: None\ndnsConfig:\n  nameservers: [1.1.1.1]\n")
        for path in (tmp_path / "missing.yaml", other):
            await pilot.press("I")
            await wait_screen(pilot, "PathPromptScreen")
            pilot.app.screen.query_one("#path-prompt-input").value = str(path)
            await pilot.press("enter")
            await wait_screen(pilot, "DatacenterScreen")
            await pilot.pause(0.2)
        assert any("cannot read" in n and "missing.yaml" in n for n in notes(pilot))
        await wait_until(pilot, lambda: screen.form.block.get("dnsPolicy") == "None", "import")
        assert control(screen, FieldInput, "dnsConfig", "nameservers", 0).value == "1.1.1.1"
        [saved] = saved_blocks_dir().glob("kubevirt-ham1-edit-*.yaml")
        assert yaml.safe_load(saved.read_text())["vmEvictionStrategy"] == "External"
        await pilot.press("Y")
        await wait_until(pilot, lambda: screen.mode == YAML, "the YAML")
        assert screen.editor.text == other.read_text()  # as written in the file


async def test_the_seed_is_read_and_written_on_its_own_context(
    ui_sim: SimHandle, tmp_path: Path
) -> None:
    """`--seed-context`: the Seed lives on another cluster; the screen reads and patches it
    there, and the infra cluster's Seed stays as it was."""
    from kvtui.cluster.audit import AuditLog
    from kvtui.cluster.config import Config
    from kvtui.cluster.session import Session
    from kvtui.sim.runner import running_simulator
    from kvtui.ui.app import KvtuiApp
    from tests.ui.test_datacenter_screen import change_seed_block

    infra_before = live_block(ui_sim)
    with running_simulator(scenario="default") as seed_sim:
        change_seed_block(seed_sim, vmEvictionStrategy="External")

        def opener(sim: SimHandle) -> Any:
            async def open_session() -> Session:
                return await Session.open(
                    str(sim.kubeconfig),
                    sim.context,
                    config=Config(),
                    read_only=False,
                    audit=AuditLog(tmp_path / "audit.jsonl"),
                )

            return open_session

        app = KvtuiApp(open_session=opener(ui_sim), open_seed_session=opener(seed_sim))
        async with app.run_test(size=(160, 50)) as pilot:
            await wait_sync(pilot, len(NODES))
            screen = await open_dc(pilot, yaml=False)
            eviction = control(screen, FieldSelect, "vmEvictionStrategy")
            # A select takes its value when mounted, which may follow the form's drawing.
            await wait_until(pilot, lambda: eviction.value == "External", "the Seed's value")
            await choose(pilot, screen, control(screen, FieldSelect, "dnsPolicy"), "Default")
            await pilot.press("escape")
            await pilot.press("W")
            await confirm(pilot, "P")
            await wait_until(
                pilot, lambda: live_block(seed_sim)["dnsPolicy"] == "Default", "the seed patched"
            )
        assert live_block(ui_sim) == infra_before

"""The scheduling presets screen: the editor offers the nodes' own labels, validation against
the nodes, the live placement preview, saving to the config file, and apply to a
MachineDeployment or to its VMs through the registry (dry run first, then the real patch, read
back from the simulator), with the running VMs offered a migration."""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input, Label, Select, SelectionList, Static

from kvtui.cluster.config import load_config
from kvtui.cluster.preset_apply import CLOUD_PROVIDER_SPEC
from kvtui.sim.runner import SimHandle
from kvtui.ui.screens.presets import PresetsScreen
from kvtui.ui.widgets.preset_editor import PresetEditor
from tests.ui.conftest import (
    AppFactory,
    notes,
    press_line,
    started,
    wait_screen,
    wait_until,
)

SIM_SPEED = 10.0
ZONE = "topology.kubernetes.io/zone"
MDS = "cluster.k8s.io/machinedeployments"
VMIMS = "kubevirt.io/virtualmachineinstancemigrations"


async def confirm(pilot: Pilot, key: str, button: str = "#apply") -> str:
    """Leave any field (escape), press `key`, read the confirmation's title and targets,
    press `button`, back on the presets."""
    if pilot.app.focused is not pilot.app.screen.query_one("#presets-list"):
        await pilot.press("escape")
        await pilot.pause(0.1)
    await pilot.press(key)
    try:
        await wait_screen(pilot, "ConfirmScreen")
    except AssertionError:
        raise AssertionError(f"no confirmation for {key}; notes: {notes(pilot)}") from None
    title = str(pilot.app.screen.query_one("#confirm-title", Label).content)
    title += "\n" + " ".join(
        str(w.render())
        for w in pilot.app.screen.query("#confirm-targets Label, #confirm-targets Static")
    )
    await pilot.click(button)
    await wait_screen(pilot, "PresetsScreen")
    return title


def sim_get(sim: SimHandle, plural: str, namespace: str, name: str) -> dict[str, Any]:
    return sim.call(lambda: sim.simulator.store.get(plural, namespace, name))


def sim_list(sim: SimHandle, plural: str) -> list[dict[str, Any]]:
    return sim.call(lambda: list(sim.simulator.store.list(plural)))


async def open_presets(pilot: Pilot) -> PresetsScreen:
    await press_line(pilot, "colon", "presets")
    await wait_screen(pilot, "PresetsScreen")
    screen = pilot.app.screen
    assert isinstance(screen, PresetsScreen)
    await wait_until(pilot, lambda: screen.machine_deployments, "the MachineDeployments")
    return screen


async def mounted(pilot: Pilot, editor: PresetEditor, selector: str) -> None:
    """Until a control the editor just drew is mounted (and so can take a value)."""
    await wait_until(
        pilot,
        lambda: bool(found := editor.query(selector)) and found.first().is_mounted,
        selector,
    )
    await pilot.pause()


async def checked(pilot: Pilot, screen: PresetsScreen) -> None:
    await pilot.pause(0.1)
    await wait_until(pilot, lambda: screen._timer is None, "the check")


def preview(screen: PresetsScreen) -> str:
    return str(screen.query_one("#preset-preview", Static).render())


async def zone_preset(pilot: Pilot, screen: PresetsScreen) -> None:
    """A preset spreading by zone, hard, through the editor's controls."""
    editor = screen.query_one(PresetEditor)
    screen.query_one("#preset-name", Input).value = "zones"
    screen.query_one("#preset-add-spread").press()
    await mounted(pilot, editor, "#preset-key-0")
    editor.query_one("#preset-key-0", Select).value = ZONE
    editor.query_one("#preset-when-0", Select).value = "DoNotSchedule"
    await wait_until(
        pilot,
        lambda: editor.raw["topologySpreadConstraints"][0]["whenUnsatisfiable"] == "DoNotSchedule",
        "the constraint",
    )
    await checked(pilot, screen)


async def test_editor_offers_node_labels_and_validates_against_the_nodes(
    app_factory: AppFactory, ui_sim: SimHandle
) -> None:
    nodes = sim_list(ui_sim, "/nodes")
    zones = {n["metadata"]["labels"].get(ZONE) for n in nodes} - {None}
    async with started(app_factory) as pilot:
        screen = await open_presets(pilot)
        await zone_preset(pilot, screen)
        editor = screen.query_one(PresetEditor)
        options = [str(prompt) for prompt, _ in editor.query_one("#preset-key-0", Select)._options]
        carriers = sum(1 for n in nodes if ZONE in n["metadata"]["labels"])
        assert f"{ZONE} ({carriers} nodes)" in options  # the keys the nodes carry, counted
        assert screen.preset is not None and screen.errors == []
        text = preview(screen)
        assert "Placement of 1 new VM(s)" in text and ZONE in text
        assert all(zone in text for zone in zones)

        # A hard affinity on a value no schedulable node has: an error, no preview, no apply.
        editor.query_one("#preset-affinity-type", Select).value = "hard"
        await mounted(pilot, editor, "#preset-affinity-key")
        editor.query_one("#preset-affinity-key", Select).value = ZONE
        await wait_until(pilot, lambda: editor.query(SelectionList), "the values")
        await wait_until(
            pilot, lambda: editor.raw["nodeAffinityPreset"]["key"] == ZONE, "the key taken"
        )
        await checked(pilot, screen)
        assert screen.errors == []  # no values chosen: "has the label", which nodes have
        editor.raw["nodeAffinityPreset"]["values"] = ["zone-nowhere"]
        screen.check_now()
        error = next(e for e in screen.errors if e.path == "nodeAffinityPreset")
        assert "no schedulable node" in error.message
        assert "no errors" in preview(screen)
        assert not screen.check_action("preset_apply", ())

        editor.raw["nodeAffinityPreset"]["values"] = sorted(zones)[:1]
        screen.check_now()
        assert screen.errors == []
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: screen.presets, "the save")
        [saved] = load_config().presets
        assert saved.name == "zones" and saved.spread[0].topology_key == ZONE
        assert saved.affinity is not None and saved.affinity.values == tuple(sorted(zones)[:1])


async def test_apply_to_a_machine_deployment_dry_run_then_real(
    app_factory: AppFactory, ui_sim: SimHandle
) -> None:
    async with started(app_factory) as pilot:
        screen = await open_presets(pilot)
        await zone_preset(pilot, screen)
        md = screen.chosen_md()
        assert md is not None and screen.target == ("md", md.key)
        before = sim_get(ui_sim, MDS, md.namespace, md.name)

        await pilot.press("escape")  # out of the field: W is typing there
        await pilot.press("W")
        await wait_until(pilot, lambda: pilot.app.safety.armed(), "armed")
        title = await confirm(pilot, "L", "#dry-run")
        assert title.startswith("Apply preset 1 target") and md.name in title
        await wait_until(
            pilot, lambda: "Dry run" in str(screen.query_one("#preset-result").render()), "dry"
        )
        after_dry = sim_get(ui_sim, MDS, md.namespace, md.name)
        assert after_dry["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]

        await confirm(pilot, "L")
        await wait_until(pilot, lambda: any("applied" in n for n in notes(pilot)), "the apply")
        stored = sim_get(ui_sim, MDS, md.namespace, md.name)
        spec = stored
        for key in CLOUD_PROVIDER_SPEC:
            spec = spec[key]
        assert spec["topologySpreadConstraints"] == [
            {"maxSkew": "1", "topologyKey": ZONE, "whenUnsatisfiable": "DoNotSchedule"}
        ]
        lines = app_factory.audit_lines()
        assert sum("preset-apply" in line for line in lines) >= 2  # the dry run and the patch


async def test_apply_to_vms_offers_to_migrate_the_running_ones(
    app_factory: AppFactory, ui_sim: SimHandle
) -> None:
    async with started(app_factory) as pilot:
        screen = await open_presets(pilot)
        await zone_preset(pilot, screen)
        # staging-md: two VMs that can live-migrate (the first MD, staging-db, cannot).
        md = next(m for m in screen.machine_deployments if m.name == "staging-md")
        screen.query_one("#preset-target", Select).value = ("vms", md.key)
        await wait_until(pilot, lambda: "the VMs of" in preview(screen), "the VMs' preview")
        await pilot.press("escape")  # out of the field: W is typing there
        await pilot.press("W")
        await wait_until(pilot, lambda: pilot.app.safety.armed(), "armed")
        await confirm(pilot, "L")
        await wait_until(pilot, lambda: "Preset applied." in notes(pilot), "the apply")
        assert screen.pending_restart
        names = [name for _, name in screen.pending_restart]
        for name in names:
            vm = sim_get(ui_sim, "kubevirt.io/virtualmachines", md.namespace, name)
            spread = vm["spec"]["template"]["spec"]["topologySpreadConstraints"]
            assert spread[0]["topologyKey"] == ZONE
        result = str(screen.query_one("#preset-result").render())
        assert "keep their old placement" in result

        migrations_before = len(sim_list(ui_sim, VMIMS))
        await confirm(pilot, "T")
        await wait_until(
            pilot,
            lambda: len(sim_list(ui_sim, VMIMS)) >= migrations_before + len(names),
            "the migrations",
        )

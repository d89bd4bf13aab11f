"""Changing the cluster through the app: arming, confirming, cancelling, dry runs, real
cordons and VM lifecycle, checked by reading the simulated cluster back."""

from __future__ import annotations

import json

from textual.pilot import Pilot
from textual.widgets import Label, Static

from kvtui.sim.runner import SimHandle
from tests.ui.conftest import (
    CONTEXT,
    AppFactory,
    cells,
    clear_requests,
    current_table,
    notes,
    press_line,
    sim_requests,
    started,
    wait_rows,
    wait_screen,
    wait_until,
)

SIM_SPEED = 10.0  # a live migration takes ~12 s of real time at 1x
READ_CHECKS = ("selfsubjectaccessreviews", "selfsubjectreviews")
VMIMS = "kubevirt.io/virtualmachineinstancemigrations"


def writes(sim: SimHandle, user: str = "kvtui-admin") -> list:
    """The app's requests that are not reads (permission checks are reads)."""
    return [
        r for r in sim_requests(sim, user) if r.method != "GET" and not r.path.endswith(READ_CHECKS)
    ]


def node(sim: SimHandle, name: str) -> dict:
    return sim.call(lambda: sim.simulator.store.get("/nodes", None, name))


def cordoned(sim: SimHandle, name: str) -> bool:
    return bool(node(sim, name)["spec"].get("unschedulable"))


def vm(sim: SimHandle, namespace: str, name: str, key: str = "kubevirt.io/virtualmachines"):
    return sim.call(lambda: sim.simulator.store.get(key, namespace, name))


def audit(factory: AppFactory) -> list[dict]:
    return [json.loads(line) for line in factory.audit_lines()]


async def confirm(pilot: Pilot, key: str) -> tuple[str, str]:
    """Press a mutating key; return the dialog's title and target list."""
    await pilot.press(key)
    await wait_screen(pilot, "ConfirmScreen")
    screen = pilot.app.screen
    title = str(screen.query_one("#confirm-title", Label).content)
    targets = str(screen.query_one("#confirm-targets").query_one(Static).content)
    return title, targets


async def answer(pilot: Pilot, button: str, back_to: str) -> None:
    await pilot.click(f"#{button}")
    await wait_screen(pilot, back_to)


async def select(pilot: Pilot, text: str, pane: str = "nodes") -> None:
    """Switch to `pane` and filter it down to the one row `text` names."""
    await press_line(pilot, "colon", pane)
    await press_line(pilot, "slash", text)
    await wait_until(pilot, lambda: current_table(pilot).row_count == 1, f"only {text}")


async def test_write_keys_are_greyed_until_armed(app_factory: AppFactory, ui_sim) -> None:
    async with started(app_factory) as pilot:
        clear_requests(ui_sim)
        await select(pilot, "kv-node-3")
        assert pilot.app.screen.active_bindings["c"].enabled is False
        await pilot.press("c")
        assert "Cordon: writes are not armed (press W)" in notes(pilot)
        assert type(pilot.app.screen).__name__ == "NodesScreen"
        await pilot.press("W")
        assert pilot.app.screen.active_bindings["c"].enabled is True
        title, targets = await confirm(pilot, "c")
        assert "Cordon 1 target on context" in title and CONTEXT in title
        assert targets == "• node/kv-node-3"
        await pilot.press("escape")
        await wait_screen(pilot, "NodesScreen")
        await pilot.press("W")  # disarmed again
        assert pilot.app.screen.active_bindings["c"].enabled is False
    assert writes(ui_sim) == [] and not cordoned(ui_sim, "kv-node-3")
    assert audit(app_factory) == []


async def test_rbac_denied_keys_say_why(app_factory: AppFactory, ui_sim) -> None:
    """On the viewer context the API refuses writes: armed or not, the keys stay greyed and
    pressing one names the RBAC answer instead of asking to confirm."""
    async with started(app_factory, context=f"{CONTEXT}-readonly") as pilot:
        app = pilot.app
        await wait_until(pilot, lambda: "cordon" in app.safety.denied, "the RBAC answers")
        await pilot.press("W")
        assert app.safety.armed() and app.screen.active_bindings["c"].enabled is False
        await pilot.press("c")
        assert "Cordon: RBAC: kvtui-viewer may not patch nodes" in notes(pilot)
        assert type(app.screen).__name__ == "NodesScreen"
    assert writes(ui_sim, "kvtui-viewer") == [] and audit(app_factory) == []


async def test_cancel_does_nothing(app_factory: AppFactory, ui_sim) -> None:
    async with started(app_factory) as pilot:
        clear_requests(ui_sim)
        await select(pilot, "kv-node-3")
        await pilot.press("W")
        await confirm(pilot, "c")
        assert pilot.app.screen.focused.id == "cancel"  # Enter alone never applies
        await answer(pilot, "cancel", "NodesScreen")
        await pilot.pause(0.3)
    assert writes(ui_sim) == [] and not cordoned(ui_sim, "kv-node-3")
    assert audit(app_factory) == []


async def test_dry_run_changes_nothing_and_is_audited(app_factory: AppFactory, ui_sim) -> None:
    async with started(app_factory) as pilot:
        clear_requests(ui_sim)
        await select(pilot, "kv-node-3")
        await pilot.press("W")
        await confirm(pilot, "c")
        await answer(pilot, "dry-run", "NodesScreen")
        await wait_until(pilot, lambda: app_factory.audit_lines(), "the audit line")
        await wait_until(pilot, lambda: any("would succeed" in n for n in notes(pilot)), "note")
    (line,) = audit(app_factory)
    assert line["dry_run"] is True and line["result"] == "ok"
    assert (line["verb"], line["target"], line["context"]) == ("cordon", "node/kv-node-3", CONTEXT)
    assert line["user"] == "kvtui-admin"
    (request,) = writes(ui_sim)
    assert request.method == "PATCH" and request.path == "/api/v1/nodes/kv-node-3"
    assert "dryRun=All" in request.query
    assert not cordoned(ui_sim, "kv-node-3")


async def test_cordon_then_uncordon(app_factory: AppFactory, ui_sim) -> None:
    async with started(app_factory) as pilot:
        await select(pilot, "kv-node-4")
        table = current_table(pilot)
        await pilot.press("W")
        await confirm(pilot, "c")
        await answer(pilot, "apply", "NodesScreen")
        await wait_until(pilot, lambda: cordoned(ui_sim, "kv-node-4"), "the cordon")
        key = ("", "kv-node-4")
        await wait_until(
            pilot, lambda: "SchedulingDisabled" in cells(table, key, "STATUS"), "the row"
        )
        title, targets = await confirm(pilot, "u")
        assert title.startswith("Uncordon 1 target") and targets == "• node/kv-node-4"
        await answer(pilot, "apply", "NodesScreen")
        await wait_until(pilot, lambda: not cordoned(ui_sim, "kv-node-4"), "the uncordon")
        await wait_until(pilot, lambda: cells(table, key, "STATUS") == "Ready", "the row again")
    lines = audit(app_factory)
    assert [(x["verb"], x["dry_run"], x["result"]) for x in lines] == [
        ("cordon", False, "ok"),
        ("uncordon", False, "ok"),
    ]


async def test_bulk_action_targets_every_marked_row(app_factory: AppFactory, ui_sim) -> None:
    marked = ("kv-node-1", "kv-node-2")
    async with started(app_factory) as pilot:
        table = current_table(pilot)
        for name in marked:
            table.move_cursor(("", name))
            await pilot.press("space")
        assert table.marked_keys == {("", n) for n in marked}
        table.move_cursor(("", "kv-node-4"))  # the cursor is not a target when rows are marked
        await pilot.press("W")
        title, targets = await confirm(pilot, "c")
        assert title.startswith("Cordon 2 targets on context") and CONTEXT in title
        assert targets.splitlines() == [f"• node/{n}" for n in marked]
        await answer(pilot, "apply", "NodesScreen")
        for name in marked:
            await wait_until(pilot, lambda n=name: cordoned(ui_sim, n), f"{name} cordoned")
        assert not cordoned(ui_sim, "kv-node-4")
        title, targets = await confirm(pilot, "u")
        assert targets.splitlines() == [f"• node/{n}" for n in marked]
        await answer(pilot, "apply", "NodesScreen")
        for name in marked:
            await wait_until(pilot, lambda n=name: not cordoned(ui_sim, n), f"{name} uncordoned")
    assert sorted(x["target"] for x in audit(app_factory)) == sorted(
        2 * [f"node/{n}" for n in marked]
    )


async def test_migrate_creates_a_migration_that_succeeds(app_factory: AppFactory, ui_sim) -> None:
    async with started(app_factory) as pilot:
        await select(pilot, "workers-.*-d9wfp", "vms")
        table = current_table(pilot)
        (key,) = table.keys_in_view()
        namespace, name = key
        source = cells(table, key, "NODE")
        await pilot.press("W")
        title, targets = await confirm(pilot, "m")
        assert title.startswith("Migrate 1 target") and targets == f"• vm/{namespace}/{name}"
        await answer(pilot, "apply", "VmsScreen")

        def migration() -> dict | None:
            found = [
                m
                for m in ui_sim.call(lambda: ui_sim.simulator.store.list(VMIMS, namespace))
                if m["spec"].get("vmiName") == name
            ]
            return found[0] if found else None

        created = await wait_until(pilot, migration, "the migration object")
        assert created["metadata"]["name"].startswith("kubevirt-migrate-vm-")
        await wait_until(
            pilot,
            lambda: ((migration() or {}).get("status") or {}).get("phase") == "Succeeded",
            "the migration to succeed",
            timeout=30,
        )
        vmi = vm(ui_sim, namespace, name, "kubevirt.io/virtualmachineinstances")
        assert vmi["status"]["nodeName"] != source
        await wait_until(pilot, lambda: cells(table, key, "NODE") != source, "the new node")


async def test_stop_start_restart(app_factory: AppFactory, ui_sim) -> None:
    def status(namespace: str, name: str) -> str:
        return (vm(ui_sim, namespace, name).get("status") or {}).get("printableStatus", "")

    def vmi_uid(namespace: str, name: str) -> str | None:
        vmi = vm(ui_sim, namespace, name, "kubevirt.io/virtualmachineinstances")
        return vmi["metadata"]["uid"] if vmi else None

    async with started(app_factory) as pilot:
        await select(pilot, "bastion", "vms")
        table = await wait_rows(pilot, 1)
        (key,) = table.keys_in_view()
        await pilot.press("W")
        for action_key, label, expected in (("x", "Stop", "Stopped"), ("t", "Start", "Running")):
            title, _ = await confirm(pilot, action_key)
            assert title.startswith(f"{label} 1 target")
            await answer(pilot, "apply", "VmsScreen")
            await wait_until(pilot, lambda e=expected: status(*key) == e, f"VM {expected}")
            await wait_until(
                pilot, lambda e=expected: cells(table, key, "STATUS") == e, f"row {expected}"
            )
        before = await wait_until(pilot, lambda: vmi_uid(*key), "the VMI")
        title, _ = await confirm(pilot, "R")
        assert title.startswith("Restart 1 target")
        await answer(pilot, "apply", "VmsScreen")
        await wait_until(pilot, lambda: vmi_uid(*key) not in (None, before), "a new VMI")
        await wait_until(pilot, lambda: status(*key) == "Running", "VM running again")
    assert [(x["verb"], x["result"]) for x in audit(app_factory)] == [
        ("stop", "ok"),
        ("start", "ok"),
        ("restart", "ok"),
    ]

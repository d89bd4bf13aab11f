"""The Migrations pane and the migration actions, against a simulated cluster of this module's
own: listing, live progress, cancel through the confirmation, migrate to a chosen node, and
read-only mode where neither exists."""

from __future__ import annotations

import json

from textual.pilot import Pilot
from textual.widgets import Label, OptionList, Static

from kvtui.cluster.migrations import migrate_vmi
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
    wait_screen,
    wait_until,
)

SIM_SPEED = 10.0  # a live migration takes ~12 s of real time at 1x
VMIS = "kubevirt.io/virtualmachineinstances"
VMIMS = "kubevirt.io/virtualmachineinstancemigrations"
WORKERS = ("kv-node-1", "kv-node-2", "kv-node-3", "kv-node-4")


def worker_vmis(sim: SimHandle) -> list[dict]:
    """prod-eu-workers VMIs: live-migratable, no node affinity, only a soft spread."""
    vmis = sim.call(lambda: sim.simulator.store.list(VMIS))
    return sorted(
        (v for v in vmis if v["metadata"]["name"].startswith("prod-eu-workers-")),
        key=lambda v: v["metadata"]["name"],
    )


def vmi_node(sim: SimHandle, namespace: str, name: str) -> str:
    vmi = sim.call(lambda: sim.simulator.store.get(VMIS, namespace, name))
    return vmi["status"]["nodeName"]


def vmim(sim: SimHandle, namespace: str, name: str) -> dict | None:
    return sim.call(lambda: sim.simulator.store.get(VMIMS, namespace, name))


def vmims_of(sim: SimHandle, namespace: str, vmi_name: str) -> list[dict]:
    found = sim.call(lambda: sim.simulator.store.list(VMIMS, namespace))
    return [m for m in found if m["spec"]["vmiName"] == vmi_name]


def phase(obj: dict | None) -> str:
    return ((obj or {}).get("status") or {}).get("phase", "")


def audit(factory: AppFactory) -> list[dict]:
    return [json.loads(line) for line in factory.audit_lines()]


def set_faults(sim: SimHandle, **faults: object) -> None:
    sim.call(lambda: sim.simulator.api.config.faults.update(faults))


async def confirm(pilot: Pilot, key: str) -> tuple[str, str]:
    """Press a mutating key; return the dialog's title and target list."""
    await pilot.press(key)
    await wait_screen(pilot, "ConfirmScreen")
    screen = pilot.app.screen
    title = str(screen.query_one("#confirm-title", Label).content)
    targets = str(screen.query_one("#confirm-targets").query_one(Static).content)
    return title, targets


async def open_pane(pilot: Pilot, command: str = "migrations") -> None:
    await press_line(pilot, "colon", command)
    await wait_screen(pilot, "MigrationsScreen")


async def test_pane_lists_migrations_with_route_and_timeline(
    app_factory: AppFactory, ui_sim: SimHandle
) -> None:
    vmi = worker_vmis(ui_sim)[0]
    namespace, name = vmi["metadata"]["namespace"], vmi["metadata"]["name"]
    source = vmi["status"]["nodeName"]
    async with started(app_factory) as pilot:
        created = await migrate_vmi(pilot.app.session.connection, namespace, name)
        key = (namespace, created["metadata"]["name"])
        await open_pane(pilot, "vmim")
        table = current_table(pilot)
        assert [c.name for c in table.columns] == [
            "NAMESPACE",
            "NAME",
            "VMI",
            "PHASE",
            "SOURCE → TARGET",
            "PROGRESS",
            "DURATION",
            "TRIGGER",
            "AGE",
            "TIMELINE",
        ]
        await wait_until(pilot, lambda: table.get_row(key) is not None, "the migration's row")
        await wait_until(
            pilot, lambda: cells(table, key, "PHASE") == "Succeeded", "the row to say Succeeded"
        )
        target = vmi_node(ui_sim, namespace, name)
        assert target != source
        assert cells(table, key, "VMI") == name
        assert cells(table, key, "SOURCE → TARGET") == f"{source} → {target}"
        assert cells(table, key, "PROGRESS") == "▇▇▇▇▇ 100%"
        assert cells(table, key, "TRIGGER") == "user"
        timeline = cells(table, key, "TIMELINE")
        assert timeline.startswith("Pending ") and timeline.endswith(" → Succeeded")
        assert " → Running " in timeline

        # Enter describes the migration.
        table.move_cursor(key)
        await pilot.press("enter")
        await wait_screen(pilot, "ObjectViewScreen")
        body = pilot.app.screen.query_one("#object-body", Static)
        await wait_until(
            pilot,
            lambda: f"Name:         {key[1]}" in str(body.content),
            "the description of the migration",
        )
        assert "phaseTransitionTimestamps" in str(body.content)
        await pilot.press("escape")
        await wait_screen(pilot, "MigrationsScreen")


async def test_progress_then_cancel_with_confirmation(
    app_factory: AppFactory, ui_sim: SimHandle
) -> None:
    vmi = worker_vmis(ui_sim)[1]
    namespace, name = vmi["metadata"]["namespace"], vmi["metadata"]["name"]
    source = vmi["status"]["nodeName"]
    set_faults(ui_sim, stall_migrations=[name])  # it never converges: time to look and cancel
    try:
        async with started(app_factory) as pilot:
            created = await migrate_vmi(pilot.app.session.connection, namespace, name)
            key = (namespace, created["metadata"]["name"])
            await open_pane(pilot)
            table = current_table(pilot)
            await wait_until(pilot, lambda: table.get_row(key) is not None, "the row")
            await wait_until(
                pilot, lambda: "%" in cells(table, key, "PROGRESS"), "progress from the metrics"
            )
            await wait_until(
                pilot, lambda: "stalling" in cells(table, key, "PROGRESS"), "the stall to show"
            )
            assert cells(table, key, "PHASE") == "Running"
            assert cells(table, key, "SOURCE → TARGET").startswith(f"{source} → kv-node-")

            table.move_cursor(key)
            await pilot.press("X")
            assert "Cancel migration: writes are not armed (press W)" in notes(pilot)
            await pilot.press("W")
            title, targets = await confirm(pilot, "X")
            assert title.startswith("Cancel migration 1 target on context") and CONTEXT in title
            assert targets == f"• migration/{namespace}/{key[1]}"
            await pilot.click("#apply")
            await wait_screen(pilot, "MigrationsScreen")
            await wait_until(pilot, lambda: vmim(ui_sim, *key) is None, "the VMIM to go away")
            await wait_until(pilot, lambda: table.get_row(key) is None, "the row to go away")
            await wait_until(pilot, lambda: any(" done for 1" in n for n in notes(pilot)), "note")
    finally:
        set_faults(ui_sim, stall_migrations=[])
    assert vmi_node(ui_sim, namespace, name) == source
    (line,) = audit(app_factory)
    assert (line["verb"], line["target"], line["result"], line["dry_run"]) == (
        "cancel-migration",
        f"migration/{namespace}/{key[1]}",
        "ok",
        False,
    )


async def test_cancel_of_a_finished_migration_says_why(
    app_factory: AppFactory, ui_sim: SimHandle
) -> None:
    vmi = worker_vmis(ui_sim)[0]
    namespace, name = vmi["metadata"]["namespace"], vmi["metadata"]["name"]
    async with started(app_factory) as pilot:
        created = await migrate_vmi(pilot.app.session.connection, namespace, name)
        key = (namespace, created["metadata"]["name"])
        await open_pane(pilot)
        table = current_table(pilot)
        await wait_until(
            pilot,
            lambda: table.get_row(key) is not None and cells(table, key, "PHASE") == "Succeeded",
            "the migration to end",
            timeout=30,
        )
        table.move_cursor(key)
        await pilot.press("W")
        await confirm(pilot, "X")
        await pilot.click("#dry-run")
        await wait_screen(pilot, "MigrationsScreen")
        await wait_until(pilot, lambda: any("failed for 1 of 1" in n for n in notes(pilot)), "note")
        (failed,) = [n for n in notes(pilot) if "failed for 1 of 1" in n]
        assert "it has already ended (Succeeded)" in failed
    assert vmim(ui_sim, *key) is not None
    (line,) = audit(app_factory)
    assert line["result"] == "error" and line["dry_run"] is True


async def test_migrate_to_a_picked_node(app_factory: AppFactory, ui_sim: SimHandle) -> None:
    vmi = worker_vmis(ui_sim)[2]
    namespace, name = vmi["metadata"]["namespace"], vmi["metadata"]["name"]
    source = vmi["status"]["nodeName"]
    chosen = next(n for n in reversed(WORKERS) if n != source)
    async with started(app_factory) as pilot:
        await press_line(pilot, "colon", "vms")
        await press_line(pilot, "slash", f"{name}$")
        await wait_until(pilot, lambda: current_table(pilot).row_count == 1, name)
        await pilot.press("W", "M")
        await wait_screen(pilot, "NodePickerScreen")
        picker = pilot.app.screen
        assert "Migrate 1 VM to which node?" in str(picker.query_one(Label).content)
        options = picker.query_one(OptionList)
        ids = [options.get_option_at_index(i).id for i in range(options.option_count)]
        assert ids[0] == "*any*" and ids[1:] == list(WORKERS)  # not the control plane
        options.highlighted = ids.index(chosen)
        await pilot.press("enter")
        await wait_screen(pilot, "ConfirmScreen")
        title = str(pilot.app.screen.query_one("#confirm-title", Label).content)
        assert title.startswith(f"Migrate 1 target to node {chosen} on context")
        await pilot.click("#apply")
        await wait_screen(pilot, "VmsScreen")

        def succeeded() -> bool:
            return any(phase(m) == "Succeeded" for m in vmims_of(ui_sim, namespace, name))

        await wait_until(pilot, succeeded, "the migration to succeed", timeout=30)
    (created,) = vmims_of(ui_sim, namespace, name)
    assert created["spec"]["addedNodeSelector"] == {"kubernetes.io/hostname": chosen}
    assert vmi_node(ui_sim, namespace, name) == chosen
    (line,) = audit(app_factory)
    assert (line["verb"], line["target"], line["params"]) == (
        "migrate",
        f"vm/{namespace}/{name}",
        {"target_node": chosen},
    )


async def test_picker_escape_changes_nothing(app_factory: AppFactory, ui_sim: SimHandle) -> None:
    async with started(app_factory) as pilot:
        await press_line(pilot, "colon", "vms")
        await wait_until(pilot, lambda: current_table(pilot).row_count > 1, "VMs")
        clear_requests(ui_sim)
        await pilot.press("W", "M")
        await wait_screen(pilot, "NodePickerScreen")
        await pilot.press("escape")
        await wait_screen(pilot, "VmsScreen")
    assert [r for r in sim_requests(ui_sim) if r.method not in ("GET", "POST")] == []
    assert audit(app_factory) == []


async def test_read_only_has_no_cancel_and_no_migrate_to(
    app_factory: AppFactory, ui_sim: SimHandle
) -> None:
    clear_requests(ui_sim)
    async with started(app_factory, read_only=True) as pilot:
        await open_pane(pilot, "mig")
        bound = {b.binding.action for b in pilot.app.screen.active_bindings.values()}
        assert "migration_cancel" not in bound and "describe" in bound
        await pilot.press("W", "X")
        assert type(pilot.app.screen).__name__ == "MigrationsScreen"
        await pilot.press("question_mark")
        await wait_screen(pilot, "HelpScreen")
        help_text = str(pilot.app.screen.query_one(Static).content)
        assert "Cancel the migration" not in help_text and "Read-only" in help_text
        await pilot.press("escape")
        await press_line(pilot, "colon", "vms")
        await wait_until(pilot, lambda: current_table(pilot).row_count > 1, "VMs")
        bound = {b.binding.action for b in pilot.app.screen.active_bindings.values()}
        assert "vm_migrate_to" not in bound and "vm_migrate" not in bound
        await pilot.press("M")
        assert type(pilot.app.screen).__name__ == "VmsScreen"
    others = [r for r in sim_requests(ui_sim) if r.method != "GET"]
    assert {r.path for r in others} <= {
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
    }
    assert audit(app_factory) == []

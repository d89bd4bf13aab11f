"""Draining from the app: plan, confirmation, board, verdict, cancel, resume after a restart,
read-only mode, checked by reading the simulated cluster back."""

from __future__ import annotations

from textual.pilot import Pilot
from textual.widgets import Checkbox, Label, OptionList, Static

from kvtui.cluster.config import Config
from kvtui.cluster.drain_run import State
from kvtui.sim.runner import SimHandle
from kvtui.ui.screens.drain import DrainScreen
from tests.ui.conftest import (
    CONTEXT,
    AppFactory,
    notes,
    started,
    wait_screen,
    wait_until,
)
from tests.ui.test_app_actions import audit, cordoned, select

SIM_SPEED = 10.0
VMIS = "kubevirt.io/virtualmachineinstances"
VMIMS = "kubevirt.io/virtualmachineinstancemigrations"


def vmis_on(sim: SimHandle, node: str) -> list[str]:
    return sim.call(
        lambda: [
            v["metadata"]["name"]
            for v in sim.simulator.store.list(VMIS)
            if (v.get("status") or {}).get("nodeName") == node
        ]
    )


def set_faults(sim: SimHandle, **faults: list[str]) -> None:
    sim.call(lambda: sim.simulator.api.config.faults.update(faults))


def text(pilot: Pilot, selector: str) -> str:
    return str(pilot.app.screen.query_one(selector, Static).content)


async def open_drain(pilot: Pilot, node: str) -> DrainScreen:
    await select(pilot, node)
    await pilot.press("D")
    await wait_screen(pilot, "DrainScreen")
    screen = pilot.app.screen
    assert isinstance(screen, DrainScreen)
    await wait_until(pilot, lambda: screen.plan is not None, "the drain plan")
    return screen


async def start_drain(pilot: Pilot) -> str:
    """Arm, press S, check the confirmation, apply; returns the dialog title."""
    await pilot.press("W")
    await pilot.press("S")
    await wait_screen(pilot, "ConfirmScreen")
    title = str(pilot.app.screen.query_one("#confirm-title", Label).content)
    await pilot.click("#apply")
    await wait_screen(pilot, "DrainScreen")
    return title


async def test_drain_a_node_from_plan_to_verdict(app_factory: AppFactory, ui_sim) -> None:
    async with started(app_factory) as pilot:
        screen = await open_drain(pilot, "kv-node-2")
        summary = text(pilot, "#drain-summary")
        assert "Plan for kv-node-2" in summary and "Capacity:" in summary
        assert screen.board.row_count == len(screen.plan.pods)
        title = await start_drain(pilot)
        assert title.startswith("Drain ") and f"on context [b]{CONTEXT}" in title
        await wait_until(
            pilot, lambda: "drained in" in text(pilot, "#drain-verdict"), "the verdict", 60
        )
        verdict = text(pilot, "#drain-verdict")
        assert "kv-node-2 drained in" in verdict and "0 blocked" in verdict
        assert cordoned(ui_sim, "kv-node-2")
        assert vmis_on(ui_sim, "kv-node-2") == []
        verbs = [e["verb"] for e in audit(app_factory)]
        assert verbs[0] == "cordon" and "evict" in verbs and verbs[-1] == "drain"
        # Leaving the screen and coming back shows the same finished board.
        await pilot.press("escape")
        await wait_screen(pilot, "NodesScreen")
        await pilot.press("D")
        await wait_screen(pilot, "DrainScreen")
        assert "drained in" in text(pilot, "#drain-verdict")


async def test_read_only_shows_the_plan_and_nothing_to_start(
    app_factory: AppFactory, ui_sim
) -> None:
    async with started(app_factory, read_only=True) as pilot:
        await open_drain(pilot, "kv-node-4")
        assert "blocked" in str(pilot.app.screen.board.get_row_at(0))
        await pilot.press("S")
        await pilot.pause(0.2)
        assert type(pilot.app.screen).__name__ == "DrainScreen"  # no confirmation, no drain
        assert not cordoned(ui_sim, "kv-node-4")
        assert not pilot.app.drains


async def test_cancel_mid_drain_calls_back_migrations_and_uncordons(
    app_factory: AppFactory, ui_sim
) -> None:
    moving = [v for v in vmis_on(ui_sim, "kv-node-3")]
    set_faults(ui_sim, stall_migrations=moving)
    try:
        async with started(app_factory) as pilot:
            screen = await open_drain(pilot, "kv-node-3")
            await start_drain(pilot)
            drain = pilot.app.drains["kv-node-3"]
            await wait_until(
                pilot,
                lambda: any(i.phase == "Running" for i in drain.items),
                "a running migration",
                30,
            )
            await pilot.press("C")
            await wait_screen(pilot, "DrainCancelScreen")
            pilot.app.screen.query_one("#uncordon", Checkbox).value = True
            await pilot.click("#cancel")
            await wait_screen(pilot, "ConfirmScreen")
            await pilot.click("#apply")
            await wait_screen(pilot, "DrainScreen")
            await wait_until(pilot, lambda: drain.verdict is not None, "the cancelled verdict")
            assert drain.verdict.status == "cancelled"
            await wait_until(pilot, lambda: not cordoned(ui_sim, "kv-node-3"), "uncordoned")
            marked = ui_sim.call(
                lambda: [
                    v["metadata"]["name"]
                    for v in ui_sim.simulator.store.list(VMIS)
                    if (v.get("status") or {}).get("evacuationNodeName")
                ]
            )
            assert marked == []
            assert "cancelled" in text(pilot, "#drain-verdict")
            assert screen.drain is drain
    finally:
        set_faults(ui_sim, stall_migrations=[])


async def test_a_drain_interrupted_by_quitting_resumes_on_reopen(
    app_factory: AppFactory, ui_sim
) -> None:
    moving = vmis_on(ui_sim, "kv-node-1")
    assert moving
    set_faults(ui_sim, stall_migrations=moving)
    async with started(app_factory) as pilot:
        await open_drain(pilot, "kv-node-1")
        await start_drain(pilot)
        drain = pilot.app.drains["kv-node-1"]
        await wait_until(
            pilot, lambda: any(i.phase == "Running" for i in drain.items), "a migration", 30
        )
        names = [i.name for i in drain.items]
    # The app is gone mid-drain (the SSH session dropped); the cluster carries on.
    assert cordoned(ui_sim, "kv-node-1")
    set_faults(ui_sim, stall_migrations=[])
    async with started(app_factory) as pilot:
        await wait_until(pilot, lambda: "kv-node-1" in pilot.app.drains, "the resumed drain")
        # The drain is registered a moment before the app says so (seen under load).
        await wait_until(
            pilot,
            lambda: any("Resumed the drain of kv-node-1" in n for n in notes(pilot)),
            "the resume notice",
        )
        resumed = pilot.app.drains["kv-node-1"]
        assert [i.name for i in resumed.items] == names
        await select(pilot, "kv-node-1")
        await pilot.press("D")
        await wait_screen(pilot, "DrainScreen")
        await wait_until(pilot, lambda: resumed.verdict is not None, "the verdict", 60)
        assert resumed.verdict.drained, resumed.verdict.line()
        assert all(
            i.state in (State.MIGRATED, State.SHUT_DOWN, State.RESTARTED)
            for i in resumed.items
            if i.plan.is_vm
        )
        await pilot.pause(0.3)
        assert "kv-node-1 drained in" in text(pilot, "#drain-verdict")


async def pick(pilot: Pilot, node: str) -> None:
    """Choose `node` in the node picker."""
    await wait_screen(pilot, "NodePickerScreen")
    options = pilot.app.screen.query_one(OptionList)
    index = next(
        i for i in range(options.option_count) if options.get_option_at_index(i).id == node
    )
    options.highlighted = index
    await pilot.press("enter")


async def test_a_stuck_migration_shows_why_and_the_fixes_work(
    app_factory: AppFactory, ui_sim
) -> None:
    """Every other node cordoned: the migrations cannot schedule. The board says so and why;
    M redirects one to a chosen node (cancelling the stuck one), u uncordons that node
    (kv-node-2, drained by the first test of this module: the one with room)."""
    for name in ("kv-node-1", "kv-node-2", "kv-node-4"):
        ui_sim.call(
            lambda n=name: ui_sim.simulator.store.mutate(
                "/nodes", None, n, lambda o: o["spec"].__setitem__("unschedulable", True)
            )
        )
    config = Config(stuck_seconds=1.0)
    async with started(app_factory, config=config) as pilot:
        screen = await open_drain(pilot, "kv-node-3")
        await start_drain(pilot)
        drain = pilot.app.drains["kv-node-3"]
        stuck = await wait_until(
            pilot,
            lambda: next((i for i in drain.items if i.stuck and i.phase == "Scheduling"), None),
            "a migration stuck in Scheduling",
            30,
        )
        waiting = [i for i in drain.items if i.phase == "Pending"]
        assert all(i.stuck.startswith("waiting for a migration slot") for i in waiting if i.stuck)
        assert stuck.stuck.startswith("target pod virt-launcher-")
        screen.board.move_cursor(row=drain.items.index(stuck))
        detail = await wait_until(
            pilot,
            lambda: "Stuck:" in text(pilot, "#drain-detail") and text(pilot, "#drain-detail"),
            "the stuck panel",
        )
        assert "Stuck:" in detail and "Fixes:" in detail and "M migrate to a chosen node" in detail
        old_migration = stuck.migration

        await pilot.press("M")
        await pick(pilot, "kv-node-2")
        await wait_screen(pilot, "ConfirmScreen")
        title = str(pilot.app.screen.query_one("#confirm-title", Label).content)
        assert "to node kv-node-2" in title and old_migration in title
        await pilot.click("#apply")
        await wait_screen(pilot, "DrainScreen")

        await pilot.press("u")
        await pick(pilot, "kv-node-2")
        await wait_screen(pilot, "ConfirmScreen")
        await pilot.click("#apply")
        await wait_screen(pilot, "DrainScreen")
        assert not cordoned(ui_sim, "kv-node-2")
        for name in ("kv-node-1", "kv-node-4"):  # room for the rest
            ui_sim.call(
                lambda n=name: ui_sim.simulator.store.mutate(
                    "/nodes", None, n, lambda o: o["spec"].pop("unschedulable", None)
                )
            )
        await wait_until(pilot, lambda: drain.verdict is not None, "the verdict", 60)
        assert drain.verdict.drained, drain.verdict.line()
        migrations = ui_sim.call(lambda: ui_sim.simulator.store.list(VMIMS))
        chosen = [
            m
            for m in migrations
            if (m["spec"].get("addedNodeSelector") or {}).get("kubernetes.io/hostname")
            == "kv-node-2"
        ]
        assert [m["status"]["phase"] for m in chosen] == ["Succeeded"], [
            m["status"].get("migrationState") for m in chosen
        ]
        assert chosen[0]["spec"]["vmiName"] == stuck.plan.vmi
        # The stuck one was cancelled: deleted (KubeVirt aborted it), or ended Failed.
        old = [m for m in migrations if m["metadata"]["name"] == old_migration]
        assert old == [] or old[0]["status"]["phase"] == "Failed"
        assert next(i for i in drain.items if i.name == stuck.name).target == "kv-node-2"

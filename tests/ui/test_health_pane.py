"""The Health pane against a simulated default cluster of this module's own: every check the
doctor runs, grouped by area with the status the doctor gives (the doctor asked directly, on the
same cluster, is the reference), the failures filter, a check's evidence and fix, a token that
may not read the KubeVirt CR or the Seed ("could not check", no crash; its fix refused by RBAC),
and a mechanical fix applied from the detail: the dry run changes nothing, the real one turns
the check green and the Service's selector is rewritten in the simulator.

The tests run in file order: the one that changes the cluster comes last.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from textual.content import Content
from textual.pilot import Pilot
from textual.widgets import Button, Label, Static

from kvtui.cluster.connection import Connection
from kvtui.cluster.doctor import DoctorReport, Status, run_doctor
from kvtui.sim.runner import SimHandle, running_simulator
from kvtui.ui.health_presenter import clock_text
from kvtui.ui.screens.health import HealthScreen
from kvtui.ui.screens.health_detail import CheckDetailScreen
from tests.ui.conftest import (
    APP_NOW,
    CONTEXT,
    FIXED_EPOCH,
    NODES,
    SEED,
    AppFactory,
    cells,
    current_table,
    notes,
    press_line,
    started,
    wait_rows,
    wait_screen,
    wait_until,
)

DENIED = ("kubevirts.kubevirt.io", "seeds.kubermatic.k8c.io")
LB_NAMESPACE = "cluster-k4n8vb2t6w"
LB = "a8d41e6b02c7f4a93b5d80f6a1c9e3b2"
LB_CHECK = "upgrade.lb-selector"


@pytest.fixture(scope="module")
def ui_sim() -> Iterator[SimHandle]:
    """The default cluster, with a third context whose token may not read the KubeVirt CR
    nor the Seed (and may change nothing)."""
    with running_simulator(
        scenario="default", speed=1.0, seed=SEED, start=FIXED_EPOCH, restricted=DENIED
    ) as handle:
        yield handle


async def doctor(sim: SimHandle, context: str = CONTEXT) -> DoctorReport:
    """The reference: the doctor asked directly, as `kvtui doctor` asks it."""
    async with await Connection.open(str(sim.kubeconfig), context) as conn:
        return await run_doctor(conn)


def plain(pilot: Pilot, selector: str) -> str:
    return Content.from_markup(str(pilot.app.screen.query_one(selector, Static).content)).plain


async def open_health(pilot: Pilot, word: str = "health") -> HealthScreen:
    await press_line(pilot, "colon", word)
    await wait_screen(pilot, "HealthScreen")
    screen = pilot.app.screen
    assert isinstance(screen, HealthScreen)
    await wait_until(pilot, lambda: screen.report is not None, "the doctor's report")
    await wait_rows(pilot, len(screen.report.results))
    return screen


async def open_detail(pilot: Pilot, check: str) -> CheckDetailScreen:
    screen = pilot.app.screen
    assert isinstance(screen, HealthScreen)
    result = screen.report.get(check)
    assert current_table(pilot).move_cursor((result.area, check))
    await pilot.press("enter")
    await wait_screen(pilot, "CheckDetailScreen")
    detail = pilot.app.screen
    assert isinstance(detail, CheckDetailScreen)
    return detail


def bound(pilot: Pilot) -> set[str]:
    return {b.binding.action for b in pilot.app.screen.active_bindings.values()}


def service_selector(sim: SimHandle) -> dict[str, str]:
    services = sim.call(lambda: sim.simulator.store.list("/services", LB_NAMESPACE))
    [service] = [s for s in services if s["metadata"]["name"] == LB]
    return service["spec"]["selector"]


async def test_every_check_grouped_by_area_as_the_doctor_says(
    app_factory: AppFactory, ui_sim: SimHandle
) -> None:
    async with started(app_factory) as pilot:
        screen = await open_health(pilot)
        expected = await doctor(ui_sim)
        table = current_table(pilot)
        keys = table.keys_in_view()
        assert keys == [(r.area, r.id) for r in expected.results]
        for result in expected.results:
            key = (result.area, result.id)
            assert cells(table, key, "CHECK") == result.id
            assert cells(table, key, "STATUS").endswith(result.status.label), result.id
            assert cells(table, key, "SUMMARY") == result.summary
            assert (cells(table, key, "FIX") == "mechanical") == (result.fix is not None)
        # The area is named once, on the first row of its group.
        named = [(cells(table, k, "AREA"), k[0]) for k in keys if cells(table, k, "AREA")]
        assert [area for area, _ in named] == [area for area, _ in expected.by_area()]
        assert all(shown == area for shown, area in named)
        # Not a clean cluster: the default scenario plants failures.
        failing = expected.with_status(Status.FAILURE)
        assert failing and {r.id for r in failing} >= {LB_CHECK}
        summary = plain(pilot, "#doctor-summary")
        counts = expected.counts()
        assert f"{len(expected.results)} checks" in summary
        assert f"{counts[Status.FAILURE]} failures" in summary
        assert f"last run {clock_text(APP_NOW)}, took" in summary
        assert screen.ran_at == APP_NOW

        # :doctor is the same pane; ctrl+r runs the doctor again (a new report).
        await press_line(pilot, "colon", "nodes")
        await wait_screen(pilot, "NodesScreen")
        await press_line(pilot, "colon", "doctor")
        await wait_screen(pilot, "HealthScreen")
        assert pilot.app.screen is screen
        first = screen.report
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: screen.report is not first, "a second run")
        assert [r.status for r in screen.report.results] == [r.status for r in expected.results]


async def test_the_failures_filter(app_factory: AppFactory, ui_sim: SimHandle) -> None:
    async with started(app_factory) as pilot:
        screen = await open_health(pilot)
        expected = await doctor(ui_sim)
        table = current_table(pilot)
        await pilot.press("exclamation_mark")
        failing = expected.with_status(Status.FAILURE)
        await wait_until(pilot, lambda: table.row_count == len(failing), "only the failures")
        assert table.keys_in_view() == [(r.area, r.id) for r in failing]
        # Each failure's area is named, as its group's first row now.
        assert [cells(table, k, "AREA") for k in table.keys_in_view()] == [r.area for r in failing]
        assert "failures only" in plain(pilot, "#doctor-summary")
        await pilot.press("exclamation_mark")
        await wait_until(pilot, lambda: table.row_count == len(expected.results), "every check")
        assert not screen.failures_only
        assert "failures only" not in plain(pilot, "#doctor-summary")


async def test_the_detail_shows_evidence_and_the_fix(
    app_factory: AppFactory, ui_sim: SimHandle
) -> None:
    async with started(app_factory) as pilot:
        await open_health(pilot)
        expected = await doctor(ui_sim)

        lb = expected.get(LB_CHECK)
        await open_detail(pilot, LB_CHECK)
        text = plain(pilot, "#doctor-detail-text")
        assert lb.summary in text
        for line in lb.evidence:
            assert line in text
        for _, line in lb.fix.diff():
            assert line in text
        assert lb.fix.description in text
        assert "health_fix" in bound(pilot) and "health_rerun" in bound(pilot)
        await pilot.press("escape")
        await wait_screen(pilot, "HealthScreen")

        # A check without a mechanical fix: its steps, and no fix key at all.
        [by_hand] = [
            r
            for r in expected.with_status(Status.FAILURE)
            if r.fix is None and r.instructions and r.area == "dns"
        ]
        await open_detail(pilot, by_hand.id)
        text = plain(pilot, "#doctor-detail-text")
        assert "By hand" in text and "Fix:" not in text
        for step in by_hand.instructions:
            assert step in text
        assert "health_fix" not in bound(pilot)
        await pilot.press("escape")
        await wait_screen(pilot, "HealthScreen")


async def test_a_restricted_token_gets_could_not_check(
    app_factory: AppFactory, ui_sim: SimHandle
) -> None:
    """kubevirts and the Seed are denied: those checks say why, the others still run, and the
    fix of a check the token can read is refused by RBAC before any confirmation."""
    context = ui_sim.restricted_context
    app = app_factory(context=context)
    # Not `started`: the cache never syncs the denied KubeVirt CR.
    async with app.run_test(size=(160, 50)) as pilot:
        await wait_rows(pilot, len(NODES))
        screen = await open_health(pilot)
        expected = await doctor(ui_sim, context)
        unknown = expected.with_status(Status.UNKNOWN)
        assert unknown and any(r.id.startswith("kubevirt.") for r in unknown)
        table = current_table(pilot)
        assert table.keys_in_view() == [(r.area, r.id) for r in expected.results]
        for result in expected.results:
            assert cells(table, (result.area, result.id), "STATUS").endswith(result.status.label)
        assert screen.report.exit_code == expected.exit_code
        assert "could not check" in plain(pilot, "#doctor-summary")

        denied = next(r for r in unknown if r.id == "kubevirt.version")
        await open_detail(pilot, denied.id)
        text = plain(pilot, "#doctor-detail-text")
        assert denied.reason in text and 'cannot list resource "kubevirts"' in text
        assert "health_fix" not in bound(pilot)
        await pilot.press("escape")
        await wait_screen(pilot, "HealthScreen")

        # Services may be read, not patched: the fix shows, and RBAC refuses it.
        detail = await open_detail(pilot, LB_CHECK)
        await wait_until(pilot, lambda: detail.fix_denied, "the RBAC answer")
        assert "may not patch services" in plain(pilot, "#doctor-detail-text")
        await pilot.press("W")
        await pilot.press("ctrl+f")
        await pilot.pause()
        assert type(pilot.app.screen).__name__ == "CheckDetailScreen"
        assert any("may not patch services" in n for n in notes(pilot))
    assert service_selector(ui_sim) == {f"cloud.kubevirt.io/{LB}": "grafana"}


async def test_a_fix_from_the_detail_turns_its_check_green(
    app_factory: AppFactory, ui_sim: SimHandle
) -> None:
    before = service_selector(ui_sim)
    assert before == {f"cloud.kubevirt.io/{LB}": "grafana"}
    async with started(app_factory) as pilot:
        pane = await open_health(pilot)
        detail = await open_detail(pilot, LB_CHECK)
        assert detail.result.status is Status.FAILURE and detail.result.fix is not None

        # Not armed: greyed, says why, asks nothing.
        await pilot.press("ctrl+f")
        await pilot.pause()
        assert type(pilot.app.screen).__name__ == "CheckDetailScreen"
        assert any("writes are not armed" in n for n in notes(pilot))

        # Armed: the confirmation names the context and the Service; a dry run changes nothing.
        await pilot.press("W")
        await pilot.press("ctrl+f")
        await wait_screen(pilot, "ConfirmScreen")
        title = str(pilot.app.screen.query_one("#confirm-title", Label).content)
        assert CONTEXT in title and LB_CHECK in title
        targets = str(pilot.app.screen.query_one("#confirm-targets Static", Static).content)
        assert f"service/{LB_NAMESPACE}/{LB}" in targets
        pilot.app.screen.query_one("#dry-run", Button).press()
        await wait_screen(pilot, "CheckDetailScreen")
        await wait_until(pilot, lambda: any("Dry run" in n for n in notes(pilot)), "dry run")
        assert service_selector(ui_sim) == before
        assert detail.result.status is Status.FAILURE
        assert (
            len(app_factory.audit_lines()) == 1
            and '"dry_run":true' in (app_factory.audit_lines()[0])
        )

        # For real: patched, the check runs again and is green, here and in the pane.
        await pilot.press("ctrl+f")
        await wait_screen(pilot, "ConfirmScreen")
        pilot.app.screen.query_one("#apply", Button).press()
        await wait_screen(pilot, "CheckDetailScreen")
        await wait_until(pilot, lambda: detail.result.status is Status.OK, "the check green")
        assert service_selector(ui_sim) == {"cluster.x-k8s.io/cluster-name": "k4n8vb2t6w"}
        assert "✓ ok" in plain(pilot, "#doctor-detail-text")
        assert "health_fix" not in bound(pilot)
        audit = app_factory.audit_lines()
        assert sum('"dry_run":false' in line for line in audit) == 1
        assert all(f"service/{LB_NAMESPACE}/{LB} ({LB_CHECK})" in line for line in audit)
        await pilot.press("escape")
        await wait_screen(pilot, "HealthScreen")
        table = current_table(pilot)
        assert cells(table, ("upgrade", LB_CHECK), "STATUS").endswith(Status.OK.label)
        assert pane.report.get(LB_CHECK).status is Status.OK
    assert (await doctor(ui_sim)).get(LB_CHECK).status is Status.OK

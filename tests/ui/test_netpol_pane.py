"""The Network policies pane and the reachability explainer, against a simulated cluster of this
module's own: the policies with origin, selection and rules; the FAQ end to end (explainer →
fix → datacenter editor → arm → apply → the simulated KKP reconciles → the verdict changes);
drift made by hand; bad input.

The tests run in file order: the reading ones first, then the ones that change the cluster.
"""

from __future__ import annotations

import json

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Static

from kvtui.sim.runner import SimHandle
from kvtui.ui.screens import netpols
from kvtui.ui.screens.datacenter import DatacenterScreen
from kvtui.ui.screens.netpol_explain import FIELDS, NetpolExplainScreen
from kvtui.ui.screens.netpols import NetpolsScreen
from tests.ui.conftest import (
    CONTEXT,
    AppFactory,
    cells,
    current_table,
    notes,
    press_line,
    started,
    wait_screen,
    wait_until,
)

PROD, STAGING, CI = "cluster-x7k2mq9p4d", "cluster-k4n8vb2t6w", "cluster-q2z9f5m7hc"
NAMESPACES = (STAGING, CI, PROD)
POLICIES = "networking.k8s.io/networkpolicies"
FIX = "allow-from-10-200-20-0-24-31443-tcp"


@pytest.fixture(autouse=True)
def _quick_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pane reads every 5 s; the tests do not wait that long for a change to show."""
    monkeypatch.setattr(netpols, "POLL_SECONDS", 0.2)


def text(pilot: Pilot, selector: str) -> str:
    return str(pilot.app.screen.query_one(selector, Static).content)


def policies(sim: SimHandle, namespace: str | None = None) -> dict[tuple[str, str], dict]:
    found = sim.call(lambda: sim.simulator.store.list(POLICIES, namespace))
    return {(p["metadata"]["namespace"], p["metadata"]["name"]): p for p in found}


def load_balancer(sim: SimHandle) -> str:
    services = sim.call(lambda: sim.simulator.store.list("/services", PROD))
    [lb] = [s["metadata"]["name"] for s in services if s["spec"].get("type") == "LoadBalancer"]
    return lb


async def open_pane(pilot: Pilot, word: str = "np", rows: int = 9) -> NetpolsScreen:
    await press_line(pilot, "colon", word)
    await wait_screen(pilot, "NetpolsScreen")
    table = current_table(pilot)
    await wait_until(pilot, lambda: table.row_count >= rows, f"{rows} policy rows")
    screen = pilot.app.screen
    assert isinstance(screen, NetpolsScreen)
    return screen


async def ask(pilot: Pilot, source: str, destination: str, port: str) -> NetpolExplainScreen:
    """Fill the explainer's fields and press enter in the last one; wait for the answer."""
    screen = pilot.app.screen
    assert isinstance(screen, NetpolExplainScreen)
    for field, value in zip(FIELDS, (source, destination, port), strict=True):
        screen.query_one(f"#{field}", Input).value = value
    screen.query_one("#np-port", Input).focus()
    before = text(pilot, "#np-verdict")
    await pilot.press("enter")
    await wait_until(pilot, lambda: text(pilot, "#np-verdict") != before, "the verdict")
    return screen


# -- reading ---------------------------------------------------------------------------------
async def test_pane_shows_origin_selection_rules_and_detail(app_factory: AppFactory) -> None:
    async with started(app_factory) as pilot:
        screen = await open_pane(pilot, "networkpolicies")
        table = current_table(pilot)
        assert [c.name for c in table.columns] == [
            "NAMESPACE",
            "NAME",
            "ORIGIN",
            "SELECTS",
            "DRIFT",
            "RULES",
        ]
        assert table.keys_in_view() == [
            (ns, name)
            for ns in NAMESPACES
            for name in ("allow-external-traffic", "allow-kubevirt-importer", "cluster-isolation")
        ]
        faq = (PROD, "allow-external-traffic")
        assert cells(table, faq, "ORIGIN") == "custom (DC)"
        assert cells(table, faq, "SELECTS") == "5 VMs"
        assert cells(table, faq, "RULES") == "ingress to every pod from 10.200.10.0/24"
        assert cells(table, faq, "DRIFT") == ""
        assert cells(table, (PROD, "cluster-isolation"), "ORIGIN") == "KKP default"
        assert cells(table, (CI, "allow-kubevirt-importer"), "SELECTS") == "none"
        assert table.get_row((CI, "allow-kubevirt-importer")).health == "muted"

        # Enter: the detail below the table follows the cursor; enter again hides it.
        table.move_cursor(faq)
        await pilot.press("enter")
        detail = text(pilot, "#np-detail-text")
        assert f"{PROD}/allow-external-traffic" in detail
        assert "datacenter kubevirt-ham1 · user cluster x7k2mq9p4d" in detail
        assert "• ingress to every pod from 10.200.10.0/24" in detail
        assert "vm/prod-eu-workers-" in detail and "vm/prod-eu-frontend-" in detail
        code = pilot.app.screen.query_one("#np-detail-yaml", Static).content
        assert "cidr: 10.200.10.0/24" in code.code and "uid" not in code.code
        table.move_cursor((PROD, "cluster-isolation"))
        await wait_until(
            pilot,
            lambda: "198.51.100.21/32" in text(pilot, "#np-detail-text"),
            "the detail of the row under the cursor",
        )
        await pilot.press("enter")
        assert not screen.query_one("#np-detail").display

        # The filter takes the origin as a label; y shows the object fetched fresh.
        await press_line(pilot, "slash", "-l origin=custom")
        await wait_until(pilot, lambda: table.row_count == 3, "the custom policies only")
        await press_line(pilot, "slash", "")
        table.move_cursor(faq)
        await pilot.press("y")
        await wait_screen(pilot, "ObjectViewScreen")
        body = pilot.app.screen.query_one("#object-body", Static)
        await wait_until(pilot, lambda: "resourceVersion" in str(body.content.code), "the YAML")
        await pilot.press("escape")
        await wait_screen(pilot, "NetpolsScreen")


async def test_explainer_bad_input_and_no_fix_when_allowed(
    app_factory: AppFactory, ui_sim: SimHandle
) -> None:
    async with started(app_factory) as pilot:
        pane = await open_pane(pilot)
        current_table(pilot).move_cursor((PROD, "cluster-isolation"))
        await pilot.press("r")
        await wait_screen(pilot, "NetpolExplainScreen")
        screen = pilot.app.screen
        # `r` fills in the first VM the row's policy selects.
        assert screen.query_one("#np-to", Input).value.startswith(f"{PROD}/prod-eu-")
        assert screen.focused is screen.query_one("#np-from", Input)

        await ask(pilot, "10.0.0.1", "nowhere/x", "443")
        assert (
            text(pilot, "#np-verdict") == "[b $error]Cannot check:[/] namespace 'nowhere' not found"
        )
        await ask(pilot, "10.0.0.1", f"{PROD}:", "ssh")
        assert "port 'ssh'" in text(pilot, "#np-verdict")
        assert screen.check_action("netpol_fix", ()) is False

        # The FAQ traffic: allowed by the datacenter's policy, nothing to fix.
        await ask(pilot, "10.200.10.0/24", f"{PROD}/{load_balancer(ui_sim)}", "443")
        verdict = text(pilot, "#np-verdict")
        assert "ALLOWED" in verdict and "5 × 31443/TCP" in verdict
        assert f"allowed by {PROD}/allow-external-traffic rule 0 peer 0" in verdict
        assert "arrives on the pods' port 31443/TCP" in verdict
        assert text(pilot, "#np-fix") == "" and screen.check_action("netpol_fix", ()) is False
        await pilot.press("f")  # not offered: nothing happens
        assert pilot.app.screen is screen
        await pilot.press("escape")
        await wait_screen(pilot, "NetpolsScreen")
        assert pilot.app.screen is pane


# -- the FAQ end to end ----------------------------------------------------------------------
async def test_faq_fix_through_the_datacenter_editor_changes_the_verdict(
    app_factory: AppFactory, ui_sim: SimHandle
) -> None:
    """10.200.20.0/24 (a second office) cannot reach prod-eu's LoadBalancer: the FAQ policy the
    datacenter carries admits 10.200.10.0/24 only, and selecting every pod it isolates them for
    ingress. The explainer's fix, applied through the datacenter editor, opens it."""
    lb = load_balancer(ui_sim)
    async with started(app_factory) as pilot:
        await open_pane(pilot)
        await pilot.press("r")
        await wait_screen(pilot, "NetpolExplainScreen")
        screen = await ask(pilot, "10.200.20.0/24", f"{PROD}/{lb}", "443")
        verdict = text(pilot, "#np-verdict")
        assert "DENIED" in verdict
        assert (
            f"denied by {PROD}/allow-external-traffic (rule 0: 10.200.20.0/24 is not in" in verdict
        )
        fix = text(pilot, "#np-fix")
        assert f"[b]{FIX}: ingress to pods with cluster.x-k8s.io/role=worker" in fix
        for namespace, count in ((STAGING, 3), (CI, 2), (PROD, 5)):
            assert f"{namespace} (" in fix and f"applies to {count} VMs" in fix
        assert f"✓ allowed[/] (ingress by {PROD}/{FIX} rule 0 peer 0 port 0)" in fix
        assert screen.focused is screen.query_one("#np-result")  # so that f works at once

        await pilot.press("f")
        await wait_screen(pilot, "DatacenterScreen")
        dc = pilot.app.screen
        assert isinstance(dc, DatacenterScreen)
        await wait_until(pilot, lambda: dc.showing_diff, "the diff of the proposed policy")
        assert [p["name"] for p in dc.block["customNetworkPolicies"]] == [
            "allow-external-traffic",
            FIX,
        ]
        assert f'NetworkPolicy "{FIX}" is created in' in text(pilot, "#dc-diff")
        assert policies(ui_sim).get((PROD, FIX)) is None  # nothing applied yet

        await pilot.press("W", "P")
        await wait_screen(pilot, "ConfirmScreen")
        await pilot.click("#apply")
        await wait_screen(pilot, "DatacenterScreen")
        await wait_until(
            pilot, lambda: any(n.startswith("Applied to ") for n in notes(pilot)), "the apply"
        )
        # The simulated KKP puts the entry, spec verbatim, in every user cluster's namespace.
        await wait_until(
            pilot,
            lambda: all((ns, FIX) in policies(ui_sim) for ns in NAMESPACES),
            "the policy in every cluster-<id> namespace",
        )
        entry = dc.block["customNetworkPolicies"][1]
        assert all(policies(ui_sim)[(ns, FIX)]["spec"] == entry["spec"] for ns in NAMESPACES)
        [line] = [json.loads(x) for x in app_factory.audit_lines()]
        assert (line["verb"], line["result"], line["context"]) == (
            "datacenter-apply",
            "ok",
            CONTEXT,
        )

        await pilot.press("escape")
        await wait_screen(pilot, "NetpolExplainScreen")
        await wait_until(pilot, lambda: "ALLOWED" in text(pilot, "#np-verdict"), "the new verdict")
        assert f"allowed by {PROD}/{FIX} rule 0 peer 0 port 0" in text(pilot, "#np-verdict")
        assert text(pilot, "#np-fix") == ""

        await pilot.press("escape")
        await wait_screen(pilot, "NetpolsScreen")
        table = current_table(pilot)
        await wait_until(pilot, lambda: table.get_row((CI, FIX)) is not None, "the new rows")
        assert cells(table, (CI, FIX), "ORIGIN") == "custom (DC)"
        assert cells(table, (CI, FIX), "DRIFT") == ""


# -- drift -----------------------------------------------------------------------------------
async def test_drift_made_by_hand_shows_in_the_pane(
    app_factory: AppFactory, ui_sim: SimHandle
) -> None:
    def break_things() -> None:
        store = ui_sim.simulator.store

        def widen(policy: dict) -> None:
            policy["spec"]["ingress"][0]["from"][0]["ipBlock"]["cidr"] = "0.0.0.0/0"

        store.mutate(POLICIES, STAGING, "allow-external-traffic", widen)
        store.delete(POLICIES, CI, "cluster-isolation")

    async with started(app_factory) as pilot:
        await open_pane(pilot)
        table = current_table(pilot)
        ui_sim.call(break_things)
        changed, missing = (STAGING, "allow-external-traffic"), (CI, "cluster-isolation")
        await wait_until(
            pilot, lambda: cells(table, changed, "DRIFT") == "⚠ differs: ingress", "the drift"
        )
        assert table.get_row(changed).health == "warn"
        assert cells(table, missing, "DRIFT") == "✗ missing"
        assert table.get_row(missing).health == "error"
        assert cells(table, missing, "SELECTS") == "2 VMs"  # what it would select
        table.move_cursor(missing)
        await pilot.press("enter")
        detail = text(pilot, "#np-detail-text")
        assert "missing: datacenter kubevirt-ham1 has it (KKP's default)" in detail
        assert "YAML (what the datacenter produces)" in detail
        await pilot.press("d")  # nothing to describe: the policy does not exist
        assert type(pilot.app.screen).__name__ == "NetpolsScreen"

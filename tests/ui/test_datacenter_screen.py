"""The Datacenter screen: the summary, the YAML block validated as it changes, the diff, apply
and undo through the one confirmation, a concurrent change shown as a conflict, and read-only
mode, checked by reading the simulated Seed back."""

from __future__ import annotations

import copy
import json
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Label, Static

from kvtui.sim.runner import SimHandle
from kvtui.ui.screens.datacenter import YAML, DatacenterScreen
from tests.conftest import Kubectl
from tests.ui.conftest import (
    CONTEXT,
    AppFactory,
    notes,
    press_line,
    started,
    wait_screen,
    wait_until,
)

SIM_SPEED = 10.0
SEEDS = "kubermatic.k8c.io/seeds"
SEED_NS, SEED_NAME, DC = "kubermatic", "europe-west", "kubevirt-ham1"
TARGET = f"seed/{SEED_NS}/{SEED_NAME}/datacenters/{DC}"
NAMESERVER = "dnsPolicy: None\ndnsConfig: {nameservers: [8.8.8.8]}"


def live_block(sim: SimHandle) -> dict[str, Any]:
    seed = sim.call(lambda: copy.deepcopy(sim.simulator.store.get(SEEDS, SEED_NS, SEED_NAME)))
    return seed["spec"]["datacenters"][DC]["spec"]["kubevirt"]


def change_seed_block(sim: SimHandle, **fields: Any) -> None:
    """Someone else's write to the Seed (a new resourceVersion)."""

    def write() -> None:
        store = sim.simulator.store
        seed = copy.deepcopy(store.get(SEEDS, SEED_NS, SEED_NAME))
        seed["spec"]["datacenters"][DC]["spec"]["kubevirt"].update(fields)
        store.replace(SEEDS, seed)

    sim.call(write)


def text(pilot: Pilot, selector: str) -> str:
    """A panel's text as shown (markup applied)."""
    return str(pilot.app.screen.query_one(selector, Static).render())


async def open_dc(pilot: Pilot, *, yaml: bool = True) -> DatacenterScreen:
    """The Datacenter screen, switched to its YAML mode unless `yaml` is False (the form)."""
    await press_line(pilot, "colon", "dc")
    await wait_screen(pilot, "DatacenterScreen")
    screen = pilot.app.screen
    assert isinstance(screen, DatacenterScreen)
    # The block is there once the editors hold the datacenter (the form draws after `dc`).
    await wait_until(pilot, lambda: screen.block is not None, "the datacenter in the editors")
    if yaml:
        await pilot.press("Y")
        await wait_until(pilot, lambda: screen.mode == YAML, "the YAML mode")
    return screen


async def edit(pilot: Pilot, screen: DatacenterScreen, new_text: str) -> None:
    """Replace the editor's text as one edit and wait for the debounced validation."""
    area = screen.editor
    area.replace(new_text, area.document.start, area.document.end)
    await wait_until(pilot, lambda: screen._validate_timer is not None, "the timer")
    await wait_until(pilot, lambda: screen._validate_timer is None, "the validation")


async def confirm(pilot: Pilot, key: str, button: str = "#apply") -> str:
    await pilot.press(key)
    await wait_screen(pilot, "ConfirmScreen")
    title = str(pilot.app.screen.query_one("#confirm-title", Label).content)
    await pilot.click(button)
    await wait_screen(pilot, "DatacenterScreen")
    return title


async def test_dc_opens_on_the_kubevirt_datacenter(app_factory: AppFactory) -> None:
    async with started(app_factory) as pilot:
        screen = await open_dc(pilot)
        summary = text(pilot, "#dc-summary")
        assert f"Datacenter {DC}" in summary and SEED_NAME in summary
        assert "rook-ceph-block (default) ✓ Immediate" in summary
        assert "LiveMigrate" in summary and "allow-external-traffic" in summary
        assert "dnsPolicy: ClusterFirst" in screen.editor.text
        await pilot.press("escape")
        await wait_screen(pilot, "NodesScreen")


async def test_leaving_before_the_seed_answers_is_fine(app_factory: AppFactory) -> None:
    """escape while the datacenters load: the late answer finds no screen and draws nothing."""
    async with started(app_factory) as pilot:
        for _ in range(3):
            await press_line(pilot, "colon", "dc")
            await wait_screen(pilot, "DatacenterScreen")
            await pilot.press("escape")
            await wait_screen(pilot, "NodesScreen")
        await pilot.pause(0.5)
        assert pilot.app.is_running
        screen = await open_dc(pilot)
        assert screen.dc is not None


async def test_validation_follows_the_text_and_never_rewrites_it(
    app_factory: AppFactory,
) -> None:
    async with started(app_factory) as pilot:
        screen = await open_dc(pilot)
        area = screen.editor
        with_dns = area.text.replace("dnsPolicy: ClusterFirst", NAMESERVER)
        await edit(pilot, screen, with_dns)
        assert screen.errors == [] and screen.block["dnsConfig"] == {"nameservers": ["8.8.8.8"]}

        bad_cidr = with_dns.replace("10.200.10.0/24", "10.200.10.0/33")
        await edit(pilot, screen, bad_cidr)
        [error] = screen.errors
        line = next(i for i, t in enumerate(bad_cidr.splitlines(), 1) if "/33" in t)
        assert error.line == line
        findings = text(pilot, "#dc-findings")
        assert f"line {line}: customNetworkPolicies[0].spec.ingress[0].from[0].ipBlock.cidr" in (
            findings
        )

        broken = with_dns.replace("[8.8.8.8]}", "[8.8.8.8")
        await edit(pilot, screen, broken)
        [error] = screen.errors
        assert error.line is not None and "YAML syntax" in error.message
        assert f"line {error.line}: YAML syntax" in text(pilot, "#dc-findings")
        await pilot.pause(0.5)
        assert area.text == broken and screen.block is None


async def test_diff_shows_the_added_nameserver(app_factory: AppFactory) -> None:
    async with started(app_factory) as pilot:
        screen = await open_dc(pilot)
        area = screen.editor
        await edit(pilot, screen, area.text.replace("dnsPolicy: ClusterFirst", NAMESERVER))
        await pilot.press("F")
        diff = text(pilot, "#dc-diff")
        assert "+  - 8.8.8.8" in diff and "-dnsPolicy: ClusterFirst" in diff
        assert "changes dnsPolicy, dnsConfig" in diff and "cluster-isolation" in diff
        assert screen.query_one("#dc-diff").display
        await pilot.press("F")
        assert not screen.query_one("#dc-diff").display


async def test_apply_and_undo_through_the_confirmation(
    app_factory: AppFactory, ui_sim: SimHandle
) -> None:
    before = live_block(ui_sim)
    async with started(app_factory) as pilot:
        screen = await open_dc(pilot)
        area = screen.editor
        await edit(pilot, screen, area.text.replace("dnsPolicy: ClusterFirst", NAMESERVER))
        await pilot.press("P")  # not armed: greyed, says why
        assert type(pilot.app.screen).__name__ == "DatacenterScreen"
        assert any("not armed" in n for n in notes(pilot))
        await pilot.press("W")
        title = await confirm(pilot, "P")
        assert title.startswith("Apply 1 target") and f"on context [b]{CONTEXT}" in title
        await wait_until(
            pilot,
            lambda: live_block(ui_sim).get("dnsConfig") == {"nameservers": ["8.8.8.8"]},
            "the new block on the Seed",
        )
        block = live_block(ui_sim)
        assert block["dnsPolicy"] == "None"
        assert {k: v for k, v in block.items() if k not in ("dnsPolicy", "dnsConfig")} == {
            k: v for k, v in before.items() if k != "dnsPolicy"
        }
        await wait_until(pilot, lambda: screen.applied is not None, "the apply to finish")
        audit = app_factory.audit_lines()
        assert any(TARGET in line and "datacenter-apply" in line for line in audit)

        await confirm(pilot, "U")
        await wait_until(pilot, lambda: live_block(ui_sim) == before, "the old block back")
        await wait_until(pilot, lambda: "dnsPolicy: ClusterFirst" in area.text, "the old text")


async def test_a_concurrent_change_shows_the_conflict_and_keeps_our_text(
    app_factory: AppFactory, ui_sim: SimHandle, kubectl_binary: str
) -> None:
    async with started(app_factory) as pilot:
        screen = await open_dc(pilot)
        area = screen.editor
        ours = area.text.replace("dnsPolicy: ClusterFirst", NAMESERVER)
        await edit(pilot, screen, ours)
        # Someone else, with stock kubectl, between our load and our apply.
        theirs = {
            "spec": {
                "datacenters": {DC: {"spec": {"kubevirt": {"vmEvictionStrategy": "External"}}}}
            }
        }
        Kubectl(kubectl_binary, ui_sim.kubeconfig)(
            "-n", SEED_NS, "patch", "seed", SEED_NAME, "--type", "merge", "-p", json.dumps(theirs)
        )
        await pilot.press("W")
        await confirm(pilot, "P")
        await wait_until(pilot, lambda: screen.conflict is not None, "the conflict")
        assert screen.query_one("#dc-conflict").display
        assert "+vmEvictionStrategy: External" in text(pilot, "#dc-theirs")
        assert "+  - 8.8.8.8" in text(pilot, "#dc-ours")
        assert area.text == ours
        assert live_block(ui_sim).get("dnsConfig") is None  # nothing overwritten

        title = await confirm(pilot, "P")  # again: rebased onto theirs first
        assert "rebased onto their change" in title
        await wait_until(
            pilot,
            lambda: live_block(ui_sim).get("dnsConfig") == {"nameservers": ["8.8.8.8"]},
            "ours on the Seed",
        )
        assert live_block(ui_sim)["vmEvictionStrategy"] == "External"  # theirs kept
        await wait_until(pilot, lambda: screen.conflict is None, "the conflict to clear")
        await confirm(pilot, "U")
        await wait_until(pilot, lambda: "dnsPolicy: ClusterFirst" in area.text, "undone")


async def test_read_only_has_no_apply(app_factory: AppFactory, ui_sim: SimHandle) -> None:
    before = live_block(ui_sim)
    async with started(app_factory, read_only=True) as pilot:
        screen = await open_dc(pilot)
        keys = set(screen._bindings.key_to_bindings)
        assert not {"P", "U", "W"} & keys and {"F", "e", "escape"} <= keys
        area = screen.editor
        await edit(pilot, screen, area.text.replace("dnsPolicy: ClusterFirst", NAMESERVER))
        await pilot.press("F")
        assert "+  - 8.8.8.8" in text(pilot, "#dc-diff")
        await pilot.press("P")
        await pilot.pause(0.2)
        assert type(pilot.app.screen).__name__ == "DatacenterScreen"
        assert live_block(ui_sim) == before

"""The safety proof: a read-only app, even with admin credentials, never asks the API server
for anything but reads, whatever the user presses on whichever screen.

The app runs on the admin context (`kvtui-admin` may write), so any write that slipped
through would reach the cluster: the simulator records every request it serves.
"""

from __future__ import annotations

from textual.content import Content
from textual.pilot import Pilot
from textual.widgets import Input, Static

from kvtui.ui.actions import ACTIONS
from kvtui.ui.screens.netpol_explain import FIELDS as NETPOL_FIELDS
from kvtui.ui.widgets.prompt import Prompt
from kvtui.ui.widgets.status_header import StatusHeader
from tests.ui.conftest import (
    AppFactory,
    clear_requests,
    current_table,
    press_line,
    sim_requests,
    started,
    wait_rows,
    wait_screen,
    wait_until,
)

# The only non-GET requests a read-only app may send: questions about its own permissions.
READ_ONLY_POSTS = {
    ("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"),
    ("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews"),
}
READ_VERBS = {"get", "list", "watch"}
MUTATING = [a for a in ACTIONS if a.mutates]
EVERY_KEY = ["W", *(a.key for a in ACTIONS if a.key != "W"), "enter", "space"]
# On screens without a table (help, describe, YAML, VM health, contexts): the keys that
# could write, and enter.
WRITE_KEYS = ["W", *(a.key for a in MUTATING if a.key != "W"), "enter"]


def screen_name(pilot: Pilot) -> str:
    return type(pilot.app.screen).__name__


async def back_to(pilot: Pilot, name: str, depth: int) -> None:
    """Close prompts and pop screens until `name` at stack `depth` is on top again."""
    for _ in range(6):
        prompt_open = isinstance(pilot.app.focused, Prompt)
        if not prompt_open and screen_name(pilot) == name and len(pilot.app.screen_stack) == depth:
            return
        if screen_name(pilot) == "UnsavedEditScreen":  # an edit left behind (kept in a file)
            await pilot.click("#go")
            await pilot.pause()
            continue
        await pilot.press("escape")
        await pilot.pause()
    raise AssertionError(f"could not get back to {name}, on {screen_name(pilot)}")


async def press_everything(pilot: Pilot, keys: list[str] = EVERY_KEY) -> None:
    """`keys` on the screen on top, coming back to it after each; a key that closes this
    screen (`?` on help, enter on the context picker) goes last."""
    name, depth = screen_name(pilot), len(pilot.app.screen_stack)
    closing = {"HelpScreen": "question_mark", "ContextScreen": "enter"}.get(name)
    for key in sorted(keys, key=lambda k: k == closing):
        await pilot.press(key)
        assert screen_name(pilot) != "ConfirmScreen", f"{key} on {name} asks to change"
        if key != closing:
            await back_to(pilot, name, depth)


def assert_no_mutating_binding(pilot: Pilot) -> None:
    names = {b.binding.action for b in pilot.app.screen.active_bindings.values()}
    assert names and not names & {a.name for a in MUTATING}, names


async def test_read_only_app_sends_no_write(app_factory: AppFactory, ui_sim) -> None:
    clear_requests(ui_sim)  # before the app starts: its session opening counts too
    async with started(app_factory, read_only=True) as pilot:
        header = pilot.app.screen.query_one(StatusHeader)
        plain = Content.from_markup(str(header.content)).plain
        assert "READ-ONLY" in plain and "ARMED" not in plain

        # Nodes, then its help, a drill-down, describe and YAML of a node.
        assert_no_mutating_binding(pilot)
        await press_everything(pilot)
        await pilot.press("question_mark")
        await wait_screen(pilot, "HelpScreen")
        help_text = str(pilot.app.screen.query_one(Static).content)
        assert "Read-only" in help_text
        assert not any(a.help in help_text for a in MUTATING)
        await press_everything(pilot, [*WRITE_KEYS, "question_mark"])
        await back_to(pilot, "NodesScreen", 1)
        current_table(pilot).move_cursor(("", "kv-node-1"))
        await pilot.press("enter")
        await wait_until(pilot, lambda: len(pilot.app.screen_stack) == 2, "the drill-down")
        await wait_rows(pilot, 1)
        assert_no_mutating_binding(pilot)
        await press_everything(pilot)
        await back_to(pilot, "NodesScreen", 1)
        for view in ("d", "y"):
            await pilot.press(view)
            await wait_screen(pilot, "ObjectViewScreen")
            await press_everything(pilot, WRITE_KEYS)
            await back_to(pilot, "NodesScreen", 1)

        # VMs, VM health, describe and YAML of a VM, help there.
        await press_line(pilot, "colon", "vms")
        await wait_rows(pilot, 11)
        assert_no_mutating_binding(pilot)
        await press_everything(pilot)
        for opener in ("enter", "d", "y", "question_mark"):
            await pilot.press(opener)
            await wait_until(pilot, lambda: len(pilot.app.screen_stack) == 2, opener)
            await press_everything(pilot, WRITE_KEYS)
            await back_to(pilot, "VmsScreen", 1)

        # The datacenter editor: its form and its YAML mode, edited, then every write key.
        await press_line(pilot, "colon", "dc")
        await wait_screen(pilot, "DatacenterScreen")
        await wait_until(pilot, lambda: pilot.app.screen.block is not None, "the datacenter")
        await press_everything(pilot, [*WRITE_KEYS, "F"])
        await pilot.press("Y")
        await press_everything(pilot, [*WRITE_KEYS, "F"])
        await back_to(pilot, "VmsScreen", 1)

        # The metrics pane: both views, every key.
        await press_line(pilot, "colon", "metrics")
        await wait_screen(pilot, "MetricsScreen")
        await press_everything(pilot, [*WRITE_KEYS, "v", "z"])
        await back_to(pilot, "MetricsScreen", 1)
        await press_line(pilot, "colon", "vms")
        await wait_screen(pilot, "VmsScreen")

        # The scheduling presets: the editor, the preview, every write key.
        await press_line(pilot, "colon", "presets")
        await wait_screen(pilot, "PresetsScreen")
        await press_everything(pilot, WRITE_KEYS)
        await back_to(pilot, "VmsScreen", 1)

        # Commands that would arm writes, and the context picker.
        await press_line(pilot, "colon", "arm")
        await press_line(pilot, "colon", "ctx")
        await wait_screen(pilot, "ContextScreen")
        await press_everything(pilot, WRITE_KEYS)
        await back_to(pilot, "VmsScreen", 1)
        plain = Content.from_markup(str(pilot.app.screen.query_one(StatusHeader).content)).plain
        assert "READ-ONLY" in plain and "ARMED" not in plain
        assert not pilot.app.safety.armed()

        # Instance types: the pane and the VMs using one (describe, YAML and help are the
        # screens every pane opens, pressed through above).
        await press_line(pilot, "colon", "it")
        await wait_screen(pilot, "InstancetypesScreen")
        await wait_until(pilot, lambda: pilot.app.screen.catalog is not None, "instance types")
        await wait_rows(pilot, 1)
        assert_no_mutating_binding(pilot)
        await press_everything(pilot)
        await pilot.press("enter")
        await wait_screen(pilot, "TemplateUsersScreen")
        await press_everything(pilot, WRITE_KEYS)
        await back_to(pilot, "InstancetypesScreen", 1)

        # Network policies: the pane and its detail, then the explainer with a denied question
        # whose fix `f` hands to the datacenter editor (where apply does not exist).
        await press_line(pilot, "colon", "np")
        await wait_screen(pilot, "NetpolsScreen")
        await wait_rows(pilot, 9)
        assert_no_mutating_binding(pilot)
        await press_everything(pilot)
        await pilot.press("r")
        await wait_screen(pilot, "NetpolExplainScreen")
        explainer = pilot.app.screen
        question = ("10.200.20.0/24", "cluster-x7k2mq9p4d:kubevirt.io=virt-launcher", "22")
        for field, value in zip(NETPOL_FIELDS, question, strict=True):
            explainer.query_one(f"#{field}", Input).value = value
        explainer.query_one(f"#{NETPOL_FIELDS[-1]}", Input).focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: explainer.proposals, "the proposed fix")
        await press_everything(pilot, WRITE_KEYS)
        await pilot.press("f")
        await wait_screen(pilot, "DatacenterScreen")
        await wait_until(pilot, lambda: pilot.app.screen.showing_diff, "the proposed policy")
        assert_no_mutating_binding(pilot)
        await press_everything(pilot, WRITE_KEYS)
        await back_to(pilot, "NetpolsScreen", 1)

        # Health: the pane (the doctor reads, ctrl+r reads again) and the detail of a check
        # whose mechanical fix is on screen as a diff (ctrl+f does not exist here).
        await press_line(pilot, "colon", "health")
        await wait_screen(pilot, "HealthScreen")
        health = pilot.app.screen
        await wait_until(pilot, lambda: health.report is not None, "the doctor's report")
        await wait_rows(pilot, len(health.report.results))
        assert_no_mutating_binding(pilot)
        await press_everything(pilot)
        assert current_table(pilot).move_cursor(("upgrade", "upgrade.lb-selector"))
        await pilot.press("enter")
        await wait_screen(pilot, "CheckDetailScreen")
        assert pilot.app.screen.result.fix is not None
        assert_no_mutating_binding(pilot)
        await press_everything(pilot, [*WRITE_KEYS, "ctrl+r"])
        await back_to(pilot, "HealthScreen", 1)

    requests = sim_requests(ui_sim)
    assert len(requests) > 20  # the recording did see the app
    others = [r for r in requests if (r.method, r.path) not in READ_ONLY_POSTS]
    assert {r.method for r in others} == {"GET"}, [r for r in others if r.method != "GET"]
    assert {r.verb for r in others} <= READ_VERBS
    assert all("dryRun" not in r.query for r in requests)
    assert {(r.method, r.path) for r in requests} - {(r.method, r.path) for r in others} == (
        READ_ONLY_POSTS
    )
    assert app_factory.audit_lines() == []

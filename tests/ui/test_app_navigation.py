"""The app through Pilot against the simulator: commands, filters, help, drill-downs, views,
sorting and the header. Nothing here changes the cluster (see test_app_actions.py)."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import OptionList, Static

from kvtui.ui.actions import ACTIONS, Safety, visible
from kvtui.ui.widgets.status_header import StatusHeader
from tests.ui.conftest import (
    CONTEXT,
    NODES,
    AppFactory,
    cells,
    current_table,
    notes,
    press_line,
    row_keys,
    started,
    wait_rows,
    wait_screen,
    wait_until,
)

VM_COUNT = 11


def screen_name(pilot) -> str:
    return type(pilot.app.screen).__name__


def header(pilot) -> str:
    """The header line as plain text."""
    return Content.from_markup(str(pilot.app.screen.query_one(StatusHeader).content)).plain


async def test_pane_commands_and_aliases(app_factory: AppFactory) -> None:
    async with started(app_factory) as pilot:
        assert screen_name(pilot) == "NodesScreen"
        for command, expected, rows in (
            ("vms", "VmsScreen", VM_COUNT),
            ("no", "NodesScreen", len(NODES)),
            ("vm", "VmsScreen", VM_COUNT),
            ("nodes", "NodesScreen", len(NODES)),
        ):
            await press_line(pilot, "colon", command)
            await wait_screen(pilot, expected)
            assert current_table(pilot).row_count == rows, command
        await press_line(pilot, "colon", "frobnicate")
        assert any("unknown command :frobnicate" in n for n in notes(pilot))
        assert screen_name(pilot) == "NodesScreen"


async def test_colon_q_quits(app_factory: AppFactory) -> None:
    async with started(app_factory) as pilot:
        await press_line(pilot, "colon", "q")
        await wait_until(pilot, lambda: not pilot.app.is_running, "the app to exit")
    assert pilot.app.return_code == 0


async def test_ctrl_c_quits(app_factory: AppFactory) -> None:
    async with started(app_factory) as pilot:
        await pilot.press("ctrl+c")
        await wait_until(pilot, lambda: not pilot.app.is_running, "the app to exit")
    assert pilot.app.return_code == 0


async def test_ctx_opens_the_context_picker(app_factory: AppFactory) -> None:
    async with started(app_factory) as pilot:
        await press_line(pilot, "colon", "ctx")
        await wait_screen(pilot, "ContextScreen")
        options = pilot.app.screen.query_one(OptionList)
        ids = [options.get_option_at_index(i).id for i in range(options.option_count)]
        assert ids == [CONTEXT, f"{CONTEXT}-readonly"]
        await pilot.press("escape")
        await wait_screen(pilot, "NodesScreen")
        assert pilot.app.session.context == CONTEXT


async def test_filter_regex_inverse_and_labels(app_factory: AppFactory) -> None:
    async with started(app_factory) as pilot:
        table = current_table(pilot)
        # Typed key by key: "e-[" and "e-[1" are no regex yet, and that is no error.
        await press_line(pilot, "slash", "e-[12]$", typed=True)
        await wait_until(pilot, lambda: table.row_count == 2, "the regex filter")
        assert [k[1] for k in row_keys(table)] == ["kv-node-1", "kv-node-2"]
        assert "/e-[12]$" in header(pilot)
        assert not any("bad filter" in n for n in notes(pilot)), notes(pilot)

        await press_line(pilot, "slash", "!kv-node")
        await wait_until(pilot, lambda: table.row_count == 1, "the inverse filter")
        assert row_keys(table) == [("", "kv-cp-1")]

        await press_line(pilot, "slash", "-l kubernetes.io/hostname=kv-node-3")
        await wait_until(pilot, lambda: table.row_count == 1, "the label filter")
        assert row_keys(table) == [("", "kv-node-3")]

        await pilot.press("slash", "ctrl+u", "enter")
        await wait_rows(pilot, len(NODES))
        assert "/" not in header(pilot).split("API")[1]


async def test_bad_regex_notifies_and_nothing_breaks(app_factory: AppFactory) -> None:
    async with started(app_factory) as pilot:
        table = current_table(pilot)
        await press_line(pilot, "slash", "(kv")
        bad = [n for n in notes(pilot) if "bad filter regex" in n]
        assert len(bad) == 1, notes(pilot)
        assert table.row_count == len(NODES) and "/(kv" not in header(pilot)
        # While typing, the last good filter stays: "-node-" before the bracket.
        await press_line(pilot, "slash", "-node-[", typed=True)
        await wait_until(pilot, lambda: table.row_count == len(NODES) - 1, "the last good filter")
        assert "/-node- " in header(pilot)
        assert len([n for n in notes(pilot) if "bad filter regex" in n]) == 2
        await press_line(pilot, "colon", "vms")
        await wait_screen(pilot, "VmsScreen")
        await wait_rows(pilot, VM_COUNT)


async def test_help_lists_every_key_of_the_pane(app_factory: AppFactory) -> None:
    async with started(app_factory) as pilot:
        for pane, command in (("nodes", "nodes"), ("vms", "vms")):
            await press_line(pilot, "colon", command)
            await pilot.press("question_mark")
            await wait_screen(pilot, "HelpScreen")
            text = str(pilot.app.screen.query_one(Static).content)
            expected = list(visible(pane, Safety(read_only=False)))
            assert any(a.mutates for a in expected)
            for action in expected:
                assert action.help in text, (pane, action.name)
            others = [a for a in ACTIONS if not a.applies_to(pane)]
            assert others and not any(a.help in text for a in others)
            assert "arm writes with W first" in text  # mutating keys are greyed, and why
            await pilot.press("escape")
            await wait_until(pilot, lambda: screen_name(pilot) != "HelpScreen", "help closed")


async def test_enter_on_a_node_shows_its_vms_and_escape_returns(app_factory: AppFactory) -> None:
    async with started(app_factory) as pilot:
        table = current_table(pilot)
        table.move_cursor(("", "kv-node-1"))
        await pilot.press("enter")
        await wait_until(pilot, lambda: getattr(pilot.app.screen, "node", None), "drill-down")
        vms = await wait_rows(pilot, 1)
        await pilot.pause(0.2)
        keys = row_keys(vms)
        assert 0 < len(keys) < VM_COUNT
        assert {cells(vms, k, "NODE") for k in keys} == {"kv-node-1"}
        assert "node kv-node-1" in header(pilot)
        await pilot.press("escape")
        await wait_screen(pilot, "NodesScreen")
        assert len(pilot.app.screen_stack) == 1


async def test_enter_on_a_vm_shows_vm_health(app_factory: AppFactory) -> None:
    async with started(app_factory) as pilot:
        await press_line(pilot, "colon", "vms")
        await wait_rows(pilot, VM_COUNT)
        await press_line(pilot, "slash", "bastion")
        await wait_until(pilot, lambda: current_table(pilot).row_count == 1, "bastion only")
        await pilot.press("enter")
        await wait_screen(pilot, "VmHealthScreen")
        screen = pilot.app.screen
        events = screen.query_one("#health-events", Static)
        await wait_until(pilot, lambda: "SuccessfulCreate" in str(events.content), "events")
        conditions = str(screen.query_one("#health-conditions", Static).content)
        assert "Conditions" in conditions and "LiveMigratable" in conditions
        assert "virt-launcher-bastion-" in conditions
        assert "Verdict" in str(screen.query_one("#health-summary", Static).content)
        await pilot.press("escape")
        await wait_screen(pilot, "VmsScreen")


async def test_describe_and_yaml(app_factory: AppFactory) -> None:
    async with started(app_factory) as pilot:
        for command, pane, name, kind in (
            ("nodes", "NodesScreen", "kv-node-2", "Node"),
            ("vms", "VmsScreen", "bastion", "VirtualMachine"),
        ):
            await press_line(pilot, "colon", command)
            await press_line(pilot, "slash", f"{name}$")
            await wait_until(pilot, lambda: current_table(pilot).row_count == 1, name)
            await pilot.press("d")
            await wait_screen(pilot, "ObjectViewScreen")
            described = f"Name:         {name}"
            body = pilot.app.screen.query_one("#object-body", Static)
            await wait_until(pilot, lambda b=body, d=described: d in str(b.content), "describe")
            await pilot.press("escape")
            await wait_screen(pilot, pane)
            await pilot.press("y")
            await wait_screen(pilot, "ObjectViewScreen")
            body = pilot.app.screen.query_one("#object-body", Static)
            await wait_until(pilot, lambda b=body: hasattr(b.content, "code"), "the YAML")
            code = body.content.code  # type: ignore[union-attr]
            assert "apiVersion:" in code and f"kind: {kind}" in code and f"name: {name}" in code
            assert "managedFields" not in code
            await pilot.press("escape")
            await wait_screen(pilot, pane)


async def test_sorting_keys_change_the_order(app_factory: AppFactory) -> None:
    async with started(app_factory) as pilot:
        await press_line(pilot, "colon", "vms")
        table = await wait_rows(pilot, VM_COUNT)
        names = [c.name for c in table.columns]
        initial = row_keys(table)
        await pilot.press("N")
        await pilot.pause(0.2)
        assert table.sort_column == names.index("NAME") and not table.sort_reverse
        by_name = row_keys(table)
        assert [k[1] for k in by_name] == sorted(k[1] for k in initial) != [k[1] for k in initial]
        await pilot.press("N")
        await pilot.pause(0.2)
        assert table.sort_reverse and row_keys(table) == by_name[::-1]
        await pilot.press("greater_than_sign")
        await pilot.pause(0.2)
        assert table.sort_column == names.index("STATUS")
        await pilot.press("less_than_sign", "less_than_sign")
        await pilot.pause(0.2)
        assert table.sort_column == names.index("NAMESPACE")
        await pilot.press("A")
        await pilot.pause(0.2)
        assert table.sort_column == names.index("AGE")
        assert sorted(row_keys(table)) == sorted(initial)


async def test_header_shows_context_sync_and_armed_countdown(app_factory: AppFactory) -> None:
    async with started(app_factory) as pilot:
        assert CONTEXT in header(pilot)
        await wait_until(pilot, lambda: "synced" in header(pilot), "API synced")
        assert "writes locked" in header(pilot) and "READ-ONLY" not in header(pilot)
        assert "14:14:20Z" in header(pilot)  # the app's pinned clock
        await pilot.press("W")
        assert "ARMED 9:59" in header(pilot) or "ARMED 10:00" in header(pilot)
        assert any("Writes armed for 10 minutes on context kvtui-sim" in n for n in notes(pilot))
        await pilot.press("W")
        assert "writes locked" in header(pilot) and "ARMED" not in header(pilot)

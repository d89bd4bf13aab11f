"""The Network policies pane: every NetworkPolicy per user cluster namespace, where it comes
from (KKP's defaults, the datacenter's customNetworkPolicies, anything else), the pods and VMs
it selects, its rules as sentences, and drift from the datacenter (a changed or missing policy).

NetworkPolicies, Services and the Seed are not in the live cache: the pane reads them while it
is shown, every POLL_SECONDS after the last answer (reads never overlap). Enter opens the detail
below the table; `r` asks the explainer about the row's pods.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable

from rich.syntax import Syntax
from textual import work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from kvtui.cluster.cache import ChangeSet
from kvtui.cluster.errors import KubeError
from kvtui.cluster.kinds import Kind
from kvtui.cluster.netpol_cluster import NETWORK_POLICIES, PolicyState, pod_label, policy_states
from kvtui.cluster.presenters import Row
from kvtui.cluster.session import Session, Target
from kvtui.ui.actions import Safety
from kvtui.ui.netpol_presenter import (
    NETPOL_COLUMNS,
    detail_markup,
    detail_yaml,
    netpol_row,
    row_labels,
)
from kvtui.ui.screens.netpol_explain import NetpolExplainScreen, read_netpols
from kvtui.ui.screens.pane import PaneScreen
from kvtui.ui.widgets.resource_table import ColumnSpec, ResourceTable

POLL_SECONDS = 5.0
WIDTHS = {"RULES": 70, "DRIFT": 28, "NAME": 40}


class NetpolsScreen(PaneScreen):
    scope = "netpols"
    pane_title = "Network policies"
    target_kind = "networkpolicy"
    columns = tuple(
        ColumnSpec(name, max_width=WIDTHS.get(name, 48), ratio=1 if name == "RULES" else None)
        for name in NETPOL_COLUMNS
    )

    def __init__(self, session: Session, safety: Safety) -> None:
        super().__init__(session, safety)
        self.states: dict[Hashable, PolicyState] = {}
        self.read_error = ""
        self.read_once = False
        self.seed_note = ""

    def compose(self) -> ComposeResult:
        for widget in super().compose():
            yield widget
            if isinstance(widget, ResourceTable):
                with VerticalScroll(id="np-detail"):
                    yield Static("", id="np-detail-text")
                    yield Static("", id="np-detail-yaml")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#np-detail").display = False
        self.poll()

    # -- reading --------------------------------------------------------------------------
    @work(exclusive=True, group="netpol-read")
    async def poll(self) -> None:
        """Read while shown; the next read is armed when the last one has answered."""
        while True:
            if self.is_current or not self.read_once:
                await self.read()
            await asyncio.sleep(POLL_SECONDS)

    async def read(self) -> None:
        try:
            world = await read_netpols(self.app, self.session)
        except KubeError as exc:
            self.read_error = f"Cannot read the NetworkPolicies: {exc}"
        else:
            self.read_error = ""
            if world.seed_note and world.seed_note != self.seed_note:
                # Once per change, not every read: origins go by name, drift is unchecked.
                self.notify(world.seed_note, severity="warning", timeout=10, markup=False)
            self.seed_note = world.seed_note
            self.states = {s.key: s for s in policy_states(world)}
        self.read_once = True
        self.reload()
        self.show_detail()

    def build_rows(self) -> list[Row]:
        self.labels = {key: row_labels(state) for key, state in self.states.items()}
        return [netpol_row(state) for state in self.states.values()]

    def reload(self) -> None:
        super().reload()
        if self.read_error:
            self.table.empty_message = self.read_error
        elif not self.read_once:
            self.table.empty_message = "Reading the NetworkPolicies…"
        elif not self.row_filter:
            self.table.empty_message = "No NetworkPolicies: every pod is unrestricted"

    def apply_changes(self, changes: ChangeSet) -> None:
        """The rows come from the pane's own reads, not from the cache."""

    # -- the detail -----------------------------------------------------------------------
    def action_drill(self) -> None:
        detail = self.query_one("#np-detail")
        detail.display = not detail.display
        self.show_detail()

    def on_resource_table_highlighted(self, message: ResourceTable.Highlighted) -> None:
        self.show_detail()

    def show_detail(self) -> None:
        if not self.query_one("#np-detail").display:
            return
        state = self.states.get(self.table.cursor_key)
        text = self.query_one("#np-detail-text", Static)
        code = self.query_one("#np-detail-yaml", Static)
        if state is None:
            text.update("No policy under the cursor.")
            code.update("")
            return
        text.update(detail_markup(state))
        code.update(Syntax(detail_yaml(state), "yaml", theme="ansi_dark", word_wrap=False))

    # -- actions --------------------------------------------------------------------------
    def target_for(self, key: Hashable) -> Target:
        namespace, name = key  # type: ignore[misc]
        return Target("networkpolicy", name, namespace)

    def object_at_cursor(self) -> tuple[Kind, str | None, str] | None:
        state = self.states.get(self.table.cursor_key)
        if state is None or state.missing:
            return None
        return (NETWORK_POLICIES, state.namespace, state.name)

    def action_netpol_reach(self) -> None:
        """The explainer, asking about the first pod or VM the row's policy selects."""
        state = self.states.get(self.table.cursor_key)
        destination = ""
        if state is not None:
            first = next(iter(state.selected), None)
            if first is None:
                destination = f"{state.namespace}:"
            else:
                label = pod_label(first)
                destination = f"{state.namespace}/{label.removeprefix('vm/')}"
        self.app.push_screen(
            NetpolExplainScreen(self.session, self.safety, destination=destination)
        )

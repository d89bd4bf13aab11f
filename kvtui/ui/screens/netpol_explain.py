"""The reachability explainer: may this traffic pass, which policy and rule decide, and when it
may not, the smallest custom policy that would let it, with its reach in every user cluster.

The fix is never applied here: `f` hands the entry to the datacenter editor, where the admin
reviews the diff and its impact and applies it (P) through the one confirmation path. Coming
back, the question is asked again, so the new verdict shows once KKP has reconciled.
"""

from __future__ import annotations

from typing import Any

from textual import events, work
from textual.app import App, ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Footer, Input, Label, Static

from kvtui.cluster.connection import Connection
from kvtui.cluster.errors import KubeconfigError, KubeError
from kvtui.cluster.netpol_cluster import NetpolWorld, read_world
from kvtui.cluster.netpol_query import Check, Proposal, check, propose
from kvtui.cluster.netpol_resolve import EndpointError
from kvtui.cluster.session import Session
from kvtui.ui.actions import Safety
from kvtui.ui.netpol_presenter import check_markup, error_markup, fix_markup
from kvtui.ui.screens.action_screen import ActionScreen
from kvtui.ui.screens.datacenter import DatacenterScreen
from kvtui.ui.widgets.status_header import StatusHeader

FIELDS = ("np-from", "np-to", "np-port")


async def read_netpols(app: App, session: Session) -> NetpolWorld:
    """The policies through the infra session, the Seed through `--seed-context` when the app
    has one; an unreachable seed falls back to the infra cluster, said in `seed_note`.
    Raises KubeError."""
    seed: Connection | None = None
    problem = ""
    opener = getattr(app, "seed_session", None)
    if opener is not None:
        try:
            seed_session = await opener()
        except (KubeError, KubeconfigError) as exc:
            problem = f"seed context: {exc}; datacenters read from {session.context}"
        else:
            seed = seed_session.connection if seed_session is not session else None
    world = await read_world(session.connection, seed)
    if problem:
        world.seed_note = "; ".join(filter(None, (problem, world.seed_note)))
    return world


class NetpolExplainScreen(ActionScreen):
    scope = "netpol_explain"

    def __init__(
        self,
        session: Session,
        safety: Safety,
        *,
        source: str = "",
        destination: str = "",
        port: str = "",
    ) -> None:
        super().__init__(session, safety)
        self.initial = (source, destination, port)
        self.result: Check | None = None
        self.proposals: list[Proposal] = []

    def compose(self) -> ComposeResult:
        yield StatusHeader(self.session, self.safety, "Reachability")
        with Horizontal(id="np-inputs"):
            yield Label("From", classes="np-label")
            yield Input(
                self.initial[0], placeholder="IP, CIDR, NS/POD, NS/VM or NS:key=value", id=FIELDS[0]
            )
            yield Label("To", classes="np-label")
            yield Input(
                self.initial[1],
                placeholder="NS/POD, NS/VM, NS/SERVICE, NS:key=value or IP",
                id=FIELDS[1],
            )
            yield Label("Port", classes="np-label")
            yield Input(self.initial[2], placeholder="443/TCP", id=FIELDS[2])
        with VerticalScroll(id="np-result"):
            yield Static(
                "Enter a source, a destination and a port, then press enter.", id="np-verdict"
            )
            yield Static("", id="np-fix")
        yield Footer()

    def on_mount(self) -> None:
        if all(self.initial):
            self.ask()
        else:
            self._focus_first_empty()

    def on_screen_resume(self) -> None:
        """Back from the datacenter editor: ask again (KKP may have reconciled the fix)."""
        if self.result is not None:
            self.ask()

    def _value(self, field: str) -> str:
        return self.query_one(f"#{field}", Input).value.strip()

    def _focus_first_empty(self) -> None:
        empty = next((f for f in FIELDS if not self._value(f)), FIELDS[0])
        self.query_one(f"#{empty}", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if all(self._value(f) for f in FIELDS):
            self.ask()
        else:
            self._focus_first_empty()

    @work(exclusive=True, group="netpol-check")
    async def ask(self) -> None:
        """Read the policies fresh and explain; bad input is one line in the error colour."""
        verdict = self.query_one("#np-verdict", Static)
        fix = self.query_one("#np-fix", Static)
        source, destination, port = (self._value(f) for f in FIELDS)
        try:
            world = await read_netpols(self.app, self.session)
            result = check(world, source, destination, port)
        except (EndpointError, KubeError) as exc:
            self.result, self.proposals = None, []
            verdict.update(error_markup(str(exc)))
            fix.update("")
            self.refresh_bindings()
            return
        self.result = result
        verdict.update(check_markup(result))
        if world.seed_note:
            self.notify(world.seed_note, severity="warning", markup=False)
        proposal = propose(world, result.denied[0]) if result.denied else None
        if proposal is None:
            self.proposals = []
            fix.update("")
        else:
            found, self.proposals, after = proposal
            handoff = any(p.datacenter for p in self.proposals)
            fix.update(fix_markup(found, self.proposals, after, handoff))
        self.refresh_bindings()
        self.query_one("#np-result").focus()

    # -- the handoff --------------------------------------------------------------------------
    def offered(self, action: str) -> bool:
        if action == "netpol_fix":
            return any(p.datacenter for p in self.proposals)
        return super().offered(action)

    def action_netpol_fix(self) -> None:
        """The entry goes into the datacenter editor's edit; nothing is applied here."""
        in_dc = [p for p in self.proposals if p.datacenter]
        if not in_dc:
            self.notify("No fix to hand over: the traffic is allowed.", severity="warning")
            return
        first, *rest = in_dc
        if rest:
            names = ", ".join(p.fix.name for p in rest)
            self.notify(
                f"Both sides deny: {first.fix.name} first; after applying it, {names} is proposed "
                "next.",
                markup=False,
                timeout=10,
            )
        self.app.push_screen(self.datacenter_screen(first.datacenter, first.entry))

    def datacenter_screen(self, datacenter: str, entry: dict[str, Any]) -> DatacenterScreen:
        return DatacenterScreen(
            self.session, self.safety, datacenter=datacenter, proposed_policy=entry
        )

    # -- keys ---------------------------------------------------------------------------------
    def action_back(self) -> None:
        """Escape in a field leaves the field (so `f` works); escape again goes back."""
        if isinstance(self.focused, Input):
            self.query_one("#np-result").focus()
        else:
            super().action_back()

    def on_key(self, event: events.Key) -> None:
        """Keys typed into a field are text: the base's greyed-key notice is skipped."""
        if isinstance(self.focused, Input):
            event.prevent_default()

"""The kvtui Textual app: one mode per pane, a command line, and the safety model.

The app receives an open `Session` (connection, cache, audit log, config) and never speaks
HTTP itself: screens read views from the cache and call `kvtui.cluster` for everything else.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from textual import work
from textual.app import App
from textual.binding import Binding

from kvtui import __version__
from kvtui.cluster import kinds
from kvtui.cluster.drain import DrainPlan
from kvtui.cluster.drain_journal import DrainJournal, JournalEntry
from kvtui.cluster.drain_run import Drain, DrainOptions
from kvtui.cluster.errors import KubeError
from kvtui.cluster.presenters import human_duration
from kvtui.cluster.session import Session
from kvtui.ui.actions import BY_NAME, Safety
from kvtui.ui.screens.confirm import Confirmation, ConfirmScreen
from kvtui.ui.screens.contexts import ContextScreen
from kvtui.ui.screens.datacenter import DatacenterScreen
from kvtui.ui.screens.drain_timeout import DrainTimeoutScreen
from kvtui.ui.screens.health import HealthScreen
from kvtui.ui.screens.help import HelpScreen
from kvtui.ui.screens.instancetypes import InstancetypesScreen
from kvtui.ui.screens.metrics import MetricsScreen
from kvtui.ui.screens.migrations import MigrationsScreen
from kvtui.ui.screens.netpols import NetpolsScreen
from kvtui.ui.screens.nodes import NodesScreen
from kvtui.ui.screens.presets import PresetsScreen
from kvtui.ui.screens.vms import VmsScreen

STYLES = Path(__file__).resolve().parent.parent / "styles"
if not STYLES.exists():  # running from a source checkout
    STYLES = Path(__file__).resolve().parent.parent.parent / "styles"

PANES = {
    "nodes": ("nodes", "node", "no"),
    "vms": ("vms", "vm", "vmi", "vmis"),
    "migrations": ("migrations", "migration", "mig", "vmim", "vmims"),
    "instancetypes": (
        "instancetypes",
        "instancetype",
        "it",
        "preferences",
        "preference",
        "pref",
    ),
    "netpols": ("netpols", "netpol", "networkpolicies", "networkpolicy", "np"),
    "metrics": ("metrics", "metric", "top"),
    "health": ("health", "doctor"),
}
QUIT_WORDS = ("q", "q!", "quit", "exit")
DATACENTER_WORDS = ("datacenters", "datacenter", "dc")
PRESET_WORDS = ("presets", "preset", "sched")

Connector = Callable[[str], Awaitable[Session]]


class KvtuiApp(App[None]):
    """kvtui: KubeVirt infrastructure clusters at a glance, safely."""

    TITLE = "kvtui"
    CSS_PATH = [STYLES / "app.tcss"]
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [Binding("ctrl+c", "quit", "Quit", show=False, priority=True)]

    def __init__(
        self,
        session: Session | None = None,
        connect: Connector | None = None,
        *,
        open_session: Callable[[], Awaitable[Session]] | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        open_seed_session: Callable[[], Awaitable[Session]] | None = None,
    ) -> None:
        """Give an open `session`, or `open_session` to open one on the app's own loop
        (tests and snapshots build the app without the CLI). `clock` drives ages and the
        header's time, so pictures can be reproduced."""
        super().__init__()
        if session is None and open_session is None:
            raise ValueError("KvtuiApp needs a session or a way to open one")
        self.session = session  # type: ignore[assignment]
        self.open_session = open_session
        self.owns_session = session is None  # opened here, so closed here too
        self.connect = connect
        self.clock = clock
        self.monotonic = monotonic  # drains' elapsed times, retries and timeouts
        self.safety = Safety(read_only=False)
        self.drains: dict[str, Drain] = {}  # node -> the drain this app runs or ran
        self.journal = DrainJournal()
        self.open_seed_session = open_seed_session  # --seed-context, when not the infra one
        self._seed_session: Session | None = None

    def on_mount(self) -> None:
        self.title = f"kvtui {__version__}"
        if self.session is None:
            self.start_session()
        else:
            self.begin()

    async def on_unmount(self) -> None:
        """Close a session the app opened itself; the CLI closes the one it handed in."""
        if self._seed_session is not None:
            await self._seed_session.close()
        if self.owns_session and self.session is not None:
            await self.session.close()

    async def action_quit(self) -> None:
        self.quit_keeping_edits()

    def quit_keeping_edits(self) -> None:
        """Quit; an unapplied datacenter edit is saved to a file first and named on exit."""
        kept = self.keep_unapplied_edits()
        self.exit(message="\n".join(kept) if kept else None)

    def keep_unapplied_edits(self) -> list[str]:
        """The editors the app is about to drop (quit, another context) save their unapplied
        edits to files: one line per file, for the admin to find them again."""
        kept = []
        for mode in PANES:
            try:
                stack = self.get_screen_stack(mode)
            except KeyError:
                continue
            for screen in stack:
                if not isinstance(screen, DatacenterScreen) or screen.dc is None:
                    continue
                name = screen.dc.ref.name
                try:
                    saved = screen.keep_edit()
                except OSError as exc:  # nowhere to write it: it goes to the terminal instead
                    kept.append(
                        f"kvtui: the unapplied edit of datacenter {name} could not be saved "
                        f"({exc}); here it is:\n{screen.edit_text()}"
                    )
                    continue
                if saved is not None:
                    kept.append(f"kvtui: the unapplied edit of datacenter {name} is in {saved}")
        return kept

    async def seed_session(self) -> Session:
        """The session on the KKP seed (`--seed-context`), opened on first use; the infra
        cluster's own session when the Seed lives there. Failures raise as Session.open's."""
        if self.open_seed_session is None:
            return self.session
        if self._seed_session is None:
            self._seed_session = await self.open_seed_session()
        return self._seed_session

    @work(group="connect")
    async def start_session(self) -> None:
        assert self.open_session is not None
        try:
            self.session = await self.open_session()
        except Exception as exc:
            self.exit(message=f"kvtui: cannot connect: {exc}", return_code=1)
            return
        self.begin()

    def begin(self) -> None:
        self.safety = Safety(
            read_only=self.session.read_only, arm_seconds=self.session.config.arm_minutes * 60
        )
        self.theme = self.session.config.theme or "textual-dark"
        self.install_panes()
        self.switch_mode("nodes")
        self.check_permissions()
        self.resume_drains()

    def install_panes(self) -> None:
        self.add_mode("nodes", lambda: NodesScreen(self.session, self.safety))
        self.add_mode("vms", lambda: VmsScreen(self.session, self.safety))
        self.add_mode("migrations", lambda: MigrationsScreen(self.session, self.safety))
        self.add_mode("instancetypes", lambda: InstancetypesScreen(self.session, self.safety))
        self.add_mode("netpols", lambda: NetpolsScreen(self.session, self.safety))
        self.add_mode("metrics", lambda: MetricsScreen(self.session, self.safety))
        self.add_mode("health", lambda: HealthScreen(self.session, self.safety))

    # -- commands ------------------------------------------------------------------------
    def run_command(self, text: str) -> None:
        """`:nodes`, `:vms`, `:migrations`, `:it`, `:np`, `:health`, `:dc`, `:ctx [name]`, `:q`,
        `:help`, `:arm`, `:disarm`."""
        words = text.strip().lstrip(":").split()
        if not words:
            return
        word, args = words[0].lower(), words[1:]
        if word in QUIT_WORDS:
            self.quit_keeping_edits()
            return
        for mode, aliases in PANES.items():
            if word in aliases:
                self.switch_mode(mode)
                return
        if word in DATACENTER_WORDS:
            self.push_screen(DatacenterScreen(self.session, self.safety))
        elif word in PRESET_WORDS:
            self.push_screen(PresetsScreen(self.session, self.safety))
        elif word in ("ctx", "context", "contexts"):
            self.action_switch_context(args[0] if args else None)
        elif word in ("help", "h"):
            self.action_help()
        elif word == "arm" and not self.safety.read_only:
            self.action_arm()
        elif word == "disarm":
            self.safety.disarm()
            self.refresh_bindings()
        else:
            self.notify(
                f"unknown command :{word} "
                "(try :nodes, :vms, :migrations, :metrics, :it, :np, :health, :dc, :presets, "
                ":ctx, :q)",
                severity="warning",
            )

    def action_help(self) -> None:
        scope = getattr(self.screen, "scope", "*")
        self.push_screen(HelpScreen(scope, self.safety))

    def action_arm(self) -> None:
        if self.safety.read_only:
            return
        if self.safety.armed():
            self.safety.disarm()
            self.notify("Writes disarmed.")
        else:
            self.safety.arm()
            minutes = self.safety.arm_seconds / 60
            self.notify(
                f"Writes armed for {minutes:g} minutes on context {self.session.context}.",
                severity="warning",
            )
        self.refresh_bindings()

    def action_switch_context(self, name: str | None = None) -> None:
        if name:
            self.reconnect(name)
            return

        def chosen(choice: str | None) -> None:
            if choice and choice != self.session.context:
                self.reconnect(choice)

        self.push_screen(ContextScreen(self.session.contexts, self.session.context), chosen)

    @work(exclusive=True, group="connect")
    async def reconnect(self, context: str) -> None:
        if self.connect is None:
            self.notify("Switching context is not available here.", severity="warning")
            return
        try:
            session = await self.connect(context)
        except Exception as exc:  # shown, never raised: the current session stays
            self.notify(f"cannot switch to {context}: {exc}", severity="error", timeout=10)
            return
        self.keep_unapplied_edits()  # the editors go with the old context's panes
        old, self.session = self.session, session
        for drain in self.drains.values():
            drain.stop()  # its journal stays "running": back on that context, it resumes
        self.drains.clear()
        self.safety = Safety(
            read_only=session.read_only, arm_seconds=session.config.arm_minutes * 60
        )
        for mode in PANES:
            self.remove_mode(mode)
        self.install_panes()
        await self.switch_mode("nodes")
        await old.close()
        self.notify(f"Switched to context {context}.")
        self.check_permissions()
        self.resume_drains()

    @work(group="rbac")
    async def check_permissions(self) -> None:
        """Ask the API which mutating actions this user may run; disable the rest."""
        denied = await self.session.denied_actions(
            {a.name: a.rbac for a in BY_NAME.values() if a.rbac}
        )
        self.safety.denied = denied
        self.refresh_bindings()

    # -- running mutating actions --------------------------------------------------------
    def confirm(self, confirmation: Confirmation, answered: Callable[[str | None], None]) -> None:
        """The one confirmation path: refuse what Safety refuses, else ask naming context and
        targets; `answered` gets "apply", "dry-run" or None."""
        action = BY_NAME[confirmation.action]
        if self.safety.check(action) is not True:
            reason = self.safety.refusal(action) or "not available here"
            self.notify(f"{action.label}: {reason}", severity="warning")
            return
        unaudited = self.session.audit.problem()
        if unaudited:  # a change the log would miss does not happen, dry run included
            self.notify(
                f"{action.label}: {unaudited}; nothing is changed until it can be.",
                severity="error",
                timeout=12,
                markup=False,
            )
            return
        self.push_screen(ConfirmScreen(confirmation), answered)

    def confirm_and_run(self, confirmation: Confirmation) -> None:
        """Ask, naming context and targets; then run for real or as a server dry run."""

        def answered(choice: str | None) -> None:
            if choice in ("apply", "dry-run"):
                self.execute(confirmation, dry_run=choice == "dry-run")

        self.confirm(confirmation, answered)

    # -- drains ---------------------------------------------------------------------------
    def start_drain(
        self,
        plan: DrainPlan,
        dry_run: bool = False,
        options: DrainOptions | None = None,
        resumed: JournalEntry | None = None,
    ) -> Drain:
        """Run a drain in the app (it outlives the screen that started it)."""
        config = self.session.config
        options = options or DrainOptions(
            timeout=config.drain_timeout_minutes * 60,
            stuck_after=config.stuck_seconds,
            dry_run=dry_run,
        )
        drain = Drain(
            self.session.connection,
            self.session.cache,
            plan,
            options,
            context=self.session.context,
            journal=self.journal,
            record=self.session.record,
            on_timeout=self.drain_timed_out,
            clock=self.monotonic,
            resumed=resumed,
        )
        self.drains[plan.node] = drain
        self.run_drain(drain)
        return drain

    @work(group="drains")
    async def run_drain(self, drain: Drain) -> None:
        try:
            verdict = await drain.run()
        except KubeError as exc:
            drain.error(f"cannot drain {drain.node}: {exc}")
            self.notify(f"cannot drain {drain.node}: {exc}", severity="error", timeout=12)
            return
        severity = "information" if verdict.drained or verdict.status == "dry run" else "warning"
        self.notify(verdict.line(), severity=severity, timeout=15)

    async def drain_timed_out(self, drain: Drain) -> str:
        """Ask the admin what to do once the drain's timeout has passed."""
        left = [f"{i.name}: {i.label}" for i in drain.items if not i.final]
        screen = DrainTimeoutScreen(
            drain.node, self.session.context, human_duration(drain.elapsed), left
        )
        choice = await self.push_screen(screen, wait_for_dismiss=True)
        if choice == "cancel":
            await drain.cancel(cancel_migrations=True, uncordon=False)
        return choice or "wait"

    @work(group="resume")
    async def resume_drains(self) -> None:
        """Drains this context's journal says were running when kvtui last stopped and whose
        node is still cordoned."""
        entries = self.journal.running(self.session.context)
        if not entries or not await self.session.cache.wait_synced(60):
            return
        for entry in entries:
            if entry.node in self.drains:
                continue
            node = self.session.cache.get(kinds.NODES, None, entry.node)
            if node is None or not (node.get("spec") or {}).get("unschedulable"):
                # Uncordoned (or gone) since: someone ended that drain by other means.
                self.journal.finish(entry, "abandoned", f"{entry.node} no longer cordoned")
                continue
            if self.session.read_only:
                self.notify(
                    f"A drain of {entry.node} was in progress; this session is read-only, so "
                    "it is not resumed here.",
                    severity="warning",
                )
                continue
            plan = DrainPlan.from_dict(entry.plan)
            options = DrainOptions(**entry.options)
            self.start_drain(plan, options=options, resumed=entry)
            self.notify(
                f"Resumed the drain of {entry.node} (press D on it to watch).",
                severity="warning",
                timeout=10,
            )

    @work(group="mutations")
    async def execute(self, confirmation: Confirmation, dry_run: bool) -> None:
        results = await self.session.run_operation(
            confirmation.action, confirmation.targets, dry_run=dry_run, params=confirmation.params
        )
        failed = [r for r in results if r.error]
        label = " ".join(p for p in (confirmation.label, confirmation.detail) if p)
        prefix = "Dry run: " if dry_run else ""
        if failed:
            lines = "\n".join(f"{r.target}: {r.error}" for r in failed[:5])
            self.notify(
                f"{prefix}{label} failed for {len(failed)} of {len(results)}:\n{lines}",
                severity="error",
                timeout=12,
            )
        else:
            done = "would succeed" if dry_run else "done"
            self.notify(f"{prefix}{label} {done} for {len(results)} target(s).")

"""One doctor check in full: its evidence, its fix as a diff of the fields it owns (or the steps
by hand), ctrl+f to apply a mechanical fix and ctrl+r to run the check again.

Applying goes the way of every change: writes armed, the server's RBAC asked about exactly the
objects the fix patches, the confirmation naming the context and every object with a dry run
offered, each target dry-run on the server before any is patched, every step audited; then the
check runs again, so the screen shows whether it is green now.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from textual import events, work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Footer, Static

from kvtui.cluster.doctor_fixes import Fix, apply_fix
from kvtui.cluster.doctor_model import CheckResult, Status
from kvtui.cluster.errors import KubeError
from kvtui.cluster.session import Session, Target
from kvtui.ui.actions import BY_NAME, Safety
from kvtui.ui.health_presenter import detail_markup
from kvtui.ui.screens.action_screen import ActionScreen
from kvtui.ui.screens.confirm import Confirmation
from kvtui.ui.widgets.status_header import StatusHeader

Rerun = Callable[[str], Awaitable[CheckResult | None]]


def fix_targets(fix: Fix) -> list[Target]:
    """The objects a fix patches, named as the confirmation and the audit log name them."""
    return [Target(t.kind.name.lower(), t.name, t.namespace) for t in fix.targets]


class CheckDetailScreen(ActionScreen):
    scope = "health_detail"

    def __init__(self, session: Session, safety: Safety, result: CheckResult, rerun: Rerun) -> None:
        super().__init__(session, safety)
        self.result = result
        self.rerun = rerun
        self.fix_denied = ""  # the RBAC answer for this fix's objects, when it is no
        self.busy = False

    def compose(self) -> ComposeResult:
        yield StatusHeader(self.session, self.safety, "Health", self.result.id)
        with VerticalScroll(id="doctor-detail"):
            yield Static("", id="doctor-detail-text")
        yield Footer()

    def on_mount(self) -> None:
        self.show()
        self.query_one("#doctor-detail").focus()
        self.check_fix_rbac()

    # -- what is shown --------------------------------------------------------------------
    @property
    def fix(self) -> Fix | None:
        return self.result.fix if self.result.status is not Status.OK else None

    def fix_hint(self) -> str:
        fix_key = BY_NAME["health_fix"].key_display or BY_NAME["health_fix"].key
        if self.safety.read_only:
            return "[$text-muted]read-only: the diff is what the fix would change[/]"
        if self.fix_denied:
            return f"[$error]{self.fix_denied}[/]"
        return f"[b]{fix_key}[/b] applies it (W arms writes), with a server dry run offered first"

    def show(self) -> None:
        self.query_one("#doctor-detail-text", Static).update(
            detail_markup(self.result, self.fix_hint())
        )
        header = self.query_one(StatusHeader)
        header.subtitle = self.result.id
        header.refresh_state()
        self.refresh_bindings()

    # -- keys -----------------------------------------------------------------------------
    def offered(self, action: str) -> bool:
        if action == "health_fix":
            return self.fix is not None
        return super().offered(action)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        allowed = super().check_action(action, parameters)
        if action == "health_fix" and allowed and (self.fix_denied or self.busy):
            return None
        return allowed

    def on_key(self, event: events.Key) -> None:
        """A fix the server's RBAC refuses says so (the registry knows only fixed rules)."""
        spec = BY_NAME["health_fix"]
        if event.key == spec.key and self.fix_denied and self.fix is not None:
            self.notify(f"{spec.label}: {self.fix_denied}", severity="warning", markup=False)
            event.prevent_default()
            event.stop()

    @work(exclusive=True, group="doctor-fix-rbac")
    async def check_fix_rbac(self) -> None:
        """Ask the server whether this user may patch every object the fix touches."""
        fix = self.fix
        self.fix_denied = ""
        if fix is None or self.safety.read_only:
            return
        rules = {
            f"{verb} {resource}": (verb, group, resource, sub)
            for verb, group, resource, sub in fix.rbac
        }
        denied = await self.session.denied_actions(rules)
        if denied:
            self.fix_denied = "; ".join(sorted(set(denied.values())))
            self.show()

    def action_health_fix(self) -> None:
        fix = self.fix
        if fix is None:
            return

        def answered(choice: str | None) -> None:
            if choice in ("apply", "dry-run"):
                self.apply(fix, choice == "dry-run")

        self.app.confirm(  # type: ignore[attr-defined]
            Confirmation(
                "health_fix",
                self.session.context,
                fix_targets(fix),
                "Fix",
                f"({self.result.id})",  # the diff on screen says what changes
            ),
            answered,
        )

    def action_health_rerun(self) -> None:
        self.run_again()

    # -- doing it -------------------------------------------------------------------------
    @work(exclusive=True, group="doctor-fix")
    async def apply(self, fix: Fix, dry_run: bool) -> None:
        """Dry-run every target, then (unless `dry_run`) patch them; then run the check again."""
        self.busy = True
        self.refresh_bindings()
        try:
            try:
                result = await apply_fix(
                    self.session.connection, fix, dry_run=dry_run, record=self.session.record
                )
            except KubeError as exc:
                self.notify(f"Fix {self.result.id}: {exc}", severity="error", markup=False)
                return
            names = ", ".join(fix.target_names())
            failures = "\n".join(result.failure_lines())
            if dry_run:
                if result.ok:
                    self.notify(
                        f"Dry run: the server accepts the fix for {names}; nothing changed."
                    )
                else:
                    self.notify(
                        f"Dry run: the server refuses the fix; nothing changed.\n{failures}",
                        severity="error",
                        timeout=12,
                        markup=False,
                    )
                return
            if result.applied:
                patched = ", ".join(done.target.target for done in result.applied)
                self.notify(f"Fixed: patched {patched}.", markup=False)
            if failures:
                what = "nothing was changed" if not result.applied else "the others were patched"
                self.notify(
                    f"Fix {self.result.id}: {what}.\n{failures}",
                    severity="error",
                    timeout=12,
                    markup=False,
                )
            await self._run_again()
        finally:
            self.busy = False
            self.refresh_bindings()

    @work(exclusive=True, group="doctor-rerun")
    async def run_again(self) -> None:
        await self._run_again()

    async def _run_again(self) -> None:
        result = await self.rerun(self.result.id)
        if result is None or not self.is_attached:
            return
        self.result = result
        self.show()
        self.notify(f"{result.id}: {result.status.label}", markup=False)
        self.check_fix_rbac()

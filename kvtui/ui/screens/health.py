"""The Health pane (`:health`, `:doctor`): the doctor's checks of the infra cluster against
KKP's KubeVirt requirements, grouped by area, each ok, a warning, a failure or "could not
check"; `!` keeps the failures, enter opens a check's evidence and fix, ctrl+r runs it again.

The doctor reads the cluster itself (not the live cache), in a worker: once when the pane
opens and again on ctrl+r; a newer run cancels an older one. The pane owns the report: the
detail screen re-runs its one check through `rerun_check`, which updates the row here too.
"""

from __future__ import annotations

from collections.abc import Hashable

from textual import work
from textual.app import ComposeResult
from textual.widgets import Static

from kvtui.cluster.cache import ChangeSet
from kvtui.cluster.connection import Connection
from kvtui.cluster.doctor import DoctorReport, run_doctor
from kvtui.cluster.doctor_model import CheckResult
from kvtui.cluster.errors import KubeconfigError, KubeError
from kvtui.cluster.presenters import Row
from kvtui.cluster.session import Session, Target
from kvtui.ui.actions import Safety
from kvtui.ui.health_presenter import HEALTH_COLUMNS, health_rows, summary_markup
from kvtui.ui.screens.health_detail import CheckDetailScreen
from kvtui.ui.screens.pane import PaneScreen
from kvtui.ui.widgets.resource_table import ColumnSpec, ResourceTable

WIDTHS = {"AREA": 10, "CHECK": 28, "STATUS": 18, "FIX": 10, "SUMMARY": 60}  # SUMMARY: and the rest


class HealthScreen(PaneScreen):
    scope = "health"
    pane_title = "Health"
    target_kind = "check"
    columns = tuple(
        ColumnSpec(name, max_width=WIDTHS[name], ratio=1 if name == "SUMMARY" else None)
        for name in HEALTH_COLUMNS
    )

    def __init__(self, session: Session, safety: Safety) -> None:
        super().__init__(session, safety)
        self.report: DoctorReport | None = None
        self.failures_only = False
        self.running = False
        self.ran_at: float | None = None  # the app's clock when the last full run began
        self.took = 0.0  # seconds the last full run took
        self.error = ""
        self.seed_note = ""
        self._runs = 0  # the newest run clears `running`, not one it cancelled

    def compose(self) -> ComposeResult:
        for widget in super().compose():
            if isinstance(widget, ResourceTable):
                yield Static("", id="doctor-summary")
            yield widget

    def on_mount(self) -> None:
        super().on_mount()
        self.run_checks()

    # -- running the doctor ---------------------------------------------------------------
    async def diagnose(self, only: tuple[str, ...] = ()) -> DoctorReport | None:
        """One doctor run on the infra session and the Seed (`--seed-context`, else the infra
        cluster); None, with the reason in `error`, when it could not run at all."""
        seed: Connection | None = None
        try:
            seed_session = await self.app.seed_session()  # type: ignore[attr-defined]
        except (KubeError, KubeconfigError) as exc:
            self.seed_note = f"seed context: {exc}; the Seed is read from {self.session.context}"
        else:
            self.seed_note = ""
            if seed_session is not self.session:
                seed = seed_session.connection
        try:
            report = await run_doctor(
                self.session.connection, seed, config=self.session.config, only=only
            )
        except (KubeError, ValueError) as exc:
            self.error = f"The doctor could not run: {exc}"
            return None
        self.error = ""
        return report

    @work(exclusive=True, group="doctor-run")
    async def run_checks(self) -> None:
        """Every check, timed on the app's clocks (pinned in pictures)."""
        self._runs += 1
        run = self._runs
        self.running = True
        self.show_summary()
        started, began = self.app.clock(), self.app.monotonic()  # type: ignore[attr-defined]
        try:
            report = await self.diagnose()
        finally:
            if run == self._runs:
                self.running = False
        if report is not None:
            self.report = report
            self.ran_at = started
            self.took = self.app.monotonic() - began  # type: ignore[attr-defined]
        self.reload()

    async def rerun_check(self, check_id: str) -> CheckResult | None:
        """Run one check again (after a fix, or ctrl+r on its detail) and put its new result
        in the report and the table; None when the doctor could not run."""
        report = await self.diagnose((check_id,))
        if report is None:
            self.notify(self.error, severity="error", timeout=10, markup=False)
            return None
        [result] = report.results
        if self.report is not None:
            self.report.results = [result if r.id == check_id else r for r in self.report.results]
        self.reload()
        return result

    # -- rows -----------------------------------------------------------------------------
    def build_rows(self) -> list[Row]:
        return health_rows(self.report, self.failures_only) if self.report is not None else []

    def reload(self) -> None:
        super().reload()
        if self.report is None:
            self.table.empty_message = self.error or "Running the doctor…"
        elif self.failures_only:
            self.table.empty_message = "No check fails (! shows every check)"
        self.show_summary()

    def show_summary(self) -> None:
        for summary in self.query("#doctor-summary").results(Static):
            summary.update(
                summary_markup(
                    self.report,
                    ran_at=self.ran_at,
                    took=self.took,
                    running=self.running,
                    failures_only=self.failures_only,
                    error=self.error,
                    seed_note=self.seed_note,
                )
            )

    def apply_changes(self, changes: ChangeSet) -> None:
        """The rows come from the doctor's own reads, not from the cache."""

    # -- actions --------------------------------------------------------------------------
    def result_at_cursor(self) -> CheckResult | None:
        key = self.table.cursor_key
        if self.report is None or key is None:
            return None
        return self.report.get(key[1])  # type: ignore[index]

    def target_for(self, key: Hashable) -> Target:
        return Target(self.target_kind, key[1])  # type: ignore[index]

    def action_drill(self) -> None:
        result = self.result_at_cursor()
        if result is not None:
            self.app.push_screen(
                CheckDetailScreen(self.session, self.safety, result, rerun=self.rerun_check)
            )

    def action_health_failures(self) -> None:
        self.failures_only = not self.failures_only
        self.reload()

    def action_health_rerun(self) -> None:
        self.run_checks()

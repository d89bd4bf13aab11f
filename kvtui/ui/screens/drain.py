"""The Drain screen: the pre-flight plan, then the progress board, then the verdict.

The plan is read-only and shown to anyone; starting and cancelling are registry actions (hidden
in read-only mode, confirmed naming context and targets, dry run offered, audited). The drain
itself belongs to the app, so leaving this screen does not stop it and reopening it shows the
same board. A migration stuck in Pending or Scheduling gets its reason and its fixes in place.
"""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.markup import escape
from textual.message import Message
from textual.widgets import Footer, ProgressBar, Static

from kvtui.cluster import kinds
from kvtui.cluster.drain import DrainPlan, Outcome, PlanOptions, make_plan
from kvtui.cluster.drain_report import (
    capacity_line,
    clusters_line,
    estimate_line,
    progress_counts,
    summary_line,
)
from kvtui.cluster.drain_run import Drain, DrainItem, State
from kvtui.cluster.errors import KubeError
from kvtui.cluster.migration_metrics import (
    MigrationSample,
    converging,
    scrape_migrations,
    virt_handler_pods,
)
from kvtui.cluster.presenters import human_duration
from kvtui.cluster.session import Session, Target
from kvtui.cluster.views import Node
from kvtui.ui.actions import Safety
from kvtui.ui.screens.action_screen import ActionScreen
from kvtui.ui.screens.confirm import Confirmation
from kvtui.ui.screens.drain_cancel import CancelChoice, DrainCancelScreen
from kvtui.ui.screens.node_picker import NodePickerScreen
from kvtui.ui.widgets.drain_board import DrainBoard
from kvtui.ui.widgets.status_header import StatusHeader

SAMPLE_SECONDS = 2.0  # how often the migration metrics are read while data moves


class DrainScreen(ActionScreen):
    scope = "drain"
    sample_metrics = True  # snapshots turn it off: live byte counts never repeat

    class Updated(Message):
        """The drain changed (posted from its listener, painted in the screen's loop)."""

    def __init__(self, session: Session, safety: Safety, node: str) -> None:
        super().__init__(session, safety)
        self.node = node
        self.plan: DrainPlan | None = None
        self.plan_options = PlanOptions()
        self.drain: Drain | None = None
        self.samples: dict[tuple[str, str], MigrationSample] = {}
        self._unsubscribe = None
        self._ended = False

    def compose(self) -> ComposeResult:
        yield StatusHeader(self.session, self.safety, f"Drain {self.node}")
        with Vertical(id="drain-top"):
            yield Static("Planning…", id="drain-summary")
            yield ProgressBar(id="drain-progress", show_eta=False)
        yield DrainBoard(id="drain-board")
        yield Static("", id="drain-detail")
        yield Static("", id="drain-errors")
        yield Static("", id="drain-verdict")
        yield Footer()

    @property
    def board(self) -> DrainBoard:
        return self.query_one(DrainBoard)

    def on_mount(self) -> None:
        self.query_one("#drain-progress", ProgressBar).display = False
        for panel in ("#drain-detail", "#drain-errors", "#drain-verdict"):
            self.query_one(panel).display = False
        existing = self.app.drains.get(self.node)  # type: ignore[attr-defined]
        if existing is not None:
            self.attach(existing)
        else:
            self.load_plan()
        self.set_interval(1.0, self.paint)
        if self.sample_metrics:
            self.set_interval(SAMPLE_SECONDS, self.sample)
        self.board.focus()

    def on_unmount(self) -> None:
        if self._unsubscribe:
            self._unsubscribe()

    # -- the plan -------------------------------------------------------------------------
    @work(exclusive=True, group="drain-plan")
    async def load_plan(self) -> None:
        try:
            plan = await make_plan(
                self.session.connection, self.session.cache, self.node, self.plan_options
            )
        except (KubeError, LookupError) as exc:
            self.query_one("#drain-summary", Static).update(
                f"[b red]Cannot plan the drain of {escape(self.node)}:[/] {escape(str(exc))}"
            )
            return
        self.plan = plan
        self.show_plan(plan)

    def show_plan(self, plan: DrainPlan) -> None:
        state = " — already cordoned" if plan.cordoned else ""
        lines = [
            f"[b]Plan for {escape(plan.node)}[/b]{state}: {escape(summary_line(plan))}",
            escape(capacity_line(plan)),
            escape(clusters_line(plan)),
            escape(estimate_line(plan)),
            *(f"[b yellow]Warning:[/] {escape(w)}" for w in plan.warnings),
        ]
        if self.plan_options.delete_emptydir_data:
            lines.append("emptyDir data may be deleted (E to change)")
        if not self.safety.read_only:
            lines.append("[dim]S starts the drain (after a confirmation with a dry run).[/]")
        self.query_one("#drain-summary", Static).update("\n".join(lines))
        self.board.show_plan(plan)
        self.paint_detail()

    def action_drain_emptydir(self) -> None:
        if self.drain is not None:
            return
        self.plan_options = PlanOptions(
            delete_emptydir_data=not self.plan_options.delete_emptydir_data,
            force=self.plan_options.force,
        )
        self.load_plan()

    # -- starting -------------------------------------------------------------------------
    def action_drain_start(self) -> None:
        if self.drain is not None and self.drain.verdict is None:
            self.notify(f"{self.node} is already being drained.", severity="warning")
            return
        if self.plan is None:
            self.notify("The plan is not ready yet.", severity="warning")
            return
        plan = self.plan
        targets = [Target("node", self.node)] + [
            Target("pod", p.pod, p.namespace) for p in plan.pods if p.outcome is not Outcome.IGNORE
        ]

        def answered(choice: str | None) -> None:
            if choice in ("apply", "dry-run"):
                drain = self.app.start_drain(plan, dry_run=choice == "dry-run")  # type: ignore[attr-defined]
                self.attach(drain)

        self.app.confirm(  # type: ignore[attr-defined]
            Confirmation(
                "drain_start",
                self.session.context,
                targets,
                "Drain",
                f"(cordon, then evict {len(targets) - 1} pods)",
            ),
            answered,
        )

    def attach(self, drain: Drain) -> None:
        if self._unsubscribe:
            self._unsubscribe()
        self.drain = drain
        self._unsubscribe = drain.subscribe(lambda _d, _c: self.post_message(self.Updated()))
        self.query_one("#drain-progress", ProgressBar).display = True
        self._ended = False
        self.refresh_bindings()
        self.paint()

    def on_drain_screen_updated(self, _message: Updated) -> None:
        self.paint()

    # -- the board ------------------------------------------------------------------------
    def paint(self) -> None:
        drain = self.drain
        if drain is None:
            return
        now = drain.clock()
        self.board.show_items(drain.items, self.node, now)
        done, total = progress_counts(drain.items)
        self.query_one("#drain-progress", ProgressBar).update(total=max(total, 1), progress=done)
        mode = " (dry run)" if drain.options.dry_run else ""
        self.query_one("#drain-summary", Static).update(
            f"[b]Draining {escape(self.node)}[/b]{mode}: {done} of {total} pods out, "
            f"{human_duration(drain.elapsed)} elapsed"
            + (f" — {escape(drain.status)}" if drain.verdict else "")
        )
        errors = self.query_one("#drain-errors", Static)
        errors.update("\n".join(f"[b red]error:[/] {escape(e)}" for e in drain.errors[-5:]))
        errors.display = bool(drain.errors)
        verdict = self.query_one("#drain-verdict", Static)
        verdict.update(f"[b]{escape(drain.verdict.line())}[/b]" if drain.verdict else "")
        verdict.display = drain.verdict is not None
        if drain.verdict is not None and not self._ended:
            self._ended = True
            self.refresh_bindings()
        self.paint_detail()

    def cursor_item(self) -> DrainItem | None:
        pod = self.board.cursor_pod
        if self.drain is None or pod is None:
            return None
        for item in self.drain.items:
            if (item.plan.namespace, item.plan.pod) == pod:
                return item
        return None

    def paint_detail(self) -> None:
        """The row under the cursor in full: its plan detail, or why it is stuck and the fixes."""
        panel = self.query_one("#drain-detail", Static)
        item = self.cursor_item()
        text = ""
        if item is not None and item.stuck:
            fixes = ["X cancel the migration", "M migrate to a chosen node", "u uncordon a node"]
            text = f"[b red]Stuck:[/] {escape(item.name)}: {escape(item.stuck)}"
            if not self.safety.read_only:
                text += f"\n[b]Fixes:[/] {' · '.join(fixes)}"
        elif item is not None and item.message:
            text = f"{escape(item.name)}: {escape(item.message)}"
        elif self.drain is None and self.plan is not None:
            pod = self.board.cursor_pod
            for p in self.plan.pods:
                if (p.namespace, p.pod) == pod:
                    text = f"{escape(p.name)}: {escape(p.detail)}"
        panel.update(text)
        panel.display = bool(text)

    def on_data_table_row_highlighted(self) -> None:
        self.paint_detail()

    @work(exclusive=True, group="drain-metrics")
    async def sample(self) -> None:
        """Data processed and left per running migration, from the virt-handler metrics."""
        drain = self.drain
        if drain is None or drain.verdict is not None:
            return
        running = [i for i in drain.items if i.state is State.MIGRATING and i.phase == "Running"]
        if not running:
            return
        pods = virt_handler_pods(self.session.cache.items(kinds.PODS), [self.node])
        samples = await scrape_migrations(self.session.connection, pods)
        for item in running:
            key = (item.plan.namespace, item.plan.vmi)
            sample = samples.get(key)
            if sample is None:
                continue
            item.processed_bytes = sample.processed_bytes
            item.remaining_bytes = sample.remaining_bytes
            item.converging = converging(sample, self.samples.get(key))
            self.samples[key] = sample
        self.paint()

    # -- cancelling and the stuck fixes ---------------------------------------------------
    def action_drain_cancel(self) -> None:
        drain = self.drain
        if drain is None or drain.verdict is not None:
            self.notify("No drain is running here.", severity="warning")
            return
        moving = [
            i
            for i in drain.items
            if i.plan.is_vm and i.state in (State.MIGRATING, State.EVACUATING, State.FAILED)
        ]

        def chosen(choice: CancelChoice | None) -> None:
            if choice is None:
                return
            targets = [Target("node", self.node)]
            if choice.cancel_migrations:
                targets += [Target("vm", i.plan.vmi, i.plan.namespace) for i in moving]
            undo = [
                "stop evicting",
                *(["cancel migrations"] if choice.cancel_migrations else []),
                *(["uncordon"] if choice.uncordon else []),
            ]

            def answered(answer: str | None) -> None:
                if answer in ("apply", "dry-run"):
                    self.cancel_drain(choice, answer == "dry-run")

            self.app.confirm(  # type: ignore[attr-defined]
                Confirmation(
                    "drain_cancel",
                    self.session.context,
                    targets,
                    "Cancel drain",
                    f"({', '.join(undo)})",
                ),
                answered,
            )

        self.app.push_screen(DrainCancelScreen(self.node, len(moving)), chosen)

    @work(group="drain-cancel")
    async def cancel_drain(self, choice: CancelChoice, dry_run: bool) -> None:
        assert self.drain is not None
        problems = await self.drain.cancel(choice.cancel_migrations, choice.uncordon, dry_run)
        prefix = "Dry run: " if dry_run else ""
        if problems:
            self.notify(prefix + "; ".join(problems), severity="error", timeout=10)
        else:
            self.notify(f"{prefix}Drain of {self.node} cancelled.")
        self.paint()

    def _stuck_item(self) -> DrainItem | None:
        item = self.cursor_item()
        if item is None or not item.migration or item.state is not State.MIGRATING:
            self.notify("The row under the cursor has no migration in flight.", severity="warning")
            return None
        return item

    def action_migration_cancel(self) -> None:
        item = self._stuck_item()
        if item is None:
            return
        self.app.confirm_and_run(  # type: ignore[attr-defined]
            Confirmation(
                "migration_cancel",
                self.session.context,
                [Target("migration", item.migration, item.plan.namespace)],
                "Cancel migration",
                f"of {item.name}",
            )
        )

    def action_vm_migrate_to(self) -> None:
        item = self._stuck_item()
        if item is None:
            return
        nodes = [
            (n.name, "cordoned" if n.unschedulable else "")
            for n in (Node(raw) for raw in self.session.cache.items(kinds.NODES))
            if n.name != self.node and n.kvm_capable
        ]

        def chosen(node: str | None) -> None:
            if node is None:
                return
            confirmation = Confirmation(
                "vm_migrate_to",
                self.session.context,
                [Target("vm", item.plan.vmi, item.plan.namespace)],
                "Migrate",
                (f"to node {node}" if node else "to any node")
                + f", replacing the stuck migration {item.migration}",
                {"target_node": node} if node else {},
            )

            def answered(choice: str | None) -> None:
                if choice in ("apply", "dry-run"):
                    self.redirect(item, confirmation, choice == "dry-run")

            self.app.confirm(confirmation, answered)  # type: ignore[attr-defined]

        self.app.push_screen(
            NodePickerScreen(f"Migrate {item.name} to which node?", sorted(nodes)), chosen
        )

    @work(group="drain-fix")
    async def redirect(self, item: DrainItem, confirmation: Confirmation, dry_run: bool) -> None:
        """The new migration first (so KubeVirt's evacuation does not start another one in
        the gap), then the stuck one is cancelled; both audited."""
        stuck = Target("migration", item.migration, item.plan.namespace)
        session = self.session
        [created] = await session.run_operation(
            "vm_migrate_to", confirmation.targets, dry_run=dry_run, params=confirmation.params
        )
        if created.error:
            self.notify(f"Migrate {item.name}: {created.error}", severity="error", timeout=10)
            return
        [cancelled] = await session.run_operation("migration_cancel", [stuck], dry_run=dry_run)
        prefix = "Dry run: " if dry_run else ""
        if cancelled.error:
            self.notify(f"{prefix}{stuck}: {cancelled.error}", severity="error", timeout=10)
        else:
            self.notify(f"{prefix}{item.name}: new migration {confirmation.detail}.")

    def action_uncordon(self) -> None:
        cordoned = [
            (n.name, "the node being drained" if n.name == self.node else "cordoned")
            for n in (Node(raw) for raw in self.session.cache.items(kinds.NODES))
            if n.unschedulable
        ]
        if not cordoned:
            self.notify("No node is cordoned.", severity="warning")
            return

        def chosen(node: str | None) -> None:
            if not node:
                return
            self.app.confirm_and_run(  # type: ignore[attr-defined]
                Confirmation("uncordon", self.session.context, [Target("node", node)], "Uncordon")
            )

        self.app.push_screen(NodePickerScreen("Uncordon which node?", sorted(cordoned)), chosen)

    def offered(self, action: str) -> bool:
        running = self.drain is not None and self.drain.verdict is None
        if action in ("drain_cancel", "migration_cancel", "vm_migrate_to"):
            return running  # nothing in flight to cancel or redirect otherwise
        if action in ("drain_start", "drain_emptydir"):
            return not running
        return super().offered(action)

"""The Datacenter screen: a KKP KubeVirt datacenter's summary and its `kubevirt` block as YAML.

The block is edited as text and validated as it changes; the text is never rewritten by the
screen (a YAML error is shown at its line). Applying and undoing are registry actions (absent in
read-only mode, confirmed naming the context and the Seed target, dry run offered, audited). A
concurrent change to the Seed shows both sides and keeps our text; applying again rebases first.
The Seed is read through the session's connection: the app has no separate seed context yet.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from textual import events, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.markup import escape
from textual.timer import Timer
from textual.widgets import Footer, Static, TextArea

from kvtui.cluster.datacenter import (
    Datacenter,
    impact,
    infra_storage_classes,
    list_datacenters,
    summarize,
)
from kvtui.cluster.datacenter_apply import (
    Applied,
    DatacenterConflict,
    apply_block,
    audit_target,
    block_yaml,
    rebase,
    undo,
)
from kvtui.cluster.datacenter_validation import validate_text
from kvtui.cluster.errors import KubeError
from kvtui.cluster.findings import Finding
from kvtui.cluster.session import Session, Target
from kvtui.ui.actions import Safety
from kvtui.ui.datacenter_presenter import (
    change_markup,
    conflict_sides,
    findings_markup,
    summary_markup,
)
from kvtui.ui.screens.action_screen import ActionScreen
from kvtui.ui.screens.confirm import Confirmation
from kvtui.ui.widgets.status_header import StatusHeader

VALIDATE_AFTER = 0.3  # seconds of quiet typing before the text is validated again


def seed_target(dc: Datacenter) -> Target:
    """seed/<namespace>/<seed>/datacenters/<dc>, as the audit log names it."""
    ref = dc.ref
    return Target("seed", f"{ref.seed}/datacenters/{ref.name}", ref.seed_namespace)


class DatacenterScreen(ActionScreen):
    scope = "datacenter"

    def __init__(self, session: Session, safety: Safety) -> None:
        super().__init__(session, safety)
        self.datacenters: list[Datacenter] = []
        self.index = 0
        self.dc: Datacenter | None = None  # the block and Seed version edits start from
        self.storage: list[dict] | None = None  # the infra cluster's StorageClasses
        self.block: dict[str, Any] | None = None  # what the text holds, None when unparsable
        self.findings: list[Finding] = []
        self.conflict: DatacenterConflict | None = None
        self.applied: Applied | None = None  # the last real apply here, for undo
        self.applied_dc: Datacenter | None = None
        self.showing_diff = False
        self._validate_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield StatusHeader(self.session, self.safety, "Datacenter")
        yield Static("Loading the datacenters from the Seed…", id="dc-summary")
        with Horizontal(id="dc-body"):
            yield TextArea(
                "", id="dc-editor", tab_behavior="indent", show_line_numbers=True, soft_wrap=False
            )
            with VerticalScroll(id="dc-side"):
                yield Static("", id="dc-findings")
                yield Static("", id="dc-diff")
                with Vertical(id="dc-conflict"):
                    yield Static("", id="dc-conflict-title")
                    with Horizontal(id="dc-conflict-sides"):
                        yield Static("", id="dc-theirs")
                        yield Static("", id="dc-ours")
        yield Footer()

    @property
    def editor(self) -> TextArea:
        return self.query_one("#dc-editor", TextArea)

    def on_mount(self) -> None:
        self.query_one("#dc-diff").display = False
        self.query_one("#dc-conflict").display = False
        self.query_one("#dc-side").focus()
        self.load()

    # -- loading ----------------------------------------------------------------------------
    @work(exclusive=True, group="dc-load")
    async def load(self, name: str | None = None) -> None:
        connection = self.session.connection
        try:
            self.datacenters = await list_datacenters(connection)
            self.storage = await infra_storage_classes(connection)
        except KubeError as exc:
            self.query_one("#dc-summary", Static).update(
                f"[b $error]Cannot read the datacenters:[/] {escape(str(exc))}"
            )
            return
        if not self.datacenters:
            self.query_one("#dc-summary", Static).update("No KubeVirt datacenter on any Seed.")
            return
        names = [dc.ref.name for dc in self.datacenters]
        self.index = names.index(name) if name in names else min(self.index, len(names) - 1)
        self.show(self.datacenters[self.index])

    def show(self, dc: Datacenter, text: str | None = None) -> None:
        """Make `dc` the one edited; the editor gets its block unless `text` is kept."""
        self.dc = dc
        self.conflict = None
        self.query_one("#dc-conflict").display = False
        self.paint_summary()
        self.editor.load_text(block_yaml(dc.kubevirt) if text is None else text)
        self.validate_now()
        self.refresh_bindings()

    def paint_summary(self) -> None:
        if self.dc is None:
            return
        summary = summarize(self.dc, self.storage or [])
        self.query_one("#dc-summary", Static).update(
            summary_markup(summary, self.index + 1, len(self.datacenters))
        )

    def action_dc_next(self, step: int = 1) -> None:
        if len(self.datacenters) > 1:
            self.index = (self.index + step) % len(self.datacenters)
            self.applied = self.applied_dc = None
            self.show(self.datacenters[self.index])

    def action_dc_prev(self) -> None:
        self.action_dc_next(-1)

    # -- editing and validating -------------------------------------------------------------
    def action_dc_edit(self) -> None:
        self.editor.focus()

    def on_text_area_changed(self, _event: TextArea.Changed) -> None:
        if self._validate_timer is not None:
            self._validate_timer.stop()
        self._validate_timer = self.set_timer(VALIDATE_AFTER, self.validate_now)

    def validate_now(self) -> None:
        """Parse and check the text as it stands; the text itself is left alone."""
        if self._validate_timer is not None:
            self._validate_timer.stop()
            self._validate_timer = None
        self.block, self.findings = validate_text(self.editor.text, self.storage)
        self.query_one("#dc-findings", Static).update(findings_markup(self.findings))
        if self.showing_diff:
            self.paint_diff()

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    # -- the diff ---------------------------------------------------------------------------
    def action_dc_diff(self) -> None:
        self.showing_diff = not self.showing_diff
        self.query_one("#dc-diff").display = self.showing_diff
        if self.showing_diff:
            self.validate_now()

    def paint_diff(self) -> None:
        panel = self.query_one("#dc-diff", Static)
        if self.dc is None:
            return
        if self.block is None:
            panel.update("[b]Diff[/b]\n[dim]The text is not a valid block yet.[/]")
            return
        live = self.conflict.theirs if self.conflict is not None else self.dc
        change = change_markup(live.kubevirt, self.block, impact(live, live.kubevirt, self.block))
        panel.update(f"[b]Diff against the live block[/b]\n{change}")

    # -- applying ---------------------------------------------------------------------------
    def action_dc_apply(self) -> None:
        if self.dc is None:
            self.notify("The datacenter is not loaded yet.", severity="warning")
            return
        self.validate_now()
        if self.block is None or self.errors:
            count = len(self.errors)
            self.notify(
                f"Apply: fix the {count} error{'s' if count != 1 else ''} first.",
                severity="error",
            )
            return
        dc, block, detail = self.dc, self.block, ""
        if self.conflict is not None:
            ours = DatacenterConflict(block, self.conflict.theirs, self.conflict.base)
            rebased = rebase(ours)
            dc, block = rebased.dc, rebased.block
            detail = "rebased onto their change"
            if rebased.clashes:
                detail += f"; both changed {', '.join(rebased.clashes)}: ours wins"

        def answered(choice: str | None) -> None:
            if choice in ("apply", "dry-run"):
                self.apply(dc, block, choice == "dry-run")

        self.app.confirm(  # type: ignore[attr-defined]
            Confirmation(
                "dc_apply",
                self.session.context,
                [seed_target(dc)],
                "Apply",
                f"(the kubevirt block of {dc.ref.name}{'; ' + detail if detail else ''})",
            ),
            answered,
        )

    @work(exclusive=True, group="dc-apply")
    async def apply(self, dc: Datacenter, block: dict[str, Any], dry_run: bool) -> None:
        try:
            applied = await apply_block(
                self.session.connection, dc, block, dry_run=dry_run, record=self.session.record
            )
        except DatacenterConflict as conflict:
            self.show_conflict(conflict)
            return
        except (KubeError, LookupError, ValueError) as exc:
            self.notify(f"Apply {dc.ref.name}: {exc}", severity="error", timeout=12)
            return
        if dry_run:
            what = "would change the block" if applied.changed else "would change nothing"
            self.notify(f"Dry run: {what} of {dc.ref.name}.")
            return
        if applied.changed:
            self.applied, self.applied_dc = applied, dc
        self.notify(f"Applied to {audit_target(dc.ref)}." if applied.changed else "No change.")
        self.settle(
            dataclasses.replace(
                dc, kubevirt=applied.after, resource_version=applied.resource_version
            )
        )

    def settle(self, dc: Datacenter, text: str | None = None) -> None:
        """`dc` is now live: the next apply starts from it; our text stays unless given."""
        self.datacenters[self.index] = dc
        self.show(dc, self.editor.text if text is None else text)

    def show_conflict(self, conflict: DatacenterConflict) -> None:
        """Both sides next to each other; our text stays in the editor, nothing is applied."""
        self.conflict = conflict
        theirs, ours = conflict_sides(conflict, self.block or conflict.ours)
        again = "" if self.safety.read_only else " P applies ours again, rebased onto theirs."
        self.query_one("#dc-conflict-title", Static).update(
            f"[b $error]Conflict:[/] {escape(str(conflict))}.{again}"
        )
        self.query_one("#dc-theirs", Static).update(f"[b]Their change[/b]\n{theirs}")
        self.query_one("#dc-ours", Static).update(f"[b]Our change[/b]\n{ours}")
        self.query_one("#dc-conflict").display = True
        self.notify(str(conflict), severity="error", timeout=12)

    # -- undo -------------------------------------------------------------------------------
    def action_dc_undo(self) -> None:
        applied, dc = self.applied, self.applied_dc
        if applied is None or dc is None:
            self.notify("Nothing was applied here to undo.", severity="warning")
            return

        def answered(choice: str | None) -> None:
            if choice in ("apply", "dry-run"):
                self.undo(applied, dc, choice == "dry-run")

        self.app.confirm(  # type: ignore[attr-defined]
            Confirmation(
                "dc_undo",
                self.session.context,
                [seed_target(dc)],
                "Undo apply",
                f"(put back the kubevirt block of {dc.ref.name} the last apply replaced)",
            ),
            answered,
        )

    @work(exclusive=True, group="dc-apply")
    async def undo(self, applied: Applied, dc: Datacenter, dry_run: bool) -> None:
        try:
            result = await undo(
                self.session.connection,
                applied,
                dc.ref,
                dry_run=dry_run,
                record=self.session.record,
            )
        except (DatacenterConflict, KubeError, LookupError, ValueError) as exc:
            self.notify(f"Undo {dc.ref.name}: {exc}", severity="error", timeout=12)
            return
        if dry_run:
            self.notify(f"Dry run: undo would put back the previous block of {dc.ref.name}.")
            return
        self.applied = self.applied_dc = None
        self.notify(f"Undone: {audit_target(dc.ref)} has its previous block again.")
        live = dataclasses.replace(
            dc, kubevirt=result.after, resource_version=result.resource_version
        )
        self.settle(live, block_yaml(result.after))

    # -- keys -------------------------------------------------------------------------------
    def action_back(self) -> None:
        if self.editor.has_focus:
            self.query_one("#dc-side").focus()
        else:
            super().action_back()

    def offered(self, action: str) -> bool:
        if action in ("dc_next", "dc_prev"):
            return len(self.datacenters) > 1
        return super().offered(action)

    def on_key(self, event: events.Key) -> None:
        """Keys typed into the editor are text, not actions: the base's greyed-key notice
        (Textual calls each class's handler in turn) is skipped for them."""
        if self.editor.has_focus:
            event.prevent_default()

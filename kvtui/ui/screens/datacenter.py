"""The Datacenter screen: a KKP KubeVirt datacenter's summary and its `kubevirt` block, edited
in a form generated from the schema or as YAML, validated as it changes.

Switching modes keeps the edit: the form takes the block the YAML holds (refusing only while
the YAML does not parse), and going back restores the YAML text as typed when the form changed
nothing. The YAML text is never rewritten by the screen (an error is shown at its line).
Applying and undoing are registry actions (absent in read-only mode, confirmed naming the
context and the Seed target, dry run offered, audited). A concurrent change to the Seed shows
both sides and keeps our edit; applying again rebases first. Export and import are local files:
importing over an edit saves the edit first.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual import events, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.markup import escape
from textual.timer import Timer
from textual.widgets import ContentSwitcher, Footer, Input, Static, TextArea

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
    same_json,
    save_edit_text,
    saved_blocks_dir,
    undo,
    write_block,
    write_private,
)
from kvtui.cluster.datacenter_validation import parse_block, validate, validate_text
from kvtui.cluster.errors import KubeconfigError, KubeError
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
from kvtui.ui.screens.path_prompt import PathPromptScreen
from kvtui.ui.screens.unsaved_edit import UnsavedEditScreen, ask_before_dropping
from kvtui.ui.widgets.datacenter_form import DatacenterForm
from kvtui.ui.widgets.status_header import StatusHeader

VALIDATE_AFTER = 0.3  # seconds of quiet typing before the edit is validated again
FORM, YAML = "dc-form", "dc-editor"  # the two modes, named by their widget
YAML_HELP = "[b]YAML[/b] of the whole kubevirt block · Y: back to the form (keeps the edit)"
FORM_HELP = (
    "[b]Form[/b] · e: edit · tab / shift+tab: next / previous field · enter: open a select · "
    "alt+↑ / alt+↓: move a list item · escape: leave · Y: YAML (keeps the edit)"
)


def seed_target(dc: Datacenter) -> Target:
    """seed/<namespace>/<seed>/datacenters/<dc>, as the audit log names it."""
    ref = dc.ref
    return Target("seed", f"{ref.seed}/datacenters/{ref.name}", ref.seed_namespace)


class DatacenterScreen(ActionScreen):
    scope = "datacenter"

    def __init__(
        self,
        session: Session,
        safety: Safety,
        *,
        datacenter: str | None = None,
        proposed_policy: dict[str, Any] | None = None,
    ) -> None:
        """`proposed_policy` (a `customNetworkPolicies` entry, from the network policy
        explainer's fix) is added to the edit of `datacenter` once loaded, for review."""
        super().__init__(session, safety)
        self.datacenters: list[Datacenter] = []
        self.index = 0
        self.wanted = datacenter
        self.seed = session  # the session on the Seed's context (--seed-context)
        self.proposed_policy = proposed_policy
        self.dc: Datacenter | None = None  # the block and Seed version edits start from
        self.storage: list[dict] | None = None  # the infra cluster's StorageClasses
        self.block: dict[str, Any] | None = None  # the edit, None while the YAML does not parse
        self.findings: list[Finding] = []
        self.checked_changes = 0  # the form's change count the last check saw
        self.conflict: DatacenterConflict | None = None
        self.applied: Applied | None = None  # the last real apply here, for undo
        self.applied_dc: Datacenter | None = None
        self.showing_diff = False
        self.mode = FORM
        self._yaml_origin: tuple[str, dict[str, Any]] | None = None  # text the form came from
        self._validate_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield StatusHeader(self.session, self.safety, "Datacenter")
        yield Static("Loading the datacenters from the Seed…", id="dc-summary")
        with Horizontal(id="dc-body"):
            with Vertical(id="dc-main"):
                with ContentSwitcher(initial=FORM, id="dc-modes"):
                    yield DatacenterForm(id=FORM)
                    yield TextArea.code_editor(
                        "", id=YAML, language="yaml", theme="css", soft_wrap=False
                    )
                yield Static(FORM_HELP, id="dc-help")
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
    def gone(self) -> bool:
        """Left (or being taken down): a late answer has nothing to draw on."""
        return not self.is_attached or self._pruning or not self.query("#dc-findings")

    @property
    def editor(self) -> TextArea:
        return self.query_one(f"#{YAML}", TextArea)

    @property
    def form(self) -> DatacenterForm:
        return self.query_one(DatacenterForm)

    def on_mount(self) -> None:
        self.query_one("#dc-diff").display = False
        self.query_one("#dc-conflict").display = False
        self.query_one("#dc-side").focus()
        self.load()

    # -- loading ----------------------------------------------------------------------------
    @work(exclusive=True, group="dc-load")
    async def load(self, name: str | None = None) -> None:
        try:
            self.seed = await self.app.seed_session()  # type: ignore[attr-defined]
            self.datacenters = await list_datacenters(self.seed.connection)
            self.storage = await infra_storage_classes(self.session.connection)
        except (KubeError, KubeconfigError) as exc:
            if self.gone:  # left before the Seed answered
                return
            self.query_one("#dc-summary", Static).update(
                f"[b $error]Cannot read the datacenters:[/] {escape(str(exc))}"
            )
            return
        if self.gone:
            return
        if not self.datacenters:
            self.query_one("#dc-summary", Static).update("No KubeVirt datacenter on any Seed.")
            return
        names = [dc.ref.name for dc in self.datacenters]
        name = name or self.wanted
        self.index = names.index(name) if name in names else min(self.index, len(names) - 1)
        await self.show(self.datacenters[self.index])
        if self.proposed_policy is not None:
            await self.propose_policy(self.proposed_policy)
            self.proposed_policy = None

    async def show(
        self, dc: Datacenter, edit: dict[str, Any] | None = None, *, keep: bool = False
    ) -> None:
        """Make `dc` the one edited: the editors get `edit` (its live block when None), or
        keep what they hold. Nothing to draw once the screen is gone (an apply that ended
        after escape still counts: it is on the Seed and in the audit log)."""
        if self.gone:
            return
        self.dc = dc
        self.conflict = None
        self.query_one("#dc-conflict").display = False
        self.paint_summary()
        if not keep:
            await self.load_edit(dc.kubevirt if edit is None else edit)
        self.validate_now()
        self.refresh_bindings()

    async def propose_policy(self, entry: dict[str, Any]) -> None:
        """Add (or replace, by name) a custom policy in the edit, and show the diff: nothing
        is applied until the admin applies it."""
        if self.mode == YAML and self.block is None:
            self.notify("Fix the YAML first: the policy was not added.", severity="error")
            return
        block = copy.deepcopy(self.form.block if self.mode == FORM else self.block or {})
        policies = [
            p
            for p in block.get("customNetworkPolicies") or []
            if not (isinstance(p, dict) and p.get("name") == entry.get("name"))
        ]
        block["customNetworkPolicies"] = [*policies, copy.deepcopy(entry)]
        await self.load_edit(block)
        self.validate_now()
        if not self.showing_diff:
            self.action_dc_diff()
        self.notify(
            f"Added the custom policy {entry.get('name')} to the edit: review the diff and its "
            "reach, then apply (P).",
            markup=False,
        )

    async def load_edit(self, block: dict[str, Any], text: str | None = None) -> None:
        """Both modes hold `block` (the YAML as `text` when given). The form is drawn only
        when it is shown: switching to it loads it from the YAML anyway."""
        text = block_yaml(block) if text is None else text
        self.editor.load_text(text)
        self._yaml_origin = (text, copy.deepcopy(block))
        if self.mode == FORM:
            await self.form.load(block)

    def paint_summary(self) -> None:
        if self.dc is None:
            return
        summary = summarize(self.dc, self.storage or [])
        self.query_one("#dc-summary", Static).update(
            summary_markup(summary, self.index + 1, len(self.datacenters))
        )

    def action_dc_next(self, step: int = 1) -> None:
        if len(self.datacenters) > 1:
            self.leave_edit(lambda: self.switch_datacenter(step), "Switch")

    async def switch_datacenter(self, step: int) -> None:
        self.index = (self.index + step) % len(self.datacenters)
        self.applied = self.applied_dc = None
        await self.show(self.datacenters[self.index])

    def action_dc_prev(self) -> None:
        self.action_dc_next(-1)

    # -- editing and validating -------------------------------------------------------------
    def action_dc_edit(self) -> None:
        if self.mode == YAML:
            self.editor.focus()
            return
        first = next(iter(self.form.query("FieldSelect, FieldInput, SpecEditor")), None)
        if first is not None:
            first.focus()

    async def action_dc_mode(self) -> None:
        """Form ↔ YAML, keeping the edit; refused (nothing changed) while it cannot move."""
        in_editor = self.editing
        if self.mode == FORM:
            await self.form.commit()
            if self.form.problems:
                first = next(iter(self.form.problems.values()))
                self.notify(
                    f"YAML: fix {first.path} first: {first.message}",
                    severity="error",
                    timeout=8,
                    markup=False,
                )
                return
            block = self.form.block
            origin = self._yaml_origin
            text = origin[0] if origin and same_json(origin[1], block) else block_yaml(block)
            if text != self.editor.text:
                self.editor.load_text(text)
            self.mode = YAML
        else:
            block, findings = parse_block(self.editor.text)
            if block is None or findings:  # a key twice too: the form would keep only one
                first = findings[0]
                where = f" at line {first.line}" if first.line else ""
                self.notify(
                    f"Form: the YAML has an error{where} ({first.message}); fix it first, "
                    "the text stays as it is.",
                    severity="error",
                    timeout=10,
                    markup=False,
                )
                return
            self._yaml_origin = (self.editor.text, copy.deepcopy(block))
            await self.form.load(block)
            self.mode = FORM
        self.query_one(ContentSwitcher).current = self.mode
        self.query_one("#dc-help", Static).update(YAML_HELP if self.mode == YAML else FORM_HELP)
        self.validate_now()
        if in_editor:
            self.action_dc_edit()

    @property
    def editing(self) -> bool:
        """Whether the focus is in the YAML editor or on a form control."""
        focused = self.focused
        return focused is not None and (
            focused is self.editor or self.form in focused.ancestors_with_self
        )

    def on_text_area_changed(self, _event: TextArea.Changed) -> None:
        self.schedule_validation()

    def on_datacenter_form_changed(self, _event: DatacenterForm.Changed) -> None:
        self.schedule_validation()

    def on_datacenter_form_help(self, event: DatacenterForm.Help) -> None:
        self.query_one("#dc-help", Static).update(event.text)

    def schedule_validation(self) -> None:
        if self._validate_timer is not None:
            self._validate_timer.stop()
        self._validate_timer = self.set_timer(VALIDATE_AFTER, self.validate_now)

    def validate_now(self) -> None:
        """Check the edit as it stands, in the mode it is made in; the YAML text itself is
        left alone."""
        if self._validate_timer is not None:
            self._validate_timer.stop()
            self._validate_timer = None
        if self.gone:
            return
        if self.mode == YAML:
            self.block, self.findings = validate_text(self.editor.text, self.storage)
        else:
            block = self.form.block
            self.checked_changes = self.form.changes
            self.findings = self.form.problem_findings + validate(block, self.storage)
            self.block = copy.deepcopy(block)
            self.form.show_findings(self.findings)
        self.query_one("#dc-findings", Static).update(findings_markup(self.findings))
        if self.showing_diff:
            self.paint_diff()

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    # -- files ------------------------------------------------------------------------------
    def ask_path(self, title: str, then: Callable[[Path], object]) -> None:
        """Ask for a file (default: `<dc>.kubevirt.yaml` here) and hand it to `then`."""
        if self.dc is None:
            return
        default = Path.cwd() / f"{self.dc.ref.name}.kubevirt.yaml"

        def chosen(path: Path | None) -> None:
            if path is not None:
                then(path)

        self.app.push_screen(PathPromptScreen(title, default), chosen)

    def action_dc_export(self) -> None:
        self.ask_path("Export the edited block to:", self.export_or_ask)

    def export_or_ask(self, path: Path) -> None:
        """Export; a file that is there already is replaced only after a second answer."""
        question = UnsavedEditScreen(
            f"{path} exists.", "Replace it with the edited block?", "Replace", "Keep it"
        )
        ask_before_dropping(self, path.exists(), question, lambda: self.export_to(path))

    def export_to(self, path: Path) -> None:
        """The edit as it stands: the YAML text as typed, or the form's block."""
        dc = self.dc
        assert dc is not None
        try:
            if self.mode == YAML:
                write_private(path, self.editor.text)
            else:
                write_block(self.form.block, path, comment=f"spec.kubevirt of {dc.ref.name}")
        except OSError as exc:
            self.notify(
                f"Export: cannot write {path}: {exc.strerror or exc}",
                severity="error",
                markup=False,
            )
            return
        self.notify(f"Exported the edited block of {dc.ref.name} to {path}.", markup=False)

    def action_dc_import(self) -> None:
        self.ask_path("Import a block from:", self.import_from)

    @work(exclusive=True, group="dc-import")
    async def import_from(self, path: Path) -> None:
        """Load a file into both modes; an unreadable or unparsable file changes nothing."""
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            self.notify(
                f"Import: cannot read {path}: {reason}",
                severity="error",
                timeout=10,
                markup=False,
            )
            return
        block, findings = validate_text(text, self.storage)
        if block is None:
            first = findings[0]
            where = f" line {first.line}:" if first.line else ""
            self.notify(
                f"Import: {path}{where} {first.message}; nothing imported.",
                markup=False,
                severity="error",
                timeout=10,
            )
            return
        try:
            saved = self.save_edit()
        except OSError as exc:  # the edit it would replace cannot be kept: keep it on screen
            self.notify(
                f"Import: the current edit cannot be saved first ({exc}); nothing imported.",
                severity="error",
                timeout=10,
                markup=False,
            )
            return
        await self.load_edit(block, text)
        self.validate_now()
        count = len(self.errors)
        note = f" ({count} error{'s' if count != 1 else ''} to fix)" if count else ""
        kept = f"; the edit before it is saved in {saved}" if saved else ""
        self.notify(f"Imported {path}{note}{kept}.", timeout=10, markup=False)

    def unapplied(self) -> bool:
        """Whether the edit differs from the live block, as typed this instant (the debounced
        check may not have seen the last keys)."""
        if self.dc is None or self.gone:
            return False
        self.validate_now()
        if self.block is None:  # YAML that does not parse: changed unless it is what loaded
            return self._yaml_origin is None or self.editor.text != self._yaml_origin[0]
        return not same_json(self.block, self.dc.kubevirt)

    def leave_edit(self, then: Callable[[], object], going: str = "Leave") -> None:
        """Run `then` (which drops the edit) once the admin agrees to when the edit is not
        applied, keeping it in a file first."""
        dc = self.dc
        if dc is None:
            self.call_next(then)
            return

        def kept_then() -> None:
            try:
                self.keep_edit()
            except OSError as exc:  # nowhere to keep it: the edit stays on screen
                self.notify(
                    f"The edit could not be saved ({exc}): still here; export it (O) "
                    "somewhere else, or apply it.",
                    severity="error",
                    timeout=12,
                    markup=False,
                )
                return
            self.call_next(then)

        question = UnsavedEditScreen(
            f"The edit of datacenter {dc.ref.name} is not applied.",
            f"{going} anyway: the edit is kept in a file under "
            f"{_from_home(saved_blocks_dir())} (I imports it again).",
            going,
        )
        ask_before_dropping(self, self.unapplied(), question, kept_then)

    def keep_edit(self) -> Path | None:
        """Save an unapplied edit before it is dropped (leaving, quitting, another context)
        and say where. OSError when it cannot be written: the caller keeps the edit then."""
        saved = self.save_edit() if self.unapplied() else None
        if saved is not None and self.dc is not None:
            self.notify(
                f"The unapplied edit of {self.dc.ref.name} is saved in {saved}.",
                timeout=12,
                markup=False,
            )
        return saved

    def edit_text(self) -> str:
        """The edit as a file would hold it: the YAML as typed, or the form's block."""
        if self.mode == YAML or self.block is None:
            return self.editor.text
        return block_yaml(self.form.block)

    def save_edit(self) -> Path | None:
        """Keep the current edit in the state dir when it differs from the live block."""
        dc = self.dc
        if dc is None or (self.block is not None and same_json(self.block, dc.kubevirt)):
            return None
        return save_edit_text(dc.ref.name, self.edit_text())

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
    async def action_dc_apply(self) -> None:
        if self.dc is None:
            self.notify("The datacenter is not loaded yet.", severity="warning")
            return
        if self.mode == FORM:
            await self.form.commit()
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
                self.seed.context,
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
                self.seed.connection, dc, block, dry_run=dry_run, record=self.seed.record
            )
        except DatacenterConflict as conflict:
            self.show_conflict(conflict)
            return
        except (KubeError, LookupError, ValueError) as exc:
            self.notify(f"Apply {dc.ref.name}: {exc}", severity="error", timeout=12, markup=False)
            return
        if dry_run:
            what = "would change the block" if applied.changed else "would change nothing"
            self.notify(f"Dry run: {what} of {dc.ref.name}.")
            return
        if applied.changed:
            self.applied, self.applied_dc = applied, dc
        self.notify(f"Applied to {audit_target(dc.ref)}." if applied.changed else "No change.")
        await self.settle(
            dataclasses.replace(
                dc, kubevirt=applied.after, resource_version=applied.resource_version
            )
        )

    async def settle(self, dc: Datacenter, edit: dict[str, Any] | None = None) -> None:
        """`dc` is now live: the next apply starts from it; our edit stays unless given."""
        self.datacenters[self.index] = dc
        await self.show(dc, edit, keep=edit is None)

    def show_conflict(self, conflict: DatacenterConflict) -> None:
        """Both sides next to each other; our text stays in the editor, nothing is applied."""
        if self.gone:
            self.notify(str(conflict), severity="error", timeout=12, markup=False)
            return
        self.conflict = conflict
        theirs, ours = conflict_sides(conflict, self.block or conflict.ours)
        again = "" if self.safety.read_only else " P applies ours again, rebased onto theirs."
        self.query_one("#dc-conflict-title", Static).update(
            f"[b $error]Conflict:[/] {escape(str(conflict))}.{again}"
        )
        self.query_one("#dc-theirs", Static).update(f"[b]Their change[/b]\n{theirs}")
        self.query_one("#dc-ours", Static).update(f"[b]Our change[/b]\n{ours}")
        self.query_one("#dc-conflict").display = True
        self.notify(str(conflict), severity="error", timeout=12, markup=False)

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
                self.seed.context,
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
                self.seed.connection,
                applied,
                dc.ref,
                dry_run=dry_run,
                record=self.seed.record,
            )
        except (DatacenterConflict, KubeError, LookupError, ValueError) as exc:
            self.notify(f"Undo {dc.ref.name}: {exc}", severity="error", timeout=12, markup=False)
            return
        if dry_run:
            self.notify(f"Dry run: undo would put back the previous block of {dc.ref.name}.")
            return
        self.applied = self.applied_dc = None
        self.notify(f"Undone: {audit_target(dc.ref)} has its previous block again.")
        live = dataclasses.replace(
            dc, kubevirt=result.after, resource_version=result.resource_version
        )
        await self.settle(live, result.after)

    # -- keys -------------------------------------------------------------------------------
    def action_back(self) -> None:
        if self.editing:
            self.query_one("#dc-side").focus()
        else:
            self.leave_edit(super().action_back)

    def offered(self, action: str) -> bool:
        if action in ("dc_next", "dc_prev"):
            return len(self.datacenters) > 1
        return super().offered(action)

    def on_key(self, event: events.Key) -> None:
        """Keys typed into the editor or a form's text field are text, not actions: the base's
        greyed-key notice (Textual calls each class's handler in turn) is skipped for them."""
        if isinstance(self.focused, TextArea | Input):
            event.prevent_default()


def _from_home(path: Path) -> str:
    """`~/…` for a path under the home directory, as an admin would type it."""
    try:
        return f"~/{path.relative_to(Path.home())}"
    except ValueError:
        return str(path)

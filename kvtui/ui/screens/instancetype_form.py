"""The form for a new or an existing instance type or preference.

Each field shows what `instancetype_edit.validate` says of it as it is typed (a new form shows
a field's findings once it was changed, or after a first try to save). Saving goes through the
app's one confirmation (context, target, dry run, audit); an edit sends only the fields the
form changed. If the object changed meanwhile (409), the form keeps our changes, puts them on
top of their version, says what they changed, and waits for another save.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterator
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.markup import escape
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from kvtui.cluster.datacenter_apply import block_yaml
from kvtui.cluster.errors import KubeError
from kvtui.cluster.findings import Finding, errors
from kvtui.cluster.instancetype_edit import (
    DEFAULT_VERSION,
    Form,
    InstancetypeForm,
    PreferenceForm,
    TemplateConflict,
    build,
    create_template,
    edited,
    field_paths,
    form_from,
    form_kind,
    spec_diff,
    update_template,
    validate,
)
from kvtui.cluster.instancetypes import (
    DEPRECATED_TOPOLOGIES,
    GROUP,
    Template,
    TemplateKey,
    standard_status,
)
from kvtui.cluster.session import Session
from kvtui.ui.datacenter_presenter import diff_markup
from kvtui.ui.instancetype_presenter import (
    INSTANCETYPE_FIELDS,
    NAMING,
    PREFERENCE_FIELDS,
    FormField,
    describe_key,
    field_note,
    form_fields,
    shown_value,
    target,
)
from kvtui.ui.screens.confirm import Confirmation
from kvtui.ui.screens.unsaved_edit import UnsavedEditScreen, ask_before_dropping

TYPE, PREFERENCE = "instancetype", "preference"
HELP = "[dim]ctrl+s save (asks first; dry run offered) · escape cancel · tab next field[/]"


class TemplateFormScreen(ModalScreen[dict | None]):
    """Returns the object as stored after a real save; None when cancelled."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "save", "Save…"),
    ]

    def __init__(
        self,
        session: Session,
        *,
        version: str,
        existing: Collection[TemplateKey] = (),
        live: Template | None = None,
        preference: bool = False,
    ) -> None:
        """A new object (`preference` picks the kind to start with) or an edit of `live`;
        `existing` are the templates there are (a new name must be free in its scope)."""
        super().__init__()
        self.session = session
        self.version = version
        self.existing = set(existing)
        self.live = live  # what an edit starts from: theirs, after a conflict
        self.preference = live.is_preference if live is not None else preference
        self.initial_kind = PREFERENCE if self.preference else TYPE
        self.initial: dict[str, Any] = {}
        if live is not None:
            self.initial = dataclasses.asdict(form_from(live.raw))
        self.touched: set[str] = set()
        self.tried = False
        self.findings: list[Finding] = []

    @property
    def creating(self) -> bool:
        return self.live is None

    # -- building ---------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Vertical(id="it-form"):
            yield Static("", id="it-form-title")
            with Horizontal(id="it-form-body"):
                with VerticalScroll(id="it-form-fields"):
                    if self.creating:
                        with Horizontal(classes="form-row"):
                            yield Label("Kind", classes="form-label")
                            yield Select(
                                [("instance type", TYPE), ("preference", PREFERENCE)],
                                value=PREFERENCE if self.preference else TYPE,
                                allow_blank=False,
                                compact=True,
                                id="it-kind",
                            )
                    for spec in NAMING:
                        yield from self._row(spec, disabled=not self.creating)
                    with Vertical(id="it-fields-instancetype", classes="it-kind-fields"):
                        for spec in INSTANCETYPE_FIELDS:
                            yield from self._row(spec)
                    with Vertical(id="it-fields-preference", classes="it-kind-fields"):
                        for spec in PREFERENCE_FIELDS:
                            yield from self._row(spec)
                with VerticalScroll(id="it-form-side"):
                    yield Static("", id="it-form-conflict")
                    yield Static("", id="it-form-general")
                    yield Static("", id="it-form-changes")
            with Horizontal(id="it-form-buttons"):
                yield Label(HELP, id="it-form-help")
                yield Button("Cancel", id="it-cancel")
                yield Button("Save…", id="it-save", variant="error")

    def _row(self, spec: FormField, *, disabled: bool = False) -> Iterator[Widget]:
        value = self.initial.get(spec.attr, False if spec.how == "flag" else "")
        with Horizontal(classes="form-row"):
            yield Label(spec.label, classes="form-label")
            yield self._control(spec, value, disabled)
        notes = Static("", id=f"it-{spec.attr}-notes", classes="field-notes")
        notes.display = False
        yield notes

    def _control(self, spec: FormField, value: Any, disabled: bool) -> Widget:
        control_id = f"it-{spec.attr}"
        if spec.how == "flag":
            return Checkbox(spec.hint, bool(value), compact=True, id=control_id)
        if spec.how == "choice":
            choices = self.choices(spec)
            if value and value not in choices:  # an old spelling, a value KubeVirt added
                choices.append(value)
            return Select(
                [(c, c) for c in choices],
                prompt=spec.hint,
                value=value or Select.NULL,
                compact=True,
                id=control_id,
            )
        return Input(
            str(value), placeholder=spec.hint, compact=True, id=control_id, disabled=disabled
        )

    def choices(self, spec: FormField) -> list[str]:
        """A select's values; a cluster serving only the alpha API gets the old topology
        spellings (the only ones it knows)."""
        if spec.attr == "topology" and self.version != DEFAULT_VERSION:
            return list(DEPRECATED_TOPOLOGIES)
        return list(spec.choices)

    def on_mount(self) -> None:
        self.query_one("#it-form-conflict").display = False
        self._show_kind()
        self.revalidate()
        first = "it-name" if self.creating else ("it-topology" if self.preference else "it-cpus")
        self.query_one(f"#{first}").focus()

    def _show_kind(self) -> None:
        self.query_one("#it-fields-instancetype").display = not self.preference
        self.query_one("#it-fields-preference").display = self.preference

    # -- the form's values ------------------------------------------------------------------
    def value(self, attr: str) -> str | bool:
        control = self.query_one(f"#it-{attr}")
        if isinstance(control, Checkbox):
            return control.value
        if isinstance(control, Select):
            return "" if control.is_blank() else str(control.value)
        assert isinstance(control, Input)
        return control.value

    def current(self) -> Form:
        """The form as the controls hold it now."""
        values = {spec.attr: self.value(spec.attr) for spec in form_fields(self.preference)}
        return PreferenceForm(**values) if self.preference else InstancetypeForm(**values)  # type: ignore[arg-type]

    def set_values(self, form: Form) -> None:
        """Put a form into the controls (after a conflict: ours on top of theirs)."""
        for spec in form_fields(self.preference):
            value = getattr(form, spec.attr)
            control = self.query_one(f"#it-{spec.attr}")
            if isinstance(control, Select):
                choices = self.choices(spec)
                if value and value not in choices:
                    choices.append(value)
                control.set_options([(c, c) for c in choices])
                control.value = value or Select.NULL
            else:
                control.value = value  # type: ignore[attr-defined]

    def taken(self, form: Form) -> set[str]:
        kind = form_kind(form)
        return {k.name for k in self.existing if k.kind == kind and k.namespace == form.namespace}

    # -- validation, as typed ---------------------------------------------------------------
    def on_input_changed(self, event: Input.Changed) -> None:
        self._changed(event.input)

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        self._changed(event.checkbox)

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "it-kind":
            self.preference = event.value == PREFERENCE
            self._show_kind()
        self._changed(event.select)

    def _changed(self, control: Widget) -> None:
        """A field that now differs from how it started shows its findings from then on."""
        if not self.is_mounted:
            return
        attr = (control.id or "").removeprefix("it-")
        if attr in {spec.attr for spec in form_fields(self.preference)}:
            default = False if isinstance(control, Checkbox) else ""
            if self.value(attr) != self.initial.get(attr, default):
                self.touched.add(attr)
        self.revalidate()

    def revalidate(self) -> None:
        """Findings at their fields, the rest (and the change to send) at the side."""
        form = self.current()
        taken = self.taken(form) if self.creating else ()
        self.findings = validate(form, version=self.version, taken=taken)
        attrs = {path: attr for attr, path in field_paths(form).items()}
        placed: dict[str, list[Finding]] = {}
        general: list[Finding] = []
        for finding in self.findings:
            attr = attrs.get(finding.path)
            (placed.setdefault(attr, []) if attr else general).append(finding)
        everything = self.tried or not self.creating
        for spec in form_fields(self.preference):
            notes = self.query_one(f"#it-{spec.attr}-notes", Static)
            found = placed.get(spec.attr, []) if everything or spec.attr in self.touched else []
            notes.update("\n".join(field_note(f) for f in found))
            notes.display = bool(found)
        side = self.query_one("#it-form-general", Static)
        side.update("\n".join(field_note(f) for f in general) if everything or self.touched else "")
        self.query_one("#it-form-title", Static).update(self.title_markup(form))
        self.query_one("#it-form-changes", Static).update(self.change_markup(form))

    def title_markup(self, form: Form) -> str:
        if self.live is not None:
            standard = " [dim](one of KKP's standard set)[/]" if standard_status(self.live) else ""
            return f"[b]Edit {escape(describe_key(self.live.template_key))}[/b]{standard}"
        scope = f" in namespace {form.namespace}" if form.namespace else " (cluster-wide)"
        what = "preference" if self.preference else "instance type"
        return f"[b]New {what}[/b]{escape(scope)} [dim]{escape(form_kind(form))}[/]"

    def change_markup(self, form: Form) -> str:
        if errors(self.findings):
            return "[b]Change[/b]\n[dim]Fix the errors to see what will be sent.[/]"
        if self.live is None:
            obj = build(form, version=self.version)
            spec = block_yaml(obj["spec"]) if obj["spec"] else "{}\n"
            return (
                f"[b]Creates[/b] {escape(obj['kind'])} {escape(form.name)} "
                f"[dim]({GROUP}/{self.version})[/]\n{escape(spec.rstrip())}"
            )
        lines = spec_diff(self.live.raw, edited(self.live.raw, form))
        if not lines:
            return "[b]Change[/b]\n[dim]Nothing changed yet.[/]"
        return f"[b]Change to the spec[/b]\n{diff_markup(lines)}"

    # -- saving -----------------------------------------------------------------------------
    def action_save(self) -> None:
        self.tried = True
        self.revalidate()
        problems = errors(self.findings)
        if problems:
            count = len(problems)
            self.notify(
                f"Fix the {count} error{'s' if count != 1 else ''} first: {problems[0]}",
                severity="error",
                timeout=8,
                markup=False,
            )
            return
        form = self.current()
        if self.live is None:
            obj = build(form, version=self.version)
            key = Template(obj).template_key
            confirmation = Confirmation(
                "it_new",
                self.session.context,
                [target(key)],
                "Create",
                f"({GROUP}/{self.version})",
            )
        else:
            obj = edited(self.live.raw, form)
            changed = self.changed_fields(form)
            if not spec_diff(self.live.raw, obj):
                self.notify("Nothing changed: nothing to save.", severity="warning")
                return
            confirmation = Confirmation(
                "it_edit",
                self.session.context,
                [target(self.live.template_key)],
                "Save",
                f"({'; '.join(changed)})",
            )

        def answered(choice: str | None) -> None:
            if choice in ("apply", "dry-run"):
                self.write(obj, choice == "dry-run")

        self.app.confirm(confirmation, answered)  # type: ignore[attr-defined]

    def changed_fields(self, form: Form) -> list[str]:
        """`spec.memory.guest: 4Gi → 6Gi`, one per field the form changed."""
        assert self.live is not None
        before = form_from(self.live.raw)
        paths = field_paths(form)
        return [
            f"{paths[spec.attr]}: {shown_value(getattr(before, spec.attr))} → "
            f"{shown_value(getattr(form, spec.attr))}"
            for spec in form_fields(self.preference)
            if getattr(form, spec.attr) != getattr(before, spec.attr)
        ]

    @work(exclusive=True, group="it-form-write")
    async def write(self, obj: dict[str, Any], dry_run: bool) -> None:
        connection, record = self.session.connection, self.session.record
        key = Template(obj).template_key
        what = describe_key(key)
        try:
            if self.live is None:
                stored = await create_template(connection, obj, dry_run=dry_run, record=record)
            else:
                stored = await update_template(
                    connection, self.live, obj, dry_run=dry_run, record=record
                )
        except TemplateConflict as conflict:
            self.show_conflict(conflict)
            return
        except (KubeError, ValueError) as exc:
            verb = "Create" if self.live is None else "Save"
            self.notify(f"{verb} {what}: {exc}", severity="error", timeout=12, markup=False)
            return
        if dry_run:
            done = "be created" if self.live is None else "be saved"
            self.notify(f"Dry run: {what} would {done}; nothing changed.", markup=False)
            return
        self.dismiss(stored)

    def show_conflict(self, conflict: TemplateConflict) -> None:
        """Keep our changes, on top of their version now; say what they changed."""
        assert self.live is not None
        form = self.current()
        before = form_from(self.live.raw)
        ours = {
            spec.attr: getattr(form, spec.attr)
            for spec in form_fields(self.preference)
            if getattr(form, spec.attr) != getattr(before, spec.attr)
        }
        theirs_change = spec_diff(self.live.raw, conflict.theirs.raw)
        self.live = conflict.theirs
        self.initial = dataclasses.asdict(form_from(conflict.theirs.raw))
        self.set_values(dataclasses.replace(form_from(conflict.theirs.raw), **ours))
        changed = diff_markup(theirs_change) if theirs_change else "[dim]not the spec[/]"
        panel = self.query_one("#it-form-conflict", Static)
        panel.update(
            f"[b $error]Conflict:[/] {escape(str(conflict))}.\n"
            "Your changes are kept, now on top of their version: review them and save again.\n"
            f"[b]Their change[/b]\n{changed}"
        )
        panel.display = True
        self.revalidate()
        self.notify(str(conflict), severity="error", timeout=12, markup=False)

    # -- keys -------------------------------------------------------------------------------
    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "it-save":
            self.action_save()
        else:
            self.action_cancel()

    def changed(self) -> bool:
        """Whether any field (or, for a new object, the kind) differs from how it started."""
        if self.creating and self.preference != (self.initial_kind == PREFERENCE):
            return True
        for spec in form_fields(self.preference):
            default = False if spec.how == "flag" else ""
            if self.value(spec.attr) != self.initial.get(spec.attr, default):
                return True
        return False

    def action_cancel(self) -> None:
        """Cancel; typed changes are lost only after a second answer."""
        question = UnsavedEditScreen(
            f"Your changes to {self.value('name') or 'the new object'} are not saved.",
            "Discard them? ctrl+s saves them (it asks first, with a dry run).",
        )
        ask_before_dropping(self, self.changed(), question, self.discard)

    def discard(self) -> None:
        self.dismiss(None)  # not awaited: this runs in the screen's own message loop

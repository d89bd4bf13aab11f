"""A form for a `kubevirt` block, generated from the schema (`datacenter_fields.FIELDS`).

Every field of the schema gets a control: a select for enums and true/false (blank = unset,
which is KKP's default), an input for strings, lists and maps with add / remove / move, and a
YAML editor for a custom policy's `spec`. The form edits a copy of the block in place, so what
it does not know (an unknown key, a value of the wrong type) stays in the block and shows as
YAML to fix; nothing the YAML mode held is lost by switching to the form. What cannot be in the
block yet (a spec with a YAML syntax error, a map key already taken) is kept as a problem at its
field, and the block is not offered for applying until it is fixed.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import yaml
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.markup import escape
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Input, Label, Select, TextArea

from kvtui.cluster import block_edit
from kvtui.cluster.block_edit import Path, path_text
from kvtui.cluster.datacenter_apply import block_yaml
from kvtui.cluster.datacenter_fields import FIELDS, NETWORK_POLICY_SPEC
from kvtui.cluster.findings import ERROR, Finding, load_yaml
from kvtui.cluster.schema import FieldSpec
from kvtui.ui.widgets.form_controls import (
    FieldInput,
    FieldNotes,
    FieldSelect,
    ItemButton,
    KeySelect,
    SpecEditor,
)

SCALARS = ("bool", "enum", "str")
# A new custom policy: explicit about its direction, with the CIDR left to fill in (an error
# until it is), so a half-made policy can never deny all ingress by accident.
NEW_POLICY_SPEC = {
    "podSelector": {},
    "policyTypes": ["Ingress"],
    "ingress": [{"from": [{"ipBlock": {"cidr": ""}}]}],
}


def fits(spec: FieldSpec, value: Any) -> bool:
    """Whether the form's control for `spec` can show `value` (else it shows as YAML)."""
    if value is None:
        return True
    if spec.kind == "bool":
        return isinstance(value, bool)
    if spec.kind == "enum":
        return isinstance(value, str) and value in spec.enum
    if spec.kind == "str":
        return isinstance(value, str)
    if spec.kind == "list":
        return isinstance(value, list)
    return isinstance(value, dict)


def _flow(value: Any) -> str:
    """A value as one line of YAML, for a raw input."""
    return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix("...")


def _title(spec: FieldSpec, title: str) -> str:
    text = escape(title)
    if spec.deprecated:
        text += " [dim](deprecated)[/]"
    if spec.required:
        text += " [dim]*[/]"
    return text


def help_text(spec: FieldSpec, path: Path) -> str:
    """What the help line says about a field: its path, purpose, default and KKP release."""
    parts = [f"[b]{escape(path_text(path))}[/b]"]
    if spec.help:
        parts.append(escape(spec.help))
    if spec.default not in (None, ""):
        default = str(spec.default).lower() if isinstance(spec.default, bool) else spec.default
        parts.append(f"[dim]default {escape(str(default))}[/]")
    if spec.since:
        parts.append(f"[dim]KKP {spec.since}+[/]")
    if spec.deprecated:
        parts.append(f"[$warning]deprecated: use {escape(spec.deprecated)}[/]")
    return " · ".join(parts)


class DatacenterForm(VerticalScroll):
    """The block as a form; posts `Changed` after every edit of the block."""

    BINDINGS = [
        Binding("alt+up", "move_item(-1)", "Move up", show=False),
        Binding("alt+down", "move_item(1)", "Move down", show=False),
    ]

    class Changed(Message):
        """The block (or a problem held next to it) changed."""

    class Help(Message):
        """The focused field's help line."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self.block: dict[str, Any] = {}
        self.problems: dict[str, Finding] = {}  # by path: what the block cannot hold yet
        self._help: dict[Path, str] = {}
        self._findings: list[Finding] = []
        self.changes = 0  # how many changes were announced: the screen checks it caught up

    # -- the block in and out ---------------------------------------------------------------
    async def load(self, block: dict[str, Any]) -> None:
        """Show `block` (a copy is edited), forgetting any held problem."""
        self.block = copy.deepcopy(block)
        self.problems.clear()
        await self.rebuild()

    @property
    def problem_findings(self) -> list[Finding]:
        return list(self.problems.values())

    async def commit(self) -> None:
        """Take in what is typed but not yet part of the block (renamed map keys)."""
        renamed = False
        for control in self.query(FieldInput):
            if control.role == "key":
                renamed |= self._rename(control.path, control.value)
        if renamed:
            await self.rebuild()

    def show_findings(self, findings: list[Finding]) -> None:
        """Each finding under the field it is about: the nearest field shown in the form.
        Kept, so that a rebuild (which may be under way right now) shows them again."""
        self._findings = list(findings)
        self._place_findings()

    def _place_findings(self) -> None:
        findings = self._findings
        notes = {n.path_text: n for n in self.query(FieldNotes)}
        if "" not in notes:  # mid-rebuild: the rebuild places them when it is done
            return
        placed: dict[str, list[Finding]] = {p: [] for p in notes}
        for finding in findings:
            placed[_nearest(finding.path, notes)].append(finding)
        for path, note in notes.items():
            found = placed[path]
            note.display = bool(found)
            note.update("\n".join(_note(f, path) for f in found))

    # -- building ---------------------------------------------------------------------------
    async def rebuild(self, moved: tuple[Path, int, int] | None = None) -> None:
        """Draw the form for the block again, keeping the focus on the same field (on the
        same item when `moved` says item `old` of a list went to `new`)."""
        focused = self.app.focused
        where = _focus_key(focused) if focused is not None and focused in self.query("*") else None
        if where is not None and moved is not None:
            where = _moved_key(where, *moved)
        self._help.clear()
        await self.recompose()
        self._place_findings()
        if where is not None:
            for control in self.query("*"):
                if _focus_key(control) == where:
                    control.focus(scroll_visible=True)
                    break

    def compose(self) -> ComposeResult:
        yield FieldNotes(())
        for spec in FIELDS:
            yield from self._field(spec, (spec.name,), spec.name)
        yield from self._unknown_keys(self.block, (), {f.name for f in FIELDS})

    def _field(self, spec: FieldSpec, path: Path, title: str) -> Iterator[Widget]:
        value = block_edit.get(self.block, path)
        self._help[path] = help_text(spec, path)
        if not fits(spec, value):
            yield from self._raw(spec, path, title, value)
        elif spec.kind in SCALARS:
            with Horizontal(classes="form-row"):
                yield Label(_title(spec, title), classes="form-label")
                yield self._scalar(spec, path, value, in_list=False)
            yield FieldNotes(path)
        elif spec.format == NETWORK_POLICY_SPEC:
            yield Label(_title(spec, title), classes="form-label")
            yield SpecEditor(path, block_yaml(value) if value else "")
            yield FieldNotes(path)
        elif spec.kind == "object":
            with Vertical(classes="form-group") as group:
                group.border_title = _title(spec, title)
                yield FieldNotes(path)
                yield from self._object_fields(spec, path, value)
        elif spec.kind == "list":
            yield from self._list(spec, path, title, value or [])
        else:
            yield from self._map(spec, path, title, value or {})

    def _object_fields(self, spec: FieldSpec, path: Path, value: Any) -> Iterator[Widget]:
        for field in spec.fields:
            yield from self._field(field, (*path, field.name), field.name)
        yield from self._unknown_keys(value, path, {f.name for f in spec.fields})

    def _unknown_keys(self, value: Any, path: Path, known: set[str]) -> Iterator[Widget]:
        """Keys the schema does not know, kept and shown as YAML with a remove button."""
        if not isinstance(value, dict):
            return
        for key, item in value.items():
            if key in known:
                continue
            key_path = (*path, str(key))
            self._help[key_path] = f"[b]{escape(path_text(key_path))}[/b] · not a field KKP knows"
            with Horizontal(classes="form-row"):
                unknown = f"[$error]{escape(str(key))}[/] [dim](unknown)[/]"
                yield Label(unknown, classes="form-label")
                yield FieldInput(key_path, _flow(item), role="raw")
                yield ItemButton("✕", path, "drop", str(key), tip="Remove this key")
            yield FieldNotes(key_path)

    def _raw(self, spec: FieldSpec, path: Path, title: str, value: Any) -> Iterator[Widget]:
        with Horizontal(classes="form-row"):
            yield Label(f"{_title(spec, title)} [dim](YAML)[/]", classes="form-label")
            yield FieldInput(path, _flow(value), role="raw")
        yield FieldNotes(path)

    def _scalar(self, spec: FieldSpec, path: Path, value: Any, *, in_list: bool) -> Widget:
        if spec.kind == "bool":
            default = "unset" if spec.default is None else str(spec.default).lower()
            options: list[tuple[str, Any]] = [("true", True), ("false", False)]
            return FieldSelect(path, options, _or_null(value), f"unset → {default}")
        if spec.kind == "enum":
            options = [(v if v else '"" (empty)', v) for v in spec.enum]
            default = spec.default if spec.default else '""'
            return FieldSelect(path, options, _or_null(value), f"unset → {default}")
        placeholder = "" if spec.default in (None, "") else f"default {spec.default}"
        control = FieldInput(path, value or "", placeholder=placeholder)
        control.in_list = in_list  # type: ignore[attr-defined]
        return control

    def _empty(self, spec: FieldSpec, path: Path, title: str, add: str) -> Iterator[Widget]:
        """An empty list or map: one line with its add button."""
        with Horizontal(classes="form-row"):
            yield Label(f"{_title(spec, title)} [dim](none)[/]", classes="form-label")
            yield ItemButton(add, path, "add", tip=f"Add to {spec.name or 'it'}")
        yield FieldNotes(path)

    def _list(self, spec: FieldSpec, path: Path, title: str, items: list) -> Iterator[Widget]:
        item_spec = spec.item or FieldSpec("", "str")
        thing = _singular(spec.name) or "item"
        if not items:
            yield from self._empty(spec, path, title, f"+ add {thing}")
            return
        with Vertical(classes="form-group form-list") as group:
            group.border_title = f"{_title(spec, title)} [dim]({len(items)})[/]"
            yield FieldNotes(path)
            for index, item in enumerate(items):
                item_path = (*path, index)
                self._help[item_path] = self._help[path]
                if not fits(item_spec, item):
                    yield from self._raw(item_spec, item_path, f"{index + 1}.", item)
                elif item_spec.kind in SCALARS:
                    with Horizontal(classes="form-row"):
                        yield Label(f"{index + 1}.", classes="form-index")
                        yield self._scalar(item_spec, item_path, item, in_list=True)
                        yield from _item_buttons(path, index, len(items))
                    yield FieldNotes(item_path)
                else:
                    with Vertical(classes="form-item") as box:
                        name = item.get("name") if isinstance(item, dict) else None
                        box.border_title = f"{index + 1}. {escape(str(name or ''))}"
                        with Horizontal(classes="form-item-buttons"):
                            yield from _item_buttons(path, index, len(items))
                        yield FieldNotes(item_path)
                        yield from self._object_fields(item_spec, item_path, item)
            yield ItemButton(f"+ add {thing}", path, "add", tip=f"Add to {spec.name or 'the list'}")

    def _map(self, spec: FieldSpec, path: Path, title: str, items: dict) -> Iterator[Widget]:
        item_spec = spec.item or FieldSpec("", "str")
        if not items:
            yield from self._empty(spec, path, title, "+ add")
            return
        with Vertical(classes="form-group form-map") as group:
            group.border_title = f"{_title(spec, title)} [dim]({len(items)})[/]"
            yield FieldNotes(path)
            for key, item in items.items():
                entry = (*path, str(key))
                self._help[entry] = self._help[path]
                key_control = (
                    KeySelect(entry, str(key), spec.enum)
                    if spec.enum and key in spec.enum
                    else FieldInput(entry, str(key), role="key", placeholder="key")
                )
                scalar = item_spec.kind in SCALARS and fits(item_spec, item)
                with Horizontal(classes="form-row"):
                    yield key_control
                    if scalar:
                        yield self._scalar(item_spec, entry, item, in_list=True)
                    elif not fits(item_spec, item):
                        yield FieldInput(entry, _flow(item), role="raw")
                    yield ItemButton("✕", path, "drop", str(key), tip=f"Remove {key}")
                yield FieldNotes(entry)
                if fits(item_spec, item) and not scalar:
                    with Vertical(classes="form-item"):
                        if item_spec.kind == "map":
                            yield from self._map(item_spec, entry, f"{key}:", item or {})
                        else:
                            yield from self._object_fields(item_spec, entry, item)
            if not spec.enum or block_edit.free_key(items, spec.enum):
                yield ItemButton("+ add", path, "add", tip=f"Add to {spec.name or 'the map'}")

    # -- editing ----------------------------------------------------------------------------
    def _spec_at(self, path: Path) -> FieldSpec | None:
        """The schema of the value at `path` (None past what the schema describes)."""
        spec: FieldSpec | None = None
        fields = FIELDS
        for segment in path:
            if spec is not None and spec.kind in ("list", "map"):
                spec, fields = spec.item, (spec.item.fields if spec.item else ())
                continue
            spec = next((f for f in fields if f.name == segment), None)
            if spec is None:
                return None
            fields = spec.fields
        return spec

    def _changed(self) -> None:
        self.changes += 1
        self.post_message(self.Changed())

    def _set(self, path: Path, value: Any) -> None:
        if block_edit.get(self.block, path, default=_MISSING) == value and value is not None:
            return
        if value is None and block_edit.get(self.block, path, default=_MISSING) is _MISSING:
            return
        block_edit.set_value(self.block, path, value)
        self._changed()

    def _problem(self, path: Path, message: str | None, line: int | None = None) -> None:
        key = path_text(path)
        had = self.problems.pop(key, None)
        if message is not None:
            self.problems[key] = Finding(key, message, ERROR, line)
        if had != self.problems.get(key):
            self._changed()

    @on(Select.Changed)
    async def _select_changed(self, event: Select.Changed) -> None:
        control = event.select
        if isinstance(control, KeySelect):
            new = event.value
            if isinstance(new, str) and new != control.path[-1]:
                if self._rename(control.path, new):
                    await self.rebuild()
                else:
                    control.value = str(control.path[-1])
            return
        if isinstance(control, FieldSelect):
            self._set(control.path, None if event.value is Select.NULL else event.value)

    @on(Input.Changed)
    def _input_changed(self, event: Input.Changed) -> None:
        control = event.input
        if not isinstance(control, FieldInput):
            return
        event.stop()
        if control.role == "value":
            in_list = getattr(control, "in_list", False)
            self._set(control.path, event.value if (event.value or in_list) else None)
        elif control.role == "raw":
            data, _, found = load_yaml(event.value)
            if found:
                self._problem(control.path, found[0].message)
            else:
                self._problem(control.path, None)
                self._set(control.path, data)

    @on(Input.Submitted)
    @on(Input.Blurred)
    async def _input_done(self, event: Input.Submitted | Input.Blurred) -> None:
        control = event.input
        renamed = isinstance(control, FieldInput) and control.role == "key"
        if renamed and self._rename(control.path, control.value):
            await self.rebuild()

    def _rename(self, entry: Path, new: str) -> bool:
        """Rename a map key as typed; a key that is empty or taken stays a problem."""
        old = str(entry[-1])
        if new == old:
            self._problem(entry, None)
            return False
        if not new:
            self._problem(entry, f'the key "{old}" cannot be empty')
            return False
        if not block_edit.rename_key(self.block, entry[:-1], old, new):
            self._problem(entry, f'"{new}" is used twice: rename one of them')
            return False
        self._problem(entry, None)
        self._changed()
        return True

    @on(TextArea.Changed)
    def _spec_changed(self, event: TextArea.Changed) -> None:
        control = event.text_area
        if not isinstance(control, SpecEditor):
            return
        event.stop()
        data, _, found = load_yaml(control.text)
        if found:
            self._problem(control.path, f"{found[0].message}", found[0].line)
            return
        self._problem(control.path, None)
        self._set(control.path, data)

    @on(ItemButton.Pressed)
    async def _item_button(self, event: ItemButton.Pressed) -> None:
        button = event.button
        if not isinstance(button, ItemButton):
            return
        event.stop()
        path, index = button.path, button.index
        if button.op == "add":
            self._add(path)
        elif button.op == "drop" and isinstance(index, str):
            self.problems.pop(path_text((*path, index)), None)
            block_edit.clear(self.block, (*path, index))
        elif button.op == "remove" and isinstance(index, int):
            block_edit.clear(self.block, (*path, index))
        elif button.op in ("up", "down") and isinstance(index, int):
            target = block_edit.move(self.block, path, index, -1 if button.op == "up" else 1)
            self._changed()
            await self.rebuild(moved=(path, index, target))
            return
        self._changed()
        await self.rebuild()

    def _add(self, path: Path) -> None:
        spec = self._spec_at(path)
        item_spec = spec.item if spec is not None and spec.item else FieldSpec("", "str")
        if spec is not None and spec.kind == "map":
            current = block_edit.get(self.block, path) or {}
            key = block_edit.free_key(current, spec.enum)
            if key:
                block_edit.set_value(self.block, (*path, key), block_edit.new_item(item_spec))
            return
        item = block_edit.new_item(item_spec)
        if spec is not None and spec.name == "customNetworkPolicies":
            item["spec"] = copy.deepcopy(NEW_POLICY_SPEC)
        block_edit.append(self.block, path, item)

    async def action_move_item(self, step: int) -> None:
        """Move the list item holding the focus (alt+up / alt+down)."""
        focused = self.app.focused
        path = getattr(focused, "path", None)
        if not path:
            return
        for cut in range(len(path) - 1, 0, -1):
            if isinstance(path[cut], int) and isinstance(
                block_edit.get(self.block, path[:cut]), list
            ):
                index = path[cut]
                target = block_edit.move(self.block, path[:cut], index, step)
                self._changed()
                await self.rebuild(moved=(path[:cut], index, target))
                return

    def on_descendant_focus(self, event: Any) -> None:
        path = getattr(event.widget, "path", None)
        if path is not None:
            self.post_message(self.Help(self._help.get(path, f"[b]{path_text(path)}[/b]")))


_MISSING = object()


def _singular(name: str) -> str:
    """`customNetworkPolicies` → `customNetworkPolicy`, for an add button."""
    for plural, one in (("ies", "y"), ("sses", "ss"), ("ches", "ch"), ("s", "")):
        if name.endswith(plural):
            return name[: -len(plural)] + one
    return name


def _or_null(value: Any) -> Any:
    return Select.NULL if value is None else value


def _item_buttons(path: Path, index: int, count: int) -> Iterator[Widget]:
    up = ItemButton("↑", path, "up", index, tip="Move up (alt+up)")
    down = ItemButton("↓", path, "down", index, tip="Move down (alt+down)")
    up.disabled = index == 0
    down.disabled = index == count - 1
    yield up
    yield down
    yield ItemButton("✕", path, "remove", index, tip="Remove")


def _focus_key(widget: Widget) -> tuple[Any, ...] | None:
    path = getattr(widget, "path", None)
    if path is None:
        return None
    return (type(widget).__name__, path, getattr(widget, "role", ""))


def _moved_key(key: tuple[Any, ...], items: Path, old: int, new: int) -> tuple[Any, ...]:
    """A focus key after item `old` of the list at `items` moved to `new`."""
    kind, path, role = key
    depth = len(items)
    if path[: depth + 1] == (*items, old):
        path = (*items, new, *path[depth + 1 :])
    elif path == items and role.endswith(f":{old}"):
        role = f"{role.split(':')[0]}:{new}"
    return kind, path, role


def _within(path: str, prefix: str) -> bool:
    return not prefix or path == prefix or path.startswith((prefix + ".", prefix + "["))


def _nearest(path: str, notes: dict[str, FieldNotes]) -> str:
    """The longest shown field path that `path` lies within ("" always qualifies)."""
    return max((p for p in notes if _within(path, p)), key=len, default="")


def _note(finding: Finding, shown_at: str) -> str:
    colour = "$error" if finding.severity == ERROR else "$warning"
    where = finding.path.removeprefix(shown_at).lstrip(".") if shown_at else finding.path
    line = f" (line {finding.line})" if finding.line is not None else ""
    field = f"{escape(where)}{line}: " if where or line else ""
    return f"[{colour}]{finding.severity}:[/] {field}{escape(finding.message)}"

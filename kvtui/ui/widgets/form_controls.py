"""The controls of a schema-generated form, each knowing the path of the value it edits.

They carry no behaviour of their own: the form reads `path` (and `role`, `op`) from the control
that changed and edits its block there, so one handler serves every field of every depth.
"""

from __future__ import annotations

from typing import Any

from textual.widgets import Button, Input, Select, Static, TextArea

from kvtui.cluster.block_edit import Path, path_text


class FieldSelect(Select[Any]):
    """An enum or a true/false field; the blank choice means unset (KKP's default)."""

    def __init__(self, path: Path, options: list[tuple[str, Any]], value: Any, prompt: str) -> None:
        super().__init__(options, prompt=prompt, value=value, compact=True)
        self.path = path
        self.role = "value"


class KeySelect(Select[str]):
    """The key of a map entry whose keys are an enum (an operating system, say)."""

    def __init__(self, path: Path, key: str, choices: tuple[str, ...]) -> None:
        super().__init__([(c, c) for c in choices], value=key, allow_blank=False, compact=True)
        self.path = path  # the entry's path: the map's path plus the key
        self.role = "key"


class FieldInput(Input):
    """A string, a map key (`role="key"`), or a value of the wrong type shown as YAML
    (`role="raw"`) so that nothing the text held is lost in the form."""

    def __init__(self, path: Path, value: str, role: str = "value", placeholder: str = "") -> None:
        super().__init__(value, placeholder=placeholder, compact=True)
        self.path = path
        self.role = role


class SpecEditor(TextArea):
    """A YAML editor for one object the schema leaves free-form (a NetworkPolicySpec)."""

    def __init__(self, path: Path, text: str) -> None:
        super().__init__(
            text,
            language="yaml",
            theme="css",
            soft_wrap=False,
            tab_behavior="indent",
            show_line_numbers=True,
            compact=True,
        )
        self.path = path
        self.role = "spec"


class ItemButton(Button):
    """Add, remove or move one item of a list or map at `path` (`index`: the item or key)."""

    def __init__(self, label: str, path: Path, op: str, index: Any = None, tip: str = "") -> None:
        super().__init__(label, compact=True, tooltip=tip or None)
        self.path = path
        self.op = op
        self.index = index
        self.role = f"{op}:{index}"


class FieldNotes(Static):
    """The findings of one field, under its control; empty (and hidden) when there are none."""

    def __init__(self, path: Path) -> None:
        super().__init__("", classes="field-notes", markup=True)
        self.path_text = path_text(path)
        self.display = False

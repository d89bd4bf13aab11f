"""Asks for a file path (export or import of a datacenter block); escape asks nothing."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.markup import escape
from textual.screen import ModalScreen
from textual.widgets import Input, Label


class PathPromptScreen(ModalScreen[Path | None]):
    """Returns the path typed (`~` expanded), or None when escaped or left empty."""

    BINDINGS = [Binding("escape", "dismiss_none", "Cancel")]

    def __init__(self, title: str, default: Path) -> None:
        super().__init__()
        self.title_text = title
        self.default = default

    def compose(self) -> ComposeResult:
        with Vertical(id="path-prompt"):
            yield Label(escape(self.title_text), id="path-prompt-title")
            yield Input(str(self.default), id="path-prompt-input")
            yield Label("[dim]enter: OK · escape: cancel[/]")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        self.dismiss(Path(text).expanduser() if text else None)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)

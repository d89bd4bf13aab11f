"""Confirmation of a change: it names the context and every target, and offers a dry run."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.markup import escape
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from kvtui.cluster.session import Target


@dataclass(frozen=True)
class Confirmation:
    action: str
    context: str
    targets: list[Target]
    label: str
    detail: str = ""  # what else the change does, named in the question ("to node kv-node-2")
    params: Mapping[str, Any] = field(default_factory=dict)  # the operation's own arguments


class ConfirmScreen(ModalScreen[str | None]):
    """Returns "apply", "dry-run" or None. Enter alone never applies: focus starts on Cancel."""

    BINDINGS = [Binding("escape", "dismiss_none", "Cancel")]

    def __init__(self, confirmation: Confirmation) -> None:
        super().__init__()
        self.confirmation = confirmation

    def compose(self) -> ComposeResult:
        c = self.confirmation
        count = len(c.targets)
        detail = f" {escape(c.detail)}" if c.detail else ""
        with Vertical(id="confirm"):
            yield Label(
                f"{c.label} {count} target{'s' if count != 1 else ''}{detail} on context "
                f"[b]{c.context}[/b]?",
                id="confirm-title",
            )
            with VerticalScroll(id="confirm-targets"):
                yield Static("\n".join(f"• {t}" for t in c.targets))
            with Horizontal(id="confirm-buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Dry run", id="dry-run", variant="primary")
                yield Button(f"{c.label}", id="apply", variant="error")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None if event.button.id == "cancel" else event.button.id)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)

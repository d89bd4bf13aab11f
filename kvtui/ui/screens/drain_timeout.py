"""The drain's timeout: the admin chooses; deleting what is left takes the node's name."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.markup import escape
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static


class DrainTimeoutScreen(ModalScreen[str]):
    """Returns "wait", "cancel" or "delete" (the last only once the node name is typed),
    mirroring machine-controller's skipEvictionAfter: after this, VMs are simply deleted."""

    def __init__(self, node: str, context: str, took: str, left: list[str]) -> None:
        super().__init__()
        self.node = node
        self.context = context
        self.took = took
        self.left = left

    def compose(self) -> ComposeResult:
        with Vertical(id="drain-timeout"):
            yield Label(
                f"{escape(self.node)} is not drained after {self.took} "
                f"(context [b]{escape(self.context)}[/b]). Still there:"
            )
            yield Static("\n".join(f"• {escape(x)}" for x in self.left), id="drain-timeout-left")
            yield Label(
                "Deleting them stops those VMs without migrating them. "
                f"To delete, type {escape(self.node)}:"
            )
            yield Input(placeholder=self.node, id="drain-timeout-name")
            with Horizontal(id="drain-timeout-buttons"):
                yield Button("Keep waiting", id="wait", variant="primary")
                yield Button("Cancel drain", id="cancel")
                yield Button("Delete remaining pods", id="delete", variant="error", disabled=True)

    def on_mount(self) -> None:
        self.query_one("#wait", Button).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_one("#delete", Button).disabled = event.value.strip() != self.node

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id or "wait")

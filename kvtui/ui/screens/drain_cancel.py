"""Cancelling a drain: what else to undo, chosen before the confirmation names it all."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Label


@dataclass(frozen=True)
class CancelChoice:
    cancel_migrations: bool
    uncordon: bool


class DrainCancelScreen(ModalScreen[CancelChoice | None]):
    """Stop evicting; optionally call back running migrations and uncordon the node."""

    BINDINGS = [Binding("escape", "dismiss_none", "Keep draining")]

    def __init__(self, node: str, in_flight: int) -> None:
        super().__init__()
        self.node = node
        self.in_flight = in_flight

    def compose(self) -> ComposeResult:
        with Vertical(id="drain-cancel"):
            yield Label(f"Stop draining {self.node}? No new evictions will be sent.")
            yield Checkbox(
                f"Also cancel the {self.in_flight} migration(s) and evacuation(s) in flight",
                value=True,
                id="cancel-migrations",
            )
            yield Checkbox(f"Uncordon {self.node}", value=False, id="uncordon")
            with Horizontal(id="drain-cancel-buttons"):
                yield Button("Keep draining", id="keep")
                yield Button("Cancel drain…", id="cancel", variant="error")

    def on_mount(self) -> None:
        self.query_one("#keep", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id != "cancel":
            self.dismiss(None)
            return
        self.dismiss(
            CancelChoice(
                self.query_one("#cancel-migrations", Checkbox).value,
                self.query_one("#uncordon", Checkbox).value,
            )
        )

    def action_dismiss_none(self) -> None:
        self.dismiss(None)

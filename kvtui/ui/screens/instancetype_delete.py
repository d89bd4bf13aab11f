"""Deleting an instance type or preference that VMs use: the VMs are listed, and going on
takes the template's name typed out (then the usual confirmation, with its dry run)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.markup import escape
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from kvtui.cluster.instancetype_edit import DeletePlan

SHOWN_USERS = 50  # the list scrolls; past this many, a count says how many more


class TemplateDeleteScreen(ModalScreen[bool]):
    """Returns True once the name was typed and Continue pressed; False otherwise."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, plan: DeletePlan, what: str, context: str) -> None:
        """`what` names the template for people (`cluster instancetype cx1.medium`)."""
        super().__init__()
        self.plan = plan
        self.what = what
        self.context = context

    def compose(self) -> ComposeResult:
        users = self.plan.users
        count = len(users)
        listed = [f"• {escape(ns)}/{escape(name)}" for ns, name in users[:SHOWN_USERS]]
        if count > SHOWN_USERS:
            listed.append(f"[dim]… and {count - SHOWN_USERS} more[/]")
        word = self.plan.confirmation
        with Vertical(id="it-delete"):
            yield Static(
                f"Delete {escape(self.what)} on context [b]{escape(self.context)}[/b]? "
                f"[b $error]{count} VM{'s' if count != 1 else ''}[/] use{'s' if count == 1 else ''}"
                " it:",
                id="it-delete-title",
            )
            yield Static("\n".join(listed), id="it-delete-users")
            yield Static(
                "KubeVirt keeps a running VM's copy of it, but a VM without one cannot start "
                f"again. To go on, type {escape(word)}:"
            )
            yield Input(placeholder=word, id="it-delete-name")
            with Horizontal(id="it-delete-buttons"):
                yield Button("Cancel", id="cancel", variant="primary")
                yield Button("Continue…", id="continue", variant="error", disabled=True)

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @property
    def typed(self) -> bool:
        return self.query_one(Input).value.strip() == self.plan.confirmation

    def on_input_changed(self, _event: Input.Changed) -> None:
        self.query_one("#continue", Button).disabled = not self.typed

    def on_input_submitted(self, _event: Input.Submitted) -> None:
        if self.typed:
            self.dismiss(True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "continue" and self.typed)

    def action_cancel(self) -> None:
        self.dismiss(False)

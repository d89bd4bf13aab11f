"""Pick the node a live migration should go to, or leave the choice to the scheduler."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.markup import escape
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

ANY_NODE = ""  # the answer for "any node": no node selector, the scheduler picks
_ANY_ID = "*any*"  # an option id no node name can be


class NodePickerScreen(ModalScreen[str | None]):
    """Returns a node name, `ANY_NODE`, or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, question: str, nodes: Sequence[tuple[str, str]]) -> None:
        """`nodes` are (name, a short note shown next to it), in the order to offer them."""
        super().__init__()
        self.question = question
        self.nodes = nodes

    def compose(self) -> ComposeResult:
        width = max((len(name) for name, _ in self.nodes), default=0)
        options = [Option("any node (the scheduler picks)", id=_ANY_ID)]
        options += [
            Option(f"{escape(name.ljust(width))}  [$text-muted]{escape(note)}[/]", id=name)
            for name, note in self.nodes
        ]
        with Vertical(id="node-picker"):
            yield Label(self.question, id="node-picker-question")
            yield OptionList(*options, id="node-picker-nodes")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        choice = event.option.id
        self.dismiss(ANY_NODE if choice == _ANY_ID else choice)

    def action_cancel(self) -> None:
        self.dismiss(None)

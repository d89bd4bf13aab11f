"""Pick a namespace from suggestions (each with a note), or type another one."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.markup import escape
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from kvtui.cluster.formats import check_dns_label


class NamespacePickerScreen(ModalScreen[str | None]):
    """Returns the namespace picked or typed, or None when escaped."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, question: str, suggestions: Sequence[tuple[str, str]], empty: str) -> None:
        """`suggestions` are (namespace, a note), best first; `empty` says why there are
        none."""
        super().__init__()
        self.question = question
        self.suggestions = suggestions
        self.empty = empty

    def compose(self) -> ComposeResult:
        width = max((len(name) for name, _ in self.suggestions), default=0)
        options = [
            Option(f"{escape(name.ljust(width))}  [$text-muted]{escape(note)}[/]", id=name)
            for name, note in self.suggestions
        ]
        with Vertical(id="namespace-picker"):
            yield Static(escape(self.question), id="namespace-picker-question")
            if options:
                yield OptionList(*options, id="namespace-picker-options")
            else:
                yield Static(f"[dim]{escape(self.empty)}[/]", id="namespace-picker-empty")
            yield Input(placeholder="or type a namespace, then enter", id="namespace-picker-input")
            yield Label("[dim]enter: pick · escape: cancel[/]")

    def on_mount(self) -> None:
        if self.suggestions:
            self.query_one(OptionList).focus()
        else:
            self.query_one(Input).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        name = event.value.strip()
        if not name:
            return
        try:
            check_dns_label(name)
        except ValueError as exc:
            self.notify(f"{name}: {exc}", severity="error", markup=False)
            return
        self.dismiss(name)

    def action_cancel(self) -> None:
        self.dismiss(None)

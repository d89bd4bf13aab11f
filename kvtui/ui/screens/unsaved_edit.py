"""Asked before an edit that is not applied or saved would be dropped (leaving an editor,
switching to another object in it): a stray escape at 3 a.m. must not cost the work."""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.markup import escape
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Static


class UnsavedEditScreen(ModalScreen[bool]):
    """True to go on (the edit is dropped, or kept where `fate` says); False to keep it.
    Focus starts on the keeping button, and escape keeps too."""

    BINDINGS = [Binding("escape", "keep", "Keep editing")]

    def __init__(
        self, what: str, fate: str, go: str = "Discard", keep: str = "Keep editing"
    ) -> None:
        """`what` would be lost; `fate` says what becomes of it when going on."""
        super().__init__()
        self.what = what
        self.fate = fate
        self.go = go
        self.keep = keep

    def compose(self) -> ComposeResult:
        with Vertical(id="unsaved-edit"):
            yield Static(f"[b]{escape(self.what)}[/b]", id="unsaved-edit-title")
            yield Static(escape(self.fate), id="unsaved-edit-fate")
            with Horizontal(id="unsaved-edit-buttons"):
                yield Button(self.keep, id="keep", variant="primary")
                yield Button(self.go, id="go", variant="error")

    def on_mount(self) -> None:
        self.query_one("#keep", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "go")

    def action_keep(self) -> None:
        self.dismiss(False)


def ask_before_dropping(
    screen: Screen,
    unsaved: bool,
    question: UnsavedEditScreen,
    go: Callable[[], object],
    stay: Callable[[], object] = lambda: None,
) -> None:
    """The one way an editor drops its edit: `go` at once when nothing is `unsaved`, else
    only after `question` is answered so (`stay` runs when the admin keeps editing)."""
    if not unsaved:
        screen.call_next(go)
        return
    screen.app.push_screen(question, lambda leave: screen.call_next(go if leave else stay))

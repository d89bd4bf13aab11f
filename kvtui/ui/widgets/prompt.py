"""The bottom prompt: `:` commands and `/` filters, like k9s; escape closes it."""

from __future__ import annotations

from textual.binding import Binding
from textual.message import Message
from textual.widgets import Input


class Prompt(Input):
    """Hidden until opened in "command" or "filter" mode; posts what was typed (its own
    messages, named apart from Input's)."""

    BINDINGS = [Binding("escape", "cancel", "Close", show=False)]

    class Entered(Message):
        def __init__(self, mode: str, value: str) -> None:
            super().__init__()
            self.mode, self.value = mode, value

    class Edited(Message):
        def __init__(self, mode: str, value: str) -> None:
            super().__init__()
            self.mode, self.value = mode, value

    class Closed(Message):
        pass

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.mode = "command"
        self.display = False

    def open(self, mode: str, value: str = "") -> None:
        self.mode = mode
        self.placeholder = (
            ":nodes  :vms  :ctx [name]  :help  :q"
            if mode == "command"
            else "regex, !regex (inverse), -l key=value (labels)"
        )
        self.value = value
        self.set_class(mode == "filter", "-filter")
        self.display = True
        # At once, not on the next idle as focus() would: with `:` and `/` bound as priority
        # keys, the keys typed or pasted right after them are routed here, not to the table.
        self.screen.set_focus(self)

    def close(self) -> None:
        self.display = False

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.close()
        self.post_message(self.Entered(self.mode, event.value))

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        if self.display:
            self.post_message(self.Edited(self.mode, event.value))

    def action_cancel(self) -> None:
        self.close()
        self.post_message(self.Closed())

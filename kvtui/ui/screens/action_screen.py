"""Base of every full screen with keys: the panes, the drain board, the datacenter editor.

Their keys come from the one registry: mutating ones are absent in read-only mode, greyed
until writes are armed (a greyed key says why), and `escape` goes back.
"""

from __future__ import annotations

from textual import events
from textual.binding import Binding, BindingsMap
from textual.screen import Screen

from kvtui.cluster.session import Session
from kvtui.ui.actions import BY_KEY, BY_NAME, Safety, bindings
from kvtui.ui.widgets.status_header import StatusHeader


class ActionScreen(Screen[None]):
    scope = "*"
    show_back = True  # `esc Back` in the footer (the panes keep it out of sight)

    def __init__(self, session: Session, safety: Safety) -> None:
        super().__init__()
        self.session = session
        self.safety = safety
        self._bindings = BindingsMap(
            [
                *Screen.BINDINGS,  # tab / shift+tab move the focus, as on any Textual screen
                *bindings(self.scope, safety.read_only),
                Binding("escape", "back", "Back", show=self.show_back),
            ]
        )

    def offered(self, action: str) -> bool:
        """Whether an action makes sense here and now (False hides it); screens narrow it.
        By default there is no command line: escape goes back to the panes."""
        return action != "command"

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "back":
            return len(self.app.screen_stack) > 1
        if not self.offered(action):
            return False
        spec = BY_NAME.get(action)
        return True if spec is None else self.safety.check(spec)

    def on_key(self, event: events.Key) -> None:
        """A greyed key says why it did nothing (Textual skips disabled bindings silently)."""
        spec = BY_KEY.get(event.key)
        reason = self.safety.refusal(spec) if spec and spec.applies_to(self.scope) else None
        if reason:
            self.notify(f"{spec.label}: {reason}", severity="warning")
            event.stop()

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()

    def action_help(self) -> None:
        self.app.action_help()  # type: ignore[attr-defined]

    def action_arm(self) -> None:
        self.app.action_arm()  # type: ignore[attr-defined]
        self.query_one(StatusHeader).refresh_state()

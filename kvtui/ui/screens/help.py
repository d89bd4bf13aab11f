"""`?`: every key that applies here, from the action registry, so help never lies."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.markup import escape
from textual.screen import ModalScreen
from textual.widgets import Static

from kvtui.ui.actions import Safety, visible

GLOBAL_KEYS = (
    (":nodes :vms", "switch pane (aliases :no :node :vm :vmi)"),
    (":migrations", "the Migrations pane (aliases :mig :vmim)"),
    (":ctx [name]", "switch context"),
    (":q  ctrl+c", "quit"),
    ("escape", "back / close"),
    ("↑ ↓ pgup pgdn g G", "move"),
)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "dismiss", "Close"),
        Binding("question_mark", "dismiss", "Close", show=False),
        Binding("q", "dismiss", "Close", show=False),
    ]

    def __init__(self, scope: str, safety: Safety) -> None:
        super().__init__()
        self.scope = scope
        self.safety = safety

    def compose(self) -> ComposeResult:
        lines = ["[b]Keys[/]", ""]
        for action in visible(self.scope, self.safety):
            key = action.key_display or action.key
            state = ""
            if action.mutates and self.safety.check(action) is None:
                state = (
                    " [$text-muted]("
                    + escape(self.safety.denied.get(action.name, "arm writes with W first"))
                    + ")[/]"
                )
            lines.append(f"  [b]{escape(key):<18}[/] {escape(action.help)}{state}")
        lines += ["", "[b]Everywhere[/]", ""]
        lines += [f"  [b]{escape(k):<18}[/] {escape(v)}" for k, v in GLOBAL_KEYS]
        if self.safety.read_only:
            lines += ["", "[b $accent]Read-only:[/] nothing here can change the cluster."]
        with VerticalScroll(id="help"):
            yield Static("\n".join(lines))

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)

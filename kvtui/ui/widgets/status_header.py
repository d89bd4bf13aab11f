"""The top line: context, API health per kind, read-only or armed state with a countdown,
the active filter, and the time."""

from __future__ import annotations

import time

from textual.markup import escape
from textual.widgets import Static

from kvtui.cluster.session import Session
from kvtui.ui.actions import Safety


class StatusHeader(Static):
    def __init__(self, session: Session, safety: Safety, title: str, subtitle: str = "") -> None:
        super().__init__(id="status-header")
        self.session = session
        self.safety = safety
        self.pane = title
        self.subtitle = subtitle
        self.filter_text = ""

    def on_mount(self) -> None:
        self.refresh_state()
        self.set_interval(1.0, self.refresh_state)

    def set_filter(self, text: str) -> None:
        self.filter_text = text
        self.refresh_state()

    def api_health(self) -> tuple[str, str]:
        """("synced" | "syncing" | "degraded" | "forbidden", detail) over the pane's kinds."""
        states = self.session.cache.states()
        worst = "synced"
        detail = ""
        for order in ("forbidden", "degraded", "syncing"):
            bad = sorted((name, st) for name, st in states.items() if st.phase == order)
            if bad:
                worst = order
                # The first one's own words (e.g. the 403's), then how many more are affected.
                name, state = bad[0]
                detail = f"{name}: {state.message}" if state.message else name
                if len(bad) > 1:
                    detail += f" (+{len(bad) - 1} more)"
                break
        return worst, detail

    def refresh_state(self) -> None:
        parts = [f"[b reverse] kvtui [/] [b]{escape(self.pane)}[/]"]
        if self.subtitle:
            parts.append(f"[b]› {escape(self.subtitle)}[/]")
        parts.append(f" ctx [b]{escape(self.session.context)}[/]")
        health, detail = self.api_health()
        variable = {
            "synced": "$success",
            "syncing": "$warning",
            "degraded": "$error",
            "forbidden": "$error",
        }[health]
        more = f" ({escape(detail)})" if detail else ""
        parts.append(f" API [{variable}]{health}{more}[/]")
        if self.safety.read_only:
            parts.append(" [b reverse $accent] READ-ONLY [/]")
        elif self.safety.armed():
            left = int(self.safety.remaining())
            parts.append(f" [b reverse $error] ARMED {left // 60}:{left % 60:02d} [/]")
        else:
            parts.append(" [$text-muted]writes locked (W arms)[/]")
        if self.filter_text:
            parts.append(f" [i]/{escape(self.filter_text)}[/]")
        clock = getattr(self.app, "clock", time.time)
        parts.append(f" [$text-muted]{time.strftime('%H:%M:%S', time.gmtime(clock()))}Z[/]")
        self.update(" ".join(parts))

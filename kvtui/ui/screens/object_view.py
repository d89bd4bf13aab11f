"""Describe or YAML of one object, fetched fresh from the API (the cache keeps trimmed copies)."""

from __future__ import annotations

import yaml
from rich.syntax import Syntax
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.markup import escape
from textual.screen import Screen
from textual.widgets import Footer, Static

from kvtui.cluster.describe import describe
from kvtui.cluster.errors import KubeError
from kvtui.cluster.kinds import Kind
from kvtui.cluster.session import Session


class ObjectViewScreen(Screen[None]):
    BINDINGS = [Binding("escape", "app.back", "Back"), Binding("q", "app.back", "Back", show=False)]

    def __init__(
        self, session: Session, kind: Kind, namespace: str | None, name: str, how: str
    ) -> None:
        super().__init__()
        self.session = session
        self.kind = kind
        self.namespace = namespace
        self.obj_name = name
        self.how = how

    def compose(self) -> ComposeResult:
        where = f"{self.namespace}/{self.obj_name}" if self.namespace else self.obj_name
        title = "Describe" if self.how == "describe" else "YAML"
        yield Static(
            f"[b reverse] kvtui [/] [b]{title} › {self.kind.plural}/{where}[/]", id="status-header"
        )
        with VerticalScroll(id="object-view"):
            yield Static("Loading…", id="object-body")
        yield Footer()

    def on_mount(self) -> None:
        self.load()

    @work(exclusive=True)
    async def load(self) -> None:
        body = self.query_one("#object-body", Static)
        try:
            obj = await self.session.fetch(self.kind, self.namespace, self.obj_name)
            if self.how == "yaml":
                obj.get("metadata", {}).pop("managedFields", None)
                text = yaml.safe_dump(obj, sort_keys=False, default_flow_style=False)
                body.update(Syntax(text, "yaml", theme="ansi_dark", word_wrap=False))
            else:
                meta = obj.get("metadata") or {}
                events = await self.session.events_for(
                    self.namespace, self.obj_name, meta.get("uid")
                )
                body.update(Text(describe(obj, events)))
        except KubeError as exc:
            body.update(f"[$error]{escape(str(exc))}[/]")

"""VM health: the merged VM/VMI/pod conditions and recent events of one VM, kept fresh."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from kvtui.cluster import kinds
from kvtui.cluster.errors import KubeError
from kvtui.cluster.health import HealthReport, vm_health
from kvtui.cluster.session import Session
from kvtui.ui.widgets.vm_sparklines import VmSparklines

REFRESH_SECONDS = 2.0


class VmHealthScreen(Screen[None]):
    BINDINGS = [Binding("escape", "app.back", "Back"), Binding("q", "app.back", "Back", show=False)]

    def __init__(self, session: Session, namespace: str, name: str) -> None:
        super().__init__()
        self.session = session
        self.namespace = namespace
        self.vm_name = name

    def compose(self) -> ComposeResult:
        yield Static(
            f"[b reverse] kvtui [/] [b]VM health › {self.namespace}/{self.vm_name}[/]",
            id="status-header",
        )
        with VerticalScroll(id="health"):
            yield Static("Loading…", id="health-summary")
            yield VmSparklines(self.session, self.namespace, self.vm_name)
            yield Static("", id="health-conditions")
            yield Static("", id="health-events")
        yield Footer()

    def on_mount(self) -> None:
        self.load()
        self.set_interval(REFRESH_SECONDS, self.load)

    @work(exclusive=True)
    async def load(self) -> None:
        cache = self.session.cache
        vm = cache.get(kinds.VMS, self.namespace, self.vm_name)
        vmi = cache.get(kinds.VMIS, self.namespace, self.vm_name)
        uid = ((vmi or {}).get("metadata") or {}).get("uid")
        pods = [
            p
            for p in cache.items(kinds.PODS)
            if (p.get("metadata") or {}).get("namespace") == self.namespace
            and ((p["metadata"].get("labels") or {}).get("kubevirt.io/created-by") == uid)
        ]
        try:
            events = await self.session.events_for(self.namespace, self.vm_name)
        except KubeError as exc:
            events = []
            self.notify(f"events: {exc}", severity="warning")
        report = vm_health(
            self.namespace,
            self.vm_name,
            vm,
            vmi,
            pods,
            events,
            self.session.cluster_eviction_default(),
        )
        self.show(report)

    def show(self, report: HealthReport) -> None:
        from textual.markup import escape

        verdict = (
            "[$success]healthy[/]"
            if report.verdict == "healthy"
            else "[b $error]needs attention[/]"
        )
        lines = [f"[b]Verdict:[/] {verdict}"]
        lines += [f"  • {escape(p)}" for p in report.problems]
        lines.append("")
        lines += [f"[b]{k + ':':<20}[/] {escape(str(v))}" for k, v in report.summary]
        self.query_one("#health-summary", Static).update("\n".join(lines))
        cond_lines = ["", "[b]Conditions[/]"]
        for c in report.conditions:
            mark = "[$success]✓[/]" if c.healthy else "[$error]✗[/]"
            cond_lines.append(
                f" {mark} {escape(c.source):<40} {escape(c.type):<22} "
                f"{escape(c.status):<6} {escape(c.reason)} "
                f"[$text-muted]{escape(c.message)}[/]"
            )
        self.query_one("#health-conditions", Static).update("\n".join(cond_lines))
        ev_lines = ["", "[b]Recent events[/]"]
        for e in report.events[-20:] or []:
            style = "$warning" if e.type == "Warning" else "$text-muted"
            ev_lines.append(
                f" [{style}]{escape(e.time)} {escape(e.type):<8}[/] "
                f"{escape(e.reason):<18} {escape(e.source):<16} "
                f"{escape(e.message)}"
            )
        if not report.events:
            ev_lines.append(" [$text-muted](none)[/]")
        self.query_one("#health-events", Static).update("\n".join(ev_lines))

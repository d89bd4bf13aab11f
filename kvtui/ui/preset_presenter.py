"""Text for the presets screen: a placement preview and the outcome of an apply (pure)."""

from __future__ import annotations

from collections.abc import Iterable

from textual.markup import escape

from kvtui.cluster.preset_apply import PresetChange, PresetResult
from kvtui.cluster.preset_preview import PlacementPreview
from kvtui.cluster.preset_report import preview_text, result_text
from kvtui.ui.datacenter_presenter import diff_markup


def preview_markup(preview: PlacementPreview, what: str) -> str:
    """The CLI's preview text (`preset_report.preview_text`, one source for both), styled:
    headings bold, ✓ and ✗ in their colours, what breaks the spread or finds no node in red."""
    out = []
    for line in preview_text(preview, what).splitlines():
        text = escape(line)
        if not line.startswith(" "):
            bad = line.endswith("would not be scheduled.")
            out.append(f"[$error]{text}[/]" if bad else f"[b]{text}[/b]")
        elif "(over maxSkew)" in line or ": nowhere: " in line:
            out.append(f"[$error]{text}[/]")
        else:
            out.append(text.replace("✓", "[$success]✓[/]").replace("✗", "[$error]✗[/]"))
    return "\n".join(out)


def changes_markup(changes: Iterable[PresetChange]) -> str:
    """The diff of each object the apply would change."""
    out = []
    for change in changes:
        if not change.changed:
            out.append(f"[b]{escape(change.target)}[/b]: [dim]already so, nothing to send[/]")
            continue
        out.append(f"[b]{escape(change.target)}[/b]")
        out.append(diff_markup(change.diff()))
    return "\n".join(out)


def result_markup(result: PresetResult, dry_run: bool) -> str:
    """The CLI's account of an apply (`preset_report.result_text`), styled; the screen adds
    that `T` migrates the VMs still on their old rules."""
    out = []
    for line in result_text(result, dry_run).splitlines():
        text = escape(line)
        if line.startswith(("Running VMs", "machine-controller")):
            head, _, names = text.partition(": ")
            out.append(f"[$warning]{head}:[/] {names}")
        elif not line.startswith(" "):
            out.append(f"[b]{text}[/b]")
        else:
            out.append(text.replace("✓", "[$success]✓[/]").replace("✗", "[$error]✗[/]"))
    if result.needs_restart and not dry_run:
        out.append("T live-migrates them now.")
    return "\n".join(out)

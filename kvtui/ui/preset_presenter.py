"""Text for the presets screen: a placement preview and the outcome of an apply (pure)."""

from __future__ import annotations

from collections.abc import Iterable

from textual.markup import escape

from kvtui.cluster.preset_apply import PresetChange, PresetResult
from kvtui.cluster.preset_preview import DomainSpread, PlacementPreview
from kvtui.ui.datacenter_presenter import diff_markup


def _spread_lines(spread: DomainSpread) -> list[str]:
    rule = "information only"
    if spread.constraint is not None:
        c = spread.constraint
        rule = f"maxSkew {c.max_skew}, {c.when_unsatisfiable}"
    over = spread.skew_after > spread.constraint.max_skew if spread.constraint else False
    skew = f"skew {spread.skew_before} → {spread.skew_after}"
    skew = f"[$error]{skew}[/]" if over else skew
    lines = [f"[b]{escape(spread.topology_key)}[/b] [dim]({rule})[/] {skew}"]
    domains = sorted(set(spread.before) | set(spread.after) | set(spread.eligible))
    cells = []
    for domain in domains:
        before, after = spread.before.get(domain, 0), spread.after.get(domain, 0)
        mark = "" if domain in spread.eligible else "[dim]·[/]"
        change = f"{before}" if before == after else f"{before}→{after}"
        cells.append(f"{escape(domain)}{mark} {change}")
    lines.append("  " + ", ".join(cells) if cells else "  [dim]no domain[/]")
    return lines


def preview_markup(preview: PlacementPreview, what: str) -> str:
    """Which nodes qualify and why not, the spread per topology domain before → after, and
    where each VM lands (or why none takes it)."""
    lines = [f"[b]Placement of {escape(what)}[/b]"]
    lines.append("[b]Nodes[/b]")
    for verdict in preview.nodes:
        if verdict.qualifies:
            extra = " [$success]preferred[/]" if verdict.preferred else ""
            lines.append(f"  [$success]✓[/] {escape(verdict.name)}{extra}")
        else:
            lines.append(f"  [$error]✗[/] {escape(verdict.name)}: {escape(verdict.reason)}")
    lines.append("[b]Spread[/b] [dim](VMs per domain; · not eligible)[/]")
    for spread in preview.spread:
        lines += ["  " + line for line in _spread_lines(spread)]
    lines.append("[b]Where the VMs land[/b]")
    for landing in preview.landings:
        source = f"{escape(landing.from_node)} → " if landing.from_node else ""
        if landing.node is None:
            lines.append(f"  [$error]{escape(landing.vm)}: nowhere[/]: {escape(landing.reason)}")
        else:
            lines.append(f"  {escape(landing.vm)}: {source}[b]{escape(landing.node)}[/b]")
        lines += [f"    [dim]{escape(note)}[/]" for note in landing.notes]
    if preview.not_running:
        names = ", ".join(preview.not_running)
        lines.append(f"  [dim]not running, placed when started: {escape(names)}[/]")
    if preview.unplaced:
        lines.append(f"[$error]{len(preview.unplaced)} VM(s) would not be scheduled.[/]")
    return "\n".join(lines)


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
    """What an apply did: per object, failures, VMs that pick the rules up only on their next
    restart or migration, and VMs a MachineDeployment's rollout replaces."""
    head = "Dry run" if dry_run else "Applied"
    lines = [f"[b]{head}[/b]"]
    for applied in result.applied:
        sent = "changed" if applied.sent else "unchanged"
        lines.append(f"  [$success]✓[/] {escape(applied.change.target)} ({sent})")
    for change, exc in result.failures:
        lines.append(f"  [$error]✗ {escape(change.target)}[/]: {escape(str(exc))}")
    restart = result.needs_restart
    if restart:
        names = ", ".join(f"{ns}/{name}" for ns, name in restart)
        lines.append(
            f"[$warning]Running VMs keep their old placement until they restart (a live "
            f"migration applies node affinity only where KubeVirt's LiveUpdate rollout "
            f"strategy pushes it to the VMI):[/] {escape(names)}. T live-migrates them now."
        )
    replaced = result.replaced
    if replaced:
        names = ", ".join(f"{ns}/{name}" for ns, name in replaced)
        lines.append(
            "[$warning]machine-controller rolls the MachineDeployment out: these VMs are "
            f"replaced by new ones under the preset:[/] {escape(names)}"
        )
    return "\n".join(lines)

"""Plain text and JSON for a placement preview and a preset apply: what `kvtui preset` prints
(the presets screen has its own markup in `ui/preset_presenter.py`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kvtui.cluster.preset_apply import PresetChange, PresetResult
from kvtui.cluster.preset_preview import DomainSpread, PlacementPreview
from kvtui.cluster.presets import Preset


def preset_line(preset: Preset) -> str:
    """One line: the spread constraints, then the node affinity."""
    spread = "; ".join(
        f"{c.topology_key} maxSkew {c.max_skew} {c.when_unsatisfiable}" for c in preset.spread
    )
    affinity = preset.affinity.describe() if preset.affinity else "no node affinity"
    return f"{spread or 'default spread (hostname, ScheduleAnyway)'} | {affinity}"


def _spread_lines(spread: DomainSpread) -> list[str]:
    rule = "information only"
    if spread.constraint is not None:
        rule = f"maxSkew {spread.constraint.max_skew}, {spread.constraint.when_unsatisfiable}"
    over = spread.constraint is not None and spread.skew_after > spread.constraint.max_skew
    flag = " (over maxSkew)" if over else ""
    lines = [
        f"{spread.topology_key} ({rule}): skew {spread.skew_before} → {spread.skew_after}{flag}"
    ]
    cells = []
    for domain in sorted(set(spread.before) | set(spread.after) | set(spread.eligible)):
        before, after = spread.before.get(domain, 0), spread.after.get(domain, 0)
        mark = "" if domain in spread.eligible else " (not eligible)"
        change = f"{before}" if before == after else f"{before}→{after}"
        cells.append(f"{domain}{mark} {change}")
    lines.append("  " + (", ".join(cells) if cells else "no domain"))
    return lines


def preview_text(preview: PlacementPreview, what: str) -> str:
    """Which nodes qualify and why not, the spread per topology domain before → after, and
    where each VM lands (or why none takes it)."""
    lines = [f"Placement of {what}", "Nodes:"]
    for verdict in preview.nodes:
        if verdict.qualifies:
            extra = " (preferred)" if verdict.preferred else ""
            lines.append(f"  ✓ {verdict.name}{extra}")
        else:
            lines.append(f"  ✗ {verdict.name}: {verdict.reason}")
    lines.append("Spread (VMs per domain, before → after):")
    for spread in preview.spread:
        lines += ["  " + line for line in _spread_lines(spread)]
    lines.append("Where the VMs land:")
    for landing in preview.landings:
        source = f"{landing.from_node} → " if landing.from_node else ""
        if landing.node is None:
            lines.append(f"  {landing.vm}: nowhere: {landing.reason}")
        else:
            lines.append(f"  {landing.vm}: {source}{landing.node}")
        lines += [f"    {note}" for note in landing.notes]
    if not preview.landings:
        lines.append("  (no VM to place)")
    if preview.not_running:
        lines.append(f"  not running, placed when started: {', '.join(preview.not_running)}")
    if preview.unplaced:
        lines.append(f"{len(preview.unplaced)} VM(s) would not be scheduled.")
    return "\n".join(lines)


def preview_json(preview: PlacementPreview, what: str) -> dict[str, Any]:
    """The preview as plain data (for `-o json`)."""
    return {
        "target": what,
        "group": {"namespace": preview.group.namespace, "selector": preview.group.selector},
        "nodes": [
            {
                "name": v.name,
                "qualifies": v.qualifies,
                "reason": v.reason or None,
                "preferred": v.preferred,
                "domains": v.domains,
            }
            for v in preview.nodes
        ],
        "spread": [
            {
                "topologyKey": s.topology_key,
                "constraint": None
                if s.constraint is None
                else {
                    "maxSkew": s.constraint.max_skew,
                    "whenUnsatisfiable": s.constraint.when_unsatisfiable,
                },
                "before": s.before,
                "after": s.after,
                "eligible": sorted(s.eligible),
                "skewBefore": s.skew_before,
                "skewAfter": s.skew_after,
            }
            for s in preview.spread
        ],
        "landings": [
            {
                "vm": landing.vm,
                "node": landing.node,
                "from": landing.from_node or None,
                "reason": landing.reason or None,
                "notes": list(landing.notes),
            }
            for landing in preview.landings
        ],
        "notRunning": list(preview.not_running),
        "unplaced": len(preview.unplaced),
    }


def changes_text(changes: Iterable[PresetChange]) -> str:
    """The diff of each object the apply would change."""
    out = []
    for change in changes:
        if not change.changed:
            out.append(f"{change.target}: already so, nothing to send")
            continue
        out += [line for _, line in change.diff()]
    return "\n".join(out)


def result_text(result: PresetResult, dry_run: bool) -> str:
    """What an apply did: per object, failures, VMs that pick the rules up only on their next
    restart or migration, and VMs a MachineDeployment's rollout replaces."""
    lines = ["Dry run (nothing was changed):" if dry_run else "Applied:"]
    for applied in result.applied:
        sent = "changed" if applied.sent else "unchanged"
        lines.append(f"  ✓ {applied.change.target} ({'would be ' if dry_run else ''}{sent})")
    for change, exc in result.failures:
        lines.append(f"  ✗ {change.target}: {exc}")
    restart = result.needs_restart
    if restart:
        names = ", ".join(f"{ns}/{name}" for ns, name in restart)
        will = "would keep" if dry_run else "keep"
        lines.append(
            f"Running VMs {will} their old placement until they restart (a live migration "
            "applies node affinity only where KubeVirt's LiveUpdate rollout strategy pushes it "
            f"to the VMI): {names}"
        )
    replaced = result.replaced
    if replaced:
        names = ", ".join(f"{ns}/{name}" for ns, name in replaced)
        lines.append(
            "machine-controller rolls the MachineDeployment out: these VMs are replaced by "
            f"new ones under the preset: {names}"
        )
    return "\n".join(lines)

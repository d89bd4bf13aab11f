"""The Datacenter screen's text: summary, findings, diffs and a conflict, as Textual markup.

Pure functions over what `kvtui.cluster.datacenter*` returns, so they are tested without a
screen; colours are theme variables.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from textual.markup import escape

from kvtui.cluster.datacenter import DatacenterSummary
from kvtui.cluster.datacenter_apply import DatacenterConflict, diff_lines
from kvtui.cluster.findings import Finding

_DIFF_STYLE = {"add": "$success", "remove": "$error", "header": "$accent"}
_SEVERITY_STYLE = {"error": "b $error", "warning": "b $warning"}


def summary_markup(summary: DatacenterSummary, position: int = 1, count: int = 1) -> str:
    """What an admin checks first: DNS, images, storage (exists on the infra cluster?),
    policies, eviction; `position`/`count` when the Seeds hold several datacenters."""
    which = f"  [dim]({position} of {count}: n/p for the others)[/]" if count > 1 else ""
    servers = ", ".join(summary.nameservers) or "none"
    images = "; ".join(f"{os} {', '.join(v)}" for os, v in summary.images.items()) or "none"
    classes = []
    for sc in summary.storage_classes:
        mark = "[$success]✓[/]" if sc.exists else "[$error]✗ missing[/]"
        default = " (default)" if sc.default else ""
        classes.append(f"{escape(sc.name)}{default} {mark} {escape(sc.binding_mode)}")
    clusters = ", ".join(summary.clusters) or "none"
    return "\n".join(
        [
            f"[b]Datacenter {escape(summary.name)}[/b]  seed [b]{escape(summary.seed)}[/b]"
            f"  user clusters: {escape(clusters)}{which}",
            f"DNS: {escape(summary.dns_policy)}, nameservers: {escape(servers)}",
            f"Images: {escape(images)}",
            f"Storage classes: {' · '.join(classes) or 'none'}",
            f"Custom policies: {escape(', '.join(summary.policies) or 'none')}"
            f"  Eviction: {escape(summary.eviction_strategy)}",
        ]
    )


def finding_line(finding: Finding) -> str:
    where = f"line {finding.line}: " if finding.line is not None else ""
    path = f"{finding.path}: " if finding.path else ""
    return f"{where}{path}{finding.message}"


def findings_markup(findings: Iterable[Finding]) -> str:
    """Errors in the error colour, warnings in the warning colour, `line N: path: message`."""
    lines = [
        f"[{_SEVERITY_STYLE.get(f.severity, 'b')}]{f.severity}[/] {escape(finding_line(f))}"
        for f in findings
    ]
    return "\n".join(lines) if lines else "[$success]No problems found.[/]"


def diff_markup(lines: Iterable[tuple[str, str]]) -> str:
    out = []
    for kind, line in lines:
        style = _DIFF_STYLE.get(kind)
        out.append(f"[{style}]{escape(line)}[/]" if style else escape(line))
    return "\n".join(out)


def change_markup(
    old: Mapping[str, Any], new: Mapping[str, Any], impact: list[str], **labels: str
) -> str:
    """The diff of the edit and the impact lines under it."""
    lines = diff_lines(old, new, **labels)
    if not lines:
        return "[dim]No change against the live block.[/]"
    reach = "\n".join(f"• {escape(line)}" for line in impact)
    return f"{diff_markup(lines)}\n\n[b]Impact[/b]\n{reach}" if reach else diff_markup(lines)


def conflict_sides(conflict: DatacenterConflict, ours: Mapping[str, Any]) -> tuple[str, str]:
    """(their change base→theirs, our change base→ours), each as a diff."""
    theirs = diff_lines(
        conflict.base, conflict.theirs.kubevirt, old_label="base", new_label="theirs"
    )
    mine = diff_lines(conflict.base, ours, old_label="base", new_label="ours")
    none = "[dim]no change to this block (another field of the Seed changed)[/]"
    return (
        diff_markup(theirs) if theirs else none,
        diff_markup(mine) if mine else "[dim]no change[/]",
    )

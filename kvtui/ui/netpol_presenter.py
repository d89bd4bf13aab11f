"""The network policy screens' text: the pane's rows and detail, the explainer's verdict and fix.

Pure functions over what `kvtui.cluster.netpol_cluster` and `netpol_query` return, tested
without a screen; colours are theme variables, user content is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml
from textual.markup import escape

from kvtui.cluster.netpol import Side, Verdict
from kvtui.cluster.netpol_cluster import ORIGIN_TEXT, PolicyState, pod_label, selection_text
from kvtui.cluster.netpol_fix import Fix
from kvtui.cluster.netpol_kkp import CUSTOM, KKP_DEFAULT
from kvtui.cluster.netpol_query import Check, Proposal, deciding_rules, verdict_groups
from kvtui.cluster.presenters import ERROR, MUTED, NONE, OK, WARN, Row

NETPOL_COLUMNS = ("NAMESPACE", "NAME", "ORIGIN", "SELECTS", "DRIFT", "RULES")
SHOWN_METADATA = ("name", "namespace", "labels", "annotations")
_ORIGIN_ORDER = {KKP_DEFAULT: 0, CUSTOM: 1}


def netpol_row(state: PolicyState) -> Row:
    """One policy: a missing one in the error colour, a drifted one in the warning colour."""
    sentences = state.sentences()
    rules = "; ".join(sentences) if sentences else NONE
    selected = [pod_label(p) for p in state.selected]
    if state.missing:
        drift, health = "✗ missing", ERROR
    elif state.drift:
        drift, health = "⚠ " + drift_cell(state.drift), WARN
    else:
        drift, health = "", OK if selected else MUTED
    cells = (
        state.namespace,
        state.name,
        ORIGIN_TEXT[state.origin],
        selection_text(selected),
        drift,
        rules,
    )
    sort_keys = (
        state.namespace,
        state.name,
        _ORIGIN_ORDER.get(state.origin, 2),
        len(selected),
        drift,
        rules,
    )
    return Row(state.key, cells, health, sort_keys)


def drift_cell(drift: str) -> str:
    """`differs: ingress` or `left behind`: the kind of drift and what differs, in short."""
    kind, _, detail = drift.partition(":")
    if kind.startswith("differs"):
        return f"differs: {detail.strip()}"
    return kind.split(":")[0]


def row_labels(state: PolicyState) -> dict[str, str]:
    """What `/ -l key=value` filters a policy row on: its origin, DC and cluster."""
    labels = {"origin": state.origin}
    if state.datacenter:
        labels["datacenter"] = state.datacenter
    if state.cluster:
        labels["cluster"] = state.cluster
    return labels


def detail_markup(state: PolicyState) -> str:
    """Where the policy comes from, its drift, what it selects and its rules as sentences."""
    where = f"[b]{escape(state.namespace)}/{escape(state.name)}[/b]"
    origin = ORIGIN_TEXT[state.origin]
    if state.datacenter:
        origin += f" · datacenter {escape(state.datacenter)} · user cluster {escape(state.cluster)}"
    lines = [f"{where}  {origin}"]
    if state.missing:
        lines.append(f"[b $error]{escape(state.drift)}[/]: KKP puts it back on its next reconcile")
    elif state.drift:
        lines.append(f"[b $warning]drift:[/] {escape(state.drift)}")
    selected = [pod_label(p) for p in state.selected]
    shown = ", ".join(selected[:8]) + (f", … ({len(selected)})" if len(selected) > 8 else "")
    lines.append(
        f"[b]Selects[/b] {selection_text(selected)}{': ' + escape(shown) if shown else ''}"
    )
    lines.append("[b]Rules[/b]")
    lines += [f"  • {escape(s)}" for s in state.sentences()] or ["  • none"]
    title = "YAML (what the datacenter produces)" if state.missing else "YAML"
    lines.append(f"[b]{title}[/b]")
    return "\n".join(lines)


def detail_yaml(state: PolicyState) -> str:
    """The policy's name, labels and spec as read (`y` shows all of it), or the spec KKP
    would create."""
    if state.policy is None:
        obj: dict[str, Any] = {
            "metadata": {"name": state.name, "namespace": state.namespace},
            "spec": dict(state.expected or {}),
        }
    else:
        metadata = state.policy.get("metadata") or {}
        obj = {"metadata": {k: metadata[k] for k in SHOWN_METADATA if metadata.get(k)}}
        obj["spec"] = state.policy.get("spec") or {}
    return yaml.safe_dump(obj, sort_keys=False, default_flow_style=False).rstrip()


# -- the explainer -------------------------------------------------------------------------
def _side_markup(side: Side) -> str:
    word = side.direction.lower()
    style = "$success" if side.allowed else "b $error"
    mark = "✓" if side.allowed else "✗"
    return f"  [{style}]{mark} {word}[/]  {escape(side.sentence())}"


def check_markup(check: Check) -> str:
    """The verdict, the notes (Service, VM, port translation), then each group of pods decided
    alike with the deciding policy and rule of each side."""
    verdict = "[b $success]ALLOWED[/]" if check.allowed else "[b $error]DENIED[/]"
    lines = [
        f"{verdict}  {check.port}/{check.protocol} from [b]{escape(check.source.text)}[/b] "
        f"to [b]{escape(check.destination.text)}[/b]"
    ]
    lines += [f"  [dim]note:[/] {escape(note)}" for note in check.notes]
    for group in verdict_groups(check.verdicts):
        first = group[0]
        names = ", ".join(str(v.destination) for v in group)
        lines.append("")
        lines.append(f"[b]{len(group)} × {first.port}/{first.protocol}[/b] to {escape(names)}")
        lines += [_side_markup(first.egress), _side_markup(first.ingress)]
    return "\n".join(lines)


def fix_markup(fix: Fix, proposals: Sequence[Proposal], after: Verdict, handoff: bool) -> str:
    """The proposed policies, their reach in every user cluster of the datacenter, the verdict
    with them in place, and the entry as YAML; `handoff` says the key that applies it."""
    lines = ["[b]Proposed fix[/b]: the smallest policy that allows this connection"]
    for proposal in proposals:
        first, *rest = proposal.lines()
        lines.append(f"  [b]{escape(first)}[/b]")
        lines += [f"  {escape(line)}" for line in rest]
    lines.append(f"  with it: {after_markup(after)}")
    in_dc = [p for p in proposals if p.datacenter]
    if in_dc:
        entries = yaml.safe_dump([p.entry for p in in_dc], sort_keys=False).rstrip()
        lines.append(
            f"[b]customNetworkPolicies entry[/b] of datacenter {escape(in_dc[0].datacenter)}"
        )
        lines += [f"  {escape(line)}" for line in entries.splitlines()]
        if handoff:
            lines.append(
                "[b]f[/b]: open it in the datacenter editor to review the diff, then apply with "
                "[b]P[/b] (W arms writes)"
            )
    others = [p for p in proposals if not p.datacenter]
    for proposal in others:
        lines.append(f"[b]NetworkPolicy for {escape(proposal.fix.namespace)}[/b] (apply it there)")
        text = yaml.safe_dump(proposal.fix.policy, sort_keys=False).rstrip()
        lines += [f"  {escape(line)}" for line in text.splitlines()]
    return "\n".join(lines)


def after_markup(after: Verdict) -> str:
    """The verdict with the fix in place: the rule of the fix that now decides each side."""
    if not after.allowed:
        return f"[b $error]✗ still denied[/] — {escape(after.sentence())}"
    return f"[$success]✓ allowed[/] ({escape(deciding_rules(after))})"


def error_markup(message: str) -> str:
    return f"[b $error]Cannot check:[/] {escape(message)}"

"""The Health pane's text: the doctor's checks as rows grouped by area, the line above them, and
one check's detail (evidence, the fix as a diff, the steps by hand), as Textual markup.

Pure functions over what `kvtui.cluster.doctor` returns, tested without a screen; colours are
theme variables, and everything read from the cluster is escaped.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from textual.markup import escape

from kvtui.cluster.doctor import DoctorReport
from kvtui.cluster.doctor_model import CheckResult, Status
from kvtui.cluster.presenters import ERROR, MUTED, OK, WARN, Row
from kvtui.ui.datacenter_presenter import diff_markup

HEALTH_COLUMNS = ("AREA", "CHECK", "STATUS", "FIX", "SUMMARY")
STATUS_CELL = {
    Status.OK: "✓ ok",
    Status.WARNING: "⚠ warning",
    Status.FAILURE: "✗ failure",
    Status.UNKNOWN: "? could not check",
}
STATUS_HEALTH = {Status.OK: OK, Status.WARNING: WARN, Status.FAILURE: ERROR, Status.UNKNOWN: MUTED}
STATUS_STYLE = {
    Status.OK: "$success",
    Status.WARNING: "$warning",
    Status.FAILURE: "$error",
    Status.UNKNOWN: "$text-muted",
}
# Sorting by STATUS puts what needs attention first.
STATUS_ORDER = {Status.FAILURE: 0, Status.UNKNOWN: 1, Status.WARNING: 2, Status.OK: 3}
MECHANICAL, BY_HAND = "mechanical", "by hand"


def fix_cell(result: CheckResult) -> str:
    """`mechanical` when the doctor can apply the fix, `by hand` when it only gives steps."""
    if result.fix is not None:
        return MECHANICAL
    return BY_HAND if result.instructions else ""


def check_row(result: CheckResult, area_cell: str, position: int) -> Row:
    """One check; `area_cell` is its area on the first row of a group, else empty, and
    `position` its place in the report (so sorting by AREA gives the report's order back)."""
    cells = (area_cell, result.id, STATUS_CELL[result.status], fix_cell(result), result.summary)
    sort_keys = (position, result.id, STATUS_ORDER[result.status], cells[3], result.summary)
    return Row((result.area, result.id), cells, STATUS_HEALTH[result.status], sort_keys)


def health_rows(report: DoctorReport, failures_only: bool = False) -> list[Row]:
    """The checks in report order, grouped by area (the area named once, on the first row of
    its group); `failures_only` keeps the failing ones."""
    rows: list[Row] = []
    position = 0
    for area, results in report.by_area():
        shown = [r for r in results if r.status is Status.FAILURE or not failures_only]
        for index, result in enumerate(shown):
            rows.append(check_row(result, area if index == 0 else "", position))
            position += 1
    return rows


def counts_markup(report: DoctorReport) -> str:
    """`23 checks: 16 ok · 3 warnings · 4 failures · 0 could not check`, each in its colour."""
    counts = report.counts()

    def part(status: Status, one: str, many: str) -> str:
        n = counts[status]
        text = f"{n} {one if n == 1 else many}"
        return f"[{STATUS_STYLE[status]}]{text}[/]" if n else text

    parts = [
        part(Status.OK, "ok", "ok"),
        part(Status.WARNING, "warning", "warnings"),
        part(Status.FAILURE, "failure", "failures"),
        part(Status.UNKNOWN, "could not check", "could not check"),
    ]
    return f"[b]{len(report.results)} checks[/b]: " + " · ".join(parts)


def clock_text(epoch: float) -> str:
    """The time of day in UTC, as the header shows it."""
    return time.strftime("%H:%M:%S", time.gmtime(epoch)) + "Z"


def summary_markup(
    report: DoctorReport | None,
    *,
    ran_at: float | None,
    took: float,
    running: bool,
    failures_only: bool,
    error: str = "",
    seed_note: str = "",
) -> str:
    """The line above the table: the counts, when the doctor last ran and how long it took,
    whether only failures show, and what went wrong (a read error, an unreachable Seed)."""
    lines = []
    if report is None:
        lines.append("Running the doctor…" if running else "The doctor has not run yet.")
    else:
        seed = (
            "the Seed on the same context"
            if report.seed_context == report.infra_context
            else f"the Seed on context {escape(report.seed_context)}"
        )
        first = f"{counts_markup(report)}   [$text-muted]{seed}[/]"
        lines.append(first)
        when = f"last run {clock_text(ran_at)}, took {took:.1f} s" if ran_at is not None else ""
        state = "[b $accent]running again…[/]" if running else f"[$text-muted]{when}[/]"
        shown = (
            "  [b]failures only[/b] [$text-muted](! shows every check)[/]" if failures_only else ""
        )
        lines.append(f"{state}{shown}")
    if error:
        lines.append(f"[$error]{escape(error)}[/]")
    if seed_note:
        lines.append(f"[$warning]{escape(seed_note)}[/]")
    return "\n".join(lines)


def _bullets(lines: Iterable[str]) -> list[str]:
    return [f"  • {escape(line)}" for line in lines]


def detail_markup(result: CheckResult, fix_hint: str = "") -> str:
    """One check: its id, title and status; the summary; the evidence; the mechanical fix as
    a diff of only the fields it owns (and `fix_hint`: how to apply it here); the steps by
    hand; and the same from the command line."""
    style = STATUS_STYLE[result.status]
    lines = [
        f"[b]{escape(result.id)}[/b]  {escape(result.title)}  [$text-muted]({result.area})[/]",
        f"[b {style}]{STATUS_CELL[result.status]}[/]  {escape(result.summary)}",
    ]
    if result.status is Status.UNKNOWN and result.reason:
        lines.append(
            "[$text-muted]The doctor could not read what this check needs; nothing is known to "
            "be wrong or right.[/]"
        )
    lines += ["", "[b]Evidence[/b]"]
    lines += _bullets(result.evidence) or ["  [$text-muted](none)[/]"]
    if result.fix is not None:
        fix = result.fix
        lines += ["", f"[b]Fix[/b]: {escape(fix.description)}"]
        lines.append(f"  on {escape(', '.join(fix.target_names()))}")
        if fix_hint:
            lines.append(f"  {fix_hint}")
        lines += ["", diff_markup(fix.diff())]
    if result.instructions:
        lines += ["", "[b]By hand[/b]" if result.fix is None else "[b]Steps[/b]"]
        lines += _bullets(result.instructions)
    command = f"kvtui doctor --only {result.id} -v"
    if result.fix is not None:
        command += f"   kvtui doctor --fix {result.id} --dry-run"
    lines += ["", f"[$text-muted]From a shell: {escape(command)}[/]"]
    return "\n".join(lines)

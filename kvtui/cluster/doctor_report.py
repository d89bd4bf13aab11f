"""The doctor's report as plain text lines (what `kvtui doctor` prints): pure functions over a
`DoctorReport`, so a pager, a file and a test read the same thing."""

from __future__ import annotations

from kvtui.cluster.doctor import DoctorReport
from kvtui.cluster.doctor_model import CheckResult, Status

LABELS = {
    Status.OK: "ok",
    Status.WARNING: "WARN",
    Status.FAILURE: "FAIL",
    Status.UNKNOWN: "UNKNOWN",
}
STATUS_WIDTH = max(len(label) for label in LABELS.values())


def counts_line(report: DoctorReport) -> str:
    counts = report.counts()
    parts = [
        f"{counts[Status.OK]} ok",
        f"{counts[Status.WARNING]} warning{'' if counts[Status.WARNING] == 1 else 's'}",
        f"{counts[Status.FAILURE]} failure{'' if counts[Status.FAILURE] == 1 else 's'}",
        f"{counts[Status.UNKNOWN]} could not check",
    ]
    return f"{len(report.results)} checks: " + " · ".join(parts)


def header(report: DoctorReport) -> str:
    seed = (
        "seed: same context"
        if report.seed_context == report.infra_context
        else f"seed: context {report.seed_context}"
    )
    return f"kvtui doctor · context {report.infra_context} ({seed})"


def result_lines(result: CheckResult, width: int, details: bool) -> list[str]:
    """One line per check; with `details` (or when it is not ok) its evidence and the fix."""
    lines = [f"  {LABELS[result.status]:<{STATUS_WIDTH}}  {result.id:<{width}}  {result.summary}"]
    if result.status is Status.OK and not details:
        return lines
    pad = " " * (STATUS_WIDTH + 4)
    lines += [f"{pad}· {line}" for line in result.evidence]
    if result.fix is not None:
        lines.append(f"{pad}fix: kvtui doctor --fix {result.id}  ({result.fix.description})")
    lines += [f"{pad}to do: {step}" for step in result.instructions]
    return lines


def report_text(report: DoctorReport, *, details: bool = False) -> list[str]:
    """The whole report: header, counts, then each area with its checks."""
    width = max((len(r.id) for r in report.results), default=0)
    lines = [header(report), counts_line(report)]
    for area, results in report.by_area():
        lines.append("")
        lines.append(area)
        for result in results:
            lines += result_lines(result, width, details)
    return lines

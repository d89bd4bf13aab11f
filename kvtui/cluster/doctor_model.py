"""What a doctor check is and what it says: status, evidence, and the fix.

A check is a pure function from the cluster as observed (`doctor_observe.Observed`) to an
`Outcome`; the registry (`doctor.CHECKS`) pairs it with its stable id, area and title, and the
runner turns a read it could not make into "could not check" with the reason, so no check has
to handle a 403 or a missing CRD itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from kvtui.cluster.doctor_fixes import Fix

if TYPE_CHECKING:
    from kvtui.cluster.doctor_observe import Observed

# Areas in the order a report shows them (and `--only` accepts).
AREAS = ("nodes", "kubevirt", "cdi", "network", "dns", "monitoring", "storage", "upgrade", "vms")
EVIDENCE_LIMIT = 12  # lines of evidence before "… and N more"


class Status(StrEnum):
    """How a check came out, best first; `UNKNOWN` is "could not check"."""

    OK = "ok"
    WARNING = "warning"
    FAILURE = "failure"
    UNKNOWN = "could-not-check"

    @property
    def label(self) -> str:
        return "could not check" if self is Status.UNKNOWN else self.value


class CouldNotCheck(Exception):
    """A check cannot decide: a read it needs failed (403, missing CRD, unreachable)."""


@dataclass(frozen=True)
class Outcome:
    """What one check found: a one-line summary, the evidence behind it, and either a
    mechanical `fix` or precise `instructions` (or both: the fix, and what it leaves to do)."""

    status: Status
    summary: str
    evidence: tuple[str, ...] = ()
    fix: Fix | None = None
    instructions: tuple[str, ...] = ()


def ok(summary: str, evidence: Iterable[str] = ()) -> Outcome:
    return Outcome(Status.OK, summary, capped(evidence))


def warning(
    summary: str,
    evidence: Iterable[str] = (),
    *,
    fix: Fix | None = None,
    instructions: Iterable[str] = (),
) -> Outcome:
    return Outcome(Status.WARNING, summary, capped(evidence), fix, tuple(instructions))


def failure(
    summary: str,
    evidence: Iterable[str] = (),
    *,
    fix: Fix | None = None,
    instructions: Iterable[str] = (),
) -> Outcome:
    return Outcome(Status.FAILURE, summary, capped(evidence), fix, tuple(instructions))


def capped(lines: Iterable[str], limit: int = EVIDENCE_LIMIT) -> tuple[str, ...]:
    """At most `limit` lines; the rest is counted, not dropped silently."""
    lines = list(lines)
    if len(lines) <= limit:
        return tuple(lines)
    return (*lines[: limit - 1], f"… and {len(lines) - limit + 1} more")


def plural(count: int, noun: str, many: str = "") -> str:
    """`1 node`, `2 nodes`; `many` for the irregular ones (`NetworkPolicies`)."""
    return f"{count} {noun}" if count == 1 else f"{count} {many or noun + 's'}"


@dataclass(frozen=True)
class CheckSpec:
    """One check: stable `id` (`area.name`), `title`, what it looks at (`what`, for --help and
    the README), the function that decides, and whether a failing result can carry a `Fix`."""

    id: str
    area: str
    title: str
    what: str
    run: Callable[[Observed], Outcome]
    fixable: bool = False


@dataclass(frozen=True)
class CheckResult:
    """A check's verdict as every output shows it; `reason` is set for "could not check"."""

    id: str
    area: str
    title: str
    status: Status
    summary: str
    evidence: tuple[str, ...] = ()
    fix: Fix | None = None
    instructions: tuple[str, ...] = ()
    reason: str = ""

    @classmethod
    def of(cls, spec: CheckSpec, outcome: Outcome) -> CheckResult:
        return cls(
            spec.id,
            spec.area,
            spec.title,
            outcome.status,
            outcome.summary,
            outcome.evidence,
            outcome.fix,
            outcome.instructions,
        )

    @classmethod
    def unknown(cls, spec: CheckSpec, reason: str) -> CheckResult:
        return cls(
            spec.id,
            spec.area,
            spec.title,
            Status.UNKNOWN,
            f"could not check: {reason}",
            reason=reason,
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON form `kvtui doctor -o json` prints (the fix as its diff and targets)."""
        fix = None
        if self.fix is not None:
            fix = {
                "description": self.fix.description,
                "command": f"kvtui doctor --fix {self.id}",
                "targets": self.fix.target_names(),
                "diff": [line for _, line in self.fix.diff()],
            }
        return {
            "id": self.id,
            "area": self.area,
            "title": self.title,
            "status": self.status.value,
            "summary": self.summary,
            "evidence": list(self.evidence),
            "fix": fix,
            "instructions": list(self.instructions),
            "reason": self.reason or None,
        }


def run_check(spec: CheckSpec, observed: Observed) -> CheckResult:
    """One check, with a failed read turned into "could not check" and the reason."""
    try:
        return CheckResult.of(spec, spec.run(observed))
    except CouldNotCheck as exc:
        return CheckResult.unknown(spec, str(exc))


def worst(statuses: Sequence[Status]) -> Status:
    order = [Status.OK, Status.WARNING, Status.UNKNOWN, Status.FAILURE]
    return max(statuses, key=order.index, default=Status.OK)

"""The doctor: an infra cluster checked against KKP's KubeVirt requirements, the provider
guide's known issues and the manual steps after an upgrade from KKP 2.21.

Every check has a stable id (`kubevirt.feature-gates`), an area, a title and a status: ok,
warning, failure, or could not check (with the reason: a 403, a CRD the context does not
serve). Each says why (evidence) and how to fix it: a mechanical `Fix` where the change is safe
(`doctor_fixes`), precise instructions otherwise.

For a screen or a script:

    report = await run_doctor(infra_conn, seed_conn, config=config)   # reads, then decides
    for area, results in report.by_area(): ...                        # CheckResult each
    result = report.get("upgrade.lb-selector"); result.fix            # a Fix, or None
    await doctor_fixes.apply_fix(infra_conn, result.fix, dry_run=True, record=session.record)

`CHECKS` lists every check before anything runs; `select(...)` narrows them by area or id.
The checks themselves live by area: doctor_nodes, doctor_kubevirt, doctor_cdi, doctor_network,
doctor_dns, doctor_storage, doctor_upgrade, doctor_vms.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from kvtui.cluster import (
    doctor_cdi,
    doctor_dns,
    doctor_kubevirt,
    doctor_network,
    doctor_nodes,
    doctor_storage,
    doctor_upgrade,
    doctor_vms,
)
from kvtui.cluster.config import Config
from kvtui.cluster.connection import Connection
from kvtui.cluster.doctor_model import AREAS, CheckResult, CheckSpec, Status, run_check
from kvtui.cluster.doctor_observe import Observed, collect

__all__ = [
    "AREAS",
    "CHECKS",
    "CheckResult",
    "CheckSpec",
    "DoctorReport",
    "Status",
    "run_checks",
    "run_doctor",
    "select",
]

CHECKS: tuple[CheckSpec, ...] = (
    *doctor_nodes.CHECKS,
    *doctor_kubevirt.CHECKS,
    *doctor_cdi.CHECKS,
    *doctor_network.CHECKS,
    *doctor_dns.CHECKS,
    *doctor_cdi.MONITORING_CHECKS,
    *doctor_storage.CHECKS,
    *doctor_upgrade.CHECKS,
    *doctor_vms.CHECKS,
)
EXIT_OK, EXIT_FAILURES, EXIT_NOT_CHECKED = 0, 1, 2


def select(only: Iterable[str] = (), skip: Iterable[str] = ()) -> list[CheckSpec]:
    """The checks named by area (`vms`) or id (`vms.ready`) in `only` (all for none), less
    those `skip` names, in report order. An unknown name raises ValueError listing the areas."""
    wanted = [name.strip() for name in only if name.strip()]
    skipped = [name.strip() for name in skip if name.strip()]
    ids = {spec.id for spec in CHECKS}
    unknown = [name for name in (*wanted, *skipped) if name not in AREAS and name not in ids]
    if unknown:
        raise ValueError(
            f"unknown area or check {unknown[0]!r} (areas: {', '.join(AREAS)}; or a check id "
            "such as kubevirt.feature-gates)"
        )
    return [
        spec
        for spec in CHECKS
        if (not wanted or spec.area in wanted or spec.id in wanted)
        and spec.area not in skipped
        and spec.id not in skipped
    ]


@dataclass
class DoctorReport:
    """All results of one run, in report order, with the contexts they were read from."""

    infra_context: str
    seed_context: str
    results: list[CheckResult] = field(default_factory=list)

    def get(self, check_id: str) -> CheckResult | None:
        return next((r for r in self.results if r.id == check_id), None)

    def by_area(self) -> list[tuple[str, list[CheckResult]]]:
        """(area, its results) for each area that has any, in AREAS order."""
        grouped = [(area, [r for r in self.results if r.area == area]) for area in AREAS]
        return [(area, results) for area, results in grouped if results]

    def counts(self) -> dict[Status, int]:
        return {status: sum(r.status is status for r in self.results) for status in Status}

    def with_status(self, *statuses: Status) -> list[CheckResult]:
        return [r for r in self.results if r.status in statuses]

    @property
    def exit_code(self) -> int:
        """0 when nothing fails, 1 on a failure, else 2 when a check could not run."""
        counts = self.counts()
        if counts[Status.FAILURE]:
            return EXIT_FAILURES
        if counts[Status.UNKNOWN]:
            return EXIT_NOT_CHECKED
        return EXIT_OK

    def to_dict(self) -> dict[str, Any]:
        return {
            "context": self.infra_context,
            "seed_context": self.seed_context,
            "counts": {status.value: n for status, n in self.counts().items()},
            "exit_code": self.exit_code,
            "checks": [r.to_dict() for r in self.results],
        }


def run_checks(observed: Observed, specs: Sequence[CheckSpec] | None = None) -> DoctorReport:
    """Decide every check on what was read (pure: no I/O)."""
    chosen = CHECKS if specs is None else specs
    return DoctorReport(
        observed.infra_context,
        observed.seed_context,
        [run_check(spec, observed) for spec in chosen],
    )


async def run_doctor(
    infra: Connection,
    seed: Connection | None = None,
    *,
    config: Config | None = None,
    only: Iterable[str] = (),
    skip: Iterable[str] = (),
) -> DoctorReport:
    """Read the infra cluster (and the Seed, on `seed` or else `infra`) and run the checks
    `only` names (all by default) but those `skip` names. Refused reads become "could not
    check", never errors."""
    specs = select(only, skip)
    versions = config.supported_versions if config is not None else None
    observed = await collect(infra, seed, versions=versions)
    return run_checks(observed, specs)

"""`kvtui snapshot`: one plain-text screen to paste into an incident ticket. What is wrong
right now (not-ready or cordoned nodes, unhealthy or stuck VMs, running and failed migrations)
and what the doctor fails, each section short, everything counted."""

from __future__ import annotations

from datetime import UTC, datetime

from kvtui.cluster import kinds
from kvtui.cluster.doctor import DoctorReport
from kvtui.cluster.doctor_model import CouldNotCheck, Status
from kvtui.cluster.doctor_observe import Observed
from kvtui.cluster.doctor_report import counts_line
from kvtui.cluster.doctor_vms import not_migratable, unhealthy_vmis
from kvtui.cluster.views import Migration, Node, Vmi

SECTION_LIMIT = 6  # lines per section before "… and N more"


def _rows(lines: list[str]) -> list[str]:
    shown = lines[:SECTION_LIMIT] if len(lines) <= SECTION_LIMIT else lines[: SECTION_LIMIT - 1]
    out = [f"  {line}" for line in shown]
    if len(lines) > len(shown):
        out.append(f"  … and {len(lines) - len(shown)} more")
    return out


def _nodes(observed: Observed) -> list[str]:
    raw = observed.maybe(kinds.NODES)
    if raw is None:
        return [f"NODES  not read: {observed.read(kinds.NODES).reason()}"]
    nodes = sorted((Node(n) for n in raw), key=lambda n: n.name)
    ready = sum(n.ready is True for n in nodes)
    cordoned = [n for n in nodes if n.unschedulable]
    bad = [n for n in nodes if n.ready is not True or n.unschedulable]
    rows = []
    for node in bad:
        state = {True: "Ready", False: "NotReady", None: "Ready unknown"}[node.ready]
        rows.append(f"{node.name}  {state}" + ("  cordoned" if node.unschedulable else ""))
    head = f"NODES  {ready}/{len(nodes)} Ready · {len(cordoned)} cordoned"
    return [head, *_rows(rows)]


def _vms(observed: Observed) -> list[str]:
    try:
        unhealthy = unhealthy_vmis(observed)
        stuck = not_migratable(observed)
    except CouldNotCheck as exc:
        return [f"VMS  not read: {exc}"]
    vmis = [Vmi(v) for v in observed.items(kinds.VMIS)]
    running = sum(v.phase == "Running" for v in vmis)
    rows = [f"unhealthy: {line}" for line in unhealthy]
    rows += [
        f"cannot live-migrate: {v.namespace}/{v.name} on {v.node}: {v.not_migratable_reason}"
        for v, _ in stuck
    ]
    head = (
        f"VMS  {running} running · {len(unhealthy)} unhealthy · "
        f"{len(stuck)} cannot live-migrate (LiveMigrate)"
    )
    return [head, *_rows(rows)]


def _migrations(observed: Observed) -> list[str]:
    raw = observed.maybe(kinds.VMIMS)
    if raw is None:
        return [f"MIGRATIONS  not read: {observed.read(kinds.VMIMS).reason()}"]
    records = sorted((Migration(m) for m in raw), key=lambda m: (m.namespace, m.name))
    running = [m for m in records if not m.final]
    failed = [m for m in records if m.phase == "Failed"]
    rows = []
    for m in running:
        route = f" {m.source_node} → {m.target_node}" if m.target_node else ""
        rows.append(f"running: {m.namespace}/{m.vmi_name}  {m.phase or 'new'}{route}  ({m.name})")
    for m in failed:
        why = m.migration_state.get("failureReason") or ""
        rows.append(f"failed: {m.namespace}/{m.vmi_name}  ({m.name})" + (f": {why}" if why else ""))
    return [f"MIGRATIONS  {len(running)} running · {len(failed)} failed", *_rows(rows)]


def _doctor(report: DoctorReport) -> list[str]:
    failures = report.with_status(Status.FAILURE)
    rows = [f"FAIL {r.id}: {r.summary}" for r in failures]
    rows += [f"UNKNOWN {r.id}: {r.reason}" for r in report.with_status(Status.UNKNOWN)]
    return [f"DOCTOR  {counts_line(report)}", *_rows(rows)]


def snapshot_text(
    observed: Observed, report: DoctorReport, *, now: float, server: str = "", version: str = ""
) -> list[str]:
    """The snapshot's lines: a header naming context, server and time, then the sections."""
    when = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    where = f"context {observed.infra_context}" + (f" ({server})" if server else "")
    head = f"kvtui snapshot · {where} · {when}" + (f" · kvtui {version}" if version else "")
    lines = [head]
    for section in (_nodes(observed), _vms(observed), _migrations(observed), _doctor(report)):
        lines += section
    lines.append("Details: kvtui doctor (evidence and fixes for every check).")
    return lines

"""VM health: VM, VMI and virt-launcher pod conditions and recent events, merged into one
report with a verdict, so an admin sees in one place why a VM is not fine."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

# Conditions whose "True" is bad news; for the rest, "False" is.
BAD_WHEN_TRUE = {
    "Paused",
    "Failure",
    "RestartRequired",
    "ManualRecoveryRequired",
    "EvictionRequested",
    "MemoryPressure",
    "DiskPressure",
    "PIDPressure",
}
NEUTRAL = {"AgentConnected", "Provisioning", "Synchronized"}


@dataclass(frozen=True)
class ConditionLine:
    source: str  # "VM", "VMI", "pod <name>"
    type: str
    status: str
    reason: str
    message: str
    since: str

    @property
    def healthy(self) -> bool:
        if self.type in NEUTRAL:
            return True
        return (self.status != "True") if self.type in BAD_WHEN_TRUE else self.status == "True"


@dataclass(frozen=True)
class EventLine:
    time: str
    type: str
    reason: str
    source: str
    message: str
    count: int = 1


@dataclass
class HealthReport:
    namespace: str
    name: str
    summary: list[tuple[str, str]] = field(default_factory=list)
    conditions: list[ConditionLine] = field(default_factory=list)
    events: list[EventLine] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return "healthy" if not self.problems else "attention"


def _conditions(source: str, obj: dict | None) -> list[ConditionLine]:
    out = []
    for cond in ((obj or {}).get("status") or {}).get("conditions") or ():
        out.append(
            ConditionLine(
                source,
                cond.get("type", ""),
                cond.get("status", ""),
                cond.get("reason", ""),
                cond.get("message", ""),
                cond.get("lastTransitionTime") or "",
            )
        )
    return out


def vm_health(
    namespace: str,
    name: str,
    vm: dict | None,
    vmi: dict | None,
    pods: Iterable[dict],
    events: Iterable[dict],
    cluster_eviction_default: str = "None",
) -> HealthReport:
    """Merge what the API knows about one VM into a report (pure: no I/O)."""
    report = HealthReport(namespace, name)
    vm_status = (vm or {}).get("status") or {}
    vmi_status = (vmi or {}).get("status") or {}
    strategy = ((vmi or {}).get("spec") or {}).get("evictionStrategy") or cluster_eviction_default
    report.summary = [
        ("Status", vm_status.get("printableStatus") or vmi_status.get("phase") or "—"),
        ("Run strategy", ((vm or {}).get("spec") or {}).get("runStrategy") or "—"),
        ("Node", vmi_status.get("nodeName") or "—"),
        ("IP", ((vmi_status.get("interfaces") or [{}])[0]).get("ipAddress") or "—"),
        ("Eviction strategy", strategy),
        ("Evacuating from", vmi_status.get("evacuationNodeName") or "—"),
    ]
    report.conditions = _conditions("VM", vm) + _conditions("VMI", vmi)
    for pod in pods:
        meta = pod.get("metadata") or {}
        phase = (pod.get("status") or {}).get("phase", "")
        if phase in ("Succeeded", "Failed"):
            continue
        report.conditions += _conditions(f"pod {meta.get('name', '')}", pod)
    for line in report.conditions:
        if not line.healthy:
            detail = f": {line.message}" if line.message else ""
            report.problems.append(
                f"{line.source} {line.type}={line.status} {line.reason}{detail}".strip()
            )
    if vm is not None and vmi is None and vm_status.get("printableStatus") != "Stopped":
        report.problems.append("the VM has no VMI")
    if strategy == "LiveMigrate" and any(
        c.type == "LiveMigratable" and c.status == "False" for c in report.conditions
    ):
        report.problems.append(
            "eviction strategy LiveMigrate but the VMI cannot live-migrate:"
            " draining its node will block"
        )
    for event in events:
        report.events.append(
            EventLine(
                event.get("lastTimestamp") or event.get("eventTime") or "",
                event.get("type", ""),
                event.get("reason", ""),
                (event.get("source") or {}).get("component") or event.get("reportingComponent", ""),
                event.get("message", ""),
                int(event.get("count") or 1),
            )
        )
        if event.get("type") == "Warning":
            report.problems.append(f"event {event.get('reason')}: {event.get('message')}")
    return report

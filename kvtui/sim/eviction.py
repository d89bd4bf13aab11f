"""The eviction API with KubeVirt's `virt-launcher-eviction-interceptor.kubevirt.io` webhook.

An eviction of a virt-launcher pod does not evict it: depending on the VMI's effective
evictionStrategy the webhook marks the VMI for evacuation (`status.evacuationNodeName`) and
answers 429, which `kubectl drain` retries every 5 s until the migration has moved the VM.
"""

from __future__ import annotations

from dataclasses import dataclass

from kvtui.sim.kubevirt import (
    VMIS,
    condition_true,
    effective_eviction_strategy,
    is_virt_launcher,
)
from kvtui.sim.selectors import label_selector_from_dict
from kvtui.sim.store import Obj, Store

WEBHOOK = "virt-launcher-eviction-interceptor.kubevirt.io"


@dataclass(frozen=True)
class Denial:
    code: int
    reason: str
    message: str


def _webhook_denial(message: str) -> Denial:
    return Denial(
        429, "TooManyRequests", f'admission webhook "{WEBHOOK}" denied the request: {message}'
    )


def admit_virt_launcher(store: Store, pod: Obj, dry_run: bool) -> Denial | None:
    """KubeVirt's pod-eviction admitter (fact sheet §6.1); None lets the eviction through."""
    phase = (pod.get("status") or {}).get("phase")
    if not is_virt_launcher(pod) or phase in ("Succeeded", "Failed"):
        return None
    meta = pod["metadata"]
    vmi_name = (meta.get("annotations") or {}).get("kubevirt.io/domain")
    vmi = store.get(VMIS, meta.get("namespace"), vmi_name or "")
    if vmi is None:
        return None
    ns_name = f'"{meta.get("namespace")}/{vmi_name}"'
    strategy = effective_eviction_strategy(store, vmi)
    migratable = condition_true(vmi, "LiveMigratable")
    if strategy == "None":
        return None
    if strategy == "LiveMigrate" and not migratable:
        return _webhook_denial(
            f"VMI {vmi_name} is configured with an eviction strategy but is not live-migratable"
        )
    if strategy == "LiveMigrateIfPossible" and not migratable:
        return None
    status = vmi.get("status") or {}
    if status.get("evacuationNodeName"):
        return _webhook_denial(
            f"Evacuation in progress: Eviction triggered evacuation of VMI {ns_name}"
        )
    node = (pod.get("spec") or {}).get("nodeName")
    if status.get("nodeName") != node:
        return _webhook_denial("Eviction request for target Pod")
    if not dry_run:

        def mark(obj: Obj) -> None:
            obj.setdefault("status", {})["evacuationNodeName"] = node

        store.mutate(VMIS, meta.get("namespace"), vmi_name or "", mark)
    return _webhook_denial(f"Eviction triggered evacuation of VMI {ns_name}")


def disruption_denial(store: Store, pod: Obj) -> Denial | None:
    """PodDisruptionBudgets: refuse when a matching budget allows no disruption now."""
    meta = pod["metadata"]
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return None
    labels = meta.get("labels") or {}
    pods = None
    for pdb in store.list("policy/poddisruptionbudgets", meta.get("namespace")):
        spec = pdb.get("spec") or {}
        selector = label_selector_from_dict(spec.get("selector"))
        if not selector.matches(labels):
            continue
        if pods is None:
            pods = store.list("/pods", meta.get("namespace"))
        healthy = sum(
            1
            for p in pods
            if selector.matches(p["metadata"].get("labels"))
            and (p.get("status") or {}).get("phase") == "Running"
            and not p["metadata"].get("deletionTimestamp")
        )
        matched = sum(1 for p in pods if selector.matches(p["metadata"].get("labels")))
        allowed = _allowed_disruptions(spec, healthy, matched)
        if allowed <= 0:
            return Denial(
                429,
                "TooManyRequests",
                "Cannot evict pod as it would violate the pod's disruption budget.",
            )
    return None


def _allowed_disruptions(spec: dict, healthy: int, expected: int) -> int:
    def resolve(value: int | str) -> int:
        if isinstance(value, str) and value.endswith("%"):
            return -(-int(value[:-1]) * expected // 100)
        return int(value)

    if "maxUnavailable" in spec:
        return resolve(spec["maxUnavailable"]) - (expected - healthy)
    return healthy - resolve(spec.get("minAvailable", 1))

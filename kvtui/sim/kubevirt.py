"""Small readers of KubeVirt state that the webhook, the controllers and the API share."""

from __future__ import annotations

from typing import Any

from kvtui.sim.store import Obj, Store, now_rfc3339

VMS = "kubevirt.io/virtualmachines"
VMIS = "kubevirt.io/virtualmachineinstances"
VMIMS = "kubevirt.io/virtualmachineinstancemigrations"
KUBEVIRTS = "kubevirt.io/kubevirts"
PODS = "/pods"

# Defaults of spec.configuration.migrations (fact sheet §6.5).
MIGRATION_DEFAULTS: dict[str, Any] = {
    "parallelMigrationsPerCluster": 5,
    "parallelOutboundMigrationsPerNode": 2,
    "bandwidthPerMigration": "0Mi",
    "completionTimeoutPerGiB": 150,
    "progressTimeout": 150,
    "allowAutoConverge": False,
    "allowPostCopy": False,
    "nodeDrainTaintKey": "kubevirt.io/drain",
}
FINAL_VMI_PHASES = ("Succeeded", "Failed")
FINAL_VMIM_PHASES = ("Succeeded", "Failed")


def kubevirt_cr(store: Store) -> Obj | None:
    items = store.list(KUBEVIRTS)
    return items[0] if items else None


def cluster_config(store: Store) -> dict:
    cr = kubevirt_cr(store)
    return ((cr or {}).get("spec") or {}).get("configuration") or {}


def migration_config(store: Store) -> dict[str, Any]:
    return {**MIGRATION_DEFAULTS, **(cluster_config(store).get("migrations") or {})}


def effective_eviction_strategy(store: Store, vmi: Obj) -> str:
    """VMI value, else the cluster-wide value, else KubeVirt's built-in default `None`."""
    return (
        (vmi.get("spec") or {}).get("evictionStrategy")
        or cluster_config(store).get("evictionStrategy")
        or "None"
    )


def condition(obj: Obj, ctype: str) -> dict | None:
    for cond in (obj.get("status") or {}).get("conditions") or ():
        if cond.get("type") == ctype:
            return cond
    return None


def condition_true(obj: Obj, ctype: str) -> bool:
    cond = condition(obj, ctype)
    return bool(cond and cond.get("status") == "True")


def set_condition(
    obj: Obj, ctype: str, status: str, now: float, reason: str = "", message: str = ""
) -> None:
    """Set a condition on a mutable copy; keeps lastTransitionTime when the status holds."""
    conds = obj.setdefault("status", {}).setdefault("conditions", [])
    for cond in conds:
        if cond.get("type") == ctype:
            if cond.get("status") != status:
                cond["lastTransitionTime"] = now_rfc3339(now)
            cond.update(status=status, reason=reason, message=message)
            cond["lastProbeTime"] = None
            if not reason:
                cond.pop("reason")
            if not message:
                cond.pop("message")
            return
    cond = {
        "type": ctype,
        "status": status,
        "lastProbeTime": None,
        "lastTransitionTime": now_rfc3339(now),
    }
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    conds.append(cond)


def remove_condition(obj: Obj, ctype: str) -> None:
    status = obj.get("status") or {}
    if status.get("conditions"):
        status["conditions"] = [c for c in status["conditions"] if c.get("type") != ctype]


def is_virt_launcher(pod: Obj) -> bool:
    return (pod["metadata"].get("labels") or {}).get("kubevirt.io") == "virt-launcher"

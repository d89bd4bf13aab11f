"""Pod arithmetic shared by the scheduler, kubelet, virt-controller and metrics.

Resource amounts are plain ints in one unit per resource (cpu in millicores, memory and storage
in bytes, everything else as a count), so the scheduler can keep running totals with `+` and `-`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from kvtui.sim.quantity import bytes_of, cpu_millis, parse_quantity
from kvtui.sim.store import Store, now_rfc3339

Obj = dict[str, Any]
Resources = dict[str, int]

TERMINATED_PHASES = frozenset({"Succeeded", "Failed"})
COMPUTE_RESOURCES = ("cpu", "memory")
# kube-scheduler scores pods that request nothing as if they asked for this much.
DEFAULT_MILLI_CPU_REQUEST = 100
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024


def rfc3339(ts: float) -> str:
    """`now_rfc3339`, memoised per second (controllers stamp thousands of objects per step)."""
    return _rfc3339_second(int(ts))


@lru_cache(maxsize=8)
def _rfc3339_second(second: int) -> str:
    return now_rfc3339(second)


def pod_is_terminated(pod: Obj) -> bool:
    """True once the pod's containers are done for good (phase Succeeded or Failed)."""
    return (pod.get("status") or {}).get("phase") in TERMINATED_PHASES


@lru_cache(maxsize=8192)
def resource_amount(resource: str, value: str | int | float) -> int:
    """One quantity as an int: millicores for cpu, bytes for memory/storage, else a count.

    A malformed quantity counts as 0 (validation rejects them at the API; this is a fallback).
    """
    try:
        if resource == "cpu":
            return cpu_millis(value)
        if resource in ("memory", "ephemeral-storage") or resource.startswith("hugepages-"):
            return bytes_of(value)
        return math.ceil(parse_quantity(value))
    except ValueError:
        return 0


def resource_list(resources: dict[str, Any] | None) -> Resources:
    """A ResourceList (`{"cpu": "500m", ...}`) as ints."""
    if not resources:
        return {}
    return {name: resource_amount(name, _hashable(v)) for name, v in resources.items()}


def container_requests(container: Obj) -> Resources:
    """Requests of one container; a resource with only a limit requests its limit."""
    res = container.get("resources") or {}
    out = resource_list(res.get("limits"))
    out.update(resource_list(res.get("requests")))
    return out


def pod_requests(pod: Obj) -> Resources:
    """What the scheduler charges a node for this pod, computed like Kubernetes does.

    Containers (and sidecar init containers) add up; ordinary init containers run one at a time,
    so only the largest counts; `spec.overhead` comes on top; every pod takes one `pods` slot.
    """
    spec = pod.get("spec") or {}
    total: Resources = {}
    for container in spec.get("containers") or ():
        _add(total, container_requests(container))
    sidecars: Resources = {}
    init_max: Resources = {}
    for container in spec.get("initContainers") or ():
        req = container_requests(container)
        if container.get("restartPolicy") == "Always":
            _add(sidecars, req)
            _add(total, req)
            step = dict(sidecars)
        else:
            step = dict(req)
            _add(step, sidecars)
        for name, amount in step.items():
            if amount > init_max.get(name, 0):
                init_max[name] = amount
    for name, amount in init_max.items():
        if amount > total.get(name, 0):
            total[name] = amount
    _add(total, resource_list(spec.get("overhead")))
    total["pods"] = 1
    return total


def qos_class(pod: Obj) -> str:
    """Guaranteed, Burstable or BestEffort, by the rules of `kubectl describe pod`."""
    spec = pod.get("spec") or {}
    requests: Resources = {}
    limits: Resources = {}
    guaranteed = True
    for container in [*(spec.get("containers") or ()), *(spec.get("initContainers") or ())]:
        res = container.get("resources") or {}
        lim = {
            k: v
            for k, v in resource_list(res.get("limits")).items()
            if k in COMPUTE_RESOURCES and v
        }
        req = {
            k: v
            for k, v in resource_list(res.get("requests")).items()
            if k in COMPUTE_RESOURCES and v
        }
        _add(limits, lim)
        _add(requests, {**lim, **req})
        if len(lim) < len(COMPUTE_RESOURCES):
            guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    if guaranteed and requests == limits:
        return "Guaranteed"
    return "Burstable"


def get_condition(obj: Obj, kind: str) -> Obj | None:
    for condition in (obj.get("status") or {}).get("conditions") or ():
        if condition.get("type") == kind:
            return condition
    return None


def set_condition(obj: Obj, condition: Obj, stamp: str) -> bool:
    """Set one pod-style condition in place; lastTransitionTime moves only when status does.

    Returns whether anything changed.
    """
    conditions = obj.setdefault("status", {}).setdefault("conditions", [])
    for i, current in enumerate(conditions):
        if current.get("type") == condition["type"]:
            moved = current.get("status") != condition["status"]
            new = {
                **current,
                **condition,
                "lastProbeTime": current.get("lastProbeTime"),
                "lastTransitionTime": stamp if moved else current.get("lastTransitionTime"),
            }
            for optional in ("reason", "message"):
                if optional not in condition:
                    new.pop(optional, None)
            if new == current:
                return False
            conditions[i] = new
            return True
    conditions.append({**condition, "lastProbeTime": None, "lastTransitionTime": stamp})
    return True


def update(store: Store, key: str, obj: Obj, change: Callable[[Obj], Any]) -> Obj:
    """Store `change` applied to a copy of `obj` (the current stored version); skip no-ops.

    Unlike `Store.mutate` this copies only what a status writer edits in place (metadata with
    labels and annotations, spec, status and its conditions list), so a write costs the store's
    one deep copy instead of two. `change` must replace, not edit, anything deeper; it may
    return False to skip the write.
    """
    new = dict(obj)
    meta = new["metadata"] = dict(obj["metadata"])
    for part in ("labels", "annotations"):
        if part in meta:
            meta[part] = dict(meta[part])
    if "spec" in obj:
        new["spec"] = dict(obj["spec"])
    if "status" in obj:
        status = new["status"] = dict(obj["status"])
        if "conditions" in status:
            status["conditions"] = list(status["conditions"])
    if change(new) is False or new == obj:
        return obj
    return store.replace(key, new, check_rv=False)


def _add(into: Resources, more: Resources) -> None:
    for name, amount in more.items():
        into[name] = into.get(name, 0) + amount


def _hashable(value: Any) -> str | int | float:
    return value if isinstance(value, str | int | float) else str(value)

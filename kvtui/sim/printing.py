"""Server-side printing: `meta.k8s.io/v1 Table` responses, which `kubectl get` asks for.

Core kinds get the columns kube-apiserver prints for them; the others get their CRD's
additionalPrinterColumns from `resources.py`.
"""

from __future__ import annotations

import calendar
import time
from typing import Any

from kvtui.sim.resources import Column, Resource
from kvtui.sim.store import Obj

NAME_COLUMN = {
    "name": "Name",
    "type": "string",
    "format": "name",
    "priority": 0,
    "description": "Name must be unique within a namespace.",
}
AGE_COLUMN = {
    "name": "Age",
    "type": "date",
    "format": "",
    "priority": 0,
    "description": "CreationTimestamp is a timestamp representing the server time.",
}


def lookup(obj: Any, path: str) -> Any:
    """Resolve `a.b.0.c`; `conditions[Type]` picks a condition's status."""
    cur = obj
    for part in path.split("."):
        if cur is None:
            return None
        if part.endswith("]") and "[" in part:
            field, _, ctype = part[:-1].partition("[")
            conds = cur.get(field) if isinstance(cur, dict) else None
            cur = next((c.get("status") for c in conds or () if c.get("type") == ctype), None)
        elif isinstance(cur, list):
            idx = int(part) if part.isdigit() else -1
            cur = cur[idx] if 0 <= idx < len(cur) else None
        elif isinstance(cur, dict):
            cur = cur.get(part)
        else:
            return None
    return cur


def human_age(created: str | None, now: float) -> str:
    """kubectl's short duration: 45s, 12m, 3h4m, 5d, 2y."""
    if not created:
        return "<unknown>"
    try:
        then = calendar.timegm(time.strptime(created, "%Y-%m-%dT%H:%M:%SZ"))
    except ValueError:
        return "<invalid>"
    secs = max(0, int(now - then))
    if secs < 120:
        return f"{secs}s"
    mins = secs // 60
    if mins < 10:
        return f"{mins}m{secs % 60}s" if secs % 60 else f"{mins}m"
    if mins < 180:
        return f"{mins}m"
    hours = mins // 60
    if hours < 8:
        return f"{hours}h{mins % 60}m" if mins % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if days < 8:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if days < 365 * 2:
        return f"{days}d"
    return f"{days // 365}y"


def _cond(obj: Obj, ctype: str) -> str | None:
    for c in (obj.get("status") or {}).get("conditions") or ():
        if c.get("type") == ctype:
            return c.get("status")
    return None


def _node_cells(node: Obj, now: float) -> tuple[list[dict], list[Any]]:
    labels = node["metadata"].get("labels") or {}
    ready = _cond(node, "Ready")
    status = "Ready" if ready == "True" else "NotReady" if ready == "False" else "Unknown"
    if (node.get("spec") or {}).get("unschedulable"):
        status += ",SchedulingDisabled"
    roles = sorted(k.partition("/")[2] for k in labels if k.startswith("node-role.kubernetes.io/"))
    info = (node.get("status") or {}).get("nodeInfo") or {}
    addrs = {
        a.get("type"): a.get("address") for a in (node.get("status") or {}).get("addresses") or ()
    }
    cols = [
        _col("Status"),
        _col("Roles"),
        AGE_COLUMN,
        _col("Version"),
        _col("Internal-IP", 1),
        _col("External-IP", 1),
        _col("OS-Image", 1),
        _col("Kernel-Version", 1),
        _col("Container-Runtime", 1),
    ]
    cells = [
        status,
        ",".join(roles) or "<none>",
        human_age(node["metadata"].get("creationTimestamp"), now),
        info.get("kubeletVersion", ""),
        addrs.get("InternalIP", "<none>"),
        addrs.get("ExternalIP", "<none>"),
        info.get("osImage", ""),
        info.get("kernelVersion", ""),
        info.get("containerRuntimeVersion", ""),
    ]
    return cols, cells


def pod_status_reason(pod: Obj) -> str:
    """The STATUS column kubectl shows for a pod."""
    status = pod.get("status") or {}
    if pod["metadata"].get("deletionTimestamp"):
        return "Terminating"
    reason = status.get("reason") or status.get("phase") or "Pending"
    for cs in status.get("containerStatuses") or ():
        state = cs.get("state") or {}
        if "waiting" in state and state["waiting"].get("reason"):
            reason = state["waiting"]["reason"]
        elif "terminated" in state and state["terminated"].get("reason"):
            reason = state["terminated"]["reason"]
    if status.get("phase") == "Succeeded":
        reason = "Completed"
    return reason


def _pod_cells(pod: Obj, now: float) -> tuple[list[dict], list[Any]]:
    status = pod.get("status") or {}
    containers = (pod.get("spec") or {}).get("containers") or ()
    statuses = status.get("containerStatuses") or ()
    ready = sum(1 for cs in statuses if cs.get("ready"))
    restarts = sum(int(cs.get("restartCount", 0)) for cs in statuses)
    gates = (pod.get("spec") or {}).get("readinessGates") or ()
    cols = [
        _col("Ready"),
        _col("Status"),
        _col("Restarts", 0, "string"),
        AGE_COLUMN,
        _col("IP", 1),
        _col("Node", 1),
        _col("Nominated Node", 1),
        _col("Readiness Gates", 1),
    ]
    cells = [
        f"{ready}/{len(containers)}",
        pod_status_reason(pod),
        str(restarts),
        human_age(pod["metadata"].get("creationTimestamp"), now),
        status.get("podIP") or "<none>",
        (pod.get("spec") or {}).get("nodeName") or "<none>",
        "<none>",
        f"{len(gates)}/{len(gates)}" if gates else "<none>",
    ]
    return cols, cells


def _col(name: str, priority: int = 0, ctype: str = "string") -> dict:
    return {"name": name, "type": ctype, "format": "", "priority": priority, "description": ""}


def _generic_cells(res: Resource, obj: Obj, now: float) -> tuple[list[dict], list[Any]]:
    cols: list[dict] = []
    cells: list[Any] = []
    columns: tuple[Column, ...] = res.columns
    # kube-apiserver prints Age last for CRDs unless the CRD places it; follow CRD order.
    for c in columns:
        cols.append(_col(c.name, c.priority, c.type if c.type != "date" else "date"))
        value = lookup(obj, c.path)
        if isinstance(value, dict):
            value = _compact_selector(value)
        elif c.type == "date" and isinstance(value, str):
            value = human_age(value, now)
        cells.append(value)
    cols.append(AGE_COLUMN)
    cells.append(human_age(obj["metadata"].get("creationTimestamp"), now))
    return cols, cells


def _compact_selector(sel: dict) -> str:
    labels = sel.get("matchLabels") or {}
    text = ",".join(f"{k}={v}" for k, v in labels.items())
    return text or "<none>"


PRINTERS = {"/nodes": _node_cells, "/pods": _pod_cells}


def table(res: Resource, objects: list[Obj], now: float, include: str, list_meta: dict) -> dict:
    """Build a Table; `include` is the `includeObject` parameter (None|Metadata|Object)."""
    printer = PRINTERS.get(res.key)
    columns: list[dict] | None = None
    rows = []
    for obj in objects:
        cols, cells = printer(obj, now) if printer else _generic_cells(res, obj, now)
        columns = columns or cols
        row: dict[str, Any] = {"cells": [obj["metadata"]["name"], *cells]}
        if include == "Object":
            row["object"] = obj
        elif include != "None":
            row["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj["metadata"],
            }
        rows.append(row)
    if columns is None:
        columns = (
            printer({"metadata": {"name": ""}}, now)[0]
            if printer
            else _generic_cells(res, {"metadata": {"name": ""}}, now)[0]
        )
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": [NAME_COLUMN, *columns],
        "rows": rows,
    }

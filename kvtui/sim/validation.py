"""Schema checks the real API server (or a CRD's OpenAPI schema) would make on writes.

Only the mistakes clients really make are covered; each problem is (field path, value, detail).
"""

from __future__ import annotations

from typing import Any

from kvtui.sim.quantity import parse_quantity
from kvtui.sim.resources import Resource

Problem = tuple[str, Any, str]


def _required(obj: dict, path: str) -> Problem | None:
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, dict) or cur.get(part) in (None, ""):
            return (path, None, "Required value")
        cur = cur[part]
    return None


def _quantity(obj: dict, path: str) -> Problem | None:
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    try:
        parse_quantity(cur)
    except (ValueError, TypeError):
        return (
            path,
            cur,
            "quantities must match the regular expression "
            "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
        )
    return None


def _positive_int(obj: dict, path: str) -> Problem | None:
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    if isinstance(cur, bool) or not isinstance(cur, int) or cur < 1:
        return (path, cur, "must be an integer greater than or equal to 1")
    return None


def _enum(obj: dict, path: str, allowed: tuple[str, ...]) -> Problem | None:
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    if cur not in allowed:
        quoted = ", ".join(f'"{a}"' for a in allowed)
        return (path, cur, f"supported values: {quoted}")
    return None


def _string_map(obj: dict, path: str) -> list[Problem | None]:
    """A `map[string]string` field (a node selector): every value must be a string."""
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return []
        cur = cur[part]
    if not isinstance(cur, dict):
        return [(path, cur, f"{path} in body must be of type object")]
    return [
        (f"{path}.{key}", value, f"{path}.{key} in body must be of type string")
        for key, value in cur.items()
        if not isinstance(value, str)
    ]


EVICTION_STRATEGIES = ("None", "LiveMigrate", "LiveMigrateIfPossible", "External")
RUN_STRATEGIES = ("Always", "Halted", "Manual", "RerunOnFailure", "Once", "WaitAsReceiver")


def _checks(res: Resource, body: dict) -> list[Problem | None]:
    kind = res.kind
    if kind == "Pod":
        containers = (body.get("spec") or {}).get("containers")
        if not isinstance(containers, list) or not containers:
            return [("spec.containers", None, "Required value")]
        return [
            (f"spec.containers[{i}].name", None, "Required value")
            if not isinstance(c, dict) or not c.get("name")
            else None
            for i, c in enumerate(containers)
        ]
    if kind in ("VirtualMachineInstancetype", "VirtualMachineClusterInstancetype"):
        return [
            _required(body, "spec.cpu.guest"),
            _required(body, "spec.memory.guest"),
            _positive_int(body, "spec.cpu.guest"),
            _quantity(body, "spec.memory.guest"),
        ]
    if kind == "VirtualMachine":
        return [
            _required(body, "spec.template"),
            _enum(body, "spec.runStrategy", RUN_STRATEGIES),
            _enum(body, "spec.template.spec.evictionStrategy", EVICTION_STRATEGIES),
        ]
    if kind == "VirtualMachineInstance":
        return [
            _required(body, "spec.domain"),
            _enum(body, "spec.evictionStrategy", EVICTION_STRATEGIES),
        ]
    if kind == "VirtualMachineInstanceMigration":
        return [_required(body, "spec.vmiName"), *_string_map(body, "spec.addedNodeSelector")]
    if kind == "Node":
        return [_quantity(body, f"status.allocatable.{r}") for r in ("cpu", "memory")]
    if kind == "KubeVirt":
        migrations = "spec.configuration.migrations"
        return [
            _positive_int(body, f"{migrations}.parallelMigrationsPerCluster"),
            _positive_int(body, f"{migrations}.parallelOutboundMigrationsPerNode"),
            _quantity(body, f"{migrations}.bandwidthPerMigration"),
            _enum(body, "spec.configuration.evictionStrategy", EVICTION_STRATEGIES),
        ]
    if kind == "Seed":
        return [_required(body, "spec.kubeconfig")]
    return []


def validate(res: Resource, body: dict) -> list[Problem]:
    """Problems with `body` as an object of `res`; empty when it is acceptable."""
    return [p for p in _checks(res, body) if p is not None]

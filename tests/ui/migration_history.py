"""Finished migrations with fixed names and times, put straight into a simulated cluster.

A migration the simulator runs takes its times from a clock that keeps moving, so a picture of
one would differ every run. These are what such migrations leave behind (a user's migration to
a chosen node, a drain's evacuation, one that failed), stamped relative to the app's pinned
clock; the simulator's controllers leave finished migrations alone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from kvtui.sim.runner import SimHandle
from kvtui.sim.store import now_rfc3339
from tests.ui.conftest import APP_NOW

VMIS = "kubevirt.io/virtualmachineinstances"
VMIMS = "kubevirt.io/virtualmachineinstancemigrations"
WORKERS = ("kv-node-1", "kv-node-2", "kv-node-3", "kv-node-4")
# Seconds after creation each phase began, for a quick pre-copy of a small guest.
PHASES = (
    ("Pending", 0),
    ("Scheduling", 1),
    ("Scheduled", 3),
    ("PreparingTarget", 3),
    ("TargetReady", 4),
    ("Running", 4),
)


def _migration(
    name: str,
    vmi: dict,
    created: float,
    source: str,
    target: str,
    ended: float,
    failure: str = "",
) -> dict:
    namespace, vmi_name = vmi["metadata"]["namespace"], vmi["metadata"]["name"]
    final = "Failed" if failure else "Succeeded"
    stamps = [*PHASES, (final, ended)]
    state = {
        "sourceNode": source,
        "targetNode": target,
        "startTimestamp": now_rfc3339(created + 4),
        "endTimestamp": now_rfc3339(created + ended),
        "completed": True,
        "failed": bool(failure),
        "mode": "PreCopy",
    }
    if failure:
        state["failureReason"] = failure
    return {
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachineInstanceMigration",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"kubevirt.io/vmi-name": vmi_name},
        },
        "spec": {"vmiName": vmi_name},
        "status": {
            "phase": final,
            "phaseTransitionTimestamps": [
                {"phase": phase, "phaseTransitionTimestamp": now_rfc3339(created + at)}
                for phase, at in stamps
            ],
            "migrationState": state,
        },
    }


def history(sim: SimHandle) -> list[tuple[float, dict]]:
    """(creation time, object) of three finished migrations of VMIs the scenario runs."""
    vmis = sorted(
        sim.call(lambda: sim.simulator.store.list(VMIS)), key=lambda v: v["metadata"]["name"]
    )

    def first(prefix: str) -> tuple[dict, str, str]:
        """A VMI, the node it runs on, and another worker node."""
        vmi = next(v for v in vmis if v["metadata"]["name"].startswith(prefix))
        node = vmi["status"]["nodeName"]
        return vmi, node, next(n for n in WORKERS if n != node)

    worker, node, elsewhere = first("prod-eu-workers-")
    chosen = _migration("kubevirt-migrate-vm-7xk2p", worker, APP_NOW - 3600, elsewhere, node, 16)
    chosen["spec"]["addedNodeSelector"] = {"kubernetes.io/hostname": node}

    frontend, node, elsewhere = first("prod-eu-frontend-")
    evacuated = _migration(
        "kubevirt-evacuation-m4q8z", frontend, APP_NOW - 7200, elsewhere, node, 23
    )
    evacuated["metadata"]["annotations"] = {"kubevirt.io/evacuationMigration": elsewhere}
    evacuated["spec"]["priority"] = "system-critical"

    staging, node, elsewhere = first("staging-md-")
    failed = _migration(
        "kubevirt-migrate-vm-b9w3t",
        staging,
        APP_NOW - 600,
        node,
        elsewhere,
        155,
        failure="Live migration stuck for 150 sec and has been aborted",
    )
    return [(APP_NOW - 3600, chosen), (APP_NOW - 7200, evacuated), (APP_NOW - 600, failed)]


@contextlib.contextmanager
def recorded_migrations(sim: SimHandle) -> Iterator[list[dict]]:
    """The finished migrations of `history` in the cluster for the duration, then gone."""
    entries = history(sim)

    def load() -> None:
        store = sim.simulator.store
        clock = store.clock
        try:
            for created, obj in entries:
                store.clock = lambda at=created: at  # creationTimestamp comes from the clock
                store.create(VMIMS, obj)
        finally:
            store.clock = clock

    def remove() -> None:
        for _, obj in entries:
            meta = obj["metadata"]
            sim.simulator.store.delete(VMIMS, meta["namespace"], meta["name"])

    sim.call(load)
    try:
        yield [obj for _, obj in entries]
    finally:
        sim.call(remove)

"""Migrations against a cluster of this module's own: migrate to a chosen node, cancel, refuse,
and read a running migration's progress from the virt-handler metrics."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from kvtui.cluster import kinds
from kvtui.cluster.audit import AuditLog
from kvtui.cluster.config import Config
from kvtui.cluster.connection import Connection
from kvtui.cluster.errors import KubeError, NotFound
from kvtui.cluster.migration_metrics import (
    converging,
    percent_done,
    scrape_migrations,
    virt_handler_pods,
)
from kvtui.cluster.migrations import MigrationRefused, cancel_migration, migrate_vmi
from kvtui.cluster.session import Session, Target
from kvtui.cluster.views import Migration, Vmi
from kvtui.sim.runner import SimHandle

WORKERS = ("kv-node-1", "kv-node-2", "kv-node-3", "kv-node-4")
NOT_MIGRATABLE = "staging-db-"  # RWO local-path disk in the default scenario


@pytest.fixture
async def conn(fresh_sim: SimHandle) -> AsyncIterator[Connection]:
    connection = await Connection.open(str(fresh_sim.kubeconfig), fresh_sim.context)
    yield connection
    await connection.request("PUT", "/_sim/faults", body={"stall_migrations": []})
    await connection.close()


async def eventually(check: Callable[[], Awaitable[object]], what: str, timeout: float = 30.0):
    """Poll an async check until it returns something truthy; fail naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        await asyncio.sleep(0.1)


async def worker_vmi(conn: Connection, index: int) -> Vmi:
    """A prod-eu-workers VMI: live-migratable, no node affinity, only a soft spread."""
    items = (await conn.get_json(kinds.VMIS.path()))["items"]
    workers = sorted(
        (Vmi(v) for v in items if v["metadata"]["name"].startswith("prod-eu-workers-")),
        key=lambda v: v.name,
    )
    return workers[index]


async def vmi_node(conn: Connection, vmi: Vmi) -> str:
    return Vmi(await conn.get_json(kinds.VMIS.path(*vmi.key))).node


async def migration(conn: Connection, created: dict) -> Migration | None:
    meta = created["metadata"]
    try:
        return Migration(await conn.get_json(kinds.VMIMS.path(meta["namespace"], meta["name"])))
    except NotFound:
        return None


async def in_phase(conn: Connection, created: dict, phase: str) -> Migration:
    async def check() -> Migration | None:
        found = await migration(conn, created)
        return found if found is not None and found.phase == phase else None

    return await eventually(check, f"the migration to reach {phase}")


async def test_migrate_to_a_chosen_node(conn: Connection) -> None:
    vmi = await worker_vmi(conn, 0)
    chosen = next(n for n in WORKERS if n != vmi.node)
    created = await migrate_vmi(conn, vmi.namespace, vmi.name, target_node=chosen)
    assert created["metadata"]["name"].startswith("kubevirt-migrate-vm-")
    assert created["spec"] == {
        "vmiName": vmi.name,
        "addedNodeSelector": {"kubernetes.io/hostname": chosen},
    }
    done = await in_phase(conn, created, "Succeeded")
    assert (done.source_node, done.target_node) == (vmi.node, chosen)
    assert await vmi_node(conn, vmi) == chosen

    # Finished: nothing left to cancel, and the refusal says so.
    with pytest.raises(MigrationRefused) as refused:
        await cancel_migration(conn, done.namespace, done.name)
    assert str(refused.value) == (
        f'refused: cannot cancel virtualmachineinstancemigrations "{done.namespace}/'
        f'{done.name}": it has already ended (Succeeded); only a migration in flight can be '
        "cancelled"
    )
    assert await migration(conn, created) is not None


async def test_migrate_to_any_node(conn: Connection) -> None:
    vmi = await worker_vmi(conn, 1)
    created = await migrate_vmi(conn, vmi.namespace, vmi.name)
    assert "addedNodeSelector" not in created["spec"]
    done = await in_phase(conn, created, "Succeeded")
    assert done.target_node != vmi.node and await vmi_node(conn, vmi) == done.target_node


async def test_no_node_matches_so_it_stays_in_scheduling(conn: Connection) -> None:
    vmi = await worker_vmi(conn, 2)
    created = await migrate_vmi(conn, vmi.namespace, vmi.name, target_node="kv-node-99")
    await in_phase(conn, created, "Scheduling")
    await asyncio.sleep(2.0)  # 20 simulated seconds: the target pod finds no node
    stuck = await migration(conn, created)
    assert stuck is not None and stuck.phase == "Scheduling" and not stuck.target_node
    assert stuck.requested_node == "kv-node-99"
    pod = await conn.get_json(kinds.PODS.path(vmi.namespace, stuck.migration_state["targetPod"]))
    assert pod["status"]["phase"] == "Pending"
    scheduled = [c for c in pod["status"]["conditions"] if c["type"] == "PodScheduled"]
    assert scheduled[0]["reason"] == "Unschedulable"
    # Cancelling one that never started moving is fine too.
    await cancel_migration(conn, stuck.namespace, stuck.name)
    await eventually(lambda: _gone(conn, created), "the cancelled migration to go away", timeout=15)
    assert await vmi_node(conn, vmi) == vmi.node


async def _gone(conn: Connection, created: dict) -> bool:
    return await migration(conn, created) is None


async def test_cancel_a_running_migration_and_watch_its_progress(conn: Connection) -> None:
    vmi = await worker_vmi(conn, 0)
    source = await vmi_node(conn, vmi)
    await conn.request("PUT", "/_sim/faults", body={"stall_migrations": [vmi.name]})
    created = await migrate_vmi(conn, vmi.namespace, vmi.name)
    running = await in_phase(conn, created, "Running")

    pods = (await conn.get_json(kinds.PODS.path("kubevirt")))["items"]
    handlers = virt_handler_pods(pods, {running.source_node})
    assert len(handlers) == 1 and handlers[0][1].startswith("virt-handler-")
    # A handler that does not exist is skipped, not an error.
    handlers_and_a_ghost = [*handlers, ("kubevirt", "virt-handler-ghost")]

    async def sample():
        found = await scrape_migrations(conn, handlers_and_a_ghost)
        return found.get(vmi.key)

    async def moving():
        # The first sample can come before the first byte has moved (seen under load).
        found = await sample()
        return found if found is not None and found.processed_bytes > 0 else None

    first = await eventually(moving, "a migration sample with data moved")
    assert first.processed_bytes > 0 and first.remaining_bytes > 0
    assert first.dirty_rate > first.transfer_rate > 0  # stalled: the guest dirties faster
    assert 0 < percent_done(first) < 100
    await asyncio.sleep(0.5)
    second = await sample()
    assert second is not None and second.processed_bytes > first.processed_bytes
    assert converging(second, first) is False

    # A dry run checks and changes nothing.
    await cancel_migration(conn, running.namespace, running.name, dry_run=True)
    assert (await migration(conn, created)).phase == "Running"

    await cancel_migration(conn, running.namespace, running.name)
    await eventually(lambda: _gone(conn, created), "the cancelled migration to go away")
    assert await vmi_node(conn, vmi) == source
    assert await scrape_migrations(conn, handlers) == {}


async def test_refusals_say_why(conn: Connection) -> None:
    items = (await conn.get_json(kinds.VMIS.path()))["items"]
    pinned = next(Vmi(v) for v in items if v["metadata"]["name"].startswith(NOT_MIGRATABLE))
    with pytest.raises(MigrationRefused, match="it is not live-migratable: "):
        await migrate_vmi(conn, pinned.namespace, pinned.name)
    vmi = await worker_vmi(conn, 2)
    with pytest.raises(MigrationRefused, match=f"it already runs on {vmi.node}"):
        await migrate_vmi(conn, vmi.namespace, vmi.name, target_node=vmi.node)
    with pytest.raises(NotFound):
        await migrate_vmi(conn, vmi.namespace, "no-such-vmi")
    with pytest.raises(NotFound):
        await cancel_migration(conn, vmi.namespace, "no-such-migration")


async def test_dry_run_migration_creates_nothing(conn: Connection) -> None:
    vmi = await worker_vmi(conn, 2)
    before = (await conn.get_json(kinds.VMIMS.path(vmi.namespace)))["items"]
    chosen = next(n for n in WORKERS if n != vmi.node)
    answer = await migrate_vmi(conn, vmi.namespace, vmi.name, target_node=chosen, dry_run=True)
    assert answer["spec"]["vmiName"] == vmi.name
    after = (await conn.get_json(kinds.VMIMS.path(vmi.namespace)))["items"]
    assert len(after) == len(before)


async def test_session_passes_the_node_and_audits_it(fresh_sim: SimHandle, tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl")
    session = await Session.open(
        str(fresh_sim.kubeconfig), fresh_sim.context, config=Config(), audit=audit
    )
    try:
        vmi = await worker_vmi(session.connection, 2)
        chosen = next(n for n in WORKERS if n != vmi.node)
        target = Target("vm", vmi.name, vmi.namespace)
        (result,) = await session.run_operation(
            "vm_migrate_to", [target], dry_run=True, params={"target_node": chosen}
        )
        assert result.error is None
        (result,) = await session.run_operation(
            "vm_migrate_to", [target], dry_run=True, params={"target_node": vmi.node}
        )
        assert result.error == (
            f'refused: cannot migrate virtualmachineinstances "{vmi.namespace}/{vmi.name}": '
            f"it already runs on {vmi.node}"
        )
    finally:
        await session.close()
    lines = [json.loads(line) for line in audit.path.read_text().splitlines()]
    assert [(x["verb"], x["target"], x["params"], x["result"]) for x in lines] == [
        ("migrate", str(target), {"target_node": chosen}, "ok"),
        ("migrate", str(target), {"target_node": vmi.node}, "error"),
    ]
    assert all(x["dry_run"] for x in lines)


def test_refused_is_a_kube_error() -> None:
    """Screens and the CLI show any KubeError as it stands."""
    assert issubclass(MigrationRefused, KubeError)


def test_old_and_new_migration_metric_names_give_the_same_sample() -> None:
    """KubeVirt renamed the migration metrics (fact sheet §8): a handler of either age reads
    the same; where both are exported the current name wins."""
    from kvtui.cluster.migration_metrics import _parse

    def text(prefix: str, processed: int) -> str:
        labels = '{namespace="ns",name="vm"}'
        return (
            f"{prefix}_data_processed_bytes{labels} {processed}\n"
            f"{prefix}_data_remaining_bytes{labels} 300\n"
            f"{prefix}_dirty_memory_rate_bytes{labels} 50\n"
            f"{prefix}_memory_transfer_rate_bytes{labels} 70\n"
        )

    for prefix in ("kubevirt_vmi_migration", "kubevirt_migrate_vmi"):
        values: dict = {}
        _parse(text(prefix, 100), values)
        assert values[("ns", "vm")] == {
            "processed": 100,
            "remaining": 300,
            "dirty_rate": 50,
            "transfer_rate": 70,
        }
    both: dict = {}
    _parse(text("kubevirt_migrate_vmi", 1) + text("kubevirt_vmi_migration", 2), both)
    assert both[("ns", "vm")]["processed"] == 2
    both = {}
    _parse(text("kubevirt_vmi_migration", 2) + text("kubevirt_migrate_vmi", 1), both)
    assert both[("ns", "vm")]["processed"] == 2

"""Operations against a cluster of this module's own: each change is read back from the API."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest

from kvtui.cluster import kinds, operations
from kvtui.cluster.connection import Connection
from kvtui.cluster.errors import Conflict, Forbidden, NotFound
from kvtui.sim.runner import SimHandle

NODE = "kv-node-4"
BASTION = ("cluster-k4n8vb2t6w", "bastion")  # runStrategy Always in the default scenario


@pytest.fixture
async def conn(fresh_sim: SimHandle) -> AsyncIterator[Connection]:
    connection = await Connection.open(str(fresh_sim.kubeconfig), fresh_sim.context)
    yield connection
    await connection.close()


@pytest.fixture
async def viewer(fresh_sim: SimHandle) -> AsyncIterator[Connection]:
    connection = await Connection.open(str(fresh_sim.kubeconfig), fresh_sim.readonly_context)
    yield connection
    await connection.close()


async def eventually(check: Callable[[], object], timeout: float = 15.0) -> object:
    """Poll an async check until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.1)


async def printable_status(conn: Connection, namespace: str, name: str) -> str:
    vm = await conn.get_json(kinds.VMS.path(namespace, name))
    return (vm.get("status") or {}).get("printableStatus", "")


async def migratable_vm(conn: Connection) -> tuple[str, str]:
    for vmi in (await conn.get_json(kinds.VMIS.path()))["items"]:
        conditions = (vmi.get("status") or {}).get("conditions") or []
        live = any(c["type"] == "LiveMigratable" and c["status"] == "True" for c in conditions)
        if live and vmi["metadata"]["name"] != BASTION[1]:
            return vmi["metadata"]["namespace"], vmi["metadata"]["name"]
    raise AssertionError("the scenario has no live-migratable VMI")


async def migrations_of(conn: Connection, namespace: str, name: str) -> list[dict]:
    items = (await conn.get_json(kinds.VMIMS.path(namespace)))["items"]
    return [m for m in items if m["spec"].get("vmiName") == name]


async def test_cordon_and_uncordon(conn: Connection):
    node = await operations.cordon(conn, NODE)
    assert node["spec"]["unschedulable"] is True
    fresh = await conn.get_json(kinds.NODES.path(name=NODE))
    assert fresh["spec"]["unschedulable"] is True
    await operations.uncordon(conn, NODE)
    fresh = await conn.get_json(kinds.NODES.path(name=NODE))
    assert "unschedulable" not in fresh["spec"]


async def test_dry_run_cordon_changes_nothing(conn: Connection):
    await conn.request("DELETE", "/_sim/requests")
    answer = await operations.cordon(conn, NODE, dry_run=True)
    assert answer["spec"]["unschedulable"] is True
    fresh = await conn.get_json(kinds.NODES.path(name=NODE))
    assert not fresh["spec"].get("unschedulable")
    served = (await conn.get_json("/_sim/requests"))["items"]
    patches = [r for r in served if r["method"] == "PATCH"]
    assert len(patches) == 1 and "dryRun=All" in patches[0]["query"]


async def test_vm_migrate_creates_a_migration(conn: Connection):
    namespace, name = await migratable_vm(conn)
    before = len(await migrations_of(conn, namespace, name))
    assert await operations.vm_migrate(conn, namespace, name, dry_run=True) is None
    assert len(await migrations_of(conn, namespace, name)) == before
    await operations.vm_migrate(conn, namespace, name)
    after = await migrations_of(conn, namespace, name)
    assert len(after) == before + 1
    assert after[-1]["metadata"]["generateName"] == "kubevirt-migrate-vm-"


async def test_vm_stop_then_start(conn: Connection):
    namespace, name = BASTION
    assert await printable_status(conn, namespace, name) == "Running"
    await operations.vm_stop(conn, namespace, name, dry_run=True)
    vm = await conn.get_json(kinds.VMS.path(namespace, name))
    assert vm["spec"]["runStrategy"] == "Always"

    await operations.vm_stop(conn, namespace, name)

    async def stopped() -> bool:
        return await printable_status(conn, namespace, name) == "Stopped"

    assert await eventually(stopped)
    with pytest.raises(Conflict, match="VM is not running"):
        await operations.vm_stop(conn, namespace, name)

    await operations.vm_start(conn, namespace, name)

    async def running() -> bool:
        return await printable_status(conn, namespace, name) == "Running"

    assert await eventually(running)


async def test_vm_restart_makes_a_new_vmi(conn: Connection):
    namespace, name = BASTION
    old = (await conn.get_json(kinds.VMIS.path(namespace, name)))["metadata"]["uid"]
    await operations.vm_restart(conn, namespace, name, dry_run=True)
    assert (await conn.get_json(kinds.VMIS.path(namespace, name)))["metadata"]["uid"] == old
    await operations.vm_restart(conn, namespace, name)

    async def replaced() -> bool:
        try:
            vmi = await conn.get_json(kinds.VMIS.path(namespace, name))
        except NotFound:
            return False
        return vmi["metadata"]["uid"] != old

    assert await eventually(replaced)


async def test_refusals_are_readable(conn: Connection, viewer: Connection):
    with pytest.raises(Forbidden) as cordon:
        await operations.cordon(viewer, NODE)
    assert str(cordon.value).startswith(f'forbidden: cannot patch nodes "{NODE}": ')
    assert not (await conn.get_json(kinds.NODES.path(name=NODE)))["spec"].get("unschedulable")

    namespace, name = BASTION
    with pytest.raises(Forbidden) as stop:
        await operations.vm_stop(viewer, namespace, name, dry_run=True)
    assert str(stop.value).startswith(
        f'forbidden: cannot update virtualmachines/stop "{namespace}/{name}": '
    )
    with pytest.raises(NotFound, match='virtualmachines/start "default/no-such-vm"'):
        await operations.vm_start(conn, "default", "no-such-vm")

"""Drains against the simulator's default scenario, checked against the API afterwards.

Each test gets a cluster of its own (a drain changes it for good) running at 10x, so KubeVirt's
backoffs and the user-cluster drains of KKP pass in seconds. The plan's prediction for every
VM is compared with what then happened to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from kvtui.cluster import kinds
from kvtui.cluster.cache import ClusterCache
from kvtui.cluster.connection import Connection
from kvtui.cluster.drain import DrainPlan, make_plan
from kvtui.cluster.drain_journal import DrainJournal
from kvtui.cluster.drain_run import Drain, DrainOptions, State
from kvtui.cluster.session import PANE_KINDS
from kvtui.sim.runner import SimHandle, running_simulator
from tests.sim.http_helpers import Api, trusting_session

# What the plan's `expect` means as the drain's final state.
EXPECTED_STATE = {
    "migrated": State.MIGRATED,
    "replaced": State.REPLACED,
    "restarted": State.SHUT_DOWN,  # the node is empty; the restart elsewhere follows
    "shut down": State.SHUT_DOWN,
    "blocked": State.BLOCKED,
    "evicted": State.EVICTED,
}


@pytest.fixture
def cluster() -> Iterator[SimHandle]:
    with running_simulator(scenario="default", speed=10.0, seed=3) as handle:
        yield handle


@pytest.fixture
def api(cluster: SimHandle, tmp_path: Path) -> Api:
    return Api(cluster, trusting_session(cluster.kubeconfig, tmp_path))


@contextlib.asynccontextmanager
async def opened(handle: SimHandle) -> AsyncIterator[tuple[Connection, ClusterCache]]:
    conn = await Connection.open(str(handle.kubeconfig), handle.context)
    cache = ClusterCache(conn, PANE_KINDS, interval=0.05)
    await cache.start()
    assert await cache.wait_synced(30)
    try:
        yield conn, cache
    finally:
        await cache.stop()
        await conn.close()


async def items(conn: Connection, kind: kinds.Kind, **params: str) -> list[dict[str, Any]]:
    return (await conn.get_json(kind.path(), params or None)).get("items") or []


def vmi_by_name(vmis: list[dict], name: str) -> dict | None:
    return next((v for v in vmis if v["metadata"]["name"] == name), None)


def assert_predictions_held(plan: DrainPlan, drain: Drain) -> None:
    for item in drain.items:
        if not item.plan.is_vm:
            continue
        expected = {EXPECTED_STATE[item.plan.expect]}
        if item.plan.expect == "restarted":
            expected.add(State.RESTARTED)
        assert item.state in expected, (item.name, item.history)


def eviction_gaps(api: Api) -> dict[str, list[float]]:
    """Seconds between successive eviction requests for the same pod (kvtui's user only)."""
    times: dict[str, list[float]] = {}
    for r in api("GET", "/_sim/requests").json():
        if r["path"].endswith("/eviction") and r["method"] == "POST":
            times.setdefault(r["path"], []).append(r["time"])
    return {p: [b - a for a, b in itertools.pairwise(t)] for p, t in times.items()}


async def test_draining_kv_node_1_migrates_and_restarts_as_planned(
    cluster: SimHandle, api: Api, tmp_path: Path
) -> None:
    async with opened(cluster) as (conn, cache):
        plan = await make_plan(conn, cache, "kv-node-1")
        outcomes = {p.name.split("-")[0]: p.expect for p in plan.vms}
        assert outcomes == {"bastion": "restarted", "prod": "migrated"}
        before = {v["metadata"]["name"]: v for v in await items(conn, kinds.VMIS)}
        audit: list[tuple[str, str, str | None]] = []
        drain = Drain(
            conn,
            cache,
            plan,
            DrainOptions(timeout=120),
            context=cluster.context,
            journal=DrainJournal(tmp_path / "journal"),
            record=lambda verb, target, dry, err: audit.append((verb, target, err)),
        )
        verdict = await drain.run()
        assert verdict.drained, verdict.line()
        assert verdict.line().startswith("kv-node-1 drained in ")
        # The shut-down VM may be up again elsewhere before the last migration ends.
        assert re.search(
            r": 2 migrated, 0 replaced, 1 shut down( \(1 restarted\))?, 0 blocked$", verdict.line()
        )
        assert_predictions_held(plan, drain)

        node = await conn.get_json(kinds.NODES.path(name="kv-node-1"))
        assert node["spec"]["unschedulable"] is True
        for _ in range(100):  # the shut-down VM's restart elsewhere follows the drain
            vmis = await items(conn, kinds.VMIS)
            if all(
                (v := vmi_by_name(vmis, p.vmi)) and v["status"].get("phase") == "Running"
                for p in plan.vms
            ):
                break
            await asyncio.sleep(0.1)
        vmims = await items(conn, kinds.VMIMS)
        for p in plan.vms:
            now = vmi_by_name(vmis, p.vmi)
            assert now is not None and now["status"]["phase"] == "Running"
            assert now["status"]["nodeName"] != "kv-node-1"
            if p.expect == "migrated":
                assert now["metadata"]["uid"] == before[p.vmi]["metadata"]["uid"]
                assert any(
                    m["spec"]["vmiName"] == p.vmi
                    and m["metadata"]["name"].startswith("kubevirt-evacuation-")
                    and m["status"]["phase"] == "Succeeded"
                    for m in vmims
                )
            else:  # the None VM was shut down and its VM started a new VMI elsewhere
                assert now["metadata"]["uid"] != before[p.vmi]["metadata"]["uid"]
        left = await items(conn, kinds.PODS, fieldSelector="spec.nodeName=kv-node-1")
        assert all(  # only DaemonSet pods run on; migrated VMs' source pods have completed
            p["metadata"]["ownerReferences"][0]["kind"] == "DaemonSet"
            or p["status"]["phase"] == "Succeeded"
            for p in left
        )

    assert audit[0] == ("cordon", "node/kv-node-1", None)
    assert audit[-1] == ("drain", "node/kv-node-1", None)
    assert all(gap >= 4.0 for gaps in eviction_gaps(api).values() for gap in gaps)
    entry = DrainJournal(tmp_path / "journal").load(cluster.context, "kv-node-1")
    assert entry is not None and entry.status == "drained" and entry.verdict == verdict.line()


async def test_an_external_vm_is_replaced_by_kkp(cluster: SimHandle) -> None:
    async with opened(cluster) as (conn, cache):
        plan = await make_plan(conn, cache, "kv-node-2")
        [external] = [p for p in plan.vms if p.strategy == "External"]
        assert external.expect == "replaced" and "KKP deletes Machine" in external.detail
        drain = Drain(conn, cache, plan, DrainOptions(timeout=120))
        verdict = await drain.run()
        assert verdict.drained, verdict.line()
        assert_predictions_held(plan, drain)
        vmis = await items(conn, kinds.VMIS)
        assert vmi_by_name(vmis, external.vmi) is None  # deleted with its Machine
        runners = [v for v in vmis if v["metadata"]["name"].startswith("ci-runners-md-")]
        assert len(runners) == 2 and all(
            v["status"].get("nodeName") not in (None, "kv-node-2") for v in runners
        )


async def test_the_non_migratable_vm_is_blocked_in_plan_and_drain(
    cluster: SimHandle, api: Api
) -> None:
    async with opened(cluster) as (conn, cache):
        plan = await make_plan(conn, cache, "kv-node-4")
        [db] = [p for p in plan.vms if p.vmi.startswith("staging-db-")]
        assert db.expect == "blocked" and "DisksNotLiveMigratable" in db.detail
        drain = Drain(conn, cache, plan, DrainOptions(timeout=12))
        verdict = await drain.run()
        assert verdict.status == "timed out"
        assert_predictions_held(plan, drain)
        [(name, state)] = verdict.remaining
        assert name == db.vmi and "is not live-migratable" in state
        vmi = vmi_by_name(await items(conn, kinds.VMIS), db.vmi)
        assert vmi["status"]["nodeName"] == "kv-node-4" and vmi["status"]["phase"] == "Running"
    [gaps] = [g for path, g in eviction_gaps(api).items() if db.pod in path]
    assert len(gaps) >= 1 and min(gaps) >= 5.0  # retried, never sooner than 5 s


async def test_a_failed_migration_is_shown_and_retried_with_kubevirt_backoff(
    cluster: SimHandle, api: Api
) -> None:
    async with opened(cluster) as (conn, cache):
        plan = await make_plan(conn, cache, "kv-node-3")
        [victim] = [p for p in plan.vms if p.expect == "migrated"][:1]
        api("PUT", "/_sim/faults", {"fail_migrations": [victim.vmi]}).raise_for_status()
        drain = Drain(conn, cache, plan, DrainOptions(timeout=120))
        seen_failed: list[str] = []

        def watch(d: Drain, changes: list) -> None:
            for item, _ in changes:
                if item.name == victim.vmi and item.state is State.FAILED:
                    seen_failed.append(item.label)
                    api("PUT", "/_sim/faults", {"fail_migrations": []}).raise_for_status()

        drain.subscribe(watch)
        verdict = await drain.run()
        assert verdict.drained, verdict.line()
        assert seen_failed and "injected by the simulator" in seen_failed[0]
        assert "KubeVirt retries with backoff" in seen_failed[0]
        [item] = [i for i in drain.items if i.name == victim.vmi]
        assert item.state is State.MIGRATED and len(item.failed_migrations) >= 1
        ours = sorted(
            (m for m in await items(conn, kinds.VMIMS) if m["spec"]["vmiName"] == victim.vmi),
            key=lambda m: m["metadata"]["creationTimestamp"],
        )
        assert [m["status"]["phase"] for m in ours][-2:] == ["Failed", "Succeeded"]
        failed_at = ours[-2]["status"]["migrationState"]["endTimestamp"]
        retried_at = ours[-1]["metadata"]["creationTimestamp"]
        from kvtui.cluster.views import timestamp

        assert timestamp(retried_at) - timestamp(failed_at) >= 19  # KubeVirt's first backoff


async def test_cancel_mid_drain_leaves_no_half_state(cluster: SimHandle, api: Api) -> None:
    async with opened(cluster) as (conn, cache):
        plan = await make_plan(conn, cache, "kv-node-1")
        moving = [p.vmi for p in plan.vms if p.expect == "migrated"]
        api("PUT", "/_sim/faults", {"stall_migrations": moving}).raise_for_status()
        drain = Drain(conn, cache, plan, DrainOptions(timeout=120))
        running = asyncio.Event()

        def watch(d: Drain, changes: list) -> None:
            if sum(i.phase == "Running" for i in d.items) == len(moving):
                running.set()

        drain.subscribe(watch)
        task = asyncio.create_task(drain.run())
        await asyncio.wait_for(running.wait(), 30)
        problems = await drain.cancel(cancel_migrations=True, uncordon=True)
        verdict = await task
        assert problems == [] and verdict.status == "cancelled"
        api("PUT", "/_sim/faults", {"stall_migrations": []}).raise_for_status()
        await asyncio.sleep(1.0)  # 10 s of cluster time for the aborts to settle

        node = await conn.get_json(kinds.NODES.path(name="kv-node-1"))
        assert not node["spec"].get("unschedulable")
        vmis = await items(conn, kinds.VMIS)
        for name in moving:
            vmi = vmi_by_name(vmis, name)
            assert vmi["status"]["phase"] == "Running"
            assert vmi["status"]["nodeName"] == "kv-node-1"
            assert not vmi["status"].get("evacuationNodeName")
        assert all(
            m["status"].get("phase") in ("Succeeded", "Failed")
            for m in await items(conn, kinds.VMIMS)
        )
        pods = await items(conn, kinds.PODS)
        for name in moving:
            launchers = [
                p
                for p in pods
                if p["metadata"].get("annotations", {}).get("kubevirt.io/domain") == name
                and p["status"].get("phase") not in ("Succeeded", "Failed")
            ]
            assert [p["spec"]["nodeName"] for p in launchers] == ["kv-node-1"]


async def test_a_dry_run_asks_the_server_and_changes_nothing(cluster: SimHandle) -> None:
    async with opened(cluster) as (conn, cache):
        plan = await make_plan(conn, cache, "kv-node-4")
        drain = Drain(conn, cache, plan, DrainOptions(dry_run=True))
        verdict = await drain.run()
        assert verdict.status == "dry run"
        assert verdict.line() == (
            "dry run of kv-node-4: the server would evict 0 pods, start 2 evacuations "
            "(live migration or KKP replacement) and refuse 1; nothing changed"
        )
        node = await conn.get_json(kinds.NODES.path(name="kv-node-4"))
        assert not node["spec"].get("unschedulable")
        assert not any(v["status"].get("evacuationNodeName") for v in await items(conn, kinds.VMIS))
        assert await items(conn, kinds.VMIMS) == []


async def test_a_migration_with_nowhere_to_go_is_reported_stuck_with_its_reason(
    cluster: SimHandle,
) -> None:
    from kvtui.cluster import operations

    async with opened(cluster) as (conn, cache):
        others = ("kv-node-2", "kv-node-3", "kv-node-4")
        for name in others:
            await operations.cordon(conn, name)
        await asyncio.sleep(0.3)
        plan = await make_plan(conn, cache, "kv-node-1")
        frontends = [p for p in plan.vms if p.strategy == "LiveMigrate"]
        assert all(p.expect == "blocked" and "cordoned" in p.detail for p in frontends)
        drain = Drain(conn, cache, plan, DrainOptions(timeout=60, stuck_after=1.0))
        stuck: dict[str, str] = {}

        async def fix_when_stuck() -> None:
            while len(stuck) < len(frontends):
                for item in drain.items:
                    if item.stuck:
                        stuck.setdefault(item.name, item.stuck)
                await asyncio.sleep(0.1)
            await operations.uncordon(conn, "kv-node-3")  # the fix the board offers

        fixer = asyncio.create_task(fix_when_stuck())
        verdict = await asyncio.wait_for(drain.run(), 60)
        await fixer
        assert verdict.drained, verdict.line()
        for why in stuck.values():
            assert why.startswith("target pod virt-launcher-")
            assert "nodes are available" in why or "unschedulable" in why, why
        assert all(i.target == "kv-node-3" for i in drain.items if i.plan.strategy == "LiveMigrate")

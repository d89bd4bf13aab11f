"""The cache against a simulated cluster (sync, coalescing, watch faults) and against a fake
connection (forbidden kinds, relist removals, bursts) for the informer state machine."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from kvtui.cluster import kinds
from kvtui.cluster.cache import Backoff, ChangeSet, ClusterCache
from kvtui.cluster.connection import Connection
from kvtui.cluster.errors import UNREACHABLE, Expired, Unavailable, error_from_status
from kvtui.sim.runner import SimHandle, running_simulator

CACHED = [kinds.NODES, kinds.PODS, kinds.VMS, kinds.VMIS, kinds.VMIMS, kinds.KUBEVIRTS]
STORE_KEYS = {
    kinds.NODES: "/nodes",
    kinds.PODS: "/pods",
    kinds.VMS: "kubevirt.io/virtualmachines",
    kinds.VMIS: "kubevirt.io/virtualmachineinstances",
    kinds.VMIMS: "kubevirt.io/virtualmachineinstancemigrations",
    kinds.KUBEVIRTS: "kubevirt.io/kubevirts",
}
FAST = Backoff(base=0.2, cap=1.0)


@pytest.fixture(scope="module")
def busy_sim() -> Iterator[SimHandle]:
    """A cluster of this module's own (faults, churn), with enough VMIs for 100 changes."""
    with running_simulator(scenario="default", speed=10.0, seed=3, vms=110) as handle:
        yield handle


def store_versions(sim: SimHandle, kind: kinds.Kind) -> dict[tuple[str, str], str]:
    def read() -> dict[tuple[str, str], str]:
        return {
            (o["metadata"].get("namespace") or "", o["metadata"]["name"]): o["metadata"][
                "resourceVersion"
            ]
            for o in sim.simulator.store.list(STORE_KEYS[kind])
        }

    return sim.call(read)


def cache_versions(cache: ClusterCache, kind: kinds.Kind) -> dict[tuple[str, str], str]:
    return {
        (o["metadata"].get("namespace") or "", o["metadata"]["name"]): o["metadata"][
            "resourceVersion"
        ]
        for o in cache.items(kind)
    }


async def eventually(check: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.05)


async def matches_store(sim: SimHandle, cache: ClusterCache, kind: kinds.Kind) -> None:
    await eventually(
        lambda: cache_versions(cache, kind) == store_versions(sim, kind),
        what=f"{kind.name} to match the store",
    )


async def open_cache(sim: SimHandle, context: str | None = None, **options) -> ClusterCache:
    connection = await Connection.open(str(sim.kubeconfig), context or sim.context)
    cache = ClusterCache(connection, CACHED, **options)
    await cache.start()
    assert await cache.wait_synced(15), cache.states()
    return cache


async def close_cache(cache: ClusterCache) -> None:
    await cache.stop()
    await cache.connection.close()


async def admin(cache: ClusterCache, method: str, path: str, **kwargs) -> dict:
    return await cache.connection.request(method, path, **kwargs)


def recorder(cache: ClusterCache) -> list[ChangeSet]:
    seen: list[ChangeSet] = []
    cache.subscribe(seen.append)
    return seen


# -- against the simulator -----------------------------------------------------------------
async def test_syncs_every_kind_and_matches_the_store_and_kubectl(sim, kubectl):
    cache = await open_cache(sim)
    try:
        assert cache.synced()
        for kind in CACHED:
            assert cache.state(kind).phase == "synced"
            await matches_store(sim, cache, kind)
        names = set(kubectl("get", "vmi", "-A", "-o", "name").stdout.split())
        assert names == {
            f"virtualmachineinstance.kubevirt.io/{o['metadata']['name']}"
            for o in cache.items(kinds.VMIS)
        }
        nodes = set(kubectl("get", "nodes", "-o", "name").stdout.split())
        assert nodes == {f"node/{name}" for _, name in cache_versions(cache, kinds.NODES)}
        vmi = cache.items(kinds.VMIS)[0]
        assert cache.get(kinds.VMIS, vmi["metadata"]["namespace"], vmi["metadata"]["name"]) is vmi
        assert cache.get(kinds.NODES, None, "no-such-node") is None
    finally:
        await close_cache(cache)


async def test_objects_are_trimmed(sim):
    cache = await open_cache(sim)
    try:
        pod = next(p for p in cache.items(kinds.PODS) if p["spec"].get("containers"))
        assert "volumes" not in pod["spec"]
        assert all("command" not in c for c in pod["spec"]["containers"])
        assert all("imageID" not in s for s in pod["status"].get("containerStatuses", []))
        vmi = cache.items(kinds.VMIS)[0]
        assert "devices" not in vmi["spec"]["domain"]
        assert "volumes" not in vmi["spec"]
        assert not any(
            k.startswith("sim.kvtui.dev/") for k in vmi["metadata"].get("annotations", {})
        )
        assert vmi["status"]["nodeName"] and vmi["status"]["conditions"]
    finally:
        await close_cache(cache)


async def test_read_only_context_lists_fine(sim):
    cache = await open_cache(sim, sim.readonly_context)
    try:
        assert cache.count(kinds.VMIS) > 0
        assert all(state.phase == "synced" for state in cache.states().values())
    finally:
        await close_cache(cache)


async def test_a_change_arrives_in_a_coalesced_change_set(sim):
    cache = await open_cache(sim)
    seen = recorder(cache)
    try:
        vm = cache.items(kinds.VMS)[0]["metadata"]
        key = (vm["namespace"], vm["name"])
        stamp = str(time.time_ns())
        await cache.connection.request(
            "PATCH",
            kinds.VMS.path(vm["namespace"], vm["name"]),
            body={"metadata": {"labels": {"kvtui.test/touched": stamp}}},
            content_type="application/merge-patch+json",
        )
        await eventually(lambda: any(key in c.keys(kinds.VMS) for c in seen), what="change set")
        labels = cache.get(kinds.VMS, *key)["metadata"]["labels"]
        assert labels["kvtui.test/touched"] == stamp
    finally:
        await close_cache(cache)


async def test_a_hundred_rapid_changes_arrive_in_at_most_three_change_sets(busy_sim):
    cache = await open_cache(busy_sim)
    try:
        await asyncio.sleep(0.3)  # let the sync's own change set go by
        seen = recorder(cache)
        changed = (await admin(cache, "POST", "/_sim/churn", params={"count": 100}))["changed"]
        assert changed == 100
        await matches_store(busy_sim, cache, kinds.VMIS)
        await asyncio.sleep(0.3)
        with_vmis = [c for c in seen if c.keys(kinds.VMIS)]
        assert 1 <= len(with_vmis) <= 3
        assert sum(len(c.keys(kinds.VMIS)) for c in with_vmis) >= 100
    finally:
        await close_cache(cache)


async def test_dropped_watches_resume_without_a_relist_or_a_lost_change(busy_sim):
    cache = await open_cache(busy_sim)
    try:
        await admin(cache, "DELETE", "/_sim/requests")
        await admin(cache, "POST", "/_sim/faults/drop-watches")
        vm = cache.items(kinds.VMS)[0]["metadata"]
        key = (vm["namespace"], vm["name"])
        await cache.connection.request(
            "PATCH",
            kinds.VMS.path(*key),
            body={"metadata": {"labels": {"kvtui.test/meanwhile": "yes"}}},
            content_type="application/merge-patch+json",
        )
        await eventually(
            lambda: (
                cache.get(kinds.VMS, *key)["metadata"]["labels"].get("kvtui.test/meanwhile")
                == "yes"
            ),
            what="the change made while the watch was down",
        )
        for kind in CACHED:
            await matches_store(busy_sim, cache, kind)
        requests = await admin(cache, "GET", "/_sim/requests")
        verbs = {r["verb"] for r in requests["items"] if r["user"] == "kvtui-admin"}
        assert "watch" in verbs
        assert "list" not in verbs
        assert cache.synced()
    finally:
        await close_cache(cache)


async def test_compaction_makes_the_cache_relist_and_stay_correct(busy_sim):
    cache = await open_cache(busy_sim)
    seen = recorder(cache)
    node = cache.items(kinds.NODES)[0]["metadata"]["name"]
    try:
        await admin(cache, "DELETE", "/_sim/requests")
        before = time.time()
        # Another kind changes, so the VMIs' last resourceVersion is older than the compaction
        # (unless a bookmark lands in between: then try again).
        for attempt in range(3):
            await cache.connection.request(
                "PATCH",
                kinds.NODES.path(name=node),
                body={"metadata": {"labels": {"kvtui.test/compaction": str(attempt)}}},
                content_type="application/merge-patch+json",
            )
            await admin(cache, "POST", "/_sim/faults/compact")
            await admin(cache, "POST", "/_sim/faults/drop-watches")
            with contextlib.suppress(AssertionError):
                await eventually(lambda: cache.state(kinds.VMIS).since > before, timeout=3)
                break
        await admin(cache, "POST", "/_sim/churn", params={"count": 5})
        # syncing -> synced: the state changed, and is synced again since the relist.
        await eventually(
            lambda: (
                any(kinds.VMIS.name in c.states_changed for c in seen)
                and cache.state(kinds.VMIS).phase == "synced"
            ),
            what="a relist",
        )
        for kind in CACHED:
            await matches_store(busy_sim, cache, kind)
        requests = (await admin(cache, "GET", "/_sim/requests"))["items"]
        assert any(r["verb"] == "list" and r["path"] == kinds.VMIS.path() for r in requests)
    finally:
        await close_cache(cache)


async def test_server_errors_degrade_then_recover(busy_sim):
    cache = await open_cache(busy_sim, backoff=FAST)
    try:
        await admin(cache, "PUT", "/_sim/faults", body={"error_500_share": 1.0})
        try:
            await admin(cache, "POST", "/_sim/faults/drop-watches")
            await eventually(lambda: cache.state(kinds.VMIS).phase == "degraded", what="degraded")
            assert cache.state(kinds.VMIS).message
            assert not cache.synced()
        finally:
            await admin(cache, "PUT", "/_sim/faults", body={"error_500_share": 0.0})
        assert await cache.wait_synced(10), cache.states()
        await matches_store(busy_sim, cache, kinds.VMIS)
    finally:
        await close_cache(cache)


# -- against a fake connection -------------------------------------------------------------
class FakeConnection:
    """Serves lists from dicts and watch events from a queue; chosen paths fail."""

    def __init__(self) -> None:
        self.objects: dict[str, list[dict]] = {}
        self.fail: dict[str, Exception] = {}
        self.watch_fail: dict[str, Exception] = {}
        self.events: dict[str, asyncio.Queue] = {}
        self.lists = 0
        self.version = 100

    def put(self, kind: kinds.Kind, name: str, namespace: str = "ns", **extra) -> dict:
        self.version += 1
        obj = {
            "metadata": {
                "name": name,
                "namespace": namespace,
                "resourceVersion": str(self.version),
            },
            **extra,
        }
        self.objects.setdefault(kind.path(), []).append(obj)
        return obj

    async def get_json(self, path: str, params: dict | None = None) -> dict:
        if path in self.fail:
            raise self.fail[path]
        self.lists += 1
        items = self.objects.get(path, [])
        limit = (params or {}).get("limit") or len(items)
        start = int((params or {}).get("continue") or 0)
        meta = {"resourceVersion": str(self.version)}
        if start + limit < len(items):
            meta["continue"] = str(start + limit)
        return {"metadata": meta, "items": items[start : start + limit]}

    async def watch(self, path: str, params: dict) -> AsyncIterator[dict]:
        if path in self.fail or path in self.watch_fail:
            raise self.fail.get(path) or self.watch_fail[path]
        queue = self.events.setdefault(path, asyncio.Queue())
        while True:
            event = await queue.get()
            if event is None:
                return
            if isinstance(event, Exception):
                raise event
            yield event


async def fake_cache(conn: FakeConnection, kinds_: list[kinds.Kind], **options) -> ClusterCache:
    cache = ClusterCache(conn, kinds_, **options)  # type: ignore[arg-type]
    await cache.start()
    return cache


def forbidden(path_kind: kinds.Kind):
    return error_from_status(
        403,
        {
            "kind": "Status",
            "reason": "Forbidden",
            "code": 403,
            "message": f'{path_kind.plural}.{path_kind.group} is forbidden: User "v" cannot list '
            f'resource "{path_kind.plural}" in API group "{path_kind.group}" at the cluster scope',
        },
        "list",
        str(path_kind),
    )


async def test_a_forbidden_kind_is_marked_and_the_others_keep_working():
    conn = FakeConnection()
    conn.put(kinds.NODES, "n1", namespace="")
    conn.fail[kinds.VMIS.path()] = forbidden(kinds.VMIS)
    cache = await fake_cache(conn, [kinds.NODES, kinds.VMIS], forbidden_retry=0.2)
    try:
        await eventually(lambda: cache.state(kinds.VMIS).phase == "forbidden")
        message = cache.state(kinds.VMIS).message
        assert message.startswith("forbidden: cannot list virtualmachineinstances.kubevirt.io")
        assert cache.state(kinds.NODES).phase == "synced"
        assert [o["metadata"]["name"] for o in cache.items(kinds.NODES)] == ["n1"]
        assert not cache.synced()
        assert not await cache.wait_synced(0.1)
        del conn.fail[kinds.VMIS.path()]  # RBAC fixed: the slow retry picks it up
        assert await cache.wait_synced(2)
    finally:
        await cache.stop()


async def test_relist_after_expiry_reports_vanished_objects():
    conn = FakeConnection()
    conn.put(kinds.VMS, "keep")
    conn.put(kinds.VMS, "gone")
    cache = await fake_cache(conn, [kinds.VMS], interval=0.01)
    seen = recorder(cache)
    try:
        assert await cache.wait_synced(2)
        await asyncio.sleep(0.05)
        seen.clear()
        conn.objects[kinds.VMS.path()] = [
            o for o in conn.objects[kinds.VMS.path()] if o["metadata"]["name"] == "keep"
        ]
        conn.put(kinds.VMS, "new")
        kept = cache.get(kinds.VMS, "ns", "keep")
        conn.events[kinds.VMS.path()].put_nowait(Expired("too old", code=410))
        await eventually(lambda: cache.get(kinds.VMS, "ns", "new") is not None)
        assert cache.get(kinds.VMS, "ns", "gone") is None
        assert cache.get(kinds.VMS, "ns", "keep") is kept  # unchanged: not trimmed again
        changed = set().union(*(c.keys(kinds.VMS) for c in seen))
        assert changed == {("ns", "gone"), ("ns", "new")}
        assert conn.lists == 2
    finally:
        await cache.stop()


async def test_paginated_list_reads_every_page_and_restores_the_gc_thresholds():
    thresholds = gc.get_threshold()
    conn = FakeConnection()
    for i in range(1234):
        conn.put(kinds.PODS, f"p{i}", spec={"nodeName": "n"})
    cache = await fake_cache(conn, [kinds.PODS], page_size=100)
    try:
        assert await cache.wait_synced(2)
        assert cache.count(kinds.PODS) == 1234
        assert conn.lists == 13
        assert gc.get_threshold() == thresholds
    finally:
        await cache.stop()


async def test_a_burst_of_ten_thousand_events_is_a_handful_of_callbacks():
    conn = FakeConnection()
    cache = await fake_cache(conn, [kinds.VMIS], interval=0.05)
    seen = recorder(cache)
    try:
        assert await cache.wait_synced(2)
        await asyncio.sleep(0.1)
        seen.clear()
        queue = conn.events[kinds.VMIS.path()]
        for i in range(10_000):
            obj = {"metadata": {"name": f"vmi-{i}", "namespace": "ns", "resourceVersion": str(i)}}
            queue.put_nowait({"type": "ADDED", "object": obj})
        queue.put_nowait({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "20000"}}})
        await eventually(lambda: cache.count(kinds.VMIS) == 10_000)
        await asyncio.sleep(0.2)
        assert 1 <= len(seen) <= 5
        assert sum(len(c.keys(kinds.VMIS)) for c in seen) == 10_000
        assert cache.resource_version(kinds.VMIS) == "20000"
        queue.put_nowait(
            {
                "type": "DELETED",
                "object": {
                    "metadata": {"name": "vmi-7", "namespace": "ns", "resourceVersion": "20001"}
                },
            }
        )
        await eventually(lambda: cache.get(kinds.VMIS, "ns", "vmi-7") is None)
    finally:
        await cache.stop()


async def test_a_broken_watch_resumes_and_a_failing_server_degrades_then_recovers():
    conn = FakeConnection()
    conn.put(kinds.NODES, "n1", namespace="")
    cache = await fake_cache(conn, [kinds.NODES], backoff=Backoff(base=0.05, cap=0.2))
    try:
        assert await cache.wait_synced(2)
        queue = conn.events[kinds.NODES.path()]
        queue.put_nowait({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "500"}}})
        queue.put_nowait(Unavailable("cannot reach https://x: the server closed the connection"))
        await asyncio.sleep(0.2)
        assert conn.lists == 1 and cache.state(kinds.NODES).phase == "synced"
        assert cache.resource_version(kinds.NODES) == "500"

        conn.fail[kinds.NODES.path()] = Unavailable(
            "cannot reach https://x: connection refused", reason=UNREACHABLE
        )
        queue.put_nowait(None)  # the watch ends; resuming and listing now fail
        await eventually(lambda: cache.state(kinds.NODES).phase == "degraded")
        assert cache.state(kinds.NODES).message == "cannot reach https://x: connection refused"
        assert cache.count(kinds.NODES) == 1  # the last known objects stay readable
        del conn.fail[kinds.NODES.path()]
        assert await cache.wait_synced(2)
    finally:
        await cache.stop()


async def test_a_watch_that_always_fails_backs_off_instead_of_relisting_in_a_loop():
    conn = FakeConnection()
    conn.put(kinds.NODES, "n1", namespace="")
    conn.watch_fail[kinds.NODES.path()] = error_from_status(500, None, "watch", "nodes")
    cache = await fake_cache(conn, [kinds.NODES], backoff=Backoff(base=0.05, cap=0.4))
    try:
        await asyncio.sleep(1.5)
        assert 3 <= conn.lists <= 9  # 0.05, 0.1, 0.2, 0.4, 0.4, ... not every 0.05 s
        assert cache.state(kinds.NODES).phase == "degraded"
        assert cache.count(kinds.NODES) == 1
    finally:
        await cache.stop()


def test_backoff_grows_to_its_cap_with_jitter():
    backoff = Backoff()
    delays = [backoff.delay(n) for n in range(1, 12)]
    assert 0.64 <= delays[0] <= 0.96
    assert all(d <= 30.0 for d in delays)
    assert delays[-1] >= 24.0

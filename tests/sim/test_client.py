"""The official `kubernetes` client (sync and asyncio) works against the simulator unchanged.

Lists, selectors, pagination, watches, writes, dry runs, permissions and KubeVirt subresources,
each checked against what the simulator's store really holds.
"""

from __future__ import annotations

import functools
import json
import queue
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import kubernetes
import kubernetes.aio
import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kvtui.sim.runner import SimHandle, running_simulator

KV = ("kubevirt.io", "v1")
VMIS = "virtualmachineinstances"
DEADLINE = 60.0


# -- fixtures and helpers ----------------------------------------------------------------
@pytest.fixture(scope="module")
def cluster() -> Iterator[SimHandle]:
    """A cluster of this module's own, for migrations, cordons and deletions."""
    with running_simulator(scenario="default", speed=10.0, seed=3) as handle:
        yield handle


def api_client(sim: SimHandle, readonly: bool = False) -> client.ApiClient:
    context = sim.readonly_context if readonly else sim.context
    return kubernetes.config.new_client_from_config(
        config_file=str(sim.kubeconfig), context=context
    )


@pytest.fixture
def api(sim: SimHandle) -> client.ApiClient:
    return api_client(sim)


@pytest.fixture
def own_api(cluster: SimHandle) -> client.ApiClient:
    return api_client(cluster)


@pytest.fixture
async def aapi(sim: SimHandle) -> AsyncIterator[Any]:
    api = await kubernetes.aio.config.new_client_from_config(
        config_file=str(sim.kubeconfig), context=sim.context
    )
    yield api
    await api.close()


def store_items(sim: SimHandle, key: str) -> list[dict]:
    return sim.call(lambda: sim.simulator.store.list(key))


def status_of(exc: ApiException) -> dict:
    """The `Status` body of a failed call; every API error must carry one."""
    body = json.loads(exc.body)
    assert body["kind"] == "Status" and body["status"] == "Failure", body
    assert body["code"] == exc.status, body
    return body


def wait_for(what: str, check: Callable[[], Any], deadline: float = DEADLINE) -> Any:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out after {deadline:g}s waiting for {what}")


def settles(test: Callable[..., None]) -> Callable[..., None]:
    """Rerun a comparison with the store for a while: the live cluster moves between reads."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        end = time.monotonic() + 5
        while True:
            try:
                return test(*args, **kwargs)
            except AssertionError:
                if time.monotonic() > end:
                    raise
                time.sleep(0.2)

    return run


def configmap(name: str, data: dict | None = None, generate: bool = False) -> dict:
    meta = {"generateName": name} if generate else {"name": name}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data or {}}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def vm_action(api: client.ApiClient, namespace: str, vm: str, action: str) -> tuple[int, Any]:
    """PUT a KubeVirt VM subresource (`migrate`, `stop`, ...) as virtctl does."""
    path = f"/apis/subresources.kubevirt.io/v1/namespaces/{namespace}/virtualmachines/{vm}/{action}"
    request = api.param_serialize(
        "PUT",
        path,
        header_params={"Content-Type": "application/json"},
        body={},
        auth_settings=["BearerToken"],
    )
    resp = api.call_api(*request)
    resp.read()
    return resp.status, json.loads(resp.data) if resp.data else None


def running_migratable_vmis(sim: SimHandle) -> list[dict]:
    def ready(vmi: dict) -> bool:
        conds = {c["type"]: c["status"] for c in vmi.get("status", {}).get("conditions", [])}
        return vmi["status"].get("phase") == "Running" and conds.get("LiveMigratable") == "True"

    return sorted(
        (v for v in store_items(sim, "kubevirt.io/virtualmachineinstances") if ready(v)),
        key=lambda v: v["metadata"]["name"],
    )


# -- lists and selectors -----------------------------------------------------------------
@settles
def test_lists_match_the_store(sim: SimHandle, api: client.ApiClient) -> None:
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    nodes = {n.metadata.name for n in core.list_node().items}
    assert nodes == {n["metadata"]["name"] for n in store_items(sim, "/nodes")}
    assert {"kv-node-1", "kv-node-2"} <= nodes
    pods = core.list_pod_for_all_namespaces()
    assert {(p.metadata.namespace, p.metadata.name) for p in pods.items} == {
        (p["metadata"]["namespace"], p["metadata"]["name"]) for p in store_items(sim, "/pods")
    }
    vmis = custom.list_cluster_custom_object(*KV, VMIS)
    assert vmis["kind"] == "VirtualMachineInstanceList"
    names = {(v["metadata"]["namespace"], v["metadata"]["name"]) for v in vmis["items"]}
    assert len(names) >= 5
    assert names == {
        (v["metadata"]["namespace"], v["metadata"]["name"])
        for v in store_items(sim, "kubevirt.io/virtualmachineinstances")
    }
    one = next(iter(vmis["items"]))
    again = custom.get_namespaced_custom_object(
        *KV, one["metadata"]["namespace"], VMIS, one["metadata"]["name"]
    )
    assert again["metadata"]["uid"] == one["metadata"]["uid"]


@settles
def test_label_and_field_selectors(sim: SimHandle, api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    pods = store_items(sim, "/pods")

    def names(selected: list) -> set[str]:
        return {p.metadata.name for p in selected}

    def expect(pred: Callable[[dict], bool]) -> set[str]:
        return {p["metadata"]["name"] for p in pods if pred(p)}

    def label(p: dict) -> str | None:
        return (p["metadata"].get("labels") or {}).get("kubevirt.io")

    launchers = names(
        core.list_pod_for_all_namespaces(label_selector="kubevirt.io=virt-launcher").items
    )
    assert launchers == expect(lambda p: label(p) == "virt-launcher")
    assert launchers and all(n.startswith("virt-launcher-") for n in launchers)
    set_based = names(
        core.list_pod_for_all_namespaces(
            label_selector="kubevirt.io in (virt-launcher, virt-handler)"
        ).items
    )
    assert set_based == expect(lambda p: label(p) in ("virt-launcher", "virt-handler"))
    assert set_based > launchers
    unlabelled = names(core.list_pod_for_all_namespaces(label_selector="!kubevirt.io").items)
    assert unlabelled == expect(lambda p: label(p) is None)
    assert unlabelled and not unlabelled & set_based

    on_node = core.list_pod_for_all_namespaces(field_selector="spec.nodeName=kv-node-1").items
    assert names(on_node) == expect(lambda p: p["spec"].get("nodeName") == "kv-node-1")
    assert on_node and all(p.spec.node_name == "kv-node-1" for p in on_node)
    both = core.list_pod_for_all_namespaces(
        field_selector="spec.nodeName=kv-node-1", label_selector="kubevirt.io=virt-launcher"
    ).items
    assert names(both) == names(on_node) & launchers
    assert core.list_pod_for_all_namespaces(field_selector="spec.nodeName=no-such").items == []


@settles
def test_pagination_returns_every_item_once(sim: SimHandle, api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    everything = {
        (p.metadata.namespace, p.metadata.name) for p in core.list_pod_for_all_namespaces().items
    }
    seen: list[tuple[str, str]] = []
    token, pages, remaining = None, 0, []
    while True:
        page = core.list_pod_for_all_namespaces(limit=4, _continue=token)
        pages += 1
        assert len(page.items) <= 4
        seen += [(p.metadata.namespace, p.metadata.name) for p in page.items]
        token = page.metadata._continue
        if not token:
            break
        remaining.append(page.metadata.remaining_item_count)
    assert pages > 1
    assert len(seen) == len(set(seen)), "an item came back on two pages"
    assert set(seen) == everything
    assert remaining == sorted(remaining, reverse=True)


# -- watch -------------------------------------------------------------------------------
def collect(stream: Iterator[dict], out: queue.Queue, until: Callable[[dict], bool]) -> None:
    try:
        for event in stream:
            out.put(event)
            if until(event):
                return
    except Exception as exc:  # handed to the test thread
        out.put(exc)


def test_watch_sees_changes_and_resumes(sim: SimHandle, api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    name = unique("watched")
    rv = core.list_namespaced_config_map("default").metadata.resource_version
    events: queue.Queue = queue.Queue()
    watch = kubernetes.watch.Watch()
    stream = watch.stream(
        core.list_namespaced_config_map,
        "default",
        resource_version=rv,
        field_selector=f"metadata.name={name}",
        timeout_seconds=20,
    )
    thread = threading.Thread(
        target=collect, daemon=True, args=(stream, events, lambda e: e["type"] == "DELETED")
    )
    thread.start()
    core.create_namespaced_config_map("default", configmap(name, {"a": "1"}))
    core.patch_namespaced_config_map(name, "default", {"data": {"a": "2"}})
    core.delete_namespaced_config_map(name, "default")
    thread.join(DEADLINE)
    got = list(events.queue)
    assert not any(isinstance(e, Exception) for e in got), got
    assert [e["type"] for e in got] == ["ADDED", "MODIFIED", "DELETED"]
    assert [e["object"].data["a"] for e in got] == ["1", "2", "2"]
    assert all(e["object"].metadata.name == name for e in got)
    rvs = [int(e["object"].metadata.resource_version) for e in got]
    assert rvs == sorted(rvs) and rvs[0] > int(rv)
    with pytest.raises(ApiException) as gone:
        core.read_namespaced_config_map(name, "default")
    assert gone.value.status == 404 and status_of(gone.value)["reason"] == "NotFound"

    # Resuming from the ADDED event's version replays what came after it, nothing before.
    replay = list(
        kubernetes.watch.Watch().stream(
            core.list_namespaced_config_map,
            "default",
            resource_version=str(rvs[0]),
            field_selector=f"metadata.name={name}",
            timeout_seconds=1,
        )
    )
    assert [e["type"] for e in replay] == ["MODIFIED", "DELETED"]
    assert [int(e["object"].metadata.resource_version) for e in replay] == rvs[1:]


def test_watch_of_a_compacted_version_is_gone(
    cluster: SimHandle, own_api: client.ApiClient
) -> None:
    core = client.CoreV1Api(own_api)
    old = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map("default", configmap(unique("after-list")))
    admin_post(cluster, "/_sim/faults/compact")
    with pytest.raises(ApiException) as exc:
        list(
            kubernetes.watch.Watch().stream(
                core.list_namespaced_config_map, "default", resource_version=old, timeout_seconds=2
            )
        )
    assert exc.value.status == 410 and "Expired" in exc.value.reason
    # The client recovers as documented: list again and watch from the new version.
    fresh = core.list_namespaced_config_map("default").metadata.resource_version
    assert int(fresh) > int(old)
    assert (
        list(
            kubernetes.watch.Watch().stream(
                core.list_namespaced_config_map,
                "default",
                resource_version=fresh,
                timeout_seconds=1,
            )
        )
        == []
    )


def admin_post(sim: SimHandle, path: str) -> dict:
    api = api_client(sim)
    request = api.param_serialize("POST", path, auth_settings=["BearerToken"])
    resp = api.call_api(*request)
    resp.read()
    assert resp.status == 200, resp.data
    return json.loads(resp.data)


# -- writes ------------------------------------------------------------------------------
def test_create_generate_name_and_stale_update(sim: SimHandle, api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    made = core.create_namespaced_config_map(
        "default", configmap("kvtui-gen-", {"k": "v"}, generate=True)
    )
    name = made.metadata.name
    assert name.startswith("kvtui-gen-") and len(name) > len("kvtui-gen-")
    assert made.metadata.uid and made.metadata.creation_timestamp
    stale = core.read_namespaced_config_map(name, "default")
    core.patch_namespaced_config_map(name, "default", {"data": {"k": "fresh"}})
    stale.data = {"k": "stale"}
    with pytest.raises(ApiException) as exc:
        core.replace_namespaced_config_map(name, "default", stale)
    assert exc.value.status == 409
    assert status_of(exc.value)["reason"] == "Conflict"
    assert core.read_namespaced_config_map(name, "default").data == {"k": "fresh"}
    core.delete_namespaced_config_map(name, "default")


def test_merge_patch_of_vm_labels(cluster: SimHandle, own_api: client.ApiClient) -> None:
    custom = client.CustomObjectsApi(own_api)
    vm = custom.list_cluster_custom_object(*KV, "virtualmachines")["items"][0]
    ns, name = vm["metadata"]["namespace"], vm["metadata"]["name"]
    before = dict(vm["metadata"].get("labels") or {})
    merge = "application/merge-patch+json"
    patched = custom.patch_namespaced_custom_object(
        *KV,
        ns,
        "virtualmachines",
        name,
        {"metadata": {"labels": {"kvtui.dev/test": "yes"}}},
        _content_type=merge,
    )
    assert patched["metadata"]["labels"] == {**before, "kvtui.dev/test": "yes"}
    read = custom.get_namespaced_custom_object(*KV, ns, "virtualmachines", name)
    assert read["metadata"]["labels"] == {**before, "kvtui.dev/test": "yes"}
    custom.patch_namespaced_custom_object(
        *KV,
        ns,
        "virtualmachines",
        name,
        {"metadata": {"labels": {"kvtui.dev/test": None}}},
        _content_type=merge,
    )
    read = custom.get_namespaced_custom_object(*KV, ns, "virtualmachines", name)
    assert (read["metadata"].get("labels") or {}) == before


def test_cordon_by_strategic_merge_patch(cluster: SimHandle, own_api: client.ApiClient) -> None:
    core = client.CoreV1Api(own_api)
    core.patch_node("kv-node-3", {"spec": {"unschedulable": True}})
    node = core.read_node("kv-node-3")
    assert node.spec.unschedulable is True
    assert node.metadata.labels["kubernetes.io/hostname"] == "kv-node-3"
    core.patch_node("kv-node-3", {"spec": {"unschedulable": None}})
    assert not core.read_node("kv-node-3").spec.unschedulable


def test_delete_pod_waits_for_grace_period(cluster: SimHandle, own_api: client.ApiClient) -> None:
    core = client.CoreV1Api(own_api)
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": unique("doomed")},
        "spec": {"containers": [{"name": "main", "image": "busybox"}]},
    }
    made = core.create_namespaced_pod("default", pod)
    name = made.metadata.name
    # The API server itself sets phase Pending on create, before any scheduler or kubelet.
    assert made.status is not None and made.status.phase == "Pending"
    wait_for(
        "the pod to run",
        lambda: (
            (core.read_namespaced_pod(name, "default").status or client.V1PodStatus()).phase
            == "Running"
        ),
    )
    deleted = core.delete_namespaced_pod(name, "default")
    assert deleted.metadata.deletion_timestamp is not None
    assert core.read_namespaced_pod(name, "default").metadata.deletion_timestamp

    def gone() -> bool:
        try:
            core.read_namespaced_pod(name, "default")
        except ApiException as exc:
            return exc.status == 404
        return False

    wait_for("the pod to go away", gone, deadline=20)


def test_server_side_dry_run_changes_nothing(sim: SimHandle, api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    ghost = unique("dry")
    made = core.create_namespaced_config_map("default", configmap(ghost, {"a": "1"}), dry_run="All")
    assert made.metadata.name == ghost
    with pytest.raises(ApiException) as exc:
        core.read_namespaced_config_map(ghost, "default")
    assert exc.value.status == 404

    real = unique("real")
    core.create_namespaced_config_map("default", configmap(real, {"a": "1"}))
    before = core.read_namespaced_config_map(real, "default")
    shown = core.patch_namespaced_config_map(real, "default", {"data": {"a": "2"}}, dry_run="All")
    assert shown.data == {"a": "2"}
    core.delete_namespaced_config_map(real, "default", dry_run="All")
    after = core.read_namespaced_config_map(real, "default")
    assert after.data == {"a": "1"}
    assert after.metadata.resource_version == before.metadata.resource_version
    core.delete_namespaced_config_map(real, "default")


def test_readonly_token_reads_but_never_writes(sim: SimHandle, api: client.ApiClient) -> None:
    viewer = api_client(sim, readonly=True)
    core, custom = client.CoreV1Api(viewer), client.CustomObjectsApi(viewer)
    assert core.list_pod_for_all_namespaces().items
    assert core.read_node("kv-node-1").metadata.name == "kv-node-1"
    vmis = custom.list_cluster_custom_object(*KV, VMIS)["items"]
    assert vmis
    target = unique("protected")
    client.CoreV1Api(api).create_namespaced_config_map("default", configmap(target, {"a": "1"}))
    before = client.CoreV1Api(api).read_namespaced_config_map(target, "default")
    launcher = core.list_pod_for_all_namespaces(label_selector="kubevirt.io=virt-launcher").items[0]
    writes: dict[str, Callable[[], Any]] = {
        "create": lambda: core.create_namespaced_config_map("default", configmap(unique("no"))),
        "update": lambda: core.replace_namespaced_config_map(target, "default", before),
        "patch": lambda: core.patch_namespaced_config_map(target, "default", {"data": {}}),
        "delete": lambda: core.delete_namespaced_config_map(target, "default"),
        "deletecollection": lambda: core.delete_collection_namespaced_config_map("default"),
        "cordon": lambda: core.patch_node("kv-node-1", {"spec": {"unschedulable": True}}),
        "evict": lambda: core.create_namespaced_pod_eviction(
            launcher.metadata.name,
            launcher.metadata.namespace,
            {
                "apiVersion": "policy/v1",
                "kind": "Eviction",
                "metadata": {"name": launcher.metadata.name},
            },
        ),
        "vm label": lambda: custom.patch_namespaced_custom_object(
            *KV,
            vmis[0]["metadata"]["namespace"],
            VMIS,
            vmis[0]["metadata"]["name"],
            {"metadata": {"labels": {"x": "y"}}},
            _content_type="application/merge-patch+json",
        ),
    }
    for verb, call in writes.items():
        with pytest.raises(ApiException) as exc:
            call()
        assert exc.value.status == 403, verb
        assert status_of(exc.value)["reason"] == "Forbidden", verb
    status, body = vm_action(
        viewer, vmis[0]["metadata"]["namespace"], vmis[0]["metadata"]["name"], "migrate"
    )
    assert status == 403 and body["reason"] == "Forbidden"
    after = client.CoreV1Api(api).read_namespaced_config_map(target, "default")
    assert after.metadata.resource_version == before.metadata.resource_version
    assert not client.CoreV1Api(api).read_node("kv-node-1").spec.unschedulable
    client.CoreV1Api(api).delete_namespaced_config_map(target, "default")


# -- KubeVirt subresources ---------------------------------------------------------------
def test_migrate_moves_the_vmi(cluster: SimHandle, own_api: client.ApiClient) -> None:
    custom = client.CustomObjectsApi(own_api)
    vmi = running_migratable_vmis(cluster)[0]
    ns, name, source = (
        vmi["metadata"]["namespace"],
        vmi["metadata"]["name"],
        vmi["status"]["nodeName"],
    )
    vmims = "virtualmachineinstancemigrations"
    earlier = {
        m["metadata"]["name"] for m in custom.list_namespaced_custom_object(*KV, ns, vmims)["items"]
    }
    status, _ = vm_action(own_api, ns, name, "migrate")
    assert status in (200, 202)

    def finished() -> dict | None:
        for vmim in custom.list_namespaced_custom_object(*KV, ns, vmims)["items"]:
            if (
                vmim["metadata"]["name"] not in earlier
                and vmim["spec"]["vmiName"] == name
                and vmim.get("status", {}).get("phase") in ("Succeeded", "Failed")
            ):
                return vmim
        return None

    vmim = wait_for("the migration to finish", finished)
    assert vmim["metadata"]["name"].startswith("kubevirt-migrate-vm-")
    assert vmim["status"]["phase"] == "Succeeded", vmim["status"]
    moved = custom.get_namespaced_custom_object(*KV, ns, VMIS, name)
    assert moved["status"]["phase"] == "Running"
    assert moved["status"]["nodeName"] not in (source, None)
    assert moved["status"]["nodeName"] == vmim["status"]["migrationState"]["targetNode"]


def test_stop_and_start_a_vm(cluster: SimHandle, own_api: client.ApiClient) -> None:
    custom = client.CustomObjectsApi(own_api)
    vmi = running_migratable_vmis(cluster)[-1]
    ns, name = vmi["metadata"]["namespace"], vmi["metadata"]["name"]

    def printable() -> str:
        vm = custom.get_namespaced_custom_object(*KV, ns, "virtualmachines", name)
        return vm.get("status", {}).get("printableStatus", "")

    assert printable() == "Running"
    assert vm_action(own_api, ns, name, "stop")[0] == 200
    wait_for("the VM to stop", lambda: printable() == "Stopped")
    with pytest.raises(ApiException) as exc:
        custom.get_namespaced_custom_object(*KV, ns, VMIS, name)
    assert exc.value.status == 404
    assert vm_action(own_api, ns, name, "start")[0] == 200
    wait_for("the VM to run again", lambda: printable() == "Running")
    vmi = custom.get_namespaced_custom_object(*KV, ns, VMIS, name)
    assert vmi["status"]["phase"] == "Running"


# -- asyncio -----------------------------------------------------------------------------
async def test_async_lists_selectors_and_pages(sim: SimHandle, aapi: Any) -> None:
    core = kubernetes.aio.client.CoreV1Api(aapi)
    custom = kubernetes.aio.client.CustomObjectsApi(aapi)
    nodes = await core.list_node()
    assert {n.metadata.name for n in nodes.items} == {
        n["metadata"]["name"] for n in store_items(sim, "/nodes")
    }
    vmis = await custom.list_cluster_custom_object(*KV, VMIS)
    launchers = await core.list_pod_for_all_namespaces(label_selector="kubevirt.io=virt-launcher")
    running = [v for v in vmis["items"] if v["status"].get("phase") == "Running"]
    assert len(launchers.items) >= len(running) > 0
    handlers = await core.list_namespaced_pod(
        "kubevirt",
        label_selector="kubevirt.io in (virt-handler)",
        field_selector="spec.nodeName=kv-node-2",
    )
    assert [p.spec.node_name for p in handlers.items] == ["kv-node-2"]
    seen, token = [], None
    while True:
        page = await core.list_pod_for_all_namespaces(limit=5, _continue=token)
        seen += [p.metadata.uid for p in page.items]
        token = page.metadata._continue
        if not token:
            break
    assert len(seen) == len(set(seen)) == len(store_items(sim, "/pods"))


async def test_async_watch_with_bookmarks(sim: SimHandle, aapi: Any) -> None:
    core = kubernetes.aio.client.CoreV1Api(aapi)
    name = unique("awatched")
    rv = (await core.list_namespaced_config_map("default")).metadata.resource_version
    await core.create_namespaced_config_map("default", configmap(name, {"a": "1"}))
    await core.patch_namespaced_config_map(name, "default", {"data": {"a": "2"}})
    await core.delete_namespaced_config_map(name, "default")
    seen: list[tuple[str, str]] = []
    async with kubernetes.aio.watch.Watch() as watch:
        async for event in watch.stream(
            core.list_namespaced_config_map,
            "default",
            resource_version=rv,
            allow_watch_bookmarks=True,
            timeout_seconds=7,
        ):
            obj = event["raw_object"]
            seen.append((event["type"], obj["metadata"].get("name", "")))
            if event["type"] == "BOOKMARK":
                assert int(obj["metadata"]["resourceVersion"]) >= int(rv)
                break
    ours = [t for t, n in seen if n == name]
    assert ours == ["ADDED", "MODIFIED", "DELETED"]
    assert seen[-1][0] == "BOOKMARK"


async def test_async_watch_gone_after_compaction(cluster: SimHandle) -> None:
    api = await kubernetes.aio.config.new_client_from_config(
        config_file=str(cluster.kubeconfig), context=cluster.context
    )
    try:
        core = kubernetes.aio.client.CoreV1Api(api)
        old = (await core.list_namespaced_config_map("default")).metadata.resource_version
        await core.create_namespaced_config_map("default", configmap(unique("async-after")))
        admin_post(cluster, "/_sim/faults/compact")
        with pytest.raises(kubernetes.aio.client.exceptions.ApiException) as exc:
            async with kubernetes.aio.watch.Watch() as watch:
                async for _ in watch.stream(
                    core.list_namespaced_config_map,
                    "default",
                    resource_version=old,
                    timeout_seconds=2,
                ):
                    pass
        assert exc.value.status == 410
    finally:
        await api.close()

"""Connection: kubeconfig loading and merging, requests, watches and errors, over real sockets."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from kvtui.cluster import connection as connection_module
from kvtui.cluster import kinds
from kvtui.cluster.connection import Connection, describe_request, list_contexts
from kvtui.cluster.errors import (
    BadRequest,
    Conflict,
    Expired,
    Forbidden,
    Invalid,
    KubeconfigError,
    KubeError,
    NotFound,
    Unavailable,
    error_from_status,
)
from kvtui.sim.runner import SimHandle

CMS = kinds.Kind("ConfigMap", "", "v1", "configmaps", True)


@pytest.fixture
async def conn(sim: SimHandle) -> AsyncIterator[Connection]:
    connection = await Connection.open(str(sim.kubeconfig), sim.context)
    yield connection
    await connection.close()


@pytest.fixture
async def viewer(sim: SimHandle) -> AsyncIterator[Connection]:
    connection = await Connection.open(str(sim.kubeconfig), sim.readonly_context)
    yield connection
    await connection.close()


def write_yaml(path: Path, data: object) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def sim_config(sim: SimHandle) -> dict:
    return yaml.safe_load(sim.kubeconfig.read_text())


async def set_faults(conn: Connection, **faults: object) -> None:
    await conn.request("PUT", "/_sim/faults", body=faults)


# -- kubeconfig -------------------------------------------------------------------------------
async def test_open_uses_current_context_and_answers(conn: Connection, sim: SimHandle):
    assert (conn.context, conn.server, conn.user) == ("kvtui-sim", sim.url, "kvtui-admin")
    assert conn.namespace is None
    assert (await conn.check())["gitVersion"].startswith("v1.")
    assert await conn.whoami() == "kvtui-admin"
    assert sim.token not in repr(conn)


async def test_kubeconfig_env_list_merges_like_kubectl(
    sim: SimHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # The first file wins for a name and sets the current context; missing files are skipped.
    extra = sim_config(sim)
    extra["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:1"
    extra["contexts"].append(
        {"name": "other", "context": {"cluster": "kvtui-sim", "user": "kvtui-admin"}}
    )
    extra["contexts"][0]["context"]["namespace"] = "shadowed"
    extra["current-context"] = "kvtui-sim-readonly"
    first = write_yaml(tmp_path / "first", {"current-context": "kvtui-sim-readonly"})
    second = write_yaml(tmp_path / "second", sim_config(sim))
    third = write_yaml(tmp_path / "third", extra)
    spec = ":".join(str(p) for p in (tmp_path / "missing", first, second, third))
    monkeypatch.setenv("KUBECONFIG", spec)

    names, current = list_contexts(None)
    assert names == ["kvtui-sim", "kvtui-sim-readonly", "other"]
    assert current == "kvtui-sim-readonly"
    async with await Connection.open(None, None) as viewer:
        assert (viewer.context, viewer.user, viewer.server) == (
            "kvtui-sim-readonly",
            "kvtui-viewer",
            sim.url,
        )
        assert await viewer.whoami() == "kvtui-viewer"
    async with await Connection.open(None, "kvtui-sim") as admin:
        assert admin.namespace is None  # the second file's context, not the third's


async def test_kubeconfig_path_expands_home(sim: SimHandle, monkeypatch: pytest.MonkeyPatch):
    home = Path.home()
    (home / ".kube").mkdir(parents=True)
    (home / ".kube" / "config").write_text(sim.kubeconfig.read_text())
    monkeypatch.delenv("KUBECONFIG")
    async with await Connection.open(None, None) as default:
        assert default.server == sim.url
    async with await Connection.open("~/.kube/config", "kvtui-sim-readonly") as explicit:
        assert explicit.user == "kvtui-viewer"


@pytest.mark.parametrize(
    ("content", "context", "message"),
    [
        (
            "apiVersion: v1\nkind: Config\ncurrent-context: a: b\n",
            None,
            r"is not valid YAML \(line 3\): mapping values are not allowed here",
        ),
        ("- just a list", None, "expected a mapping"),
        ("contexts: []", None, "sets no current-context"),
        (
            {"contexts": [{"name": "a", "context": {"cluster": "c"}}], "clusters": []},
            "foo",
            r'context "foo" not found in kubeconfig \(contexts: a\)',
        ),
        (
            {"contexts": [{"name": "a", "context": {"cluster": "c"}}], "clusters": []},
            "a",
            'context "a" uses cluster "c", which is missing',
        ),
        (
            {
                "contexts": [{"name": "a", "context": {"cluster": "c", "user": "u"}}],
                "clusters": [{"name": "c", "cluster": {"server": "https://x"}}],
            },
            "a",
            'context "a" uses user "u", which is missing',
        ),
    ],
)
async def test_kubeconfig_errors_are_one_line(
    tmp_path: Path, content: object, context: str | None, message: str
):
    path = tmp_path / "kubeconfig"
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
    with pytest.raises(KubeconfigError, match=message) as caught:
        await Connection.open(str(path), context)
    assert "\n" not in str(caught.value)


async def test_missing_kubeconfig_says_so(tmp_path: Path):
    with pytest.raises(KubeconfigError, match=r"cannot read kubeconfig /x/y: No such file"):
        await Connection.open("/x/y", None)
    # The test environment points KUBECONFIG at a file that does not exist.
    with pytest.raises(KubeconfigError, match="no-such-kubeconfig: No such file"):
        await Connection.open(None, None)
    assert list_contexts(None) == ([], None)


async def test_in_cluster_config(sim: SimHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from kubernetes.aio.config import incluster_config

    ca = base64.b64decode(sim_config(sim)["clusters"][0]["cluster"]["certificate-authority-data"])
    (tmp_path / "ca.crt").write_bytes(ca)
    (tmp_path / "token").write_text(sim.readonly_token)
    (tmp_path / "namespace").write_text("kube-system\n")
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(tmp_path / "token"))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(tmp_path / "ca.crt"))
    monkeypatch.setattr(connection_module, "_SA_DIR", tmp_path)
    url = urlsplit(sim.url)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", url.hostname)
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(url.port))

    async with await Connection.open(None, None) as pod:
        assert (pod.context, pod.namespace) == ("in-cluster", "kube-system")
        assert await pod.whoami() == "kvtui-viewer"
        assert (await pod.get_json(kinds.NODES.path()))["items"]


# -- requests ---------------------------------------------------------------------------------
async def test_get_json_with_params(conn: Connection):
    nodes = await conn.get_json(kinds.NODES.path())
    assert nodes["kind"] == "NodeList" and nodes["items"]
    name = nodes["items"][0]["metadata"]["name"]
    one = await conn.get_json(kinds.NODES.path(), {"fieldSelector": f"metadata.name={name}"})
    assert [n["metadata"]["name"] for n in one["items"]] == [name]
    page = await conn.get_json(kinds.PODS.path(), {"limit": 2})
    assert len(page["items"]) == 2 and page["metadata"]["continue"]


async def test_errors_are_typed_and_readable(conn: Connection, viewer: Connection):
    with pytest.raises(NotFound) as missing:
        await conn.get_json(kinds.NODES.path(name="no-such-node"))
    assert missing.value.code == 404
    assert str(missing.value).startswith('not found: cannot get nodes "no-such-node": ')

    node = (await viewer.get_json(kinds.NODES.path()))["items"][0]["metadata"]["name"]
    with pytest.raises(Forbidden) as denied:
        await viewer.request("DELETE", kinds.NODES.path(name=node))
    assert (denied.value.verb, denied.value.resource) == ("delete", f'nodes "{node}"')
    assert str(denied.value) == (
        f'forbidden: cannot delete nodes "{node}": User "kvtui-viewer" cannot delete '
        'resource "nodes" in API group "" at the cluster scope'
    )

    body = {"metadata": {"name": "kvtui-conflict"}, "data": {"a": "1"}}
    await conn.request("POST", CMS.path("default"), body=body)
    try:
        with pytest.raises(Conflict):
            await conn.request("POST", CMS.path("default"), body=body)
        with pytest.raises(Invalid):
            await conn.request("POST", CMS.path("default"), body={"metadata": {"name": "Bad_"}})
    finally:
        await conn.request("DELETE", CMS.path("default", "kvtui-conflict"))


async def test_dry_run_persists_nothing(conn: Connection, sim: SimHandle):
    body = {"metadata": {"name": "kvtui-dry"}, "data": {"a": "1"}}
    created = await conn.request("POST", CMS.path("default"), body=body, dry_run=True)
    assert created["metadata"]["name"] == "kvtui-dry"
    with pytest.raises(NotFound):
        await conn.get_json(CMS.path("default", "kvtui-dry"))


async def test_unreachable_server(sim: SimHandle, tmp_path: Path):
    config = sim_config(sim)
    config["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:1"
    path = write_yaml(tmp_path / "kubeconfig", config)
    async with await Connection.open(str(path), None) as dead:
        with pytest.raises(Unavailable) as caught:
            await dead.check()
    assert str(caught.value) == "cannot reach https://127.0.0.1:1: connection refused"


async def test_untrusted_certificate(sim: SimHandle, tmp_path: Path):
    config = sim_config(sim)
    del config["clusters"][0]["cluster"]["certificate-authority-data"]
    path = write_yaml(tmp_path / "kubeconfig", config)
    async with await Connection.open(str(path), None) as untrusting:
        with pytest.raises(Unavailable, match=r"cannot reach .*: TLS certificate not trusted \("):
            await untrusting.check()


async def test_unusable_ca_is_a_kubeconfig_error(sim: SimHandle, tmp_path: Path):
    config = sim_config(sim)
    config["clusters"][0]["cluster"]["certificate-authority-data"] = "bm90IGEgY2VydA=="
    path = write_yaml(tmp_path / "kubeconfig", config)
    with pytest.raises(KubeconfigError, match='context "kvtui-sim": cannot load its TLS files'):
        await Connection.open(str(path), None)


async def test_server_faults_are_unavailable(conn: Connection):
    try:
        await set_faults(conn, error_429_share=1, retry_after_seconds=3)
        with pytest.raises(Unavailable) as throttled:
            await conn.get_json(kinds.NODES.path())
        assert (throttled.value.code, throttled.value.retry_after) == (429, 3.0)
        await set_faults(conn, error_429_share=0, error_500_share=1)
        with pytest.raises(Unavailable) as broken:
            await conn.get_json(kinds.NODES.path())
        assert broken.value.code == 500 and broken.value.retry_after is None
    finally:
        await set_faults(conn, error_429_share=0, error_500_share=0, retry_after_seconds=1)


async def test_can_i(conn: Connection, viewer: Connection):
    assert await conn.can_i("patch", "", "nodes")
    assert await viewer.can_i("list", "kubevirt.io", "virtualmachineinstances")
    assert not await viewer.can_i("patch", "", "nodes", name="kv-node-1")
    assert not await viewer.can_i(
        "update", "subresources.kubevirt.io", "virtualmachines", "default", "vm", "migrate"
    )


# -- watches ----------------------------------------------------------------------------------
async def collect(conn: Connection, path: str, params: dict, until: str) -> list[dict]:
    events = []
    async for event in conn.watch(path, params):
        events.append(event)
        if event["object"]["metadata"].get("name") == until:
            break
    return events


async def test_watch_streams_events_including_huge_ones(conn: Connection):
    listed = await conn.get_json(CMS.path("default"))
    rv = listed["metadata"]["resourceVersion"]
    params = {"resourceVersion": rv, "allowWatchBookmarks": True, "timeoutSeconds": 10}
    watcher = asyncio.create_task(collect(conn, CMS.path("default"), params, "kvtui-huge"))
    small = {"metadata": {"name": "kvtui-small"}, "data": {"a": "1"}}
    huge = {"metadata": {"name": "kvtui-huge"}, "data": {"blob": "x" * 3_000_000}}
    try:
        await conn.request("POST", CMS.path("default"), body=small)
        await conn.request("POST", CMS.path("default"), body=huge)
        events = await asyncio.wait_for(watcher, 10)
    finally:
        for name in ("kvtui-small", "kvtui-huge"):
            await conn.request("DELETE", CMS.path("default", name))
    added = [e["object"]["metadata"]["name"] for e in events if e["type"] == "ADDED"]
    assert added == ["kvtui-small", "kvtui-huge"]
    assert len(events[-1]["object"]["data"]["blob"]) == 3_000_000


async def test_watch_ends_when_the_server_times_it_out(conn: Connection):
    rv = (await conn.get_json(kinds.NODES.path()))["metadata"]["resourceVersion"]
    params = {"resourceVersion": rv, "timeoutSeconds": 1}

    async def drain() -> list[dict]:
        return [event async for event in conn.watch(kinds.NODES.path(), params)]

    events = await asyncio.wait_for(drain(), 5)
    assert all(e["type"] in ("ADDED", "MODIFIED", "DELETED", "BOOKMARK") for e in events)


async def test_watch_dropped_by_the_server_just_ends(conn: Connection):
    rv = (await conn.get_json(kinds.NODES.path()))["metadata"]["resourceVersion"]

    async def drain() -> list[dict]:
        return [event async for event in conn.watch(kinds.NODES.path(), {"resourceVersion": rv})]

    watcher = asyncio.create_task(drain())
    await asyncio.sleep(0.3)
    await conn.request("POST", "/_sim/faults/drop-watches")
    await asyncio.wait_for(watcher, 5)


async def test_watch_from_a_compacted_version_is_expired(conn: Connection):
    rv = (await conn.get_json(kinds.NODES.path()))["metadata"]["resourceVersion"]
    await conn.request("POST", CMS.path("default"), body={"metadata": {"name": "kvtui-bump"}})
    await conn.request("DELETE", CMS.path("default", "kvtui-bump"))
    await conn.request("POST", "/_sim/faults/compact")
    with pytest.raises(Expired) as caught:
        async for _ in conn.watch(kinds.NODES.path(), {"resourceVersion": rv}):
            pass
    assert caught.value.code == 410
    assert caught.value.verb == "watch"


async def test_watch_refused_before_streaming(viewer: Connection):
    with pytest.raises(NotFound):
        async for _ in viewer.watch("/apis/example.com/v1/things", {}):
            pass


# -- pure helpers -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path", "params", "expected"),
    [
        ("GET", "/api/v1/nodes", None, ("list", "nodes")),
        ("GET", "/api/v1/nodes", {"watch": "true"}, ("watch", "nodes")),
        ("PATCH", "/api/v1/nodes/n1", None, ("patch", 'nodes "n1"')),
        ("GET", "/api/v1/namespaces/ns/pods", None, ("list", 'pods in namespace "ns"')),
        (
            "DELETE",
            "/api/v1/namespaces/ns/pods",
            None,
            ("deletecollection", 'pods in namespace "ns"'),
        ),
        ("GET", "/api/v1/namespaces/ns", None, ("get", 'namespaces "ns"')),
        ("PUT", "/api/v1/namespaces/ns/finalize", None, ("update", 'namespaces/finalize "ns"')),
        (
            "PUT",
            "/apis/subresources.kubevirt.io/v1/namespaces/ns/virtualmachines/vm/start",
            None,
            ("update", 'virtualmachines/start "ns/vm"'),
        ),
        ("POST", "/api/v1/namespaces/ns/pods/p/eviction", None, ("create", 'pods/eviction "ns/p"')),
        ("GET", "/version", None, ("get", "/version")),
    ],
)
def test_describe_request(method, path, params, expected):
    assert describe_request(method, path, params) == expected


@pytest.mark.parametrize(
    ("code", "reason", "cls"),
    [
        (400, "BadRequest", BadRequest),
        (405, "MethodNotAllowed", BadRequest),
        (409, "AlreadyExists", Conflict),
        (409, "Conflict", Conflict),
        (410, "Gone", Expired),
        (410, "Expired", Expired),
        (422, "Invalid", Invalid),
        (500, "InternalError", Unavailable),
        (503, "", Unavailable),
        (418, "", KubeError),
    ],
)
def test_error_from_status_maps_reasons(code, reason, cls):
    body = {"kind": "Status", "code": code, "reason": reason, "message": "why"}
    error = error_from_status(code, body, "get", "nodes")
    assert type(error) is cls
    assert (error.code, error.reason, error.message) == (code, reason, "why")


def test_error_from_status_without_a_status_body():
    error = error_from_status(502, b"<html>bad gateway</html>", "list", "nodes")
    assert isinstance(error, Unavailable)
    assert str(error) == "unavailable: cannot list nodes: <html>bad gateway</html>"
    retry = error_from_status(
        429, {"reason": "TooManyRequests", "details": {"retryAfterSeconds": 7}}, "get", "x"
    )
    assert isinstance(retry, Unavailable) and retry.retry_after == 7.0
    assert error_from_status(0, {"code": 410, "reason": "Expired"}).code == 410


def test_kind_paths():
    assert kinds.NODES.path() == "/api/v1/nodes"
    assert kinds.NODES.path("ignored", "n1") == "/api/v1/nodes/n1"
    assert kinds.PODS.path() == "/api/v1/pods"
    assert kinds.PODS.path("ns", "p", "eviction") == "/api/v1/namespaces/ns/pods/p/eviction"
    assert kinds.VMIS.path("ns") == "/apis/kubevirt.io/v1/namespaces/ns/virtualmachineinstances"
    assert kinds.INSTANCETYPES.api_version == "instancetype.kubevirt.io/v1beta1"
    assert (
        kinds.VM_SUBRESOURCES.path("ns", "vm", "migrate")
        == "/apis/subresources.kubevirt.io/v1/namespaces/ns/virtualmachines/vm/migrate"
    )

"""Bad requests get the `Status` error a real API server sends, and the simulator keeps serving.

Every rejected write is followed by reading the object back: a refused PUT or PATCH must not
leave a half-written object behind.
"""

from __future__ import annotations

import base64
import json
import random
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kvtui.sim.runner import running_simulator
from tests.sim.http_helpers import Api, assert_status, make_api

CMS = "/api/v1/namespaces/default/configmaps"
JSON = "application/json"
MERGE = "application/merge-patch+json"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with running_simulator(scenario="default", speed=10.0, seed=4) as sim:
        yield make_api(sim, tmp_path_factory.mktemp("ca"))


def assert_alive(api: Api) -> None:
    assert api.get("/api/v1/namespaces/default")["metadata"]["name"] == "default"


@pytest.fixture
def cm(api: Api) -> Iterator[str]:
    """A ConfigMap to aim bad writes at; the test checks it is unchanged afterwards."""
    name = "target-" + "".join(random.choices(string.ascii_lowercase, k=6))
    resp = api(
        "POST",
        CMS,
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "labels": {"keep": "me"}},
            "data": {"a": "1"},
        },
    )
    assert resp.status_code == 201, resp.text
    before = resp.json()
    yield name
    assert api.get(f"{CMS}/{name}") == before, "a rejected write changed the object"
    api("DELETE", f"{CMS}/{name}")


# -- bodies ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"apiVersion": "v1", "kind": ', JSON),
        (b"apiVersion: v1\nkind: [ConfigMap\nmetadata: {name: x", "application/yaml"),
        (b'[{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}]', JSON),
        (b'"just a string"', JSON),
        (b"\xff\xfe not utf-8", JSON),
    ],
    ids=["malformed-json", "malformed-yaml", "json-list", "json-string", "binary"],
)
def test_undecodable_body(api: Api, body: bytes, content_type: str) -> None:
    assert_status(api("POST", CMS, body, content_type=content_type), 400, "BadRequest")
    assert_alive(api)


@pytest.mark.parametrize(("api_version", "kind"), [("apps/v1", "ConfigMap"), ("v1", "Secret")])
def test_body_for_another_kind(api: Api, api_version: str, kind: str) -> None:
    body = {"apiVersion": api_version, "kind": kind, "metadata": {"name": "wrong-kind"}}
    assert_status(api("POST", CMS, body), 400, "BadRequest")
    assert_status(api("GET", f"{CMS}/wrong-kind"), 404, "NotFound")


def test_create_in_missing_namespace(api: Api) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "orphan"}}
    status = assert_status(
        api("POST", "/api/v1/namespaces/no-such-ns/configmaps", body), 404, "NotFound"
    )
    assert "no-such-ns" in status["message"]
    assert_alive(api)


def test_duplicate_create(api: Api, cm: str) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": cm},
        "data": {"a": "overwritten?"},
    }
    status = assert_status(api("POST", CMS, body), 409, "AlreadyExists")
    assert status["details"]["name"] == cm


# -- paths and queries -------------------------------------------------------------------
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/frobnicators",
        "/api/v1/namespaces/default/frobnicators",
        "/api/v2/pods",
        "/apis/nope.example.com/v1/things",
        "/apis/kubevirt.io/v9/virtualmachines",
        "/no/such/thing",
    ],
)
def test_unknown_paths(api: Api, path: str) -> None:
    assert_status(api("GET", path), 404, "NotFound")
    assert_alive(api)


@pytest.mark.parametrize(
    "params",
    [
        {"labelSelector": "a in (b"},
        {"labelSelector": "=value"},
        {"fieldSelector": "spec.foo=bar"},
        {"fieldSelector": "metadata.labels=x"},
        {"limit": "abc"},
        {"limit": "2", "continue": "not-a-token!!"},
        {"limit": "2", "continue": base64.urlsafe_b64encode(b'{"x": 1}').decode()},
    ],
    ids=[
        "label-unclosed",
        "label-no-key",
        "field-unknown",
        "field-labels",
        "limit",
        "continue-garbage",
        "continue-json",
    ],
)
def test_bad_list_parameters(api: Api, params: dict) -> None:
    assert_status(api("GET", "/api/v1/pods", params=params), 400, "BadRequest")
    assert_alive(api)


def test_unknown_dry_run_value(api: Api) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dry-foo"}}
    # kube-apiserver validates CreateOptions: `dryRun: Unsupported value` is 422 Invalid.
    assert_status(api("POST", CMS, body, params={"dryRun": "Foo"}), 422, "Invalid")
    assert_status(api("GET", f"{CMS}/dry-foo"), 404, "NotFound")


# -- authentication and authorization ----------------------------------------------------
@pytest.mark.parametrize("token", [None, "not-a-token", ""])
def test_wrong_or_missing_token(api: Api, token: str | None) -> None:
    assert_status(api("GET", "/api/v1/pods", token=token), 401, "Unauthorized")
    assert_status(
        api("POST", CMS, {"metadata": {"name": "anon"}}, token=token), 401, "Unauthorized"
    )
    assert_status(api("GET", f"{CMS}/anon"), 404, "NotFound")


def test_readonly_write(api: Api, cm: str) -> None:
    assert_status(
        api("POST", CMS, {"metadata": {"name": "viewer"}}, token="viewer"), 403, "Forbidden"
    )
    assert_status(
        api("PATCH", f"{CMS}/{cm}", {"data": {"a": "2"}}, content_type=MERGE, token="viewer"),
        403,
        "Forbidden",
    )
    assert_status(api("DELETE", f"{CMS}/{cm}", token="viewer"), 403, "Forbidden")


# -- rejected updates leave the object as it was -----------------------------------------
@pytest.mark.parametrize(
    ("body", "content_type", "code", "reason"),
    [
        (
            [{"op": "frobnicate", "path": "/data/a", "value": "x"}],
            "application/json-patch+json",
            (400, 422),
            ("BadRequest", "Invalid"),
        ),
        (
            [{"op": "replace", "path": "/data/nope/deeper", "value": "x"}],
            "application/json-patch+json",
            (400, 422),
            ("BadRequest", "Invalid"),
        ),
        ({"op": "add"}, "application/json-patch+json", (400, 422), ("BadRequest", "Invalid")),
        (b'{"data": ', MERGE, 400, "BadRequest"),
        (b'{"data": ', "application/strategic-merge-patch+json", 400, "BadRequest"),
        # kube-apiserver's patch handler runs checkName: a rename is a BadRequest.
        ({"metadata": {"name": "renamed"}}, MERGE, 400, "BadRequest"),
        ({"metadata": {"labels": {"n": 1}}}, MERGE, 422, "Invalid"),
    ],
    ids=[
        "json-patch-op",
        "json-patch-path",
        "json-patch-object",
        "merge-malformed",
        "smp-malformed",
        "rename",
        "label-not-string",
    ],
)
def test_rejected_patch(
    api: Api, cm: str, body: Any, content_type: str, code: Any, reason: Any
) -> None:
    assert_status(api("PATCH", f"{CMS}/{cm}", body, content_type=content_type), code, reason)
    assert_status(api("GET", f"{CMS}/renamed"), 404, "NotFound")


def test_rejected_put(api: Api, cm: str) -> None:
    current = api.get(f"{CMS}/{cm}")
    assert_status(api("PUT", f"{CMS}/{cm}", b'{"metadata": {'), 400, "BadRequest")
    renamed = {**current, "metadata": {**current["metadata"], "name": "other"}}
    assert_status(api("PUT", f"{CMS}/{cm}", renamed), 400, "BadRequest")
    stale = {
        **current,
        "metadata": {**current["metadata"], "resourceVersion": "1"},
        "data": {"a": "stale"},
    }
    assert_status(api("PUT", f"{CMS}/{cm}", stale), 409, "Conflict")


def test_strategic_merge_patch_on_custom_resource(api: Api) -> None:
    vm = api.get("/apis/kubevirt.io/v1/virtualmachines")["items"][0]
    path = (
        f"/apis/kubevirt.io/v1/namespaces/{vm['metadata']['namespace']}/virtualmachines/"
        f"{vm['metadata']['name']}"
    )
    before = api.get(path)
    resp = api(
        "PATCH",
        path,
        {"metadata": {"labels": {"smp": "no"}}},
        content_type="application/strategic-merge-patch+json",
    )
    assert_status(resp, 415, "UnsupportedMediaType")
    invalid = {**before, "spec": {**before["spec"], "runStrategy": "Sometimes"}}
    invalid["spec"].pop("running", None)
    assert_status(api("PUT", path, invalid), 422, "Invalid")
    after = api.get(path)
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert after["spec"] == before["spec"]


# -- schema validation -------------------------------------------------------------------
def test_migration_without_vmi_name(api: Api) -> None:
    path = "/apis/kubevirt.io/v1/namespaces/default/virtualmachineinstancemigrations"
    body = {
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachineInstanceMigration",
        "metadata": {"name": "no-vmi"},
        "spec": {},
    }
    status = assert_status(api("POST", path, body), 422, "Invalid")
    causes = status["details"]["causes"]
    assert any(c["field"] == "spec.vmiName" for c in causes), causes
    assert_status(api("GET", f"{path}/no-vmi"), 404, "NotFound")


def test_instancetype_with_bad_memory(api: Api) -> None:
    path = "/apis/instancetype.kubevirt.io/v1beta1/virtualmachineclusterinstancetypes"
    body = {
        "apiVersion": "instancetype.kubevirt.io/v1beta1",
        "kind": "VirtualMachineClusterInstancetype",
        "metadata": {"name": "lots"},
        "spec": {"cpu": {"guest": 2}, "memory": {"guest": "lots"}},
    }
    status = assert_status(api("POST", path, body), 422, "Invalid")
    assert any(c["field"] == "spec.memory.guest" for c in status["details"]["causes"])
    assert_status(api("GET", f"{path}/lots"), 404, "NotFound")
    good = {**body, "spec": {"cpu": {"guest": 2}, "memory": {"guest": "4Gi"}}}
    assert api("POST", path, good).status_code == 201
    assert_status(api("PUT", f"{path}/lots", body), 422, "Invalid")
    assert api.get(f"{path}/lots")["spec"]["memory"]["guest"] == "4Gi"


# -- garbage -----------------------------------------------------------------------------
def random_json(rng: random.Random, depth: int = 0) -> Any:
    pick = rng.randrange(7 if depth < 3 else 4)
    if pick == 0:
        return rng.choice([None, True, False, 0, -1, 1e308, "", "x" * rng.randrange(300)])
    if pick == 1:
        return rng.randint(-(2**63), 2**63)
    if pick == 2:
        return "".join(rng.choice(string.printable + "äß€\u0000") for _ in range(rng.randrange(20)))
    if pick == 3:
        return rng.choice(["v1", "kubevirt.io/v1", "ConfigMap", "Pod", "metadata", "/spec"])
    if pick == 4:
        return [random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    keys = [
        "apiVersion",
        "kind",
        "metadata",
        "name",
        "namespace",
        "spec",
        "status",
        "data",
        "labels",
        "op",
        "path",
        "value",
        "generateName",
        "resourceVersion",
        "$patch",
    ]
    return {
        rng.choice([*keys, f"k{rng.randrange(9)}"]): random_json(rng, depth + 1)
        for _ in range(rng.randrange(5))
    }


def random_path(rng: random.Random) -> str:
    """Mostly real routes with real or near-real names, some pure nonsense."""
    names = [
        "default",
        "kubevirt",
        "cluster-x7k2mq9p4d",
        "kv-node-1",
        "bastion",
        "x",
        "..",
        "%2F",
        "a" * 300,
        "\u00fcn\u00ef",
        "-",
        "UPPER",
        "a.b",
        "*",
        "",
    ]
    routes = [
        ("/api/v1", ["pods", "nodes", "configmaps", "namespaces", "events", "secrets"]),
        (
            "/apis/kubevirt.io/v1",
            [
                "virtualmachines",
                "virtualmachineinstances",
                "virtualmachineinstancemigrations",
                "kubevirts",
            ],
        ),
        ("/apis/apps/v1", ["daemonsets"]),
        ("/apis/instancetype.kubevirt.io/v1beta1", ["virtualmachineclusterinstancetypes"]),
        ("/apis/subresources.kubevirt.io/v1", ["virtualmachines"]),
        ("/apis/authorization.k8s.io/v1", ["selfsubjectaccessreviews"]),
    ]
    subresources = ["status", "eviction", "log", "migrate", "stop", "start", "zzz"]
    base, plurals = rng.choice(routes)
    parts = [base]
    if rng.random() < 0.6:
        real = rng.choice(["default", "kubevirt", "cluster-x7k2mq9p4d"])
        parts += ["namespaces", real if rng.random() < 0.7 else rng.choice(names)]
    parts.append(rng.choice(plurals))
    if rng.random() < 0.6:
        parts.append(rng.choice(names))
        if rng.random() < 0.3:
            parts.append(rng.choice(subresources))
    if rng.random() < 0.15:
        parts = [rng.choice(["/api", "/apis", "/version", "/openapi/v3", "/healthz"])]
        parts += [rng.choice(names) for _ in range(rng.randrange(3))]
    return "/".join(parts)


def random_params(rng: random.Random) -> dict[str, str]:
    keys = [
        "labelSelector",
        "fieldSelector",
        "limit",
        "continue",
        "resourceVersion",
        "dryRun",
        "gracePeriodSeconds",
        "propagationPolicy",
        "pretty",
        "timeoutSeconds",
    ]
    junk = [
        "",
        "a in (b",
        "!",
        "x=y,z!=w",
        "-1",
        "99999999999999999999",
        "All",
        "None",
        "spec.nodeName=kv-node-1",
        "=",
        "a,,b",
        "%",
        "true",
        "0",
        "\u2603",
    ]
    return {rng.choice(keys): rng.choice(junk) for _ in range(rng.randrange(3))}


def test_random_garbage_never_breaks_the_server(tmp_path: Path) -> None:
    rng = random.Random(20240822)
    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
    types = [
        JSON,
        "application/yaml",
        MERGE,
        "application/json-patch+json",
        "application/strategic-merge-patch+json",
        "application/apply-patch+yaml",
        "text/plain",
        "application/x-www-form-urlencoded",
        "",
        'application/json; x="',
    ]
    with running_simulator(scenario="default", speed=10.0, seed=5) as sim:
        api = make_api(sim, tmp_path)
        for i in range(200):
            method = rng.choice(methods)
            kind = rng.randrange(4)
            if kind == 0:
                body: Any = bytes(rng.randrange(256) for _ in range(rng.randrange(64)))
            elif kind == 1:
                body = json.dumps(random_json(rng)).encode()
            elif kind == 2:
                body = yaml.safe_dump(random_json(rng)).encode()
            else:
                body = None
            path, params = random_path(rng), random_params(rng)
            resp = api(method, path, body, content_type=rng.choice(types), params=params)
            where = f"#{i} {method} {path} {params} {body!r:.120}"
            assert resp.status_code < 500, (where, resp.status_code, resp.text)
            if resp.status_code >= 400 and method != "HEAD":
                assert_status(resp, resp.status_code, resp.json().get("reason", "?"))
            elif method != "HEAD" and resp.headers.get("Content-Type", "").startswith(JSON):
                json.loads(resp.content or b"null")
        version = api.get("/version")
        assert version["gitVersion"].startswith("v1.")

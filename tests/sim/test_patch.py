"""PATCH bodies must be applied with kube-apiserver's semantics and never mutate their inputs."""

from __future__ import annotations

import copy
import json

import pytest

from kvtui.sim.patch import (
    PatchError,
    apply_patch,
    json_merge_patch,
    json_patch,
    strategic_merge_patch,
)


def pod() -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "p",
            "namespace": "default",
            "labels": {"app": "web", "tier": "fe"},
            "finalizers": ["a/one", "b/two"],
            "ownerReferences": [
                {"uid": "u1", "kind": "ReplicaSet", "name": "rs1"},
                {"uid": "u2", "kind": "Thing", "name": "t"},
            ],
        },
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "app:1",
                    "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                    "ports": [{"containerPort": 80, "name": "http"}],
                },
                {"name": "sidecar", "image": "side:1"},
            ],
            "volumes": [{"name": "data", "emptyDir": {}}],
            "tolerations": [{"key": "x", "operator": "Exists"}],
        },
        "status": {
            "phase": "Running",
            "conditions": [
                {"type": "Ready", "status": "True"},
                {"type": "PodScheduled", "status": "True"},
            ],
        },
    }


def has_dollar_keys(value: object) -> bool:
    if isinstance(value, dict):
        return any(k.startswith("$") or has_dollar_keys(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_dollar_keys(v) for v in value)
    return False


# --------------------------------------------------------------------------- merge patch


def test_merge_patch_rfc7386_examples() -> None:
    target = {"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]}
    patch = {"a": "z", "c": {"f": None}, "l": [3], "n": {"x": None, "y": 1}}
    assert json_merge_patch(target, patch) == {"a": "z", "c": {"d": "e"}, "l": [3], "n": {"y": 1}}


@pytest.mark.parametrize(
    ("target", "patch", "expected"),
    [
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
        ({"a": [1, None]}, {"b": [None]}, {"a": [1, None], "b": [None]}),
    ],
)
def test_merge_patch_cases(target: dict, patch: dict, expected: dict) -> None:
    assert json_merge_patch(target, patch) == expected


def test_merge_patch_does_not_mutate_and_does_not_alias() -> None:
    target, patch = pod(), {"metadata": {"labels": {"app": None, "new": "x"}}, "x": {"y": [1]}}
    before_t, before_p = copy.deepcopy(target), copy.deepcopy(patch)
    result = json_merge_patch(target, patch)
    assert target == before_t and patch == before_p
    assert result["metadata"]["labels"] == {"tier": "fe", "new": "x"}
    result["x"]["y"].append(2)
    result["spec"]["containers"][0]["image"] = "changed"
    assert patch == before_p and target == before_t


def test_merge_patch_replaces_lists() -> None:
    result = json_merge_patch(pod(), {"spec": {"containers": [{"name": "only"}]}})
    assert result["spec"]["containers"] == [{"name": "only"}]


def test_merge_patch_rejects_non_object() -> None:
    with pytest.raises(PatchError) as exc:
        json_merge_patch({}, [1])  # type: ignore[arg-type]
    assert exc.value.code == 400


# --------------------------------------------------------------------------- JSON patch


def test_json_patch_operations() -> None:
    target = pod()
    before = copy.deepcopy(target)
    ops = [
        {"op": "add", "path": "/metadata/labels/new", "value": "x"},
        {"op": "replace", "path": "/spec/containers/0/image", "value": "app:2"},
        {"op": "remove", "path": "/metadata/labels/tier"},
        {"op": "test", "path": "/status/phase", "value": "Running"},
        {"op": "copy", "from": "/metadata/name", "path": "/metadata/labels/name"},
        {"op": "move", "from": "/spec/volumes", "path": "/spec/oldVolumes"},
        {"op": "add", "path": "/metadata/finalizers/-", "value": "c/three"},
        {"op": "add", "path": "/metadata/annotations", "value": {"a~b/c": "1"}},
        {"op": "remove", "path": "/metadata/annotations/a~0b~1c"},
    ]
    result = json_patch(target, ops)
    assert target == before
    assert result["metadata"]["labels"] == {"app": "web", "new": "x", "name": "p"}
    assert result["spec"]["containers"][0]["image"] == "app:2"
    assert "volumes" not in result["spec"]
    assert result["spec"]["oldVolumes"] == [{"name": "data", "emptyDir": {}}]
    assert result["metadata"]["finalizers"][-1] == "c/three"
    assert result["metadata"]["annotations"] == {}


def test_json_patch_values_are_not_aliased() -> None:
    value = {"k": ["v"]}
    ops = [{"op": "add", "path": "/x", "value": value}]
    result = json_patch({}, ops)
    result["x"]["k"].append("w")
    assert value == {"k": ["v"]}
    assert ops[0]["value"] is value


@pytest.mark.parametrize(
    ("ops", "fragment"),
    [
        ([{"op": "test", "path": "/status/phase", "value": "Failed"}], "test"),
        ([{"op": "remove", "path": "/metadata/nothing"}], "nothing"),
        ([{"op": "replace", "path": "/spec/missing/x", "value": 1}], ""),
        ([{"op": "add", "path": "/metadata/labels/x/y", "value": 1}], ""),
        ([{"op": "bogus", "path": "/a"}], "bogus"),
        ([{"path": "/a"}], "op"),
        ([{"op": "add", "path": "/a"}], "value"),
        (["add"], ""),
        ([{"op": "add", "path": "no-slash", "value": 1}], ""),
        ([{"op": "replace", "path": "", "value": [1]}], "JSON object"),
        ([{"op": "remove", "path": "/spec/containers/5"}], ""),
    ],
)
def test_json_patch_errors(ops: list, fragment: str) -> None:
    target = pod()
    before = copy.deepcopy(target)
    with pytest.raises(PatchError) as exc:
        json_patch(target, ops)
    assert fragment in str(exc.value)
    assert exc.value.code == 422
    assert target == before


def test_json_patch_failed_op_leaves_target_untouched() -> None:
    target = pod()
    before = copy.deepcopy(target)
    ops = [
        {"op": "replace", "path": "/status/phase", "value": "Failed"},
        {"op": "test", "path": "/status/phase", "value": "Running"},
    ]
    with pytest.raises(PatchError):
        json_patch(target, ops)
    assert target == before


def test_json_patch_requires_a_list() -> None:
    with pytest.raises(PatchError) as exc:
        json_patch({}, {"op": "add"})  # type: ignore[arg-type]
    assert exc.value.code == 400


# --------------------------------------------------------------------------- strategic merge


def smp(patch: dict, target: dict | None = None, kind: str = "Pod") -> dict:
    target = pod() if target is None else target
    before_t, before_p = copy.deepcopy(target), copy.deepcopy(patch)
    result = strategic_merge_patch(target, patch, kind)
    assert target == before_t, "target was mutated"
    assert patch == before_p, "patch was mutated"
    assert not has_dollar_keys(result), result
    return result


def names(items: list[dict], key: str = "name") -> list:
    return [item[key] for item in items]


def test_containers_merge_by_name() -> None:
    result = smp({"spec": {"containers": [{"name": "app", "image": "app:2"}]}})
    containers = result["spec"]["containers"]
    assert names(containers) == ["app", "sidecar"]
    assert containers[0]["image"] == "app:2"
    assert names(containers[0]["env"]) == ["A", "B"]  # untouched nested fields survive


def test_new_container_is_prepended_like_upstream() -> None:
    # normalizeElementOrder puts items unknown to the live list before server-only items.
    result = smp({"spec": {"containers": [{"name": "debug", "image": "busybox"}]}})
    assert names(result["spec"]["containers"]) == ["debug", "app", "sidecar"]


def test_new_item_after_a_known_one_follows_it() -> None:
    patch = {"spec": {"containers": [{"name": "sidecar"}, {"name": "debug"}]}}
    assert names(smp(patch)["spec"]["containers"]) == ["app", "sidecar", "debug"]


def test_patch_order_wins_over_live_order() -> None:
    patch = {"spec": {"containers": [{"name": "new"}, {"name": "app", "image": "app:3"}]}}
    result = smp(patch)
    assert names(result["spec"]["containers"]) == ["new", "app", "sidecar"]


def test_nested_env_and_ports_merge_by_key() -> None:
    patch = {
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "env": [{"name": "B", "value": "20"}, {"name": "C", "value": "3"}],
                    "ports": [{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 443}],
                }
            ]
        }
    }
    app = smp(patch)["spec"]["containers"][0]
    assert app["env"] == [
        {"name": "A", "value": "1"},
        {"name": "B", "value": "20"},
        {"name": "C", "value": "3"},
    ]
    assert app["ports"] == [
        {"containerPort": 80, "name": "http", "protocol": "TCP"},
        {"containerPort": 443},
    ]


def test_delete_list_item_by_key() -> None:
    patch = {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}
    assert names(smp(patch)["spec"]["containers"]) == ["app"]


def test_delete_nested_env_item() -> None:
    patch = {"spec": {"containers": [{"name": "app", "env": [{"name": "A", "$patch": "delete"}]}]}}
    assert smp(patch)["spec"]["containers"][0]["env"] == [{"name": "B", "value": "2"}]


def test_delete_unknown_item_is_a_no_op() -> None:
    patch = {"spec": {"volumes": [{"name": "nope", "$patch": "delete"}]}}
    assert smp(patch)["spec"]["volumes"] == [{"name": "data", "emptyDir": {}}]


def test_delete_item_without_merge_key_fails() -> None:
    with pytest.raises(PatchError, match="merge key: name"):
        smp({"spec": {"containers": [{"$patch": "delete", "image": "x"}]}})


def test_item_without_merge_key_fails() -> None:
    with pytest.raises(PatchError, match="does not contain declared merge key: name"):
        smp({"spec": {"containers": [{"image": "x"}]}})


def test_replace_list_directive() -> None:
    patch = {"spec": {"containers": [{"name": "only", "image": "o"}, {"$patch": "replace"}]}}
    assert smp(patch)["spec"]["containers"] == [{"name": "only", "image": "o"}]


def test_replace_map_directive() -> None:
    patch = {"metadata": {"labels": {"$patch": "replace", "x": "y"}}}
    assert smp(patch)["metadata"]["labels"] == {"x": "y"}


def test_delete_map_directive_empties_the_map() -> None:
    patch = {"metadata": {"labels": {"$patch": "delete"}}}
    assert smp(patch)["metadata"]["labels"] == {}


def test_unknown_map_directive_fails() -> None:
    with pytest.raises(PatchError, match="unknown patch type"):
        smp({"metadata": {"labels": {"$patch": "explode"}}})
    with pytest.raises(PatchError, match="cannot yet be specified"):
        smp({"spec": {"containers": [{"$patch": "merge"}]}})


def test_null_deletes_fields_and_nested_nulls_are_dropped() -> None:
    patch = {
        "metadata": {"labels": {"tier": None}},
        "spec": {"containers": [{"name": "app", "ports": None}], "extra": {"a": None, "b": 1}},
    }
    result = smp(patch)
    assert result["metadata"]["labels"] == {"app": "web"}
    assert "ports" not in result["spec"]["containers"][0]
    assert result["spec"]["extra"] == {"b": 1}


def test_tolerations_are_replaced() -> None:
    patch = {"spec": {"tolerations": [{"key": "y", "operator": "Exists"}]}}
    assert smp(patch)["spec"]["tolerations"] == [{"key": "y", "operator": "Exists"}]


def test_conditions_merge_by_type() -> None:
    patch = {"status": {"conditions": [{"type": "Ready", "status": "False", "reason": "X"}]}}
    conditions = smp(patch)["status"]["conditions"]
    assert conditions == [
        {"type": "Ready", "status": "False", "reason": "X"},
        {"type": "PodScheduled", "status": "True"},
    ]


def test_finalizers_merge_as_a_set() -> None:
    result = smp({"metadata": {"finalizers": ["c/three", "a/one"]}})
    assert result["metadata"]["finalizers"] == ["c/three", "a/one", "b/two"]


def test_delete_from_primitive_list() -> None:
    result = smp({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a/one", "zzz"]}})
    assert result["metadata"]["finalizers"] == ["b/two"]


def test_owner_references_merge_by_uid() -> None:
    patch = {"metadata": {"ownerReferences": [{"uid": "u2", "name": "renamed"}, {"uid": "u3"}]}}
    refs = smp(patch)["metadata"]["ownerReferences"]
    assert names(refs, "uid") == ["u1", "u2", "u3"]
    assert refs[1] == {"uid": "u2", "kind": "Thing", "name": "renamed"}


def test_owner_references_merge_for_any_kind() -> None:
    target = {"metadata": {"ownerReferences": [{"uid": "u1"}], "finalizers": ["f"]}}
    patch = {"metadata": {"ownerReferences": [{"uid": "u2"}], "finalizers": ["g"]}}
    result = smp(patch, target, kind="VirtualMachine")
    assert names(result["metadata"]["ownerReferences"], "uid") == ["u2", "u1"]
    assert result["metadata"]["finalizers"] == ["g", "f"]


def test_unknown_kind_replaces_lists_like_merge_patch() -> None:
    target = {"spec": {"template": {"spec": {"domain": {"devices": {"disks": [{"name": "a"}]}}}}}}
    patch = {"spec": {"template": {"spec": {"domain": {"devices": {"disks": [{"name": "b"}]}}}}}}
    result = smp(patch, target, kind="VirtualMachine")
    assert result == json_merge_patch(target, patch)
    assert result["spec"]["template"]["spec"]["domain"]["devices"]["disks"] == [{"name": "b"}]


def test_node_lists() -> None:
    node = {
        "kind": "Node",
        "spec": {"taints": [{"key": "a", "effect": "NoSchedule"}], "podCIDRs": ["10.0.0.0/24"]},
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": "10.0.0.1"},
                {"type": "Hostname", "address": "n1"},
            ],
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }
    patch = {
        "spec": {"taints": [{"key": "b", "effect": "NoExecute"}], "podCIDRs": ["fd00::/64"]},
        "status": {
            "addresses": [{"type": "InternalIP", "address": "10.0.0.2"}],
            "conditions": [{"type": "MemoryPressure", "status": "False"}],
        },
    }
    result = smp(patch, node, kind="Node")
    assert result["spec"]["taints"] == [{"key": "b", "effect": "NoExecute"}]  # replaced
    assert result["spec"]["podCIDRs"] == ["fd00::/64", "10.0.0.0/24"]
    assert result["status"]["addresses"] == [
        {"type": "InternalIP", "address": "10.0.0.2"},
        {"type": "Hostname", "address": "n1"},
    ]
    assert names(result["status"]["conditions"], "type") == ["MemoryPressure", "Ready"]


def test_deployment_template_containers_merge() -> None:
    deployment = {
        "kind": "Deployment",
        "spec": {
            "template": {"spec": {"containers": [{"name": "a", "image": "a:1"}, {"name": "b"}]}}
        },
    }
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "a:2"}]}}}}
    result = smp(patch, deployment, kind="Deployment")
    assert result["spec"]["template"]["spec"]["containers"] == [
        {"name": "a", "image": "a:2"},
        {"name": "b"},
    ]


def test_set_element_order_reorders_and_is_stripped() -> None:
    patch = {
        "spec": {
            "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "app"}],
            "containers": [{"name": "app", "image": "app:9"}],
        }
    }
    containers = smp(patch)["spec"]["containers"]
    assert names(containers) == ["sidecar", "app"]
    assert containers[1]["image"] == "app:9"


def test_set_element_order_without_list_patch_only_reorders() -> None:
    patch = {"spec": {"$setElementOrder/containers": [{"name": "sidecar"}, {"name": "app"}]}}
    result = smp(patch)
    assert names(result["spec"]["containers"]) == ["sidecar", "app"]
    assert result["spec"]["containers"][1] == pod()["spec"]["containers"][0]


def test_kubectl_style_patch_with_set_element_order_for_env() -> None:
    # What `kubectl apply`/`kubectl set env` sends when adding an env var to a container.
    patch = {
        "spec": {
            "$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}],
            "containers": [
                {
                    "$setElementOrder/env": [{"name": "A"}, {"name": "Z"}, {"name": "B"}],
                    "env": [{"name": "Z", "value": "26"}],
                    "name": "app",
                }
            ],
        }
    }
    result = smp(patch)
    assert names(result["spec"]["containers"]) == ["app", "sidecar"]
    assert names(result["spec"]["containers"][0]["env"]) == ["A", "Z", "B"]


def test_retain_keys_clears_other_fields() -> None:
    target = {"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}}
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    result = smp(patch, target, kind="Deployment")
    assert result == {"spec": {"strategy": {"type": "Recreate"}}}


def test_retain_keys_must_list_every_patched_field() -> None:
    with pytest.raises(PatchError, match="retainKeys"):
        smp({"spec": {"$retainKeys": ["type"], "other": 1}})
    with pytest.raises(PatchError, match="retainKeys"):
        smp({"spec": {"$retainKeys": "type"}})


def test_unknown_dollar_keys_are_stripped() -> None:
    patch = {"metadata": {"$whatever": 1, "labels": {"$also": "x", "k": "v"}}}
    result = smp(patch)
    assert result["metadata"]["labels"]["k"] == "v"


def test_directives_inside_new_values_are_resolved() -> None:
    target = {"metadata": {"name": "x"}, "spec": {}}
    patch = {
        "spec": {
            "containers": [
                {"name": "gone", "$patch": "delete"},
                {
                    "name": "c",
                    "env": [{"name": "E", "$patch": "delete"}, {"name": "F", "value": "f"}],
                },
            ]
        }
    }
    result = smp(patch, target)
    assert result["spec"]["containers"] == [{"name": "c", "env": [{"name": "F", "value": "f"}]}]


def test_new_items_do_not_alias_the_patch() -> None:
    patch = {"spec": {"containers": [{"name": "new", "args": ["a"]}]}}
    result = smp(patch)
    new = next(c for c in result["spec"]["containers"] if c["name"] == "new")
    new["args"].append("b")
    assert patch["spec"]["containers"][0]["args"] == ["a"]


def test_top_level_replace() -> None:
    result = smp({"$patch": "replace", "kind": "Pod", "metadata": {"name": "q"}})
    assert result == {"kind": "Pod", "metadata": {"name": "q"}}


def test_strategic_merge_patch_rejects_non_object() -> None:
    with pytest.raises(PatchError) as exc:
        strategic_merge_patch({}, [], "Pod")  # type: ignore[arg-type]
    assert exc.value.code == 400


# --------------------------------------------------------------------------- dispatch


def body(value: object) -> bytes:
    return json.dumps(value).encode()


def test_apply_patch_dispatches_on_content_type() -> None:
    patch = {"spec": {"containers": [{"name": "app", "image": "app:5"}]}}
    merged = apply_patch(pod(), body(patch), "application/merge-patch+json", "Pod")
    assert names(merged["spec"]["containers"]) == ["app"]
    strategic = apply_patch(
        pod(), body(patch), "application/strategic-merge-patch+json; charset=utf-8", "Pod"
    )
    assert names(strategic["spec"]["containers"]) == ["app", "sidecar"]
    ops = [{"op": "replace", "path": "/status/phase", "value": "Failed"}]
    patched = apply_patch(pod(), body(ops), "Application/JSON-Patch+JSON", "Pod")
    assert patched["status"]["phase"] == "Failed"


@pytest.mark.parametrize(
    ("raw", "content_type", "code"),
    [
        (b"{not json", "application/merge-patch+json", 400),
        (b"", "application/strategic-merge-patch+json", 400),
        (b"[1]", "application/merge-patch+json", 400),
        (b'"x"', "application/strategic-merge-patch+json", 400),
        (b"null", "application/merge-patch+json", 400),
        (b'{"op": "add"}', "application/json-patch+json", 400),
        (b'[{"op": "remove", "path": "/nope"}]', "application/json-patch+json", 422),
        (b"{}", "application/apply-patch+yaml", 415),
        (b"{}", "application/json", 415),
        (b"{}", "text/plain", 415),
    ],
)
def test_apply_patch_errors(raw: bytes, content_type: str, code: int) -> None:
    target = pod()
    with pytest.raises(PatchError) as exc:
        apply_patch(target, raw, content_type, "Pod")
    assert exc.value.code == code
    assert target == pod()


def test_server_side_apply_message() -> None:
    with pytest.raises(PatchError, match="server-side apply is not supported"):
        apply_patch({}, b"{}", "application/apply-patch+yaml", "Pod")


def test_patch_error_defaults_to_422() -> None:
    assert PatchError("x").code == 422
    assert isinstance(PatchError("x"), ValueError)

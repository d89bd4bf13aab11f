"""The PATCH content types of kube-apiserver: JSON merge, JSON (RFC 6902) and strategic merge.

``kubectl edit/label/annotate/patch`` and client libraries send these bodies, so the simulator
has to apply them with the server's semantics: strategic merge patches merge some lists by a key
(containers by ``name``, conditions by ``type``) and understand the ``$patch`` family of
directives. The merge-key table below is a small excerpt of the Go struct tags of core/v1 and
apps/v1 (``patchStrategy:"merge" patchMergeKey:"..."``); other lists are replaced.
"""

from __future__ import annotations

from typing import Any

import jsonpatch
import jsonpointer
import orjson

from kvtui.sim.store import clone as _copy

__all__ = [
    "PatchError",
    "apply_patch",
    "json_merge_patch",
    "json_patch",
    "strategic_merge_patch",
]

# --------------------------------------------------------------------------- merge-key table

SET = ""  # marker: a list of scalars merged as a set (patchStrategy "merge", no merge key)


def _pod_spec(prefix: str) -> dict[str, str]:
    table = {
        f"{prefix}.volumes": "name",
        f"{prefix}.imagePullSecrets": "name",
        f"{prefix}.hostAliases": "ip",
        f"{prefix}.topologySpreadConstraints": "topologyKey",
        f"{prefix}.schedulingGates": "name",
        f"{prefix}.resourceClaims": "name",
    }
    for containers in ("containers", "initContainers", "ephemeralContainers"):
        table[f"{prefix}.{containers}"] = "name"
        table[f"{prefix}.{containers}.env"] = "name"
        table[f"{prefix}.{containers}.ports"] = "containerPort"
        table[f"{prefix}.{containers}.volumeMounts"] = "mountPath"
        table[f"{prefix}.{containers}.volumeDevices"] = "devicePath"
    return table


_CONDITIONS = {"status.conditions": "type"}
_WORKLOAD = {**_pod_spec("spec.template.spec"), **_CONDITIONS}

# Dotted path of a list field (list levels are transparent) -> merge key, or SET.
# Everything not listed (tolerations, Node spec.taints, containerStatuses, ...) is replaced.
MERGE_KEYS: dict[str, dict[str, str]] = {
    "*": {"metadata.finalizers": SET, "metadata.ownerReferences": "uid"},
    "Pod": {**_pod_spec("spec"), **_CONDITIONS, "status.podIPs": "ip", "status.hostIPs": "ip"},
    "PodTemplate": _pod_spec("template.spec"),
    "Node": {"spec.podCIDRs": SET, **_CONDITIONS, "status.addresses": "type"},
    "Service": {"spec.ports": "port", **_CONDITIONS},
    "Deployment": _WORKLOAD,
    "ReplicaSet": _WORKLOAD,
    "StatefulSet": _WORKLOAD,
    "DaemonSet": _WORKLOAD,
    "Job": _WORKLOAD,
    "CronJob": _pod_spec("spec.jobTemplate.spec.template.spec"),
    "PersistentVolumeClaim": _CONDITIONS,
    "Namespace": _CONDITIONS,
}

_PATCH = "$patch"
_RETAIN_KEYS = "$retainKeys"
_SET_ORDER = "$setElementOrder/"
_DELETE_FROM = "$deleteFromPrimitiveList/"

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


class PatchError(ValueError):
    """A patch the apiserver would refuse; ``code`` is the HTTP status to answer with
    (400 malformed body, 415 unsupported content type, 422 patch cannot be applied)."""

    def __init__(self, message: str, code: int = 422) -> None:
        super().__init__(message)
        self.code = code


# --------------------------------------------------------------------------- helpers


def _same(a: Any, b: Any) -> bool:
    """JSON equality: 1 == 1.0, but True is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers):
        return a == b
    return type(a) is type(b) and a == b


def _require_object(value: Any, what: str) -> dict:
    if not isinstance(value, dict):
        raise PatchError(f"{what} must be a JSON object, not {type(value).__name__}", 400)
    return value


# --------------------------------------------------------------------------- merge patch


def _merge(target: Any, patch: Any) -> Any:
    """RFC 7386 MergePatch; ``target`` is owned (may be modified), ``patch`` is not."""
    if not isinstance(patch, dict):
        return _copy(patch)
    result = target if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge(result.get(key), value)
    return result


def json_merge_patch(target: dict, patch: dict) -> dict:
    """Apply an RFC 7386 JSON merge patch; ``null`` deletes. Inputs are left untouched."""
    _require_object(patch, "a merge patch")
    return _merge(_copy(target), patch)


# --------------------------------------------------------------------------- JSON patch


def json_patch(target: dict, ops: list) -> dict:
    """Apply an RFC 6902 JSON patch (via the jsonpatch library). Inputs are left untouched."""
    if not isinstance(ops, list):
        raise PatchError(f"a JSON patch must be a JSON array, not {type(ops).__name__}", 400)
    try:
        # Copy the operations too: jsonpatch inserts "value" objects by reference.
        result = jsonpatch.JsonPatch(_copy(ops)).apply(_copy(target), in_place=True)
    except jsonpatch.InvalidJsonPatch as exc:
        raise PatchError(f"invalid JSON patch: {exc}") from None
    except jsonpatch.JsonPatchTestFailed as exc:
        raise PatchError(f"JSON patch test operation failed: {exc}") from None
    except (
        jsonpatch.JsonPatchException,
        jsonpointer.JsonPointerException,
        KeyError,
        IndexError,
        TypeError,
        ValueError,
    ) as exc:
        raise PatchError(f"unable to apply JSON patch: {exc}") from None
    if not isinstance(result, dict):
        raise PatchError("the result of a JSON patch must be a JSON object")
    return result


# --------------------------------------------------------------------------- strategic merge


def _key_of(item: Any, key: str) -> Any:
    return item.get(key) if isinstance(item, dict) else None


def _index(ref: list, item: Any, key: str) -> int:
    """Position of ``item`` in ``ref``, comparing merge keys (or scalars for sets); -1 if none."""
    if key:
        wanted = _key_of(item, key)
        return next((i for i, r in enumerate(ref) if _same(_key_of(r, key), wanted)), -1)
    return next((i for i, r in enumerate(ref) if _same(r, item)), -1)


def _sort_by(items: list, order: list, key: str) -> list:
    positions = [_index(order, item, key) for item in items]
    ranked = sorted(range(len(items)), key=lambda i: positions[i] if positions[i] >= 0 else 1 << 62)
    return [items[i] for i in ranked]


def _order(merged: list, ref: list, server: list, key: str) -> list:
    """Upstream's normalizeElementOrder: patch items in patch order, server-only items in live
    order, interleaved where both orders know the items. A consequence (faithful to the Go
    code): items the live list did not have come *before* the server-only items."""
    in_patch = [item for item in merged if _index(ref, item, key) >= 0]
    server_only = [item for item in merged if _index(ref, item, key) < 0]
    left, right = _sort_by(server_only, server, key), _sort_by(in_patch, ref, key)
    out: list = []
    i = j = 0
    while i < len(left) or j < len(right):
        if j >= len(right):
            out.append(left[i])
            i += 1
        elif i >= len(left):
            out.append(right[j])
            j += 1
        else:
            li, ri = _index(server, left[i], key), _index(server, right[j], key)
            if li >= 0 and ri >= 0 and li < ri:
                out.append(left[i])
                i += 1
            else:
                out.append(right[j])
                j += 1
    return out


def _smp_list(
    original: list, patch: list, key: str, path: str, table: dict, order: list | None
) -> list:
    """Merge a list whose patch strategy is "merge"; ``original`` is owned."""
    if key == SET:
        if any(isinstance(v, dict | list) for v in patch):
            raise PatchError(f"{path}: expected a list of scalars in the patch")
        merged: list = []
        for value in original + patch:
            if _index(merged, value, SET) < 0:
                merged.append(value)
        server = original
        patch_items = patch
    else:
        server = list(original)
        patch_items = []
        replace = False
        for item in patch:
            if not isinstance(item, dict):
                raise PatchError(f"{path}: expected a list of objects in the patch, got {item!r}")
            directive = item.get(_PATCH)
            if _PATCH not in item:
                if key not in item:
                    raise PatchError(f"map: {item} does not contain declared merge key: {key}")
                patch_items.append(item)
            elif directive == "delete":
                if key not in item:
                    raise PatchError(f"map: {item} does not contain declared merge key: {key}")
                server = [o for o in server if not _same(_key_of(o, key), item[key])]
            elif directive == "replace":
                replace = True
            elif directive == "merge":
                raise PatchError("merging lists cannot yet be specified in the patch")
            else:
                raise PatchError(f"unknown patch type: {directive} in map: {item}")
        if replace:
            server = [_smp_map({}, item, path, table) for item in patch_items]
            patch_items = []
        merged = list(server)
        for item in patch_items:
            at = _index(merged, item, key)
            if at >= 0 and isinstance(merged[at], dict):
                merged[at] = _smp_map(merged[at], item, path, table)
            else:
                merged.append(_smp_map({}, item, path, table))
    return _order(merged, patch_items if order is None else order, server, key)


def _smp_map(original: dict, patch: dict, path: str, table: dict) -> dict:
    """Strategic-merge ``patch`` into ``original`` (owned, modified and returned)."""
    if _PATCH in patch:
        directive = patch[_PATCH]
        if directive == "replace":
            return _smp_map({}, {k: v for k, v in patch.items() if k != _PATCH}, path, table)
        if directive == "delete":
            return {}
        raise PatchError(f"unknown patch type: {directive} in map: {patch}")

    if _RETAIN_KEYS in patch:
        retain = patch[_RETAIN_KEYS]
        if not isinstance(retain, list) or not all(isinstance(k, str) for k in retain):
            raise PatchError(f"invalid patch format of retainKeys: {retain!r}")
        for name, value in patch.items():
            if value is not None and not name.startswith("$") and name not in retain:
                raise PatchError(f"invalid patch format of retainKeys: {name!r} is not retained")
        for name in [k for k in original if k not in retain]:
            del original[name]

    orders: dict[str, list] = {}
    for name, value in patch.items():
        if name.startswith((_DELETE_FROM, _SET_ORDER)) and not isinstance(value, list):
            raise PatchError(f"invalid patch: {name} must be a list, got {value!r}")
        if name.startswith(_SET_ORDER):
            orders[name[len(_SET_ORDER) :]] = value
        elif name.startswith(_DELETE_FROM):
            field = name[len(_DELETE_FROM) :]
            current = original.get(field)
            if isinstance(current, list):
                original[field] = [v for v in current if _index(value, v, SET) < 0]

    for name, value in patch.items():
        if name.startswith("$"):
            continue
        sub = f"{path}.{name}" if path else name
        if value is None:
            original.pop(name, None)
        elif isinstance(value, dict):
            current = original.get(name)
            original[name] = _smp_map(
                current if isinstance(current, dict) else {}, value, sub, table
            )
        elif isinstance(value, list):
            key = table.get(sub)
            if key is None:
                original[name] = [
                    _smp_map({}, v, sub, table) if isinstance(v, dict) else _copy(v) for v in value
                ]
            else:
                current = original.get(name)
                current = current if isinstance(current, list) else []
                original[name] = _smp_list(current, value, key, sub, table, orders.get(name))
        else:
            original[name] = value

    # A $setElementOrder without a patch for its list only reorders the live list.
    for name, order in orders.items():
        sub = f"{path}.{name}" if path else name
        if name not in patch and isinstance(original.get(name), list) and sub in table:
            original[name] = _smp_list(original[name], [], table[sub], sub, table, order)
    return original


def strategic_merge_patch(target: dict, patch: dict, kind: str) -> dict:
    """Apply a strategic merge patch for an object of ``kind``. Inputs are left untouched.

    Kinds without special lists get merge-patch semantics (plus metadata's finalizers and
    ownerReferences merging); ``$`` directives never reach the result.
    """
    _require_object(patch, "a strategic merge patch")
    table = {**MERGE_KEYS["*"], **MERGE_KEYS.get(kind, {})}
    return _smp_map(_copy(target), patch, "", table)


# --------------------------------------------------------------------------- dispatch


def apply_patch(target: dict, body: bytes, content_type: str, kind: str) -> dict:
    """Apply a PATCH request body according to its Content-Type."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == APPLY_PATCH:
        raise PatchError("server-side apply is not supported by the simulator", 415)
    if media_type not in (MERGE_PATCH, JSON_PATCH, STRATEGIC_MERGE_PATCH):
        raise PatchError(
            f"the body of the request was in an unknown format ({content_type!r}) - accepted "
            f"media types include: {JSON_PATCH}, {MERGE_PATCH}, {STRATEGIC_MERGE_PATCH}",
            415,
        )
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise PatchError(f"error decoding patch: {exc}", 400) from None
    if media_type == JSON_PATCH:
        return json_patch(target, document)
    if media_type == MERGE_PATCH:
        return json_merge_patch(target, _require_object(document, "a merge patch"))
    return strategic_merge_patch(target, _require_object(document, "a strategic merge patch"), kind)

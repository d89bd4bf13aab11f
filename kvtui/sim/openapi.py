"""A minimal OpenAPI v3 document per group version, generated from the registry.

kubectl reads it to learn that the server validates fields itself (`fieldValidation` on PATCH)
and to find each kind's schema; the schemas here accept any fields, as a CRD with
`x-kubernetes-preserve-unknown-fields` would.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from kvtui.sim.resources import REGISTRY, Registry, Resource


def _path_prefix(group: str, version: str) -> str:
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def _hash(group: str, version: str) -> str:
    return hashlib.sha256(f"{group}/{version}".encode()).hexdigest()[:16].upper()


def index(registry: Registry = REGISTRY) -> dict[str, Any]:
    """`/openapi/v3`: where each group version's document lives."""
    paths = {}
    seen: set[tuple[str, str]] = set()
    for res in registry.resources:
        gv = (res.group, res.version)
        if gv in seen:
            continue
        seen.add(gv)
        prefix = _path_prefix(*gv)
        paths[prefix] = {"serverRelativeURL": f"/openapi/v3/{prefix}?hash={_hash(*gv)}"}
    return {"paths": paths}


def _schema_name(res: Resource) -> str:
    group = ".".join(reversed(res.group.split("."))) if res.group else "io.k8s.api.core"
    return f"{group}.{res.version}.{res.kind}"


def _operation(res: Resource, verb: str) -> dict[str, Any]:
    params = [
        {"name": "dryRun", "in": "query", "schema": {"type": "string"}},
        {"name": "fieldManager", "in": "query", "schema": {"type": "string"}},
    ]
    if verb in ("patch", "put", "post"):
        params.append({"name": "fieldValidation", "in": "query", "schema": {"type": "string"}})
    return {
        "operationId": f"{verb}{res.kind}",
        "parameters": params,
        "responses": {
            "200": {
                "description": "OK",
                "content": {
                    "application/json": {
                        "schema": {"$ref": f"#/components/schemas/{_schema_name(res)}"}
                    }
                },
            }
        },
        "x-kubernetes-action": verb,
        "x-kubernetes-group-version-kind": {
            "group": res.group,
            "version": res.version,
            "kind": res.kind,
        },
    }


def group_version_document(
    group: str, version: str, registry: Registry = REGISTRY
) -> dict[str, Any] | None:
    resources = registry.in_group_version(group, version)
    if not resources:
        return None
    prefix = "/" + _path_prefix(group, version)
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for res in resources:
        scope = f"{prefix}/namespaces/{{namespace}}" if res.namespaced else prefix
        paths[f"{scope}/{res.plural}"] = {
            "get": _operation(res, "list"),
            "post": _operation(res, "post"),
        }
        paths[f"{scope}/{res.plural}/{{name}}"] = {
            "get": _operation(res, "get"),
            "put": _operation(res, "put"),
            "patch": _operation(res, "patch"),
            "delete": _operation(res, "delete"),
        }
        schemas[_schema_name(res)] = {
            "type": "object",
            "description": f"{res.kind} ({res.group_version}), as served by the kvtui simulator.",
            "x-kubernetes-preserve-unknown-fields": True,
            "x-kubernetes-group-version-kind": [
                {"group": res.group, "version": res.version, "kind": res.kind}
            ],
        }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.31.4"},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def encoded(document: dict[str, Any]) -> bytes:
    return orjson.dumps(document)

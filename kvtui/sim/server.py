"""The simulated kube-apiserver: the Kubernetes REST API over the store, served by aiohttp.

Only what the wire needs lives here (routing, auth, verbs, watch streaming, Status errors);
behaviour lives in controllers and in `subresources.py`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import orjson
import yaml
from aiohttp import web

from kvtui.sim import discovery, openapi, printing
from kvtui.sim.controllers.podutil import qos_class
from kvtui.sim.faults import Faults
from kvtui.sim.patch import PatchError, apply_patch
from kvtui.sim.resources import REGISTRY, Resource
from kvtui.sim.selectors import SelectorError, parse_field_selector, parse_label_selector
from kvtui.sim.store import Obj, Store, StoreError, WatchEvent
from kvtui.sim.validation import validate
from kvtui.sim.world import World

log = logging.getLogger("kvtui.sim")

ADMIN_USER = "kvtui-admin"
VIEWER_USER = "kvtui-viewer"
# Reads like the viewer but is denied the kinds `ApiConfig.restricted` names (e.g. a token bound
# to a namespaced Role), so "could not check: forbidden" is testable.
RESTRICTED_USER = "kvtui-restricted"
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection"}
BOOKMARK_SECONDS = 5.0
# Groups compiled into kube-apiserver: only they accept strategic merge patches.
BUILTIN_GROUPS = {
    "",
    "apps",
    "policy",
    "networking.k8s.io",
    "storage.k8s.io",
    "coordination.k8s.io",
}
WATCH_QUEUE_LIMIT = 100_000

FIELD_SELECTORS: dict[str, set[str]] = {
    "/pods": {
        "spec.nodeName",
        "status.phase",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "status.podIP",
        "status.nominatedNodeName",
        "spec.hostNetwork",
    },
    "/events": {
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    },
    "/nodes": {"spec.unschedulable"},
    "/namespaces": {"status.phase"},
    "/secrets": {"type"},
    "kubevirt.io/virtualmachineinstances": {"status.nodeName", "status.phase"},
}
_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


USER = web.RequestKey("user", str)
VERB = web.RequestKey("verb", str)


@dataclass
class RecordedRequest:
    time: float
    user: str
    verb: str
    method: str
    path: str
    query: str
    code: int


@dataclass
class Target:
    """What a request path names."""

    resource: Resource
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None
    subpath: str = ""


@dataclass
class ApiConfig:
    tokens: dict[str, str]  # token -> user
    faults: Faults = field(default_factory=Faults)
    record_limit: int = 50_000
    # Resources RESTRICTED_USER may not even read, as kubectl names them ("nodes",
    # "kubevirts.kubevirt.io").
    restricted: frozenset[str] = frozenset()
    # API groups this cluster does not serve (their CRDs are "not installed"): every path 404s.
    missing_groups: frozenset[str] = frozenset()


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details


def status_body(code: int, reason: str, message: str, details: dict | None = None) -> dict:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return body


def status_response(
    code: int, reason: str, message: str, details: dict | None = None, headers: dict | None = None
) -> web.Response:
    return web.Response(
        status=code,
        body=orjson.dumps(status_body(code, reason, message, details)),
        content_type="application/json",
        headers=headers,
    )


def json_response(obj: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(obj), content_type="application/json")


def _sort_key(obj: Obj) -> tuple[str, str]:
    meta = obj["metadata"]
    return meta.get("namespace", ""), meta["name"]


def qualified(res: Resource) -> str:
    return f"{res.plural}.{res.group}" if res.group else res.plural


class ApiServer:
    """Builds the aiohttp application and serves requests against a `World`."""

    def __init__(self, world: World, config: ApiConfig) -> None:
        self.world = world
        self.store: Store = world.store
        self.config = config
        self.requests: deque[RecordedRequest] = deque(maxlen=config.record_limit)
        self.watch_tasks: set[asyncio.Task] = set()
        self._drop_watches = asyncio.Event()
        self.subresources = None  # set by app factory (avoids an import cycle)

    # -- app -----------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(
            middlewares=[self._errors_mw, self._auth_mw, self._faults_mw],
            client_max_size=16 * 1024 * 1024,
        )
        app.router.add_route("*", "/{tail:.*}", self._route)
        return app

    @web.middleware
    async def _errors_mw(self, request: web.Request, handler: Callable) -> web.StreamResponse:
        try:
            resp = await handler(request)
            if not getattr(resp, "_is_watch", False):
                self._record(request, resp.status)
            return resp
        except ApiError as exc:
            resp = status_response(exc.code, exc.reason, exc.message, exc.details)
        except StoreError as exc:
            resp = status_response(exc.code, exc.reason, exc.message, exc.details)
        except web.HTTPException:
            raise
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except Exception as exc:  # never let a request take the server down
            log.exception("internal error serving %s %s", request.method, request.path)
            resp = status_response(500, "InternalError", f"Internal error occurred: {exc}")
        self._record(request, resp.status)
        return resp

    @web.middleware
    async def _auth_mw(self, request: web.Request, handler: Callable) -> web.StreamResponse:
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        user = self.config.tokens.get(token)
        if user is None:
            request[USER] = "system:anonymous"
            return status_response(401, "Unauthorized", "Unauthorized")
        request[USER] = user
        return await handler(request)

    @web.middleware
    async def _faults_mw(self, request: web.Request, handler: Callable) -> web.StreamResponse:
        faults = self.config.faults
        if request.path.startswith("/_sim"):
            return await handler(request)
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        code = faults.pick_error(self.world.rng)
        if code == 429:
            return status_response(
                429,
                "TooManyRequests",
                "the server has received too many requests and has asked us to try again later",
                {"retryAfterSeconds": faults.retry_after_seconds},
                headers={"Retry-After": str(faults.retry_after_seconds)},
            )
        if code == 500:
            return status_response(
                500, "InternalError", "Internal error occurred: injected by the simulator"
            )
        return await handler(request)

    def _record(self, request: web.Request, code: int) -> None:
        if request.path.startswith("/_sim"):
            return
        self.requests.append(
            RecordedRequest(
                time.time(),
                request.get(USER, ""),
                request.get(VERB, ""),
                request.method,
                request.path,
                request.query_string,
                code,
            )
        )

    # -- routing -------------------------------------------------------------------------
    async def _route(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        parts = [unquote(p) for p in path.split("/")[1:]] if path != "/" else []
        if not parts:
            return json_response({"paths": ["/api", "/api/v1", "/apis", "/version"]})
        head = parts[0]
        if head == "version":
            request[VERB] = "get"
            resp = json_response(discovery.KUBE_VERSION)
        elif head == "healthz" or head == "readyz" or head == "livez":
            resp = web.Response(text="ok")
        elif head == "_sim":
            from kvtui.sim.admin import handle_admin  # admin endpoint, see admin.py

            return await handle_admin(self, request, parts[1:])
        elif head == "openapi" and len(parts) >= 2 and parts[1] == "v3":
            request[VERB] = "get"
            resp = self._openapi_v3(parts[2:])
        elif head in ("openapi", "swagger.json"):
            resp = status_response(
                404, "NotFound", "the server could not find the requested resource"
            )
        elif head == "api":
            resp = await self._api(request, "", parts[1:])
        elif head == "apis":
            if len(parts) == 1:
                request[VERB] = "get"
                groups = discovery.api_group_list()
                missing = self.config.missing_groups
                groups["groups"] = [g for g in groups["groups"] if g["name"] not in missing]
                resp = json_response(groups)
            else:
                resp = await self._api(request, parts[1], parts[2:])
        else:
            resp = status_response(
                404, "NotFound", "the server could not find the requested resource"
            )
        return resp

    @staticmethod
    def _openapi_v3(rest: list[str]) -> web.Response:
        if not rest:
            return json_response(openapi.index())
        if rest[0] == "api" and len(rest) == 2:
            doc = openapi.group_version_document("", rest[1])
        elif rest[0] == "apis" and len(rest) == 3:
            doc = openapi.group_version_document(rest[1], rest[2])
        else:
            doc = None
        if doc is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return json_response(doc)

    async def _api(self, request: web.Request, group: str, parts: list[str]) -> web.StreamResponse:
        request[VERB] = "get"
        if group in self.config.missing_groups:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if not group and not parts:
            return json_response(discovery.api_versions())
        if not parts:
            info = discovery.group_info(group)
            if info is None:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            return json_response(info)
        version, rest = parts[0], parts[1:]
        if not rest:
            doc = discovery.resource_list(group, version)
            if doc is None:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            return json_response(doc)
        if group in ("subresources.kubevirt.io", "authorization.k8s.io", "authentication.k8s.io"):
            return await self.subresources.handle_virtual(request, group, version, rest)
        target = self._target(group, version, rest)
        return await self._serve(request, target)

    def _target(self, group: str, version: str, rest: list[str]) -> Target:
        namespace = None
        if (
            len(rest) >= 3
            and rest[0] == "namespaces"
            and (res := REGISTRY.by_path(group, version, rest[2])) is not None
            and res.namespaced
        ):
            namespace, rest = rest[1], rest[2:]
        res = REGISTRY.by_path(group, version, rest[0])
        if res is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if res.namespaced and namespace is None and len(rest) > 1:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if sub is not None and sub not in res.subresources:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return Target(res, namespace, name, sub, "/".join(rest[3:]))

    # -- verbs ---------------------------------------------------------------------------
    async def _serve(self, request: web.Request, t: Target) -> web.StreamResponse:
        method = request.method
        q = request.query
        if t.subresource and t.subresource != "status":
            request[VERB] = {"GET": "get", "POST": "create"}.get(method, method.lower())
            return await self.subresources.handle(request, t)
        if t.name is None:
            if method == "GET":
                watch = q.get("watch", "").lower() in ("1", "true")
                request[VERB] = "watch" if watch else "list"
                self.authorize(request, request[VERB], t)
                if watch:
                    return await self._watch(request, t)
                return self._list(request, t)
            if method == "POST":
                request[VERB] = "create"
                self.authorize(request, "create", t)
                return self._create(request, t, await self._body(request))
            if method == "DELETE":
                request[VERB] = "deletecollection"
                self.authorize(request, "deletecollection", t)
                return await self._delete_collection(request, t)
            raise ApiError(405, "MethodNotAllowed", f"{method} is not supported here")
        verb = {"GET": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(method)
        if verb is None:
            raise ApiError(405, "MethodNotAllowed", f"{method} is not supported here")
        request[VERB] = verb
        self.authorize(request, verb, t)
        if verb == "get":
            obj = self.get_or_404(t)
            if self.wants_table(request):
                return json_response(
                    printing.table(
                        t.resource,
                        [obj],
                        self.world.now(),
                        request.query.get("includeObject", "Metadata"),
                        {"resourceVersion": obj["metadata"]["resourceVersion"]},
                    )
                )
            return json_response(obj)
        if verb == "update":
            return self._update(request, t, await self._body(request))
        if verb == "patch":
            return await self._patch(request, t)
        return await self._delete(request, t)

    def allowed(self, user: str, verb: str, resource: str) -> bool:
        """The read-only user may read everything and change nothing; the restricted one
        reads all but `ApiConfig.restricted`. `resource` is qualified: `kubevirts.kubevirt.io`."""
        if user not in (VIEWER_USER, RESTRICTED_USER):
            return True
        if verb in WRITE_VERBS | {"evict"}:
            return False
        return user != RESTRICTED_USER or resource not in self.config.restricted

    def authorize(self, request: web.Request, verb: str, t: Target) -> None:
        res = t.resource
        if self.allowed(request[USER], verb, qualified(res)):
            return
        what = (
            f'{qualified(res)} "{t.name}" is forbidden'
            if t.name
            else (f"{qualified(res)} is forbidden")
        )
        resource = res.plural + (f"/{t.subresource}" if t.subresource else "")
        scope = f'in the namespace "{t.namespace}"' if t.namespace else "at the cluster scope"
        raise ApiError(
            403,
            "Forbidden",
            f'{what}: User "{request[USER]}" cannot {verb} resource "{resource}" in API group '
            f'"{res.group}" {scope}',
            {"name": t.name, "group": res.group, "kind": res.plural},
        )

    def get_or_404(self, t: Target) -> Obj:
        obj = self.store.get(t.resource.key, t.namespace, t.name or "")
        if obj is None:
            raise ApiError(
                404,
                "NotFound",
                f'{qualified(t.resource)} "{t.name}" not found',
                {"name": t.name, "group": t.resource.group, "kind": t.resource.plural},
            )
        return obj

    async def _body(self, request: web.Request) -> Obj:
        raw = await request.read()
        ctype = request.content_type or "application/json"
        try:
            body = yaml.safe_load(raw) if "yaml" in ctype else orjson.loads(raw)
        except (orjson.JSONDecodeError, yaml.YAMLError, UnicodeDecodeError) as exc:
            raise ApiError(
                400,
                "BadRequest",
                f"the body of the request was in an unknown "
                f"format - accepted media types include: application/json, "
                f"application/yaml ({str(exc).splitlines()[0]})",
            ) from None
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the body of the request must be a JSON object")
        return body

    @staticmethod
    def dry_run(request: web.Request) -> bool:
        values = request.query.getall("dryRun", [])
        for value in values:
            if value != "All":
                options = {
                    "POST": "CreateOptions",
                    "DELETE": "DeleteOptions",
                    "PATCH": "PatchOptions",
                }.get(request.method, "UpdateOptions")
                raise ApiError(
                    422,
                    "Invalid",
                    f'{options}.meta.k8s.io "" is invalid: dryRun: '
                    f'Unsupported value: "{value}": supported values: "All"',
                    {
                        "group": "meta.k8s.io",
                        "kind": options,
                        "causes": [
                            {
                                "reason": "FieldValueNotSupported",
                                "field": "dryRun",
                                "message": f'Unsupported value: "{value}"',
                            }
                        ],
                    },
                )
        return bool(values)

    def _check_body(self, t: Target, body: Obj) -> None:
        res = t.resource
        if body.get("apiVersion") and body["apiVersion"] != res.api_version:
            raise ApiError(
                400,
                "BadRequest",
                f"the API version in the data "
                f"({body['apiVersion']}) does not match the expected API version "
                f"({res.api_version})",
            )
        if body.get("kind") and body["kind"] != res.kind:
            raise ApiError(
                400,
                "BadRequest",
                f"the kind in the data ({body['kind']}) does not "
                f"match the expected kind ({res.kind})",
            )
        meta = body.get("metadata")
        if meta is not None and not isinstance(meta, dict):
            raise ApiError(400, "BadRequest", "metadata must be an object")
        meta = body.setdefault("metadata", {})
        if res.namespaced:
            if meta.get("namespace") and t.namespace and meta["namespace"] != t.namespace:
                raise ApiError(
                    400,
                    "BadRequest",
                    "the namespace of the provided object does "
                    "not match the namespace sent on the request",
                )
            meta["namespace"] = t.namespace or meta.get("namespace")
            if not meta["namespace"]:
                raise ApiError(400, "BadRequest", "the namespace of the object is required")
        name = meta.get("name")
        if name is not None and (
            not isinstance(name, str) or (name and (len(name) > 253 or not _NAME_RE.match(name)))
        ):
            self._invalid(
                res,
                str(name),
                "metadata.name",
                name,
                "a lowercase RFC 1123 subdomain must consist of lower case "
                "alphanumeric characters, '-' or '.', and must start and end with "
                "an alphanumeric character",
            )
        for key in ("labels", "annotations"):
            value = meta.get(key)
            if value is not None and (
                not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values())
            ):
                self._invalid(
                    res, str(name), f"metadata.{key}", value, f"{key} must be a map of strings"
                )
        problems = validate(res, body)
        if problems:
            self._invalid(
                res, str(name or meta.get("generateName", "")), *problems[0], causes=problems
            )

    @staticmethod
    def _invalid(
        res: Resource, name: str, path: str, value: Any, detail: str, causes: list | None = None
    ) -> None:
        causes = causes or [(path, value, detail)]
        message = f'{res.kind}.{res.group or "core"} "{name}" is invalid: ' + ", ".join(
            f"{p}: Invalid value: {orjson.dumps(v).decode() if v is not None else 'null'}: {d}"
            for p, v, d in causes
        )
        if not res.group:
            message = message.replace(".core", "", 1)
        raise ApiError(
            422,
            "Invalid",
            message,
            {
                "name": name,
                "group": res.group,
                "kind": res.kind,
                "causes": [
                    {"reason": "FieldValueInvalid", "message": d, "field": p} for p, _, d in causes
                ],
            },
        )

    def _namespace_exists(self, t: Target) -> None:
        if t.resource.namespaced and self.store.get("/namespaces", None, t.namespace or "") is None:
            raise ApiError(
                404,
                "NotFound",
                f'namespaces "{t.namespace}" not found',
                {"name": t.namespace, "kind": "namespaces"},
            )

    def _create(self, request: web.Request, t: Target, body: Obj) -> web.Response:
        self._check_body(t, body)
        self._namespace_exists(t)
        if t.resource.key == "/pods":
            # kube-apiserver's pod strategy: a new pod starts Pending, with its QoS class.
            body["status"] = {"phase": "Pending", "qosClass": qos_class(body)}
        obj = self.store.create(t.resource.key, body, dry_run=self.dry_run(request))
        return json_response(obj, 201)

    def _update(self, request: web.Request, t: Target, body: Obj) -> web.Response:
        self._check_body(t, body)
        meta = body["metadata"]
        if meta.get("name") and meta["name"] != t.name:
            raise ApiError(
                400,
                "BadRequest",
                "the name of the object "
                f"({meta['name']}) does not match the name on the URL ({t.name})",
            )
        meta["name"] = t.name
        current = self.get_or_404(t)
        body = self._merge_subresource(t, current, body)
        obj = self.store.replace(t.resource.key, body, dry_run=self.dry_run(request))
        return json_response(obj)

    @staticmethod
    def _merge_subresource(t: Target, current: Obj, new: Obj) -> Obj:
        """The main endpoint cannot change status; the status endpoint changes only status."""
        if "status" not in t.resource.subresources:
            return new
        if t.subresource == "status":
            merged = dict(current)
            merged["status"] = new.get("status")
            merged["metadata"] = {
                **current["metadata"],
                "resourceVersion": new["metadata"].get("resourceVersion")
                or current["metadata"]["resourceVersion"],
            }
            return merged
        if "status" in current:
            new["status"] = current["status"]
        else:
            new.pop("status", None)
        return new

    async def _patch(self, request: web.Request, t: Target) -> web.Response:
        current = self.get_or_404(t)
        raw = await request.read()
        if "strategic-merge-patch" in request.content_type and (
            t.resource.group not in BUILTIN_GROUPS
        ):
            raise ApiError(
                415,
                "UnsupportedMediaType",
                "the body of the request was in an "
                "unknown format - accepted media types include: "
                "application/json-patch+json, application/merge-patch+json, "
                "application/apply-patch+yaml",
            )
        try:
            patched = apply_patch(current, raw, request.content_type, t.resource.kind)
        except PatchError as exc:
            code = getattr(exc, "code", 422)
            reason = {400: "BadRequest", 415: "UnsupportedMediaType"}.get(code, "Invalid")
            raise ApiError(code, reason, str(exc)) from None
        if not isinstance(patched, dict):
            raise ApiError(422, "Invalid", "the patch must produce an object")
        meta = patched.get("metadata")
        if not isinstance(meta, dict):
            raise ApiError(422, "Invalid", "metadata must be an object")
        if meta.get("name") != t.name:
            raise ApiError(
                400,
                "BadRequest",
                f"the name of the object ({meta.get('name')}) "
                f"does not match the name on the URL ({t.name})",
            )
        for immutable in ("namespace", "uid"):
            if meta.get(immutable) != current["metadata"].get(immutable):
                raise ApiError(
                    422, "Invalid", f"metadata.{immutable}: Invalid value: field is immutable"
                )
        patched.setdefault("apiVersion", current["apiVersion"])
        patched.setdefault("kind", current["kind"])
        self._check_body(t, patched)
        patched = self._merge_subresource(t, current, patched)
        obj = self.store.replace(t.resource.key, patched, dry_run=self.dry_run(request))
        return json_response(obj)

    async def _delete_options(self, request: web.Request) -> Obj:
        if not request.can_read_body:
            return {}
        raw = await request.read()
        if not raw.strip():
            return {}
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise ApiError(400, "BadRequest", "DeleteOptions: malformed JSON body") from None
        return body if isinstance(body, dict) else {}

    def grace_for(self, t: Target, current: Obj, options: Obj, request: web.Request) -> int:
        grace = options.get("gracePeriodSeconds", request.query.get("gracePeriodSeconds"))
        if grace is None and t.resource.key == "/pods":
            grace = (current.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
        try:
            return max(0, int(grace or 0))
        except (TypeError, ValueError):
            raise ApiError(400, "BadRequest", f"invalid gracePeriodSeconds {grace!r}") from None

    async def _delete(self, request: web.Request, t: Target) -> web.Response:
        current = self.get_or_404(t)
        options = await self._delete_options(request)
        dry = self.dry_run(request) or options.get("dryRun") == ["All"]
        grace = self.grace_for(t, current, options, request)
        pre = options.get("preconditions") or {}
        if t.resource.key != "/pods":
            grace = 0  # only pods terminate gracefully; other kinds rely on finalizers
        obj = self.store.delete(
            t.resource.key,
            t.namespace,
            t.name or "",
            grace_seconds=grace,
            dry_run=dry,
            uid=pre.get("uid"),
            resource_version=pre.get("resourceVersion"),
        )
        if t.resource.key in ("/pods",) or obj["metadata"].get("deletionTimestamp"):
            return json_response(obj)
        return json_response(
            {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "details": {
                    "name": t.name,
                    "group": t.resource.group,
                    "kind": t.resource.plural,
                    "uid": obj["metadata"]["uid"],
                },
            }
        )

    async def _delete_collection(self, request: web.Request, t: Target) -> web.Response:
        options = await self._delete_options(request)
        dry = self.dry_run(request) or options.get("dryRun") == ["All"]
        items = self.select(request, t)
        for obj in items:
            meta = obj["metadata"]
            grace = self.grace_for(t, obj, options, request) if t.resource.key == "/pods" else 0
            with contextlib.suppress(StoreError):
                self.store.delete(
                    t.resource.key,
                    meta.get("namespace"),
                    meta["name"],
                    grace_seconds=grace,
                    dry_run=dry,
                )
        return self._list_response(request, t, items)

    # -- list & watch --------------------------------------------------------------------
    def _selectors(self, request: web.Request, t: Target) -> tuple[Any, Any]:
        q = request.query
        try:
            labels = parse_label_selector(q.get("labelSelector", ""))
            allowed = {"metadata.name", "metadata.namespace"} | FIELD_SELECTORS.get(
                t.resource.key, set()
            )
            fields_ = parse_field_selector(q.get("fieldSelector", ""), allowed)
        except SelectorError as exc:
            raise ApiError(400, "BadRequest", str(exc)) from None
        return labels, fields_

    def select(self, request: web.Request, t: Target) -> list[Obj]:
        labels, fields_ = self._selectors(request, t)
        name = fields_.exact("metadata.name")
        if name is not None:
            one = self.store.get(t.resource.key, t.namespace, name)
            candidates = [one] if one is not None else []
        else:
            candidates = self.store.list(t.resource.key, t.namespace)
        if labels.empty and fields_.empty:
            return candidates
        return [
            o
            for o in candidates
            if labels.matches(o["metadata"].get("labels")) and fields_.matches(o)
        ]

    def _list(self, request: web.Request, t: Target) -> web.Response:
        items = self.select(request, t)
        items.sort(key=_sort_key)
        q = request.query
        rv = str(self.store.rv)
        start = 0
        cont = q.get("continue")
        if cont:
            try:
                token = orjson.loads(base64.urlsafe_b64decode(cont.encode()))
                after = (token["ns"], token["name"])
                rv = str(token["rv"])
            except (binascii.Error, ValueError, KeyError, TypeError):
                raise ApiError(400, "BadRequest", "continue key is not valid") from None
            if int(rv) < self.store.compacted_rv:
                raise ApiError(
                    410,
                    "Expired",
                    "The provided continue parameter is too old to "
                    "display a consistent list result. You can start a new list "
                    "without the continue parameter.",
                )
            start = next(
                (
                    i
                    for i, o in enumerate(items)
                    if (o["metadata"].get("namespace", ""), o["metadata"]["name"]) > after
                ),
                len(items),
            )
        limit = q.get("limit")
        meta: dict[str, Any] = {"resourceVersion": rv}
        if limit:
            try:
                n = int(limit)
            except ValueError:
                raise ApiError(400, "BadRequest", f"invalid limit {limit!r}") from None
            if n > 0 and start + n < len(items):
                last = items[start + n - 1]["metadata"]
                meta["continue"] = base64.urlsafe_b64encode(
                    orjson.dumps(
                        {"rv": int(rv), "ns": last.get("namespace", ""), "name": last["name"]}
                    )
                ).decode()
                meta["remainingItemCount"] = len(items) - start - n
                items = items[start : start + n]
            else:
                items = items[start:]
        else:
            items = items[start:]
        return self._list_response(request, t, items, meta)

    def _list_response(
        self, request: web.Request, t: Target, items: list[Obj], meta: dict | None = None
    ) -> web.Response:
        meta = meta or {"resourceVersion": str(self.store.rv)}
        if self.wants_table(request):
            return json_response(
                printing.table(
                    t.resource,
                    items,
                    self.world.now(),
                    request.query.get("includeObject", "Metadata"),
                    meta,
                )
            )
        res = t.resource
        head = orjson.dumps(
            {"kind": res.list_kind_name, "apiVersion": res.api_version, "metadata": meta}
        )[:-1]
        encoded = self.store.collection(res.key).encoded
        body = head + b',"items":[' + b",".join(encoded(o) for o in items) + b"]}"
        return web.Response(body=body, content_type="application/json")

    @staticmethod
    def wants_table(request: web.Request) -> bool:
        accept = request.headers.get("Accept", "")
        return "as=Table" in accept

    async def _watch(self, request: web.Request, t: Target) -> web.StreamResponse:
        labels, fields_ = self._selectors(request, t)
        q = request.query
        coll = self.store.collection(t.resource.key)
        bookmarks = q.get("allowWatchBookmarks", "").lower() in ("1", "true")
        table = self.wants_table(request)
        try:
            timeout = float(q.get("timeoutSeconds", 0) or 0)
        except ValueError:
            raise ApiError(400, "BadRequest", "invalid timeoutSeconds") from None
        rv_param = q.get("resourceVersion", "")
        try:
            since = int(rv_param) if rv_param not in ("", "0") else None
        except ValueError:
            raise ApiError(400, "BadRequest", f'invalid resourceVersion "{rv_param}"') from None

        queue: asyncio.Queue[WatchEvent | None] = asyncio.Queue()

        def push(event: WatchEvent) -> None:
            if queue.qsize() > WATCH_QUEUE_LIMIT:
                queue.put_nowait(None)  # too slow a reader: end the watch, it will resume
            else:
                queue.put_nowait(event)

        # Register before reading history: no await in between, so nothing can slip through.
        coll.watchers.add(push)
        initial: list[WatchEvent] = []
        expired = False
        if since is None:
            initial = [
                WatchEvent("ADDED", int(o["metadata"]["resourceVersion"]), o)
                for o in self.store.list(t.resource.key, t.namespace)
            ]
        else:
            full = len(coll.history) == coll.history.maxlen
            oldest = coll.oldest_rv()
            if since < self.store.compacted_rv or (full and since < oldest - 1):
                expired = True
            else:
                initial = [e for e in coll.history if e.rv > since]

        resp = web.StreamResponse(
            headers={"Content-Type": "application/json", "Cache-Control": "no-cache"}
        )
        resp._is_watch = True  # type: ignore[attr-defined]
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        self._record(request, 200)
        task = asyncio.current_task()
        if task:
            self.watch_tasks.add(task)
        started = time.monotonic()
        max_seconds = self.config.faults.watch_max_seconds
        try:
            if expired:
                status = status_body(
                    410,
                    "Expired",
                    f"too old resource version: {since} "
                    f"({max(self.store.compacted_rv, coll.oldest_rv())})",
                )
                await resp.write(orjson.dumps({"type": "ERROR", "object": status}) + b"\n")
                return resp
            for event in initial:
                line = self._watch_line(t, event, labels, fields_, table)
                if line:
                    await resp.write(line)
            last_bookmark = time.monotonic()
            while True:
                now = time.monotonic()
                deadline = BOOKMARK_SECONDS - (now - last_bookmark)
                if timeout:
                    deadline = min(deadline, timeout - (now - started))
                if max_seconds:
                    deadline = min(deadline, max_seconds - (now - started))
                if (timeout and now - started >= timeout) or (
                    max_seconds and now - started >= max_seconds
                ):
                    break
                try:
                    event = await asyncio.wait_for(queue.get(), max(0.0, deadline))
                except TimeoutError:
                    if bookmarks:
                        await resp.write(self._bookmark(t))
                    last_bookmark = time.monotonic()
                    continue
                if event is None:
                    break
                line = self._watch_line(t, event, labels, fields_, table)
                if line:
                    await resp.write(line)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            coll.watchers.discard(push)
            if task:
                self.watch_tasks.discard(task)
        return resp

    def _bookmark(self, t: Target) -> bytes:
        obj = {
            "kind": t.resource.kind,
            "apiVersion": t.resource.api_version,
            "metadata": {
                "resourceVersion": str(self.store.rv),
                "annotations": {"k8s.io/initial-events-end": "true"},
            },
        }
        return orjson.dumps({"type": "BOOKMARK", "object": obj}) + b"\n"

    def _watch_line(
        self, t: Target, event: WatchEvent, labels: Any, fields_: Any, table: bool
    ) -> bytes | None:
        obj = event.obj
        meta = obj["metadata"]
        if t.namespace and meta.get("namespace") != t.namespace:
            return None
        matches = labels.matches(meta.get("labels")) and fields_.matches(obj)
        etype = event.type
        if event.type == "MODIFIED" and event.old is not None:
            old_meta = event.old["metadata"]
            was = labels.matches(old_meta.get("labels")) and fields_.matches(event.old)
            if was and not matches:
                etype, matches = "DELETED", True
            elif matches and not was:
                etype = "ADDED"
        if not matches:
            return None
        if table:
            payload = printing.table(
                t.resource,
                [obj],
                self.world.now(),
                "Object",
                {"resourceVersion": meta["resourceVersion"]},
            )
            return orjson.dumps({"type": etype, "object": payload}) + b"\n"
        return b'{"type":"' + etype.encode() + b'","object":' + event.raw + b"}\n"

    def drop_watches(self) -> int:
        """End every open watch stream now (fault injection); clients must resume."""
        tasks = list(self.watch_tasks)
        for task in tasks:
            task.cancel()
        return len(tasks)

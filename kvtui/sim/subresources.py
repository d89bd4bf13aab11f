"""Subresources and virtual endpoints: eviction, pod proxy and log, KubeVirt VM actions, RBAC.

The KubeVirt actions behave like virt-api: they change the VM (runStrategy, state change
requests) or create a migration, and the controllers do the rest.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from kvtui.sim import metrics
from kvtui.sim.eviction import admit_virt_launcher, disruption_denial
from kvtui.sim.kubevirt import VMIMS, VMIS, VMS, condition, condition_true
from kvtui.sim.patch import PatchError, apply_patch
from kvtui.sim.resources import REGISTRY
from kvtui.sim.server import (
    RESTRICTED_USER,
    USER,
    VERB,
    VIEWER_USER,
    ApiError,
    Target,
    json_response,
    qualified,
)
from kvtui.sim.service_proxy import proxy_service
from kvtui.sim.store import Obj

if TYPE_CHECKING:
    from kvtui.sim.server import ApiServer

METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _scale_of(obj: Obj) -> Obj:
    """The Scale the API server derives from an object with spec.replicas and a selector."""
    meta = obj["metadata"]
    labels = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            key: meta[key]
            for key in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if key in meta
        },
        "spec": {"replicas": int((obj.get("spec") or {}).get("replicas") or 0)},
        "status": {
            "replicas": int((obj.get("status") or {}).get("replicas") or 0),
            "selector": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
        },
    }


class Subresources:
    def __init__(self, api: ApiServer) -> None:
        self.api = api
        self.store = api.store
        self.world = api.world

    # -- stored kinds' subresources ------------------------------------------------------
    async def handle(self, request: web.Request, t: Target) -> web.StreamResponse:
        key, sub, method = t.resource.key, t.subresource, request.method
        if key == "/pods" and sub == "eviction" and method == "POST":
            return await self._evict(request, t)
        if key == "/pods" and sub == "proxy" and method == "GET":
            return self._pod_proxy(request, t)
        if key == "/pods" and sub == "log" and method == "GET":
            return self._pod_log(t)
        if key == "/services" and sub == "proxy" and method in ("GET", "POST"):
            return await proxy_service(self.api, request, t)
        if sub == "scale" and method in ("GET", "PUT", "PATCH"):
            return await self._scale(request, t)
        raise ApiError(
            405, "MethodNotAllowed", f"{method} is not supported on {t.resource.plural}/{sub}"
        )

    async def _scale(self, request: web.Request, t: Target) -> web.Response:
        """autoscaling/v1 Scale of an object with replicas (`kubectl scale md ...`): reads
        spec.replicas, writes only it, guarded by the resourceVersion a client sends."""
        verb = {"GET": "get", "PUT": "update", "PATCH": "patch"}[request.method]
        self.api.authorize(request, verb, t)
        current = self.api.get_or_404(t)
        scale = _scale_of(current)
        if request.method == "GET":
            return json_response(scale)
        if request.method == "PUT":
            wanted = await self.api._body(request)
        else:
            try:
                wanted = apply_patch(scale, await request.read(), request.content_type, "Scale")
            except PatchError as exc:
                raise ApiError(getattr(exc, "code", 422), "Invalid", str(exc)) from None
        replicas = (wanted.get("spec") or {}).get("replicas") if isinstance(wanted, dict) else None
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise ApiError(
                422,
                "Invalid",
                f'Scale.autoscaling "{t.name}" is invalid: spec.replicas: Invalid value: '
                f"{replicas!r}: must be greater than or equal to 0",
            )
        updated = copy.deepcopy(current)
        updated.setdefault("spec", {})["replicas"] = replicas
        asked = (wanted.get("metadata") or {}).get("resourceVersion")
        if asked:  # a client's precondition; the store refuses a stale one with 409
            updated["metadata"]["resourceVersion"] = asked
        obj = self.store.replace(t.resource.key, updated, dry_run=self.api.dry_run(request))
        return json_response(_scale_of(obj))

    async def _evict(self, request: web.Request, t: Target) -> web.Response:
        self.api.authorize(request, "create", t)
        body = await self.api._body(request)
        if body.get("kind") not in (None, "Eviction"):
            raise ApiError(
                400,
                "BadRequest",
                f"the kind in the data ({body.get('kind')}) "
                "does not match the expected kind (Eviction)",
            )
        name = (body.get("metadata") or {}).get("name")
        if name and name != t.name:
            raise ApiError(400, "BadRequest", "name in URL does not match name in Eviction object")
        pod = self.api.get_or_404(Target(t.resource, t.namespace, t.name))
        options = body.get("deleteOptions") or {}
        dry = self.api.dry_run(request) or options.get("dryRun") == ["All"]
        denial = admit_virt_launcher(self.store, pod, dry) or disruption_denial(self.store, pod)
        if denial:
            causes = (
                [
                    {
                        "reason": "DisruptionBudget",
                        "message": "The disruption budget is blocking eviction",
                    }
                ]
                if "disruption budget" in denial.message
                else []
            )
            raise ApiError(
                denial.code, denial.reason, denial.message, {"causes": causes} if causes else None
            )
        grace = self.api.grace_for(t, pod, options, request)
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            grace = 0
        self.store.delete("/pods", t.namespace, t.name or "", grace_seconds=grace, dry_run=dry)
        return json_response(
            {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "code": 201,
            },
            201,
        )

    def _pod_proxy(self, request: web.Request, t: Target) -> web.Response:
        # The name may carry a scheme and port: "https:virt-handler-abcde:8443".
        raw = t.name or ""
        parts = raw.split(":")
        name = parts[1] if len(parts) == 3 else parts[0]
        pod = self.api.get_or_404(Target(t.resource, t.namespace, name))
        labels = pod["metadata"].get("labels") or {}
        if (pod.get("status") or {}).get("phase") != "Running":
            raise ApiError(503, "ServiceUnavailable", f'pod "{name}" is not running')
        if t.subpath.strip("/") == "metrics" and labels.get("kubevirt.io") == "virt-handler":
            text = metrics.render_node_metrics(self.world, pod["spec"]["nodeName"])
            return web.Response(text=text, headers={"Content-Type": METRICS_CONTENT_TYPE})
        if t.subpath.strip("/") == "metrics" and labels.get("kubevirt.io") == "virt-controller":
            text = metrics.render_controller_metrics(self.world)
            return web.Response(text=text, headers={"Content-Type": METRICS_CONTENT_TYPE})
        raise ApiError(404, "NotFound", f"no handler for /{t.subpath} on pod {name}")

    def _pod_log(self, t: Target) -> web.Response:
        pod = self.api.get_or_404(t)
        lines = [
            f"{pod['metadata'].get('creationTimestamp')} {pod['metadata']['name']} "
            "started (simulated container log)"
        ]
        return web.Response(text="\n".join(lines) + "\n")

    # -- virtual endpoints ---------------------------------------------------------------
    async def handle_virtual(
        self, request: web.Request, group: str, version: str, rest: list[str]
    ) -> web.Response:
        if group == "authorization.k8s.io" and rest == ["selfsubjectaccessreviews"]:
            request[VERB] = "create"
            return await self._ssar(request)
        if group == "authentication.k8s.io" and rest == ["selfsubjectreviews"]:
            request[VERB] = "create"
            return self._whoami(request)
        if group == "subresources.kubevirt.io" and len(rest) >= 5 and rest[0] == "namespaces":
            namespace, plural, name, action = rest[1], rest[2], rest[3], "/".join(rest[4:])
            if request.method not in ("PUT", "POST"):
                raise ApiError(405, "MethodNotAllowed", f"{request.method} is not supported")
            request[VERB] = "update"
            return await self._kubevirt_action(request, namespace, plural, name, action)
        raise ApiError(404, "NotFound", "the server could not find the requested resource")

    async def _ssar(self, request: web.Request) -> web.Response:
        body = await self.api._body(request)
        attrs = (body.get("spec") or {}).get("resourceAttributes") or {}
        verb = attrs.get("verb", "")
        group, plural = attrs.get("group", ""), attrs.get("resource", "")
        allowed = self.api.allowed(request[USER], verb, f"{plural}.{group}" if group else plural)
        if allowed:
            reason = ""
        elif request[USER] == VIEWER_USER:
            reason = "the read-only token may not change anything"
        else:
            reason = f"{request[USER]} may not {verb} {plural}"
        body["status"] = {"allowed": allowed, "reason": reason} if reason else {"allowed": True}
        body.setdefault("apiVersion", "authorization.k8s.io/v1")
        body.setdefault("kind", "SelfSubjectAccessReview")
        return json_response(body, 201)

    def _whoami(self, request: web.Request) -> web.Response:
        groups = ["system:authenticated"]
        if request[USER] not in (VIEWER_USER, RESTRICTED_USER):
            groups.insert(0, "system:masters")
        return json_response(
            {
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "SelfSubjectReview",
                "metadata": {},
                "status": {"userInfo": {"username": request[USER], "groups": groups}},
            },
            201,
        )

    async def _kubevirt_action(
        self, request: web.Request, namespace: str, plural: str, name: str, action: str
    ) -> web.Response:
        res = REGISTRY.by_path("kubevirt.io", "v1", plural)
        if res is None or plural not in ("virtualmachines", "virtualmachineinstances"):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        target = Target(res, namespace, name, action)
        self.api.authorize(request, "update", target)
        options: dict[str, Any] = {}
        raw = await request.read()
        if raw.strip():
            try:
                options = orjson.loads(raw)
            except orjson.JSONDecodeError:
                raise ApiError(400, "BadRequest", "the options body is not valid JSON") from None
            if not isinstance(options, dict):
                raise ApiError(400, "BadRequest", "the options body must be a JSON object")
        dry = self.api.dry_run(request) or options.get("dryRun") == ["All"]
        obj = self.api.get_or_404(Target(res, namespace, name))
        if plural == "virtualmachines":
            handler = {
                "start": self._start,
                "stop": self._stop,
                "restart": self._restart,
                "migrate": self._migrate,
                "evacuate/cancel": self._cancel_evacuation,
            }
        else:
            handler = {"evacuate/cancel": self._cancel_evacuation}
        if action not in handler:
            raise ApiError(404, "NotFound", f"unknown subresource {plural}/{action}")
        handler[action](obj, dry)
        return web.Response(status=202 if action == "migrate" else 200)

    def _vmi_of(self, vm: Obj) -> Obj | None:
        meta = vm["metadata"]
        return self.store.get(VMIS, meta["namespace"], meta["name"])

    @staticmethod
    def _run_strategy(vm: Obj) -> str:
        spec = vm.get("spec") or {}
        if spec.get("runStrategy"):
            return spec["runStrategy"]
        return "Always" if spec.get("running") else "Halted"

    def _set_vm(
        self, vm: Obj, dry: bool, run_strategy: str | None = None, request: str | None = None
    ) -> None:
        if dry:
            return
        meta = vm["metadata"]

        def change(obj: Obj) -> None:
            spec = obj.setdefault("spec", {})
            if run_strategy:
                spec.pop("running", None)
                spec["runStrategy"] = run_strategy
            if request:
                obj.setdefault("status", {}).setdefault("stateChangeRequests", []).append(
                    {"action": request}
                )

        self.store.mutate(VMS, meta["namespace"], meta["name"], change)

    def _start(self, vm: Obj, dry: bool) -> None:
        strategy = self._run_strategy(vm)
        vmi = self._vmi_of(vm)
        if strategy == "Always" and vmi is not None:
            raise ApiError(409, "Conflict", "Always does not support manual start requests")
        if vmi is not None and (vmi.get("status") or {}).get("phase") == "Running":
            raise ApiError(409, "Conflict", "VM is already running")
        if strategy in ("Halted", "Always"):
            self._set_vm(vm, dry, run_strategy="Always")
        else:
            self._set_vm(vm, dry, request="Start")

    def _stop(self, vm: Obj, dry: bool) -> None:
        strategy = self._run_strategy(vm)
        vmi = self._vmi_of(vm)
        if strategy == "Halted" and vmi is None:
            raise ApiError(
                409, "Conflict", "VM is not running: Halted does not support manual stop requests"
            )
        if strategy == "Manual":
            if vmi is None:
                raise ApiError(409, "Conflict", "VM is not running")
            self._set_vm(vm, dry, request="Stop")
        else:
            self._set_vm(vm, dry, run_strategy="Halted")

    def _restart(self, vm: Obj, dry: bool) -> None:
        strategy = self._run_strategy(vm)
        vmi = self._vmi_of(vm)
        if strategy == "Halted":
            raise ApiError(
                409, "Conflict", "RunStrategy Halted does not support manual restart requests"
            )
        if vmi is None:
            raise ApiError(409, "Conflict", "VM is not running")
        if dry:
            return
        meta = vm["metadata"]
        self._set_vm(vm, dry, request="Stop")
        self._set_vm(
            self.store.get(VMS, meta["namespace"], meta["name"]) or vm, dry, request="Start"
        )
        self.store.delete(VMIS, meta["namespace"], meta["name"])

    def _migrate(self, vm: Obj, dry: bool) -> None:
        vmi = self._vmi_of(vm)
        meta = vm["metadata"]
        if vmi is None or (vmi.get("status") or {}).get("phase") != "Running":
            raise ApiError(409, "Conflict", f"VM {meta['name']} is not running")
        if not condition_true(vmi, "LiveMigratable"):
            cond = condition(vmi, "LiveMigratable") or {}
            raise ApiError(
                409,
                "Conflict",
                "Cannot migrate VMI, Reason: "
                f"{cond.get('reason', 'NotMigratable')}, Message: "
                f"{cond.get('message', 'the VMI is not live-migratable')}",
            )
        for vmim in self.store.list(VMIMS, meta["namespace"]):
            if vmim["spec"].get("vmiName") == meta["name"] and (vmim.get("status") or {}).get(
                "phase"
            ) not in ("Succeeded", "Failed"):
                raise ApiError(409, "Conflict", f"VMI {meta['name']} is already migrating")
        migration = {
            "apiVersion": "kubevirt.io/v1",
            "kind": "VirtualMachineInstanceMigration",
            "metadata": {
                "generateName": "kubevirt-migrate-vm-",
                "namespace": meta["namespace"],
                "labels": {"kubevirt.io/vmi-name": meta["name"]},
            },
            "spec": {"vmiName": meta["name"], "priority": "user-triggered"},
        }
        self.store.create(VMIMS, migration, dry_run=dry)

    def _cancel_evacuation(self, obj: Obj, dry: bool) -> None:
        meta = obj["metadata"]
        vmi = self.store.get(VMIS, meta["namespace"], meta["name"])
        if vmi is None:
            raise ApiError(
                404, "NotFound", f'{qualified(REGISTRY.by_key(VMIS))} "{meta["name"]}" not found'
            )
        if dry:
            return

        def clear(o: Obj) -> None:
            (o.get("status") or {}).pop("evacuationNodeName", None)

        self.store.mutate(VMIS, meta["namespace"], meta["name"], clear)

"""`/_sim/...`: the simulator's admin endpoint for tests (faults, recorded requests, clock).

Only the admin token may use it; nothing here exists on a real cluster, and kvtui itself never
calls it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson
from aiohttp import web

from kvtui.sim.server import ADMIN_USER, USER, ApiError, json_response

if TYPE_CHECKING:
    from kvtui.sim.server import ApiServer


async def handle_admin(api: ApiServer, request: web.Request, parts: list[str]) -> web.Response:
    if request[USER] != ADMIN_USER:
        raise ApiError(403, "Forbidden", "the simulator admin endpoint needs the admin token")
    route = "/".join(parts)
    method = request.method
    if route == "faults" and method == "GET":
        return json_response(api.config.faults.as_dict())
    if route == "faults" and method in ("PUT", "PATCH", "POST"):
        try:
            changes = orjson.loads(await request.read() or b"{}")
            if not isinstance(changes, dict):
                raise ValueError("the body must be a JSON object of fault settings")
            api.config.faults.update(changes)
        except (orjson.JSONDecodeError, ValueError) as exc:
            raise ApiError(400, "BadRequest", f"bad fault settings: {exc}") from None
        return json_response(api.config.faults.as_dict())
    if route == "faults/drop-watches" and method == "POST":
        return json_response({"dropped": api.drop_watches()})
    if route == "faults/compact" and method == "POST":
        # Every resourceVersion up to now becomes too old: watches and continues get 410.
        api.store.compacted_rv = api.store.rv
        return json_response({"compactedResourceVersion": api.store.compacted_rv})
    if route == "requests" and method == "GET":
        return json_response([r.__dict__ for r in api.requests])
    if route == "requests" and method == "DELETE":
        api.requests.clear()
        return json_response({"cleared": True})
    if route == "clock" and method == "GET":
        return json_response({"now": api.world.now(), "speed": api.world.clock.speed})
    if route == "clock/advance" and method == "POST":
        try:
            seconds = float(request.query.get("seconds", "0"))
        except ValueError:
            raise ApiError(400, "BadRequest", "seconds must be a number") from None
        if seconds < 0:
            raise ApiError(400, "BadRequest", "the clock only moves forward")
        api.world.clock.advance(seconds)
        api.world.step()
        return json_response({"now": api.world.now()})
    if route == "churn" and method == "POST":
        return json_response({"changed": _churn(api, request)})
    raise ApiError(404, "NotFound", f"no admin route {method} /_sim/{route}")


def _churn(api: ApiServer, request: web.Request) -> int:
    """Touch an annotation on up to `count` VMIs at once: a load generator for watch tests."""
    try:
        count = int(request.query.get("count", "100"))
    except ValueError:
        raise ApiError(400, "BadRequest", "count must be a whole number") from None
    key = "kubevirt.io/virtualmachineinstances"
    changed = 0
    for vmi in api.store.list(key)[: max(0, count)]:
        meta = vmi["metadata"]

        def touch(obj: dict) -> None:
            annotations = obj["metadata"].setdefault("annotations", {})
            annotations["sim.kvtui.dev/churn"] = str(
                int(annotations.get("sim.kvtui.dev/churn", "0")) + 1
            )

        api.store.mutate(key, meta["namespace"], meta["name"], touch)
        changed += 1
    return changed

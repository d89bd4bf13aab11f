"""`services/<[scheme:]name[:port]>/proxy/...`: the API server's service proxy, on loopback only.

The real API server picks a ready address from the Service's Endpoints and forwards the request
there, without the caller's Authorization header. The simulated cluster has no pod network, so
only Endpoints that point at a loopback address lead anywhere: that is how a test or the demo
exposes a real Prometheus as `monitoring/prometheus-k8s` (a Service plus Endpoints naming
127.0.0.1 and its port). Anything else answers 503 as a real API server does when no endpoint
is available or reachable.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

from kvtui.sim.server import ApiError, Target

if TYPE_CHECKING:
    from kvtui.sim.server import ApiServer

FORWARD_TIMEOUT = 30.0
_FORWARDED = ("Accept", "Content-Type", "Accept-Encoding")
_RETURNED = ("Content-Type", "Content-Encoding")


async def proxy_service(api: ApiServer, request: web.Request, t: Target) -> web.Response:
    """Forward one request to the Service's first ready loopback endpoint."""
    scheme, name, port = _split(t.name or "")
    service = api.get_or_404(Target(t.resource, t.namespace, name))
    service_port = _service_port(service, port)
    address, target_port = _endpoint(api, t.namespace or "", name, service_port)
    scheme = scheme or "http"
    host = f"[{address}]" if ":" in address else address
    url = f"{scheme}://{host}:{target_port}/{t.subpath}"
    headers = {k: request.headers[k] for k in _FORWARDED if k in request.headers}
    body = await request.read() if request.can_read_body else None
    timeout = aiohttp.ClientTimeout(total=FORWARD_TIMEOUT)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout, auto_decompress=False) as session,
            session.request(
                request.method,
                url,
                params=request.query,
                data=body,
                headers=headers,
                ssl=False,  # the API server does not verify a backend's certificate either
                allow_redirects=False,
            ) as upstream,
        ):
            data = await upstream.read()
            returned = {k: upstream.headers[k] for k in _RETURNED if k in upstream.headers}
            return web.Response(body=data, status=upstream.status, headers=returned)
    except (aiohttp.ClientError, TimeoutError) as exc:
        why = getattr(exc, "os_error", None) or exc
        raise ApiError(
            503,
            "ServiceUnavailable",
            f"error trying to reach service: dial tcp {host}:{target_port}: {why}",
        ) from None


def _split(raw: str) -> tuple[str, str, str]:
    """("https", "prometheus-k8s", "web") from "https:prometheus-k8s:web"; parts may be empty."""
    parts = raw.split(":")
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    if len(parts) == 2:
        return "", parts[0], parts[1]
    return "", parts[0], ""


def _service_port(service: dict[str, Any], port: str) -> dict[str, Any]:
    ports = (service.get("spec") or {}).get("ports") or []
    for candidate in ports:
        if port and port in (candidate.get("name"), str(candidate.get("port"))):
            return candidate
    if not port and len(ports) == 1:
        return ports[0]
    name = service["metadata"]["name"]
    raise ApiError(503, "ServiceUnavailable", f'no endpoints available for service "{name}:{port}"')


def _endpoint(
    api: ApiServer, namespace: str, name: str, service_port: dict[str, Any]
) -> tuple[str, int]:
    endpoints = api.store.get("/endpoints", namespace, name) or {}
    wanted = service_port.get("name")
    for subset in endpoints.get("subsets") or ():
        ports = subset.get("ports") or []
        port = next(
            (p for p in ports if p.get("name") == wanted or (not wanted and len(ports) == 1)),
            None,
        )
        if port is None:
            continue
        for address in subset.get("addresses") or ():
            ip = address.get("ip") or ""
            try:
                if ipaddress.ip_address(ip).is_loopback:
                    return ip, int(port["port"])
            except ValueError:
                continue
    raise ApiError(503, "ServiceUnavailable", f'no endpoints available for service "{name}"')

"""Ask Prometheus: at a URL (prometheus-api-client), or through the API server's service proxy.

A URL the user gives is queried with prometheus-api-client over its own requests session (bearer
token, basic auth, CA file or insecure TLS). A Prometheus found inside the cluster is reached
through the API server's service proxy instead, with kvtui's own Kubernetes connection, because
only that connection knows how to present the kubeconfig's credentials (exec plugins, client
certificates, refreshed tokens); no route to the pod network is needed. Both speak the same
Prometheus HTTP API and raise the same one-line `MetricsError`s.

The client is synchronous, so its calls run in a worker thread, one at a time.
"""

from __future__ import annotations

import ast
import asyncio
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import orjson
import requests
import urllib3
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from urllib3.util.retry import Retry

from kvtui.cluster.connection import Connection
from kvtui.cluster.errors import BadRequest, Forbidden, Invalid, KubeError, Unauthorized
from kvtui.cluster.metrics_model import (
    MetricsAuthError,
    MetricsError,
    MetricsQueryError,
    MetricsUnavailable,
    Traffic,
)
from kvtui.cluster.metrics_queries import DEFAULT_WINDOW

DEFAULT_TIMEOUT = 10.0
_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")]+)")
_TLS = re.compile(r"certificate verify failed: ([^'\"()]+)")


@dataclass(frozen=True)
class PrometheusSettings:
    """How to reach Prometheus; secrets never appear in `repr()`."""

    url: str | None = None  # None: discover one in the cluster, else scrape directly
    token: str | None = field(default=None, repr=False)
    basic_auth: tuple[str, str] | None = field(default=None, repr=False)
    ca_file: str | None = None
    insecure: bool = False
    timeout: float = DEFAULT_TIMEOUT
    rate_window: str = DEFAULT_WINDOW
    discover: bool = True  # look for a Prometheus in the KubeVirt CR's monitorNamespace


class PromApi(Protocol):
    """The slice of Prometheus's HTTP API kvtui uses; errors are `MetricsError`s."""

    label: str
    traffic: Traffic

    async def query(self, promql: str) -> list[dict]: ...

    async def query_range(
        self, promql: str, start: float, end: float, step: float
    ) -> list[dict]: ...

    async def targets(self) -> dict: ...

    async def close(self) -> None: ...


def _without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def _innermost(exc: BaseException) -> str:
    """A connection failure without an errno, named by its root cause's class."""
    current = exc
    for _ in range(10):  # requests wraps urllib3 wraps http.client: a few levels at most
        reason = getattr(current, "reason", None)
        first = current.args[0] if current.args else None
        nested = next(
            (e for e in (reason, first, current.__cause__) if isinstance(e, BaseException)),
            None,
        )
        if nested is None:
            break
        current = nested
    return f"connection failed ({type(current).__name__})"


def _http_error(label: str, exc: PrometheusApiClientException) -> MetricsError:
    """The client's "HTTP Status Code 400 (b'...')" as a typed one-line error."""
    match = re.match(r"HTTP Status Code (\d+) \((.*)\)$", str(exc), re.DOTALL)
    if match is None:
        return MetricsQueryError(label, str(exc).splitlines()[0])
    code, body = int(match[1]), match[2]
    try:
        raw = ast.literal_eval(body)
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    except (ValueError, SyntaxError):
        text = body
    try:
        detail = str(orjson.loads(text).get("error") or "")
    except (orjson.JSONDecodeError, AttributeError):
        detail = text.strip().splitlines()[0] if text.strip() else ""
    reason = f"HTTP {code}" + (f": {detail}" if detail else "")
    if code in (401, 403):
        return MetricsAuthError(label, f"{reason} (check the token or user and password)")
    if code in (400, 422):
        return MetricsQueryError(label, reason)
    return MetricsUnavailable(label, reason)


class PrometheusClientApi:
    """Prometheus at a URL, through prometheus-api-client."""

    def __init__(self, settings: PrometheusSettings) -> None:
        if not settings.url:
            raise ValueError("a Prometheus URL is needed")
        self.url = settings.url.rstrip("/")
        self.label = f"Prometheus {_without_userinfo(self.url)}"
        self.traffic = Traffic()
        self.timeout = settings.timeout
        session = requests.Session()
        session.verify = settings.ca_file or not settings.insecure
        if settings.insecure and not settings.ca_file:
            # The user asked for it; without this urllib3 warns on stderr on every request.
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        if settings.basic_auth:
            session.auth = settings.basic_auth
        session.hooks["response"].append(self._count)
        self._session = session
        headers = {"Authorization": f"Bearer {settings.token}"} if settings.token else None
        self._client = PrometheusConnect(
            url=self.url,
            headers=headers,
            session=session,
            # One immediate retry: a pooled connection the server closed meanwhile is no
            # outage. Anything longer is left to the pane's next refresh.
            retry=Retry(total=1, connect=1, read=1, status=0, other=0, raise_on_status=False),
            timeout=settings.timeout,  # type: ignore[arg-type]
        )
        self._lock = threading.Lock()  # a requests session is not meant for parallel use

    def _count(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.traffic.add(len(response.content))

    def _locked(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return fn(*args, **kwargs)

    async def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return await asyncio.to_thread(self._locked, fn, *args, **kwargs)
        except requests.exceptions.SSLError as exc:
            found = _TLS.search(str(exc))
            why = f"certificate verify failed: {found[1].strip()}" if found else "handshake failed"
            raise MetricsUnavailable(
                self.label, f"TLS {why} (pass --prometheus-ca FILE or --prometheus-insecure)"
            ) from None
        except requests.exceptions.Timeout:
            raise MetricsUnavailable(self.label, f"no answer within {self.timeout:g}s") from None
        except requests.exceptions.ConnectionError as exc:
            found = _ERRNO.search(str(exc))
            why = found[1].strip().lower() if found else _innermost(exc)
            raise MetricsUnavailable(self.label, f"cannot connect: {why}") from None
        except requests.exceptions.RequestException as exc:
            raise MetricsUnavailable(self.label, type(exc).__name__) from None
        except PrometheusApiClientException as exc:
            raise _http_error(self.label, exc) from None
        except (ValueError, KeyError, TypeError):
            raise MetricsQueryError(self.label, "the answer is not Prometheus API JSON") from None

    async def query(self, promql: str) -> list[dict]:
        return await self._call(self._client.custom_query, promql)

    async def query_range(self, promql: str, start: float, end: float, step: float) -> list[dict]:
        return await self._call(
            self._client.custom_query_range,
            promql,
            start_time=datetime.fromtimestamp(start, UTC),
            end_time=datetime.fromtimestamp(end, UTC),
            step=f"{step:g}",
        )

    async def targets(self) -> dict:
        return await self._call(self._client.get_targets, state="active")

    async def close(self) -> None:
        await asyncio.to_thread(self._session.close)


class ServiceProxyApi:
    """A Prometheus Service inside the cluster, through the API server's service proxy."""

    def __init__(
        self,
        connection: Connection,
        namespace: str,
        service: str,
        port: str,
        scheme: str = "http",
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._conn = connection
        target = f"{scheme}:{service}:{port}" if scheme == "https" else f"{service}:{port}"
        self.base = f"/api/v1/namespaces/{namespace}/services/{target}/proxy"
        self.label = f"Prometheus {namespace}/{service} via the API server"
        self.traffic = Traffic()
        self.timeout = timeout

    async def _get(self, path: str, params: dict[str, Any]) -> Any:
        try:
            text = await self._conn.get_text(self.base + path, params, timeout=self.timeout)
        except (Unauthorized, Forbidden) as exc:
            raise MetricsAuthError(self.label, str(exc)) from None
        except (BadRequest, Invalid) as exc:
            raise MetricsQueryError(self.label, str(exc)) from None
        except KubeError as exc:
            raise MetricsUnavailable(self.label, str(exc)) from None
        self.traffic.add(len(text))
        try:
            answer = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise MetricsQueryError(self.label, "the answer is not Prometheus API JSON") from None
        if not isinstance(answer, dict) or answer.get("status") != "success":
            error = answer.get("error") if isinstance(answer, dict) else None
            raise MetricsQueryError(self.label, str(error or "the query failed"))
        return answer.get("data")

    async def query(self, promql: str) -> list[dict]:
        data = await self._get("/api/v1/query", {"query": promql})
        return list((data or {}).get("result") or [])

    async def query_range(self, promql: str, start: float, end: float, step: float) -> list[dict]:
        params = {
            "query": promql,
            "start": f"{start:.3f}",
            "end": f"{end:.3f}",
            "step": f"{step:g}",
        }
        data = await self._get("/api/v1/query_range", params)
        return list((data or {}).get("result") or [])

    async def targets(self) -> dict:
        return dict(await self._get("/api/v1/targets", {"state": "active"}) or {})

    async def close(self) -> None:
        return None  # the connection belongs to the session


def window_seconds(window: str) -> float:
    """Seconds of a Prometheus duration such as "2m", "90s", "1h30m"."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)", window)
    if not parts or "".join(n + u for n, u in parts) != window:
        raise ValueError(f"{window!r} is not a Prometheus duration such as 2m")
    return sum(float(n) * units[u] for n, u in parts)

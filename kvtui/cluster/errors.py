"""Typed API errors made from the server's Status bodies, readable as they stand.

A screen shows `str(error)`: it says what was refused (verb and resource) and the server's
reason, e.g. `forbidden: cannot patch nodes "kv-node-1": User "kvtui-viewer" cannot patch ...`.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

UNREACHABLE = "Unreachable"  # our reason for a network failure: no Status from the server


class KubeconfigError(Exception):
    """The kubeconfig (or in-cluster config) cannot be used; the message is one line."""


class KubeError(Exception):
    """A request the API server (or the network) refused."""

    label = "error"

    def __init__(
        self,
        message: str,
        *,
        code: int = 0,
        reason: str = "",
        verb: str = "",
        resource: str = "",
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.reason = reason
        self.verb = verb
        self.resource = resource
        self.details = details or {}

    def __str__(self) -> str:
        if self.reason == UNREACHABLE:
            return self.message
        what = " ".join(p for p in (self.verb, self.resource) if p)
        if what:
            return f"{self.label}: cannot {what}: {self.message}"
        return f"{self.label}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code}, reason={self.reason!r}, {str(self)!r})"


class BadRequest(KubeError):
    label = "bad request"


class Unauthorized(KubeError):
    label = "unauthorized"


class Forbidden(KubeError):
    label = "forbidden"


class NotFound(KubeError):
    label = "not found"


class Conflict(KubeError):
    label = "conflict"


class Expired(KubeError):
    """The resourceVersion is too old (410 Gone): relist."""

    label = "expired"


class Invalid(KubeError):
    label = "invalid"


class Unavailable(KubeError):
    """The server could not answer now: network trouble, 5xx or 429; worth retrying."""

    label = "unavailable"

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


_BY_REASON: dict[str, type[KubeError]] = {
    "BadRequest": BadRequest,
    "MethodNotAllowed": BadRequest,
    "NotAcceptable": BadRequest,
    "UnsupportedMediaType": BadRequest,
    "RequestEntityTooLarge": BadRequest,
    "Unauthorized": Unauthorized,
    "Forbidden": Forbidden,
    "NotFound": NotFound,
    "Conflict": Conflict,
    "AlreadyExists": Conflict,
    "Invalid": Invalid,
    "Expired": Expired,
    "Gone": Expired,
    "TooManyRequests": Unavailable,
    "InternalError": Unavailable,
    "ServiceUnavailable": Unavailable,
    "Timeout": Unavailable,
    "ServerTimeout": Unavailable,
}

_BY_CODE: dict[int, type[KubeError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: BadRequest,
    409: Conflict,
    410: Expired,
    415: BadRequest,
    422: Invalid,
    429: Unavailable,
}

# `nodes "kv-node-1" is forbidden: User ...`: the prefix repeats what `str()` already says.
_FORBIDDEN_PREFIX = re.compile(r'^[\w./-]+(?: "[^"]*")? is forbidden: ')


def _decode(body: bytes | dict | None) -> dict[str, Any]:
    if isinstance(body, dict):
        return body
    if not body:
        return {}
    try:
        decoded = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {"message": body[:300].decode("utf-8", "replace").strip()}
    return decoded if isinstance(decoded, dict) else {}


def error_from_status(
    code: int,
    body: bytes | dict | None,
    verb: str = "",
    resource: str = "",
    *,
    retry_after: float | None = None,
) -> KubeError:
    """The typed error for an HTTP failure (or a watch ERROR event) carrying a Status body."""
    status = _decode(body)
    reason = status.get("reason") or ""
    status_code = status.get("code")
    if isinstance(status_code, int) and status_code and not code:
        code = status_code
    details = status.get("details") if isinstance(status.get("details"), dict) else {}
    message = str(status.get("message") or "").strip() or f"HTTP {code}"
    if reason == "Forbidden" or code == 403:
        message = _FORBIDDEN_PREFIX.sub("", message)
    cls = _BY_REASON.get(reason) or _BY_CODE.get(code)
    if cls is None:
        cls = Unavailable if code >= 500 or code == 0 else KubeError
    kwargs: dict[str, Any] = dict(
        code=code, reason=reason, verb=verb, resource=resource, details=details
    )
    if cls is Unavailable:
        if retry_after is None:
            seconds = details.get("retryAfterSeconds")
            if isinstance(seconds, int | float) and not isinstance(seconds, bool):
                retry_after = float(seconds)
        return Unavailable(message, retry_after=retry_after, **kwargs)
    return cls(message, **kwargs)


class AuditNotWritten(KubeError):
    """A change reached the server but its audit entry could not be written (the disk filled
    up after the check before the change): shown like a refusal, and says what happened."""

    label = "audit"

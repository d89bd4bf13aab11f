"""One authenticated connection to one kubeconfig context, speaking raw JSON.

kubernetes.aio loads the kubeconfig (exec and OIDC plugins, client certificates, in-cluster
service accounts) and owns the TLS session; we send requests through its REST client and decode
the answers ourselves with orjson, keeping objects as the plain dicts the server sent.
"""

from __future__ import annotations

import errno
import os
import ssl
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import orjson
from kubernetes.aio.client import ApiClient, Configuration
from kubernetes.aio.config import ConfigException, load_incluster_config
from kubernetes.aio.config.kube_config import ConfigNode, KubeConfigLoader

from kvtui import __version__
from kvtui.cluster.errors import (
    UNREACHABLE,
    KubeconfigError,
    KubeError,
    Unavailable,
    error_from_status,
)
from kvtui.cluster.yamlfile import YamlFileError, read_yaml

CONNECT_TIMEOUT = 5.0
REQUEST_TIMEOUT = 30.0
WATCH_READ_SLACK = 30.0  # a watch silent this long past its timeoutSeconds is dead
IN_CLUSTER_CONTEXT = "in-cluster"
_SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
_METHOD_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch"}


# -- kubeconfig ----------------------------------------------------------------------------
def kubeconfig_paths(kubeconfig: str | None = None) -> list[Path]:
    """The files to merge, as kubectl picks them: the argument, else $KUBECONFIG, else ~/.kube."""
    spec = kubeconfig or os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
    return [Path(p).expanduser() for p in spec.split(os.pathsep) if p]


def _read_kubeconfig(path: Path) -> dict[str, Any]:
    try:
        _, config = read_yaml(path)
    except YamlFileError as exc:
        if exc.unreadable:
            raise KubeconfigError(f"cannot read kubeconfig {path}: {exc.problem}") from None
        where = f" (line {exc.line})" if exc.line is not None else ""
        raise KubeconfigError(
            f"kubeconfig {path} is not valid YAML{where}: {exc.problem}"
        ) from None
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise KubeconfigError(f"kubeconfig {path} is not a kubeconfig (expected a mapping)")
    return config


def _merge_kubeconfigs(paths: list[Path]) -> ConfigNode | None:
    """Merge like kubectl: the first file to name a cluster, user or context wins, and the first
    current-context set wins. Each entry remembers its file, for relative certificate paths."""
    merged: dict[str, Any] = {"clusters": [], "contexts": [], "users": []}
    seen: dict[str, set[str]] = {section: set() for section in merged}
    first: Path | None = None
    for path in paths:
        if not path.exists():
            continue
        config = _read_kubeconfig(path)
        first = first or path
        for section in ("clusters", "contexts", "users"):
            entries = config.get(section) or []
            if not isinstance(entries, list):
                raise KubeconfigError(f"kubeconfig {path}: {section} must be a list")
            for entry in entries:
                if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                    raise KubeconfigError(
                        f"kubeconfig {path}: every entry of {section} needs a name"
                    )
                if entry["name"] in seen[section]:
                    continue
                seen[section].add(entry["name"])
                node = ConfigNode(f"{path}/{section}[name={entry['name']}]", entry, str(path))
                merged[section].append(node)
        if not merged.get("current-context") and config.get("current-context"):
            merged["current-context"] = config["current-context"]
    if first is None:
        return None
    return ConfigNode("kube-config", merged, str(first))


def _missing(paths: list[Path]) -> KubeconfigError:
    shown = ", ".join(str(p) for p in paths) or "~/.kube/config"
    return KubeconfigError(f"cannot read kubeconfig {shown}: No such file or directory")


def list_contexts(kubeconfig: str | None = None) -> tuple[list[str], str | None]:
    """The context names in the (merged) kubeconfig, and the current one; none if no file."""
    merged = _merge_kubeconfigs(kubeconfig_paths(kubeconfig))
    if merged is None:
        return [], None
    names = [entry["name"] for entry in merged.value["contexts"]]
    return names, merged.value.get("current-context")


def _entry(merged: ConfigNode, section: str, name: str) -> dict[str, Any] | None:
    for node in merged.value[section]:
        if node["name"] == name:
            return node.value
    return None


def _pick_context(merged: ConfigNode, context: str | None) -> tuple[str, dict[str, Any]]:
    """The context to use and its body, checked so the loader never fails obscurely."""
    names = [entry["name"] for entry in merged.value["contexts"]]
    known = f"(contexts: {', '.join(names)})" if names else "(it has no contexts)"
    name = context or merged.value.get("current-context")
    if not name:
        raise KubeconfigError(f"kubeconfig sets no current-context; pick one {known}")
    entry = _entry(merged, "contexts", name)
    if entry is None:
        raise KubeconfigError(f'context "{name}" not found in kubeconfig {known}')
    body = entry.get("context")
    if not isinstance(body, dict) or not body.get("cluster"):
        raise KubeconfigError(f'context "{name}" names no cluster')
    cluster = _entry(merged, "clusters", body["cluster"])
    if cluster is None:
        raise KubeconfigError(
            f'context "{name}" uses cluster "{body["cluster"]}", which is missing'
        )
    if not (cluster.get("cluster") or {}).get("server"):
        raise KubeconfigError(f'cluster "{body["cluster"]}" has no server address')
    user = body.get("user")
    if user and _entry(merged, "users", user) is None:
        raise KubeconfigError(f'context "{name}" uses user "{user}", which is missing')
    return name, body


async def _load_kubeconfig(
    merged: ConfigNode, context: str | None, configuration: Configuration
) -> tuple[str, dict[str, Any]]:
    name, body = _pick_context(merged, context)
    try:
        loader = KubeConfigLoader(config_dict=merged, config_base_path=None, active_context=name)
        await loader.load_and_set(configuration)
    except ConfigException as exc:
        raise KubeconfigError(f'context "{name}": {exc}') from None
    if getattr(loader, "exec_plugin_expiry", None) is not None:
        # The token from an exec plugin expires: ask the plugin again when it has.
        async def refresh(config: Configuration) -> None:
            await loader.load_from_exec_plugin()
            if getattr(loader, "token", None):
                config.api_key["BearerToken"] = loader.token

        configuration.refresh_api_key_hook = refresh
    return name, body


def _load_in_cluster(configuration: Configuration) -> str | None:
    try:
        load_incluster_config(client_configuration=configuration)
    except ConfigException as exc:
        raise KubeconfigError(f"in-cluster config: {exc}") from None
    try:
        return (_SA_DIR / "namespace").read_text().strip() or None
    except OSError:
        return None


# -- requests ------------------------------------------------------------------------------
def _query(params: Mapping[str, Any] | None) -> str:
    if not params:
        return ""
    pairs = []
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        if isinstance(value, list | tuple):
            pairs.extend((key, str(v)) for v in value)
        else:
            pairs.append((key, str(value)))
    return urlencode(pairs)


def describe_request(
    method: str, path: str, params: Mapping[str, Any] | None = None
) -> tuple[str, str]:
    """The Kubernetes verb and a readable resource for a request, for error messages:
    ("patch", 'nodes "kv-node-1"'), ("update", 'virtualmachines/start "default/vm-1"')."""
    parts = [p for p in path.split("?", 1)[0].split("/") if p]
    if parts[:1] == ["api"] and len(parts) >= 2:
        rest = parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        rest = parts[3:]
    else:
        return method.lower(), path
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] not in ("status", "finalize"):
        namespace, rest = rest[1], rest[2:]
    if not rest:
        return method.lower(), path
    plural, name, sub = rest[0], (rest[1] if len(rest) > 1 else None), "/".join(rest[2:])
    resource = f"{plural}/{sub}" if sub else plural
    if name:
        resource += f' "{namespace}/{name}"' if namespace else f' "{name}"'
    elif namespace:
        resource += f' in namespace "{namespace}"'
    if method == "GET":
        watching = bool(params and str(params.get("watch")).lower() in ("true", "1"))
        verb = "get" if name else ("watch" if watching else "list")
    elif method == "DELETE":
        verb = "delete" if name else "deletecollection"
    else:
        verb = _METHOD_VERBS.get(method, method.lower())
    return verb, resource


def _retry_after(response: aiohttp.ClientResponse) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class Connection:
    """Requests to one context's API server; open with `await Connection.open(...)`."""

    def __init__(
        self,
        api: ApiClient,
        *,
        context: str,
        server: str,
        user: str,
        namespace: str | None = None,
    ) -> None:
        self._api = api
        self.context = context
        self.server = server
        self.user = user
        self.namespace = namespace

    def __repr__(self) -> str:
        return f"Connection(context={self.context!r}, server={self.server!r})"

    @classmethod
    async def open(cls, kubeconfig: str | None = None, context: str | None = None) -> Connection:
        """Load the kubeconfig (or in-cluster config) for a context; does not touch the network."""
        configuration = Configuration()
        paths = kubeconfig_paths(kubeconfig)
        merged = _merge_kubeconfigs(paths)
        if merged is not None:
            name, body = await _load_kubeconfig(merged, context, configuration)
            user, namespace = str(body.get("user") or ""), body.get("namespace") or None
        elif kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST") and not context:
            namespace = _load_in_cluster(configuration)
            name, user = IN_CLUSTER_CONTEXT, "serviceaccount"
        else:
            raise _missing(paths)
        try:
            api = ApiClient(configuration)  # loads the CA and client certificate now
        except (ssl.SSLError, OSError) as exc:
            raise KubeconfigError(f'context "{name}": cannot load its TLS files: {exc}') from None
        api.user_agent = f"kvtui/{__version__}"
        return cls(
            api,
            context=name,
            server=configuration.host.rstrip("/"),
            user=user,
            namespace=namespace,
        )

    async def close(self) -> None:
        await self._api.close()

    async def __aenter__(self) -> Connection:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- plumbing ------------------------------------------------------------------------
    def _unreachable(self, exc: BaseException) -> Unavailable:
        if isinstance(exc, aiohttp.ClientConnectorCertificateError):
            cert_error = exc.certificate_error
            detail = getattr(cert_error, "verify_message", None) or cert_error
            why = f"TLS certificate not trusted ({detail})"
        elif isinstance(exc, aiohttp.ClientConnectorDNSError):
            why = f"cannot resolve the host ({exc.os_error.strerror or exc.os_error})"
        elif isinstance(exc, aiohttp.ClientConnectorError):
            os_error = exc.os_error
            if isinstance(os_error, ConnectionRefusedError) or os_error.errno == errno.ECONNREFUSED:
                why = "connection refused"
            elif isinstance(os_error, ssl.SSLError):
                why = f"TLS handshake failed ({os_error.reason or os_error})"
            else:
                why = os_error.strerror or str(os_error) or type(os_error).__name__
        elif isinstance(exc, aiohttp.ConnectionTimeoutError):
            why = f"no connection within {CONNECT_TIMEOUT:g}s"
        elif isinstance(exc, TimeoutError):
            why = "timed out waiting for the server"
        elif isinstance(exc, aiohttp.ServerDisconnectedError):
            why = "the server closed the connection"
        else:
            why = str(exc) or type(exc).__name__
        return Unavailable(f"cannot reach {self.server}: {why}", code=0, reason=UNREACHABLE)

    async def _send(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        body: dict | list | None,
        content_type: str,
        timeout: aiohttp.ClientTimeout,
        accept: str = "application/json",
    ) -> aiohttp.ClientResponse:
        """The raw response of a request with auth; a failure status raises its KubeError."""
        method = method.upper()
        _, _, headers, _, _ = await self._api.param_serialize(
            method,
            path,
            header_params={"Accept": accept, "Content-Type": content_type},
            auth_settings=["BearerToken"],
        )
        query = _query(params)
        url = f"{self.server}{path}" + (f"?{query}" if query else "")
        try:
            rest = await self._api.rest_client.request(
                method, url, headers=headers, body=body, _request_timeout=timeout
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise self._unreachable(exc) from exc
        response: aiohttp.ClientResponse = rest.response
        if response.status >= 400:
            try:
                data = await response.read()
            except (aiohttp.ClientError, TimeoutError):
                data = b""
            finally:
                response.release()
            verb, resource = describe_request(method, path, params)
            raise error_from_status(
                response.status, data, verb, resource, retry_after=_retry_after(response)
            )
        return response

    async def _json(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        body: dict | list | None = None,
        content_type: str = "application/json",
    ) -> dict:
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT, sock_connect=CONNECT_TIMEOUT)
        response = await self._send(method, path, params, body, content_type, timeout)
        try:
            data = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise self._unreachable(exc) from exc
        finally:
            response.release()
        if not data.strip():
            return {}
        try:
            decoded = orjson.loads(data)
        except orjson.JSONDecodeError:
            verb, resource = describe_request(method, path, params)
            raise KubeError(
                "the server's answer is not JSON",
                code=response.status,
                verb=verb,
                resource=resource,
            ) from None
        return decoded if isinstance(decoded, dict) else {"items": decoded}

    # -- the API -------------------------------------------------------------------------
    async def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> dict:
        """GET a path and decode the JSON answer."""
        return await self._json("GET", path, params)

    async def get_text(
        self, path: str, params: Mapping[str, Any] | None = None, timeout: float = REQUEST_TIMEOUT
    ) -> str:
        """GET a path whose answer is text, not JSON: a pod's `/metrics` through the API
        server's proxy, say."""
        limits = aiohttp.ClientTimeout(total=timeout, sock_connect=CONNECT_TIMEOUT)
        response = await self._send(
            "GET", path, params, None, "application/json", limits, accept="text/plain, */*"
        )
        try:
            data = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise self._unreachable(exc) from exc
        finally:
            response.release()
        return data.decode("utf-8", "replace")

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: dict | list | None = None,
        content_type: str = "application/json",
        dry_run: bool = False,
    ) -> dict:
        """Any request; `dry_run` asks the server to validate and admit it but persist nothing."""
        if dry_run:
            params = {**(params or {}), "dryRun": "All"}
        return await self._json(method, path, params, body, content_type)

    async def watch(self, path: str, params: Mapping[str, Any]) -> AsyncIterator[dict]:
        """Watch events ({"type", "object"}) until the server ends the stream.

        An ERROR event raises its KubeError (`Expired` for 410: relist); a broken stream raises
        `Unavailable`. Lines are split by hand: one event can be several megabytes.
        """
        query = {**params, "watch": "true"}
        server_timeout = params.get("timeoutSeconds")
        read_timeout = float(server_timeout) + WATCH_READ_SLACK if server_timeout else None
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=CONNECT_TIMEOUT, sock_read=read_timeout
        )
        response = await self._send("GET", path, query, None, "application/json", timeout)
        finished = False
        try:
            pending: list[bytes] = []
            async for chunk in response.content.iter_any():
                if b"\n" not in chunk:
                    pending.append(chunk)
                    continue
                lines = chunk.split(b"\n")
                pending.append(lines[0])
                lines[0] = b"".join(pending)
                pending = [lines.pop()] if lines[-1] else []
                for line in lines:
                    if line.strip():
                        yield self._watch_event(line, path, query)
            if pending and b"".join(pending).strip():
                yield self._watch_event(b"".join(pending), path, query)
            finished = True
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise self._unreachable(exc) from exc
        finally:
            if finished:
                response.release()
            else:
                response.close()

    def _watch_event(self, line: bytes, path: str, query: Mapping[str, Any]) -> dict:
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError:
            verb, resource = describe_request("GET", path, query)
            raise Unavailable(
                "the watch stream sent a line that is not JSON", verb=verb, resource=resource
            ) from None
        if event.get("type") == "ERROR":
            status = event.get("object") or {}
            verb, resource = describe_request("GET", path, query)
            code = status.get("code") if isinstance(status.get("code"), int) else 0
            raise error_from_status(code, status, verb, resource)
        return event

    async def check(self) -> dict:
        """The server's /version: proves it is reachable and that we may talk to it."""
        return await self.get_json("/version")

    async def whoami(self) -> str:
        """The user name the server knows us by (SelfSubjectReview), else the kubeconfig's."""
        try:
            review = await self.request(
                "POST",
                "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                body={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
            )
        except KubeError:
            return self.user
        user_info = (review.get("status") or {}).get("userInfo") or {}
        return user_info.get("username") or self.user

    async def can_i(
        self,
        verb: str,
        group: str,
        resource: str,
        namespace: str | None = None,
        name: str | None = None,
        subresource: str | None = None,
    ) -> bool:
        """Whether the server would let us do this (SelfSubjectAccessReview)."""
        attributes = {
            "verb": verb,
            "group": group,
            "resource": resource,
            "namespace": namespace,
            "name": name,
            "subresource": subresource,
        }
        review = await self.request(
            "POST",
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            body={
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SelfSubjectAccessReview",
                "spec": {
                    "resourceAttributes": {k: v for k, v in attributes.items() if v is not None}
                },
            },
        )
        return bool((review.get("status") or {}).get("allowed"))

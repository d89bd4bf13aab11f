"""Where the metrics pane gets its numbers: one protocol, two sources, and how one is chosen.

    source = await open_metrics_source(session.connection, session.cache.items, session.prometheus)
    reading = await source.top_vms(VmMetric.CPU, limit=10)   # Reading[list[VmUsage]]
    reading.source.label, reading.age(), reading.notes      # what to show in the title bar

Choice, in order: the Prometheus URL the user gave (`--prometheus-url`, with its token, basic
auth and TLS options); else a Prometheus Service in the KubeVirt CR's `monitorNamespace`
(`prometheus-k8s`, `prometheus-operated`, ...), reached through the API server's service proxy
with the session's own credentials, if it answers a probe; else a direct scrape of the
virt-handlers through the pod proxy. `SourceInfo.note` says why a fallback happened.

Every question raises a `MetricsError` (one line, no traceback) when the source fails, and the
next call simply tries again, so a source that comes back recovers on the pane's next refresh.

Idle traffic (benchmarks/metrics.py: every question the pane asks, every 5 s, bytes on the
wire, 10,000 VMIs on 200 nodes): Prometheus mode moves ~22 KB per refresh (4 KiB/s; answers carry
only the rows shown, `topk` then the table for those rows) in ~0.9 s; a direct scrape moves each
handler's whole text (about 30 KB per VM), so it is held to a byte budget
(`DirectScrapeSource.byte_budget`, 128 KiB/s by default, after a first minute's burst) and covers
the 200 handlers over ~40 minutes. The peer, `kubectl get --raw` of every handler's /metrics
each refresh, moves ~297 MB per refresh (~15 MiB/s). On the default scenario (11 VMIs):
Prometheus ~10 KB and direct ~370 KB per refresh.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from kvtui.cluster import kinds
from kvtui.cluster.connection import Connection
from kvtui.cluster.errors import KubeError
from kvtui.cluster.metrics_model import (
    MetricsError,
    MigrationCounts,
    NodeMetric,
    NodeUsage,
    Objects,
    Point,
    Reading,
    SourceInfo,
    Traffic,
    VmMetric,
    VmRef,
    VmUsage,
)
from kvtui.cluster.metrics_prometheus import PrometheusSource
from kvtui.cluster.metrics_prometheus_api import (
    PrometheusClientApi,
    PrometheusSettings,
    ServiceProxyApi,
)
from kvtui.cluster.metrics_scrape import DirectScrapeSource
from kvtui.cluster.migration_metrics import MigrationSample

# Names prometheus-operator setups give the Service in front of Prometheus, most likely first.
PROMETHEUS_SERVICES = (
    "prometheus-k8s",  # kube-prometheus
    "prometheus-operated",  # made by prometheus-operator for every Prometheus CR
    "kube-prometheus-stack-prometheus",  # the kube-prometheus-stack Helm chart
    "prometheus",
    "prometheus-server",  # the prometheus Helm chart
)
PROBE = "vector(1)"


class MetricsSource(Protocol):
    """What the metrics pane, the VM health screen and the drain board ask; see the module doc.

    `window` is seconds of history, `points` the most samples per series a sparkline wants.
    """

    info: SourceInfo

    @property
    def traffic(self) -> Traffic: ...

    async def top_vms(
        self, by: VmMetric = VmMetric.CPU, limit: int = 10, namespace: str | None = None
    ) -> Reading[list[VmUsage]]: ...

    async def vm_usage(self, vm: VmRef) -> Reading[VmUsage | None]: ...

    async def vm_history(
        self, metric: VmMetric, vms: Sequence[VmRef], window: float = 900.0, points: int = 60
    ) -> Reading[dict[VmRef, list[Point]]]: ...

    async def node_usage(self) -> Reading[list[NodeUsage]]: ...

    async def node_history(
        self, metric: NodeMetric, nodes: Sequence[str], window: float = 900.0, points: int = 60
    ) -> Reading[dict[str, list[Point]]]: ...

    async def vmis_by_phase(self) -> Reading[dict[str, int]]: ...

    async def migration_counts(self) -> Reading[MigrationCounts]: ...

    async def migration_progress(self) -> Reading[dict[VmRef, MigrationSample]]: ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class Discovery:
    """The outcome of looking for a Prometheus in the cluster."""

    api: ServiceProxyApi | None
    reason: str  # why none is used ("" when one was found)


def _kubevirt_cr(objects: Objects) -> dict:
    try:
        return next(iter(objects(kinds.KUBEVIRTS)), {})
    except KeyError:  # the cache does not watch KubeVirt CRs
        return {}


def _web_port(service: dict) -> tuple[str, str] | None:
    """(port name or number, scheme) of a Service's Prometheus web port."""
    ports = (service.get("spec") or {}).get("ports") or []
    for port in ports:
        if port.get("name") in ("web", "http-web", "http"):
            return str(port["name"]), "http"
    for port in ports:
        if port.get("port") == 9090 or port.get("targetPort") in (9090, "web"):
            return str(port.get("name") or port["port"]), "http"
    for port in ports:
        if port.get("name") in ("https", "web-tls") or port.get("port") == 443:
            return str(port.get("name") or port["port"]), "https"
    return None


def _candidates(services: list[dict]) -> list[dict]:
    by_name = {(s.get("metadata") or {}).get("name", ""): s for s in services}
    chosen = [by_name[n] for n in PROMETHEUS_SERVICES if n in by_name]
    for name, service in sorted(by_name.items()):
        labels = (service.get("metadata") or {}).get("labels") or {}
        looks_like = labels.get("app.kubernetes.io/name") == "prometheus" or "prometheus" in name
        other = any(x in name for x in ("operator", "alertmanager", "exporter", "adapter"))
        if service not in chosen and looks_like and not other:
            chosen.append(service)
    return chosen


async def discover_prometheus(
    connection: Connection, objects: Objects, timeout: float = 5.0
) -> Discovery:
    """A Prometheus Service in the monitorNamespace that answers through the service proxy."""
    namespace = ((_kubevirt_cr(objects).get("spec") or {}).get("monitorNamespace")) or ""
    if not namespace:
        return Discovery(None, "the KubeVirt CR sets no monitorNamespace")
    try:
        listed = await connection.get_json(f"/api/v1/namespaces/{namespace}/services")
    except KubeError as exc:
        return Discovery(None, f"cannot list Services in {namespace}: {exc}")
    tried = []
    for service in _candidates(listed.get("items") or []):
        name = service["metadata"]["name"]
        port = _web_port(service)
        if port is None:
            tried.append(f"{namespace}/{name}: no web port")
            continue
        api = ServiceProxyApi(connection, namespace, name, port[0], port[1], timeout)
        try:
            await api.query(PROBE)
        except MetricsError as exc:
            tried.append(f"{namespace}/{name}: {exc.reason}")
            continue
        return Discovery(api, "")
    if not tried:
        return Discovery(None, f"no Prometheus Service in namespace {namespace}")
    return Discovery(None, "; ".join(tried))


def _noted(source: DirectScrapeSource | PrometheusSource, note: str) -> None:
    source.info = dataclasses.replace(source.info, note=note)


async def open_metrics_source(
    connection: Connection,
    objects: Objects,
    settings: PrometheusSettings | None = None,
) -> MetricsSource:
    """The source to use (see the module doc); never raises for a Prometheus that is down."""
    settings = settings or PrometheusSettings()
    if settings.url:
        return PrometheusSource(PrometheusClientApi(settings), objects, settings.rate_window)
    why = "no Prometheus configured (--prometheus-url)"
    if settings.discover:
        found = await discover_prometheus(connection, objects, settings.timeout)
        if found.api is not None:
            source = PrometheusSource(found.api, objects, settings.rate_window)
            _noted(source, f"found in the cluster: {found.api.label}")
            return source
        why = f"no Prometheus found ({found.reason})"
    direct = DirectScrapeSource(connection, objects)
    _noted(direct, why)
    return direct

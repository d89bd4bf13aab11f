"""How far running live migrations have got, read from the virt-handler metrics.

The VMIM status says only which phase a migration is in; how much memory is left to send and
whether the guest dirties it faster than it moves lives in the source virt-handler's libvirt
job series. They are scraped through the API server's pod proxy, so kvtui needs no route to the
pod network and no Prometheus, only `get` on `pods/proxy`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from urllib.parse import quote

from prometheus_client.parser import text_string_to_metric_families

from kvtui.cluster import kinds
from kvtui.cluster.connection import Connection
from kvtui.cluster.errors import KubeError
from kvtui.cluster.metrics_queries import MIGRATION_SERIES

HANDLER_LABEL = ("kubevirt.io", "virt-handler")
METRICS_PORT = 8443  # virt-handler serves /metrics over HTTPS here
SCRAPE_TIMEOUT = 5.0

# Each figure under its current KubeVirt name and the older ones (fact sheet §8): the name
# listed first wins where a handler exports both.
COLUMN_OF = {
    name: (column, rank)
    for column, names in MIGRATION_SERIES.items()
    for rank, name in enumerate(names)
}


@dataclass(frozen=True)
class MigrationSample:
    """One scrape's view of one running migration."""

    processed_bytes: int
    remaining_bytes: int
    dirty_rate: float  # bytes/s
    transfer_rate: float  # bytes/s


def virt_handler_pods(pods: Iterable[dict], nodes: Collection[str]) -> list[tuple[str, str]]:
    """(namespace, name) of the virt-handler pods running on `nodes`, sorted."""
    key, value = HANDLER_LABEL
    found = set()
    for pod in pods:
        meta = pod.get("metadata") or {}
        if (meta.get("labels") or {}).get(key) != value:
            continue
        if (pod.get("spec") or {}).get("nodeName") in nodes:
            found.add((meta.get("namespace") or "", meta.get("name") or ""))
    return sorted(found)


def _metrics_path(namespace: str, name: str) -> str:
    # `https:<pod>:<port>` makes the API server proxy to the pod's HTTPS metrics port.
    pod = f"https:{quote(name, safe='')}:{METRICS_PORT}"
    return f"{kinds.PODS.path(namespace)}/{pod}/proxy/metrics"


async def _scrape(conn: Connection, namespace: str, name: str) -> str | None:
    try:
        return await conn.get_text(_metrics_path(namespace, name), timeout=SCRAPE_TIMEOUT)
    except KubeError:
        return None  # a handler that is down or refuses: its migrations stay unknown


def _parse(text: str, into: dict[tuple[str, str], dict[str, float]]) -> None:
    try:
        families = list(text_string_to_metric_families(text))
    except ValueError:
        return  # not Prometheus text: nothing to learn from this handler
    ranks: dict[tuple[tuple[str, str], str], int] = {}
    for family in families:
        for sample in family.samples:
            column, rank = COLUMN_OF.get(sample.name, ("", 0))
            if not column:
                continue
            labels = sample.labels
            key = (labels.get("namespace", ""), labels.get("name", ""))
            if ranks.get((key, column), len(COLUMN_OF)) >= rank:
                ranks[(key, column)] = rank
                into.setdefault(key, {})[column] = sample.value


async def scrape_migrations(
    conn: Connection, handler_pods: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], MigrationSample]:
    """(namespace, VMI name) -> the latest sample of each migration the handlers report.

    Handlers are scraped together; one that cannot be reached or answers garbage is skipped.
    """
    texts = await asyncio.gather(*(_scrape(conn, ns, name) for ns, name in handler_pods))
    values: dict[tuple[str, str], dict[str, float]] = {}
    for text in texts:
        if text is not None:
            _parse(text, values)
    return {
        key: MigrationSample(
            processed_bytes=int(found.get("processed", 0)),
            remaining_bytes=int(found.get("remaining", 0)),
            dirty_rate=float(found.get("dirty_rate", 0.0)),
            transfer_rate=float(found.get("transfer_rate", 0.0)),
        )
        for key, found in values.items()
        if "processed" in found or "remaining" in found
    }


def converging(sample: MigrationSample, previous: MigrationSample | None) -> bool | None:
    """Will this pre-copy finish? True while the data left shrinks (or, without an earlier
    sample to compare, while transfer outpaces dirtying); None when nothing says either way."""
    if previous is not None and sample.remaining_bytes != previous.remaining_bytes:
        return sample.remaining_bytes < previous.remaining_bytes
    if sample.transfer_rate > 0 or sample.dirty_rate > 0:
        return sample.transfer_rate > sample.dirty_rate
    return None


def percent_done(sample: MigrationSample) -> float | None:
    """Share of the data sent so far, of what was sent plus what is left; None before any."""
    total = sample.processed_bytes + sample.remaining_bytes
    return sample.processed_bytes * 100.0 / total if total > 0 else None

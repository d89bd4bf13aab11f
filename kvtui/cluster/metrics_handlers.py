"""What one virt-handler's /metrics says: the pods to scrape, the parse, rates between scrapes.

The text is reduced to the families the metrics questions need and parsed with
prometheus_client's parser. A rate is the increase of every counter series between two scrapes
of the same handler over the time between them, where a counter that went down restarted from
zero (a restarted VM), as Prometheus's `rate()` treats it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import quote

from prometheus_client.parser import text_string_to_metric_families

from kvtui.cluster import kinds
from kvtui.cluster.metrics_model import VmMetric, VmRef, VmUsage
from kvtui.cluster.metrics_queries import (
    MEMORY_AVAILABLE,
    MEMORY_DOMAIN,
    MEMORY_RESIDENT,
    MEMORY_USABLE,
    MIGRATION_SERIES,
    VM_COUNTERS,
)
from kvtui.cluster.migration_metrics import HANDLER_LABEL, METRICS_PORT

_COUNTER_METRIC = {family: metric for metric, family in VM_COUNTERS.items()}
_GAUGES = frozenset({MEMORY_AVAILABLE, MEMORY_USABLE, MEMORY_DOMAIN, MEMORY_RESIDENT})
_MIGRATION = {  # series name -> (column, rank): rank 0 is the current name
    name: (column, rank)
    for column, names in MIGRATION_SERIES.items()
    for rank, name in enumerate(names)
}
_FAMILIES = (*_COUNTER_METRIC, *_GAUGES, *_MIGRATION)
_WANTED = tuple(f"{name}{{" for name in _FAMILIES) + tuple(f"{name} " for name in _FAMILIES)
_VMI_LABELS = re.compile(r'kubernetes_vmi_label_\w*="(?:[^"\\]|\\.)*",?')
_IDENTITY = frozenset({"namespace", "name", "node"})

SeriesKey = tuple[str, VmRef, tuple[tuple[str, str], ...]]


@dataclass
class HandlerScrape:
    """One scrape of one virt-handler, reduced to what the questions need."""

    at: float  # epoch seconds
    mono: float  # monotonic seconds, for the time between two scrapes
    counters: dict[SeriesKey, float] = field(default_factory=dict)
    gauges: dict[VmRef, dict[str, float]] = field(default_factory=dict)
    nodes: dict[VmRef, str] = field(default_factory=dict)
    migrations: dict[VmRef, dict[str, tuple[int, float]]] = field(default_factory=dict)


def parse_handler_text(text: str, at: float, mono: float) -> HandlerScrape:
    """The counters, gauges and migration series of one /metrics text (ValueError: not one)."""
    lines = [line for line in text.splitlines() if line.startswith(_WANTED)]
    # The per-VM `kubernetes_vmi_label_*` labels are most of the text and none of the answer.
    body = _VMI_LABELS.sub("", "\n".join(lines)).replace(",}", "}")
    scrape = HandlerScrape(at, mono)
    for family in text_string_to_metric_families(body + "\n"):
        for sample in family.samples:
            labels = sample.labels
            ref = VmRef(labels.get("namespace", ""), labels.get("name", ""))
            name = sample.name
            if name in _COUNTER_METRIC:
                extra = tuple(sorted((k, v) for k, v in labels.items() if k not in _IDENTITY))
                scrape.counters[(name, ref, extra)] = float(sample.value)
            elif name in _GAUGES:
                scrape.gauges.setdefault(ref, {})[name] = float(sample.value)
            elif name in _MIGRATION:
                column, rank = _MIGRATION[name]
                found = scrape.migrations.setdefault(ref, {})
                if column not in found or rank < found[column][0]:
                    found[column] = (rank, float(sample.value))  # the newest name wins
            if labels.get("node"):
                scrape.nodes[ref] = labels["node"]
    return scrape


def rates(previous: HandlerScrape | None, current: HandlerScrape) -> dict[VmRef, dict]:
    """Per VM, the per-second increase of each rated metric between two scrapes.

    A counter lower than before restarted from zero, so all of its value is the increase.
    """
    if previous is None or current.mono <= previous.mono:
        return {}
    elapsed = current.mono - previous.mono
    increases: dict[VmRef, dict[VmMetric, float]] = {}
    for key, value in current.counters.items():
        old = previous.counters.get(key)
        if old is None:
            continue
        family, ref, _ = key
        per_vm = increases.setdefault(ref, {})
        metric = _COUNTER_METRIC[family]
        per_vm[metric] = per_vm.get(metric, 0.0) + (value - old if value >= old else value)
    return {
        ref: {metric: total / elapsed for metric, total in per_vm.items()}
        for ref, per_vm in increases.items()
    }


def usage_rows(scrape: HandlerScrape, rated: dict[VmRef, dict]) -> dict[VmRef, VmUsage]:
    """`VmUsage` of every VM one scrape reports (rates None until a second scrape)."""
    rows = {}
    for ref in set(scrape.gauges) | set(rated):
        gauges = scrape.gauges.get(ref, {})
        per_vm = rated.get(ref, {})
        available, usable = gauges.get(MEMORY_AVAILABLE), gauges.get(MEMORY_USABLE)
        rows[ref] = VmUsage(
            ref.namespace,
            ref.name,
            node=scrape.nodes.get(ref, ""),
            memory=available - usable if available is not None and usable is not None else None,
            memory_total=gauges.get(MEMORY_DOMAIN),
            **{metric.value: per_vm.get(metric) for metric in VM_COUNTERS},
        )
    return rows


def handler_pods(pods: Iterable[dict]) -> dict[str, tuple[str, str]]:
    """Node -> (namespace, name) of the Running virt-handler pod there."""
    key, value = HANDLER_LABEL
    found = {}
    for pod in pods:
        meta = pod.get("metadata") or {}
        if (meta.get("labels") or {}).get(key) != value:
            continue
        if (pod.get("status") or {}).get("phase") != "Running":
            continue
        node = (pod.get("spec") or {}).get("nodeName")
        if node:
            found[node] = (meta.get("namespace") or "", meta.get("name") or "")
    return found


def metrics_path(namespace: str, name: str) -> str:
    """The pod proxy path of a virt-handler's HTTPS /metrics."""
    return f"{kinds.PODS.path(namespace)}/https:{quote(name, safe='')}:{METRICS_PORT}/proxy/metrics"

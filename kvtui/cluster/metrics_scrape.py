"""Direct scrape: the metrics questions answered from the virt-handlers' own /metrics.

For clusters without Prometheus. Each virt-handler is scraped through the API server's pod
proxy (only `get pods/proxy` is needed, no route to the pod network) and read by
`metrics_handlers`; rates come from two scrapes of the same handler. Cluster-wide counts (VMIs
by phase, migrations by state) come from the objects the session already watches, so they cost
nothing extra. History for sparklines is kept in bounded rings (`metrics_history`).

Traffic is bounded: a handler's text grows with its VMs (about 30 KB per VM with KubeVirt's
per-VM labels, 1.5 MB for 50 VMs), so each round scrapes the handlers scraped longest ago while
a byte budget has credit (`byte_budget` bytes/s, on average). A small cluster is scraped whole
every round; on a large one every answer says how many handlers it covers and how old its
oldest numbers are. Questions asked within `max_age` of a round share it.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from kvtui.cluster import kinds
from kvtui.cluster.connection import Connection
from kvtui.cluster.errors import UNREACHABLE, Forbidden, KubeError, Unauthorized
from kvtui.cluster.metrics_handlers import (
    HandlerScrape,
    handler_pods,
    metrics_path,
    parse_handler_text,
    rates,
    usage_rows,
)
from kvtui.cluster.metrics_history import Ring
from kvtui.cluster.metrics_model import (
    MetricsAuthError,
    MetricsUnavailable,
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
    allocatable,
    count_migrations,
    count_phases,
    ranked,
)
from kvtui.cluster.metrics_queries import MEMORY_RESIDENT
from kvtui.cluster.migration_metrics import MigrationSample

SCRAPE_TIMEOUT = 10.0
DEFAULT_BYTE_BUDGET = 128 * 1024  # bytes of metrics text per second, on average
BURST_SECONDS = 60.0  # unspent budget is kept for at most this many seconds
_VM_COLUMNS = tuple(VmMetric)
_NODE_COLUMNS = tuple(NodeMetric)
_PARSE_IN_THREAD = 256 * 1024  # texts this big are parsed off the event loop


@dataclass
class _Handler:
    pod: tuple[str, str]
    last: HandlerScrape | None = None
    usage: dict[VmRef, VmUsage] = field(default_factory=dict)
    error: str | None = None
    tried: float = -math.inf  # monotonic time of the last attempt
    size: int = 0  # bytes of its last answer
    failure: KubeError | None = None


class DirectScrapeSource:
    """The metrics questions answered from the virt-handlers, without Prometheus."""

    def __init__(
        self,
        connection: Connection,
        objects: Objects,
        *,
        max_age: float = 2.0,
        byte_budget: float = DEFAULT_BYTE_BUDGET,
        concurrency: int = 8,
        history_points: int = 60,
        timeout: float = SCRAPE_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.connection = connection
        self.objects = objects
        self.max_age = max_age
        self.byte_budget = byte_budget
        self.concurrency = max(1, concurrency)
        self.history_points = history_points
        self.timeout = timeout
        self.clock = clock
        self.info = SourceInfo(
            "direct", f"direct scrape of the virt-handlers via {connection.server}"
        )
        self.traffic = Traffic()
        self._handlers: dict[str, _Handler] = {}
        self._lock = asyncio.Lock()
        self._last_round: float | None = None
        self._credit = 0.0  # bytes the budget still allows
        self._vm_rings: dict[VmRef, Ring] = {}
        self._node_rings: dict[str, Ring] = {}

    # -- scraping --------------------------------------------------------------------------
    async def _fresh(self) -> None:
        async with self._lock:
            now = self.clock()
            if self._last_round is not None and now - self._last_round < self.max_age:
                return
            await self._round(now)

    def _sync_handlers(self) -> None:
        pods = handler_pods(self.objects(kinds.PODS))
        if not pods:
            raise MetricsUnavailable(
                self.info.label, "no running virt-handler pod to scrape (is KubeVirt installed?)"
            )
        for node in list(self._handlers):
            if node not in pods:
                del self._handlers[node]
                self._node_rings.pop(node, None)
        for node, pod in pods.items():
            self._handlers.setdefault(node, _Handler(pod)).pod = pod

    async def _round(self, now: float) -> None:
        """Scrape the handlers scraped longest ago while the traffic budget has credit.

        Credit grows by `byte_budget` per second, up to BURST_SECONDS of it (or one handler's
        text, if that is more), and each scrape spends its size: the long-run average stays
        within the budget. A round may overdraw by one handler; the rounds after it wait.
        """
        self._sync_handlers()
        if self._last_round is None:
            self._credit = self.byte_budget * BURST_SECONDS
        else:
            cap = max(self.byte_budget * BURST_SECONDS, self._typical_size())
            earned = self.byte_budget * (now - self._last_round)
            self._credit = min(cap, self._credit + earned)
        self._last_round = now
        order = sorted(self._handlers.items(), key=lambda item: (item[1].tried, item[0]))
        tried = []
        while order and self._credit > 0:
            typical = self._typical_size()
            fits = int(self._credit // typical) if typical else 1  # unknown size: one first
            count = max(1, min(self.concurrency, fits))
            batch, order = order[:count], order[count:]
            spent = await asyncio.gather(*(self._scrape(node, h) for node, h in batch))
            self._credit -= sum(spent)
            tried.extend(h for _, h in batch)
        self._prune()
        if tried and all(h.failure is not None for h in tried):
            raise self._round_error([h.failure for h in tried if h.failure is not None])

    def _typical_size(self) -> float:
        sizes = [h.size for h in self._handlers.values() if h.size]
        return sum(sizes) / len(sizes) if sizes else 0.0

    def _round_error(self, failures: list[KubeError]) -> Exception:
        label = self.info.label
        for failure in failures:
            if isinstance(failure, Unauthorized | Forbidden):
                return MetricsAuthError(label, str(failure))
        for failure in failures:
            if failure.reason == UNREACHABLE:
                return MetricsUnavailable(label, str(failure))
        return MetricsUnavailable(label, f"no virt-handler answered: {failures[0]}")

    async def _scrape(self, node: str, handler: _Handler) -> int:
        # Stamped when asked, as Prometheus stamps a scrape: the handler renders its counters
        # right away, while the answer may wait long in a busy event loop.
        at, mono = time.time(), self.clock()
        handler.tried = mono
        try:
            text = await self.connection.get_text(metrics_path(*handler.pod), timeout=self.timeout)
        except KubeError as exc:
            handler.failure, handler.error = exc, str(exc)
            return 0
        self.traffic.add(len(text))
        handler.size = len(text)
        try:
            if len(text) > _PARSE_IN_THREAD:
                scrape = await asyncio.to_thread(parse_handler_text, text, at, mono)
            else:
                scrape = parse_handler_text(text, at, mono)
        except ValueError:
            handler.failure = KubeError("the answer is not Prometheus metrics text")
            handler.error = str(handler.failure)
            return len(text)
        rated = rates(handler.last, scrape)
        handler.last, handler.usage = scrape, usage_rows(scrape, rated)
        handler.failure = handler.error = None
        self._remember(node, scrape, handler.usage)
        return len(text)

    def _remember(self, node: str, scrape: HandlerScrape, usage: dict[VmRef, VmUsage]) -> None:
        for ref, row in usage.items():
            ring = self._vm_rings.get(ref)
            if ring is None:
                ring = self._vm_rings[ref] = Ring(len(_VM_COLUMNS), self.history_points)
            ring.append(scrape.at, [row.value(m) for m in _VM_COLUMNS])
        node_ring = self._node_rings.get(node)
        if node_ring is None:
            node_ring = self._node_rings[node] = Ring(len(_NODE_COLUMNS), self.history_points)
        totals = self._node_totals(scrape, usage)
        node_ring.append(scrape.at, [totals[m] for m in _NODE_COLUMNS])

    @staticmethod
    def _node_totals(scrape: HandlerScrape, usage: dict[VmRef, VmUsage]) -> dict:
        cpus = [row.cpu for row in usage.values()]
        known = [c for c in cpus if c is not None]
        resident = [g[MEMORY_RESIDENT] for g in scrape.gauges.values() if MEMORY_RESIDENT in g]
        return {
            NodeMetric.VMS: float(len(usage)),
            NodeMetric.CPU: sum(known) if known or not cpus else None,
            NodeMetric.MEMORY: sum(resident) if resident or not usage else None,
        }

    def _prune(self) -> None:
        """Forget the history of VMs no handler reports any more."""
        reported = {ref for h in self._handlers.values() for ref in h.usage}
        for ref in [r for r in self._vm_rings if r not in reported]:
            del self._vm_rings[ref]

    # -- answers ---------------------------------------------------------------------------
    def _current(self) -> tuple[dict[VmRef, VmUsage], float | None, tuple[str, ...]]:
        rows: dict[VmRef, VmUsage] = {}
        seen_at: dict[VmRef, float] = {}
        oldest = None
        for handler in self._handlers.values():
            if handler.last is None:
                continue
            at = handler.last.at
            oldest = at if oldest is None else min(oldest, at)
            for ref, row in handler.usage.items():
                if ref not in rows or at > seen_at[ref]:  # a VM that moved: the newer scrape
                    rows[ref], seen_at[ref] = row, at
        return rows, oldest, self._notes()

    def _notes(self) -> tuple[str, ...]:
        notes = [
            f"virt-handler on {node}: {h.error}"
            for node, h in sorted(self._handlers.items())
            if h.error
        ]
        waiting = sum(1 for h in self._handlers.values() if h.last is None and not h.error)
        if waiting:
            notes.append(
                f"{waiting} of {len(self._handlers)} virt-handlers not scraped yet (traffic budget)"
            )
        return tuple(notes)

    def _reading(
        self, value: object, sampled: float | None = None, notes: Iterable[str] = ()
    ) -> Reading:
        return Reading(value, self.info, time.time(), sampled, tuple(notes))

    async def top_vms(
        self, by: VmMetric = VmMetric.CPU, limit: int = 10, namespace: str | None = None
    ) -> Reading[list[VmUsage]]:
        await self._fresh()
        rows, oldest, notes = self._current()
        chosen = [r for r in rows.values() if not namespace or r.namespace == namespace]
        return self._reading(ranked(chosen, VmMetric(by))[:limit], oldest, notes)

    async def vm_usage(self, vm: VmRef) -> Reading[VmUsage | None]:
        await self._fresh()
        rows, oldest, notes = self._current()
        return self._reading(rows.get(vm), oldest, notes)

    async def vm_history(
        self, metric: VmMetric, vms: Sequence[VmRef], window: float = 900.0, points: int = 60
    ) -> Reading[dict[VmRef, list[Point]]]:
        await self._fresh()
        column = _VM_COLUMNS.index(VmMetric(metric))
        since = time.time() - window
        out = {
            ref: self._vm_rings[ref].series(column, since, points)
            for ref in vms
            if ref in self._vm_rings
        }
        return self._reading(out, None, self._notes())

    async def node_usage(self) -> Reading[list[NodeUsage]]:
        await self._fresh()
        _, oldest, notes = self._current()
        nodes = {n["metadata"]["name"]: n for n in self.objects(kinds.NODES)}
        rows = []
        for name in sorted(set(nodes) | set(self._handlers)):
            cpu_total, memory_total = allocatable(nodes[name]) if name in nodes else (None, None)
            handler = self._handlers.get(name)
            if handler is None:  # no virt-handler there (a control-plane node): no VMs
                rows.append(NodeUsage(name, 0, 0.0, 0.0, cpu_total, memory_total))
                continue
            if handler.last is None:  # not scraped yet: unknown
                rows.append(NodeUsage(name, None, None, None, cpu_total, memory_total))
                continue
            totals = self._node_totals(handler.last, handler.usage)
            rows.append(
                NodeUsage(
                    name,
                    len(handler.usage),
                    totals[NodeMetric.CPU],
                    totals[NodeMetric.MEMORY],
                    cpu_total,
                    memory_total,
                )
            )
        return self._reading(rows, oldest, notes)

    async def node_history(
        self, metric: NodeMetric, nodes: Sequence[str], window: float = 900.0, points: int = 60
    ) -> Reading[dict[str, list[Point]]]:
        await self._fresh()
        column = _NODE_COLUMNS.index(NodeMetric(metric))
        since = time.time() - window
        out = {
            node: self._node_rings[node].series(column, since, points)
            for node in nodes
            if node in self._node_rings
        }
        return self._reading(out, None, self._notes())

    async def vmis_by_phase(self) -> Reading[dict[str, int]]:
        return self._reading(count_phases(self.objects(kinds.VMIS)), time.time())

    async def migration_counts(self) -> Reading[MigrationCounts]:
        return self._reading(count_migrations(self.objects(kinds.VMIMS)), time.time())

    async def migration_progress(self) -> Reading[dict[VmRef, MigrationSample]]:
        """Scrapes the source nodes of running migrations now (they change by the second)."""
        sources = set()
        for vmi in self.objects(kinds.VMIS):
            state = (vmi.get("status") or {}).get("migrationState") or {}
            if state.get("sourceNode") and not state.get("completed"):
                sources.add(state["sourceNode"])
        if not sources:
            return self._reading({}, time.time())
        async with self._lock:
            self._sync_handlers()
            now = self.clock()
            stale = [
                (node, h)
                for node, h in self._handlers.items()
                if node in sources and (h.last is None or now - h.last.mono >= self.max_age)
            ]
            spent = await asyncio.gather(*(self._scrape(node, h) for node, h in stale))
            self._credit -= sum(spent)  # targeted, but still counted against the budget
            if stale and all(h.failure is not None for _, h in stale):
                raise self._round_error([h.failure for _, h in stale if h.failure is not None])
        out: dict[VmRef, MigrationSample] = {}
        oldest = None
        for node in sorted(sources):
            handler = self._handlers.get(node)
            if handler is None or handler.last is None:
                continue
            oldest = handler.last.at if oldest is None else min(oldest, handler.last.at)
            for ref, found in handler.last.migrations.items():
                got = {column: value for column, (_, value) in found.items()}
                if "processed" in got or "remaining" in got:
                    out[ref] = MigrationSample(
                        processed_bytes=int(got.get("processed", 0)),
                        remaining_bytes=int(got.get("remaining", 0)),
                        dirty_rate=got.get("dirty_rate", 0.0),
                        transfer_rate=got.get("transfer_rate", 0.0),
                    )
        return self._reading(out, oldest, self._notes())

    async def close(self) -> None:
        return None  # the connection belongs to the session

"""Benchmark the metrics pane's refresh cost with 10,000 VMIs, in each mode, against a peer.

One simulator (the `large` scenario: 200 nodes, 10,000 VMIs) and one real Prometheus scraping
it every 30 s. A refresh is what the metrics pane asks every `--refresh` seconds: the top 10
VMs by CPU, every node's usage, VMIs by phase, migration counts and progress, and 15-minute
sparklines for the 10 rows shown. Every byte is counted on the wire by a TCP relay on loopback
(TLS, headers and all), for:

- kvtui, Prometheus mode (prometheus-api-client against Prometheus's HTTP API);
- kvtui, direct scrape (virt-handlers through the API server's pod proxy, default budget);
- the peer, measured in the same run: a plain poll of the same data without Prometheus, i.e.
  `kubectl get --raw` of every virt-handler's /metrics through the pod proxy, once per refresh
  (plus, for the cluster-wide counts, `kubectl get --raw` of the VMI list, k9s-style).

Prints time per refresh, bytes per refresh and per minute, the ratios to the peer, and checks:
Prometheus mode idles under 16 KiB/s (k9s#2159 complains about ~300 KiB/s) and at most 1/100 of
the peer; direct mode's steady traffic (its second minute) stays within its byte budget.

    python benchmarks/metrics.py [--scenario large] [--refresh 5] [--minutes 2] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from kvtui.cluster.cache import ClusterCache  # noqa: E402
from kvtui.cluster.connection import Connection  # noqa: E402
from kvtui.cluster.metrics_handlers import handler_pods, metrics_path  # noqa: E402
from kvtui.cluster.metrics_model import VmMetric  # noqa: E402
from kvtui.cluster.metrics_prometheus import PrometheusSource  # noqa: E402
from kvtui.cluster.metrics_prometheus_api import (  # noqa: E402
    PrometheusClientApi,
    PrometheusSettings,
)
from kvtui.cluster.metrics_scrape import DEFAULT_BYTE_BUDGET, DirectScrapeSource  # noqa: E402
from kvtui.cluster.metrics_source import MetricsSource  # noqa: E402
from kvtui.cluster.session import PANE_KINDS  # noqa: E402
from kvtui.prometheus_runner import PrometheusRunner, ScrapeTarget, prometheus_binary  # noqa: E402
from kvtui.sim.runner import SimHandle, running_simulator  # noqa: E402

KIB = 1024
PROMETHEUS_IDLE_LIMIT = 16 * KIB  # bytes/s
PEER_RATIO = 1 / 100
LARGE = 1000  # VMIs from which a poll of every handler is the cost to beat
BUDGET_SLACK = 1.10


class Relay:
    """A TCP relay on 127.0.0.1 that counts every byte it carries, both ways."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.bytes = 0
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        self.thread = threading.Thread(target=self._serve, args=(ready,), daemon=True)
        self.thread.start()
        ready.wait()

    def _serve(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(
            asyncio.start_server(self._connection, "127.0.0.1", 0)
        )
        self.port = server.sockets[0].getsockname()[1]
        ready.set()
        self.loop.run_forever()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(256 * KIB):
                    self.bytes += len(data)
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)


def relayed_kubeconfig(sim: SimHandle, relay: Relay, directory: Path) -> Path:
    config = yaml.safe_load(sim.kubeconfig.read_text())
    for cluster in config["clusters"]:
        cluster["cluster"]["server"] = f"https://127.0.0.1:{relay.port}"
    path = directory / "relayed-kubeconfig"
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


@dataclass
class Run:
    mode: str
    times: list[float] = field(default_factory=list)
    samples: list[tuple[float, int]] = field(default_factory=list)  # (seconds in, bytes so far)
    questions: dict[str, list[float]] = field(default_factory=dict)  # seconds per question
    total: int = 0
    seconds: float = 0.0
    note: str = ""

    @property
    def per_refresh(self) -> float:
        return self.total / max(1, len(self.times))

    @property
    def per_second(self) -> float:
        return self.total / self.seconds if self.seconds else 0.0

    def per_minute(self) -> list[int]:
        """Bytes moved in each whole minute of the run."""
        out, mark, base = [], 60.0, 0
        for at, moved in self.samples:
            if at >= mark:
                out.append(moved - base)
                mark, base = mark + 60.0, moved
        return out


async def refresh(source: MetricsSource, questions: dict[str, list[float]]) -> None:
    """What the metrics pane asks on each refresh, each question timed."""

    async def timed(name: str, ask: Awaitable[Any]) -> Any:
        began = time.monotonic()
        answer = await ask
        questions.setdefault(name, []).append(time.monotonic() - began)
        return answer

    top = await timed("top_vms", source.top_vms(VmMetric.CPU, limit=10))
    await timed("node_usage", source.node_usage())
    await timed("vmis_by_phase", source.vmis_by_phase())
    await timed("migration_counts", source.migration_counts())
    await timed("migration_progress", source.migration_progress())
    refs = [row.ref for row in top.value]
    await timed("vm_history", source.vm_history(VmMetric.CPU, refs, 900.0, 60))


async def measure(
    mode: str, source: MetricsSource, relay: Relay, interval: float, minutes: float
) -> Run:
    run = Run(mode)
    start = time.monotonic()
    base = relay.bytes
    while time.monotonic() - start < minutes * 60:
        began = time.monotonic()
        await refresh(source, run.questions)
        run.times.append(time.monotonic() - began)
        await asyncio.sleep(max(0.0, interval - (time.monotonic() - began)))
        run.samples.append((time.monotonic() - start, relay.bytes - base))
    run.seconds = time.monotonic() - start
    run.total = relay.bytes - base
    return run


def kubectl_peer(
    kubeconfig: Path, paths: list[str], relay: Relay, interval: float, label: str
) -> Run:
    """One refresh of `kubectl get --raw` over `paths` (8 at a time), extrapolated per minute
    at the refresh interval (or back to back when one refresh takes longer)."""
    kubectl = shutil.which("kubectl") or "kubectl"

    def get(path: str) -> None:
        subprocess.run(
            [kubectl, "--kubeconfig", str(kubeconfig), "get", "--raw", path],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=True,
            timeout=300,
        )

    base, began = relay.bytes, time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(get, paths))
    took = time.monotonic() - began
    run = Run(label, [took], total=relay.bytes - base)
    run.seconds = max(interval, took)  # one refresh per interval, or back to back
    run.note = f"{len(paths)} request(s) per refresh, extrapolated"
    return run


def print_table(runs: list[Run], interval: float) -> None:
    print(
        f"{'mode':<58} {'refreshes':>9} {'s/refresh':>15} {'KB/refresh':>11} "
        f"{'KB/min':>10} {'KiB/s':>9}"
    )
    for run in runs:
        times = f"{statistics.mean(run.times):.2f} (max {max(run.times):.2f})"
        print(
            f"{run.mode:<58} {len(run.times):>9} {times:>15} {run.per_refresh / 1000:>11.1f} "
            f"{run.per_second * 60 / 1000:>10.1f} {run.per_second / KIB:>9.1f}"
        )
        if len(run.per_minute()) > 1:
            minutes = ", ".join(f"{b / 1000:.0f}" for b in run.per_minute())
            print(f"{'':<4}KB in each minute: {minutes}")
        if run.questions:
            slowest = ", ".join(
                f"{name} {statistics.mean(times):.2f}" for name, times in run.questions.items()
            )
            print(f"{'':<4}mean s per question: {slowest}")
        if run.note:
            print(f"{'':<4}{run.note}")
    print(f"(refresh every {interval:g} s; bytes counted on the wire by a loopback TCP relay)")


async def kvtui_runs(
    sim: SimHandle, prom: PrometheusRunner, scratch: Path, args: argparse.Namespace
) -> tuple[list[Run], Relay, Path]:
    api_relay = Relay("127.0.0.1", int(sim.url.rsplit(":", 1)[1]))
    prom_relay = Relay("127.0.0.1", prom.port)
    kubeconfig = relayed_kubeconfig(sim, api_relay, scratch)
    # The session's own watches are not the pane's cost: its cache talks to the API directly.
    direct_conn = await Connection.open(str(sim.kubeconfig), sim.context)
    cache = ClusterCache(direct_conn, PANE_KINDS)
    await cache.start()
    await cache.wait_synced(600)
    runs = []
    # A 2-core box also runs the simulator and Prometheus's 300 MB scrapes: allow slow answers.
    settings = PrometheusSettings(url=f"http://127.0.0.1:{prom_relay.port}", timeout=60.0)
    print("  measuring: kvtui, Prometheus mode ...", file=sys.stderr, flush=True)
    source = PrometheusSource(PrometheusClientApi(settings), cache.items)
    runs.append(
        await measure("kvtui, Prometheus mode", source, prom_relay, args.refresh, args.minutes)
    )
    await source.close()
    print("  measuring: kvtui, direct scrape ...", file=sys.stderr, flush=True)
    relayed = await Connection.open(str(kubeconfig), sim.context)
    direct = DirectScrapeSource(relayed, cache.items)
    label = f"kvtui, direct scrape (budget {DEFAULT_BYTE_BUDGET // KIB} KiB/s)"
    runs.append(await measure(label, direct, api_relay, args.refresh, args.minutes))
    await relayed.close()
    await cache.stop()
    await direct_conn.close()
    prom_relay.close()
    return runs, api_relay, kubeconfig


def checks(kvtui: list[Run], peer: Run, vmis: int) -> list[tuple[bool, str]]:
    prometheus, direct = kvtui
    results = [
        (
            prometheus.per_second <= PROMETHEUS_IDLE_LIMIT,
            f"Prometheus mode idles at {prometheus.per_second / KIB:.1f} KiB/s "
            f"(limit {PROMETHEUS_IDLE_LIMIT // KIB} KiB/s; k9s#2159: ~300 KiB/s)",
        ),
    ]
    ratio = prometheus.per_second / peer.per_second
    if vmis >= LARGE:
        results.append(
            (
                ratio <= PEER_RATIO,
                f"Prometheus mode moves {ratio:.5f}x the peer's bytes (limit {PEER_RATIO:g}x)",
            )
        )
    else:
        results.append((True, f"ratio to the peer checked from {LARGE} VMIs on ({ratio:.3f}x)"))
    if len(direct.per_minute()) >= 2:
        steady = direct.per_minute()[-1] / 60
        results.append(
            (
                steady <= DEFAULT_BYTE_BUDGET * BUDGET_SLACK + direct.per_refresh / 60,
                f"direct scrape's last minute: {steady / KIB:.1f} KiB/s "
                f"(budget {DEFAULT_BYTE_BUDGET // KIB} KiB/s)",
            )
        )
    else:
        results.append((True, "direct scrape: run --minutes 2 or more to check its steady state"))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="large")
    parser.add_argument("--refresh", type=float, default=5.0, help="seconds between refreshes")
    parser.add_argument("--minutes", type=float, default=2.5, help="per kvtui mode")
    parser.add_argument("--quick", action="store_true", help="--scenario default --minutes 0.5")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.quick:
        args.scenario, args.minutes = "default", 0.5
    if prometheus_binary() is None or shutil.which("kubectl") is None:
        print("FAIL: needs the prometheus and kubectl binaries on PATH")
        return 1
    scratch = Path(tempfile.mkdtemp(prefix="kvtui-bench-metrics-"))
    print(f"  starting the {args.scenario!r} simulator ...", file=sys.stderr, flush=True)
    with running_simulator(scenario=args.scenario, speed=1.0, seed=args.seed) as sim:
        vmis = sim.call(lambda: sim.simulator.store.count("kubevirt.io/virtualmachineinstances"))
        interval = 2.0 if vmis <= 1000 else 30.0
        print(f"  starting Prometheus ({interval:g} s scrapes) ...", file=sys.stderr, flush=True)
        with PrometheusRunner([ScrapeTarget(sim.metrics_url)], scrape_interval=interval) as prom:
            prom.wait_for_samples(timeout=10 * interval + 60)
            prom.wait_for_samples("count(kubevirt_vmi_cpu_usage_seconds_total)", 10 * interval)
            runs, api_relay, kubeconfig = asyncio.run(kvtui_runs(sim, prom, scratch, args))
            pods = handler_pods(sim.call(lambda: sim.simulator.store.list("/pods", "kubevirt")))
            print("  measuring: the kubectl peers ...", file=sys.stderr, flush=True)
            peer = kubectl_peer(
                kubeconfig,
                [metrics_path(*pod) for pod in pods.values()],
                api_relay,
                args.refresh,
                "peer: kubectl get --raw of every virt-handler /metrics",
            )
            vmi_peer = kubectl_peer(
                kubeconfig,
                ["/apis/kubevirt.io/v1/virtualmachineinstances"],
                api_relay,
                args.refresh,
                "peer: kubectl get --raw of the VMI list (phases, k9s-style)",
            )
            api_relay.close()
    shutil.rmtree(scratch, ignore_errors=True)
    print(f"metrics pane refresh, scenario {args.scenario} ({vmis} VMIs, {len(pods)} nodes)")
    print_table([*runs, peer, vmi_peer], args.refresh)
    prometheus, direct = runs
    print(
        f"ratios to the peer: Prometheus mode {prometheus.per_second / peer.per_second:.5f}x, "
        f"direct scrape {direct.per_second / peer.per_second:.4f}x"
    )
    results = checks(runs, peer, vmis)
    print()
    for ok, line in results:
        print(f"{'PASS' if ok else 'FAIL'}: {line}")
    ok = all(passed for passed, _ in results)
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())

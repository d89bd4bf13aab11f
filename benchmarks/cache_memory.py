"""Benchmark the ClusterCache on the `large` scenario (200 nodes, 10,000 VMs/VMIs/pods).

Prints, from one run against `kvtui sim --scenario large`:
- time from `start()` to synced for nodes, pods, VMs, VMIs and VMIMs, next to the peers
  `kubectl get vmi -A -o json` (target ≤ 1.0×) and a raw fetch + `json.loads` of the same five
  lists (target ≤ 2.5×);
- RSS growth of a process holding the synced cache, next to one holding the untrimmed
  `json.loads` results (target ≤ 0.3×).

Every measurement runs in a fresh child process, so one's heap does not pollute another's RSS.

    python benchmarks/cache_memory.py [--nodes N --vms N] [--repeat 3] [--kubeconfig PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from sim_large import kubectl_seconds, start_sim, tls_and_token  # noqa: E402

PATHS = (
    "/api/v1/nodes",
    "/api/v1/pods",
    "/apis/kubevirt.io/v1/virtualmachines",
    "/apis/kubevirt.io/v1/virtualmachineinstances",
    "/apis/kubevirt.io/v1/virtualmachineinstancemigrations",
)
PAGE = resource.getpagesize()


def rss() -> int:
    """This process's resident set size in bytes, after a full collection."""
    gc.collect()
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * PAGE


# -- child processes -------------------------------------------------------------------------
async def child_cache(kubeconfig: str) -> dict:
    from kvtui.cluster import kinds
    from kvtui.cluster.cache import ClusterCache
    from kvtui.cluster.connection import Connection

    connection = await Connection.open(kubeconfig, None)
    await connection.check()  # TLS and auth set up before the clock and the baseline
    cache = ClusterCache(connection, [kinds.NODES, kinds.PODS, kinds.VMS, kinds.VMIS, kinds.VMIMS])
    before = rss()
    t0 = time.perf_counter()
    await cache.start()
    if not await cache.wait_synced(600):
        raise SystemExit(f"cache did not sync: {cache.states()}")
    seconds = time.perf_counter() - t0
    await asyncio.sleep(0.5)  # let the first change set go out
    after = rss()
    counts = {k.name: cache.count(k) for k in cache.kinds()}
    rows_seconds = render_rows(cache)
    await cache.stop()
    await connection.close()
    return {
        "seconds": seconds,
        "rss_growth": after - before,
        "counts": counts,
        "rows_seconds": rows_seconds,
    }


def render_rows(cache) -> float:
    """Seconds to join VMs, VMIs and migrations and render every VM row and node row."""
    from kvtui.cluster import kinds
    from kvtui.cluster.presenters import node_row, node_usage, vm_row
    from kvtui.cluster.views import Migration, Node, Pod, Vm, Vmi

    t0 = time.perf_counter()
    vmis = {
        (o["metadata"]["namespace"], o["metadata"]["name"]): Vmi(o) for o in cache.items(kinds.VMIS)
    }
    migrations = {}
    for obj in cache.items(kinds.VMIMS):
        migration = Migration(obj)
        migrations[migration.vmi_key] = migration
    now = time.time()
    rows = [
        vm_row(vm, vmis.get(vm.vmi_key), migrations.get(vm.vmi_key), "None", now)
        for vm in map(Vm, cache.items(kinds.VMS))
    ]
    usage = node_usage(map(Pod, cache.items(kinds.PODS)))
    per_node: dict[str, int] = {}
    for vmi in vmis.values():
        per_node[vmi.node] = per_node.get(vmi.node, 0) + 1
    for node in map(Node, cache.items(kinds.NODES)):
        cpu, mem = usage.get(node.name, (0, 0))
        rows.append(node_row(node, per_node.get(node.name, 0), cpu, mem, "Running", now))
    return time.perf_counter() - t0


async def child_raw(kubeconfig: str) -> dict:
    import aiohttp

    ctx, token = tls_and_token(Path(kubeconfig))
    import yaml

    server = yaml.safe_load(Path(kubeconfig).read_text())["clusters"][0]["cluster"]["server"]
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(headers=headers, timeout=timeout) as http:
        async with http.get(server + "/version", ssl=ctx) as resp:
            await resp.read()
        before = rss()
        t0 = time.perf_counter()

        async def fetch(path: str) -> dict:
            async with http.get(server + path, ssl=ctx) as resp:
                body = await resp.read()
            return json.loads(body)

        lists = await asyncio.gather(*(fetch(p) for p in PATHS))
        seconds = time.perf_counter() - t0
        after = rss()
    counts = {p.rsplit("/", 1)[1]: len(data["items"]) for p, data in zip(PATHS, lists, strict=True)}
    return {"seconds": seconds, "rss_growth": after - before, "counts": counts}


def run_child(kind: str, kubeconfig: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--kubeconfig", str(kubeconfig)],
        check=True,
        capture_output=True,
        text=True,
        timeout=900,
        cwd=HERE.parent,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int)
    parser.add_argument("--vms", type=int)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--kubeconfig", help="measure an already running `kvtui sim` instead of starting one"
    )
    parser.add_argument("--child", choices=["cache", "raw"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        job = child_cache if args.child == "cache" else child_raw
        print(json.dumps(asyncio.run(job(args.kubeconfig))))
        return 0

    if args.kubeconfig:
        kubeconfig, proc, startup = Path(args.kubeconfig), None, 0.0
    else:
        kubeconfig = Path(tempfile.mkdtemp(prefix="kvtui-bench-")) / "kubeconfig"
        proc, _url, startup = start_sim(args, kubeconfig)
    try:
        caches, raws, peers = [], [], []
        for _ in range(args.repeat):
            caches.append(run_child("cache", kubeconfig))
            raws.append(run_child("raw", kubeconfig))
            peer = kubectl_seconds(kubeconfig)
            if peer is not None:
                peers.append(peer)
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGINT)
            proc.wait(30)

    mib = 1024 * 1024
    cache_s = statistics.median(c["seconds"] for c in caches)
    raw_s = statistics.median(r["seconds"] for r in raws)
    cache_rss = statistics.median(c["rss_growth"] for c in caches)
    raw_rss = statistics.median(r["rss_growth"] for r in raws)
    counts = ", ".join(f"{n} {k}" for k, n in caches[0]["counts"].items())
    print(f"ClusterCache on kvtui sim, scenario large (sim start-up {startup:.0f} s): {counts}")
    print(f"  medians of {args.repeat} runs, each in a fresh process")
    print(f"  start() to synced, 5 kinds:          {cache_s:7.2f} s")
    ok = True
    if peers:
        peer_s = statistics.median(peers)
        ratio = cache_s / peer_s
        ok &= ratio <= 1.0
        print(
            f"  peer: kubectl get vmi -A -o json:    {peer_s:7.2f} s   ratio {ratio:.2f}  "
            "(target ≤ 1.0)"
        )
    else:
        print("  peer: kubectl not installed, skipped")
    ratio = cache_s / raw_s
    ok &= ratio <= 2.5
    print(
        f"  peer: raw GET + json.loads, 5 lists: {raw_s:7.2f} s   ratio {ratio:.2f}  (target ≤ 2.5)"
    )
    rows_s = statistics.median(c["rows_seconds"] for c in caches)
    ok &= rows_s < 0.5
    print(
        f"  render every VM row and node row:    {rows_s:7.2f} s   (target < 0.5, "
        "with the pods' usage per node)"
    )
    ratio = cache_rss / raw_rss
    ok &= ratio <= 0.3
    print(
        f"  RSS growth holding the cache:        {cache_rss / mib:7.0f} MiB  vs untrimmed "
        f"json.loads {raw_rss / mib:.0f} MiB: ratio {ratio:.2f}  (target ≤ 0.3)"
    )
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())

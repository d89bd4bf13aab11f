"""Benchmark the simulator on the `large` scenario (200 nodes, 10,000 VMIs).

Prints, from one run: start-up time; LIST latency of all VMIs (target < 1 s) next to
`kubectl get vmi -A -o json` as the peer; the simulator's RSS (target < 1.5 GB) next to the
size of its objects as JSON; and events/s delivered to 10 concurrent watchers.

    python benchmarks/sim_large.py [--nodes N --vms N] [--watchers 10] [--churn 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shutil
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import yaml

HERE = Path(__file__).resolve().parent.parent


def start_sim(args: argparse.Namespace, kubeconfig: Path) -> tuple[subprocess.Popen, str, float]:
    cmd = [
        sys.executable,
        "-m",
        "kvtui.cli",
        "sim",
        "--scenario",
        "large",
        "--port",
        "0",
        "--kubeconfig",
        str(kubeconfig),
        "--metrics-port",
        "0",
    ]
    if args.nodes:
        cmd += ["--nodes", str(args.nodes)]
    if args.vms:
        cmd += ["--vms", str(args.vms)]
    started = time.monotonic()
    proc = subprocess.Popen(
        cmd, cwd=HERE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if "API server:" in line:
            return proc, line.split("API server:")[1].strip(), time.monotonic() - started
    raise SystemExit(f"the simulator did not start (exit {proc.wait()})")


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def tls_and_token(kubeconfig: Path) -> tuple[ssl.SSLContext, str]:
    config = yaml.safe_load(kubeconfig.read_text())
    ca = base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"])
    ctx = ssl.create_default_context(cadata=ca.decode())
    return ctx, config["users"][0]["user"]["token"]


async def measure_api(url: str, ctx: ssl.SSLContext, token: str, watchers: int, churn: int) -> dict:
    headers = {"Authorization": f"Bearer {token}"}
    path = "/apis/kubevirt.io/v1/virtualmachineinstances"
    out: dict = {}
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(headers=headers, timeout=timeout) as http:
        latencies = []
        body = b""
        for _ in range(5):
            t0 = time.perf_counter()
            async with http.get(url + path, ssl=ctx) as resp:
                body = await resp.read()
            latencies.append(time.perf_counter() - t0)
        listing = json.loads(body)
        out["vmis"] = len(listing["items"])
        out["list_seconds"] = statistics.median(latencies)
        out["list_bytes"] = len(body)
        rv = listing["metadata"]["resourceVersion"]

        got = [0] * watchers
        done = asyncio.Event()

        async def watch(i: int) -> None:
            params = {"watch": "1", "resourceVersion": rv, "allowWatchBookmarks": "false"}
            async with http.get(url + path, params=params, ssl=ctx) as resp:
                async for _line in resp.content:
                    got[i] += 1
                    if all(n >= churn for n in got):
                        done.set()
                    if got[i] >= churn:
                        return

        tasks = [asyncio.create_task(watch(i)) for i in range(watchers)]
        await asyncio.sleep(1.0)  # let every watch connect
        t0 = time.perf_counter()
        async with http.post(url + f"/_sim/churn?count={churn}", ssl=ctx) as resp:
            changed = (await resp.json())["changed"]
        await asyncio.wait_for(done.wait(), 300)
        elapsed = time.perf_counter() - t0
        for task in tasks:
            task.cancel()
        out["events_delivered"] = sum(got)
        out["events_expected"] = changed * watchers
        out["events_per_second"] = sum(got) / elapsed
        out["watch_seconds"] = elapsed

        state = 0
        for kind in ("/api/v1/nodes", "/api/v1/pods", path, "/apis/kubevirt.io/v1/virtualmachines"):
            async with http.get(url + kind, ssl=ctx) as resp:
                state += len(await resp.read())
        out["state_json_bytes"] = state
    return out


def kubectl_seconds(kubeconfig: Path) -> float | None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        return None
    t0 = time.perf_counter()
    subprocess.run(
        [kubectl, "--kubeconfig", str(kubeconfig), "get", "vmi", "-A", "-o", "json"],
        check=True,
        stdout=subprocess.DEVNULL,
        timeout=600,
    )
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int)
    parser.add_argument("--vms", type=int)
    parser.add_argument("--watchers", type=int, default=10)
    parser.add_argument("--churn", type=int, default=2000)
    args = parser.parse_args()
    kubeconfig = Path(tempfile.mkdtemp(prefix="kvtui-bench-")) / "kubeconfig"
    proc, url, startup = start_sim(args, kubeconfig)
    try:
        ctx, token = tls_and_token(kubeconfig)
        api = asyncio.run(measure_api(url, ctx, token, args.watchers, args.churn))
        rss = rss_bytes(proc.pid)
        peer = kubectl_seconds(kubeconfig)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    mib = 1024 * 1024
    print(f"kvtui sim, scenario large: {api['vmis']} VMIs")
    print(f"  start-up (load + steady state):  {startup:8.1f} s")
    print(
        f"  LIST all VMIs (median of 5):     {api['list_seconds']:8.3f} s   target < 1 s   "
        f"({api['list_bytes'] / mib:.0f} MiB)"
    )
    if peer is not None:
        print(
            f"  peer: kubectl get vmi -A -o json {peer:8.3f} s   ratio sim LIST / kubectl = "
            f"{api['list_seconds'] / peer:.2f}"
        )
    print(
        f"  RSS after sync:                  {rss / mib:8.0f} MiB  target < 1536 MiB   "
        f"ratio to its objects as JSON ({api['state_json_bytes'] / mib:.0f} MiB) = "
        f"{rss / api['state_json_bytes']:.2f}"
    )
    print(
        f"  {args.watchers} watchers, {args.churn} changes: "
        f"{api['events_per_second']:,.0f} events/s delivered "
        f"({api['events_delivered']}/{api['events_expected']} in "
        f"{api['watch_seconds']:.2f} s)"
    )
    ok = (
        api["list_seconds"] < 1.0
        and rss < 1.5 * 1024**3
        and (api["events_delivered"] >= api["events_expected"])
    )
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())

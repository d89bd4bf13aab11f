"""Benchmark the app on the `large` scenario: start to full Nodes and VMs tables.

Prints, from one run against `kvtui sim --scenario large` (200 nodes, 10,000 VMs): the time
from starting the app (connect, list, watch, render) until the Nodes table and then the VMs
table hold every row, next to `kubectl get vmi -A -o json` (target ≤ 1.0×) and a raw fetch +
`json.loads` of the lists the app needs (target ≤ 2.5×), measured in the same run.

    python benchmarks/app_startup.py [--nodes N --vms N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from sim_large import kubectl_seconds, start_sim, tls_and_token  # noqa: E402

LISTS = (
    "/api/v1/nodes",
    "/api/v1/pods",
    "/apis/kubevirt.io/v1/virtualmachines",
    "/apis/kubevirt.io/v1/virtualmachineinstances",
    "/apis/kubevirt.io/v1/virtualmachineinstancemigrations",
    "/apis/kubevirt.io/v1/kubevirts",
)


async def app_seconds(kubeconfig: Path, nodes: int, vms: int) -> tuple[float, float]:
    """Seconds until the Nodes table, then the VMs table, hold every row."""
    from kvtui.cluster.audit import AuditLog
    from kvtui.cluster.config import Config
    from kvtui.cluster.session import Session
    from kvtui.ui.app import KvtuiApp

    audit = AuditLog(Path(tempfile.mkdtemp()) / "audit.jsonl")
    started = time.perf_counter()
    app = KvtuiApp(
        open_session=lambda: Session.open(str(kubeconfig), None, config=Config(), audit=audit)
    )
    async with app.run_test(size=(160, 50)) as pilot:

        async def until(count: int) -> float:
            deadline = time.perf_counter() + 300
            while time.perf_counter() < deadline:
                table = getattr(app.screen, "table", None) if app.session else None
                if table is not None and table.total_count >= count:
                    await pilot.pause()  # and painted
                    return time.perf_counter() - started
                await asyncio.sleep(0.02)
            raise SystemExit("the app did not fill its table in 300 s")

        nodes_at = await until(nodes)
        await app.switch_mode("vms")
        vms_at = await until(vms)
        await app.session.close()
    return nodes_at, vms_at


async def raw_seconds(url: str, kubeconfig: Path) -> float:
    import aiohttp

    ctx, token = tls_and_token(kubeconfig)
    started = time.perf_counter()
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:

        async def fetch(path: str) -> dict:
            async with http.get(url + path, ssl=ctx) as resp:
                return json.loads(await resp.read())

        await asyncio.gather(*(fetch(p) for p in LISTS))
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int)
    parser.add_argument("--vms", type=int)
    args = parser.parse_args()
    kubeconfig = Path(tempfile.mkdtemp(prefix="kvtui-bench-")) / "kubeconfig"
    proc, url, _ = start_sim(args, kubeconfig)
    try:
        counts = asyncio.run(_counts(url, kubeconfig))
        nodes_at, vms_at = asyncio.run(app_seconds(kubeconfig, counts["nodes"], counts["vms"]))
        kubectl = kubectl_seconds(kubeconfig)
        raw = asyncio.run(raw_seconds(url, kubeconfig))
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    print(f"kvtui app, scenario large: {counts['nodes']} nodes, {counts['vms']} VMs")
    print(f"  start → full Nodes table:        {nodes_at:7.2f} s")
    print(f"  start → full VMs table:          {vms_at:7.2f} s")
    print(
        f"  peer: raw fetch + json.loads      {raw:7.2f} s   ratio app / raw = "
        f"{vms_at / raw:.2f}   (target ≤ 2.5)"
    )
    ok = vms_at / raw <= 2.5
    if kubectl is not None:
        print(
            f"  peer: kubectl get vmi -A -o json {kubectl:7.2f} s   ratio app / kubectl = "
            f"{vms_at / kubectl:.2f}   (target ≤ 1.0)"
        )
        ok = ok and vms_at <= kubectl
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


async def _counts(url: str, kubeconfig: Path) -> dict[str, int]:
    import aiohttp

    ctx, token = tls_and_token(kubeconfig)
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:

        async def count(path: str) -> int:
            async with http.get(url + path, ssl=ctx) as resp:
                return len(json.loads(await resp.read())["items"])

        return {
            "nodes": await count("/api/v1/nodes"),
            "vms": await count("/apis/kubevirt.io/v1/virtualmachines"),
        }


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark `kvtui drain` against `kubectl drain` on the same simulated node, in one run.

For N = 10 and 40 live-migratable VMs on kv-node-1 of the `drain-bench` scenario, each tool
drains the node on a fresh simulator (same scenario, seed and speed). Prints the wall time, the
API requests the tool made (the simulator records them), its eviction POSTs and the shortest
gap between two evictions of the same pod; then checks kvtui's wall time ≤ 1.05× kubectl's
+ 1 s, its requests ≤ 0.5× kubectl's, and no eviction retry closer than 4 s. A drain that
leaves a VM on the node, or a VMI not Running elsewhere, fails the run.

    python benchmarks/drain.py [--quick] [--speed 10] [--seed 0] [--breakdown]
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import requests
import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from kvtui.sim.runner import SimHandle, running_simulator  # noqa: E402
from kvtui.sim.server import ADMIN_USER  # noqa: E402

SCENARIO = "drain-bench"
NODE = "kv-node-1"
KVTUI = Path(sys.executable).with_name("kvtui")
TOOL_TIMEOUT = 11 * 60  # both tools are told 10m
WALL_RATIO, WALL_SLACK, REQUEST_RATIO, MIN_RETRY_GAP = 1.05, 1.0, 0.5, 4.0
EVICTION = re.compile(r"/api/v1/namespaces/([^/]+)/pods/([^/]+)/eviction$")


@dataclass
class Run:
    """One tool draining the node on one fresh simulator."""

    tool: str
    vms: int
    wall: float
    started: float  # epoch seconds at the tool's start, to place its requests
    exit_code: int
    requests: list[dict]
    output: str
    problems: list[str] = field(default_factory=list)  # why the node is not drained

    @property
    def evictions(self) -> list[dict]:
        return [r for r in self.requests if r["method"] == "POST" and EVICTION.search(r["path"])]

    @property
    def min_retry_gap(self) -> float | None:
        """Shortest time between two eviction POSTs for the same pod (None: no retries)."""
        times: dict[str, list[float]] = defaultdict(list)
        for r in self.evictions:
            times[r["path"]].append(r["time"])
        gaps = [b - a for t in times.values() for a, b in pairwise(sorted(t))]
        return min(gaps) if gaps else None

    @property
    def first_request(self) -> float | None:
        """Seconds from the start to the first API request: start-up and configuration."""
        return self.requests[0]["time"] - self.started if self.requests else None


class Sim:
    """Raw HTTP to one simulator: the admin endpoint, and reads as the viewer, whose requests
    are recorded under another user than the tools' admin token."""

    def __init__(self, handle: SimHandle, scratch: Path) -> None:
        self.handle = handle
        config = yaml.safe_load(handle.kubeconfig.read_text())
        ca = scratch / "ca.crt"
        ca.write_bytes(
            base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"])
        )
        self.http = requests.Session()
        self.http.trust_env = False
        self.http.verify = str(ca)

    def admin(self, method: str, route: str) -> object:
        resp = self.http.request(
            method,
            f"{self.handle.url}/_sim/{route}",
            headers={"Authorization": f"Bearer {self.handle.token}"},
            timeout=30,
        )
        resp.raise_for_status()
        return resp.json()

    def items(self, path: str, **params: str) -> list[dict]:
        resp = self.http.get(
            self.handle.url + path,
            params=params,
            headers={"Authorization": f"Bearer {self.handle.readonly_token}"},
            timeout=30,
        )
        resp.raise_for_status()
        return resp.json()["items"]

    def node(self) -> dict:
        return self.items("/api/v1/nodes", fieldSelector=f"metadata.name={NODE}")[0]

    def launchers_on_node(self) -> list[dict]:
        """virt-launcher pods on the node that still run (or are about to)."""
        pods = self.items(
            "/api/v1/pods", fieldSelector=f"spec.nodeName={NODE}", labelSelector="kubevirt.io"
        )
        return [
            p
            for p in pods
            if p["metadata"]["labels"].get("kubevirt.io") == "virt-launcher"
            and p.get("status", {}).get("phase") not in ("Succeeded", "Failed")
        ]

    def vmis(self) -> list[dict]:
        return self.items("/apis/kubevirt.io/v1/virtualmachineinstances")


def wait_for_layout(sim: Sim, vms: int, timeout: float = 60) -> None:
    """Exactly `vms` live-migratable VMIs Running on the node, and nothing else to move."""
    deadline = time.monotonic() + timeout
    while True:
        vmis = sim.vmis()
        on_node = [
            v
            for v in vmis
            if v.get("status", {}).get("nodeName") == NODE
            and v["status"].get("phase") == "Running"
            and any(
                c.get("type") == "LiveMigratable" and c.get("status") == "True"
                for c in v["status"].get("conditions") or ()
            )
        ]
        if len(vmis) == vms and len(on_node) == vms and len(sim.launchers_on_node()) == vms:
            return
        if time.monotonic() > deadline:
            raise SystemExit(
                f"{SCENARIO} vms={vms}: {len(on_node)} of {len(vmis)} VMIs are Running and "
                f"live-migratable on {NODE} after {timeout:.0f} s; expected {vms}"
            )
        time.sleep(0.5)


def drained_problems(sim: Sim, vms: int) -> list[str]:
    """What says the node is not drained; empty when it is."""
    problems = []
    if not sim.node().get("spec", {}).get("unschedulable"):
        problems.append(f"{NODE} is not cordoned")
    left = sim.launchers_on_node()
    if left:
        names = ", ".join(p["metadata"]["name"] for p in left[:3])
        problems.append(f"{len(left)} virt-launcher pods still on {NODE} ({names}, ...)")
    vmis = sim.vmis()
    elsewhere = [
        v
        for v in vmis
        if v.get("status", {}).get("phase") == "Running"
        and v["status"].get("nodeName") not in (None, "", NODE)
    ]
    if len(vmis) != vms or len(elsewhere) != vms:
        problems.append(
            f"{len(elsewhere)} of {len(vmis)} VMIs Running on another node; expected {vms}"
        )
    return problems


def kubectl_command(kubeconfig: Path, context: str) -> list[str]:
    return [
        shutil.which("kubectl") or "kubectl",
        "drain",
        NODE,
        "--ignore-daemonsets",
        "--delete-emptydir-data",
        "--timeout=10m",
        "--kubeconfig",
        str(kubeconfig),
        "--context",
        context,
    ]


def kvtui_command(kubeconfig: Path, context: str) -> list[str]:
    return [
        str(KVTUI),
        "drain",
        NODE,
        "--yes",
        "--timeout",
        "10m",
        "--kubeconfig",
        str(kubeconfig),
        "--context",
        context,
    ]


TOOLS = {"kubectl": kubectl_command, "kvtui": kvtui_command}


def measure(tool: str, vms: int, args: argparse.Namespace) -> Run:
    """Drain the node with one tool on a fresh simulator; check that it is drained."""
    scratch = Path(tempfile.mkdtemp(prefix="kvtui-bench-drain-"))
    with running_simulator(
        scenario=SCENARIO,
        vms=vms,
        speed=args.speed,
        seed=args.seed,
        kubeconfig=scratch / "kubeconfig",
        metrics_port=None,
    ) as handle:
        sim = Sim(handle, scratch)
        wait_for_layout(sim, vms)
        command = TOOLS[tool](handle.kubeconfig, handle.context)
        env = {**os.environ, "KUBECONFIG": str(handle.kubeconfig), "NO_COLOR": "1"}
        sim.admin("DELETE", "requests")
        started, epoch = time.perf_counter(), time.time()
        try:
            done = subprocess.run(
                command,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=TOOL_TIMEOUT,
            )
            exit_code, output = done.returncode, done.stdout
        except subprocess.TimeoutExpired as exc:
            exit_code, output = -1, str(exc.output or "") + "\n(killed after the timeout)"
        wall = time.perf_counter() - started
        recorded = sim.admin("GET", "requests")
        assert isinstance(recorded, list)
        run = Run(
            tool,
            vms,
            wall,
            epoch,
            exit_code,
            [r for r in recorded if r["user"] == ADMIN_USER],
            output,
        )
        if exit_code != 0:
            run.problems.append(f"{tool} exited with {exit_code}")
        run.problems += drained_problems(sim, vms)
        sim.http.close()
    shutil.rmtree(scratch, ignore_errors=True)
    return run


def path_shape(path: str) -> str:
    """`/api/v1/namespaces/ns/pods/name/eviction` → `pods/*/eviction`: a request's kind."""
    parts = path.strip("/").split("/")
    rest = parts[2:] if parts[0] == "api" else parts[3:] if parts[0] == "apis" else []
    if not rest:
        return "(discovery)"
    if rest[:1] == ["namespaces"] and len(rest) > 2:
        rest = rest[2:]
    if len(rest) > 1:
        rest = [rest[0], "*", *rest[2:]]
    return "/".join(rest)


def breakdown(run: Run) -> list[tuple[str, int]]:
    counts = Counter(f"{r['verb'] or r['method']} {path_shape(r['path'])}" for r in run.requests)
    return counts.most_common()


def gap_text(gap: float | None) -> str:
    return "no retry" if gap is None else f"{gap:.1f} s"


def print_table(runs: list[Run]) -> None:
    print(
        f"{'N':>4}  {'tool':8}{'wall':>9}{'1st request':>13}{'requests':>10}{'evictions':>11}"
        "  min retry gap"
    )
    for run in runs:
        first = "-" if run.first_request is None else f"{run.first_request:.1f} s"
        print(
            f"{run.vms:>4}  {run.tool:8}{run.wall:7.1f} s{first:>13}{len(run.requests):>10}"
            f"{len(run.evictions):>11}  {gap_text(run.min_retry_gap)}"
        )


def print_breakdown(runs: list[Run]) -> None:
    for run in runs:
        print(f"\nrequests of {run.tool}, N={run.vms} (verb and resource):")
        for shape, count in breakdown(run):
            print(f"  {count:6}  {shape}")


def checks(runs: list[Run]) -> list[tuple[bool, str]]:
    """(passed, line) for each target, per N."""
    out: list[tuple[bool, str]] = []
    for run in runs:
        if run.problems:
            out.append((False, f"N={run.vms} {run.tool} did not drain: {'; '.join(run.problems)}"))
    by = {(r.tool, r.vms): r for r in runs}
    for vms in sorted({r.vms for r in runs}):
        peer, ours = by.get(("kubectl", vms)), by.get(("kvtui", vms))
        if peer is None or ours is None:
            continue
        if peer.problems or ours.problems:
            out.append((False, f"N={vms}: not compared, a drain did not drain (above)"))
            continue
        limit = WALL_RATIO * peer.wall + WALL_SLACK
        out.append(
            (
                ours.wall <= limit,
                f"N={vms} wall time: kvtui {ours.wall:.2f} s ≤ {WALL_RATIO}× kubectl "
                f"{peer.wall:.2f} s + {WALL_SLACK:.0f} s = {limit:.2f} s   "
                f"(ratio {ours.wall / peer.wall:.2f})",
            )
        )
        quota = REQUEST_RATIO * len(peer.requests)
        out.append(
            (
                len(ours.requests) <= quota,
                f"N={vms} API requests: kvtui {len(ours.requests)} ≤ {REQUEST_RATIO}× kubectl "
                f"{len(peer.requests)} = {quota:.0f}   "
                f"(ratio {len(ours.requests) / max(len(peer.requests), 1):.2f})",
            )
        )
        gap = ours.min_retry_gap
        out.append(
            (
                gap is None or gap >= MIN_RETRY_GAP,
                f"N={vms} eviction retries: kvtui's closest {gap_text(gap)} ≥ "
                f"{MIN_RETRY_GAP:.0f} s   (kubectl's {gap_text(peer.min_retry_gap)})",
            )
        )
    return out


def kvtui_drain_available() -> bool:
    done = subprocess.run(
        [str(KVTUI), "drain", "--help"], capture_output=True, text=True, timeout=60
    )
    return done.returncode == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N=10 only")
    parser.add_argument("--speed", type=float, default=10.0, help="simulated s per real s")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--breakdown", action="store_true", help="list each run's requests by verb and resource"
    )
    args = parser.parse_args()
    if shutil.which("kubectl") is None:
        print("FAIL: kubectl is not on PATH: nothing to compare with")
        return 1
    tools = ["kubectl", "kvtui"] if kvtui_drain_available() else ["kubectl"]
    sizes = (10,) if args.quick else (10, 40)
    runs = []
    for vms in sizes:
        for tool in tools:
            print(f"  draining {NODE} with {vms} VMs: {tool} ...", file=sys.stderr, flush=True)
            runs.append(measure(tool, vms, args))
    print(
        f"drain {NODE}, scenario {SCENARIO}, speed {args.speed:g}x, seed {args.seed}: "
        "each run on a fresh simulator"
    )
    print_table(runs)
    results = checks(runs)
    if "kvtui" not in tools:
        results.append((False, "kvtui drain is not available (`kvtui drain --help` failed)"))
    if args.breakdown or not all(ok for ok, _ in results):
        print_breakdown(runs)
    for run in runs:
        if run.problems:
            print(f"\noutput of {run.tool}, N={run.vms}:\n{run.output[-3000:]}")
    print()
    for ok, line in results:
        print(f"{'PASS' if ok else 'FAIL'}: {line}")
    ok = all(passed for passed, _ in results)
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())

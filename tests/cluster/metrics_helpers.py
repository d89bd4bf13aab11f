"""Shared by the metrics tests: a scenario with one clearly hot workload, the sim's own model of
what every VM does right now, and a Connection + cache like the app's."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import yaml

import kvtui.sim
from kvtui.cluster.cache import ClusterCache
from kvtui.cluster.connection import Connection
from kvtui.cluster.metrics_model import VmRef
from kvtui.cluster.session import PANE_KINDS
from kvtui.sim.metrics import VirtMetrics
from kvtui.sim.metrics_domain import vcpus_of
from kvtui.sim.model import ANN_CPU_LOAD, DEFAULT_CPU_LOAD
from kvtui.sim.runner import SimHandle

HOT_DEPLOYMENT = "ci-runners-md"  # the default scenario's busiest workload (cpu-load 0.9)
CALM_LOAD = 0.25  # every other workload's cpu-load at most this, so "hot" is unambiguous
WOBBLE = 0.2  # the sim's load swings by ±20% (metrics_domain.WOBBLE)

COUNTERS = {
    "cpu": "kubevirt_vmi_cpu_usage_seconds_total",
    "net_rx": "kubevirt_vmi_network_receive_bytes_total",
    "net_tx": "kubevirt_vmi_network_transmit_bytes_total",
    "storage_read": "kubevirt_vmi_storage_read_traffic_bytes_total",
    "storage_write": "kubevirt_vmi_storage_write_traffic_bytes_total",
    "vcpu_wait": "kubevirt_vmi_vcpu_wait_seconds_total",
}


def hot_scenario(directory: Path) -> str:
    """The default scenario with every workload but HOT_DEPLOYMENT calmed down, and monitoring
    set up as the guide says (the default scenario may leave a field out on purpose)."""
    doc = yaml.safe_load(
        (Path(kvtui.sim.__file__).parent / "scenarios" / "default.yaml").read_text()
    )
    for cluster in doc["clusters"]:
        for entry in [*cluster.get("machineDeployments", []), *cluster.get("virtualMachines", [])]:
            if entry["name"] != HOT_DEPLOYMENT:
                load = entry.setdefault("load", {})
                load["cpu-load"] = str(
                    min(float(load.get("cpu-load", DEFAULT_CPU_LOAD)), CALM_LOAD)
                )
    doc["kubevirt"].update(monitorNamespace="monitoring", monitorAccount="prometheus-k8s")
    path = directory / "hot.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return str(path)


def vmis(sim: SimHandle) -> list[dict[str, Any]]:
    store = sim.simulator.store
    return sim.call(lambda: store.list("kubevirt.io/virtualmachineinstances"))


def declared_hot(sim: SimHandle) -> set[VmRef]:
    """The VMs the scenario makes hottest: highest vCPUs × declared cpu-load, when even their
    lowest swing stays above every other VM's highest."""
    declared = {}
    for vmi in vmis(sim):
        if (vmi.get("status") or {}).get("phase") != "Running":
            continue
        load = float((vmi["metadata"].get("annotations") or {}).get(ANN_CPU_LOAD, DEFAULT_CPU_LOAD))
        ref = VmRef(vmi["metadata"]["namespace"], vmi["metadata"]["name"])
        declared[ref] = vcpus_of(vmi) * load
    top = max(declared.values())
    hot = {ref for ref, value in declared.items() if value == top}
    rest = max((v for ref, v in declared.items() if ref not in hot), default=0.0)
    assert top * (1 - WOBBLE) > rest * (1 + WOBBLE), "the scenario has no clearly hot VM"
    return hot


def model(sim: SimHandle, seconds: float) -> dict[VmRef, dict[str, Any]]:
    """Per running VM, what the simulator's own model says right now: each counter's rate over
    the last `seconds` of simulated time, used memory, resident memory and node."""
    world = sim.simulator.world

    def compute() -> dict[VmRef, dict[str, Any]]:
        now = world.clock.now()
        out = {}
        for profile in VirtMetrics(world).index().by_uid.values():
            before, after = profile.values(now - seconds), profile.values(now)
            row: dict[str, Any] = {
                name: (sum(after[family]) - sum(before[family])) / seconds
                for name, family in COUNTERS.items()
            }
            row["memory"] = (
                after["kubevirt_vmi_memory_available_bytes"][0]
                - after["kubevirt_vmi_memory_usable_bytes"][0]
            )
            row["resident"] = after["kubevirt_vmi_memory_resident_bytes"][0]
            row["memory_total"] = after["kubevirt_vmi_memory_domain_bytes"][0]
            row["node"] = profile.node
            out[VmRef(profile.namespace, profile.name)] = row
        return out

    return sim.call(compute)


def close_to(actual: float | None, expected: float, share: float) -> bool:
    return actual is not None and abs(actual - expected) <= share * abs(expected) + 1e-9


@contextlib.asynccontextmanager
async def opened(handle: SimHandle) -> AsyncIterator[tuple[Connection, Callable]]:
    """A connection and the cache's `items`, as a session gives them to a metrics source."""
    conn = await Connection.open(str(handle.kubeconfig), handle.context)
    cache = ClusterCache(conn, PANE_KINDS, interval=0.05)
    await cache.start()
    assert await cache.wait_synced(30)
    try:
        yield conn, cache.items
    finally:
        await cache.stop()
        await conn.close()

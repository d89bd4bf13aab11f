"""Minimal nodes, pods and DaemonSets, and a world with the node-side controllers, for tests."""

from __future__ import annotations

from typing import Any

from kvtui.sim.controllers.daemonsets import DaemonSetController
from kvtui.sim.controllers.kubelet import Kubelet
from kvtui.sim.controllers.scheduler import Scheduler
from kvtui.sim.store import Obj, Store
from kvtui.sim.world import SimClock, World

START = 1_700_000_000.0


def make_world(*, daemonsets: bool = False) -> World:
    """A world on a stopped clock (tests move it with `clock.advance`)."""
    clock = SimClock(speed=0.0, start=START)
    world = World(Store(clock.now), clock, seed=7)
    world.add(Scheduler(world))
    world.add(Kubelet(world))
    if daemonsets:
        world.add(DaemonSetController(world))
    return world


def run(world: World, seconds: float, step: float = 0.5) -> None:
    """Let `seconds` of simulated time pass in small steps, settling after each."""
    world.settle()
    elapsed = 0.0
    while elapsed < seconds - 1e-9:
        world.clock.advance(step)
        elapsed += step
        world.settle()


def node(
    name: str,
    *,
    cpu: str = "16",
    memory: str = "64Gi",
    pods: str = "110",
    labels: dict[str, str] | None = None,
    taints: list[Obj] | None = None,
    unschedulable: bool = False,
    ready: bool | None = True,
    kvm: bool = True,
    annotations: dict[str, str] | None = None,
) -> Obj:
    allocatable = {"cpu": cpu, "memory": memory, "pods": pods}
    if kvm:
        allocatable.update(
            {
                "devices.kubevirt.io/kvm": "1k",
                "devices.kubevirt.io/tun": "1k",
                "devices.kubevirt.io/vhost-net": "1k",
            }
        )
    spec: Obj = {}
    if taints:
        spec["taints"] = taints
    if unschedulable:
        spec["unschedulable"] = True
    status: Obj = {
        "allocatable": allocatable,
        "capacity": dict(allocatable),
        "addresses": [
            {"type": "InternalIP", "address": f"10.16.0.{len(name)}"},
            {"type": "Hostname", "address": name},
        ],
    }
    if ready is not None:
        status["conditions"] = [{"type": "Ready", "status": "True" if ready else "False"}]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {"kubernetes.io/hostname": name, **(labels or {})},
            "annotations": dict(annotations or {}),
        },
        "spec": spec,
        "status": status,
    }


def pod(
    name: str,
    namespace: str = "default",
    *,
    cpu: str | None = "100m",
    memory: str | None = "128Mi",
    labels: dict[str, str] | None = None,
    **spec: Any,
) -> Obj:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    container: Obj = {"name": "main", "image": "registry.example/app:1.0"}
    if requests:
        container["resources"] = {"requests": requests}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels or {})},
        "spec": {"containers": [container], **spec},
        "status": {"phase": "Pending"},
    }


def daemonset(
    name: str, namespace: str, pod_spec: Obj | None = None, labels: dict[str, str] | None = None
) -> Obj:
    labels = labels or {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": pod_spec
                or {
                    "containers": [
                        {
                            "name": name,
                            "image": f"quay.io/example/{name}:v1",
                            "resources": {"requests": {"cpu": "10m", "memory": "64Mi"}},
                        }
                    ],
                },
            },
        },
    }


def get_pod(world: World, name: str, namespace: str = "default") -> Obj:
    found = world.store.get("/pods", namespace, name)
    assert found is not None, f"pod {namespace}/{name} is gone"
    return found


def condition(obj: Obj, kind: str) -> Obj | None:
    return next(
        (c for c in (obj.get("status") or {}).get("conditions") or () if c.get("type") == kind),
        None,
    )


def events(world: World, reason: str) -> list[Obj]:
    return [e for e in world.store.list("/events") if e.get("reason") == reason]

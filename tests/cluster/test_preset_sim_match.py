"""The placement preview against the simulator's scheduler, for several kinds of preset.

For each preset: put it on a MachineDeployment (its rollout settles), let the preview say
where N more replicas would land, raise its replicas by N with `kubectl patch`, and compare
the nodes the scheduler bound the new VMs' pods to with the prediction. Between presets the
whole cluster is let settle, so the preview and the scheduler see the same pods.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Iterator

import pytest

from kvtui.cluster import kinds
from kvtui.cluster.connection import Connection
from kvtui.cluster.preset_apply import MACHINE_DEPLOYMENTS, apply_change, plan_machine_deployment
from kvtui.cluster.preset_preview import (
    NewReplicas,
    ReplicaSize,
    machine_deployment_pods,
    preview_placement,
)
from kvtui.cluster.presets import (
    DO_NOT_SCHEDULE,
    HARD,
    HOSTNAME,
    SCHEDULE_ANYWAY,
    SOFT,
    ZONE,
    NodeAffinityPreset,
    Preset,
    SpreadConstraint,
)
from kvtui.cluster.views import Pod
from kvtui.sim.runner import SimHandle, running_simulator
from tests.conftest import Kubectl, require_tool

PROD, STAGING, CI = "cluster-x7k2mq9p4d", "cluster-k4n8vb2t6w", "cluster-q2z9f5m7hc"

CASES = [
    pytest.param(
        PROD,
        "prod-eu-workers",
        Preset("zone-a", affinity=NodeAffinityPreset(HARD, ZONE, ("zone-a",))),
        3,
        id="hard-zone-affinity",
    ),
    pytest.param(
        STAGING,
        "staging-md",
        Preset("zones", (SpreadConstraint(1, ZONE, DO_NOT_SCHEDULE),)),
        3,
        id="do-not-schedule-zone-spread",
    ),
    pytest.param(
        CI,
        "ci-runners-md",
        Preset(
            "node-3",
            (SpreadConstraint(2, HOSTNAME, SCHEDULE_ANYWAY),),
            NodeAffinityPreset(SOFT, HOSTNAME, ("kv-node-3",)),
        ),
        3,
        id="soft-hostname-preference",
    ),
]


@pytest.fixture(scope="module")
def cluster() -> Iterator[SimHandle]:
    with running_simulator(scenario="default", speed=10.0, seed=71) as handle:
        yield handle


@pytest.fixture
def kubectl(cluster: SimHandle) -> Kubectl:
    return Kubectl(require_tool("kubectl"), cluster.kubeconfig)


async def _quiet(conn: Connection, ns: str, md: str, replicas: int) -> list[dict]:
    """The MD's launcher pods once exactly `replicas` run, its rollout is done and no
    virt-launcher pod anywhere is pending or going away."""
    deadline = time.monotonic() + 90
    status: dict = {}
    while time.monotonic() < deadline:
        obj = await conn.get_json(MACHINE_DEPLOYMENTS.path(ns, md))
        status = obj.get("status") or {}
        pods = (await conn.get_json(kinds.PODS.path()))["items"]
        launchers = [Pod(p) for p in pods if Pod(p).virt_launcher and not Pod(p).terminated]
        mine = machine_deployment_pods(pods, ns, md)
        if (
            status.get("observedGeneration") == obj["metadata"].get("generation")
            and status.get("updatedReplicas") == status.get("replicas") == replicas
            and len(mine) == replicas
            and all(p.phase == "Running" and p.node and not p.deleting for p in launchers)
        ):
            return mine
        await asyncio.sleep(0.2)
    raise AssertionError(f"{ns}/{md} did not settle at {replicas} replicas: {status}")


@pytest.mark.kubectl
@pytest.mark.parametrize(("ns", "md", "preset", "more"), CASES)
async def test_the_preview_predicts_where_the_scheduler_puts_new_vms(
    conn: Connection, kubectl: Kubectl, ns: str, md: str, preset: Preset, more: int
) -> None:
    live = await conn.get_json(MACHINE_DEPLOYMENTS.path(ns, md))
    replicas = int(live["spec"]["replicas"])
    applied = await apply_change(conn, plan_machine_deployment(live, preset))
    assert applied.sent
    before_pods = await _quiet(conn, ns, md, replicas)

    nodes = (await conn.get_json(kinds.NODES.path()))["items"]
    pods = (await conn.get_json(kinds.PODS.path()))["items"]
    size = ReplicaSize.of_pod(before_pods[0])
    preview = preview_placement(preset, nodes, pods, NewReplicas(ns, md, more, size))
    assert not preview.unplaced
    predicted = Counter(landing.node for landing in preview.landings)

    # (`kubectl scale` would PATCH the scale subresource, which the simulator does not serve)
    scale = json.dumps({"spec": {"replicas": replicas + more}})
    kubectl("patch", "machinedeployment", "-n", ns, md, "--type", "merge", "-p", scale)
    after_pods = await _quiet(conn, ns, md, replicas + more)
    old = {Pod(p).key for p in before_pods}
    placed = Counter(Pod(p).node for p in after_pods if Pod(p).key not in old)
    assert placed == predicted, (preview.landings, placed)

    # The rules hold where the VMs really run, not only in the prediction.
    labels = {n["metadata"]["name"]: n["metadata"]["labels"] for n in nodes}
    if preset.affinity is not None and preset.affinity.type == HARD:
        assert all(preset.affinity.matches(labels[node]) for node in placed)
    if preset.spread and preset.spread[0].hard:
        zones = Counter(labels[Pod(p).node][ZONE] for p in after_pods)
        assert max(zones.values()) - min(zones.values()) <= preset.spread[0].max_skew
    vms = json.loads(kubectl("get", "vm", "-n", ns, "-l", f"md={md}", "-o", "json").stdout)
    assert len(vms["items"]) == replicas + more

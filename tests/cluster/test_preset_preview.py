"""The placement preview: which nodes qualify, the spread before and after, and where each VM
lands, on hand-made clusters, then once against the simulator's own scheduler."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from kvtui.cluster import kinds
from kvtui.cluster.connection import Connection
from kvtui.cluster.datacenter_apply import MERGE_PATCH
from kvtui.cluster.preset_apply import (
    MACHINE_DEPLOYMENTS,
    apply_change,
    plan_machine_deployment,
)
from kvtui.cluster.preset_preview import (
    ExistingVms,
    NewReplicas,
    PlacementPreview,
    ReplicaSize,
    machine_deployment_pods,
    preview_placement,
)
from kvtui.cluster.presets import (
    DO_NOT_SCHEDULE,
    HARD,
    HOSTNAME,
    PRESET_LABEL,
    SCHEDULE_ANYWAY,
    SOFT,
    ZONE,
    NodeAffinityPreset,
    Preset,
    SpreadConstraint,
)
from kvtui.cluster.views import Pod
from kvtui.sim.runner import SimHandle, running_simulator

GI = 1024**3
NS = "cluster-abc"
REGION = "topology.kubernetes.io/region"


def node(
    name: str, zone: str, *, memory: str = "64Gi", cordoned: bool = False, **labels: str
) -> dict:
    return {
        "metadata": {"name": name, "labels": {HOSTNAME: name, ZONE: zone, **labels}},
        "spec": {"unschedulable": True} if cordoned else {},
        "status": {
            "allocatable": {
                "cpu": "16",
                "memory": memory,
                "pods": "110",
                "devices.kubevirt.io/kvm": "1k",
            },
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def launcher(vm: str, on: str, memory: str = "8Gi", ns: str = NS, **labels: str) -> dict:
    return {
        "metadata": {
            "namespace": ns,
            "name": f"virt-launcher-{vm}-x1",
            "labels": {"kubevirt.io": "virt-launcher", "kubevirt.io/vm": vm, **labels},
            "annotations": {"kubevirt.io/domain": vm},
        },
        "spec": {
            "nodeName": on,
            "containers": [
                {
                    "name": "compute",
                    "resources": {
                        "requests": {
                            "cpu": "200m",
                            "memory": memory,
                            "devices.kubevirt.io/kvm": "1",
                        }
                    },
                }
            ],
        },
        "status": {"phase": "Running"},
    }


SIZE = ReplicaSize(200, 8 * GI)
NODES = [node("n1", "zone-a"), node("n2", "zone-a"), node("n3", "zone-b", disk="ssd")]


def replicas(count: int, md: str = "workers", **kw: Any) -> NewReplicas:
    return NewReplicas(NS, md, count, SIZE, **kw)


def landed(preview: PlacementPreview) -> list[str | None]:
    return [landing.node for landing in preview.landings]


def zone_spread(when: str, skew: int = 1) -> Preset:
    return Preset("zones", (SpreadConstraint(skew, ZONE, when),))


# -- affinity --------------------------------------------------------------------------------
def test_hard_affinity_keeps_vms_on_matching_nodes_and_says_why_not() -> None:
    preset = Preset("ssd", affinity=NodeAffinityPreset(HARD, "disk", ("ssd",)))
    preview = preview_placement(preset, NODES, [], replicas(3))
    assert landed(preview) == ["n3", "n3", "n3"]
    verdicts = {v.name: (v.qualifies, v.reason) for v in preview.nodes}
    assert verdicts == {
        "n1": (False, "required node affinity"),
        "n2": (False, "required node affinity"),
        "n3": (True, ""),
    }
    assert preview.qualifying == ["n3"]
    assert preview.nodes[2].domains == {HOSTNAME: "n3", ZONE: "zone-b"}
    # Only n3 is a domain of the default hostname spread: its skew stays 0.
    [hostname] = [s for s in preview.spread if s.topology_key == HOSTNAME]
    assert hostname.after == {"n1": 0, "n2": 0, "n3": 3}
    assert hostname.eligible == {"n3"} and hostname.skew_after == 0


def test_soft_affinity_prefers_but_gives_way_when_the_node_is_full() -> None:
    region = {REGION: "eu"}
    nodes = [
        node("n1", "zone-a", **region),
        node("n2", "zone-a", **region),
        node("n3", "zone-b", memory="20Gi", **region),
    ]
    # A spread over the one region scores every node alike: the preference decides.
    preset = Preset(
        "b",
        (SpreadConstraint(1, REGION, SCHEDULE_ANYWAY),),
        NodeAffinityPreset(SOFT, ZONE, ("zone-b",)),
    )
    preview = preview_placement(preset, nodes, [], replicas(3))
    # n3 is preferred (weight 2 beats least-allocated) until it has no room left.
    assert landed(preview) == ["n3", "n3", "n1"]
    assert preview.landings[0].notes == ()
    assert preview.landings[2].notes == (
        f"preferred node affinity not met (soft: {ZONE} in (zone-b))",
    )
    assert [v.preferred for v in preview.nodes] == [False, False, True]

    hard = Preset("b", preset.spread, NodeAffinityPreset(HARD, ZONE, ("zone-b",)))
    stuck = preview_placement(hard, nodes, [], replicas(3))
    assert landed(stuck) == ["n3", "n3", None]
    assert stuck.unplaced[0].reason == (
        "n1, n2: required node affinity; n3: insufficient memory (8.0Gi wanted, 4.0Gi free)"
    )


def test_key_without_values_means_has_the_label() -> None:
    preset = Preset("disk", affinity=NodeAffinityPreset(HARD, "disk"))
    assert landed(preview_placement(preset, NODES, [], replicas(1))) == ["n3"]


# -- topology spread ---------------------------------------------------------------------------
def test_do_not_schedule_filters_and_schedule_anyway_only_scores() -> None:
    hard = preview_placement(zone_spread(DO_NOT_SCHEDULE), NODES, [], replicas(4))
    # n1 first (equal scores: by name), then zone-a is one ahead, so zone-b; and so on.
    assert landed(hard) == ["n1", "n3", "n2", "n3"]
    [zone] = [s for s in hard.spread if s.topology_key == ZONE]
    assert (zone.before, zone.after) == ({"zone-a": 0, "zone-b": 0}, {"zone-a": 2, "zone-b": 2})
    assert zone.constraint == SpreadConstraint(1, ZONE, DO_NOT_SCHEDULE)
    assert (zone.skew_before, zone.skew_after) == (0, 0)

    # With zone-b full, DoNotSchedule leaves the second VM unplaced; ScheduleAnyway places it.
    nodes = [*NODES[:2], node("n3", "zone-b", memory="4Gi")]
    blocked = preview_placement(zone_spread(DO_NOT_SCHEDULE), nodes, [], replicas(2))
    assert landed(blocked) == ["n1", None]
    assert blocked.unplaced[0].reason == (
        "n1, n2: topology spread on topology.kubernetes.io/zone (skew 2 > maxSkew 1); "
        "n3: insufficient memory (8.0Gi wanted, 4.0Gi free)"
    )
    anyway = preview_placement(zone_spread(SCHEDULE_ANYWAY), nodes, [], replicas(2))
    assert landed(anyway) == ["n1", "n2"]
    assert anyway.landings[1].notes == (
        "spread on topology.kubernetes.io/zone: skew 2 > maxSkew 1 (ScheduleAnyway lets it be)",
    )


def test_existing_vms_of_the_machine_deployment_count_toward_the_spread() -> None:
    pods = [
        launcher("workers-1", "n1", md="workers"),
        launcher("workers-2", "n2", md="workers"),
        launcher("other-1", "n3", md="other"),  # another MD: does not count
        launcher("workers-x", "n3", ns="cluster-xyz", md="workers"),  # another cluster
    ]
    preview = preview_placement(zone_spread(DO_NOT_SCHEDULE), NODES, pods, replicas(2))
    assert landed(preview) == ["n3", "n3"]
    [zone] = [s for s in preview.spread if s.topology_key == ZONE]
    assert (zone.before, zone.after) == ({"zone-a": 2, "zone-b": 0}, {"zone-a": 2, "zone-b": 2})
    assert zone.skew_before == 2

    # A rollout replaces them: each new VM comes first, then an old one (by name) goes.
    rollout = preview_placement(
        zone_spread(DO_NOT_SCHEDULE), NODES, pods, replicas(2, rollout=True)
    )
    assert landed(rollout) == ["n3", "n1"]
    [zone] = [s for s in rollout.spread if s.topology_key == ZONE]
    assert zone.after == {"zone-a": 1, "zone-b": 1}


def test_machine_controller_default_spread_applies_when_the_preset_has_none() -> None:
    # hostname / ScheduleAnyway: each new VM goes where the MD has the fewest.
    pods = [launcher("workers-1", "n1", md="workers"), launcher("workers-2", "n2", md="workers")]
    preview = preview_placement(Preset("plain"), NODES, pods, replicas(1))
    assert landed(preview) == ["n3"]
    [hostname] = [s for s in preview.spread if s.topology_key == HOSTNAME]
    assert hostname.constraint == SpreadConstraint(1, HOSTNAME, SCHEDULE_ANYWAY)


def test_a_full_node_and_a_cordoned_node() -> None:
    nodes = [
        node("n1", "zone-a", memory="6Gi"),
        node("n2", "zone-a"),
        node("n3", "zone-b", cordoned=True),
    ]
    pods = [launcher("busy", "n2", memory="40Gi")]
    preview = preview_placement(Preset("plain"), nodes, pods, replicas(2))
    verdicts = {v.name: v.reason for v in preview.nodes}
    assert verdicts == {
        "n1": "insufficient memory (8.0Gi wanted, 6.0Gi free)",
        "n2": "",
        "n3": "cordoned",
    }
    assert landed(preview) == ["n2", "n2"]
    assert preview.landings[1].notes == (
        "spread on kubernetes.io/hostname: skew 2 > maxSkew 1 (ScheduleAnyway lets it be)",
    )


def test_a_cordoned_empty_node_still_counts_as_a_domain_for_do_not_schedule() -> None:
    # kube-scheduler's nodeTaintsPolicy Ignore: the cordoned n3 is a hostname domain with 0
    # VMs, so no other node may get a second one.
    nodes = [node("n1", "zone-a"), node("n2", "zone-a"), node("n3", "zone-b", cordoned=True)]
    preset = Preset("hosts", (SpreadConstraint(1, HOSTNAME, DO_NOT_SCHEDULE),))
    preview = preview_placement(preset, nodes, [], replicas(3))
    assert landed(preview) == ["n1", "n2", None]
    assert "n3: cordoned" in preview.unplaced[0].reason
    assert "n1, n2: topology spread on kubernetes.io/hostname (skew 2 > maxSkew 1)" in (
        preview.unplaced[0].reason
    )


def test_a_node_without_the_topology_key() -> None:
    nodes = [*NODES, {**node("n4", "zone-c"), "metadata": {"name": "n4", "labels": {}}}]
    preview = preview_placement(zone_spread(DO_NOT_SCHEDULE), nodes, [], replicas(1))
    assert {v.name: v.reason for v in preview.nodes}["n4"] == (
        "lacks the topology label topology.kubernetes.io/zone"
    )


# -- existing VMs ------------------------------------------------------------------------------
def test_existing_vms_move_one_at_a_time() -> None:
    pods = [launcher(vm, "n1", app="db") for vm in ("db-a", "db-b", "db-c")]
    preset = Preset("hosts", (SpreadConstraint(1, HOSTNAME, DO_NOT_SCHEDULE),))
    target = ExistingVms(NS, ("db-c", "db-a", "db-b", "db-gone"))
    preview = preview_placement(preset, NODES, pods, target)
    # Standalone VMs: grouped by the preset label kvtui adds to them.
    assert preview.group.selector == {"matchLabels": {PRESET_LABEL: "hosts"}}
    assert [(lnd.vm, lnd.from_node, lnd.node) for lnd in preview.landings] == [
        ("db-a", "n1", "n2"),
        ("db-b", "n1", "n3"),
        ("db-c", "n1", "n1"),
    ]
    assert preview.not_running == ["db-gone"]
    [hostname] = [s for s in preview.spread if s.topology_key == HOSTNAME]
    assert hostname.before == {"n1": 3, "n2": 0, "n3": 0}
    assert hostname.after == {"n1": 1, "n2": 1, "n3": 1}
    assert (hostname.skew_before, hostname.skew_after) == (3, 0)


def test_an_existing_vm_that_cannot_move_stays_where_it_is() -> None:
    pods = [launcher("db-a", "n1"), launcher("db-b", "n2")]
    preset = Preset("ssd", affinity=NodeAffinityPreset(HARD, "disk", ("nvme",)))
    preview = preview_placement(preset, NODES, pods, ExistingVms(NS, ("db-a", "db-b")))
    assert landed(preview) == [None, None]
    assert preview.unplaced[0].reason == "n1, n2, n3: required node affinity"
    [hostname] = [s for s in preview.spread if s.topology_key == HOSTNAME]
    assert hostname.after == hostname.before == {"n1": 1, "n2": 1, "n3": 0}


# -- against the simulator's scheduler ---------------------------------------------------------
@pytest.fixture(scope="module")
def cluster() -> Iterator[SimHandle]:
    with running_simulator(scenario="default", speed=10.0, seed=41) as handle:
        yield handle


async def _settled(conn: Connection, ns: str, md: str, replicas: int) -> list[dict]:
    """The MD's launcher pods once exactly `replicas` run and its rollout is done."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        obj = await conn.get_json(MACHINE_DEPLOYMENTS.path(ns, md))
        status = obj.get("status") or {}
        pods = (await conn.get_json(kinds.PODS.path(ns)))["items"]
        mine = machine_deployment_pods(pods, ns, md)
        running = [p for p in mine if Pod(p).phase == "Running" and not Pod(p).deleting]
        if (
            status.get("observedGeneration") == obj["metadata"].get("generation")
            and status.get("updatedReplicas") == replicas
            and status.get("replicas") == replicas
            and len(running) == len(mine) == replicas
        ):
            return mine
        await asyncio.sleep(0.2)
    raise AssertionError(f"{md} did not settle at {replicas} replicas: {status}")


async def test_the_preview_agrees_with_the_simulated_scheduler(conn: Connection) -> None:
    ns, md = "cluster-x7k2mq9p4d", "prod-eu-workers"
    preset = Preset(
        "zones",
        (SpreadConstraint(1, ZONE, DO_NOT_SCHEDULE),),
        NodeAffinityPreset(HARD, "node-role.kubernetes.io/worker"),
    )
    live = await conn.get_json(MACHINE_DEPLOYMENTS.path(ns, md))
    await apply_change(conn, plan_machine_deployment(live, preset))
    pods = await _settled(conn, ns, md, 3)
    size = ReplicaSize.of_pod(pods[0])

    nodes = (await conn.get_json(kinds.NODES.path()))["items"]
    all_pods = (await conn.get_json(kinds.PODS.path()))["items"]
    preview = preview_placement(preset, nodes, all_pods, NewReplicas(ns, md, 3, size))
    assert not preview.unplaced
    verdicts = {v.name: v.reason for v in preview.nodes}
    assert verdicts["kv-cp-1"].startswith("taint node-role.kubernetes.io/control-plane")
    assert all(not reason for name, reason in verdicts.items() if name != "kv-cp-1")
    before = Counter(Pod(p).node for p in pods)

    body = {"spec": {"replicas": 6}}
    await conn.request(
        "PATCH", MACHINE_DEPLOYMENTS.path(ns, md), body=body, content_type=MERGE_PATCH
    )
    after = Counter(Pod(p).node for p in await _settled(conn, ns, md, 6))
    assert after - before == Counter(landing.node for landing in preview.landings)
    [zone] = [s for s in preview.spread if s.topology_key == ZONE]
    assert zone.after == dict(Counter(n["metadata"]["labels"][ZONE] for n in _of(nodes, after)))


def _of(nodes: list[dict], placed: Counter[str]) -> list[dict]:
    by_name = {n["metadata"]["name"]: n for n in nodes}
    return [by_name[name] for name, count in placed.items() for _ in range(count)]

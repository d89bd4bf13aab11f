"""The pre-flight plan from hand-made objects: every outcome and every blocker has its reason."""

from __future__ import annotations

from typing import Any

import pytest

from kvtui.cluster.drain import (
    DrainPlan,
    Outcome,
    PlanOptions,
    build_plan,
    estimate_duration,
    migration_settings,
)

GI = 1024**3


def node(name: str, zone: str = "a", *, cordoned: bool = False, **extra: Any) -> dict:
    return {
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "topology.kubernetes.io/zone": zone,
                "kubevirt.io/schedulable": "true",
            },
        },
        "spec": {"unschedulable": True} if cordoned else {},
        "status": {
            "allocatable": {
                "cpu": "16",
                "memory": "64Gi",
                "pods": "110",
                "devices.kubevirt.io/kvm": "1k",
            },
            "conditions": [{"type": "Ready", "status": "True"}],
        },
        **extra,
    }


def launcher(vmi: str, on: str, *, ns: str = "cluster-abc", memory: str = "8Gi", **spec: Any):
    return {
        "metadata": {
            "namespace": ns,
            "name": f"virt-launcher-{vmi}-x1",
            "uid": f"pod-{vmi}",
            "labels": {"kubevirt.io": "virt-launcher", "app": vmi},
            "annotations": {"kubevirt.io/domain": vmi},
            "ownerReferences": [
                {"kind": "VirtualMachineInstance", "name": vmi, "controller": True}
            ],
        },
        "spec": {
            "nodeName": on,
            "containers": [
                {
                    "name": "compute",
                    "resources": {
                        "requests": {
                            "cpu": "100m",
                            "memory": memory,
                            "devices.kubevirt.io/kvm": "1",
                        }
                    },
                }
            ],
            **spec,
        },
        "status": {"phase": "Running"},
    }


def vmi(name: str, on: str, strategy: str | None, *, migratable: bool = True, ns="cluster-abc"):
    cond = {"type": "LiveMigratable", "status": "True" if migratable else "False"}
    if not migratable:
        cond |= {"reason": "DisksNotLiveMigratable", "message": "PVC is not shared"}
    spec: dict[str, Any] = {"domain": {"memory": {"guest": "8Gi"}}}
    if strategy:
        spec["evictionStrategy"] = strategy
    return {
        "metadata": {
            "namespace": ns,
            "name": name,
            "uid": f"uid-{name}",
            "ownerReferences": [{"kind": "VirtualMachine", "name": name, "controller": True}],
        },
        "spec": spec,
        "status": {"nodeName": on, "phase": "Running", "conditions": [cond]},
    }


def vm(name: str, run_strategy: str = "Always", ns: str = "cluster-abc") -> dict:
    return {"metadata": {"namespace": ns, "name": name}, "spec": {"runStrategy": run_strategy}}


def pod(name: str, on: str, owner: str | None = "ReplicaSet", **spec: Any) -> dict:
    meta: dict[str, Any] = {"namespace": "apps", "name": name, "labels": {"app": name}}
    if owner:
        meta["ownerReferences"] = [{"kind": owner, "name": f"{name}-rs", "controller": True}]
    return {
        "metadata": meta,
        "spec": {"nodeName": on, "containers": [{"name": "c"}], **spec},
        "status": {"phase": "Running"},
    }


NODES = [node("n1"), node("n2"), node("n3", zone="b")]


def plan_of(pods: list[dict], vmis=(), vms=(), pdbs=(), nodes=NODES, **kw: Any) -> DrainPlan:
    return build_plan(
        "n1", nodes=nodes, pods=pods, node_pods=pods, vmis=vmis, vms=vms, pdbs=pdbs, **kw
    )


def by_name(plan: DrainPlan) -> dict[str, Any]:
    return {p.name: p for p in plan.pods}


def test_each_eviction_strategy_has_its_outcome() -> None:
    pods = [launcher(n, "n1") for n in ("lm", "ext", "none", "halted", "lmip", "stuck")]
    vmis = [
        vmi("lm", "n1", "LiveMigrate"),
        vmi("ext", "n1", "External"),
        vmi("none", "n1", "None"),
        vmi("halted", "n1", "None"),
        vmi("lmip", "n1", "LiveMigrateIfPossible", migratable=False),
        vmi("stuck", "n1", None, migratable=False),  # the cluster default: LiveMigrate
    ]
    vms = [vm("none"), vm("halted", "Manual"), vm("lmip")]
    kubevirt = {"spec": {"configuration": {"evictionStrategy": "LiveMigrate"}}}
    plans = by_name(plan_of(pods, vmis, vms, kubevirt=kubevirt))

    assert plans["lm"].outcome is Outcome.MIGRATE and plans["lm"].target in ("n2", "n3")
    assert plans["ext"].outcome is Outcome.REPLACE and "Machine ext" in plans["ext"].detail
    assert plans["none"].expect == "restarted" and "runStrategy Always" in plans["none"].detail
    assert plans["halted"].expect == "shut down" and "stays off" in plans["halted"].detail
    assert plans["lmip"].outcome is Outcome.BEST_EFFORT
    assert plans["lmip"].detail.startswith("not live-migratable")
    assert plans["stuck"].outcome is Outcome.BLOCKED
    assert plans["stuck"].strategy == "LiveMigrate"
    assert "DisksNotLiveMigratable: PVC is not shared" in plans["stuck"].detail


def test_daemonsets_and_static_pods_are_named_and_left_alone() -> None:
    static = pod("etcd", "n1", owner=None)
    static["metadata"]["annotations"] = {"kubernetes.io/config.mirror": "x"}
    plans = by_name(plan_of([pod("handler", "n1", owner="DaemonSet"), static]))
    assert plans["handler"].outcome is Outcome.IGNORE
    assert plans["handler"].detail == "DaemonSet handler-rs"
    assert plans["etcd"].outcome is Outcome.IGNORE and plans["etcd"].detail == "static pod"


def test_emptydir_data_blocks_unless_allowed_and_is_named_either_way() -> None:
    cache = pod("cache", "n1", volumes=[{"name": "scratch", "emptyDir": {}}])
    blocked = by_name(plan_of([cache]))["cache"]
    assert blocked.outcome is Outcome.BLOCKED
    assert "emptyDir data in scratch" in blocked.detail
    assert "--delete-emptydir-data" in blocked.detail
    allowed = by_name(plan_of([cache], options=PlanOptions(delete_emptydir_data=True)))["cache"]
    assert allowed.outcome is Outcome.EVICT and "scratch is lost" in allowed.detail
    assert allowed.emptydir == ["scratch"]


def test_a_pod_no_controller_recreates_needs_force() -> None:
    bare = pod("debug", "n1", owner=None)
    assert by_name(plan_of([bare]))["debug"].outcome is Outcome.BLOCKED
    forced = by_name(plan_of([bare], options=PlanOptions(force=True)))["debug"]
    assert forced.outcome is Outcome.EVICT and forced.detail == "deleted for good"


def test_a_budget_with_no_disruption_left_blocks_and_is_named() -> None:
    pdb = {
        "metadata": {"namespace": "apps", "name": "web-pdb"},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}},
    }
    web = pod("web", "n1")
    plans = by_name(plan_of([web], pdbs=[pdb]))  # computed: 1 healthy, 1 required
    assert plans["web"].outcome is Outcome.BLOCKED
    assert plans["web"].detail == "PodDisruptionBudget web-pdb allows 0 disruptions"
    pdb["status"] = {"disruptionsAllowed": 1}  # the disruption controller's word wins
    assert by_name(plan_of([web], pdbs=[pdb]))["web"].outcome is Outcome.EVICT


def test_no_node_left_blocks_with_every_nodes_reason() -> None:
    nodes = [node("n1"), node("n2", cordoned=True), node("n3", zone="b")]
    pods = [launcher("db", "n1", nodeSelector={"topology.kubernetes.io/zone": "a"})]
    plan = plan_of(pods, [vmi("db", "n1", "LiveMigrate")], nodes=nodes)
    db = by_name(plan)["db"]
    assert db.outcome is Outcome.BLOCKED
    assert db.detail == (
        "no other node fits: n2: cordoned; n3: node selector topology.kubernetes.io/zone=a"
    )
    assert not plan.capacity.fits and plan.capacity.unplaced == ["db"]
    assert any("cannot take db" in w for w in plan.warnings)


def test_capacity_is_booked_vm_by_vm() -> None:
    """Two 40Gi VMs, one 64Gi node left: the second has nowhere to go."""
    nodes = [node("n1"), node("n2"), node("n3", cordoned=True)]
    pods = [launcher(n, "n1", memory="40Gi") for n in ("a", "b")]
    plan = plan_of(pods, [vmi(n, "n1", "LiveMigrate") for n in ("a", "b")], nodes=nodes)
    a, b = by_name(plan)["a"], by_name(plan)["b"]
    assert a.outcome is Outcome.MIGRATE and a.target == "n2"
    assert b.outcome is Outcome.BLOCKED
    assert "n2: insufficient memory (40.0Gi wanted, 24.0Gi free)" in b.detail
    assert plan.capacity.needed_memory == 80 * 1024**3
    assert plan.capacity.free_memory == 64 * 1024**3


def test_hard_topology_spread_is_checked() -> None:
    spread = [
        {
            "maxSkew": 1,
            "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"md": "w"}},
        }
    ]
    pods = [launcher("w1", "n1", topologySpreadConstraints=spread)]
    pods[0]["metadata"]["labels"]["md"] = "w"
    others = [launcher("w2", "n3"), launcher("w3", "n3")]
    for p in others:
        p["metadata"]["labels"]["md"] = "w"
    plan = build_plan(
        "n1",
        nodes=NODES,
        pods=pods + others,
        node_pods=pods,
        vmis=[vmi("w1", "n1", "LiveMigrate")],
    )
    w1 = by_name(plan)["w1"]
    # zone a keeps w1 while it moves (1), zone b has 2: n3 would make it 3 vs 1.
    assert w1.target == "n2"


def test_preferred_affinity_names_the_likely_target() -> None:
    prefer_n3 = {
        "nodeAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 100,
                    "preference": {
                        "matchExpressions": [
                            {"key": "kubernetes.io/hostname", "operator": "In", "values": ["n3"]}
                        ]
                    },
                }
            ]
        }
    }
    pods = [launcher("a", "n1", affinity=prefer_n3)]
    assert by_name(plan_of(pods, [vmi("a", "n1", "LiveMigrate")]))["a"].target == "n3"


def test_user_clusters_and_their_share_on_the_node() -> None:
    pods = [launcher("a", "n1"), launcher("b", "n1", ns="cluster-xyz")]
    vmis = [
        vmi("a", "n1", "LiveMigrate"),
        vmi("c", "n2", "LiveMigrate"),
        vmi("b", "n1", "LiveMigrate", ns="cluster-xyz"),
    ]
    plan = plan_of(pods, vmis)
    assert [(c.cluster, c.on_node, c.total) for c in plan.clusters] == [
        ("abc", 1, 2),
        ("xyz", 1, 1),
    ]
    assert "every VM of user cluster xyz (1) is on n1" in plan.warnings


def test_estimate_follows_the_kubevirt_limits() -> None:
    pods = [launcher(n, "n1") for n in ("a", "b", "c")]
    plan = plan_of(pods, [vmi(n, "n1", "LiveMigrate") for n in ("a", "b", "c")])
    settings = migration_settings(
        {"spec": {"configuration": {"migrations": {"bandwidthPerMigration": "1Gi"}}}}
    )
    estimate = estimate_duration(plan.pods, settings)
    one = 5.0 + 8 * 1.25  # setup + 8Gi sent ~1.25 times at 1 GiB/s
    assert estimate.parallel == 2 and estimate.migrations == 3
    assert estimate.seconds == pytest.approx(2 * one)
    slow = migration_settings(
        {"spec": {"configuration": {"migrations": {"bandwidthPerMigration": "4Mi"}}}}
    )
    assert any("completionTimeoutPerGiB" in n for n in estimate_duration(plan.pods, slow).notes)


def test_the_plan_survives_the_journal_round_trip() -> None:
    plan = plan_of([launcher("a", "n1")], [vmi("a", "n1", "LiveMigrate")])
    again = DrainPlan.from_dict(plan.to_dict())
    assert again == plan


def test_an_unknown_node_is_a_clear_error() -> None:
    with pytest.raises(LookupError, match='node "n9" not found'):
        build_plan("n9", nodes=NODES, pods=[], node_pods=[], vmis=[])

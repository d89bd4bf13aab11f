"""The checks' judgement on clusters the built-in scenarios do not cover: other versions, other
feature-gate lists, small or missing nodes, old CNIs, stale MachineDeployments. The objects are
made by the simulator's own builders, so they have the shapes a cluster serves."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from kvtui.cluster import kinds
from kvtui.cluster.config import SUPPORTED_VERSIONS, ConfigError, load_config
from kvtui.cluster.doctor import CHECKS, run_checks
from kvtui.cluster.doctor_model import CheckResult, Status, capped
from kvtui.cluster.doctor_observe import DATACENTERS, INFRA_KINDS, STORAGE, Observed, Read
from kvtui.cluster.doctor_upgrade import md_leftovers
from kvtui.sim import infra_addons, infra_objects
from kvtui.sim.scenario_parts import KKP_FEATURE_GATES, MIGRATION_DEFAULTS, NODE_DEFAULTS

INFRA = {
    "kubernetesVersion": "v1.31.4",
    "containerRuntime": "containerd://1.7.24",
    "osImage": "Ubuntu 22.04.5 LTS",
    "kernelVersion": "5.15.0-127-generic",
    "region": "eu-central",
}


def observed(items: dict[Any, list], versions: dict | None = None) -> Observed:
    """A cluster as the doctor would have read it: every list empty unless given."""
    reads = {str(k): Read(str(k), "test", []) for k in (*INFRA_KINDS, kinds.CLUSTERS)}
    reads[STORAGE] = Read("storageclasses.storage.k8s.io", "test", [])
    reads[DATACENTERS] = Read("seeds.kubermatic.k8c.io", "test", [])
    for key, value in items.items():
        reads[str(key)] = Read(str(key), "test", value)
    return Observed("test", "test", reads, versions=versions or SUPPORTED_VERSIONS)


def check(obs: Observed, check_id: str) -> CheckResult:
    [result] = run_checks(obs, [spec for spec in CHECKS if spec.id == check_id]).results
    return result


def kubevirt(version: str = "v1.6.4", gates: list[str] | None = None, **config: Any) -> dict:
    return infra_objects.kubevirt_object(
        {
            "version": version,
            "evictionStrategy": config.pop("evictionStrategy", "LiveMigrate"),
            "monitorNamespace": "monitoring",
            "monitorAccount": "prometheus-k8s",
            "featureGates": KKP_FEATURE_GATES if gates is None else gates,
            "migrations": {**MIGRATION_DEFAULTS, **config.pop("migrations", {})},
            "configuration": config,
        }
    )


def node(name: str, **size: Any) -> dict:
    spec = {**copy.deepcopy(NODE_DEFAULTS), "name": name, "zone": "zone-a", **size}
    return infra_objects.node_object(spec, INFRA, "10.10.0.10", "10.244.0.0/24")


# -- versions ----------------------------------------------------------------------------------
def test_supported_versions_come_from_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("theme: nord\nsupported_versions:\n  kubevirt: [1.7.0, '1.8']\n")
    config = load_config(path)
    assert config.supported_versions == {"kubevirt": ["1.7.0", "1.8"], "cdi": ["1.60", "1.64"]}
    obs = observed({kinds.KUBEVIRTS: [kubevirt("v1.6.4")]}, config.supported_versions)
    result = check(obs, "kubevirt.version")
    assert result.status is Status.FAILURE
    assert result.summary == "KubeVirt v1.6.4 is older than the supported 1.7.0 to 1.8.x"
    newer = observed({kinds.KUBEVIRTS: [kubevirt("v1.9.0")]}, config.supported_versions)
    assert check(newer, "kubevirt.version").status is Status.WARNING
    inside = observed({kinds.KUBEVIRTS: [kubevirt("v1.8.3-rc.1")]}, config.supported_versions)
    assert check(inside, "kubevirt.version").status is Status.OK


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("supported_versions:\n  kubevirt: [1.6]\n", "config.yaml:1: supported_versions must"),
        ("supported_versions:\n  kvm: [1.2, 1.6]\n", "kubevirt and/or cdi"),
        ("supported_versions:\n  cdi: [x, '1.64']\n", "are not versions"),
        ("supported_versions:\n  cdi: [1.60, '1.64']\n", "YAML reads 1.60 as the number 1.6"),
        ("supported_versions:\n  cdi: ['1.64', '1.60']\n", "1.64 is newer than 1.60"),
    ],
)
def test_bad_supported_versions_are_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_an_update_in_progress_is_a_warning() -> None:
    cr = kubevirt("v1.5.2")
    cr["status"]["targetKubeVirtVersion"] = "v1.6.4"
    result = check(observed({kinds.KUBEVIRTS: [cr]}), "kubevirt.version")
    assert (result.status, result.summary) == (
        Status.WARNING,
        "KubeVirt is being updated: v1.5.2 → v1.6.4",
    )


# -- feature gates -----------------------------------------------------------------------------
def test_from_v1_9_hotplug_needs_its_successor_unless_the_old_gate_is_still_on() -> None:
    old = check(observed({kinds.KUBEVIRTS: [kubevirt("v1.9.0")]}), "kubevirt.feature-gates")
    assert old.status is Status.OK
    assert "HotplugVolumes: deprecated since v1.9, DeclarativeHotplugVolumes replaces it" in (
        old.evidence
    )
    gates = [g for g in KKP_FEATURE_GATES if g != "HotplugVolumes"]
    cr = kubevirt("v1.9.0", gates)
    result = check(observed({kinds.KUBEVIRTS: [cr]}), "kubevirt.feature-gates")
    assert result.summary == "1 required feature gate missing: DeclarativeHotplugVolumes"
    [target] = result.fix.targets
    assert target.after["spec"]["configuration"]["developerConfiguration"]["featureGates"] == [
        *gates,
        "DeclarativeHotplugVolumes",
    ]


def test_gates_that_newer_kubevirt_made_ga_or_dropped_are_not_required() -> None:
    gates = ["ExperimentalIgnitionSupport", "CPUManager", "Sidecar", "Snapshot", "HotplugVolumes"]
    result = check(observed({kinds.KUBEVIRTS: [kubevirt(gates=gates)]}), "kubevirt.feature-gates")
    assert result.status is Status.OK


def test_a_disabled_required_gate_is_missing_and_the_fix_enables_it() -> None:
    cr = kubevirt()
    developer = cr["spec"]["configuration"]["developerConfiguration"]
    developer["disabledFeatureGates"] = ["Snapshot"]
    result = check(observed({kinds.KUBEVIRTS: [cr]}), "kubevirt.feature-gates")
    assert result.status is Status.FAILURE and "Snapshot: missing (disabled)" in result.evidence
    [target] = result.fix.targets
    patch = target.body()["spec"]["configuration"]["developerConfiguration"]
    assert patch == {"disabledFeatureGates": None}  # Snapshot is listed already


# -- migrations and eviction -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("migrations", "status", "fragment"),
    [
        ({}, Status.OK, "sane"),
        ({"parallelOutboundMigrationsPerNode": 0}, Status.FAILURE, "drains never finish"),
        ({"bandwidthPerMigration": "32Mi"}, Status.WARNING, "never converge"),
        ({"allowPostCopy": True}, Status.WARNING, "loses the guest"),
        ({"parallelOutboundMigrationsPerNode": 8}, Status.WARNING, "never reached"),
    ],
)
def test_migration_settings(migrations: dict, status: Status, fragment: str) -> None:
    cr = kubevirt(migrations=migrations)
    result = check(observed({kinds.KUBEVIRTS: [cr]}), "kubevirt.migrations")
    assert result.status is status and fragment in result.summary


@pytest.mark.parametrize(
    ("strategy", "status"),
    [("LiveMigrate", Status.OK), ("External", Status.WARNING), ("None", Status.WARNING)],
)
def test_cluster_wide_eviction_strategy(strategy: str, status: Status) -> None:
    cr = kubevirt(evictionStrategy=strategy)
    assert check(observed({kinds.KUBEVIRTS: [cr]}), "kubevirt.eviction-strategy").status is status


# -- nodes -------------------------------------------------------------------------------------
def test_too_few_usable_nodes() -> None:
    cordoned = node("kv-node-3", unschedulable=True)
    nodes = [
        node("kv-node-1"),
        node("kv-node-2"),
        cordoned,
        node("kv-cp-1", kvm=False, roles=["control-plane"]),
    ]
    result = check(observed({kinds.NODES: nodes}), "nodes.count")
    assert result.status is Status.FAILURE and result.summary.startswith("2 schedulable nodes")
    assert result.evidence[0].startswith("kv-cp-1: Ready")  # the unusable ones first
    assert any("kubectl uncordon" in step for step in result.instructions)
    assert check(observed({kinds.NODES: nodes}), "nodes.kvm").status is Status.OK


def test_node_sizes_against_the_guide() -> None:
    testing = node("kv-node-2", cpu=8, memory="32Gi", storage="200Gi")
    nodes = [node("kv-node-1"), testing]
    result = check(observed({kinds.NODES: nodes}), "nodes.resources")
    assert result.status is Status.WARNING
    assert "kv-node-2: 8 cores, 34 GB memory, 215 GB storage: testing size, below production " in (
        "\n".join(result.evidence)
    )
    tiny = node("kv-node-3", cpu=4)
    result = check(observed({kinds.NODES: [*nodes, tiny]}), "nodes.resources")
    assert result.status is Status.FAILURE and result.summary.endswith(": kv-node-3")


def test_a_worker_without_kvm() -> None:
    result = check(observed({kinds.NODES: [node("kv-node-9", kvm=False)]}), "nodes.kvm")
    assert result.status is Status.WARNING and result.evidence[0].startswith("kv-node-9: Ready")


# -- network -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("daemonsets", "status", "summary"),
    [
        ([infra_addons.cni_daemonset("canal")], Status.OK, "Canal v3.26.5 (the guide asks"),
        (
            [infra_addons.cni_daemonset("canal", "v3.25.2")],
            Status.FAILURE,
            "Canal v3.25.2 is older than the required 3.26",
        ),
        (
            [infra_addons.cni_daemonset("kube-ovn", "v1.11.9")],
            Status.FAILURE,
            "KubeOVN v1.11.9 is older than the required 1.12",
        ),
        ([], Status.WARNING, "neither KubeOVN nor Canal detected"),
    ],
)
def test_cni(daemonsets: list, status: Status, summary: str) -> None:
    from kvtui.cluster.doctor_observe import DAEMONSETS

    result = check(observed({DAEMONSETS: daemonsets}), "network.cni")
    assert result.status is status and result.summary.startswith(summary)


def test_no_node_local_dns_no_collision() -> None:
    from kvtui.cluster.doctor_observe import DAEMONSETS

    result = check(
        observed({DAEMONSETS: [infra_addons.cni_daemonset("canal")]}), "dns.nodelocal-collision"
    )
    assert (result.status, result.summary) == (
        Status.OK,
        "the infra cluster runs no NodeLocal DNS cache on 169.254.20.10",
    )


# -- upgrade -----------------------------------------------------------------------------------
def machine_deployment(virtual_machine: dict, affinity: dict | None = None) -> dict:
    provider = {"virtualMachine": virtual_machine, "affinity": affinity or {}}
    value = {"cloudProviderSpec": provider}
    return {
        "metadata": {"name": "md", "namespace": "cluster-x"},
        "spec": {"template": {"spec": {"providerSpec": {"value": value}}}},
    }


def test_machine_deployments_from_2_21() -> None:
    stale = machine_deployment(
        {"flavor": {"name": "small"}, "template": {"secondaryDisks": [{"size": "10Gi"}]}},
        {"podAffinityPreset": "soft"},
    )
    found, _ = md_leftovers(stale)
    assert [line.split(" (")[0] for line in found] == [
        "virtualMachine.flavor",
        "virtualMachine.template.secondaryDisks",
        "affinity.podAffinityPreset",
        "no instancetype and no cpus/vcpus: a pre-2.22 MachineDeployment",
    ]
    sized = machine_deployment({"template": {"cpus": "2", "memory": "4Gi"}})
    assert md_leftovers(sized)[0] == [] and len(md_leftovers(sized)[1]) == 1
    from kvtui.cluster.preset_apply import MACHINE_DEPLOYMENTS

    result = check(observed({MACHINE_DEPLOYMENTS: [stale, sized]}), "upgrade.machine-deployments")
    assert result.status is Status.WARNING and result.summary.startswith("1 MachineDeployment ")


def test_evidence_is_capped_but_counted() -> None:
    lines = [f"line {i}" for i in range(20)]
    assert capped(lines) == (*lines[:11], "… and 9 more")
    assert capped(lines[:12]) == tuple(lines[:12])


def test_a_scenario_can_plant_an_old_cni(tmp_path: Path) -> None:
    from kvtui.cluster.doctor_observe import DAEMONSETS
    from kvtui.sim.scenario import load_scenario

    path = tmp_path / "old-canal.yaml"
    path.write_text("extends: clean\ninfra:\n  cni: canal\n  cniVersion: v3.24.6\n")
    daemonsets = load_scenario(str(path)).of_kind("DaemonSet")
    result = check(observed({DAEMONSETS: daemonsets}), "network.cni")
    assert result.status is Status.FAILURE
    assert result.evidence[0] == "DaemonSet kube-system/canal: Canal v3.24.6"

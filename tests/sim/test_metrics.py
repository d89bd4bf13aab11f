"""The simulated virt-handler/virt-controller metrics, read back with prometheus_client's parser."""

from __future__ import annotations

import math
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from kvtui.sim import metrics
from kvtui.sim.metrics_controller import GO_VERSION
from kvtui.sim.metrics_domain import WOBBLE, WOBBLE_PERIOD
from kvtui.sim.model import ANN_CPU_LOAD, ANN_MEMORY_USED, MigrationProgress
from kvtui.sim.store import Store, now_rfc3339
from kvtui.sim.world import SimClock, World

VMI = "kubevirt.io/virtualmachineinstances"
VMIM = "kubevirt.io/virtualmachineinstancemigrations"
START = datetime(2026, 8, 22, 10, 0, tzinfo=UTC).timestamp()
GI = 1024**3
# The most a wobbling integral strays from the plain elapsed time.
SLACK = 2 * WOBBLE * WOBBLE_PERIOD / (2 * math.pi)


@pytest.fixture
def world() -> World:
    clock = SimClock(speed=0.0, start=START)
    world = World(Store(clock.now), clock)
    for name in ("node-1", "node-2"):
        world.store.create(
            "/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}}
        )
    return world


def add_vmi(
    world: World,
    name: str,
    node: str = "node-1",
    *,
    phase: str = "Running",
    cores: int = 2,
    threads: int = 2,
    memory: str = "4Gi",
    labels: dict | None = None,
    annotations: dict | None = None,
    spec: dict | None = None,
    status: dict | None = None,
) -> dict[str, Any]:
    obj = {
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachineInstance",
        "metadata": {
            "name": name,
            "namespace": "cluster-abc",
            "labels": {
                "kubevirt.io/vm": name,
                "kubevirt.io/nodeName": node,
                "cluster.x-k8s.io/cluster-name": "abc",
                **(labels or {}),
            },
            "annotations": {ANN_CPU_LOAD: "0.5", ANN_MEMORY_USED: "0.25", **(annotations or {})},
        },
        "spec": {
            "domain": {
                "cpu": {"cores": cores, "sockets": 1, "threads": threads},
                "memory": {"guest": memory},
                "devices": {
                    "disks": [{"name": "datavolumedisk"}, {"name": "cloudinitdisk"}],
                    "interfaces": [{"name": "default", "bridge": {}}],
                },
            },
            "volumes": [
                {"name": "datavolumedisk", "dataVolume": {"name": name}},
                {"name": "cloudinitdisk", "cloudInitNoCloud": {}},
            ],
            **(spec or {}),
        },
        "status": {
            "nodeName": node,
            "phase": phase,
            "phaseTransitionTimestamps": [
                {"phase": "Running", "phaseTransitionTimestamp": now_rfc3339(START)}
            ],
            "interfaces": [
                {
                    "name": "default",
                    "interfaceName": "eth0",
                    "ipAddress": "10.244.1.7",
                    "mac": "02:00:00:00:00:01",
                }
            ],
            **(status or {}),
        },
    }
    return world.store.create(VMI, obj)


def add_vmim(world: World, name: str, vmi: str, phase: str) -> dict[str, Any]:
    return world.store.create(
        VMIM,
        {
            "apiVersion": "kubevirt.io/v1",
            "kind": "VirtualMachineInstanceMigration",
            "metadata": {"name": name, "namespace": "cluster-abc"},
            "spec": {"vmiName": vmi},
            "status": {"phase": phase},
        },
    )


def parse(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value}; fails on any line the real parser rejects."""
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            assert key not in out, f"duplicate series {key}"
            out[key] = sample.value
    return out


def pick(series: dict, metric: str, /, **labels: str) -> dict[tuple, float]:
    return {
        key: value
        for key, value in series.items()
        if key[0] == metric and labels.items() <= dict(key[1]).items()
    }


def one(series: dict, metric: str, /, **labels: str) -> float:
    found = pick(series, metric, **labels)
    assert len(found) == 1, f"{metric} {labels}: {found}"
    return next(iter(found.values()))


def labels_of(series: dict, metric: str, /, **labels: str) -> dict[str, str]:
    found = pick(series, metric, **labels)
    assert len(found) == 1, f"{metric} {labels}: {found}"
    return dict(next(iter(found))[1])


def counter_types(text: str) -> set[str]:
    return {
        line.split()[2]
        for line in text.splitlines()
        if line.startswith("# TYPE") and line.split()[3] == "counter"
    }


def test_cpu_counter_is_vcpus_times_load_times_running_time(world: World) -> None:
    add_vmi(world, "vm-a")  # 4 vCPUs at load 0.5, running since START
    world.clock.advance(3600)
    series = parse(metrics.render_node_metrics(world, "node-1"))
    usage = one(series, "kubevirt_vmi_cpu_usage_seconds_total", name="vm-a")
    guest = 4 * 0.5
    hypervisor = 0.02 * 3600
    assert guest * (3600 - SLACK) + hypervisor <= usage <= guest * (3600 + SLACK) + hypervisor
    user = one(series, "kubevirt_vmi_cpu_user_usage_seconds_total", name="vm-a")
    system = one(series, "kubevirt_vmi_cpu_system_usage_seconds_total", name="vm-a")
    assert user + system == pytest.approx(usage, rel=1e-6)
    vcpus = pick(series, "kubevirt_vmi_vcpu_seconds_total", name="vm-a")
    assert sorted(dict(k[1])["id"] for k in vcpus) == ["0", "1", "2", "3"]
    assert {dict(k[1])["state"] for k in vcpus} == {"running"}
    for value in vcpus.values():
        assert 0.5 * (3600 - SLACK) <= value <= 0.5 * (3600 + SLACK)
    assert len(pick(series, "kubevirt_vmi_vcpu_wait_seconds_total", name="vm-a")) == 4
    assert len(pick(series, "kubevirt_vmi_vcpu_delay_seconds_total", name="vm-a")) == 4


def test_counters_never_decrease_even_when_the_load_changes(world: World) -> None:
    vmi = add_vmi(world, "vm-a", annotations={ANN_CPU_LOAD: "0.9", "sim.kvtui.dev/net-rate": "8Mi"})
    text = metrics.render_node_metrics(world, "node-1")
    counters = counter_types(text)
    assert "kubevirt_vmi_cpu_usage_seconds_total" in counters
    previous = parse(text)
    for step, seconds in enumerate((1, 7, 60, 0.5, 300, 3600, 13, 86400)):
        world.clock.advance(seconds)
        if step == 3:  # the scenario turns the VM almost idle: counters must still not drop

            def calm(obj: dict) -> None:
                obj["metadata"]["annotations"][ANN_CPU_LOAD] = "0.05"
                obj["metadata"]["annotations"]["sim.kvtui.dev/net-rate"] = "1Ki"

            world.store.mutate(VMI, "cluster-abc", vmi["metadata"]["name"], calm)
        current = parse(metrics.render_node_metrics(world, "node-1"))
        assert current.keys() == previous.keys()
        for key, value in current.items():
            if key[0] in counters:
                assert value >= previous[key], (key, previous[key], value)
        previous = current
    assert one(previous, "kubevirt_vmi_network_receive_bytes_total", name="vm-a") > 8 * 1024**2


def test_memory_gauges_follow_guest_memory_and_used_share(world: World) -> None:
    add_vmi(world, "vm-a", memory="4Gi")  # memory-used 0.25
    world.clock.advance(120)
    series = parse(metrics.render_node_metrics(world, "node-1"))
    available = one(series, "kubevirt_vmi_memory_available_bytes", name="vm-a")
    usable = one(series, "kubevirt_vmi_memory_usable_bytes", name="vm-a")
    assert available == 4 * GI
    assert one(series, "kubevirt_vmi_memory_domain_bytes", name="vm-a") == 4 * GI
    assert available - usable == pytest.approx(4 * GI * 0.25, rel=0.06)
    unused = one(series, "kubevirt_vmi_memory_unused_bytes", name="vm-a")
    cached = one(series, "kubevirt_vmi_memory_cached_bytes", name="vm-a")
    assert unused + cached == pytest.approx(usable, abs=2)
    assert one(series, "kubevirt_vmi_memory_resident_bytes", name="vm-a") > available - usable


def test_network_storage_filesystem_and_load_series(world: World) -> None:
    add_vmi(world, "vm-a", annotations={"sim.kvtui.dev/dirty-rate": "32Mi"})
    world.clock.advance(600)
    series = parse(metrics.render_node_metrics(world, "node-1"))
    rx = one(series, "kubevirt_vmi_network_receive_bytes_total", interface="default")
    assert 1024**2 * (600 - SLACK) <= rx <= 1024**2 * (600 + SLACK)
    assert one(series, "kubevirt_vmi_network_traffic_bytes_total", type="rx") == rx
    assert one(series, "kubevirt_vmi_network_traffic_bytes_total", type="tx") == one(
        series, "kubevirt_vmi_network_transmit_bytes_total"
    )
    drives = {dict(k[1])["drive"] for k in pick(series, "kubevirt_vmi_storage_iops_read_total")}
    assert drives == {"datavolumedisk", "cloudinitdisk"}
    assert one(series, "kubevirt_vmi_storage_write_traffic_bytes_total", drive="cloudinitdisk") == 0
    assert one(series, "kubevirt_vmi_storage_read_traffic_bytes_total", drive="datavolumedisk") > 0
    capacity = one(
        series,
        "kubevirt_vmi_filesystem_capacity_bytes",
        mount_point="/",
        file_system_type="ext4",
        disk_name="vda1",
    )
    assert 0 < one(series, "kubevirt_vmi_filesystem_used_bytes") < capacity
    assert one(series, "kubevirt_vmi_guest_load_15m") == pytest.approx(2.0, rel=0.05)
    assert (
        32 * 1024**2 * 0.8
        <= one(series, "kubevirt_vmi_dirty_rate_bytes_per_second")
        <= (32 * 1024**2 * 1.2)
    )


def test_vmi_labels_are_copied_and_escaped(world: World) -> None:
    tricky = 'say "hi" \\ bye'
    add_vmi(world, "vm-a", labels={"example.com/odd-key": tricky})
    text = metrics.render_node_metrics(world, "node-1")
    series = parse(text)
    labels = labels_of(series, "kubevirt_vmi_cpu_usage_seconds_total")
    assert labels["kubernetes_vmi_label_example_com_odd_key"] == tricky
    assert labels["kubernetes_vmi_label_cluster_x_k8s_io_cluster_name"] == "abc"
    assert labels["kubernetes_vmi_label_kubevirt_io_nodeName"] == "node-1"
    assert (labels["node"], labels["namespace"], labels["name"]) == (
        "node-1",
        "cluster-abc",
        "vm-a",
    )
    world.settings["metrics_vmi_labels"] = False
    labels = labels_of(
        parse(metrics.render_node_metrics(world, "node-1")), "kubevirt_vmi_cpu_usage_seconds_total"
    )
    assert set(labels) == {"node", "namespace", "name"}


def test_a_node_shows_only_its_own_running_vmis(world: World) -> None:
    add_vmi(world, "here")
    add_vmi(world, "elsewhere", node="node-2")
    add_vmi(world, "starting", phase="Scheduled")
    names = {
        dict(k[1])["name"]
        for k in pick(
            parse(metrics.render_node_metrics(world, "node-1")),
            "kubevirt_vmi_cpu_usage_seconds_total",
        )
    }
    assert names == {"here"}
    empty = parse(metrics.render_node_metrics(world, "node-9"))
    assert [key[0] for key in empty] == ["kubevirt_info"]  # a virt-handler with no VMIs


def test_migration_series_exist_only_while_the_migration_runs(world: World) -> None:
    vmi = add_vmi(world, "vm-a")
    assert not pick(
        parse(metrics.render_all_metrics(world)), "kubevirt_vmi_migration_data_processed_bytes"
    )
    world.settings["migrations"] = {
        vmi["metadata"]["uid"]: MigrationProgress(
            vmi_namespace="cluster-abc",
            vmi_name="vm-a",
            migration_name="kubevirt-evacuation-x",
            source_node="node-1",
            target_node="node-2",
            memory_bytes=4 * GI,
            processed_bytes=GI,
            remaining_bytes=3 * GI,
            dirty_rate=16e6,
            transfer_rate=1.2e8,
            started_at=START + 5,
        )
    }
    source = parse(metrics.render_node_metrics(world, "node-1"))
    assert one(source, "kubevirt_vmi_migration_data_processed_bytes", name="vm-a") == GI
    assert one(source, "kubevirt_vmi_migration_data_remaining_bytes") == 3 * GI
    assert one(source, "kubevirt_vmi_migration_dirty_memory_rate_bytes") == 16e6
    assert one(source, "kubevirt_vmi_migration_memory_transfer_rate_bytes") == 1.2e8
    assert one(source, "kubevirt_vmi_migration_data_bytes_total", node="node-1") == 4 * GI
    assert not pick(
        parse(metrics.render_node_metrics(world, "node-2")),
        "kubevirt_vmi_migration_data_processed_bytes",
    )
    controller = parse(metrics.render_controller_metrics(world))
    assert one(
        controller,
        "kubevirt_vmi_migration_start_time_seconds",
        name="vm-a",
        node="node-1",
        migration_name="kubevirt-evacuation-x",
    ) == int(START + 5)
    world.settings["migrations"] = {}
    assert not pick(
        parse(metrics.render_all_metrics(world)), "kubevirt_vmi_migration_data_remaining_bytes"
    )


def test_migration_phase_gauges_and_outcomes(world: World) -> None:
    for i, phase in enumerate(
        [
            "",
            "Pending",
            "Scheduling",
            "Scheduled",
            "PreparingTarget",
            "TargetReady",
            "Running",
            "Succeeded",
            "Failed",
        ]
    ):
        add_vmim(world, f"mig-{i}", f"vm-{i}", phase)
    series = parse(metrics.render_controller_metrics(world))
    assert one(series, "kubevirt_vmi_migrations_in_unset_phase") == 1
    assert one(series, "kubevirt_vmi_migrations_in_pending_phase") == 1
    assert one(series, "kubevirt_vmi_migrations_in_scheduling_phase") == 1
    assert one(series, "kubevirt_vmi_migrations_in_running_phase") == 4
    assert (
        one(
            series,
            "kubevirt_vmi_migration_succeeded",
            vmi="vm-7",
            vmim="mig-7",
            namespace="cluster-abc",
        )
        == 1
    )
    assert one(series, "kubevirt_vmi_migration_failed", vmi="vm-8", vmim="mig-8") == 1
    assert len(pick(series, "kubevirt_vmi_migration_failed")) == 1


def test_vmi_info_eviction_and_addresses(world: World) -> None:
    vmi = add_vmi(
        world,
        "vm-a",
        spec={"evictionStrategy": "LiveMigrate"},
        status={
            "conditions": [
                {"type": "LiveMigratable", "status": "False", "reason": "DisksNotLiveMigratable"}
            ],
            "guestOSInfo": {
                "name": "Ubuntu",
                "versionId": "24.04",
                "kernelRelease": "6.8.0",
                "machine": "x86_64",
            },
        },
    )
    add_vmi(world, "vm-b", phase="Scheduling", status={"nodeName": ""})
    world.store.create(
        "/pods",
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "virt-launcher-vm-a-x7k2p",
                "namespace": "cluster-abc",
                "labels": {
                    "kubevirt.io": "virt-launcher",
                    "kubevirt.io/created-by": vmi["metadata"]["uid"],
                },
            },
            "spec": {"nodeName": "node-1", "containers": [{"name": "compute"}]},
            "status": {"phase": "Running"},
        },
    )
    series = parse(metrics.render_controller_metrics(world))
    info = labels_of(series, "kubevirt_vmi_info", name="vm-a")
    assert info["phase"] == "running"
    assert info["vmi_pod"] == "virt-launcher-vm-a-x7k2p"
    assert info["evictable"] == "false"
    assert (info["guest_os_name"], info["guest_os_version_id"]) == ("Ubuntu", "24.04")
    assert one(series, "kubevirt_vmi_non_evictable", name="vm-a", node="node-1") == 1
    assert one(series, "kubevirt_vmi_info", name="vm-b", phase="scheduling") == 1
    assert one(series, "kubevirt_vmi_non_evictable", name="vm-b") == 0
    assert (
        one(
            series,
            "kubevirt_vmi_status_addresses",
            name="vm-a",
            address="10.244.1.7",
            vnic_name="default",
            interface_name="eth0",
            type="ExternalInterface",
        )
        == 1
    )
    overhead = one(series, "kubevirt_vmi_launcher_memory_overhead_bytes", name="vm-a")
    assert 200 * 1024**2 < overhead < GI
    assert one(series, "kubevirt_virt_controller_leading_status") == 1
    assert one(series, "kubevirt_info", goversion=GO_VERSION) == 1


def test_vm_info_status_group(world: World) -> None:
    world.store.create(
        "kubevirt.io/virtualmachines",
        {
            "apiVersion": "kubevirt.io/v1",
            "kind": "VirtualMachine",
            "metadata": {"name": "vm-a", "namespace": "cluster-abc"},
            "spec": {
                "runStrategy": "Always",
                "instancetype": {"kind": "VirtualMachineInstancetype", "name": "standard-2"},
                "template": {},
            },
            "status": {"printableStatus": "Migrating"},
        },
    )
    series = parse(metrics.render_controller_metrics(world))
    assert (
        one(
            series,
            "kubevirt_vm_info",
            name="vm-a",
            status="Migrating",
            status_group="migrating",
            instance_type="<other>",
        )
        == 1
    )


def test_render_all_groups_each_family_once_across_nodes(world: World) -> None:
    add_vmi(world, "vm-a", node="node-1")
    add_vmi(world, "vm-b", node="node-2", cores=1, threads=1)
    add_vmim(world, "mig-1", "vm-a", "Succeeded")
    text = metrics.render_all_metrics(world)
    types = Counter(line.split()[2] for line in text.splitlines() if line.startswith("# TYPE"))
    helps = Counter(line.split()[2] for line in text.splitlines() if line.startswith("# HELP"))
    assert types and max(types.values()) == 1
    assert helps == types
    series = parse(text)
    assert {dict(k[1])["node"] for k in pick(series, "kubevirt_vmi_cpu_usage_seconds_total")} == {
        "node-1",
        "node-2",
    }
    assert len(pick(series, "kubevirt_vmi_vcpu_seconds_total", node="node-2")) == 1
    assert one(series, "kubevirt_vmi_migration_succeeded") == 1
    assert "".join(metrics.iter_all_metrics(world)) == text


def test_render_all_skips_nodes_that_are_down(world: World) -> None:
    add_vmi(world, "vm-a", node="node-1")
    add_vmi(world, "vm-b", node="node-2")

    def down(node: dict) -> None:
        node["status"] = {"conditions": [{"type": "Ready", "status": "Unknown"}]}

    world.store.mutate("/nodes", None, "node-2", down)
    series = parse(metrics.render_all_metrics(world))
    assert {dict(k[1])["name"] for k in pick(series, "kubevirt_vmi_cpu_usage_seconds_total")} == {
        "vm-a"
    }
    assert one(series, "kubevirt_vmi_info", name="vm-b") == 1  # the controller still knows it


def test_many_vmis_render_in_reasonable_time(world: World) -> None:
    for i in range(2000):
        add_vmi(world, f"vm-{i:04d}", node=f"node-{1 + i % 2}")
    metrics.render_all_metrics(world)
    world.clock.advance(30)
    started = time.perf_counter()
    text = metrics.render_node_metrics(world, "node-1")
    assert time.perf_counter() - started < 1.0
    assert text.count("kubevirt_vmi_cpu_usage_seconds_total{") == 1000
    started = time.perf_counter()
    metrics.render_all_metrics(world)
    assert time.perf_counter() - started < 5.0


def test_finished_migration_times_and_launcher_overhead_from_the_pod(world: World) -> None:
    vmim = add_vmim(world, "kubevirt-evacuation-abc", "vm-a", "Succeeded")
    vmi = add_vmi(
        world,
        "vm-a",
        node="node-2",
        status={
            "migrationState": {
                "migrationUid": vmim["metadata"]["uid"],
                "sourceNode": "node-1",
                "targetNode": "node-2",
                "startTimestamp": now_rfc3339(START + 60),
                "endTimestamp": now_rfc3339(START + 95),
                "completed": True,
                "failed": False,
            }
        },
    )
    world.store.create(
        "/pods",
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "virt-launcher-vm-a-q2w9z",
                "namespace": "cluster-abc",
                "labels": {"kubevirt.io/created-by": vmi["metadata"]["uid"]},
            },
            "spec": {
                "nodeName": "node-2",
                "containers": [
                    {
                        "name": "compute",
                        "resources": {"requests": {"memory": str(4 * GI + 220 * 1024**2)}},
                    }
                ],
            },
            "status": {"phase": "Running"},
        },
    )
    series = parse(metrics.render_controller_metrics(world))
    labels = {"name": "vm-a", "node": "node-2", "migration_name": "kubevirt-evacuation-abc"}
    assert one(series, "kubevirt_vmi_migration_start_time_seconds", **labels) == int(START + 60)
    assert one(
        series, "kubevirt_vmi_migration_end_time_seconds", status="succeeded", **labels
    ) == int(START + 95)
    assert one(series, "kubevirt_vmi_launcher_memory_overhead_bytes", name="vm-a") == (
        220 * 1024**2
    )

"""Renderers turn views into k9s-style rows: cells, health and numeric sort keys."""

from __future__ import annotations

from datetime import datetime

import pytest

from kvtui.cluster.presenters import (
    NODE_COLUMNS,
    VM_COLUMNS,
    age,
    format_bytes,
    human_duration,
    node_row,
    node_usage,
    usage_bar,
    vm_row,
)
from kvtui.cluster.views import Migration, Node, Pod, Vm, Vmi
from tests.cluster.test_views import node_dict, vmi_dict

NOW = datetime.fromisoformat("2026-11-23T20:05:41Z").timestamp()  # one day after creation


def cells(row, columns):
    return dict(zip(columns, row.cells, strict=True))


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (45, "45s"),
        (119, "119s"),
        (150, "2m30s"),
        (12 * 60, "12m"),
        (3 * 3600 + 4 * 60, "3h4m"),
        (5 * 3600, "5h"),
        (20 * 3600, "20h"),
        (50 * 3600, "2d2h"),
        (5 * 86400, "5d"),
        (30 * 86400, "30d"),
        (3 * 365 * 86400, "3y"),
        (-0.5, "0s"),
        (-5, "<invalid>"),
    ],
)
def test_human_duration_like_kubectl(seconds, text):
    assert human_duration(seconds) == text


def test_age():
    assert age("2026-11-23T20:05:00Z", NOW) == "41s"
    assert age("2026-11-22T20:05:41Z", NOW) == "24h"
    assert age("", NOW) == "<unknown>"


def test_usage_bar_and_bytes():
    assert usage_bar(42, 100) == ("▇▇▇▁▁ 42%", 42.0)
    assert usage_bar(1, 100)[0] == "▇▁▁▁▁ 1%"
    assert usage_bar(0, 100)[0] == "▁▁▁▁▁ 0%"
    assert usage_bar(150, 100)[0] == "▇▇▇▇▇ 150%"
    assert usage_bar(5, 0) == ("—", -1.0)
    assert format_bytes(8 * 2**30) == "8Gi"
    assert format_bytes(int(1.5 * 2**30)) == "1.5Gi"
    assert format_bytes(512 * 2**20) == "512Mi"
    assert format_bytes(0) == "0"


def test_node_row_ready_kvm_worker():
    row = node_row(Node(node_dict()), 7, 6510, 31 * 2**30, "Running", now=NOW)
    c = cells(row, NODE_COLUMNS)
    assert c == {
        "NAME": "kv-node-2",
        "STATUS": "Ready",
        "ROLES": "worker",
        "KVM": "1k ✓",
        "VIRT-HANDLER": "Running",
        "VMIS": "7",
        "CPU": "▇▇▇▁▁ 42%",
        "MEMORY": "▇▇▇▁▁ 50%",
        "TAINTS": "—",
        "VERSION": "v1.31.4",
        "AGE": "24h",
    }
    assert row.health == "ok"
    assert row.key == ("", "kv-node-2")
    keys = dict(zip(NODE_COLUMNS, row.sort_keys, strict=True))
    assert keys["CPU"] == pytest.approx(42.0, abs=0.01)
    assert keys["VMIS"] == 7 and keys["AGE"] == pytest.approx(86400)


def test_node_row_cordoned_tainted_is_warn_and_not_ready_is_error():
    node = node_dict(
        spec={
            "unschedulable": True,
            "taints": [
                {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"},
                {"key": "dedicated", "value": "gpu", "effect": "NoExecute"},
            ],
        }
    )
    row = node_row(Node(node), 0, 0, 0, "Running", now=NOW)
    c = cells(row, NODE_COLUMNS)
    assert c["STATUS"] == "Ready,SchedulingDisabled"
    assert c["TAINTS"] == "node.kubernetes.io/unschedulable:NoSchedule, dedicated=gpu:NoExecute"
    assert row.health == "warn"
    node["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
    row = node_row(Node(node), 0, 0, 0, "Running", now=NOW)
    assert cells(row, NODE_COLUMNS)["STATUS"] == "NotReady,SchedulingDisabled"
    assert row.health == "error"


def test_node_row_kvm_problems_are_warn_and_control_plane_is_muted():
    node = node_dict(metadata={"labels": {"kubevirt.io/schedulable": "false"}})
    row = node_row(Node(node), 0, 0, 0, "Running", now=NOW)
    assert cells(row, NODE_COLUMNS)["KVM"] == "1k ✗"
    assert row.health == "warn"
    row = node_row(Node(node_dict()), 0, 0, 0, "missing", now=NOW)
    assert row.health == "warn" and cells(row, NODE_COLUMNS)["VIRT-HANDLER"] == "missing"

    cp = node_dict(metadata={"labels": {"node-role.kubernetes.io/control-plane": ""}})
    del cp["status"]["allocatable"]["devices.kubevirt.io/kvm"]
    row = node_row(Node(cp), 0, 0, 0, "missing", now=NOW)
    c = cells(row, NODE_COLUMNS)
    assert c["KVM"] == "—" and c["ROLES"] == "control-plane"
    assert row.health == "muted"


def test_vm_row_running_vm():
    vm = Vm(
        {
            "metadata": {
                "name": "worker-1",
                "namespace": "cluster-x7k2mq9p4d",
                "creationTimestamp": "2026-11-23T17:01:41Z",
            },
            "spec": {"instancetype": {"name": "standard-2"}, "preference": {"name": "sockets"}},
            "status": {"printableStatus": "Running"},
        }
    )
    row = vm_row(vm, Vmi(vmi_dict()), None, "None", now=NOW)
    assert cells(row, VM_COLUMNS) == {
        "NAMESPACE": "cluster-x7k2mq9p4d",
        "NAME": "worker-1",
        "STATUS": "Running",
        "NODE": "kv-node-1",
        "INSTANCETYPE": "standard-2",
        "PREFERENCE": "sockets",
        "CPUS": "2",
        "MEMORY": "8Gi",
        "IP": "10.244.0.3",
        "EVICTION": "LiveMigrate",
        "MIGRATABLE": "yes",
        "MIGRATION": "—",
        "AGE": "3h4m",
    }
    assert row.health == "ok"
    assert row.key == ("cluster-x7k2mq9p4d", "worker-1")
    keys = dict(zip(VM_COLUMNS, row.sort_keys, strict=True))
    assert keys["CPUS"] == 2 and keys["MEMORY"] == 8 * 2**30


def test_vm_row_live_migrate_but_not_migratable_warns():
    vmi = Vmi(
        vmi_dict(
            conditions=[
                {"type": "LiveMigratable", "status": "False", "reason": "DisksNotLiveMigratable"}
            ]
        )
    )
    row = vm_row(None, vmi, None, "None", now=NOW)
    c = cells(row, VM_COLUMNS)
    assert c["MIGRATABLE"] == "no: DisksNotLiveMigratable"
    assert c["STATUS"] == "Running"  # a standalone VMI shows its phase
    assert row.health == "warn"


def test_vm_row_stopped_vm_without_vmi_is_muted_and_uses_cluster_default():
    vm = Vm(
        {
            "metadata": {"name": "off", "namespace": "ns"},
            "spec": {
                "runStrategy": "Halted",
                "template": {"spec": {"domain": {"cpu": {"cores": 2}, "memory": {"guest": "1Gi"}}}},
            },
            "status": {"printableStatus": "Stopped"},
        }
    )
    row = vm_row(vm, None, None, "LiveMigrate", now=NOW)
    c = cells(row, VM_COLUMNS)
    assert c["STATUS"] == "Stopped" and c["NODE"] == "—" and c["MIGRATABLE"] == "—"
    assert c["CPUS"] == "2" and c["MEMORY"] == "1Gi" and c["EVICTION"] == "LiveMigrate"
    assert row.health == "muted"


def test_vm_row_migration_and_errors():
    vmim = Migration({"spec": {"vmiName": "worker-1"}, "status": {"phase": "Scheduling"}})
    row = vm_row(None, Vmi(vmi_dict()), vmim, "None", now=NOW)
    assert cells(row, VM_COLUMNS)["MIGRATION"] == "Scheduling"
    assert row.health == "warn"
    failed = Migration({"spec": {"vmiName": "worker-1"}, "status": {"phase": "Failed"}})
    assert vm_row(None, Vmi(vmi_dict()), failed, "None", now=NOW).health == "error"
    broken = Vm({"metadata": {"name": "b"}, "status": {"printableStatus": "CrashLoopBackOff"}})
    assert vm_row(broken, None, None, "None", now=NOW).health == "error"
    with pytest.raises(ValueError):
        vm_row(None, None, None, "None")


def test_node_usage_sums_requests_of_non_terminated_pods():
    def pod(node, phase, cpu, mem):
        return Pod(
            {
                "spec": {
                    "nodeName": node,
                    "containers": [{"resources": {"requests": {"cpu": cpu, "memory": mem}}}],
                },
                "status": {"phase": phase},
            }
        )

    pods = [
        pod("a", "Running", "100m", "1Gi"),
        pod("a", "Pending", "1", "1Gi"),
        pod("a", "Succeeded", "4", "4Gi"),
        pod("b", "Running", "250m", "512Mi"),
        pod("", "Pending", "8", "8Gi"),
    ]
    assert node_usage(pods) == {"a": (1100, 2 * 2**30), "b": (250, 512 * 2**20)}


def test_ten_thousand_vm_rows_render():
    vm = Vm({"metadata": {"name": "w", "namespace": "n"}, "status": {"printableStatus": "Running"}})
    vmi = Vmi(vmi_dict())
    rows = [vm_row(vm, vmi, None, "None", now=NOW) for _ in range(10_000)]
    assert len({r.cells for r in rows}) == 1

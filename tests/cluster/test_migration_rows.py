"""The Migrations pane's rows and the progress arithmetic behind them: no cluster needed."""

from __future__ import annotations

from kvtui.cluster.migration_metrics import (
    MigrationSample,
    _parse,
    converging,
    percent_done,
    virt_handler_pods,
)
from kvtui.cluster.migration_rows import MIGRATION_COLUMNS, migration_row, timeline
from kvtui.cluster.migrations import migration_targets
from kvtui.cluster.presenters import ERROR, MUTED, WARN
from kvtui.cluster.views import Migration, Node, timestamp

T0 = "2026-09-22T10:00:00Z"
NOW = timestamp(T0) + 3600  # an hour later


def at(seconds: int) -> str:
    """T0 plus `seconds`, as the API writes it."""
    minute, second = divmod(seconds, 60)
    return f"2026-09-22T10:{minute:02d}:{second:02d}Z"


def vmim(phase: str, stamps: list[tuple[str, int]], **extra: object) -> Migration:
    state = {"sourceNode": "kv-node-1", "targetNode": "kv-node-2"} if phase != "Pending" else {}
    raw: dict = {
        "metadata": {
            "namespace": "ns",
            "name": "kubevirt-migrate-vm-abcde",
            "creationTimestamp": T0,
        },
        "spec": {"vmiName": "vm-1"},
        "status": {
            "phase": phase,
            "phaseTransitionTimestamps": [
                {"phase": p, "phaseTransitionTimestamp": at(s)} for p, s in stamps
            ],
            "migrationState": state,
        },
    }
    for key, value in extra.items():
        section, _, field = key.partition("__")
        raw[section][field] = value
    return Migration(raw)


def cell(row, column: str) -> str:
    return row.cells[MIGRATION_COLUMNS.index(column)]


DONE = [
    ("Pending", 0),
    ("Scheduling", 1),
    ("Scheduled", 3),
    ("PreparingTarget", 3),
    ("TargetReady", 4),
    ("Running", 4),
    ("Succeeded", 16),
]


def test_a_finished_migration() -> None:
    row = migration_row(vmim("Succeeded", DONE), now=NOW)
    assert row.key == ("ns", "kubevirt-migrate-vm-abcde")
    assert cell(row, "VMI") == "vm-1" and cell(row, "PHASE") == "Succeeded"
    assert cell(row, "SOURCE → TARGET") == "kv-node-1 → kv-node-2"
    assert cell(row, "PROGRESS") == "▇▇▇▇▇ 100%"
    assert cell(row, "DURATION") == "16s" and cell(row, "AGE") == "60m"
    assert cell(row, "TRIGGER") == "user"
    assert cell(row, "TIMELINE") == (
        "Pending 1s → Scheduling 2s → Scheduled 0s → PreparingTarget 1s → TargetReady 0s → "
        "Running 12s → Succeeded"
    )
    assert row.health == MUTED


def test_a_running_migration_counts_up_to_now() -> None:
    migration = vmim("Running", DONE[:-1])
    now = timestamp(at(34))
    assert timeline(migration, now).endswith("TargetReady 0s → Running 30s")
    row = migration_row(migration, now=now)
    assert cell(row, "DURATION") == "34s" and cell(row, "PROGRESS") == "—"
    assert row.health == WARN


def test_progress_from_a_sample() -> None:
    migration = vmim("Running", DONE[:-1])
    going = MigrationSample(3 * 2**30, 1 * 2**30, dirty_rate=1e8, transfer_rate=1e9)
    row = migration_row(migration, going, converging=True, now=NOW)
    assert cell(row, "PROGRESS") == "▇▇▇▁▁ 75%" and row.health == WARN
    assert row.sort_keys[MIGRATION_COLUMNS.index("PROGRESS")] == 75.0
    stuck = migration_row(migration, going, converging=False, now=NOW)
    assert cell(stuck, "PROGRESS") == "▇▇▇▁▁ 75% stalling" and stuck.health == ERROR


def test_failed_chosen_node_and_evacuation() -> None:
    failed = migration_row(vmim("Failed", [("Pending", 0), ("Failed", 9)]), now=NOW)
    assert failed.health == ERROR and cell(failed, "PROGRESS") == "—"
    assert cell(failed, "TIMELINE") == "Pending 9s → Failed"

    waiting = vmim(
        "Pending", [("Pending", 0)], spec__addedNodeSelector={"kubernetes.io/hostname": "kv-node-3"}
    )
    assert cell(migration_row(waiting, now=NOW), "SOURCE → TARGET") == "? → kv-node-3 (chosen)"
    assert cell(migration_row(vmim("Pending", []), now=NOW), "SOURCE → TARGET") == "? → ?"

    drained = {"kubevirt.io/evacuationMigration": "kv-node-1"}
    evacuation = vmim(
        "Succeeded", DONE, metadata__annotations=drained, spec__priority="system-critical"
    )
    assert cell(migration_row(evacuation, now=NOW), "TRIGGER") == "evacuation"
    descheduler = vmim(
        "Succeeded", DONE, metadata__annotations=drained, spec__priority="system-maintenance"
    )
    assert cell(migration_row(descheduler, now=NOW), "TRIGGER") == "evacuation (system-maintenance)"


def test_converging() -> None:
    first = MigrationSample(100, 900, dirty_rate=0.0, transfer_rate=0.0)
    assert converging(first, None) is None
    assert converging(MigrationSample(500, 500, 1.0, 2.0), first) is True
    assert converging(MigrationSample(500, 950, 1.0, 2.0), first) is False
    # Nothing left moved between samples: the rates decide.
    assert converging(MigrationSample(500, 900, 3.0, 2.0), first) is False
    assert converging(MigrationSample(500, 900, 1.0, 2.0), None) is True
    assert percent_done(MigrationSample(0, 0, 0.0, 0.0)) is None
    assert percent_done(MigrationSample(1, 3, 0.0, 0.0)) == 25.0


def test_virt_handler_pods_on_nodes() -> None:
    def pod(name: str, node: str, component: str = "virt-handler") -> dict:
        return {
            "metadata": {
                "namespace": "kubevirt",
                "name": name,
                "labels": {"kubevirt.io": component},
            },
            "spec": {"nodeName": node},
        }

    pods = [
        pod("virt-handler-b", "kv-node-2"),
        pod("virt-handler-a", "kv-node-1"),
        pod("virt-handler-c", "kv-node-3"),
        pod("virt-launcher-x", "kv-node-1", "virt-launcher"),
    ]
    assert virt_handler_pods(pods, {"kv-node-1", "kv-node-2"}) == [
        ("kubevirt", "virt-handler-a"),
        ("kubevirt", "virt-handler-b"),
    ]
    assert virt_handler_pods(pods, ()) == []


def test_parse_keeps_only_migration_series_and_survives_garbage() -> None:
    text = (
        "# TYPE kubevirt_vmi_migration_data_remaining_bytes gauge\n"
        'kubevirt_vmi_migration_data_remaining_bytes{namespace="ns",name="vm-1",node="n1"} 42\n'
        "# TYPE kubevirt_vmi_cpu_usage_seconds_total counter\n"
        'kubevirt_vmi_cpu_usage_seconds_total{namespace="ns",name="vm-1",node="n1"} 7\n'
    )
    found: dict = {}
    _parse(text, found)
    assert found == {("ns", "vm-1"): {"remaining": 42.0}}
    _parse("this is { not prometheus", found)
    assert len(found) == 1


def test_migration_targets_are_ready_uncordoned_kvm_nodes() -> None:
    def node(name: str, ready: str = "True", cordoned: bool = False, kvm: str = "1k") -> Node:
        return Node(
            {
                "metadata": {"name": name, "labels": {"kubevirt.io/schedulable": "true"}},
                "spec": {"unschedulable": cordoned},
                "status": {
                    "conditions": [{"type": "Ready", "status": ready}],
                    "allocatable": {"devices.kubevirt.io/kvm": kvm},
                },
            }
        )

    nodes = [node("b"), node("a"), node("down", ready="False"), node("cordoned", cordoned=True)]
    nodes.append(node("no-kvm", kvm="0"))
    assert migration_targets(nodes) == ["a", "b"]

"""Trimming keeps what the views read: every view property is the same on the full object and
on the trimmed one, for every object of the simulated cluster."""

from __future__ import annotations

import copy
import inspect

import pytest

from kvtui.cluster.trim import LAST_APPLIED, trim_generic, trim_pod, trim_vm, trimmer
from kvtui.cluster.views import Migration, Node, Pod, Vm, Vmi

VIEWS = {
    "/nodes": ("Node", Node),
    "/pods": ("Pod", Pod),
    "kubevirt.io/virtualmachines": ("VirtualMachine", Vm),
    "kubevirt.io/virtualmachineinstances": ("VirtualMachineInstance", Vmi),
    "kubevirt.io/virtualmachineinstancemigrations": ("VirtualMachineInstanceMigration", Migration),
}


# Properties that hand out raw sub-dicts, which trimming shrinks on purpose.
RAW_PARTS = {"metadata", "spec", "status", "annotations", "conditions", "migration_state"}
RAW_PARTS |= {"template_spec"}


def properties(view_type: type) -> list[str]:
    return [
        name
        for name, member in inspect.getmembers(view_type)
        if isinstance(member, property) and name not in RAW_PARTS
    ]


@pytest.mark.parametrize("store_key", list(VIEWS))
def test_views_read_the_same_from_trimmed_objects(sim, store_key):
    kind_name, view_type = VIEWS[store_key]
    objects = sim.call(lambda: copy.deepcopy(sim.simulator.store.list(store_key)))
    trim = trimmer(kind_name)
    names = properties(view_type)
    differ = set()
    for obj in objects:
        full, trimmed = view_type(obj), view_type(trim(copy.deepcopy(obj)))
        differ |= {n for n in names if getattr(trimmed, n) != getattr(full, n)}
        for type_ in ("Ready", "LiveMigratable", "PodScheduled"):
            if trimmed.condition(type_) is not None or kind_name != "Pod":
                assert trimmed.condition(type_) == _without_times(full.condition(type_))
    assert differ == set()


def _without_times(condition: dict | None) -> dict | None:
    if condition is None:
        return None
    return {k: v for k, v in condition.items() if k not in ("lastProbeTime", "lastHeartbeatTime")}


def test_pods_keep_ready_and_scheduled_and_every_condition_that_is_not_true():
    pod = {
        "metadata": {"name": "p", "managedFields": [{"manager": "kubelet"}]},
        "spec": {"containers": [{"name": "c", "command": ["x"], "env": [{"name": "A"}]}]},
        "status": {
            "conditions": [
                {"type": "Initialized", "status": "True"},
                {"type": "ContainersReady", "status": "False", "reason": "ContainersNotReady"},
                {"type": "Ready", "status": "True", "lastProbeTime": None},
                {"type": "PodScheduled", "status": "True"},
            ]
        },
    }
    trimmed = trim_pod(pod)
    assert [c["type"] for c in trimmed["status"]["conditions"]] == [
        "ContainersReady",
        "Ready",
        "PodScheduled",
    ]
    assert trimmed["spec"]["containers"] == [{"name": "c"}]
    assert "managedFields" not in trimmed["metadata"]


def test_finalizers_are_kept_only_while_deleting():
    meta = {
        "name": "vm",
        "namespace": "ns",
        "finalizers": ["kubevirt.io/virtualMachineControllerFinalize"],
    }
    assert "finalizers" not in trim_vm({"metadata": dict(meta)})["metadata"]
    deleting = {**meta, "deletionTimestamp": "2026-11-22T20:05:41Z"}
    assert trim_vm({"metadata": deleting})["metadata"]["finalizers"] == meta["finalizers"]


def test_repeated_small_dicts_are_shared_but_never_confused():
    def vm(cores) -> dict:
        return {"spec": {"template": {"spec": {"domain": {"cpu": {"cores": cores}}}}}}

    a, b = trim_vm(vm(2)), trim_vm(vm(2))
    cpu = lambda o: o["spec"]["template"]["spec"]["domain"]["cpu"]  # noqa: E731
    assert cpu(a) is cpu(b)
    assert cpu(trim_vm(vm(1))) == {"cores": 1}
    flag = trim_vm(vm(True))
    assert cpu(flag)["cores"] is True  # True == 1, yet it stays a bool


def test_other_kinds_lose_only_managed_fields_and_last_applied():
    obj = {
        "metadata": {
            "name": "kubevirt",
            "managedFields": [{"manager": "x"}],
            "annotations": {LAST_APPLIED: "{...}", "keep": "me"},
        },
        "spec": {"configuration": {"evictionStrategy": "LiveMigrate"}},
    }
    trimmed = trim_generic(obj)
    assert trimmed["metadata"] == {"name": "kubevirt", "annotations": {"keep": "me"}}
    assert trimmed["spec"] is obj["spec"]
    plain = {"metadata": {"name": "x"}}
    assert trim_generic(plain) is plain

"""Views read the fields the way KubeVirt and kubectl define them, and tolerate missing ones."""

from __future__ import annotations

from kvtui.cluster.views import Migration, Node, Pod, Vm, Vmi, byte_count, millicores


def node_dict(**over) -> dict:
    node = {
        "metadata": {
            "name": "kv-node-2",
            "creationTimestamp": "2026-11-22T20:05:41Z",
            "labels": {
                "node-role.kubernetes.io/worker": "",
                "kubevirt.io/schedulable": "true",
            },
            "annotations": {"kubevirt.io/heartbeat": "2026-11-22T20:05:43Z"},
        },
        "spec": {},
        "status": {
            "capacity": {"cpu": "16", "memory": "64Gi", "devices.kubevirt.io/kvm": "1k"},
            "allocatable": {"cpu": "15500m", "memory": "62Gi", "devices.kubevirt.io/kvm": "1k"},
            "conditions": [
                {"type": "MemoryPressure", "status": "False"},
                {"type": "Ready", "status": "True", "reason": "KubeletReady"},
            ],
            "addresses": [{"type": "InternalIP", "address": "10.10.0.11"}],
            "nodeInfo": {"kubeletVersion": "v1.31.4"},
        },
    }
    for key, value in over.items():
        node[key].update(value)
    return node


def vmi_dict(conditions=None, spec=None, status=None, annotations=None) -> dict:
    return {
        "metadata": {
            "name": "worker-1",
            "namespace": "cluster-x7k2mq9p4d",
            "creationTimestamp": "2026-11-22T20:05:41Z",
            "annotations": annotations or {},
            "ownerReferences": [{"kind": "VirtualMachine", "name": "worker-1", "controller": True}],
        },
        "spec": spec
        if spec is not None
        else {
            "domain": {"cpu": {"sockets": 2, "cores": 1, "threads": 1}, "memory": {"guest": "8Gi"}},
            "evictionStrategy": "LiveMigrate",
        },
        "status": {
            "phase": "Running",
            "nodeName": "kv-node-1",
            "interfaces": [{"name": "default", "ipAddress": "10.244.0.3"}],
            "conditions": conditions
            if conditions is not None
            else [
                {"type": "Ready", "status": "True"},
                {"type": "LiveMigratable", "status": "True"},
            ],
            **(status or {}),
        },
    }


def test_node_properties():
    node = Node(node_dict())
    assert node.name == "kv-node-2"
    assert node.key == ("", "kv-node-2")
    assert node.ready is True
    assert node.unschedulable is False
    assert node.roles == ["worker"]
    assert node.kvm_capacity == 1000
    assert node.kvm_allocatable == 1000
    assert node.schedulable_label == "true"
    assert node.kvm_capable is True
    assert node.cpu_allocatable_m == 15500
    assert node.memory_allocatable == 62 * 2**30
    assert node.kubelet_version == "v1.31.4"
    assert node.internal_ip == "10.10.0.11"
    assert node.heartbeat == "2026-11-22T20:05:43Z"
    assert node.condition("MemoryPressure") == {"type": "MemoryPressure", "status": "False"}
    assert node.condition("DiskPressure") is None
    assert node.taints == []


def test_node_not_kvm_capable_when_handler_says_unschedulable_or_no_devices():
    labels = {"kubevirt.io/schedulable": "false"}
    assert not Node(node_dict(metadata={"labels": labels})).kvm_capable
    no_kvm = node_dict()
    del no_kvm["status"]["allocatable"]["devices.kubevirt.io/kvm"]
    assert Node(no_kvm).kvm_allocatable == 0
    assert not Node(no_kvm).kvm_capable


def test_node_cordoned_not_ready_and_tainted():
    node = Node(
        node_dict(
            spec={
                "unschedulable": True,
                "taints": [{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}],
            },
            status={"conditions": [{"type": "Ready", "status": "Unknown"}]},
        )
    )
    assert node.unschedulable
    assert node.ready is None
    assert node.taints[0]["key"] == "node.kubernetes.io/unschedulable"


def test_empty_objects_read_as_defaults():
    for view in (Node({}), Vmi({}), Vm({}), Pod({}), Migration({})):
        assert view.name == "" and view.namespace == "" and view.labels == {}
        assert view.conditions == [] and view.created == ""
    assert Node({}).ready is None and Node({}).roles == [] and Node({}).kvm_allocatable == 0
    assert Vmi({}).live_migratable is None and Vmi({}).vcpus == 1 and Vmi({}).memory == 0
    assert Vmi({}).ip == "" and Vmi({}).not_migratable_reason == ""
    assert Vm({}).run_strategy == "Halted" and Vm({}).instancetype == ""
    assert Pod({}).requests_cpu_m == 0 and Pod({}).owner_kind == ""
    assert Migration({}).phase == "" and Migration({}).source_node == ""


def test_vmi_properties():
    vmi = Vmi(vmi_dict(annotations={"kubevirt.io/instancetype-name": "standard-2"}))
    assert vmi.key == ("cluster-x7k2mq9p4d", "worker-1")
    assert vmi.phase == "Running"
    assert vmi.node == "kv-node-1"
    assert vmi.ip == "10.244.0.3"
    assert vmi.ready
    assert vmi.live_migratable is True
    assert vmi.not_migratable_reason == ""
    assert vmi.vcpus == 2
    assert vmi.memory == 8 * 2**30
    assert vmi.instancetype == "standard-2"
    assert vmi.preference == ""
    assert vmi.owner_vm == "worker-1"
    assert vmi.eviction_strategy == "LiveMigrate"
    assert vmi.effective_eviction_strategy("None") == "LiveMigrate"


def test_vmi_not_migratable_reason():
    vmi = Vmi(
        vmi_dict(
            conditions=[
                {
                    "type": "LiveMigratable",
                    "status": "False",
                    "reason": "DisksNotLiveMigratable",
                    "message": "cannot migrate VMI: PVC rootdisk is not shared",
                }
            ]
        )
    )
    assert vmi.live_migratable is False
    assert vmi.not_migratable_reason == "DisksNotLiveMigratable"
    assert "not shared" in vmi.not_migratable_message


def test_vmi_cluster_default_eviction_strategy_applies_when_unset():
    vmi = Vmi(vmi_dict(spec={"domain": {}}))
    assert vmi.eviction_strategy is None
    assert vmi.effective_eviction_strategy("LiveMigrate") == "LiveMigrate"
    assert vmi.effective_eviction_strategy("") == "None"


def test_vmi_vcpus_from_current_topology_or_resources():
    assert Vmi(vmi_dict(status={"currentCPUTopology": {"sockets": 4, "cores": 2}})).vcpus == 8
    spec = {"domain": {"resources": {"requests": {"cpu": "1500m", "memory": "3Gi"}}}}
    vmi = Vmi(vmi_dict(spec=spec))
    assert vmi.vcpus == 2
    assert vmi.memory == 3 * 2**30


def test_vmi_migration_state_and_evacuation():
    vmi = Vmi(
        vmi_dict(
            status={
                "evacuationNodeName": "kv-node-1",
                "migrationState": {
                    "sourceNode": "kv-node-1",
                    "targetNode": "kv-node-3",
                    "startTimestamp": "2026-11-22T20:06:00Z",
                },
                "activePods": {"a": "kv-node-1", "b": "kv-node-3"},
            }
        )
    )
    assert vmi.evacuation_node == "kv-node-1"
    assert vmi.migrating
    assert vmi.migration_state["targetNode"] == "kv-node-3"
    assert len(vmi.active_pods) == 2
    vmi.raw["status"]["migrationState"]["completed"] = True
    assert not vmi.migrating


def test_vm_properties():
    vm = Vm(
        {
            "metadata": {"name": "w", "namespace": "cluster-a"},
            "spec": {
                "runStrategy": "Once",
                "instancetype": {"name": "standard-2", "kind": "VirtualMachineInstancetype"},
                "preference": {"name": "sockets-advantage"},
                "template": {"spec": {"evictionStrategy": "External"}},
            },
            "status": {"printableStatus": "Running", "ready": True, "created": True},
        }
    )
    assert vm.printable_status == "Running"
    assert vm.run_strategy == "Once"
    assert vm.instancetype == "standard-2"
    assert vm.instancetype_kind == "VirtualMachineInstancetype"
    assert vm.preference == "sockets-advantage"
    assert vm.ready and vm.created_vmi
    assert vm.vmi_key == ("cluster-a", "w")
    assert vm.eviction_strategy == "External"
    assert vm.vcpus is None and vm.memory is None  # from the instancetype


def test_vm_deprecated_running_and_template_resources():
    vm = Vm(
        {
            "spec": {
                "running": True,
                "template": {"spec": {"domain": {"cpu": {"cores": 4}, "memory": {"guest": "2Gi"}}}},
            }
        }
    )
    assert vm.run_strategy == "Always"
    assert vm.vcpus == 4
    assert vm.memory == 2 * 2**30


def test_pod_requests_follow_the_scheduler_rule():
    pod = Pod(
        {
            "metadata": {
                "name": "virt-launcher-w-abcde",
                "labels": {"kubevirt.io": "virt-launcher"},
                "annotations": {"kubevirt.io/domain": "w"},
                "ownerReferences": [
                    {"kind": "VirtualMachineInstance", "name": "w", "controller": True}
                ],
            },
            "spec": {
                "nodeName": "kv-node-1",
                "initContainers": [{"resources": {"requests": {"cpu": "2", "memory": "1Gi"}}}],
                "containers": [
                    {"resources": {"requests": {"cpu": "100m", "memory": "2378170368"}}},
                    {"resources": {"requests": {"cpu": "0.5"}}},
                ],
                "overhead": {"cpu": "10m"},
            },
            "status": {"phase": "Running"},
        }
    )
    assert pod.node == "kv-node-1"
    assert pod.requests_cpu_m == 2010  # the init container's 2 CPUs dominate, plus overhead
    assert pod.requests_memory == 2378170368
    assert pod.owner_kind == "VirtualMachineInstance" and pod.owner_name == "w"
    assert pod.virt_launcher and pod.vmi_name == "w"
    assert not pod.terminated
    pod.raw["status"]["phase"] = "Succeeded"
    assert pod.terminated


def test_migration_properties():
    vmim = Migration(
        {
            "metadata": {
                "name": "kubevirt-evacuation-7hx2k",
                "namespace": "cluster-xyz",
                "annotations": {"kubevirt.io/evacuationMigration": "node-2"},
            },
            "spec": {"vmiName": "w", "priority": "system-critical"},
            "status": {
                "phase": "Running",
                "phaseTransitionTimestamps": [
                    {"phase": "Pending", "phaseTransitionTimestamp": "2026-08-22T10:00:00Z"},
                    {"phase": "Running", "phaseTransitionTimestamp": "2026-08-22T10:00:11Z"},
                ],
                "migrationState": {
                    "sourceNode": "node-2",
                    "targetNode": "node-3",
                    "startTimestamp": "2026-08-22T10:00:11Z",
                },
            },
        }
    )
    assert vmim.vmi_name == "w" and vmim.vmi_key == ("cluster-xyz", "w")
    assert vmim.phase == "Running" and not vmim.final
    assert vmim.source_node == "node-2" and vmim.target_node == "node-3"
    assert vmim.started == "2026-08-22T10:00:11Z" and vmim.ended == ""
    assert vmim.evacuation and vmim.priority == "system-critical"
    assert vmim.phase_since("Pending") == "2026-08-22T10:00:00Z"
    assert vmim.phase_since("Succeeded") == ""


def test_quantities():
    assert millicores("15500m") == 15500
    assert millicores("16") == 16000
    assert millicores("0.1") == 100
    assert byte_count("62Gi") == 62 * 2**30
    assert byte_count("1k") == 1000
    assert byte_count("garbage") == 0
    assert millicores(None) == 0

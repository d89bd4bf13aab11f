"""The infra cluster's own objects: namespaces, nodes, KubeVirt and CDI, storage, templates.

Built from a scenario's resolved settings (plain dicts checked by `scenario.py`), in the shapes
kubelet, virt-operator, virt-handler's node-labeller and CDI give them (fact sheet §7).
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from kvtui.sim.model import DEVICE_PLUGIN_RESOURCES
from kvtui.sim.quantity import bytes_of, cpu_millis, format_bytes_binary

Obj = dict[str, Any]

SYSTEM_NAMESPACES = (
    "default",
    "kube-system",
    "kube-public",
    "kube-node-lease",
    "kubevirt",
    "cdi",
    "kubermatic",
    "monitoring",
)
_UUID_NS = uuid.UUID("6f1c6d1e-5a0b-4c55-9d1f-2b0f8f3c7a10")


def namespace_object(name: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


def _cpu_text(millis: int) -> str:
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


def node_object(node: dict[str, Any], infra: dict[str, Any], address: str, pod_cidr: str) -> Obj:
    """A bare-metal node; KVM nodes carry virt-handler's labels and device-plugin resources."""
    name = node["name"]
    labels = {
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/os": "linux",
        "kubernetes.io/hostname": name,
        "topology.kubernetes.io/region": infra["region"],
        "topology.kubernetes.io/zone": node["zone"],
    }
    labels.update({f"node-role.kubernetes.io/{role}": "" for role in node["roles"]})
    annotations = {
        "node.alpha.kubernetes.io/ttl": "0",
        "volumes.kubernetes.io/controller-managed-attach-detach": "true",
        "kubeadm.alpha.kubernetes.io/cri-socket": "unix:///run/containerd/containerd.sock",
    }
    reserved = node["reserved"]
    capacity = {
        "cpu": str(node["cpu"]),
        "memory": node["memory"],
        "ephemeral-storage": node["storage"],
        "pods": str(node["pods"]),
        "hugepages-1Gi": "0",
        "hugepages-2Mi": "0",
    }
    allocatable = {
        **capacity,
        "cpu": _cpu_text(cpu_millis(node["cpu"]) - cpu_millis(reserved["cpu"])),
        "memory": format_bytes_binary(bytes_of(node["memory"]) - bytes_of(reserved["memory"])),
        "ephemeral-storage": format_bytes_binary(
            bytes_of(node["storage"]) - bytes_of(reserved["storage"])
        ),
    }
    if node["kvm"]:
        model, vendor = node["cpuModel"], node["cpuVendor"]
        labels.update(
            {
                "kubevirt.io/schedulable": "true",
                "cpumanager": "false",
                "kubevirt.io/cpumanager": "false",
                "kubevirt.io/ksm-enabled": "false",
                f"cpu-model.node.kubevirt.io/{model}": "true",
                f"cpu-model-migration.node.kubevirt.io/{model}": "true",
                f"host-model-cpu.node.kubevirt.io/{model}": "true",
                f"cpu-vendor.node.kubevirt.io/{vendor}": "true",
                f"machine-type.node.kubevirt.io/{node['machineType']}": "true",
                "cpu-timer.node.kubevirt.io/tsc-frequency": "2593906000",
                "cpu-timer.node.kubevirt.io/tsc-scalable": "true",
            }
        )
        labels.update({f"cpu-feature.node.kubevirt.io/{f}": "true" for f in node["cpuFeatures"]})
        annotations["kubevirt.io/ksm-handler-managed"] = "false"
        for resource in DEVICE_PLUGIN_RESOURCES:
            capacity[resource] = allocatable[resource] = "1k"
    labels.update(node["labels"])
    annotations.update(node["annotations"])
    spec: Obj = {"podCIDR": pod_cidr, "podCIDRs": [pod_cidr]}
    if node["taints"]:
        spec["taints"] = copy.deepcopy(node["taints"])
    if node["unschedulable"]:
        spec["unschedulable"] = True
    ident = uuid.uuid5(_UUID_NS, name)
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels, "annotations": annotations},
        "spec": spec,
        "status": {
            "capacity": capacity,
            "allocatable": allocatable,
            "conditions": [
                {
                    "type": "MemoryPressure",
                    "status": "False",
                    "reason": "KubeletHasSufficientMemory",
                    "message": "kubelet has sufficient memory available",
                },
                {
                    "type": "DiskPressure",
                    "status": "False",
                    "reason": "KubeletHasNoDiskPressure",
                    "message": "kubelet has no disk pressure",
                },
                {
                    "type": "PIDPressure",
                    "status": "False",
                    "reason": "KubeletHasSufficientPID",
                    "message": "kubelet has sufficient PID available",
                },
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "kubelet is posting ready status",
                },
            ],
            "addresses": [
                {"type": "InternalIP", "address": address},
                {"type": "Hostname", "address": name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "architecture": "amd64",
                "bootID": str(uuid.uuid5(ident, "boot")),
                "containerRuntimeVersion": infra["containerRuntime"],
                "kernelVersion": infra["kernelVersion"],
                "kubeProxyVersion": infra["kubernetesVersion"],
                "kubeletVersion": infra["kubernetesVersion"],
                "machineID": ident.hex,
                "operatingSystem": "linux",
                "osImage": infra["osImage"],
                "systemUUID": str(uuid.uuid5(ident, "system")).upper(),
            },
        },
    }


def kubevirt_object(kv: dict[str, Any]) -> Obj:
    version = kv["version"]
    configuration = {
        "evictionStrategy": kv["evictionStrategy"],
        "developerConfiguration": {"featureGates": list(kv["featureGates"])},
        "migrations": dict(kv["migrations"]),
        **copy.deepcopy(kv["configuration"]),
    }
    spec: Obj = {
        "certificateRotateStrategy": {},
        "imagePullPolicy": "IfNotPresent",
        "monitorNamespace": kv["monitorNamespace"],
        "monitorAccount": kv["monitorAccount"],
        "workloadUpdateStrategy": {"workloadUpdateMethods": ["LiveMigrate"]},
        "customizeComponents": {},
        "configuration": configuration,
    }
    return {
        "apiVersion": "kubevirt.io/v1",
        "kind": "KubeVirt",
        "metadata": {"name": "kubevirt", "namespace": "kubevirt"},
        "spec": {key: value for key, value in spec.items() if value is not None},
        "status": {
            "phase": "Deployed",
            "operatorVersion": version,
            "observedKubeVirtVersion": version,
            "targetKubeVirtVersion": version,
            "observedKubeVirtRegistry": "quay.io/kubevirt",
            "targetKubeVirtRegistry": "quay.io/kubevirt",
            "defaultArchitecture": "amd64",
            "outdatedVirtualMachineInstanceWorkloads": 0,
            "conditions": [
                {
                    "type": "Available",
                    "status": "True",
                    "reason": "AllComponentsReady",
                    "message": "All components are ready.",
                },
                {
                    "type": "Progressing",
                    "status": "False",
                    "reason": "AllComponentsReady",
                    "message": "All components are ready.",
                },
                {
                    "type": "Degraded",
                    "status": "False",
                    "reason": "AllComponentsReady",
                    "message": "All components are ready.",
                },
            ],
        },
    }


def cdi_object(cdi: dict[str, Any]) -> Obj:
    version = cdi["version"]
    return {
        "apiVersion": "cdi.kubevirt.io/v1beta1",
        "kind": "CDI",
        "metadata": {"name": "cdi"},
        "spec": {
            "imagePullPolicy": "IfNotPresent",
            "infra": {"nodeSelector": {"kubernetes.io/os": "linux"}},
            "workload": {"nodeSelector": {"kubernetes.io/os": "linux"}},
            "config": {"featureGates": list(cdi["featureGates"]), **copy.deepcopy(cdi["config"])},
        },
        "status": {
            "phase": "Deployed",
            "operatorVersion": version,
            "observedVersion": version,
            "targetVersion": version,
            "conditions": [
                {
                    "type": "Available",
                    "status": "True",
                    "reason": "DeployCompleted",
                    "message": "Deployment Completed",
                },
                {"type": "Progressing", "status": "False", "reason": "DeployCompleted"},
                {"type": "Degraded", "status": "False"},
            ],
        },
    }


def storage_objects(sc: dict[str, Any]) -> list[Obj]:
    """A StorageClass and the CDI StorageProfile that says which access modes it offers."""
    annotations = {"storageclass.kubernetes.io/is-default-class": "true"} if sc["default"] else {}
    storage_class: Obj = {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": sc["name"], "annotations": annotations},
        "provisioner": sc["provisioner"],
        "parameters": dict(sc["parameters"]),
        "reclaimPolicy": sc["reclaimPolicy"],
        "volumeBindingMode": sc["volumeBindingMode"],
        "allowVolumeExpansion": sc["allowVolumeExpansion"],
    }
    if sc["allowedTopologies"]:
        storage_class["allowedTopologies"] = copy.deepcopy(sc["allowedTopologies"])
    snapshots = sc["provisioner"].endswith(".csi.ceph.com")
    profile = {
        "apiVersion": "cdi.kubevirt.io/v1beta1",
        "kind": "StorageProfile",
        "metadata": {
            "name": sc["name"],
            "labels": {
                "app": "containerized-data-importer",
                "app.kubernetes.io/component": "storage",
                "app.kubernetes.io/managed-by": "cdi-controller",
                "cdi.kubevirt.io": "",
            },
        },
        "spec": {},
        "status": {
            "provisioner": sc["provisioner"],
            "storageClass": sc["name"],
            "claimPropertySets": copy.deepcopy(sc["claimPropertySets"]),
            "cloneStrategy": "csi-clone" if snapshots else "copy",
            "dataImportCronSourceFormat": "snapshot" if snapshots else "pvc",
        },
    }
    return [storage_class, profile]


def cluster_instancetype(item: dict[str, Any]) -> Obj:
    return {
        "apiVersion": "instancetype.kubevirt.io/v1beta1",
        "kind": "VirtualMachineClusterInstancetype",
        "metadata": {"name": item["name"]},
        "spec": {
            "cpu": {"guest": item["cpu"]},
            "memory": {"guest": item["memory"]},
            **copy.deepcopy(item["spec"]),
        },
    }


def cluster_preference(item: dict[str, Any]) -> Obj:
    return {
        "apiVersion": "instancetype.kubevirt.io/v1beta1",
        "kind": "VirtualMachineClusterPreference",
        "metadata": {"name": item["name"]},
        "spec": copy.deepcopy(item["spec"]),
    }

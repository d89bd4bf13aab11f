"""The workloads KKP users run on the infra cluster: MachineDeployments, VMs, LoadBalancers.

A scenario states them compactly (the `*Spec` records); the builders expand them into the
MachineDeployment KKP's dashboard would write (§4.1/§4.2), a hand-made VirtualMachine, and the
infra Service the KubeVirt CCM keeps for a tenant LoadBalancer (§9.1).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from kvtui.sim.infra_addons import service_ip, stable_port
from kvtui.sim.kkp import MD_API, ClusterSpec, Datacenter, load_annotations, preset_affinity

Obj = dict[str, Any]


@dataclass
class MachineDeploymentSpec:
    """One MachineDeployment as a scenario states it; `eviction_strategy` None = DC default."""

    name: str
    replicas: int
    instancetype: dict[str, str] | None = None
    preference: dict[str, str] | None = None
    os: str = "ubuntu"
    os_version: str = ""
    disk: dict[str, str] = field(default_factory=dict)  # size, storageClass, accessType
    eviction_strategy: str | None = None
    affinity: dict[str, Any] | None = None  # nodeAffinityPreset {type, key, values}
    topology_spread: list[dict[str, Any]] = field(default_factory=list)
    dns_policy: str | None = None
    dns_config: dict[str, Any] | None = None
    cpus: str | None = None
    vcpus: int | None = None
    memory: str | None = None
    load: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    scale: bool = True  # whether a `vms=` override may change replicas


@dataclass
class StandaloneVmSpec:
    """A VirtualMachine created directly in an infra namespace, not by the machine-controller."""

    name: str
    cpu: int = 1
    memory: str = "2Gi"
    os: str = "ubuntu"
    os_version: str = ""
    disk: dict[str, str] = field(default_factory=dict)
    run_strategy: str = "Always"
    eviction_strategy: str | None = None
    affinity: dict[str, Any] | None = None
    load: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class LoadBalancerSpec:
    """An infra LoadBalancer the KubeVirt CCM made for a tenant Service (§9.1)."""

    tenant_namespace: str
    tenant_name: str
    uid: str
    selector: str = "current"  # current | legacy
    ip: str = ""
    ports: list[dict[str, Any]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return ("a" + self.uid.replace("-", ""))[:32]


# -- machine deployments, VMs, load balancers -------------------------------------------------
def machine_deployment(cluster: ClusterSpec, md: MachineDeploymentSpec, dc: Datacenter) -> Obj:
    """A KKP-style MachineDeployment (§4.1/§4.2), defaults taken from the datacenter."""
    kv = dc.kubevirt
    disk: Obj = {
        "osImage": dc.image_url(md.os, md.os_version),
        "size": md.disk.get("size") or "25Gi",
        "storageClassName": md.disk.get("storageClass") or dc.default_storage_class(),
        "source": "http",
    }
    if md.disk.get("accessType"):
        disk["storageAccessType"] = md.disk["accessType"]
    template: Obj = {"primaryDisk": disk}
    virtual_machine: Obj = {}
    if md.instancetype:
        virtual_machine["instancetype"] = dict(md.instancetype)
    else:
        if md.vcpus:
            template["vcpus"] = {"cores": md.vcpus}
        elif md.cpus:
            template["cpus"] = md.cpus
        template["memory"] = md.memory or "4Gi"
    if md.preference:
        virtual_machine["preference"] = dict(md.preference)
    virtual_machine["template"] = template
    virtual_machine["dnsPolicy"] = md.dns_policy or kv.get("dnsPolicy") or "ClusterFirst"
    dns_config = md.dns_config if md.dns_config is not None else kv.get("dnsConfig")
    if dns_config:
        virtual_machine["dnsConfig"] = copy.deepcopy(dns_config)
    virtual_machine["evictionStrategy"] = (
        kv.get("vmEvictionStrategy", "") if md.eviction_strategy is None else md.eviction_strategy
    )
    preset = md.affinity or {}
    provider_spec = {
        "clusterName": cluster.id,
        "projectID": cluster.project,
        "virtualMachine": virtual_machine,
        "affinity": {
            "nodeAffinityPreset": {
                "type": preset.get("type", ""),
                "key": preset.get("key", ""),
                "values": list(preset.get("values") or ()),
            }
        },
        "topologySpreadConstraints": [
            {
                "maxSkew": str(c.get("maxSkew", 1)),
                "topologyKey": c.get("topologyKey", ""),
                "whenUnsatisfiable": c.get("whenUnsatisfiable", "DoNotSchedule"),
            }
            for c in md.topology_spread
        ],
    }
    os_spec = (
        {"disableAutoUpdate": True, "provisioningUtility": "ignition"}
        if md.os == "flatcar"
        else {"distUpgradeOnBoot": False}
    )
    selector = {"machine": f"md-{cluster.id}-{md.name}"[:63]}
    return {
        "apiVersion": MD_API,
        "kind": "MachineDeployment",
        "metadata": {
            "name": md.name,
            # Simulation deviation: real MDs live in the user cluster's kube-system.
            "namespace": cluster.namespace,
            "annotations": {
                "k8c.io/operating-system-profile": f"osp-{md.os}",
                "machinedeployment.clusters.k8s.io/revision": "1",
            },
        },
        "spec": {
            "replicas": md.replicas,
            "selector": {"matchLabels": dict(selector)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
            },
            "minReadySeconds": 0,
            "revisionHistoryLimit": 1,
            "progressDeadlineSeconds": 600,
            "template": {
                "metadata": {
                    "labels": {**selector, **md.labels},
                    "annotations": load_annotations(md.load),
                },
                "spec": {
                    "metadata": {
                        "labels": {"system/cluster": cluster.id, "system/project": cluster.project}
                    },
                    "providerSpec": {
                        "value": {
                            "sshPublicKeys": [],
                            "cloudProvider": "kubevirt",
                            "cloudProviderSpec": provider_spec,
                            "operatingSystem": md.os,
                            "operatingSystemSpec": os_spec,
                        }
                    },
                    "versions": {"kubelet": cluster.version},
                },
            },
        },
    }


def standalone_vm(
    cluster: ClusterSpec, vm: StandaloneVmSpec, dc: Datacenter, access_mode: str
) -> Obj:
    """A VirtualMachine someone created by hand in a cluster's infra namespace."""
    labels = {"app": vm.name, "kubevirt.io/vm": vm.name, **vm.labels}
    disk_name = f"{vm.name}-rootdisk"
    spec: Obj = {
        "domain": {
            "cpu": {"cores": vm.cpu},
            "memory": {"guest": vm.memory},
            "resources": {"requests": {"memory": vm.memory}},
            "devices": {
                "disks": [
                    {"name": "rootdisk", "disk": {"bus": "virtio"}},
                    {"name": "cloudinitdisk", "disk": {"bus": "virtio"}},
                ],
                "interfaces": [{"name": "default", "masquerade": {}}],
            },
        },
        "networks": [{"name": "default", "pod": {}}],
        "terminationGracePeriodSeconds": 180,
        "volumes": [
            {"name": "rootdisk", "dataVolume": {"name": disk_name}},
            {
                "name": "cloudinitdisk",
                "cloudInitNoCloud": {"userData": f"#cloud-config\nhostname: {vm.name}\n"},
            },
        ],
    }
    if vm.eviction_strategy is not None:
        spec["evictionStrategy"] = vm.eviction_strategy
    affinity = preset_affinity(vm.affinity)
    if affinity:
        spec["affinity"] = affinity
    return {
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachine",
        "metadata": {"name": vm.name, "namespace": cluster.namespace, "labels": dict(labels)},
        "spec": {
            "runStrategy": vm.run_strategy,
            "dataVolumeTemplates": [
                {
                    "metadata": {"name": disk_name},
                    "spec": {
                        "source": {"http": {"url": dc.image_url(vm.os, vm.os_version)}},
                        "storage": {
                            "storageClassName": vm.disk.get("storageClass")
                            or dc.default_storage_class(),
                            "accessModes": [access_mode],
                            "resources": {"requests": {"storage": vm.disk.get("size") or "20Gi"}},
                        },
                    },
                }
            ],
            "template": {
                "metadata": {"labels": labels, "annotations": load_annotations(vm.load)},
                "spec": spec,
            },
        },
    }


def load_balancer_service(cluster: ClusterSpec, lb: LoadBalancerSpec) -> Obj:
    """The infra Service the KubeVirt CCM keeps for a tenant LoadBalancer (§9.1)."""
    if lb.selector == "legacy":  # cloud-provider-kubevirt < v0.3.0
        selector = {f"cloud.kubevirt.io/{lb.name}": lb.tenant_name}
    else:
        selector = {"cluster.x-k8s.io/role": "worker", "cluster.x-k8s.io/cluster-name": cluster.id}
    ports = [
        {
            "name": p.get("name", f"port-{p['port']}"),
            "protocol": p.get("protocol", "TCP"),
            "port": p["port"],
            "targetPort": p.get("nodePort", p["port"]),
            "nodePort": stable_port(f"{lb.uid}/{p['port']}"),
        }
        for p in lb.ports
    ]
    status = {"loadBalancer": {"ingress": [{"ip": lb.ip, "ipMode": "VIP"}]} if lb.ip else {}}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": lb.name,
            "namespace": cluster.namespace,
            "labels": {
                "cluster.x-k8s.io/tenant-service-name": lb.tenant_name,
                "cluster.x-k8s.io/tenant-service-namespace": lb.tenant_namespace,
                "cluster.x-k8s.io/cluster-name": cluster.id,
            },
        },
        "spec": {
            "type": "LoadBalancer",
            "selector": selector,
            "ports": ports,
            "clusterIP": service_ip(cluster.namespace, lb.name),
            "clusterIPs": [service_ip(cluster.namespace, lb.name)],
            "externalTrafficPolicy": "Cluster",
            "internalTrafficPolicy": "Cluster",
            "sessionAffinity": "None",
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "allocateLoadBalancerNodePorts": True,
        },
        "status": status,
    }

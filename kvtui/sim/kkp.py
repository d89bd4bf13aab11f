"""KKP's objects on a KubeVirt infra cluster, and the KKP conventions they follow.

Scenarios describe user clusters compactly (`ClusterSpec`); the builders here turn them into the
Seed, Cluster, infra namespace, default NetworkPolicies, standard instance types and
MachineDeployments KKP would have created (fact sheet §1 to §4). The simulated machine-controller
uses the same affinity and topology-spread rules.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kvtui.sim.infra_addons import stable_port
from kvtui.sim.infra_objects import namespace_object
from kvtui.sim.model import SIM_PREFIX

if TYPE_CHECKING:
    from kvtui.sim.kkp_workloads import (
        LoadBalancerSpec,
        MachineDeploymentSpec,
        StandaloneVmSpec,
    )

Obj = dict[str, Any]

KKP_NAMESPACE = "kubermatic"
NODE_LOCAL_DNS_ADDRESS = "169.254.20.10"  # KKP's NodeLocalDNSCacheAddress
PRIVATE_RANGES = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]
INSTANCETYPE_API = "instancetype.kubevirt.io/v1beta1"
MD_API = "cluster.k8s.io/v1alpha1"
# KKP's standard templates, reconciled into every infra namespace (§3).
STANDARD_INSTANCETYPES = {
    "standard-2": (2, "8Gi"),
    "standard-4": (4, "16Gi"),
    "standard-8": (8, "32Gi"),
}
STANDARD_PREFERENCES = {"sockets-advantage": {"cpu": {"preferredCPUTopology": "preferSockets"}}}
CLUSTER_FINALIZERS = [
    "kubermatic.k8c.io/cleanup-kubevirt-namespace",
    "kubermatic.k8c.io/cleanup-kubevirt-cloner-rbac",
]


@dataclass
class ClusterSpec:
    id: str
    name: str
    project: str
    version: str
    address: str = ""
    node_local_dns: bool = True
    machine_deployments: list[MachineDeploymentSpec] = field(default_factory=list)
    virtual_machines: list[StandaloneVmSpec] = field(default_factory=list)
    load_balancers: list[LoadBalancerSpec] = field(default_factory=list)

    @property
    def namespace(self) -> str:
        return infra_namespace(self.id)


@dataclass
class Datacenter:
    """The seed's one KubeVirt datacenter; `kubevirt` is DatacenterSpecKubevirt verbatim."""

    seed: str
    name: str
    kubevirt: dict[str, Any]
    country: str = ""
    location: str = ""

    def image_url(self, os: str, version: str = "") -> str:
        images = (
            ((self.kubevirt.get("images") or {}).get("http") or {}).get("operatingSystems") or {}
        ).get(os) or {}
        if version and version in images:
            return images[version]
        if not version and images:
            return next(iter(images.values()))
        return f"http://image-repo.kube-system.svc/images/{os}-{version or 'latest'}.img"

    def default_storage_class(self) -> str:
        classes = self.kubevirt.get("infraStorageClasses") or []
        chosen = next((c for c in classes if c.get("isDefaultClass")), None)
        chosen = chosen or (classes[0] if classes else None)
        return chosen["name"] if chosen else ""


def infra_namespace(cluster_id: str) -> str:
    return f"cluster-{cluster_id}"


def load_annotations(load: dict[str, str]) -> dict[str, str]:
    return {SIM_PREFIX + key: str(value) for key, value in load.items()}


# -- scheduling conventions (machine-controller getAffinity / getTopologySpreadConstraints) --
def preset_affinity(preset: dict[str, Any] | None) -> Obj:
    """nodeAffinityPreset → pod affinity: In with values, Exists without; `""` ⇒ `{}` (§4.4)."""
    preset = preset or {}
    kind = str(preset.get("type") or "").lower()
    if not kind:
        return {}
    values = [str(v) for v in preset.get("values") or ()]
    requirement: Obj = {"key": preset.get("key", ""), "operator": "In" if values else "Exists"}
    if values:
        requirement["values"] = values
    if kind == "hard":
        return {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [requirement]}]
                }
            }
        }
    if kind == "soft":
        return {
            "nodeAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 1, "preference": {"matchExpressions": [requirement]}}
                ]
            }
        }
    raise ValueError(f"unknown nodeAffinityPreset type {preset.get('type')!r}")


def topology_spread(constraints: list[dict[str, Any]] | None, md_name: str) -> list[Obj]:
    """The MD's constraints, each selecting `md: <md>`; one hostname default when none (§4.5)."""
    selector = {"matchLabels": {"md": md_name}}
    if not constraints:
        return [
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": selector,
            }
        ]
    return [
        {
            "maxSkew": int(c.get("maxSkew", 1)),
            "topologyKey": c.get("topologyKey", ""),
            "whenUnsatisfiable": c.get("whenUnsatisfiable", "DoNotSchedule"),
            "labelSelector": copy.deepcopy(selector),
        }
        for c in constraints
    ]


# -- seed and clusters ----------------------------------------------------------------------
def seed_object(dc: Datacenter, seed: dict[str, Any], cluster_count: int) -> Obj:
    return {
        "apiVersion": "kubermatic.k8c.io/v1",
        "kind": "Seed",
        "metadata": {"name": dc.seed, "namespace": KKP_NAMESPACE},
        "spec": {
            "country": seed.get("country", ""),
            "location": seed.get("location", ""),
            "kubeconfig": {"name": f"kubeconfig-{dc.seed}", "namespace": KKP_NAMESPACE},
            "exposeStrategy": "NodePort",
            "datacenters": {
                dc.name: {
                    "country": dc.country,
                    "location": dc.location,
                    "node": {},
                    "spec": {"kubevirt": copy.deepcopy(dc.kubevirt)},
                }
            },
        },
        "status": {
            "phase": "Healthy",
            "clusters": cluster_count,
            "versions": dict(seed.get("versions") or {}),
            "conditions": {
                "KubeconfigValid": {"status": "True", "reason": "KubeconfigValid"},
                "ResourcesReconciled": {"status": "True", "reason": "ReconcilingSuccess"},
            },
        },
    }


def cluster_object(cluster: ClusterSpec, dc: Datacenter) -> Obj:
    external = f"{cluster.id}.{dc.seed}.kkp.example.com"
    port = stable_port(cluster.id)
    health = dict.fromkeys(
        (
            "apiserver",
            "applicationController",
            "cloudProviderInfrastructure",
            "controller",
            "etcd",
            "machineController",
            "scheduler",
            "userClusterControllerManager",
        ),
        "HealthStatusUp",
    )
    storage = [
        {"name": c["name"], "isDefaultClass": bool(c.get("isDefaultClass"))}
        for c in dc.kubevirt.get("infraStorageClasses") or ()
    ]
    versions = dict.fromkeys(
        ("controlPlane", "apiserver", "controllerManager", "scheduler"), cluster.version
    )
    return {
        "apiVersion": "kubermatic.k8c.io/v1",
        "kind": "Cluster",
        "metadata": {
            "name": cluster.id,
            "labels": {"project-id": cluster.project},
            "finalizers": list(CLUSTER_FINALIZERS),
        },
        "spec": {
            "humanReadableName": cluster.name,
            "version": cluster.version,
            "cloud": {
                "dc": dc.name,
                "providerName": "kubevirt",
                "kubevirt": {
                    "credentialsReference": {
                        "name": f"credential-kubevirt-{cluster.id}",
                        "namespace": KKP_NAMESPACE,
                    },
                    "storageClasses": storage,
                },
            },
            "clusterNetwork": {
                "ipFamily": "IPv4",
                "pods": {"cidrBlocks": ["172.26.0.0/16"]},
                "services": {"cidrBlocks": ["10.241.0.0/20"]},
                "dnsDomain": "cluster.local",
                "proxyMode": "ipvs",
                "ipvs": {"strictArp": True},
                "nodeLocalDNSCacheEnabled": cluster.node_local_dns,
                "konnectivityEnabled": True,
            },
            "cniPlugin": {"type": "cilium", "version": "1.16.6"},
            "exposeStrategy": "NodePort",
            "containerRuntime": "containerd",
            "features": {
                "externalCloudProvider": True,
                "ccmClusterName": True,
                "apiserverNetworkPolicy": True,
                "kubeSystemNetworkPolicies": True,
            },
        },
        "status": {
            "namespaceName": cluster.namespace,
            "phase": "Running",
            "userEmail": "admin@example.com",
            "address": {
                "ip": cluster.address,
                "externalName": external,
                "port": port,
                "url": f"https://{external}:{port}",
                "internalURL": f"apiserver-external.{cluster.namespace}.svc.cluster.local.",
            },
            "versions": versions,
            "extendedHealth": health,
        },
    }


def credential_secret(cluster_id: str) -> Obj:
    """The KubeVirt credential KKP keeps for a cluster (a stub: the sim needs no real one)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": f"credential-kubevirt-{cluster_id}",
            "namespace": KKP_NAMESPACE,
            "labels": {"name": f"credential-kubevirt-{cluster_id}"},
        },
        "data": {"kubeConfig": "IyBzaW11bGF0ZWQgaW5mcmEga3ViZWNvbmZpZwo="},
    }


def network_policies(namespace: str, address_ip: str, dc_kubevirt: dict[str, Any]) -> list[Obj]:
    """`cluster-isolation` + `allow-kubevirt-importer` (§2.1) and the DC's custom ones (§2.3)."""
    out: list[Obj] = []
    namespaced = bool((dc_kubevirt.get("namespacedMode") or {}).get("enabled"))
    if dc_kubevirt.get("enableDefaultNetworkPolicies", True) is not False and not namespaced:
        egress: list[Obj] = [
            {"to": [{"podSelector": {}}]},
            {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": list(PRIVATE_RANGES)}}]},
            # KKP appends this rule even before the address is known: then it is empty ({}).
            {"to": [{"ipBlock": {"cidr": f"{address_ip}/32"}}]} if address_ip else {},
        ]
        for nameserver in (dc_kubevirt.get("dnsConfig") or {}).get("nameservers") or ():
            egress.append(
                {
                    "to": [{"ipBlock": {"cidr": f"{nameserver}/32"}}],
                    "ports": [{"protocol": "TCP", "port": 53}, {"protocol": "UDP", "port": 53}],
                }
            )
        out.append(
            _policy(
                "cluster-isolation",
                namespace,
                {"podSelector": {}, "policyTypes": ["Egress"], "egress": egress},
            )
        )
        out.append(
            _policy(
                "allow-kubevirt-importer",
                namespace,
                {
                    "podSelector": {
                        "matchLabels": {
                            "app": "containerized-data-importer",
                            "cdi.kubevirt.io": "importer",
                        }
                    },
                    "policyTypes": ["Egress"],
                    "egress": [
                        {
                            "to": [
                                {
                                    "namespaceSelector": {},
                                    "podSelector": {"matchLabels": {"app": "image-repo"}},
                                }
                            ]
                        }
                    ],
                },
            )
        )
    for custom in dc_kubevirt.get("customNetworkPolicies") or ():
        out.append(_policy(custom["name"], namespace, copy.deepcopy(custom.get("spec") or {})))
    return out


def _policy(name: str, namespace: str, spec: Obj) -> Obj:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def standard_templates(namespace: str, dc_kubevirt: dict[str, Any]) -> list[Obj]:
    """standard-2/4/8 and sockets-advantage as namespaced v1beta1 kinds, unless disabled (§3)."""
    out: list[Obj] = []
    if not dc_kubevirt.get("disableDefaultInstanceTypes"):
        for name, (cpus, memory) in STANDARD_INSTANCETYPES.items():
            out.append(
                {
                    "apiVersion": INSTANCETYPE_API,
                    "kind": "VirtualMachineInstancetype",
                    "metadata": {"name": name, "namespace": namespace},
                    "spec": {"cpu": {"guest": cpus}, "memory": {"guest": memory}},
                }
            )
    if not dc_kubevirt.get("disableDefaultPreferences"):
        for name, spec in STANDARD_PREFERENCES.items():
            out.append(
                {
                    "apiVersion": INSTANCETYPE_API,
                    "kind": "VirtualMachinePreference",
                    "metadata": {"name": name, "namespace": namespace},
                    "spec": copy.deepcopy(spec),
                }
            )
    return out


def cluster_infra_objects(cluster_id: str, address_ip: str, dc_kubevirt: dict) -> list[Obj]:
    """What KKP reconciles into a user cluster's infra namespace, the namespace first."""
    namespace = infra_namespace(cluster_id)
    return [
        namespace_object(namespace),
        *network_policies(namespace, address_ip, dc_kubevirt),
        *standard_templates(namespace, dc_kubevirt),
    ]

"""The API kinds kvtui reads, and how to spell their REST paths."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote


@dataclass(frozen=True)
class Kind:
    """One resource type: enough to build list, get, watch and subresource paths."""

    name: str  # the Kind, e.g. "VirtualMachineInstance"
    group: str  # "" for the core group
    version: str
    plural: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def base(self) -> str:
        """The group-version prefix: `/api/v1` or `/apis/{group}/{version}`."""
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"

    def path(
        self, namespace: str | None = None, name: str | None = None, subresource: str | None = None
    ) -> str:
        """The REST path; no namespace on a namespaced kind means across all namespaces."""
        parts = [self.base]
        if self.namespaced and namespace:
            parts.append(f"namespaces/{quote(namespace, safe='')}")
        parts.append(self.plural)
        if name is not None:
            parts.append(quote(name, safe=""))
            if subresource:
                parts.append(subresource)
        elif subresource:
            raise ValueError(f"a subresource of {self.plural} needs an object name")
        return "/".join(parts)

    def __str__(self) -> str:
        return self.plural if not self.group else f"{self.plural}.{self.group}"


NODES = Kind("Node", "", "v1", "nodes", False)
PODS = Kind("Pod", "", "v1", "pods", True)
EVENTS = Kind("Event", "", "v1", "events", True)
NAMESPACES = Kind("Namespace", "", "v1", "namespaces", False)
PVCS = Kind("PersistentVolumeClaim", "", "v1", "persistentvolumeclaims", True)
PDBS = Kind("PodDisruptionBudget", "policy", "v1", "poddisruptionbudgets", True)
STORAGE_CLASSES = Kind("StorageClass", "storage.k8s.io", "v1", "storageclasses", False)

VMS = Kind("VirtualMachine", "kubevirt.io", "v1", "virtualmachines", True)
VMIS = Kind("VirtualMachineInstance", "kubevirt.io", "v1", "virtualmachineinstances", True)
VMIMS = Kind(
    "VirtualMachineInstanceMigration",
    "kubevirt.io",
    "v1",
    "virtualmachineinstancemigrations",
    True,
)
KUBEVIRTS = Kind("KubeVirt", "kubevirt.io", "v1", "kubevirts", True)

_INSTANCETYPE = "instancetype.kubevirt.io"
INSTANCETYPES = Kind(
    "VirtualMachineInstancetype", _INSTANCETYPE, "v1beta1", "virtualmachineinstancetypes", True
)
CLUSTER_INSTANCETYPES = Kind(
    "VirtualMachineClusterInstancetype",
    _INSTANCETYPE,
    "v1beta1",
    "virtualmachineclusterinstancetypes",
    False,
)
PREFERENCES = Kind(
    "VirtualMachinePreference", _INSTANCETYPE, "v1beta1", "virtualmachinepreferences", True
)
CLUSTER_PREFERENCES = Kind(
    "VirtualMachineClusterPreference",
    _INSTANCETYPE,
    "v1beta1",
    "virtualmachineclusterpreferences",
    False,
)

CDIS = Kind("CDI", "cdi.kubevirt.io", "v1beta1", "cdis", False)
DATA_VOLUMES = Kind("DataVolume", "cdi.kubevirt.io", "v1beta1", "datavolumes", True)
STORAGE_PROFILES = Kind("StorageProfile", "cdi.kubevirt.io", "v1beta1", "storageprofiles", False)

# KKP's seed-side kinds (fact sheet §1.1): Seeds live in the `kubermatic` namespace, the user
# clusters' Cluster objects are cluster-scoped.
SEEDS = Kind("Seed", "kubermatic.k8c.io", "v1", "seeds", True)
CLUSTERS = Kind("Cluster", "kubermatic.k8c.io", "v1", "clusters", False)

# The subresource API KubeVirt serves for VM actions (start, stop, restart, migrate).
VM_SUBRESOURCES = Kind("VirtualMachine", "subresources.kubevirt.io", "v1", "virtualmachines", True)
VMI_SUBRESOURCES = Kind(
    "VirtualMachineInstance", "subresources.kubevirt.io", "v1", "virtualmachineinstances", True
)

ALL = (
    NODES,
    PODS,
    EVENTS,
    NAMESPACES,
    PVCS,
    PDBS,
    STORAGE_CLASSES,
    VMS,
    VMIS,
    VMIMS,
    KUBEVIRTS,
    INSTANCETYPES,
    CLUSTER_INSTANCETYPES,
    PREFERENCES,
    CLUSTER_PREFERENCES,
    CDIS,
    DATA_VOLUMES,
    STORAGE_PROFILES,
    SEEDS,
    CLUSTERS,
)

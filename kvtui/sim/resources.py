"""The kinds the simulated API server serves, as one table.

Discovery, routing, Table printing and validation all read this table, so adding a kind is one
entry here. Names, scopes, shortNames and printer columns follow the real API server and CRDs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class Column:
    """A printer column: `path` is a simple dotted JSON path (see `printing.py`)."""

    name: str
    path: str
    type: str = "string"
    priority: int = 0


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    columns: tuple[Column, ...] = ()
    categories: tuple[str, ...] = ()
    singular: str = ""
    list_kind: str = field(default="", compare=False)

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def api_version(self) -> str:
        return self.group_version

    @property
    def key(self) -> str:
        """Storage key: one collection per group and plural, whatever the version."""
        return f"{self.group}/{self.plural}"

    @property
    def singular_name(self) -> str:
        return self.singular or self.kind.lower()

    @property
    def list_kind_name(self) -> str:
        return self.list_kind or f"{self.kind}List"


def _r(
    group: str,
    version: str,
    plural: str,
    kind: str,
    namespaced: bool = True,
    short: tuple[str, ...] = (),
    sub: tuple[str, ...] = (),
    cols: tuple[Column, ...] = (),
    verbs: tuple[str, ...] = ALL_VERBS,
    categories: tuple[str, ...] = (),
) -> Resource:
    return Resource(group, version, plural, kind, namespaced, short, sub, verbs, cols, categories)


C = Column

RESOURCES: tuple[Resource, ...] = (
    # core/v1
    _r(
        "",
        "v1",
        "namespaces",
        "Namespace",
        False,
        ("ns",),
        ("status",),
        (C("Status", "status.phase"),),
    ),
    _r("", "v1", "nodes", "Node", False, ("no",), ("status", "proxy")),
    _r(
        "",
        "v1",
        "pods",
        "Pod",
        True,
        ("po",),
        ("status", "eviction", "proxy", "log"),
        categories=("all",),
    ),
    _r("", "v1", "services", "Service", True, ("svc",), ("status", "proxy"), categories=("all",)),
    _r("", "v1", "endpoints", "Endpoints", True, ("ep",)),
    _r(
        "",
        "v1",
        "events",
        "Event",
        True,
        ("ev",),
        cols=(
            C("Last Seen", "lastTimestamp", "date"),
            C("Type", "type"),
            C("Reason", "reason"),
            C("Object", "involvedObject.name"),
            C("Message", "message"),
        ),
    ),
    _r(
        "",
        "v1",
        "persistentvolumeclaims",
        "PersistentVolumeClaim",
        True,
        ("pvc",),
        ("status",),
        (
            C("Status", "status.phase"),
            C("Volume", "spec.volumeName"),
            C("Capacity", "status.capacity.storage"),
            C("StorageClass", "spec.storageClassName"),
        ),
    ),
    _r("", "v1", "configmaps", "ConfigMap", True, ("cm",)),
    _r("", "v1", "secrets", "Secret", True, (), (), (C("Type", "type"),)),
    _r("", "v1", "serviceaccounts", "ServiceAccount", True, ("sa",)),
    # apps/v1
    _r(
        "apps",
        "v1",
        "daemonsets",
        "DaemonSet",
        True,
        ("ds",),
        ("status",),
        (
            C("Desired", "status.desiredNumberScheduled", "integer"),
            C("Current", "status.currentNumberScheduled", "integer"),
            C("Ready", "status.numberReady", "integer"),
            C("Available", "status.numberAvailable", "integer"),
        ),
        categories=("all",),
    ),
    # policy/v1
    _r(
        "policy",
        "v1",
        "poddisruptionbudgets",
        "PodDisruptionBudget",
        True,
        ("pdb",),
        ("status",),
        (
            C("Min Available", "spec.minAvailable"),
            C("Max Unavailable", "spec.maxUnavailable"),
            C("Allowed Disruptions", "status.disruptionsAllowed", "integer"),
        ),
    ),
    # networking.k8s.io/v1
    _r(
        "networking.k8s.io",
        "v1",
        "networkpolicies",
        "NetworkPolicy",
        True,
        ("netpol",),
        (),
        (C("Pod-Selector", "spec.podSelector"),),
    ),
    # storage.k8s.io/v1
    _r(
        "storage.k8s.io",
        "v1",
        "storageclasses",
        "StorageClass",
        False,
        ("sc",),
        (),
        (
            C("Provisioner", "provisioner"),
            C("ReclaimPolicy", "reclaimPolicy"),
            C("VolumeBindingMode", "volumeBindingMode"),
            C("AllowVolumeExpansion", "allowVolumeExpansion", "boolean"),
        ),
    ),
    # coordination.k8s.io/v1 (kubectl describe node reads the node's Lease)
    _r("coordination.k8s.io", "v1", "leases", "Lease", True),
    # kubevirt.io/v1
    _r(
        "kubevirt.io",
        "v1",
        "kubevirts",
        "KubeVirt",
        True,
        ("kv", "kvs"),
        ("status",),
        (C("Phase", "status.phase"),),
        categories=("all",),
    ),
    _r(
        "kubevirt.io",
        "v1",
        "virtualmachines",
        "VirtualMachine",
        True,
        ("vm", "vms"),
        ("status",),
        (C("Status", "status.printableStatus"), C("Ready", "status.ready", "boolean")),
        categories=("all",),
    ),
    _r(
        "kubevirt.io",
        "v1",
        "virtualmachineinstances",
        "VirtualMachineInstance",
        True,
        ("vmi", "vmis"),
        ("status",),
        (
            C("Phase", "status.phase"),
            C("IP", "status.interfaces.0.ipAddress"),
            C("NodeName", "status.nodeName"),
            C("Ready", "status.conditions[Ready]", "boolean"),
            C("Live-Migratable", "status.conditions[LiveMigratable]", "boolean", 1),
            C("Paused", "status.conditions[Paused]", "boolean", 1),
        ),
        categories=("all",),
    ),
    _r(
        "kubevirt.io",
        "v1",
        "virtualmachineinstancemigrations",
        "VirtualMachineInstanceMigration",
        True,
        ("vmim", "vmims"),
        ("status",),
        (C("Phase", "status.phase"), C("VMI", "spec.vmiName")),
        categories=("all",),
    ),
    # instancetype.kubevirt.io/v1beta1
    _r(
        "instancetype.kubevirt.io",
        "v1beta1",
        "virtualmachineinstancetypes",
        "VirtualMachineInstancetype",
        True,
        ("vminstancetype", "vminstancetypes", "vmf", "vmfs"),
    ),
    _r(
        "instancetype.kubevirt.io",
        "v1beta1",
        "virtualmachineclusterinstancetypes",
        "VirtualMachineClusterInstancetype",
        False,
        ("vmclusterinstancetype", "vmclusterinstancetypes", "vmcf", "vmcfs"),
    ),
    _r(
        "instancetype.kubevirt.io",
        "v1beta1",
        "virtualmachinepreferences",
        "VirtualMachinePreference",
        True,
        ("vmpref", "vmprefs", "vmp", "vmps"),
    ),
    _r(
        "instancetype.kubevirt.io",
        "v1beta1",
        "virtualmachineclusterpreferences",
        "VirtualMachineClusterPreference",
        False,
        ("vmcp", "vmcps"),
    ),
    # cdi.kubevirt.io/v1beta1
    _r(
        "cdi.kubevirt.io",
        "v1beta1",
        "cdis",
        "CDI",
        False,
        ("cdi", "cdis"),
        ("status",),
        (C("Phase", "status.phase"),),
    ),
    _r(
        "cdi.kubevirt.io",
        "v1beta1",
        "datavolumes",
        "DataVolume",
        True,
        ("dv", "dvs"),
        ("status",),
        (
            C("Phase", "status.phase"),
            C("Progress", "status.progress"),
            C("Restarts", "status.restartCount", "integer"),
        ),
        categories=("all",),
    ),
    _r("cdi.kubevirt.io", "v1beta1", "storageprofiles", "StorageProfile", False, (), ("status",)),
    # kubermatic.k8c.io/v1 (the KKP seed side, served by the same endpoint in the simulation)
    _r(
        "kubermatic.k8c.io",
        "v1",
        "seeds",
        "Seed",
        True,
        (),
        ("status",),
        (
            C("Clusters", "status.clusters", "integer"),
            C("Location", "spec.location"),
            C("KKP Version", "status.versions.kubermatic"),
            C("Cluster Version", "status.versions.cluster"),
            C("Phase", "status.phase"),
        ),
    ),
    _r(
        "kubermatic.k8c.io",
        "v1",
        "clusters",
        "Cluster",
        False,
        (),
        ("status",),
        (
            C("HumanReadableName", "spec.humanReadableName"),
            C("Version", "spec.version"),
            C("Provider", "spec.cloud.providerName"),
            C("Datacenter", "spec.cloud.dc"),
            C("Phase", "status.phase"),
        ),
    ),
    # cluster.k8s.io/v1alpha1 (machine-controller, user-cluster side)
    _r(
        "cluster.k8s.io",
        "v1alpha1",
        "machinedeployments",
        "MachineDeployment",
        True,
        ("md",),
        ("status", "scale"),
        (
            C("Replicas", "spec.replicas", "integer"),
            C("Available-Replicas", "status.availableReplicas", "integer"),
            C("Provider", "spec.template.spec.providerSpec.value.cloudProvider"),
            C("OS", "spec.template.spec.providerSpec.value.operatingSystem"),
            C("Kubelet", "spec.template.spec.versions.kubelet"),
        ),
    ),
    _r(
        "cluster.k8s.io",
        "v1alpha1",
        "machines",
        "Machine",
        True,
        ("ma",),
        ("status",),
        (
            C("Provider", "spec.providerSpec.value.cloudProvider"),
            C("OS", "spec.providerSpec.value.operatingSystem"),
            C("Node", "status.nodeRef.name"),
            C("Kubelet", "spec.versions.kubelet"),
        ),
    ),
    # monitoring.coreos.com/v1 (prometheus-operator; virt-operator creates KubeVirt's
    # ServiceMonitor when the KubeVirt CR names a monitorNamespace)
    _r(
        "monitoring.coreos.com",
        "v1",
        "servicemonitors",
        "ServiceMonitor",
        True,
        ("smon",),
        categories=("prometheus-operator",),
    ),
    _r(
        "monitoring.coreos.com",
        "v1",
        "prometheuses",
        "Prometheus",
        True,
        ("prom",),
        ("status",),
        (
            C("Version", "spec.version"),
            C("Desired", "spec.replicas", "integer"),
            C("Ready", "status.availableReplicas", "integer"),
        ),
        categories=("prometheus-operator",),
    ),
)

# Subresource-only groups: no storage, served by handlers (see server.py).
SUBRESOURCE_GROUPS = {
    "subresources.kubevirt.io": ("v1",),
}


class Registry:
    """Lookups over RESOURCES by path segments, kind and short name."""

    def __init__(self, resources: tuple[Resource, ...] = RESOURCES) -> None:
        self.resources = resources
        self._by_path = {(r.group, r.version, r.plural): r for r in resources}
        self._by_key = {r.key: r for r in resources}
        self._by_kind = {(r.group, r.kind): r for r in resources}

    def by_path(self, group: str, version: str, plural: str) -> Resource | None:
        return self._by_path.get((group, version, plural))

    def by_key(self, key: str) -> Resource:
        return self._by_key[key]

    def by_kind(self, group: str, kind: str) -> Resource | None:
        return self._by_kind.get((group, kind))

    def group_versions(self) -> dict[str, list[str]]:
        """Named groups (not core) with their served versions, in registry order."""
        out: dict[str, list[str]] = {}
        for r in self.resources:
            if r.group and r.version not in out.setdefault(r.group, []):
                out[r.group].append(r.version)
        for group, versions in SUBRESOURCE_GROUPS.items():
            out.setdefault(group, list(versions))
        return out

    def in_group_version(self, group: str, version: str) -> list[Resource]:
        return [r for r in self.resources if r.group == group and r.version == version]


REGISTRY = Registry()

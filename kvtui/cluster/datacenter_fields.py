"""KKP's `DatacenterSpecKubevirt` as data: every field, its type, enum, default and help.

One schema serves the validator (types, enums, required and unknown keys) and the editor form
(which is generated from it), so the two cannot disagree. Field names, types, enums and defaults
follow the fact sheet §1.4 (KKP `sdk/apis/kubermatic/v1/datacenter.go`, `main` 2026-08).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kvtui.cluster.schema import FieldSpec

# §1.4 dnsPolicy: the pod DNS policies; CRD default ClusterFirst.
DNS_POLICIES = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")
DEFAULT_DNS_POLICY = "ClusterFirst"
# §5.4: KubeVirt's EvictionStrategy values; §1.4: empty means External, and machine-controller
# supports only External and LiveMigrate.
EVICTION_STRATEGIES = ("None", "LiveMigrate", "LiveMigrateIfPossible", "External")
SUPPORTED_EVICTION_STRATEGIES = ("External", "LiveMigrate")
DEFAULT_EVICTION_STRATEGY = "External"
# §1.4 images: KKP's SupportedKubeVirtOS, checked by the seed webhook (§1.1).
SUPPORTED_OS = ("ubuntu", "rhel", "flatcar", "rockylinux")
# §1.4 KubeVirtInfraStorageClass.
VOLUME_BINDING_MODES = ("Immediate", "WaitForFirstConsumer")
VOLUME_PROVISIONERS = ("kubevirt-csi-driver", "infra-csi-driver", "")
# reclaimPolicy: §1.4 gives only the default (Delete); the values are StorageClass's own.
RECLAIM_POLICIES = ("Delete", "Retain")
# §1.4 KubeVirtInfraVolumeSnapshotClass.deletionPolicy (VolumeSnapshotClass's own enum).
DELETION_POLICIES = ("Delete", "Retain")
# §1.4 ProviderNetwork.networkPolicy.mode; CRD default allow.
NETWORK_POLICY_MODES = ("allow", "deny")
# §2.1: the policies KKP itself reconciles into every cluster-<id> namespace.
DEFAULT_POLICY_NAMES = ("cluster-isolation", "allow-kubevirt-importer")
NODE_LOCAL_DNS_ADDRESS = "169.254.20.10"  # KKP's NodeLocalDNSCacheAddress (§10, guide FAQ)
NETWORK_POLICY_SPEC = "NetworkPolicySpec"  # a `format` checked by netpol_spec, not this schema


def _str(name: str, help: str = "", **kw: Any) -> FieldSpec:
    return FieldSpec(name, "str", help, **kw)


def _strings(name: str, help: str, item_format: str = "", **kw: Any) -> FieldSpec:
    return FieldSpec(name, "list", help, item=FieldSpec("", "str", format=item_format), **kw)


_LABELS = FieldSpec(
    "labels",
    "map",
    "Labels of the tenant StorageClass.",
    item=FieldSpec("", "str", format="label-value"),
    key_format="label-key",
)
_ZONES = _strings("zones", "Zones the storage serves (matched when matchSubnetAndStorageLocation).")
_REGIONS = _strings("regions", "Regions the storage serves.")

FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec(
        "namespacedMode",
        "object",
        "One infra namespace for all user clusters of the datacenter. Experimental: the docs "
        "advise against production use.",
        fields=(
            FieldSpec("enabled", "bool", "Put every user cluster into one namespace.", False),
            _str(
                "name",
                "The shared infra namespace.",
                default="kubevirt-workload",
                format="dns-label",
            ),
        ),
        since="v2.26",
    ),
    FieldSpec(
        "dnsPolicy",
        "enum",
        "DNS policy of the VMs (copied into MachineDeployments that set none). With ClusterFirst "
        "VMs inherit the pod DNS; None with dnsConfig.nameservers avoids the NodeLocal DNS "
        "collision.",
        DEFAULT_DNS_POLICY,
        enum=DNS_POLICIES,
    ),
    FieldSpec(
        "dnsConfig",
        "object",
        "DNS settings of the VMs (a PodDNSConfig). The nameservers also open DNS egress in the "
        "cluster-isolation NetworkPolicy.",
        fields=(
            _strings("nameservers", "Up to 3 DNS server IP addresses.", "ip"),
            _strings("searches", "DNS search domains.", "search-domain"),
            FieldSpec(
                "options",
                "list",
                "Resolver options such as ndots.",
                item=FieldSpec(
                    "",
                    "object",
                    fields=(_str("name", "Option name.", required=True), _str("value", "Value.")),
                ),
            ),
        ),
    ),
    FieldSpec(
        "enableDefaultNetworkPolicies",
        "bool",
        "Deploy cluster-isolation and allow-kubevirt-importer into each cluster's infra "
        "namespace (not in namespacedMode).",
        True,
    ),
    FieldSpec(
        "enableDedicatedCpus",
        "bool",
        "Deprecated: give VMs CPUs through pod resources.",
        False,
        since="v2.27",
        deprecated="usePodResourcesCPU",
    ),
    FieldSpec(
        "usePodResourcesCPU",
        "bool",
        "Request VM CPUs through the pod's resources instead of KubeVirt's domain CPU.",
        False,
        since="v2.28",
    ),
    FieldSpec(
        "customNetworkPolicies",
        "list",
        "Extra NetworkPolicies created in every user cluster's infra namespace, next to the "
        "defaults. They affect all user clusters.",
        item=FieldSpec(
            "",
            "object",
            fields=(
                _str("name", "NetworkPolicy name.", required=True, format="dns-subdomain"),
                FieldSpec(
                    "spec",
                    "object",
                    "A networking.k8s.io/v1 NetworkPolicySpec, applied verbatim.",
                    required=True,
                    format=NETWORK_POLICY_SPEC,
                ),
            ),
        ),
    ),
    FieldSpec(
        "images",
        "object",
        "VM images offered in the dashboard, by operating system and version.",
        fields=(
            FieldSpec(
                "http",
                "object",
                "Images downloaded over HTTP by CDI.",
                fields=(
                    FieldSpec(
                        "operatingSystems",
                        "map",
                        "Operating system → version → image URL.",
                        enum=SUPPORTED_OS,
                        required=True,
                        item=FieldSpec(
                            "",
                            "map",
                            "Version → image URL.",
                            item=FieldSpec("", "str", format="url"),
                        ),
                    ),
                ),
            ),
        ),
    ),
    FieldSpec(
        "infraStorageClasses",
        "list",
        "Infra StorageClasses offered to user clusters (as kubevirt-<name>) and for VM disks.",
        item=FieldSpec(
            "",
            "object",
            fields=(
                _str("name", "Infra StorageClass name.", required=True, format="dns-subdomain"),
                FieldSpec("isDefaultClass", "bool", "The tenant's default StorageClass.", False),
                FieldSpec(
                    "volumeBindingMode",
                    "enum",
                    "Binding mode of the tenant StorageClass.",
                    "Immediate",
                    enum=VOLUME_BINDING_MODES,
                ),
                _LABELS,
                _ZONES,
                _REGIONS,
                FieldSpec(
                    "volumeProvisioner",
                    "enum",
                    "Empty: VM disks and tenant volumes; kubevirt-csi-driver: tenant volumes only; "
                    "infra-csi-driver: VM disks only.",
                    "",
                    enum=VOLUME_PROVISIONERS,
                ),
                FieldSpec(
                    "reclaimPolicy",
                    "enum",
                    "Reclaim policy of the tenant StorageClass.",
                    "Delete",
                    enum=RECLAIM_POLICIES,
                    since="v2.30",
                ),
                FieldSpec(
                    "allowVolumeExpansion",
                    "bool",
                    "Let tenants grow volumes.",
                    False,
                    since="v2.30",
                ),
            ),
        ),
    ),
    FieldSpec(
        "infraVolumeSnapshotClasses",
        "list",
        "Infra VolumeSnapshotClasses offered to user clusters.",
        item=FieldSpec(
            "",
            "object",
            fields=(
                _str(
                    "infraVolumeSnapshotClass",
                    "Infra VolumeSnapshotClass name.",
                    required=True,
                    format="dns-subdomain",
                ),
                FieldSpec("isDefaultClass", "bool", "The tenant's default snapshot class."),
                FieldSpec(
                    "deletionPolicy",
                    "enum",
                    "Deletion policy of the tenant class.",
                    "Delete",
                    enum=DELETION_POLICIES,
                ),
            ),
        ),
        since="v2.30",
    ),
    FieldSpec(
        "providerNetwork",
        "object",
        "kube-ovn VPCs and subnets user clusters can choose.",
        fields=(
            _str("name", "Provider network name.", required=True),
            FieldSpec(
                "vpcs",
                "list",
                "VPCs of the provider network.",
                item=FieldSpec(
                    "",
                    "object",
                    fields=(
                        _str("name", "VPC name.", required=True),
                        FieldSpec(
                            "subnets",
                            "list",
                            "Subnets of the VPC.",
                            item=FieldSpec(
                                "",
                                "object",
                                fields=(
                                    _str("name", "Subnet name.", required=True),
                                    _ZONES,
                                    _REGIONS,
                                    _str("cidr", "Subnet CIDR.", format="cidr"),
                                ),
                            ),
                        ),
                    ),
                ),
            ),
            FieldSpec(
                "networkPolicyEnabled",
                "bool",
                "Deprecated: use networkPolicy.enabled.",
                False,
                deprecated="networkPolicy.enabled",
            ),
            FieldSpec(
                "networkPolicy",
                "object",
                "Per-cluster isolation policy in namespacedMode (EE).",
                fields=(
                    FieldSpec("enabled", "bool", "Create the isolation policy.", False),
                    FieldSpec(
                        "mode",
                        "enum",
                        "allow: egress to the internet; deny: only the cluster itself.",
                        "allow",
                        enum=NETWORK_POLICY_MODES,
                    ),
                ),
            ),
        ),
        since="v2.26",
    ),
    FieldSpec(
        "ccmZoneAndRegionEnabled",
        "bool",
        "KubeVirt CCM sets zone and region on nodes; disable when KKP's infra kubeconfig cannot "
        "read cluster-scoped objects such as Nodes.",
        True,
        since="v2.26",
    ),
    FieldSpec(
        "ccmLoadBalancerEnabled",
        "bool",
        "KubeVirt CCM serves LoadBalancer Services of user clusters.",
        True,
        since="v2.27",
    ),
    FieldSpec(
        "vmEvictionStrategy",
        "enum",
        "What happens to a VM when its infra node drains; empty means External. Only External "
        "and LiveMigrate are supported by machine-controller.",
        "",
        enum=("", *EVICTION_STRATEGIES),
        since="v2.27",
    ),
    FieldSpec(
        "csiDriverOperator",
        "object",
        "Settings of the KubeVirt CSI driver operator in user clusters.",
        fields=(
            _str(
                "overwriteRegistry",
                "Registry to pull the CSI driver images from.",
                format="registry",
            ),
        ),
        since="v2.27",
    ),
    FieldSpec(
        "matchSubnetAndStorageLocation",
        "bool",
        "Reject MachineDeployments whose subnet and storage class zones/regions differ.",
        False,
        since="v2.27",
    ),
    FieldSpec(
        "disableDefaultInstanceTypes",
        "bool",
        "Do not reconcile KKP's standard-2/4/8 instance types.",
        False,
        since="v2.28",
    ),
    FieldSpec(
        "disableDefaultPreferences",
        "bool",
        "Do not reconcile KKP's sockets-advantage preference.",
        False,
        since="v2.28",
    ),
    FieldSpec(
        "nodeDefaults",
        "object",
        "Defaults for MachineDeployments that leave these out (cpus and memory only without an "
        "instancetype).",
        fields=(
            _str("cpus", 'vCPUs, e.g. "2".', format="quantity"),
            _str("memory", "Memory, e.g. 4Gi.", format="quantity"),
            _str("primaryDiskSize", "Primary disk size, e.g. 25Gi.", format="quantity"),
        ),
        since="v2.31",
    ),
)

# The top level as an object spec, so the validator walks it like any other object.
KUBEVIRT = FieldSpec("kubevirt", "object", "DatacenterSpecKubevirt", fields=FIELDS)


def field(name: str) -> FieldSpec:
    """The top-level field of that name; KeyError for one KKP does not know."""
    spec = KUBEVIRT.field(name)
    if spec is None:
        raise KeyError(name)
    return spec


def effective(block: Mapping[str, Any], name: str) -> Any:
    """A top-level field's value, or what KKP takes when it is unset (null counts as unset)."""
    value = block.get(name)
    return field(name).default if value is None else value

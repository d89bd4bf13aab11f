"""The datacenter validator over valid and invalid examples of every DatacenterSpecKubevirt field.

Each invalid example names the path the finding must point at, so a message that lands on the
wrong field fails as surely as a missing one. The parsers underneath get property tests.
"""

from __future__ import annotations

import contextlib
import copy
import ipaddress
from decimal import Decimal
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from kubernetes.utils.quantity import parse_quantity as client_parse_quantity

from kvtui.cluster import formats
from kvtui.cluster.datacenter_fields import FIELDS
from kvtui.cluster.datacenter_validation import (
    Finding,
    errors,
    parse_block,
    validate,
    validate_text,
    warnings,
)
from kvtui.cluster.findings import join, split
from kvtui.sim.scenario_parts import DC_KUBEVIRT_KEYS

URL = "http://image-repo.kube-system.svc/images/ubuntu-22.04.img"
# Every field set, each to something KKP accepts; dnsPolicy None keeps the DNS warning away.
VALID: dict[str, Any] = {
    "namespacedMode": {"enabled": False, "name": "kubevirt-workload"},
    "dnsPolicy": "None",
    "dnsConfig": {
        "nameservers": ["8.8.8.8", "2001:4860:4860::8888"],
        "searches": ["svc.example.com", "example.com."],
        "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}],
    },
    "enableDefaultNetworkPolicies": True,
    "enableDedicatedCpus": False,
    "usePodResourcesCPU": True,
    "customNetworkPolicies": [
        {
            "name": "allow-external-traffic",
            "spec": {
                "podSelector": {},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [
                    {
                        "from": [
                            {"ipBlock": {"cidr": "10.200.10.0/24", "except": ["10.200.10.0/28"]}},
                            {
                                "namespaceSelector": {"matchLabels": {"team": "infra"}},
                                "podSelector": {
                                    "matchExpressions": [
                                        {"key": "app", "operator": "In", "values": ["lb"]},
                                        {"key": "kubernetes.io/os", "operator": "Exists"},
                                    ]
                                },
                            },
                        ],
                        "ports": [{"protocol": "TCP", "port": 443}, {"port": "https"}],
                    }
                ],
                "egress": [
                    {
                        "to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}],
                        "ports": [{"protocol": "UDP", "port": 30000, "endPort": 32767}],
                    }
                ],
            },
        }
    ],
    "images": {
        "http": {
            "operatingSystems": {
                "ubuntu": {"22.04": URL, "24.04": "https://images.example.com/ubuntu-24.04.img"},
                "rhel": {"9.4": "http://10.0.0.5:8080/rhel-9.4.qcow2"},
                "flatcar": {"4081.2.1": "http://image-repo/flatcar.img"},
                "rockylinux": {"9": "http://image-repo/rocky-9.img"},
            }
        }
    },
    "infraStorageClasses": [
        {
            "name": "rook-ceph-block",
            "isDefaultClass": True,
            "volumeBindingMode": "Immediate",
            "labels": {"tier": "fast", "example.com/zone": ""},
            "zones": ["zone-a"],
            "regions": ["eu"],
            "volumeProvisioner": "",
            "reclaimPolicy": "Delete",
            "allowVolumeExpansion": True,
        },
        {"name": "ceph-fs", "isDefaultClass": False, "volumeProvisioner": "kubevirt-csi-driver"},
    ],
    "infraVolumeSnapshotClasses": [
        {
            "infraVolumeSnapshotClass": "csi-rbdplugin-snapclass",
            "isDefaultClass": True,
            "deletionPolicy": "Retain",
        }
    ],
    "providerNetwork": {
        "name": "kube-ovn",
        "vpcs": [
            {
                "name": "ovn-cluster",
                "subnets": [
                    {
                        "name": "ovn-default",
                        "zones": ["zone-a"],
                        "regions": ["eu"],
                        "cidr": "10.16.0.0/16",
                    }
                ],
            }
        ],
        "networkPolicy": {"enabled": False, "mode": "allow"},
    },
    "ccmZoneAndRegionEnabled": False,
    "ccmLoadBalancerEnabled": True,
    "vmEvictionStrategy": "LiveMigrate",
    "csiDriverOperator": {"overwriteRegistry": "registry.example.com/mirror"},
    "matchSubnetAndStorageLocation": True,
    "disableDefaultInstanceTypes": True,
    "disableDefaultPreferences": False,
    "nodeDefaults": {"cpus": "2", "memory": "4Gi", "primaryDiskSize": "25Gi"},
}

INFRA_CLASSES = [
    {
        "metadata": {"name": "rook-ceph-block"},
        "provisioner": "rook-ceph.rbd.csi.ceph.com",
        "volumeBindingMode": "Immediate",
        "claimPropertySets": [
            {"accessModes": ["ReadWriteMany"], "volumeMode": "Block"},
            {"accessModes": ["ReadWriteOnce"], "volumeMode": "Filesystem"},
        ],
    },
    {"metadata": {"name": "ceph-fs"}, "provisioner": "cephfs.csi.ceph.com"},
    {
        "metadata": {"name": "local-path"},
        "provisioner": "rancher.io/local-path",
        "volumeBindingMode": "WaitForFirstConsumer",
    },
    {
        "metadata": {"name": "zonal"},
        "provisioner": "pd.csi.example.com",
        "allowedTopologies": [{"matchLabelExpressions": [{"key": "zone", "values": ["a"]}]}],
    },
    {
        "metadata": {"name": "raw-block"},
        "provisioner": "block.csi.example.com",
        "claimPropertySets": [{"accessModes": ["ReadWriteMany"], "volumeMode": "Block"}],
    },
]


def block(**fields: Any) -> dict[str, Any]:
    """VALID with some top-level fields replaced (None removes one)."""
    result = copy.deepcopy(VALID)
    for key, value in fields.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    return result


def policy(spec: dict[str, Any], name: str = "p") -> dict[str, Any]:
    return block(customNetworkPolicies=[{"name": name, "spec": spec}])


def at(findings: list[Finding], severity: str = "error") -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for f in findings:
        if f.severity == severity:
            found.setdefault(f.path, []).append(f.message)
    return found


# -- valid ---------------------------------------------------------------------------------
def test_every_field_of_the_fact_sheet_is_in_the_schema_and_the_example() -> None:
    names = [f.name for f in FIELDS]
    assert len(names) == 19
    assert set(names) == DC_KUBEVIRT_KEYS  # the simulator's list, from the same §1.4
    assert set(VALID) == set(names)
    assert all(f.kind in ("bool", "enum", "str", "list", "map", "object") for f in FIELDS)
    assert all(f.help for f in FIELDS)


def test_a_block_with_every_field_set_validates_cleanly() -> None:
    assert validate(VALID, INFRA_CLASSES) == []


def test_an_empty_block_is_valid_but_warns_of_the_inherited_pod_dns() -> None:
    findings = validate({})
    assert errors(findings) == []
    assert [f.path for f in warnings(findings)] == ["dnsPolicy"]


def test_the_fact_sheet_example_datacenter_validates() -> None:
    text = """
dnsPolicy: None
dnsConfig:
  nameservers: [8.8.8.8, 1.1.1.1]
  searches: []
  options:
    - name: ndots
      value: "2"
enableDefaultNetworkPolicies: true
usePodResourcesCPU: false
vmEvictionStrategy: LiveMigrate
ccmZoneAndRegionEnabled: true
ccmLoadBalancerEnabled: true
matchSubnetAndStorageLocation: false
disableDefaultInstanceTypes: false
disableDefaultPreferences: false
nodeDefaults: {cpus: "2", memory: 4Gi, primaryDiskSize: 25Gi}
images:
  http:
    operatingSystems:
      ubuntu:
        "22.04": http://image-repo.kube-system.svc/images/ubuntu-22.04.img
      rockylinux:
        "9": http://image-repo.kube-system.svc/images/rocky-9.img
infraStorageClasses:
  - name: rook-ceph-block
    isDefaultClass: true
    volumeBindingMode: WaitForFirstConsumer
    volumeProvisioner: ""
    reclaimPolicy: Delete
    allowVolumeExpansion: true
    zones: [zone-a]
    regions: [eu]
    labels:
      tier: fast
infraVolumeSnapshotClasses:
  - infraVolumeSnapshotClass: csi-rbdplugin-snapclass
    isDefaultClass: true
    deletionPolicy: Delete
customNetworkPolicies:
  - name: allow-external-traffic
    spec:
      podSelector: {}
      policyTypes: [Ingress]
      ingress:
        - from:
            - ipBlock:
                cidr: 10.200.10.0/24
csiDriverOperator:
  overwriteRegistry: registry.example.com/mirror
"""
    data, findings = validate_text(text)
    assert data is not None
    assert errors(findings) == []
    # The example's class binds WaitForFirstConsumer: the guide's topology known issue.
    assert [(f.path, f.line) for f in warnings(findings)] == [
        ("infraStorageClasses[0].volumeBindingMode", 28)
    ]


# -- invalid: one or more examples per field -------------------------------------------------
INVALID: list[tuple[str, dict[str, Any], str, str]] = [
    # (case, block, path, part of the message)
    ("unknown top-level key", block(dnsPolicies="None"), "dnsPolicies", 'did you mean "dnsPolicy"'),
    (
        "namespacedMode.enabled not a bool",
        block(namespacedMode={"enabled": "yes"}),
        "namespacedMode.enabled",
        "true or false",
    ),
    (
        "namespacedMode.name not a namespace name",
        block(namespacedMode={"enabled": False, "name": "Kubevirt_Workload"}),
        "namespacedMode.name",
        "not a valid name",
    ),
    (
        "namespacedMode uses the Go field name",
        block(namespacedMode={"enabled": False, "namespace": "kv"}),
        "namespacedMode.namespace",
        "unknown key",
    ),
    ("dnsPolicy outside the enum", block(dnsPolicy="none"), "dnsPolicy", "is not one of"),
    ("dnsPolicy not a string", block(dnsPolicy=1), "dnsPolicy", "is not one of"),
    (
        "a nameserver that is no IP",
        block(dnsConfig={"nameservers": ["8.8.8.8", "8.8.8.300"]}),
        "dnsConfig.nameservers[1]",
        "not an IP address",
    ),
    (
        "a nameserver with a prefix",
        block(dnsConfig={"nameservers": ["10.0.0.10/32"]}),
        "dnsConfig.nameservers[0]",
        "not an IP address",
    ),
    (
        "four nameservers",
        block(dnsConfig={"nameservers": ["1.1.1.1", "1.0.0.1", "8.8.8.8", "8.8.4.4"]}),
        "dnsConfig.nameservers[3]",
        "at most 3",
    ),
    (
        "nameservers not a list",
        block(dnsConfig={"nameservers": "8.8.8.8"}),
        "dnsConfig.nameservers",
        "must be a list",
    ),
    (
        "a search domain with an underscore",
        block(dnsConfig={"nameservers": ["8.8.8.8"], "searches": ["bad_domain.example"]}),
        "dnsConfig.searches[0]",
        "search domain",
    ),
    (
        "an option without a name",
        block(dnsConfig={"nameservers": ["8.8.8.8"], "options": [{"value": "2"}]}),
        "dnsConfig.options[0].name",
        "required",
    ),
    (
        "an option value that is a number",
        block(dnsConfig={"nameservers": ["8.8.8.8"], "options": [{"name": "ndots", "value": 2}]}),
        "dnsConfig.options[0].value",
        'quote it: "2"',
    ),
    (
        "a misspelt dnsConfig key",
        block(dnsConfig={"nameserver": ["8.8.8.8"]}),
        "dnsConfig.nameserver",
        'did you mean "nameservers"',
    ),
    (
        "dnsPolicy None without dnsConfig",
        block(dnsConfig=None),
        "dnsPolicy",
        "at least one nameserver",
    ),
    (
        "dnsPolicy None with no nameservers",
        block(dnsConfig={"searches": ["example.com"]}),
        "dnsConfig.nameservers",
        "at least one nameserver",
    ),
    (
        "enableDefaultNetworkPolicies as a string",
        block(enableDefaultNetworkPolicies="true"),
        "enableDefaultNetworkPolicies",
        "true or false, not a string",
    ),
    (
        "enableDedicatedCpus as a number",
        block(enableDedicatedCpus=1),
        "enableDedicatedCpus",
        "true or false",
    ),
    (
        "usePodResourcesCPU as a string",
        block(usePodResourcesCPU="no"),
        "usePodResourcesCPU",
        "true or false",
    ),
    (
        "customNetworkPolicies not a list",
        block(customNetworkPolicies={"name": "p"}),
        "customNetworkPolicies",
        "must be a list",
    ),
    (
        "a custom policy without a name",
        block(customNetworkPolicies=[{"spec": {"podSelector": {}}}]),
        "customNetworkPolicies[0].name",
        "required",
    ),
    (
        "a custom policy without a spec",
        block(customNetworkPolicies=[{"name": "p"}]),
        "customNetworkPolicies[0].spec",
        "required",
    ),
    (
        "a custom policy name that is no object name",
        block(customNetworkPolicies=[{"name": "Allow_All", "spec": {"podSelector": {}}}]),
        "customNetworkPolicies[0].name",
        "not a valid name",
    ),
    (
        "two custom policies of one name",
        block(
            customNetworkPolicies=[
                {"name": "p", "spec": {"podSelector": {}}},
                {"name": "p", "spec": {"podSelector": {}}},
            ]
        ),
        "customNetworkPolicies[1].name",
        "listed twice",
    ),
    (
        "a spec without podSelector",
        policy({"policyTypes": ["Ingress"]}),
        "customNetworkPolicies[0].spec.podSelector",
        "required",
    ),
    (
        "an unknown policy type",
        policy({"podSelector": {}, "policyTypes": ["Ingres"]}),
        "customNetworkPolicies[0].spec.policyTypes[0]",
        "not one of Ingress, Egress",
    ),
    (
        "a misspelt spec key",
        policy({"podSelector": {}, "ingres": []}),
        "customNetworkPolicies[0].spec.ingres",
        'did you mean "ingress"',
    ),
    (
        "an ipBlock cidr that is no CIDR",
        policy({"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.200.10.0"}}]}]}),
        "customNetworkPolicies[0].spec.ingress[0].from[0].ipBlock.cidr",
        "not a CIDR",
    ),
    (
        "an except outside its cidr",
        policy(
            {
                "podSelector": {},
                "ingress": [
                    {"from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["192.168.0.0/16"]}}]}
                ],
            }
        ),
        "customNetworkPolicies[0].spec.ingress[0].from[0].ipBlock.except[0]",
        "not a strict subset",
    ),
    (
        "an except equal to its cidr",
        policy(
            {
                "podSelector": {},
                "egress": [
                    {
                        "to": [
                            {
                                "ipBlock": {
                                    "cidr": "10.0.0.0/8",
                                    "except": ["10.0.0.0/9", "10.0.0.0/8"],
                                }
                            }
                        ]
                    }
                ],
            }
        ),
        "customNetworkPolicies[0].spec.egress[0].to[0].ipBlock.except[1]",
        "not a strict subset",
    ),
    (
        "an except of the other family",
        policy(
            {
                "podSelector": {},
                "ingress": [{"from": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["fd00::/8"]}}]}],
            }
        ),
        "customNetworkPolicies[0].spec.ingress[0].from[0].ipBlock.except[0]",
        "not a strict subset",
    ),
    (
        "an ipBlock with a selector in one peer",
        policy(
            {
                "podSelector": {},
                "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}}]}],
            }
        ),
        "customNetworkPolicies[0].spec.ingress[0].from[0].ipBlock",
        "cannot be combined",
    ),
    (
        "an empty peer",
        policy({"podSelector": {}, "ingress": [{"from": [{}]}]}),
        "customNetworkPolicies[0].spec.ingress[0].from[0]",
        "needs podSelector, namespaceSelector or ipBlock",
    ),
    (
        "a port out of range",
        policy({"podSelector": {}, "ingress": [{"ports": [{"port": 70000}]}]}),
        "customNetworkPolicies[0].spec.ingress[0].ports[0].port",
        "1-65535",
    ),
    (
        "a port number in quotes",
        policy({"podSelector": {}, "ingress": [{"ports": [{"port": "80"}]}]}),
        "customNetworkPolicies[0].spec.ingress[0].ports[0].port",
        "without quotes",
    ),
    (
        "an endPort below its port",
        policy({"podSelector": {}, "egress": [{"ports": [{"port": 8080, "endPort": 80}]}]}),
        "customNetworkPolicies[0].spec.egress[0].ports[0].endPort",
        "between port",
    ),
    (
        "an endPort with a named port",
        policy({"podSelector": {}, "egress": [{"ports": [{"port": "http", "endPort": 90}]}]}),
        "customNetworkPolicies[0].spec.egress[0].ports[0].endPort",
        "numeric port",
    ),
    (
        "a protocol NetworkPolicy does not know",
        policy({"podSelector": {}, "egress": [{"ports": [{"protocol": "ICMP"}]}]}),
        "customNetworkPolicies[0].spec.egress[0].ports[0].protocol",
        "not one of TCP, UDP, SCTP",
    ),
    (
        "In without values",
        policy({"podSelector": {"matchExpressions": [{"key": "app", "operator": "In"}]}}),
        "customNetworkPolicies[0].spec.podSelector.matchExpressions[0].values",
        "at least one value",
    ),
    (
        "Exists with values",
        policy(
            {
                "podSelector": {
                    "matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]
                }
            }
        ),
        "customNetworkPolicies[0].spec.podSelector.matchExpressions[0].values",
        "takes no values",
    ),
    (
        "an unknown selector operator",
        policy({"podSelector": {"matchExpressions": [{"key": "a", "operator": "Equals"}]}}),
        "customNetworkPolicies[0].spec.podSelector.matchExpressions[0].operator",
        "not one of In, NotIn",
    ),
    (
        "a label value that is a bool",
        policy({"podSelector": {"matchLabels": {"enabled": True}}}),
        "customNetworkPolicies[0].spec.podSelector.matchLabels.enabled",
        'must be a string (quote it: "true")',
    ),
    (
        "a label key with a space",
        policy({"podSelector": {"matchLabels": {"my app": "x"}}}),
        'customNetworkPolicies[0].spec.podSelector.matchLabels["my app"]',
        "not a valid label key",
    ),
    (
        "an OS KKP does not support",
        block(images={"http": {"operatingSystems": {"windows": {"2022": URL}}}}),
        "images.http.operatingSystems.windows",
        "not one of ubuntu, rhel, flatcar, rockylinux",
    ),
    (
        "images.http without operatingSystems",
        block(images={"http": {}}),
        "images.http.operatingSystems",
        "required",
    ),
    (
        "an image URL that is ftp",
        block(images={"http": {"operatingSystems": {"ubuntu": {"22.04": "ftp://host/u.img"}}}}),
        'images.http.operatingSystems.ubuntu["22.04"]',
        "not an http:// or https:// URL",
    ),
    (
        "an image URL without a host",
        block(images={"http": {"operatingSystems": {"ubuntu": {"22.04": "http:///u.img"}}}}),
        'images.http.operatingSystems.ubuntu["22.04"]',
        "has no host",
    ),
    (
        "an image URL with a space",
        block(images={"http": {"operatingSystems": {"rhel": {"9": "http://h/a b.img"}}}}),
        'images.http.operatingSystems.rhel["9"]',
        "white space",
    ),
    (
        "a version that YAML read as a number",
        block(images={"http": {"operatingSystems": {"ubuntu": {22.04: URL}}}}),
        'images.http.operatingSystems.ubuntu["22.04"]',
        "keys must be strings",
    ),
    (
        "an image source other than http",
        block(images={"container": {}}),
        "images.container",
        "unknown key",
    ),
    (
        "a storage class without a name",
        block(infraStorageClasses=[{"isDefaultClass": True}]),
        "infraStorageClasses[0].name",
        "required",
    ),
    (
        "an unknown binding mode",
        block(infraStorageClasses=[{"name": "rook-ceph-block", "volumeBindingMode": "Lazy"}]),
        "infraStorageClasses[0].volumeBindingMode",
        "not one of Immediate, WaitForFirstConsumer",
    ),
    (
        "an unknown volume provisioner",
        block(infraStorageClasses=[{"name": "rook-ceph-block", "volumeProvisioner": "csi"}]),
        "infraStorageClasses[0].volumeProvisioner",
        'kubevirt-csi-driver, infra-csi-driver, ""',
    ),
    (
        "a reclaim policy StorageClasses refuse",
        block(infraStorageClasses=[{"name": "rook-ceph-block", "reclaimPolicy": "Recycle"}]),
        "infraStorageClasses[0].reclaimPolicy",
        "not one of Delete, Retain",
    ),
    (
        "allowVolumeExpansion as a string",
        block(infraStorageClasses=[{"name": "rook-ceph-block", "allowVolumeExpansion": "yes"}]),
        "infraStorageClasses[0].allowVolumeExpansion",
        "true or false",
    ),
    (
        "a label key that is not one",
        block(infraStorageClasses=[{"name": "rook-ceph-block", "labels": {"-tier": "fast"}}]),
        'infraStorageClasses[0].labels["-tier"]',
        "not a valid label key",
    ),
    (
        "zones as a string",
        block(infraStorageClasses=[{"name": "rook-ceph-block", "zones": "zone-a"}]),
        "infraStorageClasses[0].zones",
        "must be a list",
    ),
    (
        "two default storage classes",
        block(
            infraStorageClasses=[
                {"name": "rook-ceph-block", "isDefaultClass": True},
                {"name": "ceph-fs", "isDefaultClass": True},
            ]
        ),
        "infraStorageClasses[1].isDefaultClass",
        "only one infra storage class may be the default",
    ),
    (
        "one storage class twice",
        block(infraStorageClasses=[{"name": "ceph-fs"}, {"name": "ceph-fs"}]),
        "infraStorageClasses[1].name",
        "listed twice",
    ),
    (
        "a storage class the infra cluster lacks",
        block(infraStorageClasses=[{"name": "rook-ceph-block"}, {"name": "gold"}]),
        "infraStorageClasses[1].name",
        'no StorageClass "gold" on the infra cluster',
    ),
    (
        "a storage class key from StorageClass itself",
        block(infraStorageClasses=[{"name": "rook-ceph-block", "provisioner": "x"}]),
        "infraStorageClasses[0].provisioner",
        "unknown key",
    ),
    (
        "a snapshot class without its name",
        block(infraVolumeSnapshotClasses=[{"isDefaultClass": True}]),
        "infraVolumeSnapshotClasses[0].infraVolumeSnapshotClass",
        "required",
    ),
    (
        "an unknown deletion policy",
        block(
            infraVolumeSnapshotClasses=[{"infraVolumeSnapshotClass": "s", "deletionPolicy": "Keep"}]
        ),
        "infraVolumeSnapshotClasses[0].deletionPolicy",
        "not one of Delete, Retain",
    ),
    (
        "two default snapshot classes",
        block(
            infraVolumeSnapshotClasses=[
                {"infraVolumeSnapshotClass": "a", "isDefaultClass": True},
                {"infraVolumeSnapshotClass": "b", "isDefaultClass": True},
            ]
        ),
        "infraVolumeSnapshotClasses[1].isDefaultClass",
        "only one snapshot class may be the default",
    ),
    (
        "a provider network without a name",
        block(providerNetwork={"vpcs": []}),
        "providerNetwork.name",
        "required",
    ),
    (
        "a subnet CIDR with a bad prefix",
        block(
            providerNetwork={
                "name": "ovn",
                "vpcs": [{"name": "v", "subnets": [{"name": "s", "cidr": "10.16.0.0/33"}]}],
            }
        ),
        "providerNetwork.vpcs[0].subnets[0].cidr",
        "too long",
    ),
    (
        "a VPC without a name",
        block(providerNetwork={"name": "ovn", "vpcs": [{"subnets": []}]}),
        "providerNetwork.vpcs[0].name",
        "required",
    ),
    (
        "an unknown network policy mode",
        block(
            providerNetwork={"name": "ovn", "networkPolicy": {"enabled": False, "mode": "block"}}
        ),
        "providerNetwork.networkPolicy.mode",
        "not one of allow, deny",
    ),
    (
        "ccmZoneAndRegionEnabled as a string",
        block(ccmZoneAndRegionEnabled="false"),
        "ccmZoneAndRegionEnabled",
        "true or false",
    ),
    (
        "ccmLoadBalancerEnabled as a number",
        block(ccmLoadBalancerEnabled=0),
        "ccmLoadBalancerEnabled",
        "true or false",
    ),
    (
        "an eviction strategy KubeVirt does not know",
        block(vmEvictionStrategy="Migrate"),
        "vmEvictionStrategy",
        "not one of",
    ),
    (
        "a registry with a scheme",
        block(csiDriverOperator={"overwriteRegistry": "https://registry.example.com"}),
        "csiDriverOperator.overwriteRegistry",
        "without a scheme",
    ),
    (
        "an unknown csiDriverOperator key",
        block(csiDriverOperator={"registry": "registry.example.com"}),
        "csiDriverOperator.registry",
        "unknown key",
    ),
    (
        "matchSubnetAndStorageLocation as a string",
        block(matchSubnetAndStorageLocation="true"),
        "matchSubnetAndStorageLocation",
        "true or false",
    ),
    (
        "disableDefaultInstanceTypes as a string",
        block(disableDefaultInstanceTypes="x"),
        "disableDefaultInstanceTypes",
        "true or false",
    ),
    (
        "disableDefaultPreferences as a list",
        block(disableDefaultPreferences=[]),
        "disableDefaultPreferences",
        "not a list",
    ),
    (
        "cpus as a number",
        block(nodeDefaults={"cpus": 2}),
        "nodeDefaults.cpus",
        'quote it: "2"',
    ),
    (
        "memory in GB",
        block(nodeDefaults={"memory": "4GB"}),
        "nodeDefaults.memory",
        "not a quantity",
    ),
    (
        "a negative disk size",
        block(nodeDefaults={"primaryDiskSize": "-1Gi"}),
        "nodeDefaults.primaryDiskSize",
        "more than 0",
    ),
    (
        "an unknown nodeDefaults key",
        block(nodeDefaults={"disk": "25Gi"}),
        "nodeDefaults.disk",
        "unknown key",
    ),
]


@pytest.mark.parametrize(
    ("data", "path", "message"),
    [case[1:] for case in INVALID],
    ids=[case[0] for case in INVALID],
)
def test_an_invalid_value_is_an_error_at_its_field(data: dict, path: str, message: str) -> None:
    found = at(validate(data, INFRA_CLASSES))
    assert path in found, found
    assert any(message in m for m in found[path]), found[path]


def test_every_field_has_an_invalid_example() -> None:
    covered = {split(case[2])[0] for case in INVALID}
    assert {f.name for f in FIELDS} <= covered


def test_a_block_that_is_not_a_mapping_is_one_error() -> None:
    assert [(f.path, f.severity) for f in validate(["dnsPolicy"])] == [("", "error")]  # type: ignore[arg-type]


def test_null_means_unset_except_for_required_keys() -> None:
    assert errors(validate(block(nodeDefaults={"cpus": None}, csiDriverOperator=None))) == []
    found = at(validate(block(providerNetwork={"name": None})))
    assert found == {"providerNetwork.name": ["required"]}


def test_the_guides_own_example_policy_is_caught_by_its_indentation() -> None:
    """The provider guide's FAQ indents `cidr` beside `ipBlock`, not under it."""
    text = """
dnsPolicy: None
dnsConfig: {nameservers: [8.8.8.8]}
customNetworkPolicies:
  - name: allow-external-traffic
    spec:
      policyTypes:
        - Ingress
      ingress:
        - from:
          - ipBlock:
            cidr: 10.200.10.0/24
"""
    _, findings = validate_text(text)
    found = {(f.path, f.line): f.message for f in errors(findings)}
    peer = "customNetworkPolicies[0].spec.ingress[0].from[0]"
    assert ("customNetworkPolicies[0].spec.podSelector", 6) in found
    assert found[(f"{peer}.cidr", 12)] == 'unknown key "cidr": indent it under ipBlock'
    assert "needs podSelector, namespaceSelector or ipBlock" in found[(peer, 11)]


def test_infra_classes_none_skips_the_existence_check() -> None:
    data = block(infraStorageClasses=[{"name": "gold", "isDefaultClass": True}])
    assert errors(validate(data)) == []
    assert "infraStorageClasses[0].name" in at(validate(data, []))


# -- warnings ------------------------------------------------------------------------------
def test_the_node_local_dns_address_as_nameserver_warns_at_that_nameserver() -> None:
    findings = validate(block(dnsConfig={"nameservers": ["8.8.8.8", "169.254.20.10"]}))
    assert errors(findings) == []
    assert "NodeLocal DNS" in at(findings, "warning")["dnsConfig.nameservers[1]"][0]


@pytest.mark.parametrize("policy_name", ["ClusterFirst", "ClusterFirstWithHostNet", None])
def test_inheriting_the_pod_dns_warns_of_the_collision(policy_name: str | None) -> None:
    findings = validate(block(dnsPolicy=policy_name, dnsConfig=None))
    assert errors(findings) == []
    assert "169.254.20.10" in at(findings, "warning")["dnsPolicy"][0]


def test_dns_policy_default_does_not_inherit_the_cluster_dns() -> None:
    assert validate(block(dnsPolicy="Default", dnsConfig=None), INFRA_CLASSES) == []


def test_wait_for_first_consumer_warns_on_the_block_or_the_infra_class() -> None:
    data = block(
        infraStorageClasses=[
            {"name": "rook-ceph-block", "volumeBindingMode": "WaitForFirstConsumer"},
            {"name": "local-path"},
            {"name": "zonal"},
        ]
    )
    findings = validate(data, INFRA_CLASSES)
    assert errors(findings) == []
    found = at(findings, "warning")
    assert set(found) == {
        "infraStorageClasses[0].volumeBindingMode",
        "infraStorageClasses[1].name",
        "infraStorageClasses[2].name",
    }
    assert (
        "the infra StorageClass binds WaitForFirstConsumer"
        in found["infraStorageClasses[1].name"][0]
    )
    assert "allowedTopologies" in found["infraStorageClasses[2].name"][0]
    assert all("topology-constrained" in m[0] for m in found.values())


def test_a_block_only_class_warns_unless_only_vm_disks_use_it() -> None:
    exposed = block(infraStorageClasses=[{"name": "raw-block"}])
    assert (
        "Block volume mode"
        in at(validate(exposed, INFRA_CLASSES), "warning")["infraStorageClasses[0].name"][0]
    )
    disks_only = block(
        infraStorageClasses=[{"name": "raw-block", "volumeProvisioner": "infra-csi-driver"}]
    )
    assert validate(disks_only, INFRA_CLASSES) == []


@pytest.mark.parametrize(
    ("strategy", "warned"),
    [
        ("None", True),
        ("LiveMigrateIfPossible", True),
        ("External", False),
        ("LiveMigrate", False),
        ("", False),
    ],
)
def test_eviction_strategies_machine_controller_does_not_support_warn(
    strategy: str, warned: bool
) -> None:
    findings = validate(block(vmEvictionStrategy=strategy), INFRA_CLASSES)
    assert errors(findings) == []
    assert ("vmEvictionStrategy" in at(findings, "warning")) is warned


def test_other_warnings() -> None:
    cases = [
        (block(enableDedicatedCpus=True), "enableDedicatedCpus", "use usePodResourcesCPU"),
        (
            block(providerNetwork={"name": "ovn", "networkPolicyEnabled": True}),
            "providerNetwork.networkPolicyEnabled",
            "use networkPolicy.enabled",
        ),
        (
            block(providerNetwork={"name": "ovn", "networkPolicy": {"enabled": True}}),
            "providerNetwork.networkPolicy",
            "only with namespacedMode",
        ),
        (
            block(
                namespacedMode={"enabled": True},
                dnsPolicy="Default",
                dnsConfig=None,
                providerNetwork={"name": "ovn", "networkPolicy": {"enabled": True, "mode": "deny"}},
            ),
            "providerNetwork.networkPolicy.mode",
            "no DNS server",
        ),
        (block(namespacedMode={"enabled": True}), "namespacedMode.enabled", "experimental"),
        (
            policy({"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.1/8"}}]}]}),
            "customNetworkPolicies[0].spec.egress[0].to[0].ipBlock.cidr",
            "means 10.0.0.0/8",
        ),
        (
            policy({"podSelector": {}, "policyTypes": ["Egress"], "ingress": [{}]}),
            "customNetworkPolicies[0].spec.ingress",
            "policyTypes does not list Ingress",
        ),
        (
            policy({"podSelector": {}}, name="cluster-isolation"),
            "customNetworkPolicies[0].name",
            "KKP reconciles itself",
        ),
    ]
    for data, path, message in cases:
        findings = validate(data, INFRA_CLASSES)
        assert errors(findings) == [], path
        assert any(message in m for m in at(findings, "warning").get(path, [])), (path, findings)


# -- YAML text -----------------------------------------------------------------------------
def test_a_syntax_error_is_one_error_at_its_line_and_no_block() -> None:
    text = "dnsPolicy: None\ndnsConfig:\n  nameservers: [8.8.8.8\nvmEvictionStrategy: External\n"
    before = str(text)
    data, findings = parse_block(text)
    assert data is None
    assert len(findings) == 1
    (finding,) = findings
    assert finding.severity == "error" and finding.path == ""
    assert finding.message.startswith("YAML syntax:")
    assert finding.line == 4
    assert text == before
    assert validate_text(text) == (None, findings)


def test_a_bad_indent_is_reported_where_it_is() -> None:
    data, findings = parse_block("dnsPolicy: None\n  dnsConfig: {}\n")
    assert data is None
    assert [(f.line, "mapping values are not allowed" in f.message) for f in findings] == [
        (2, True)
    ]


def test_tabs_and_unsafe_tags_are_errors_with_lines() -> None:
    assert [f.line for f in parse_block("dnsPolicy: None\n\tx: 1\n")[1]] == [2]
    _, findings = parse_block("dnsPolicy: !!python/object:os.system x\n")
    assert [f.line for f in findings] == [1]


def test_duplicate_keys_are_errors_at_the_second_one() -> None:
    data, findings = parse_block("dnsPolicy: None\nusePodResourcesCPU: true\ndnsPolicy: Default\n")
    assert data == {"dnsPolicy": "Default", "usePodResourcesCPU": True}
    assert [(f.path, f.line, f.severity) for f in findings] == [("dnsPolicy", 3, "error")]


def test_two_documents_or_a_list_are_not_a_block() -> None:
    data, findings = parse_block("dnsPolicy: None\n---\ndnsPolicy: Default\n")
    assert data is None and [f.line for f in findings] == [2]  # the second document's ---
    data, findings = parse_block("- dnsPolicy\n")
    assert data is None and [f.line for f in findings] == [1]


def test_an_empty_text_is_an_empty_block() -> None:
    assert parse_block("") == ({}, [])
    assert parse_block("# nothing set\n") == ({}, [])


def test_findings_carry_the_line_of_their_field() -> None:
    text = """\
dnsPolicy: None
dnsConfig:
  nameservers:
    - 8.8.8.8
    - 8.8.8.300
images:
  http:
    operatingSystems:
      ubuntu:
        "22.04": ftp://mirror/ubuntu.img
infraStorageClasses:
  - name: rook-ceph-block
    isDefaultClass: true
  - name: gold
    isDefaultClass: true
providerNetwork:
  vpcs: []
nodeDefaults: {cpus: "2", memory: 4GB}
colour: blue
"""
    data, findings = validate_text(text, INFRA_CLASSES)
    assert data == yaml.safe_load(text)
    assert [(f.line, f.path) for f in errors(findings)] == [
        (5, "dnsConfig.nameservers[1]"),
        (10, 'images.http.operatingSystems.ubuntu["22.04"]'),
        (14, "infraStorageClasses[1].name"),  # not on the infra cluster
        (15, "infraStorageClasses[1].isDefaultClass"),
        (16, "providerNetwork.name"),  # missing: the line of its parent
        (18, "nodeDefaults.memory"),
        (19, "colour"),
    ]


def test_a_path_to_nothing_in_the_text_has_no_line() -> None:
    _, findings = validate_text("vmEvictionStrategy: External\n")
    assert [(f.path, f.line) for f in findings] == [("dnsPolicy", None)]


# -- property tests of the parsers ----------------------------------------------------------
@given(st.ip_addresses())
def test_every_ip_address_parses_to_itself(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    assert formats.parse_ip(str(address)) == address
    assert formats.parse_ip(address.exploded) == address


@given(st.text(max_size=40))
def test_the_parsers_fail_only_with_value_errors(text: str) -> None:
    for parse in (
        formats.parse_ip,
        formats.parse_cidr,
        formats.parse_quantity,
        formats.parse_url,
        formats.check_dns_subdomain,
        formats.check_label_key,
        formats.check_port_name,
    ):
        with contextlib.suppress(ValueError):
            parse(text)


@st.composite
def networks(draw: st.DrawFn) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    address = draw(st.ip_addresses())
    prefix = draw(st.integers(0, address.max_prefixlen))
    return ipaddress.ip_network(f"{address}/{prefix}", strict=False)


@given(networks())
def test_every_network_parses_to_itself_without_host_bits(
    network: ipaddress.IPv4Network | ipaddress.IPv6Network,
) -> None:
    assert formats.parse_cidr(str(network)) == network
    assert not formats.has_host_bits(str(network))


@given(networks(), st.data())
def test_except_must_be_a_strict_subset_of_the_cidr(
    network: ipaddress.IPv4Network | ipaddress.IPv6Network, data: st.DataObject
) -> None:
    inner = data.draw(networks())
    expected = (
        inner.version == network.version
        and inner.prefixlen > network.prefixlen
        and inner.subnet_of(network)  # type: ignore[arg-type]
    )
    assert formats.is_strict_subset(inner, network) is expected
    spec = {
        "podSelector": {},
        "ingress": [{"from": [{"ipBlock": {"cidr": str(network), "except": [str(inner)]}}]}],
    }
    found = at(validate(policy(spec)))
    assert (
        "customNetworkPolicies[0].spec.ingress[0].from[0].ipBlock.except[0]" in found
    ) is not expected


SUFFIXES = ["", "n", "u", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]


@given(
    st.decimals(min_value=0, max_value=10**6, places=3, allow_nan=False, allow_infinity=False),
    st.sampled_from(SUFFIXES),
)
def test_quantities_agree_with_the_kubernetes_client(number: Decimal, suffix: str) -> None:
    text = f"{number}{suffix}"
    assert formats.parse_quantity(text) == client_parse_quantity(text)


@given(st.integers(0, 10**9), st.integers(-9, 18))
def test_exponent_quantities(number: int, exponent: int) -> None:
    assert formats.parse_quantity(f"{number}e{exponent}") == Decimal(number).scaleb(exponent)


@given(st.from_regex(r"[0-9]+(\.[0-9]+)?(B|gb|GB|g|mi|KiB| Gi)", fullmatch=True))
def test_byte_units_outside_kubernetes_are_rejected(text: str) -> None:
    with pytest.raises(ValueError):
        formats.parse_quantity(text)


HOSTS = st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z][a-z0-9]{0,10}){0,3}", fullmatch=True)


@given(
    st.sampled_from(["http", "https"]),
    st.one_of(HOSTS, st.ip_addresses(v=4).map(str)),
    st.one_of(st.none(), st.integers(1, 65535)),
    st.from_regex(r"(/[A-Za-z0-9._-]{1,12}){0,4}", fullmatch=True),
)
def test_http_urls_parse(scheme: str, host: str, port: int | None, path: str) -> None:
    text = f"{scheme}://{host}{f':{port}' if port else ''}{path}"
    url = formats.parse_url(text)
    assert (url.scheme, url.hostname, url.port, url.path) == (scheme, host, port, path)


@given(st.sampled_from(["ftp", "file", "s3", "docker", ""]), HOSTS)
def test_other_schemes_are_rejected(scheme: str, host: str) -> None:
    with pytest.raises(ValueError):
        formats.parse_url(f"{scheme}://{host}/image.img" if scheme else f"{host}/image.img")


SEGMENTS = st.lists(st.one_of(st.text(max_size=12), st.integers(0, 999)), max_size=6)


@given(SEGMENTS)
def test_paths_split_back_into_their_segments(segments: list[str | int]) -> None:
    path = ""
    for segment in segments:
        path = join(path, segment)
    assert split(path) == segments


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=200)
@given(st.dictionaries(st.sampled_from([f.name for f in FIELDS] + ["x"]), JSONISH, max_size=6))
def test_validate_never_crashes_on_any_block(data: dict[str, Any]) -> None:
    for finding in validate(data, INFRA_CLASSES):
        assert finding.severity in ("error", "warning")
        assert split(finding.path) is not None

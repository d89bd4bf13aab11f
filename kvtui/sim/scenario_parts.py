"""Checking and normalising each section of a scenario file (see `scenario.py`)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from kvtui.sim.kkp import ClusterSpec, Datacenter
from kvtui.sim.scenario_yaml import Reader

KKP_FEATURE_GATES = [
    "ExperimentalIgnitionSupport",
    "DataVolumes",
    "LiveMigration",
    "CPUManager",
    "CPUNodeDiscovery",
    "Sidecar",
    "Snapshot",
    "HotplugVolumes",
]
MIGRATION_DEFAULTS = {  # fact sheet §6.5
    "parallelMigrationsPerCluster": 5,
    "parallelOutboundMigrationsPerNode": 2,
    "bandwidthPerMigration": "0Mi",
    "completionTimeoutPerGiB": 150,
    "progressTimeout": 150,
    "allowAutoConverge": False,
    "allowPostCopy": False,
}
MIGRATION_KEYS = {
    *MIGRATION_DEFAULTS,
    "maxDowntimeMs",
    "utilityVolumesTimeout",
    "unsafeMigrationOverride",
    "nodeDrainTaintKey",
    "allowWorkloadDisruption",
    "disableTLS",
    "network",
    "matchSELinuxLevelOnMigration",
}
DC_KUBEVIRT_KEYS = {  # DatacenterSpecKubevirt, fact sheet §1.4
    "namespacedMode",
    "dnsPolicy",
    "dnsConfig",
    "enableDefaultNetworkPolicies",
    "enableDedicatedCpus",
    "usePodResourcesCPU",
    "customNetworkPolicies",
    "images",
    "infraStorageClasses",
    "infraVolumeSnapshotClasses",
    "providerNetwork",
    "ccmZoneAndRegionEnabled",
    "ccmLoadBalancerEnabled",
    "vmEvictionStrategy",
    "csiDriverOperator",
    "matchSubnetAndStorageLocation",
    "disableDefaultInstanceTypes",
    "disableDefaultPreferences",
    "nodeDefaults",
}
DNS_POLICIES = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")
ACCESS_MODES = ("ReadWriteOnce", "ReadWriteMany", "ReadOnlyMany", "ReadWriteOncePod")
NODE_DEFAULTS: dict[str, Any] = {
    "cpu": 16,
    "memory": "64Gi",
    "storage": "500Gi",
    "pods": 110,
    "reserved": {"cpu": "500m", "memory": "2Gi", "storage": "20Gi"},
    "kvm": True,
    "roles": ["worker"],
    "cpuModel": "Cascadelake-Server",
    "cpuVendor": "Intel",
    "cpuFeatures": ["aes", "avx2", "pcid", "ssse3", "vmx", "x2apic"],
    "machineType": "pc-q35-rhel9.4.0",
    "zone": None,
    "labels": {},
    "annotations": {},
    "taints": [],
    "unschedulable": False,
}


@dataclass
class NodePool:
    """The worker nodes (scaled by `nodes=`) plus `extra` nodes that never scale."""

    template: dict[str, Any]
    pattern: str = "node-{n}"
    zones: list[str] = field(default_factory=lambda: ["zone-a"])
    nodes: list[dict[str, Any]] = field(default_factory=list)
    extra: list[dict[str, Any]] = field(default_factory=list)

    def generated(self, index: int) -> dict[str, Any]:
        node = copy.deepcopy(self.template)
        node["name"] = self.pattern.format(n=index + 1)
        node["zone"] = node["zone"] or self.zones[index % len(self.zones)]
        return node

    def resize(self, count: int) -> None:
        taken = {n["name"] for n in self.extra}
        nodes = self.nodes[:count]
        index = len(nodes)
        while len(nodes) < count:
            node = self.generated(index)
            index += 1
            if node["name"] not in taken | {n["name"] for n in nodes}:
                nodes.append(node)
        self.nodes = nodes

    def all_nodes(self) -> list[dict[str, Any]]:
        return [*self.nodes, *self.extra]


@dataclass
class Model:
    """A scenario after checking, before expansion into objects."""

    name: str
    description: str = ""
    speed: float = 1.0
    settings: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    infra: dict[str, Any] = field(default_factory=dict)
    pool: NodePool = field(default_factory=lambda: NodePool(dict(NODE_DEFAULTS)))
    kubevirt: dict[str, Any] = field(default_factory=dict)
    cdi: dict[str, Any] = field(default_factory=dict)
    storage: list[dict[str, Any]] = field(default_factory=list)
    instancetypes: list[dict[str, Any]] = field(default_factory=list)
    preferences: list[dict[str, Any]] = field(default_factory=list)
    seed: dict[str, Any] = field(default_factory=dict)
    dc: Datacenter = field(default_factory=lambda: Datacenter("seed", "dc", {}))
    clusters: list[ClusterSpec] = field(default_factory=list)


# -- nodes ----------------------------------------------------------------------------------
def _node(r: Reader, base: dict[str, Any], named: bool) -> dict[str, Any]:
    node = copy.deepcopy(base)
    if named:
        node["name"] = r.string("name")
    node["cpu"] = r.value("cpu", int, node["cpu"])
    for key in ("memory", "storage"):
        node[key] = r.quantity(key, node[key])
    node["pods"] = r.integer("pods", node["pods"], minimum=1)
    reserved = r.sub("reserved")
    if reserved:
        node["reserved"] = {k: reserved.quantity(k, v) for k, v in node["reserved"].items()}
        reserved.done()
    node["kvm"] = r.boolean("kvm", node["kvm"])
    for key in ("roles", "cpuFeatures"):
        node[key] = r.strings(key, node[key])
    for key in ("cpuModel", "cpuVendor", "machineType"):
        node[key] = r.string(key, node[key])
    node["zone"] = r.value("zone", (str, type(None)), node["zone"])
    for key in ("labels", "annotations"):
        node[key] = {**node[key], **{str(k): str(v) for k, v in r.mapping(key, {}).items()}}
    if r.has("taints"):
        node["taints"] = []
        for t in r.items("taints"):
            effect = t.choice("effect", ("NoSchedule", "PreferNoSchedule", "NoExecute"))
            taint = {"key": t.string("key"), "effect": effect}
            if t.has("value"):
                taint["value"] = str(t.value("value", (str, int, bool)))
            t.done()
            node["taints"].append(taint)
    node["unschedulable"] = r.boolean("unschedulable", node["unschedulable"])
    r.done()
    return node


def parse_nodes(r: Reader) -> NodePool:
    template_r = r.sub("template")
    template = _node(template_r, NODE_DEFAULTS, False) if template_r else dict(NODE_DEFAULTS)
    pool = NodePool(template, r.string("name", "node-{n}"), r.strings("zones", ["zone-a"]))
    try:
        pool.pattern.format(n=1)
    except (KeyError, IndexError, ValueError):
        r.fail(f"{pool.pattern!r} must be a pattern with {{n}}, e.g. 'kv-node-{{n:02d}}'", "name")
    if not pool.zones:
        r.fail("needs at least one zone", "zones")
    listed = r.items("list")
    if listed and r.has("count"):
        r.fail("give either `count` or `list`, not both")
    if listed:
        pool.nodes = [_node(item, template, True) for item in listed]
        for i, node in enumerate(pool.nodes):
            node["zone"] = node["zone"] or pool.zones[i % len(pool.zones)]
    else:
        pool.resize(r.integer("count", 3, minimum=1))
    pool.extra = [_node(item, template, True) for item in r.items("extra")]
    for node in pool.extra:
        node["zone"] = node["zone"] or pool.zones[0]
    names = [n["name"] for n in pool.all_nodes()]
    if len(set(names)) != len(names):
        r.fail("node names must be unique")
    r.done()
    return pool


# -- KubeVirt, CDI, storage, templates --------------------------------------------------------
def parse_kubevirt(
    kv_r: Reader | None, cdi_r: Reader | None, top: Reader
) -> tuple[dict[str, Any], dict[str, Any]]:
    kv_r = kv_r or Reader({}, "kubevirt", top.label, top.line)
    migrations_r = kv_r.sub("migrations")
    migrations = dict(MIGRATION_DEFAULTS)
    if migrations_r:
        for key in migrations_r.data:
            if key not in MIGRATION_KEYS:
                known = ", ".join(sorted(MIGRATION_KEYS))
                migrations_r.fail(f"unknown key {key!r} (known: {known})")
        migrations.update(migrations_r.data)
    kv = {
        "version": kv_r.string("version", "v1.6.4"),
        "evictionStrategy": kv_r.choice(
            "evictionStrategy",
            ("None", "LiveMigrate", "LiveMigrateIfPossible", "External"),
            "LiveMigrate",
        ),
        # null leaves the field unset, as on a cluster whose monitoring was never set up.
        "monitorNamespace": kv_r.value("monitorNamespace", (str, type(None)), "monitoring"),
        "monitorAccount": kv_r.value("monitorAccount", (str, type(None)), "prometheus-k8s"),
        "featureGates": kv_r.strings("featureGates", list(KKP_FEATURE_GATES)),
        "migrations": migrations,
        "configuration": kv_r.mapping("configuration", {}),
    }
    kv_r.done()
    cdi_r = cdi_r or Reader({}, "cdi", top.label, top.line)
    cdi = {
        "version": cdi_r.string("version", "v1.64.0"),
        "featureGates": cdi_r.strings("featureGates", ["HonorWaitForFirstConsumer"]),
        "config": cdi_r.mapping("config", {}),
    }
    cdi_r.done()
    return kv, cdi


def parse_storage_classes(items: list[Reader]) -> list[dict[str, Any]]:
    out = []
    for r in items:
        sets = []
        for s in r.items("claimPropertySets"):
            modes = s.strings("accessModes")
            bad = [m for m in modes if m not in ACCESS_MODES]
            if bad:
                s.fail(f"unknown access mode {bad[0]!r}", "accessModes")
            sets.append(
                {
                    "accessModes": modes,
                    "volumeMode": s.choice("volumeMode", ("Filesystem", "Block")),
                }
            )
            s.done()
        sets = sets or [{"accessModes": ["ReadWriteOnce"], "volumeMode": "Filesystem"}]
        rwx = any("ReadWriteMany" in s["accessModes"] for s in sets)
        out.append(
            {
                "name": r.string("name"),
                "default": r.boolean("default", False),
                "provisioner": r.string("provisioner"),
                "volumeBindingMode": r.choice(
                    "volumeBindingMode", ("Immediate", "WaitForFirstConsumer"), "Immediate"
                ),
                "reclaimPolicy": r.choice("reclaimPolicy", ("Delete", "Retain"), "Delete"),
                "allowVolumeExpansion": r.boolean("allowVolumeExpansion", False),
                "parameters": {str(k): str(v) for k, v in r.mapping("parameters", {}).items()},
                "allowedTopologies": r.value("allowedTopologies", list, []),
                "claimPropertySets": sets,
                # What the machine-controller picks when storageAccessType is empty (§4.2).
                "accessMode": "ReadWriteMany" if rwx else "ReadWriteOnce",
            }
        )
        r.done()
    return out


def parse_named_specs(items: list[Reader], sized: bool) -> list[dict[str, Any]]:
    out = []
    for r in items:
        item: dict[str, Any] = {"name": r.string("name"), "spec": r.mapping("spec", {})}
        if sized:
            item["cpu"] = r.integer("cpu", minimum=1)
            item["memory"] = r.quantity("memory")
        r.done()
        out.append(item)
    return out


def parse_datacenter(r: Reader, model: Model) -> tuple[dict[str, Any], Datacenter]:
    seed = {
        "name": r.string("name"),
        "country": r.string("country", ""),
        "location": r.string("location", ""),
        "versions": r.mapping("versions", {}),
    }
    dc_r = r.sub("datacenter")
    if dc_r is None:
        r.fail("required key is missing", "datacenter")
    kv = dc_r.mapping("kubevirt", {})
    unknown = sorted(set(kv) - DC_KUBEVIRT_KEYS)
    if unknown:
        dc_r.fail(f"unknown DatacenterSpecKubevirt key {unknown[0]!r}", "kubevirt")
    if kv.get("dnsPolicy", "ClusterFirst") not in DNS_POLICIES:
        dc_r.fail(f"dnsPolicy must be one of {', '.join(DNS_POLICIES)}", "kubevirt")
    if kv.get("dnsPolicy") == "None" and not (kv.get("dnsConfig") or {}).get("nameservers"):
        dc_r.fail("dnsPolicy None needs dnsConfig.nameservers", "kubevirt")
    if kv.get("vmEvictionStrategy", "") not in ("", "External", "LiveMigrate"):
        dc_r.fail("vmEvictionStrategy must be External or LiveMigrate", "kubevirt")
    known_classes = {sc["name"] for sc in model.storage}
    for sc in kv.get("infraStorageClasses") or ():
        if known_classes and sc.get("name") not in known_classes:
            dc_r.fail(
                f"infraStorageClasses names unknown storage class {sc.get('name')!r}", "kubevirt"
            )
    for policy in kv.get("customNetworkPolicies") or ():
        if not isinstance(policy, dict) or not policy.get("name"):
            dc_r.fail("every customNetworkPolicies entry needs a name and a spec", "kubevirt")
    dc = Datacenter(
        seed["name"],
        dc_r.string("name"),
        kv,
        dc_r.string("country", ""),
        dc_r.string("location", ""),
    )
    dc_r.done()
    r.done()
    return seed, dc

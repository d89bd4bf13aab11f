"""Checking the `clusters` and `generateClusters` sections of a scenario (see `scenario.py`)."""

from __future__ import annotations

import ipaddress
import random
from typing import Any

from kvtui.sim import kkp
from kvtui.sim.kkp import ClusterSpec, Datacenter
from kvtui.sim.kkp_workloads import LoadBalancerSpec, MachineDeploymentSpec, StandaloneVmSpec
from kvtui.sim.model import (
    ANN_CPU_LOAD,
    ANN_DIRTY_RATE,
    ANN_DISK_RATE,
    ANN_MEMORY_USED,
    ANN_NET_RATE,
    SIM_PREFIX,
)
from kvtui.sim.quantity import parse_quantity
from kvtui.sim.scenario_parts import ACCESS_MODES, DNS_POLICIES, Model
from kvtui.sim.scenario_yaml import Reader

# `load:` keys are the `sim.kvtui.dev/*` annotations without their prefix.
LOAD_KEYS = {
    ann.removeprefix(SIM_PREFIX): kind
    for ann, kind in (
        (ANN_CPU_LOAD, "share"),
        (ANN_MEMORY_USED, "share"),
        (ANN_DIRTY_RATE, "rate"),
        (ANN_NET_RATE, "rate"),
        (ANN_DISK_RATE, "rate"),
    )
}
_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


def _template_ref(
    r: Reader, key: str, namespaced: set[str], cluster: set[str], kinds: tuple[str, str]
) -> dict[str, str] | None:
    """An instancetype/preference as a name or {name, kind}; checks that it exists."""
    value = r.value(key, (str, dict, type(None)), None)
    if value is None:
        return None
    ref = {"name": value} if isinstance(value, str) else {k: str(v) for k, v in value.items()}
    name, kind = ref.get("name", ""), ref.get("kind")
    if kind is None:
        kind = kinds[0] if name in namespaced else kinds[1] if name in cluster else None
    if kind not in kinds or name not in (namespaced if kind == kinds[0] else cluster):
        r.fail(
            f"no {key} {name!r} (namespaced: {sorted(namespaced)}, cluster-scoped: "
            f"{sorted(cluster)})",
            key,
        )
    return {"name": name, "kind": kind}


def _affinity(r: Reader) -> dict[str, Any] | None:
    a = r.sub("affinity")
    if a is None:
        return None
    preset = {
        "type": a.string("type", "").lower(),
        "key": a.string("key", ""),
        "values": [str(v) for v in a.value("values", list, [])],
    }
    if preset["type"] not in ("", "soft", "hard"):
        a.fail("must be '', 'soft' or 'hard'", "type")
    if preset["type"] and not preset["key"]:
        a.fail("a soft or hard preset needs a key", "key")
    for value in preset["values"]:
        if value.startswith("$") and value not in ("$first", "$last"):
            a.fail(f"unknown node reference {value!r} (use $first or $last)", "values")
    a.done()
    return preset


def _load(r: Reader) -> dict[str, str]:
    load = {str(k): str(v) for k, v in r.mapping("load", {}).items()}
    for key, value in load.items():
        if key not in LOAD_KEYS:
            r.fail(f"unknown load key {key!r} (known: {', '.join(LOAD_KEYS)})", "load")
        try:
            number = float(value) if LOAD_KEYS[key] == "share" else parse_quantity(value)
        except ValueError:
            r.fail(f"{key}: {value!r} is not a {LOAD_KEYS[key]}", "load")
        if LOAD_KEYS[key] == "share" and not 0 <= number <= 1:
            r.fail(f"{key} must be between 0 and 1", "load")
    return load


def _disk(r: Reader, classes: set[str]) -> dict[str, str]:
    d = r.sub("disk")
    if d is None:
        return {}
    disk = {
        "size": d.quantity("size", ""),
        "storageClass": d.string("storageClass", ""),
        "accessType": d.choice("accessType", ("", *ACCESS_MODES), ""),
    }
    if disk["storageClass"] and classes and disk["storageClass"] not in classes:
        d.fail(f"unknown storage class {disk['storageClass']!r}", "storageClass")
    d.done()
    return {k: v for k, v in disk.items() if v}


def _os(r: Reader, dc: Datacenter) -> tuple[str, str]:
    name, _, version = r.string("os", "ubuntu").partition("/")
    systems = ((dc.kubevirt.get("images") or {}).get("http") or {}).get("operatingSystems") or {}
    if systems and (name not in systems or (version and version not in systems[name])):
        r.fail(f"{name}/{version or '*'} is not in the datacenter's images", "os")
    return name, version


def _machine_deployment(r: Reader, model: Model) -> MachineDeploymentSpec:
    standard = (
        set()
        if model.dc.kubevirt.get("disableDefaultInstanceTypes")
        else set(kkp.STANDARD_INSTANCETYPES)
    )
    prefs = (
        set()
        if model.dc.kubevirt.get("disableDefaultPreferences")
        else set(kkp.STANDARD_PREFERENCES)
    )
    md = MachineDeploymentSpec(name=r.string("name"), replicas=r.integer("replicas", 1))
    md.scale = r.boolean("scale", True)
    md.instancetype = _template_ref(
        r,
        "instancetype",
        standard,
        {i["name"] for i in model.instancetypes},
        ("VirtualMachineInstancetype", "VirtualMachineClusterInstancetype"),
    )
    md.preference = _template_ref(
        r,
        "preference",
        prefs,
        {p["name"] for p in model.preferences},
        ("VirtualMachinePreference", "VirtualMachineClusterPreference"),
    )
    md.os, md.os_version = _os(r, model.dc)
    md.disk = _disk(r, {sc["name"] for sc in model.storage})
    md.eviction_strategy = r.choice("evictionStrategy", ("", "External", "LiveMigrate"), None)
    md.affinity = _affinity(r)
    md.topology_spread = []
    for t in r.items("topologySpread"):
        md.topology_spread.append(
            {
                "maxSkew": t.integer("maxSkew", 1, minimum=1),
                "topologyKey": t.string("topologyKey"),
                "whenUnsatisfiable": t.choice(
                    "whenUnsatisfiable", ("DoNotSchedule", "ScheduleAnyway"), "DoNotSchedule"
                ),
            }
        )
        t.done()
    md.dns_policy = r.choice("dnsPolicy", DNS_POLICIES, None)
    md.dns_config = r.mapping("dnsConfig", None)
    md.cpus = r.quantity("cpus", None)
    md.vcpus = r.integer("vcpus", None, minimum=1)
    md.memory = r.quantity("memory", None)
    if md.instancetype is None and not (md.cpus or md.vcpus):
        r.fail("needs an instancetype, or cpus/vcpus and memory")
    md.load = _load(r)
    md.labels = {str(k): str(v) for k, v in r.mapping("labels", {}).items()}
    r.done()
    return md


def _standalone_vm(r: Reader, model: Model) -> StandaloneVmSpec:
    vm = StandaloneVmSpec(
        name=r.string("name"),
        cpu=r.integer("cpu", 1, minimum=1),
        memory=r.quantity("memory", "2Gi"),
    )
    vm.os, vm.os_version = _os(r, model.dc)
    vm.disk = _disk(r, {sc["name"] for sc in model.storage})
    vm.run_strategy = r.choice(
        "runStrategy", ("Always", "RerunOnFailure", "Manual", "Halted", "Once"), "Always"
    )
    vm.eviction_strategy = r.choice(
        "evictionStrategy", ("None", "LiveMigrate", "LiveMigrateIfPossible", "External"), None
    )
    vm.affinity = _affinity(r)
    vm.load = _load(r)
    vm.labels = {str(k): str(v) for k, v in r.mapping("labels", {}).items()}
    r.done()
    return vm


def _load_balancer(r: Reader) -> LoadBalancerSpec:
    tenant = r.string("tenantService")
    namespace, _, name = tenant.rpartition("/")
    lb = LoadBalancerSpec(
        namespace or "default",
        name,
        r.string("uid"),
        r.choice("selector", ("current", "legacy"), "current"),
        r.string("ip", ""),
    )
    for p in r.items("ports"):
        port = {
            "name": p.string("name", ""),
            "port": p.integer("port", minimum=1),
            "protocol": p.choice("protocol", ("TCP", "UDP", "SCTP"), "TCP"),
        }
        if p.has("nodePort"):
            port["nodePort"] = p.integer("nodePort", minimum=1)
        p.done()
        lb.ports.append({k: v for k, v in port.items() if v != ""})
    r.done()
    return lb


def _cluster_body(r: Reader, cluster: ClusterSpec, model: Model) -> ClusterSpec:
    cluster.node_local_dns = r.boolean("nodeLocalDNS", True)
    cluster.machine_deployments = [
        _machine_deployment(m, model) for m in r.items("machineDeployments")
    ]
    cluster.virtual_machines = [_standalone_vm(v, model) for v in r.items("virtualMachines")]
    cluster.load_balancers = [_load_balancer(lb) for lb in r.items("loadBalancers")]
    names = [m.name for m in cluster.machine_deployments] + [
        v.name for v in cluster.virtual_machines
    ]
    if len(set(names)) != len(names):
        r.fail("MachineDeployment and VM names must be unique within a cluster")
    return cluster


def parse_clusters(
    items: list[Reader], generate: Reader | None, model: Model, rng: random.Random
) -> list[ClusterSpec]:
    clusters = []
    for r in items:
        cid = r.string("id")
        if not (cid.isalnum() and cid.islower() and len(cid) <= 50):
            r.fail(f"{cid!r} must be lowercase letters and digits", "id")
        cluster = ClusterSpec(
            cid,
            r.string("name", cid),
            r.string("project", "project"),
            str(r.value("version", (str, int, float), "1.31.4")),
            r.string("address", ""),
        )
        clusters.append(_cluster_body(r, cluster, model))
        r.done()
    if generate is not None:
        clusters.extend(_generate(generate, model, rng, {c.id for c in clusters}))
    ids = [c.id for c in clusters]
    if len(set(ids)) != len(ids):
        (items[0] if items else generate).fail("cluster ids must be unique")
    return clusters


def _random_id(rng: random.Random, taken: set[str]) -> str:
    while True:
        cid = rng.choice(_ID_ALPHABET[:26]) + "".join(rng.choice(_ID_ALPHABET) for _ in range(9))
        if cid not in taken:
            taken.add(cid)
            return cid


def _generate(r: Reader, model: Model, rng: random.Random, taken: set[str]) -> list[ClusterSpec]:
    """`generateClusters`: `count` clusters alike, with random-looking IDs from the seed."""
    count = r.integer("count", minimum=0)
    pattern = r.string("name", "cluster-{n}")
    projects = [_random_id(rng, set()) for _ in range(r.integer("projects", 1, minimum=1))]
    version = str(r.value("version", (str, int, float), "1.31.4"))
    text = r.string("addresses", "198.18.0.0/15")
    try:
        addresses = ipaddress.IPv4Network(text)
    except ValueError as exc:
        r.fail(f"not an IPv4 network: {exc}", "addresses")
    if count + 2 > addresses.num_addresses:
        r.fail(f"{text} has too few addresses for {count} clusters", "addresses")
    out = []
    for i in range(count):
        cluster = ClusterSpec(
            _random_id(rng, taken),
            pattern.format(n=i + 1),
            projects[i % len(projects)],
            version,
            str(addresses[i + 1]),
        )
        r.used.clear()
        r.used.update({"count", "name", "projects", "version", "addresses"})
        out.append(_cluster_body(r, cluster, model))
    r.used.update({"nodeLocalDNS", "machineDeployments", "virtualMachines", "loadBalancers"})
    r.done()
    return out

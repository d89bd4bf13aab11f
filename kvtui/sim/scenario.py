"""Scenarios: a compact YAML description of an infra cluster, expanded into API objects.

Built-in names ("default", "large", "stuck-migration", "drain-bench") are files shipped in
`kvtui/sim/scenarios/`; anything else is a path. The YAML gives counts and templates (a node
pool, user clusters, MachineDeployments); `load_scenario` checks it strictly, applies the
`nodes=` / `vms=` overrides and expands it into plain objects for `Store.load`. Worker VMs are
not listed: the simulated machine-controller creates them from the MachineDeployments.
"""

from __future__ import annotations

import ipaddress
import random
import re
from dataclasses import dataclass, field
from typing import Any

from kvtui.sim import infra_addons, kkp, kkp_workloads, monitoring
from kvtui.sim import infra_objects as infra
from kvtui.sim.kkp import ClusterSpec, Datacenter
from kvtui.sim.scenario_clusters import parse_clusters
from kvtui.sim.scenario_parts import (
    Model,
    NodePool,
    parse_datacenter,
    parse_kubevirt,
    parse_named_specs,
    parse_nodes,
    parse_storage_classes,
)
from kvtui.sim.scenario_yaml import Reader, ScenarioError, builtin_scenarios, read_document

__all__ = ["Scenario", "ScenarioError", "builtin_scenarios", "load_scenario"]

Obj = dict[str, Any]


@dataclass
class Scenario:
    """A loaded scenario: the objects to serve plus what a runner or a test wants to know."""

    name: str
    description: str
    source: str
    objects: list[Obj]
    speed_hint: float = 1.0
    settings: dict[str, Any] = field(default_factory=dict)  # for World.settings, snake_case
    problems: list[str] = field(default_factory=list)  # the deliberate problems, in prose
    worker_nodes: list[str] = field(default_factory=list)  # the node pool, first to last
    clusters: list[ClusterSpec] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[Obj]:
        return [o for o in self.objects if o.get("kind") == kind]

    @property
    def vm_count(self) -> int:
        """VMs the scenario will run: MachineDeployment replicas plus standalone VMs."""
        return sum(
            sum(md.replicas for md in c.machine_deployments) + len(c.virtual_machines)
            for c in self.clusters
        )


def load_scenario(
    name_or_path: str = "default",
    *,
    nodes: int | None = None,
    vms: int | None = None,
    seed: int = 0,
) -> Scenario:
    """Load, check and expand a scenario; `nodes` sizes the worker pool, `vms` the VM total."""
    doc, label = read_document(name_or_path)
    model = _parse(Reader(doc, "", label), random.Random(seed))
    if nodes is not None:
        if nodes < 1:
            raise ScenarioError(f"{label}: nodes={nodes}: a scenario needs at least one node")
        model.pool.resize(nodes)
    if vms is not None:
        _scale_vms(model, vms, label)
    return Scenario(
        name=model.name,
        description=model.description,
        source=label,
        objects=_build(model, label),
        speed_hint=model.speed,
        settings=model.settings,
        problems=model.problems,
        worker_nodes=[n["name"] for n in model.pool.nodes],
        clusters=model.clusters,
    )


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def _parse(r: Reader, rng: random.Random) -> Model:
    model = Model(name=r.string("name", r.label.rsplit("/", 1)[-1].removesuffix(".yaml")))
    model.description = " ".join(r.string("description", "").split())
    model.speed = float(r.value("speed", (int, float), 1.0))
    if model.speed <= 0:
        r.fail("must be above 0", "speed")
    model.settings = {_snake(k): v for k, v in r.mapping("settings", {}).items()}
    model.problems = [" ".join(p.split()) for p in r.strings("problems", [])]
    infra_r = r.sub("infra") or Reader({}, "infra", r.label, r.line)
    model.infra = {
        "kubernetesVersion": infra_r.string("kubernetesVersion", "v1.31.4"),
        "containerRuntime": infra_r.string("containerRuntime", "containerd://1.7.24"),
        "osImage": infra_r.string("osImage", "Ubuntu 22.04.5 LTS"),
        "kernelVersion": infra_r.string("kernelVersion", "5.15.0-127-generic"),
        "region": infra_r.string("region", "eu-central"),
        "nodeNetwork": _network(infra_r, "nodeNetwork", "10.10.0.0/24"),
        "podNetwork": _network(infra_r, "podNetwork", "10.244.0.0/16"),
        "cni": infra_r.choice("cni", ("kube-ovn", "canal"), "kube-ovn"),
        "cniVersion": infra_r.string("cniVersion", ""),  # "": the guide's minimum, patched
        "nodeLocalDNS": infra_r.value(
            "nodeLocalDNS", (str, type(None)), kkp.NODE_LOCAL_DNS_ADDRESS
        ),
    }
    infra_r.done()
    nodes_r = r.sub("nodes")
    if nodes_r is None:
        r.fail("required key is missing", "nodes")
    model.pool = parse_nodes(nodes_r)
    model.kubevirt, model.cdi = parse_kubevirt(r.sub("kubevirt"), r.sub("cdi"), r)
    model.storage = parse_storage_classes(r.items("storageClasses"))
    model.instancetypes = parse_named_specs(r.items("clusterInstancetypes"), sized=True)
    model.preferences = parse_named_specs(r.items("clusterPreferences"), sized=False)
    seed_r = r.sub("seed")
    if seed_r is None:
        r.fail("required key is missing", "seed")
    model.seed, model.dc = parse_datacenter(seed_r, model)
    model.clusters = parse_clusters(r.items("clusters"), r.sub("generateClusters"), model, rng)
    r.done()
    return model


def _network(r: Reader, key: str, default: str) -> ipaddress.IPv4Network:
    text = r.string(key, default)
    try:
        return ipaddress.IPv4Network(text)
    except ValueError as exc:
        r.fail(f"not an IPv4 network: {exc}", key)


def _scale_vms(model: Model, total: int, label: str) -> None:
    """Spread `total` VMs over the scalable MachineDeployments, in proportion to their size."""
    fixed = sum(
        len(c.virtual_machines) + sum(md.replicas for md in c.machine_deployments if not md.scale)
        for c in model.clusters
    )
    scalable = [md for c in model.clusters for md in c.machine_deployments if md.scale]
    if total < fixed or (total > fixed and not scalable):
        raise ScenarioError(
            f"{label}: vms={total}: the scenario has {fixed} VMs that do not scale and "
            f"{len(scalable)} MachineDeployments that do"
        )
    wanted = total - fixed
    weights = [md.replicas for md in scalable]
    if not sum(weights):
        weights = [1] * len(scalable)
    shares = [wanted * w / sum(weights) for w in weights]
    counts = [int(s) for s in shares]
    order = sorted(range(len(scalable)), key=lambda i: (counts[i] - shares[i], i))
    for i in order[: wanted - sum(counts)]:
        counts[i] += 1
    for md, count in zip(scalable, counts, strict=True):
        md.replicas = count


def _build(model: Model, label: str) -> list[Obj]:
    pool: NodePool = model.pool
    refs = {"$first": pool.nodes[0]["name"], "$last": pool.nodes[-1]["name"]}
    all_nodes = pool.all_nodes()
    net, pods = model.infra["nodeNetwork"], model.infra["podNetwork"]
    if len(all_nodes) + 11 > net.num_addresses:
        raise ScenarioError(
            f"{label}: infra.nodeNetwork {net} is too small for {len(all_nodes)} nodes"
        )
    if len(all_nodes) * 256 > pods.num_addresses:
        raise ScenarioError(
            f"{label}: infra.podNetwork {pods} is too small for "
            f"{len(all_nodes)} nodes (one /24 each)"
        )
    objects: list[Obj] = [infra.namespace_object(n) for n in infra.SYSTEM_NAMESPACES]
    for cluster in model.clusters:
        objects.append(infra.namespace_object(cluster.namespace))
    for i, node in enumerate(all_nodes):
        cidr = f"{pods.network_address + i * 256}/24"
        objects.append(infra.node_object(node, model.infra, str(net[10 + i]), cidr))
    kubevirt = infra.kubevirt_object(model.kubevirt)
    objects.append(kubevirt)
    objects.extend(monitoring.monitoring_objects(kubevirt))
    objects.append(infra.cdi_object(model.cdi))
    for sc in model.storage:
        objects.extend(infra.storage_objects(sc))
    objects.extend(infra.cluster_instancetype(i) for i in model.instancetypes)
    objects.extend(infra.cluster_preference(p) for p in model.preferences)
    kvm_taints = {(t["key"], t["effect"]): t for n in all_nodes if n["kvm"] for t in n["taints"]}
    objects.append(infra_addons.virt_handler(model.kubevirt["version"], list(kvm_taints.values())))
    if model.infra["nodeLocalDNS"]:
        objects.extend(infra_addons.node_local_dns(model.infra["nodeLocalDNS"]))
    objects.append(infra_addons.cni_daemonset(model.infra["cni"], model.infra["cniVersion"]))
    objects.append(infra_addons.prometheus_account())
    objects.extend(infra_addons.core_services())
    dc: Datacenter = model.dc
    objects.append(infra_addons.seed_kubeconfig_secret(dc.seed))
    objects.append(kkp.seed_object(dc, model.seed, len(model.clusters)))
    access = {sc["name"]: sc["accessMode"] for sc in model.storage}
    for cluster in model.clusters:
        objects.append(kkp.cluster_object(cluster, dc))
        objects.append(kkp.credential_secret(cluster.id))
        objects.extend(kkp.cluster_infra_objects(cluster.id, cluster.address, dc.kubevirt)[1:])
        for md in cluster.machine_deployments:
            md.affinity = _resolve(md.affinity, refs)
            objects.append(kkp_workloads.machine_deployment(cluster, md, dc))
        for vm in cluster.virtual_machines:
            vm.affinity = _resolve(vm.affinity, refs)
            sc = vm.disk.get("storageClass") or dc.default_storage_class()
            mode = vm.disk.get("accessType") or access.get(sc, "ReadWriteOnce")
            objects.append(kkp_workloads.standalone_vm(cluster, vm, dc, mode))
        for lb in cluster.load_balancers:
            objects.append(kkp_workloads.load_balancer_service(cluster, lb))
    return objects


def _resolve(preset: dict[str, Any] | None, refs: dict[str, str]) -> dict[str, Any] | None:
    """Replace `$first` / `$last` in affinity values by node names."""
    if not preset:
        return preset
    return {**preset, "values": [refs.get(v, v) for v in preset.get("values") or ()]}

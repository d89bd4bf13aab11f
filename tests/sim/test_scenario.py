"""Scenario loading: the built-in scenarios, their deliberate problems, overrides and errors."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from kvtui.sim.quantity import bytes_of, cpu_millis, parse_quantity
from kvtui.sim.resources import REGISTRY
from kvtui.sim.runner import running_simulator
from kvtui.sim.scenario import Scenario, ScenarioError, builtin_scenarios, load_scenario
from kvtui.sim.store import Store

LAUNCHER_OVERHEAD = 250 * 1024**2  # what the virt-controller adds to a VM's guest memory


@pytest.fixture(scope="module")
def default() -> Scenario:
    return load_scenario("default")


@pytest.fixture(scope="module")
def large() -> Scenario:
    return load_scenario("large")


def named(scenario: Scenario, kind: str, name: str, namespace: str | None = None) -> dict:
    matches = [
        o
        for o in scenario.of_kind(kind)
        if o["metadata"]["name"] == name
        and (namespace is None or o["metadata"].get("namespace") == namespace)
    ]
    assert len(matches) == 1, f"{kind} {namespace}/{name}: {len(matches)} matches"
    return matches[0]


def md_named(scenario: Scenario, name: str) -> dict:
    return named(scenario, "MachineDeployment", name)


def provider_spec(md: dict) -> dict:
    return md["spec"]["template"]["spec"]["providerSpec"]["value"]["cloudProviderSpec"]


def test_builtin_scenarios_ship_in_the_package() -> None:
    assert {"default", "large", "stuck-migration", "drain-bench"} <= set(builtin_scenarios())
    folder = resources.files("kvtui.sim") / "scenarios"
    assert (folder / "default.yaml").is_file()


@pytest.mark.parametrize("name", ["default", "stuck-migration", "large", "drain-bench"])
def test_objects_are_well_formed_and_load_into_a_store(name: str) -> None:
    scenario = load_scenario(name)
    namespaces = {o["metadata"]["name"] for o in scenario.of_kind("Namespace")}
    for obj in scenario.objects:
        assert obj.get("apiVersion") and obj.get("kind"), obj
        assert obj["metadata"].get("name"), obj
        resource = REGISTRY.by_kind(obj["apiVersion"].rpartition("/")[0], obj["kind"])
        assert resource is not None, f"{obj['kind']} is not served"
        assert resource.api_version == obj["apiVersion"]
        if resource.namespaced:
            assert obj["metadata"].get("namespace") in namespaces, obj["metadata"]
        else:
            assert "namespace" not in obj["metadata"]
    store = Store(lambda: 0.0)
    store.load(scenario.objects)
    assert store.count("/nodes") == len(scenario.of_kind("Node"))


def test_default_follows_the_guide(default: Scenario) -> None:
    nodes = default.of_kind("Node")
    kvm = [n for n in nodes if "devices.kubevirt.io/kvm" in n["status"]["capacity"]]
    assert default.worker_nodes == ["kv-node-1", "kv-node-2", "kv-node-3", "kv-node-4"]
    assert [n["metadata"]["name"] for n in kvm] == default.worker_nodes
    for node in kvm:
        assert node["status"]["capacity"]["cpu"] == "16"
        assert node["status"]["capacity"]["memory"] == "64Gi"
        assert node["status"]["allocatable"]["devices.kubevirt.io/vhost-net"] == "1k"
        assert node["metadata"]["labels"]["kubevirt.io/schedulable"] == "true"
        assert node["metadata"]["labels"]["node-role.kubernetes.io/worker"] == ""
        assert node["status"]["nodeInfo"]["kubeletVersion"].startswith("v1.31.")
        assert node["spec"]["podCIDR"].endswith("/24")
        assert any(k.startswith("cpu-model.node.kubevirt.io/") for k in node["metadata"]["labels"])
    control_plane = named(default, "Node", "kv-cp-1")
    assert "devices.kubevirt.io/kvm" not in control_plane["status"]["capacity"]
    assert control_plane["spec"]["taints"][0]["effect"] == "NoSchedule"
    clusters = default.of_kind("Cluster")
    assert len(clusters) == 3
    for cluster in clusters:
        assert cluster["status"]["namespaceName"] == f"cluster-{cluster['metadata']['name']}"
        assert cluster["spec"]["cloud"]["providerName"] == "kubevirt"
        assert cluster["spec"]["cloud"]["dc"] == "kubevirt-ham1"
        assert cluster["spec"]["clusterNetwork"]["nodeLocalDNSCacheEnabled"] is True
        assert cluster["status"]["address"]["ip"]
    assert default.vm_count == 11
    for namespace in ("kubevirt", "cdi", "kube-system", "kubermatic", "monitoring", "default"):
        named(default, "Namespace", namespace)


def test_kubevirt_and_cdi_resources(default: Scenario) -> None:
    kv = named(default, "KubeVirt", "kubevirt", "kubevirt")
    config = kv["spec"]["configuration"]
    assert {"LiveMigration", "HotplugVolumes", "ExperimentalIgnitionSupport"} <= set(
        config["developerConfiguration"]["featureGates"]
    )
    assert config["migrations"]["allowAutoConverge"] is False
    assert config["migrations"]["parallelOutboundMigrationsPerNode"] == 2
    assert kv["spec"]["monitorNamespace"] == "monitoring"
    assert kv["status"]["phase"] == "Deployed"
    assert kv["status"]["observedKubeVirtVersion"] == kv["status"]["targetKubeVirtVersion"]
    cdi = named(default, "CDI", "cdi")
    assert "HonorWaitForFirstConsumer" in cdi["spec"]["config"]["featureGates"]
    assert cdi["status"]["phase"] == "Deployed"
    profiles = {p["metadata"]["name"]: p for p in default.of_kind("StorageProfile")}
    assert set(profiles) == {sc["metadata"]["name"] for sc in default.of_kind("StorageClass")}
    modes = [
        m for s in profiles["local-path"]["status"]["claimPropertySets"] for m in s["accessModes"]
    ]
    assert modes == ["ReadWriteOnce"]
    for cid in ("x7k2mq9p4d", "k4n8vb2t6w", "q2z9f5m7hc"):
        itype = named(default, "VirtualMachineInstancetype", "standard-4", f"cluster-{cid}")
        assert itype["spec"] == {"cpu": {"guest": 4}, "memory": {"guest": "16Gi"}}
        pref = named(default, "VirtualMachinePreference", "sockets-advantage", f"cluster-{cid}")
        assert pref["spec"]["cpu"]["preferredCPUTopology"] == "preferSockets"
    assert default.of_kind("VirtualMachineClusterInstancetype")
    assert default.of_kind("VirtualMachineClusterPreference")


def test_seed_datacenter_has_the_kubevirt_fields(default: Scenario) -> None:
    seed = named(default, "Seed", "europe-west", "kubermatic")
    assert seed["status"] == seed["status"] | {"phase": "Healthy", "clusters": 3}
    dc = seed["spec"]["datacenters"]["kubevirt-ham1"]["spec"]["kubevirt"]
    assert dc["dnsPolicy"] == "ClusterFirst"
    assert "dnsConfig" not in dc
    assert dc["vmEvictionStrategy"] == "LiveMigrate"
    assert dc["enableDefaultNetworkPolicies"] is True
    assert [c["name"] for c in dc["infraStorageClasses"]] == ["rook-ceph-block", "local-path"]
    assert dc["images"]["http"]["operatingSystems"]["ubuntu"]["22.04"].startswith("http://")
    assert dc["customNetworkPolicies"][0]["name"] == "allow-external-traffic"
    assert seed["spec"]["kubeconfig"] == {
        "name": "kubeconfig-europe-west",
        "namespace": "kubermatic",
    }


def cluster_isolation(address: str, nameservers: list[str]) -> dict:
    egress = [
        {"to": [{"podSelector": {}}]},
        {
            "to": [
                {
                    "ipBlock": {
                        "cidr": "0.0.0.0/0",
                        "except": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"],
                    }
                }
            ]
        },
        {"to": [{"ipBlock": {"cidr": f"{address}/32"}}]},
    ]
    for ns in nameservers:
        egress.append(
            {
                "to": [{"ipBlock": {"cidr": f"{ns}/32"}}],
                "ports": [{"protocol": "TCP", "port": 53}, {"protocol": "UDP", "port": 53}],
            }
        )
    return {"podSelector": {}, "policyTypes": ["Egress"], "egress": egress}


IMPORTER = {
    "podSelector": {
        "matchLabels": {"app": "containerized-data-importer", "cdi.kubevirt.io": "importer"}
    },
    "policyTypes": ["Egress"],
    "egress": [
        {"to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "image-repo"}}}]}
    ],
}


@pytest.mark.parametrize("name", ["default", "large"])
def test_network_policies_match_kkp(name: str) -> None:
    scenario = load_scenario(name)
    seed = scenario.of_kind("Seed")[0]
    dc = next(iter(seed["spec"]["datacenters"].values()))["spec"]["kubevirt"]
    nameservers = (dc.get("dnsConfig") or {}).get("nameservers") or []
    assert bool(nameservers) == (name == "large")
    for cluster in scenario.of_kind("Cluster"):
        namespace = cluster["status"]["namespaceName"]
        policy = named(scenario, "NetworkPolicy", "cluster-isolation", namespace)
        assert policy["spec"] == cluster_isolation(cluster["status"]["address"]["ip"], nameservers)
        importer = named(scenario, "NetworkPolicy", "allow-kubevirt-importer", namespace)
        assert importer["spec"] == IMPORTER
        for custom in dc.get("customNetworkPolicies") or ():
            assert (
                named(scenario, "NetworkPolicy", custom["name"], namespace)["spec"]
                == (custom["spec"])
            )


def test_deliberate_problems_are_pinned(default: Scenario) -> None:
    # (a) not live-migratable: RWO-only storage, LiveMigrate, hard on the last node.
    db = provider_spec(md_named(default, "staging-db"))
    assert db["virtualMachine"]["template"]["primaryDisk"]["storageClassName"] == "local-path"
    assert db["virtualMachine"]["template"]["primaryDisk"]["storageAccessType"] == "ReadWriteOnce"
    assert db["virtualMachine"]["evictionStrategy"] == "LiveMigrate"
    assert db["affinity"]["nodeAffinityPreset"] == {
        "type": "hard",
        "key": "kubernetes.io/hostname",
        "values": ["kv-node-4"],
    }
    # (b) evictionStrategy None, standalone, runStrategy Always, soft on the first node.
    bastion = named(default, "VirtualMachine", "bastion", "cluster-k4n8vb2t6w")
    assert bastion["spec"]["runStrategy"] == "Always"
    spec = bastion["spec"]["template"]["spec"]
    assert spec["evictionStrategy"] == "None"
    preferred = spec["affinity"]["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert preferred[0]["preference"]["matchExpressions"][0]["values"] == ["kv-node-1"]
    assert "requiredDuringSchedulingIgnoredDuringExecution" not in spec["affinity"]["nodeAffinity"]
    # (c) one LoadBalancer with the pre-v0.3.0 selector, one with the current selector.
    lbs = [s for s in default.of_kind("Service") if s["spec"]["type"] == "LoadBalancer"]
    legacy = [
        s for s in lbs if any(k.startswith("cloud.kubevirt.io/") for k in s["spec"]["selector"])
    ]
    assert len(legacy) == 1 and legacy[0]["metadata"]["namespace"] == "cluster-k4n8vb2t6w"
    assert legacy[0]["spec"]["selector"] == {
        f"cloud.kubevirt.io/{legacy[0]['metadata']['name']}": "grafana"
    }
    current = [s for s in lbs if s is not legacy[0]]
    assert current[0]["spec"]["selector"] == {
        "cluster.x-k8s.io/role": "worker",
        "cluster.x-k8s.io/cluster-name": "x7k2mq9p4d",
    }
    # (d) NodeLocal DNS on the same address inside and outside.
    corefile = named(default, "ConfigMap", "node-local-dns", "kube-system")["data"]["Corefile"]
    assert "bind 169.254.20.10" in corefile
    dns_ds = named(default, "DaemonSet", "node-local-dns", "kube-system")
    assert "169.254.20.10" in dns_ds["spec"]["template"]["spec"]["containers"][0]["args"]
    for md in default.of_kind("MachineDeployment"):
        assert provider_spec(md)["virtualMachine"]["dnsPolicy"] == "ClusterFirst"
        assert "dnsConfig" not in provider_spec(md)["virtualMachine"]
    assert len(default.problems) == 4


def test_first_node_has_migratable_work_and_one_external_md(default: Scenario) -> None:
    frontend = provider_spec(md_named(default, "prod-eu-frontend"))
    assert md_named(default, "prod-eu-frontend")["spec"]["replicas"] >= 2
    assert frontend["virtualMachine"]["evictionStrategy"] == "LiveMigrate"
    assert frontend["affinity"]["nodeAffinityPreset"]["type"] == "soft"
    assert frontend["affinity"]["nodeAffinityPreset"]["values"] == ["kv-node-1"]
    strategies = {
        md["metadata"]["name"]: provider_spec(md)["virtualMachine"]["evictionStrategy"]
        for md in default.of_kind("MachineDeployment")
    }
    assert [n for n, s in strategies.items() if s != "LiveMigrate"] == ["ci-runners-md"]
    assert strategies["ci-runners-md"] == ""  # the machine-controller makes this External


def dirty_rates(scenario: Scenario) -> dict[str, int]:
    rates = {}
    for md in scenario.of_kind("MachineDeployment"):
        annotations = md["spec"]["template"]["metadata"]["annotations"]
        rates[md["metadata"]["name"]] = bytes_of(
            annotations.get("sim.kvtui.dev/dirty-rate", "16Mi")
        )
    return rates


def test_default_converges_and_stuck_migration_does_not(default: Scenario) -> None:
    assert max(dirty_rates(default).values()) <= 128 * 1024**2
    loads = {
        md["spec"]["template"]["metadata"]["annotations"].get("sim.kvtui.dev/cpu-load")
        for md in default.of_kind("MachineDeployment")
    }
    assert len(loads) >= 4  # varied load knobs
    stuck = load_scenario("stuck-migration")
    kv = stuck.of_kind("KubeVirt")[0]["spec"]["configuration"]["migrations"]
    bandwidth = bytes_of(kv["bandwidthPerMigration"])
    assert bandwidth > 0 and kv["allowAutoConverge"] is False and kv["allowPostCopy"] is False
    too_fast = [n for n, rate in dirty_rates(stuck).items() if rate > bandwidth]
    assert too_fast == ["prod-eu-cache"]
    assert stuck.vm_count == default.vm_count + 1
    assert len(stuck.problems) == len(default.problems) + 1


def test_large_expands_and_fits_with_headroom(large: Scenario) -> None:
    nodes = large.of_kind("Node")
    assert len(nodes) == 200 and len(large.worker_nodes) == 200
    mds = large.of_kind("MachineDeployment")
    assert sum(md["spec"]["replicas"] for md in mds) == 10_000
    assert len(large.of_kind("Cluster")) == 50
    ids = [c["metadata"]["name"] for c in large.of_kind("Cluster")]
    assert len(set(ids)) == 50 and all(len(i) == 10 and i.isalnum() for i in ids)
    types = {
        t["metadata"]["name"]: t["spec"] for t in large.of_kind("VirtualMachineClusterInstancetype")
    }
    memory = cpu = 0
    for md in mds:
        ref = provider_spec(md)["virtualMachine"]["instancetype"]
        spec = types[ref["name"]]
        memory += md["spec"]["replicas"] * (bytes_of(spec["memory"]["guest"]) + LAUNCHER_OVERHEAD)
        cpu += md["spec"]["replicas"] * 100 * spec["cpu"]["guest"]
    allocatable_memory = sum(bytes_of(n["status"]["allocatable"]["memory"]) for n in nodes)
    allocatable_cpu = sum(cpu_millis(n["status"]["allocatable"]["cpu"]) for n in nodes)
    assert memory <= 0.8 * allocatable_memory
    assert cpu <= 0.8 * allocatable_cpu
    pods = sum(int(parse_quantity(n["status"]["allocatable"]["pods"])) for n in nodes)
    assert 0.8 * pods >= 10_000 + 3 * 200


@pytest.mark.parametrize("vms", [10, 40])
def test_drain_bench_puts_every_vm_on_the_first_node(vms: int) -> None:
    """benchmarks/drain.py drains kv-node-1: it must hold exactly `vms` migratable VMs."""
    scenario = load_scenario("drain-bench", vms=vms)
    assert scenario.worker_nodes == ["kv-node-1", "kv-node-2", "kv-node-3", "kv-node-4"]
    (md,) = scenario.of_kind("MachineDeployment")
    assert md["spec"]["replicas"] == vms
    spec = provider_spec(md)
    assert spec["virtualMachine"]["evictionStrategy"] == "LiveMigrate"
    assert spec["virtualMachine"]["template"]["primaryDisk"]["storageAccessType"] == (
        "ReadWriteMany"
    )
    assert spec["affinity"]["nodeAffinityPreset"]["values"] == ["kv-node-1"]
    with running_simulator(scenario="drain-bench", vms=vms, speed=10.0) as sim:
        vmis = sim.call(lambda: sim.simulator.store.list("kubevirt.io/virtualmachineinstances"))
    assert len(vmis) == vms
    for vmi in vmis:
        status = vmi["status"]
        assert (status["nodeName"], status["phase"]) == ("kv-node-1", "Running")
        migratable = [c for c in status["conditions"] if c["type"] == "LiveMigratable"]
        assert [c["status"] for c in migratable] == ["True"], vmi["metadata"]["name"]


def test_generated_ids_follow_the_seed() -> None:
    a, b, c = (load_scenario("large", nodes=3, vms=10, seed=s) for s in (1, 1, 2))
    ids = [[cl["metadata"]["name"] for cl in s.of_kind("Cluster")] for s in (a, b, c)]
    assert ids[0] == ids[1] != ids[2]


def test_overrides_scale_nodes_and_vms() -> None:
    scenario = load_scenario("default", nodes=5, vms=30)
    assert scenario.worker_nodes == [f"kv-node-{i}" for i in range(1, 6)]
    assert len(scenario.of_kind("Node")) == 6  # plus the control-plane node
    assert scenario.vm_count == 30
    replicas = {
        md["metadata"]["name"]: md["spec"]["replicas"]
        for md in scenario.of_kind("MachineDeployment")
    }
    assert sum(replicas.values()) + len(scenario.of_kind("VirtualMachine")) == 30
    assert replicas["staging-db"] == 1 and replicas["prod-eu-frontend"] == 2  # pinned, not scaled
    assert replicas["prod-eu-workers"] > replicas["ci-runners-md"] >= 2
    db = provider_spec(md_named(scenario, "staging-db"))
    assert db["affinity"]["nodeAffinityPreset"]["values"] == ["kv-node-5"]  # $last follows
    small = load_scenario("large", nodes=4, vms=7)
    assert len(small.of_kind("Node")) == 4
    assert sum(md["spec"]["replicas"] for md in small.of_kind("MachineDeployment")) == 7


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


MINIMAL = """\
name: tiny
nodes: {count: 2}
seed:
  name: s1
  datacenter: {name: dc1, kubevirt: {vmEvictionStrategy: LiveMigrate}}
clusters:
  - id: abc123
    machineDeployments:
      - name: md1
        replicas: 2
        instancetype: standard-2
"""


def test_a_scenario_file_by_path(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, MINIMAL))
    assert scenario.name == "tiny" and scenario.vm_count == 2
    assert [n["metadata"]["name"] for n in scenario.of_kind("Node")] == ["node-1", "node-2"]
    child = write(tmp_path, "extends: s.yaml\nname: child\nnodes: {count: 3}\n", "child.yaml")
    assert load_scenario(child).worker_nodes == ["node-1", "node-2", "node-3"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("nodes: [1, 2\n", r"s\.yaml:\d+: invalid YAML"),
        ("- a\n- b\n", r"s\.yaml:1: the top level must be a mapping"),
        ("", r"s\.yaml: the scenario file is empty"),
        (
            MINIMAL.replace("replicas: 2", "replica: 2"),
            r"s\.yaml:10: clusters\[0\]\.machineDeployments\[0\]: unknown key 'replica'",
        ),
        (
            MINIMAL.replace("replicas: 2", "replicas: two"),
            r"s\.yaml:10: clusters\[0\]\.machineDeployments\[0\]\.replicas: expected an integer",
        ),
        (MINIMAL.replace("standard-2", "standard-3"), r"no instancetype 'standard-3'"),
        (MINIMAL.replace("name: tiny", "name: tiny\nname: again"), r"duplicate key 'name'"),
        (
            MINIMAL.replace("nodes: {count: 2}", "nodes: {count: 0}"),
            r"nodes\.count: must be at least 1",
        ),
        (
            MINIMAL + "        affinity: {type: hard, key: k, values: [$middle]}\n",
            r"unknown node reference '\$middle'",
        ),
        (MINIMAL.replace("seed:", "seeds:"), r"seed: required key is missing"),
        ("extends: s.yaml\n", r"extends loops back"),
    ],
)
def test_mistakes_are_reported_with_file_and_line(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError, match=expected) as info:
        load_scenario(path)
    assert "\n" not in str(info.value)


def test_unknown_names_and_unreadable_files() -> None:
    with pytest.raises(ScenarioError, match=r"unknown scenario 'nosuch'.*default"):
        load_scenario("nosuch")
    with pytest.raises(ScenarioError, match=r"/no/such/dir/x\.yaml: cannot read scenario"):
        load_scenario("/no/such/dir/x.yaml")
    with pytest.raises(ScenarioError, match=r"vms=1: the scenario has 4 VMs that do not scale"):
        load_scenario("default", vms=1)
    with pytest.raises(ScenarioError, match="at least one node"):
        load_scenario("default", nodes=0)


def test_scenario_error_is_a_value_error() -> None:
    assert issubclass(ScenarioError, ValueError)

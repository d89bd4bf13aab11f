"""Datacenters read from the simulator's Seed, summarized, validated, and a change's reach.

One simulator serves the module: these tests only read from it. The default scenario's Seed
`europe-west` holds KubeVirt datacenter `kubevirt-ham1` with three user clusters, and the
scenario's `problems` say which warnings an admin should see for it.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from kvtui.cluster import kinds
from kvtui.cluster.connection import Connection
from kvtui.cluster.datacenter import (
    FIELDS,
    SEEDS,
    Datacenter,
    DatacenterRef,
    StorageClassInfo,
    get_datacenter,
    impact,
    infra_namespaces,
    infra_storage_classes,
    list_datacenters,
    summarize,
)
from kvtui.cluster.datacenter_validation import errors, validate, warnings
from kvtui.sim.runner import SimHandle, running_simulator

CLUSTER_IDS = ["k4n8vb2t6w", "q2z9f5m7hc", "x7k2mq9p4d"]
NAMESPACES = [f"cluster-{c}" for c in CLUSTER_IDS]


@pytest.fixture(scope="module")
def sim() -> Iterator[SimHandle]:
    with running_simulator(scenario="default", speed=10.0, seed=3) as handle:
        yield handle


@pytest.fixture
async def conn(sim: SimHandle):
    connection = await Connection.open(str(sim.kubeconfig), sim.context)
    try:
        yield connection
    finally:
        await connection.close()


def test_seeds_and_clusters_are_the_kinds_the_simulator_serves() -> None:
    assert SEEDS is kinds.SEEDS
    assert SEEDS.path("kubermatic", "europe-west") == (
        "/apis/kubermatic.k8c.io/v1/namespaces/kubermatic/seeds/europe-west"
    )
    assert (
        kinds.CLUSTERS.path(name="x7k2mq9p4d") == "/apis/kubermatic.k8c.io/v1/clusters/x7k2mq9p4d"
    )


async def test_list_datacenters_finds_the_seeds_kubevirt_datacenter(conn: Connection) -> None:
    (dc,) = await list_datacenters(conn)
    assert dc.ref == DatacenterRef("kubermatic", "europe-west", "kubevirt-ham1")
    assert (dc.country, dc.location) == ("DE", "Hamburg DC1")
    assert dc.clusters == CLUSTER_IDS
    seed = await conn.get_json(SEEDS.path("kubermatic", "europe-west"))
    assert dc.resource_version == seed["metadata"]["resourceVersion"]
    assert dc.kubevirt == seed["spec"]["datacenters"]["kubevirt-ham1"]["spec"]["kubevirt"]


async def test_the_block_is_a_copy(conn: Connection) -> None:
    dc = await get_datacenter(conn, "kubevirt-ham1")
    dc.kubevirt["infraStorageClasses"][0]["name"] = "changed"
    again = await get_datacenter(conn, "kubevirt-ham1")
    assert again.kubevirt["infraStorageClasses"][0]["name"] == "rook-ceph-block"


async def test_a_missing_datacenter_is_a_lookup_error(conn: Connection) -> None:
    with pytest.raises(LookupError, match='datacenter "kubevirt-fra9" not found'):
        await get_datacenter(conn, "kubevirt-fra9")


async def test_summary_of_the_default_datacenter(conn: Connection) -> None:
    dc = await get_datacenter(conn, "kubevirt-ham1")
    summary = summarize(dc, await infra_storage_classes(conn))
    assert (summary.name, summary.seed) == ("kubevirt-ham1", "europe-west")
    assert (summary.dns_policy, summary.nameservers) == ("ClusterFirst", [])
    assert summary.images == {"ubuntu": ["22.04", "24.04"], "flatcar": ["4081.2.1"]}
    assert summary.storage_classes == [
        StorageClassInfo(
            "rook-ceph-block",
            True,
            True,
            "Immediate",
            "rook-ceph.rbd.csi.ceph.com",
            "Block, Filesystem",
        ),
        StorageClassInfo(
            "local-path", False, True, "WaitForFirstConsumer", "rancher.io/local-path", "Filesystem"
        ),
    ]
    assert summary.policies == ["allow-external-traffic"]
    assert summary.eviction_strategy == "LiveMigrate"
    assert summary.clusters == CLUSTER_IDS
    assert summary.flags["enableDefaultNetworkPolicies"] is True
    assert summary.flags["matchSubnetAndStorageLocation"] is False  # unset: KKP's default
    assert "nodeDefaults" not in summary.flags


async def test_the_default_datacenter_warns_of_the_scenarios_problems(conn: Connection) -> None:
    """Problem nodelocal-dns-collision, and local-path's WaitForFirstConsumer binding."""
    dc = await get_datacenter(conn, "kubevirt-ham1")
    findings = validate(dc.kubevirt, await infra_storage_classes(conn))
    assert errors(findings) == []
    found = {f.path: f.message for f in warnings(findings)}
    assert set(found) == {"dnsPolicy", "infraStorageClasses[1].volumeBindingMode"}
    assert "NodeLocal DNS on 169.254.20.10" in found["dnsPolicy"]
    assert "WaitForFirstConsumer" in found["infraStorageClasses[1].volumeBindingMode"]


async def test_a_storage_class_missing_on_the_infra_cluster_is_an_error(conn: Connection) -> None:
    dc = await get_datacenter(conn, "kubevirt-ham1")
    block = copy.deepcopy(dc.kubevirt)
    block["infraStorageClasses"].append({"name": "gold"})
    classes = await infra_storage_classes(conn)
    assert [(f.path, f.message) for f in errors(validate(block, classes))] == [
        ("infraStorageClasses[2].name", 'no StorageClass "gold" on the infra cluster')
    ]
    gold = summarize(Datacenter(dc.ref, "", "", block, "", []), classes).storage_classes[2]
    assert gold == StorageClassInfo("gold", False, False, "Immediate", "", "")


async def test_impact_of_a_policy_change_names_the_cluster_namespaces(conn: Connection) -> None:
    dc = await get_datacenter(conn, "kubevirt-ham1")
    new = copy.deepcopy(dc.kubevirt)
    new["customNetworkPolicies"][0]["spec"]["ingress"][0]["from"][0]["ipBlock"]["cidr"] = (
        "10.200.20.0/24"
    )
    new["customNetworkPolicies"].append({"name": "allow-monitoring", "spec": {"podSelector": {}}})
    lines = impact(dc, dc.kubevirt, new)
    namespaces = ", ".join(NAMESPACES)
    assert lines == [
        "changes customNetworkPolicies",
        f"affects 3 user clusters of datacenter kubevirt-ham1: {', '.join(CLUSTER_IDS)}",
        f'NetworkPolicy "allow-external-traffic" changes in {namespaces}',
        f'NetworkPolicy "allow-monitoring" is created in {namespaces}',
    ]
    # What the lines say matches the policies the simulated KKP made in those namespaces.
    for namespace in NAMESPACES:
        path = f"/apis/networking.k8s.io/v1/namespaces/{namespace}/networkpolicies"
        names = {p["metadata"]["name"] for p in (await conn.get_json(path))["items"]}
        assert "allow-external-traffic" in names


# -- impact without a cluster ----------------------------------------------------------------
def datacenter(block: dict[str, Any], clusters: list[str] | None = None) -> Datacenter:
    clusters = ["a1", "b2"] if clusters is None else clusters
    return Datacenter(DatacenterRef("kubermatic", "eu", "kv1"), "DE", "", block, "7", clusters)


def test_no_change_has_no_impact() -> None:
    block = {"dnsPolicy": "None"}
    assert impact(datacenter(block), block, copy.deepcopy(block)) == []


def test_a_removed_policy_is_left_behind() -> None:
    old = {"customNetworkPolicies": [{"name": "p", "spec": {"podSelector": {}}}]}
    lines = impact(datacenter(old), old, {"customNetworkPolicies": []})
    assert lines[-1] == (
        'NetworkPolicy "p" leaves the datacenter, but KKP does not delete it: it stays in '
        "cluster-a1, cluster-b2 until deleted by hand"
    )


def test_namespaced_mode_puts_every_policy_in_the_shared_namespace() -> None:
    old = {"namespacedMode": {"enabled": True}}
    new = {**old, "customNetworkPolicies": [{"name": "p", "spec": {"podSelector": {}}}]}
    assert (
        impact(datacenter(old), old, new)[-1] == 'NetworkPolicy "p" is created in kubevirt-workload'
    )
    assert infra_namespaces({"namespacedMode": {"enabled": True, "name": "vms"}}, ["a"]) == ["vms"]
    assert infra_namespaces({"namespacedMode": {"enabled": False, "name": "vms"}}, ["a"]) == [
        "cluster-a"
    ]


def test_default_policies_follow_the_switch_and_the_nameservers() -> None:
    on: dict[str, Any] = {"dnsPolicy": "None", "dnsConfig": {"nameservers": ["8.8.8.8"]}}
    off = {**on, "enableDefaultNetworkPolicies": False}
    dc = datacenter(on)
    assert impact(dc, on, off)[2] == (
        'NetworkPolicies "cluster-isolation" and "allow-kubevirt-importer": KKP stops reconciling '
        "them in cluster-a1, cluster-b2"
    )
    assert impact(dc, off, on)[2].endswith("are created in cluster-a1, cluster-b2")
    more = {**on, "dnsConfig": {"nameservers": ["8.8.8.8", "1.1.1.1"]}}
    assert impact(dc, on, more)[2] == (
        'NetworkPolicy "cluster-isolation" changes its DNS egress (nameservers: 8.8.8.8, 1.1.1.1) '
        "in cluster-a1, cluster-b2"
    )


def test_the_ee_isolation_policy_is_per_cluster() -> None:
    old = {"namespacedMode": {"enabled": True, "name": "vms"}, "providerNetwork": {"name": "ovn"}}
    new = copy.deepcopy(old)
    new["providerNetwork"]["networkPolicy"] = {"enabled": True, "mode": "deny"}
    assert impact(datacenter(old), old, new)[-1] == (
        "NetworkPolicies cluster-isolation-a1, cluster-isolation-b2 are created in vms"
    )


def test_storage_and_template_changes() -> None:
    old = {"infraStorageClasses": [{"name": "ceph", "isDefaultClass": True}, {"name": "nfs"}]}
    new = {
        "infraStorageClasses": [{"name": "ceph"}, {"name": "lvm", "isDefaultClass": True}],
        "disableDefaultInstanceTypes": True,
    }
    assert impact(datacenter(old, []), old, new) == [
        "changes infraStorageClasses, disableDefaultInstanceTypes",
        "no user cluster uses datacenter kv1: only clusters created later get it",
        'tenant StorageClass "kubevirt-lvm" is offered to the user clusters',
        'tenant StorageClass "kubevirt-nfs" is no longer offered to the user clusters',
        'the user clusters\' default StorageClass becomes "kubevirt-lvm"',
        "KKP stops reconciling the instance types standard-2/4/8 in no namespace yet",
    ]


def test_summary_defaults_and_flags() -> None:
    block = {"vmEvictionStrategy": "", "namespacedMode": {"enabled": True}}
    summary = summarize(datacenter(block), [])
    assert (summary.dns_policy, summary.eviction_strategy) == ("ClusterFirst", "External")
    assert summary.flags["ccmZoneAndRegionEnabled"] is True  # nil means true (§1.4)
    assert summary.flags["namespacedMode"] == {"enabled": True}
    assert set(summary.flags) <= {f.name for f in FIELDS}


def test_the_domain_modules_import_neither_textual_nor_the_simulator() -> None:
    modules = "kvtui.cluster.datacenter, kvtui.cluster.datacenter_validation"
    code = f"import json, sys, {modules}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    loaded = set(json.loads(out))
    assert not {
        m for m in loaded if m == "textual" or m.startswith(("textual.", "kvtui.sim", "kvtui.ui"))
    }

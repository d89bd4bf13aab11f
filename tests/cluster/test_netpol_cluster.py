"""The NetworkPolicies as KKP sees them: origins, selections, drift from the datacenter, the
endpoint words of `netpol check`, and the fix with its reach in every user cluster.

The pure parts run on a small hand-made cluster; the integration tests read the simulator (the
default scenario: three user clusters of datacenter kubevirt-ham1, whose block carries the
provider guide's FAQ policy `allow-external-traffic`), and one changes it through the
datacenter apply path to see the simulated KKP reconcile the policies.
"""

from __future__ import annotations

import asyncio
import copy
import time
from typing import Any

import pytest

from kvtui.cluster.connection import Connection
from kvtui.cluster.datacenter import Datacenter, DatacenterRef, get_datacenter
from kvtui.cluster.datacenter_apply import apply_block
from kvtui.cluster.netpol import ALLOWED, DENIED, OUTSIDE, UNSELECTED, External, PodEndpoint
from kvtui.cluster.netpol_cluster import (
    NetpolWorld,
    pod_label,
    policy_states,
    read_world,
    selection_text,
    user_clusters,
)
from kvtui.cluster.netpol_kkp import (
    CUSTOM,
    KKP_DEFAULT,
    OTHER,
    cluster_isolation_spec,
    expected_policies,
    importer_spec,
    normal_spec,
    spec_differences,
)
from kvtui.cluster.netpol_query import check, fix_labels, propose, verdict_groups
from kvtui.cluster.netpol_resolve import EndpointError, parse_labels, parse_port, resolve
from kvtui.sim.runner import SimHandle, running_simulator
from tests.cluster.test_netpol import (
    FAQ_ENTRY,
    allow_kubevirt_importer,
    cluster_isolation,
    cluster_isolation_v222,
)

Json = dict[str, Any]
DC = "kubevirt-ham1"
PROD, STAGING = "cluster-x7k2mq9p4d", "cluster-k4n8vb2t6w"
LAB = "lab"
ADDRESS = "198.51.100.21"


def raw_policy(name: str, namespace: str, spec: Json) -> Json:
    return {"metadata": {"name": name, "namespace": namespace}, "spec": copy.deepcopy(spec)}


def raw_pod(
    namespace: str,
    name: str,
    ip: str,
    labels: Json,
    *,
    phase: str = "Running",
    domain: str = "",
    ports: list[Json] | None = None,
) -> Json:
    metadata: Json = {"name": name, "namespace": namespace, "labels": labels}
    if domain:
        metadata["annotations"] = {"kubevirt.io/domain": domain}
    container: Json = {"name": "compute"}
    if ports:
        container["ports"] = ports
    return {
        "metadata": metadata,
        "spec": {"containers": [container]},
        "status": {"phase": phase, "podIP": ip, "podIPs": [{"ip": ip}]},
    }


def worker(namespace: str, cluster: str, machine: str, ip: str, **more: Any) -> Json:
    """A KKP worker VM's virt-launcher pod, labelled as machine-controller and KubeVirt do."""
    labels = {
        "kubevirt.io": "virt-launcher",
        "kubevirt.io/created-by": f"uid-{machine}",
        "vm.kubevirt.io/name": machine,
        "kubevirt.io/vm": machine,
        "cluster.x-k8s.io/cluster-name": cluster,
        "cluster.x-k8s.io/role": "worker",
        "kubermatic.k8c.io/cluster-id": cluster,
        "machine": f"md-{cluster}-workers",
        "md": "workers",
    }
    return raw_pod(namespace, f"virt-launcher-{machine}-abcde", ip, labels, domain=machine, **more)


def block(**fields: Any) -> Json:
    return {"enableDefaultNetworkPolicies": True, "customNetworkPolicies": [FAQ_ENTRY], **fields}


def datacenter(kubevirt: Json, clusters: list[str]) -> Datacenter:
    return Datacenter(
        DatacenterRef("kubermatic", "europe-west", DC), "DE", "", kubevirt, "1", clusters
    )


def world(kubevirt: Json | None = None, policies: list[Json] | None = None) -> NetpolWorld:
    """Two user clusters of one datacenter (prod with two workers and a LoadBalancer, staging
    with one worker and a bastion VM) and a namespace `lab` of nobody's."""
    kubevirt = block() if kubevirt is None else kubevirt
    dc = datacenter(kubevirt, ["x7k2mq9p4d", "k4n8vb2t6w"])
    clusters = [
        {
            "metadata": {"name": "x7k2mq9p4d"},
            "spec": {"humanReadableName": "prod"},
            "status": {"address": {"ip": ADDRESS}},
        },
        {
            "metadata": {"name": "k4n8vb2t6w"},
            "spec": {"humanReadableName": "staging"},
            "status": {"address": {"ip": ""}},
        },
    ]
    if policies is None:
        policies = [
            *(raw_policy(n, PROD, s) for n, s in _expected(kubevirt, ADDRESS)),
            *(raw_policy(n, STAGING, s) for n, s in _expected(kubevirt, "")),
        ]
    lb = {
        "metadata": {"name": "a3f9c2a7", "namespace": PROD},
        "spec": {
            "type": "LoadBalancer",
            "selector": {
                "cluster.x-k8s.io/role": "worker",
                "cluster.x-k8s.io/cluster-name": "x7k2mq9p4d",
            },
            "ports": [
                {"name": "https", "port": 443, "targetPort": 31443, "nodePort": 30443},
                {"name": "metrics", "port": 9100, "targetPort": "metrics"},
            ],
        },
    }
    legacy = {
        "metadata": {"name": "grafana", "namespace": STAGING},
        "spec": {
            "type": "LoadBalancer",
            "selector": {"cloud.kubevirt.io/a8d4": "grafana"},
            "externalTrafficPolicy": "Local",
            "ports": [{"port": 80}],
        },
    }
    metrics = [{"containerPort": 9100, "name": "metrics"}]
    pods = [
        worker(PROD, "x7k2mq9p4d", "prod-w-1", "10.244.1.3", ports=metrics),
        worker(PROD, "x7k2mq9p4d", "prod-w-2", "10.244.2.3", ports=metrics),
        worker(PROD, "x7k2mq9p4d", "prod-w-3", "10.244.3.3", phase="Succeeded"),  # migrated
        worker(STAGING, "k4n8vb2t6w", "staging-w-1", "10.244.1.4"),
        raw_pod(
            STAGING,
            "virt-launcher-bastion-x1y2z",
            "10.244.2.4",
            {"app": "bastion", "kubevirt.io": "virt-launcher", "kubevirt.io/vm": "bastion"},
            domain="bastion",
        ),
        raw_pod(LAB, "probe", "10.244.9.9", {"app": "probe"}),
    ]
    return NetpolWorld(
        policies=policies,
        namespaces={PROD: {}, STAGING: {}, LAB: {"team": "qa"}},
        pods=[p for p in pods if p["status"]["phase"] != "Succeeded"],
        services=[lb, legacy],
        datacenters=[dc],
        clusters=user_clusters([dc], clusters),
    )


def _expected(kubevirt: Json, address: str) -> list[tuple[str, Json]]:
    return [(name, spec) for name, (_, spec) in expected_policies(kubevirt, address).items()]


def states_by_key(w: NetpolWorld) -> dict[tuple[str, str], Any]:
    return {s.key: s for s in policy_states(w)}


# -- what KKP puts in a cluster's namespace -------------------------------------------------
def test_expected_policies_follow_the_fact_sheet() -> None:
    expected = expected_policies(block(dnsConfig={"nameservers": ["10.0.0.53"]}), "10.10.0.50")
    assert list(expected) == ["cluster-isolation", "allow-kubevirt-importer", FAQ_ENTRY["name"]]
    # The fact sheet §2.1 copies in test_netpol are the reference, field for field.
    assert expected["cluster-isolation"] == (KKP_DEFAULT, cluster_isolation()["spec"])
    assert expected["allow-kubevirt-importer"] == (KKP_DEFAULT, allow_kubevirt_importer()["spec"])
    assert expected[FAQ_ENTRY["name"]] == (CUSTOM, FAQ_ENTRY["spec"])
    # Unknown address: the empty rule 3 (allows all egress); no nameservers: no DNS rule.
    assert cluster_isolation_spec("", [])["egress"][2] == {}
    assert (
        cluster_isolation_spec("", [])["egress"]
        == cluster_isolation(address="", nameservers=())["spec"]["egress"]
    )
    assert importer_spec() == allow_kubevirt_importer()["spec"]


@pytest.mark.parametrize(
    ("kubevirt", "names"),
    [
        (block(enableDefaultNetworkPolicies=False), [FAQ_ENTRY["name"]]),
        (block(namespacedMode={"enabled": True}), [FAQ_ENTRY["name"]]),
        ({}, ["cluster-isolation", "allow-kubevirt-importer"]),
    ],
    ids=["defaults-disabled", "namespaced-mode", "empty-block"],
)
def test_defaults_off_and_customs_always(kubevirt: Json, names: list[str]) -> None:
    assert list(expected_policies(kubevirt, ADDRESS)) == names


def test_specs_compare_as_the_api_server_means_them() -> None:
    faq = FAQ_ENTRY["spec"]  # no podSelector, as the guide writes it
    assert spec_differences({**faq, "podSelector": {}}, faq) == []
    defaulted = {
        "podSelector": {"matchLabels": {}},
        "ingress": [{"from": [], "ports": [{"port": 80}]}],
    }
    plain = {
        "podSelector": {},
        "policyTypes": ["Ingress"],
        "ingress": [{"ports": [{"port": 80, "protocol": "TCP"}]}],
    }
    assert normal_spec(defaulted) == normal_spec(plain)
    # Present-but-empty selectors mean "all": they are not the same as absent ones.
    any_ns = {"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {}}]}]}
    same_ns = {"podSelector": {}, "ingress": [{"from": [{"podSelector": {}}]}]}
    assert spec_differences(any_ns, same_ns) == ["ingress"]
    assert spec_differences(cluster_isolation()["spec"], faq) == [
        "policyTypes",
        "ingress",
        "egress",
    ]


# -- origins, selections, drift -------------------------------------------------------------
def test_origins_and_selections_without_drift() -> None:
    states = policy_states(world())
    assert [(s.namespace, s.name, s.origin) for s in states] == [
        (STAGING, "allow-external-traffic", CUSTOM),
        (STAGING, "allow-kubevirt-importer", KKP_DEFAULT),
        (STAGING, "cluster-isolation", KKP_DEFAULT),
        (PROD, "allow-external-traffic", CUSTOM),
        (PROD, "allow-kubevirt-importer", KKP_DEFAULT),
        (PROD, "cluster-isolation", KKP_DEFAULT),
    ]
    assert all(not s.drift and not s.missing for s in states)
    by_key = {s.key: s for s in states}
    isolation = by_key[(PROD, "cluster-isolation")]
    # The finished (migrated-away) pod is not selected; a VM is named by its VM.
    assert [pod_label(p) for p in isolation.selected] == ["vm/prod-w-1", "vm/prod-w-2"]
    assert (
        selection_text(pod_label(p) for p in by_key[(STAGING, "cluster-isolation")].selected)
        == "2 VMs"
    )
    assert by_key[(PROD, "allow-kubevirt-importer")].selected == ()
    assert (isolation.datacenter, isolation.cluster) == (DC, "x7k2mq9p4d")
    assert isolation.sentences()[2] == f"egress from every pod to {ADDRESS}/32"
    assert [s.name for s in policy_states(world(), STAGING)] == [
        "allow-external-traffic",
        "allow-kubevirt-importer",
        "cluster-isolation",
    ]


def test_drift_changed_missing_left_behind_and_others() -> None:
    kubevirt = block()
    policies = [raw_policy(n, PROD, s) for n, s in _expected(kubevirt, ADDRESS)]
    edited = copy.deepcopy(FAQ_ENTRY["spec"])
    edited["ingress"][0]["from"][0]["ipBlock"]["cidr"] = "10.200.0.0/16"
    policies.append(raw_policy("allow-external-traffic", STAGING, edited))
    policies.append(raw_policy("cluster-isolation", STAGING, cluster_isolation_spec("", [])))
    policies.append(raw_policy("allow-monitoring", STAGING, {"podSelector": {}, "ingress": [{}]}))
    policies.append(raw_policy("cluster-isolation", LAB, {"podSelector": {}}))
    states = states_by_key(world(kubevirt, policies))
    assert (
        states[(STAGING, "allow-external-traffic")].drift
        == f"differs from datacenter {DC}: ingress"
    )
    missing = states[(STAGING, "allow-kubevirt-importer")]
    assert missing.missing and missing.origin == KKP_DEFAULT
    assert missing.drift == f"missing: datacenter {DC} has it (KKP's default)"
    assert missing.spec == importer_spec()
    assert states[(STAGING, "allow-monitoring")].origin == OTHER
    assert not states[(STAGING, "allow-monitoring")].drift
    # Outside any user cluster: named like KKP's, no datacenter to compare with.
    lab = states[(LAB, "cluster-isolation")]
    assert (lab.origin, lab.drift, lab.datacenter) == (KKP_DEFAULT, "", "")
    # The datacenter stops producing the defaults: KKP leaves them behind (§2.1, never deleted).
    off = states_by_key(world(block(enableDefaultNetworkPolicies=False), policies))
    assert (
        off[(PROD, "cluster-isolation")].drift
        == f"left behind: datacenter {DC} no longer produces it"
    )
    assert not off[(PROD, "allow-external-traffic")].drift
    # A custom entry KKP has not created yet, in every cluster.
    extra = {
        "name": "allow-dns",
        "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{}]},
    }
    more = states_by_key(world(block(customNetworkPolicies=[FAQ_ENTRY, extra]), policies))
    assert (
        more[(PROD, "allow-dns")].drift
        == f"missing: datacenter {DC} has it (a customNetworkPolicies entry)"
    )
    assert more[(PROD, "allow-dns")].origin == CUSTOM


# -- the endpoint words ---------------------------------------------------------------------
def test_ports_and_labels() -> None:
    assert parse_port("443") == (443, "TCP")
    assert parse_port("53/udp") == (53, "UDP")
    assert parse_port(" 3868/SCTP ") == (3868, "SCTP")
    assert parse_labels("app=web, tier=front") == {"app": "web", "tier": "front"}
    assert parse_labels("") == {}
    for bad, fragment in [
        ("0", "1-65535"),
        ("65536", "1-65535"),
        ("https", "1-65535"),
        ("443/ICMP", "TCP, UDP, SCTP"),
    ]:
        with pytest.raises(EndpointError, match=fragment):
            parse_port(bad)
    with pytest.raises(EndpointError, match="key=value"):
        parse_labels("app")
    with pytest.raises(EndpointError, match="label 'Bad Key=x'"):
        parse_labels("Bad Key=x")


def test_resolve_addresses_pods_vms_services_and_labels() -> None:
    w = world()
    cidr = resolve(w, "10.200.10.0/24")
    assert cidr.what == "address" and cidr.endpoints == (External("10.200.10.0/24"),)
    # A pod's own IP is that pod: selectors see it too, not only ipBlocks.
    by_ip = resolve(w, "10.244.9.9")
    assert by_ip.what == "pod" and by_ip.endpoints[0].name == "probe"
    assert by_ip.notes == ("10.244.9.9 is lab/probe",)
    vm = resolve(w, f"{PROD}/prod-w-1")
    assert vm.what == "vm" and vm.endpoints[0].name == "vm/prod-w-1"
    assert vm.endpoints[0].ips == ("10.244.1.3",)
    assert resolve(w, f"{PROD}/virt-launcher-prod-w-1-abcde").what == "pod"
    labels = resolve(w, f"{LAB}:app=probe,tier=x")
    assert labels.endpoints == (PodEndpoint(LAB, {"app": "probe", "tier": "x"}),)
    service = resolve(w, f"{PROD}/a3f9c2a7", destination=True)
    assert [e.name for e in service.endpoints] == ["vm/prod-w-1", "vm/prod-w-2"]
    assert service.notes[0] == f"Service {PROD}/a3f9c2a7 (LoadBalancer) selects 2 VMs"
    assert "externalTrafficPolicy Cluster" in service.notes[1]
    for text, fragment, destination in [
        ("", "empty", False),
        ("10.0.0.300", "not an IP address or CIDR", False),
        ("10.0.0.0/33", "not an IP address or CIDR", False),
        ("nowhere/pod", "namespace 'nowhere' not found", False),
        (f"{PROD}/nothing", f"no pod, VM or Service nothing in namespace {PROD}", True),
        (f"{PROD}/a3f9c2a7", "is a Service: a source must be", False),
        (f"{STAGING}/grafana", "selects no pod (cloud.kubevirt.io/a8d4=grafana)", True),
        ("just-a-word", "give IP, CIDR, NS/NAME", False),
    ]:
        with pytest.raises(EndpointError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
            resolve(w, text, destination=destination)


def test_a_migrating_vm_is_its_source_pod() -> None:
    w = world()
    target = worker(PROD, "x7k2mq9p4d", "prod-w-1", "10.244.4.3")
    target["metadata"]["name"] = "virt-launcher-prod-w-1-target"
    target["metadata"]["labels"]["kubevirt.io/migrationJobUID"] = "uid"
    pending = worker(PROD, "x7k2mq9p4d", "prod-w-2", "10.244.4.4", phase="Pending")
    pending["metadata"]["name"] = "virt-launcher-prod-w-2-0"  # sorts first, but not running
    w.pods = [target, pending, *w.pods]
    assert resolve(w, f"{PROD}/prod-w-1").endpoints[0].ips == ("10.244.1.3",)
    assert resolve(w, f"{PROD}/prod-w-2").endpoints[0].ips == ("10.244.2.3",)
    # A migrating VM has two running pods; it is still one VM, standing as its source pod.
    isolation = states_by_key(w)[(PROD, "cluster-isolation")]
    assert [pod_label(p) for p in isolation.selected] == ["vm/prod-w-1", "vm/prod-w-2"]
    assert [p["status"]["podIP"] for p in isolation.selected] == ["10.244.1.3", "10.244.2.3"]
    service = resolve(w, f"{PROD}/a3f9c2a7", destination=True)
    assert [e.ips for e in service.endpoints] == [("10.244.1.3",), ("10.244.2.3",)]


# -- checking -------------------------------------------------------------------------------
def test_faq_traffic_to_the_load_balancer_on_its_target_port() -> None:
    w = world()
    allowed = check(w, "10.200.10.0/24", f"{PROD}/a3f9c2a7", "443")
    assert allowed.allowed and [v.port for v in allowed.verdicts] == [31443, 31443]
    [group] = verdict_groups(allowed.verdicts)
    assert len(group) == 2
    verdict = group[0]
    assert verdict.egress.outcome == OUTSIDE and verdict.ingress.outcome == ALLOWED
    assert str(verdict.ingress.decision) == f"{PROD}/allow-external-traffic rule 0 peer 0"
    assert "Service a3f9c2a7 port 443 arrives on the pods' port 31443/TCP" in allowed.notes
    # The nodePort arrives on the same pod port; a named targetPort resolves per pod.
    assert [v.port for v in check(w, "10.200.10.0/24", f"{PROD}/a3f9c2a7", "30443").verdicts] == [
        31443
    ] * 2
    assert [v.port for v in check(w, "10.200.10.0/24", f"{PROD}/a3f9c2a7", "9100").verdicts] == [
        9100
    ] * 2
    with pytest.raises(EndpointError, match=r"no port 80/TCP \(ports: 443/TCP, 9100/TCP\)"):
        check(w, "10.200.10.0/24", f"{PROD}/a3f9c2a7", "80")
    denied = check(w, "10.200.20.0/24", f"{PROD}/a3f9c2a7", "443")
    assert not denied.allowed and len(denied.denied) == 2
    ingress = denied.denied[0].ingress
    assert ingress.outcome == DENIED
    assert [r.policy for r in ingress.refusals] == [f"{PROD}/allow-external-traffic"]


def test_kkp_notes_say_what_cluster_isolation_does() -> None:
    # Without the FAQ policy nothing restricts ingress: current cluster-isolation is egress-only.
    w = world(block(customNetworkPolicies=[]))
    open_door = check(w, "10.200.20.0/24", f"{PROD}/prod-w-1", "22")
    assert open_door.allowed and open_door.verdicts[0].ingress.outcome == UNSELECTED
    assert any("restricts egress only (KKP ≥ v2.23" in n for n in open_door.notes)
    closed = check(w, f"{PROD}/prod-w-1", "10.200.10.5", "443")
    assert not closed.allowed
    assert any("192.168.0.0/16 stay closed" in n for n in closed.notes)
    # Outside a user cluster's namespace KKP's notes do not apply.
    assert check(w, "10.200.20.0/24", f"{LAB}/probe", "80").notes == ()
    # With the FAQ policy in place, ingress is decided by it, not by cluster-isolation.
    faq = check(world(), "10.200.10.0/24", f"{PROD}/prod-w-1", "22")
    assert faq.notes == (
        f"VM {PROD}/prod-w-1 is its virt-launcher pod virt-launcher-prod-w-1-abcde",
        "KKP's cluster-isolation restricts egress only (KKP ≥ v2.23; up to v2.22 it admitted "
        f"only same-namespace ingress): ingress in {PROD} is decided by the other policies",
    )
    # A namespace still holding KKP ≤ v2.22's ingress isolation gets no such note: that
    # policy decides, and says so itself.
    old = [raw_policy("cluster-isolation", PROD, cluster_isolation_v222()["spec"])]
    v222 = check(
        world(block(customNetworkPolicies=[]), old), "10.200.10.0/24", f"{PROD}/prod-w-1", "22"
    )
    assert not v222.allowed and len(v222.notes) == 1
    assert [r.policy for r in v222.verdicts[0].ingress.refusals] == [f"{PROD}/cluster-isolation"]


# -- the fix --------------------------------------------------------------------------------
def test_fix_selects_worker_vms_in_every_cluster_and_flips_the_verdict() -> None:
    w = world()
    denied = check(w, "10.200.20.0/24", f"{PROD}/a3f9c2a7", "443").denied[0]
    fix, [proposal], after = propose(w, denied)
    assert after.allowed
    assert after.ingress.decision.policy == f"{PROD}/allow-from-10-200-20-0-24-31443-tcp"
    assert proposal.datacenter == DC
    # `machine` names one MachineDeployment of one cluster: it must not reach the selector.
    assert proposal.entry == {
        "name": "allow-from-10-200-20-0-24-31443-tcp",
        "spec": {
            "podSelector": {
                "matchLabels": {"cluster.x-k8s.io/role": "worker", "kubevirt.io": "virt-launcher"}
            },
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [{"ipBlock": {"cidr": "10.200.20.0/24"}}],
                    "ports": [{"protocol": "TCP", "port": 31443}],
                }
            ],
        },
    }
    effects = {e.namespace: e for e in proposal.effects}
    assert set(effects) == {PROD, STAGING}
    assert effects[PROD].selected == ("vm/prod-w-1", "vm/prod-w-2")
    assert effects[STAGING].selected == ("vm/staging-w-1",)  # not the bastion: no worker role
    assert effects[PROD].newly_isolated == ()  # allow-external-traffic isolates them already
    assert proposal.lines()[2] == f"  {PROD} (prod): applies to 2 VMs"
    assert fix.entries() == [proposal.entry]


def test_fix_reach_names_pods_it_isolates_for_the_first_time() -> None:
    kubevirt = block(customNetworkPolicies=[])
    web_only = {
        "podSelector": {},
        "policyTypes": ["Ingress"],
        "ingress": [{"ports": [{"port": 443}]}],
    }
    policies = [
        *(raw_policy(n, PROD, s) for n, s in _expected(kubevirt, ADDRESS)),
        *(raw_policy(n, STAGING, s) for n, s in _expected(kubevirt, "")),
        raw_policy("web-only", PROD, web_only),  # by hand, in prod only
    ]
    w = world(kubevirt, policies)
    denied = check(w, "10.200.20.0/24", f"{PROD}/prod-w-1", "22")
    assert [r.policy for r in denied.denied[0].ingress.refusals] == [f"{PROD}/web-only"]
    _, [proposal], after = propose(w, denied.denied[0])
    assert after.allowed
    effects = {e.namespace: e for e in proposal.effects}
    assert effects[PROD].newly_isolated == ()
    # Staging's worker had no ingress policy: the datacenter-wide fix isolates it.
    assert effects[STAGING].newly_isolated == ("vm/staging-w-1",)
    assert effects[STAGING].sentence("Ingress") == (
        f"{STAGING} (staging): applies to 1 VM; 1 of them had no ingress policy: any other "
        "ingress to them is now denied"
    )
    # An egress denial: cluster-isolation selects every pod for egress, nothing new is isolated.
    egress = check(w, f"{PROD}/prod-w-1", "10.200.10.5", "514/UDP").denied[0]
    _, [out], after = propose(w, egress)
    assert after.allowed and out.fix.direction == "Egress"
    assert all(e.newly_isolated == () for e in out.effects)
    assert out.entry["spec"]["egress"] == [
        {
            "to": [{"ipBlock": {"cidr": "10.200.10.5/32"}}],
            "ports": [{"protocol": "UDP", "port": 514}],
        }
    ]
    # A namespace of nobody's cluster: the fix is a plain NetworkPolicy to apply there.
    deny_lab = raw_policy("deny-egress", LAB, {"podSelector": {}, "policyTypes": ["Egress"]})
    lab = world(kubevirt, [*policies, deny_lab])
    from_lab = check(lab, f"{LAB}/probe", f"{PROD}/prod-w-1", "443")
    assert from_lab.verdicts[0].egress.outcome == DENIED
    _, [plain], _ = propose(lab, from_lab.denied[0])
    assert plain.datacenter == "" and plain.effects == ()
    assert plain.lines()[1] == f"{LAB} is no KKP user cluster's namespace: apply it there"


def test_fix_labels_keep_the_kind() -> None:
    assert fix_labels(External("10.0.0.1")) is None
    assert fix_labels(PodEndpoint(LAB, {"app": "probe", "pod-template-hash": "x"})) == {
        "app": "probe"
    }


# -- against the simulator ------------------------------------------------------------------
async def _read(handle: SimHandle) -> NetpolWorld:
    conn = await Connection.open(str(handle.kubeconfig), handle.context)
    try:
        return await read_world(conn)
    finally:
        await conn.close()


def test_the_default_scenario_as_read_from_the_simulator(sim: SimHandle) -> None:
    w = asyncio.run(_read(sim))
    assert {c.id for c in w.clusters} == {"x7k2mq9p4d", "k4n8vb2t6w", "q2z9f5m7hc"}
    assert all(c.datacenter == DC and c.address for c in w.clusters)
    states = policy_states(w)
    assert len(states) == 9 and not [s for s in states if s.drift]
    origins = {(s.name, s.origin) for s in states}
    assert origins == {
        ("cluster-isolation", KKP_DEFAULT),
        ("allow-kubevirt-importer", KKP_DEFAULT),
        ("allow-external-traffic", CUSTOM),
    }
    prod = {s.name: s for s in states if s.namespace == PROD}
    assert len(prod["cluster-isolation"].selected) == 5  # 3 workers + 2 frontend VMs
    # The FAQ: 10.200.10.0/24 to prod-eu's LoadBalancer reaches its VMs on the target port,
    # admitted by the datacenter's allow-external-traffic (cluster-isolation is egress-only).
    lb = next(s for s in w.services if s["metadata"]["namespace"] == PROD)
    result = check(w, "10.200.10.0/24", f"{PROD}/{lb['metadata']['name']}", "443")
    assert result.allowed and len(result.verdicts) == 5
    assert {v.port for v in result.verdicts} == {31443}
    assert {str(v.ingress.decision) for v in result.verdicts} == {
        f"{PROD}/allow-external-traffic rule 0 peer 0"
    }
    # The legacy-selector LoadBalancer of staging reaches nothing at all.
    legacy = next(s for s in w.services if s["metadata"]["namespace"] == STAGING)
    with pytest.raises(EndpointError, match="selects no pod"):
        check(w, "10.200.10.0/24", f"{STAGING}/{legacy['metadata']['name']}", "80")


def test_drift_and_kkp_reconciling_a_datacenter_change() -> None:
    """Drift made by hand shows; a change of the datacenter makes the simulated KKP put every
    policy back as the datacenter says and add the new custom one in every namespace."""
    with running_simulator(scenario="default", speed=10.0, seed=3) as handle:
        store = handle.simulator.store
        key = "networking.k8s.io/networkpolicies"

        def break_things() -> None:
            def widen(p: Json) -> None:
                p["spec"]["ingress"][0]["from"][0]["ipBlock"]["cidr"] = "0.0.0.0/0"

            store.mutate(key, STAGING, "allow-external-traffic", widen)
            store.delete(key, PROD, "cluster-isolation")

        handle.call(break_things)
        states = states_by_key(asyncio.run(_read(handle)))
        assert (
            states[(STAGING, "allow-external-traffic")].drift
            == f"differs from datacenter {DC}: ingress"
        )
        assert states[(PROD, "cluster-isolation")].missing
        assert len([s for s in states.values() if s.drift]) == 2

        w = asyncio.run(_read(handle))
        vm = next(p for p in w.pods_in(PROD) if pod_label(p).startswith("vm/prod-eu-workers"))
        denied = check(w, f"{PROD}/{pod_label(vm).removeprefix('vm/')}", "10.200.10.5", "443")
        # With cluster-isolation gone from prod, nothing restricts its egress: allowed.
        assert denied.allowed
        staging_vm = next(p for p in w.pods_in(STAGING) if pod_label(p).startswith("vm/staging-md"))
        egress = check(w, f"{STAGING}/{pod_label(staging_vm)[3:]}", "10.200.10.5", "443").denied[0]
        _, [proposal], _ = propose(w, egress)

        async def apply() -> None:
            conn = await Connection.open(str(handle.kubeconfig), handle.context)
            try:
                dc = await get_datacenter(conn, DC)
                new = copy.deepcopy(dc.kubevirt)
                new["customNetworkPolicies"].append(proposal.entry)
                await apply_block(conn, dc, new)
            finally:
                await conn.close()

        asyncio.run(apply())
        deadline = time.monotonic() + 20
        while True:
            w = asyncio.run(_read(handle))
            states = {s.key: s for s in policy_states(w)}
            if not [s for s in states.values() if s.drift] or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert [s.key for s in states.values() if s.drift] == []
        assert len(states) == 12
        assert {s.origin for s in states.values() if s.name == proposal.fix.name} == {CUSTOM}
        after = check(w, f"{STAGING}/{pod_label(staging_vm)[3:]}", "10.200.10.5", "443")
        assert after.allowed
        assert after.verdicts[0].egress.decision.policy == f"{STAGING}/{proposal.fix.name}"

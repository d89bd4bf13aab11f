"""The reachability explainer over a table of connections, each with its verdict and its reason.

Every case names the outcome of both sides: "outside" (that end is no pod of the cluster),
"unselected" (no policy restricts the pod in that direction), "<ns>/<policy>#<rule>" (the first
allowing rule) or "denied:<ns>/<policy>,..." (every policy that restricts and refuses). The KKP
fixtures copy the fact sheet §2.1 policies field for field.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import pytest

from kvtui.cluster import formats
from kvtui.cluster.findings import Findings, errors
from kvtui.cluster.netpol import (
    ContainerPort,
    External,
    PodEndpoint,
    Side,
    Verdict,
    explain,
    namespace_labels,
    policy_types,
    rule_sentences,
    selects,
)
from kvtui.cluster.netpol_fix import custom_policies, smallest_fix, stable_labels
from kvtui.cluster.netpol_spec import check_spec

Json = dict[str, Any]
NS, OTHER = "cluster-abc", "cluster-def"
NAMESPACES = {
    NS: {},
    OTHER: {},
    "monitoring": {"team": "obs"},
    "images": {"purpose": "images"},
    "shop": {"team": "web"},
    "lab": {},
}
PRIVATE = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]
NAME_LABEL = "kubernetes.io/metadata.name"


def policy(name: str, spec: Json, namespace: str = NS) -> Json:
    metadata = {"name": name, "namespace": namespace}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata,
        "spec": spec,
    }


def match(**labels: str) -> Json:
    return {"matchLabels": labels}


def block(cidr: str, *excepts: str) -> Json:
    return {"ipBlock": {"cidr": cidr, "except": list(excepts)} if excepts else {"cidr": cidr}}


def cluster_isolation(
    namespace: str = NS, address: str = "10.10.0.50", nameservers: tuple[str, ...] = ("10.0.0.53",)
) -> Json:
    """KKP ≥ v2.23, egress only; an unknown apiserver address leaves the empty rule (§2.1)."""
    egress: list[Json] = [
        {"to": [{"podSelector": {}}]},
        {"to": [block("0.0.0.0/0", *PRIVATE)]},
        {"to": [block(f"{address}/32")]} if address else {},
    ]
    dns = [{"protocol": "TCP", "port": 53}, {"protocol": "UDP", "port": 53}]
    egress += [{"to": [block(f"{ns}/32")], "ports": dns} for ns in nameservers]
    spec = {"podSelector": {}, "policyTypes": ["Egress"], "egress": egress}
    return policy("cluster-isolation", spec, namespace)


def allow_kubevirt_importer(namespace: str = NS) -> Json:
    importer = {"app": "containerized-data-importer", "cdi.kubevirt.io": "importer"}
    spec = {
        "podSelector": {"matchLabels": importer},
        "policyTypes": ["Egress"],
        "egress": [{"to": [{"namespaceSelector": {}, "podSelector": match(app="image-repo")}]}],
    }
    return policy("allow-kubevirt-importer", spec, namespace)


def cluster_isolation_v222(namespace: str = NS) -> Json:
    """KKP ≤ v2.22: ingress only, from pods of the same namespace."""
    ingress = [{"from": [{"podSelector": {}}]}]
    spec = {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": ingress}
    return policy("cluster-isolation", spec, namespace)


# The provider guide's FAQ entry, verbatim (no podSelector: KKP's Go types make it `{}`).
FAQ_ENTRY = {
    "name": "allow-external-traffic",
    "spec": {"policyTypes": ["Ingress"], "ingress": [{"from": [block("10.200.10.0/24")]}]},
}


def vm(namespace: str, cluster: str, machine: str, ips: tuple[str, ...]) -> PodEndpoint:
    """A KKP worker VM's virt-launcher pod: machine-controller's and KubeVirt's labels."""
    labels = {
        "kubevirt.io": "virt-launcher",
        "kubevirt.io/created-by": f"uid-{machine}",
        "vm.kubevirt.io/name": machine,
        "vmi.kubevirt.io/id": machine,
        "kubevirt.io/vm": machine,
        "cluster.x-k8s.io/cluster-name": cluster,
        "cluster.x-k8s.io/role": "worker",
        "kubermatic.k8c.io/cluster-id": cluster,
        "kubermatic.k8c.io/project-id": "p7xq2",
        "md": f"{cluster}-worker",
    }
    return PodEndpoint(namespace, labels, f"virt-launcher-{machine}-x7k2p", ips)


def pod(namespace: str, name: str, ip: str, **labels: str) -> PodEndpoint:
    return PodEndpoint(namespace, labels, name, (ip,))


VM1 = vm(NS, "abc", "abc-worker-1", ("10.244.1.10", "fd00:10:244:1::a"))
VM2 = vm(NS, "abc", "abc-worker-2", ("10.244.2.11",))
VM_DEF = vm(OTHER, "def", "def-worker-1", ("10.244.3.12",))
IMPORTER_LABELS = {"app": "containerized-data-importer", "cdi.kubevirt.io": "importer"}
IMPORTER = PodEndpoint(NS, IMPORTER_LABELS, "importer-1", ("10.244.1.20",))
IMAGE_REPO = PodEndpoint(
    "images", {"app": "image-repo"}, "image-repo-0", ("10.244.4.7",), (ContainerPort(8080, "http"),)
)
WEB_PORTS = (
    ContainerPort(8443, "https"),
    ContainerPort(8080, "http"),
    ContainerPort(5353, "dns", "UDP"),
    ContainerPort(3868, "diameter", "SCTP"),
)
WEB_IPS = ("10.244.5.5", "fd00:10:244:5::5")
WEB = PodEndpoint("shop", {"app": "web", "tier": "frontend"}, "web-0", WEB_IPS, WEB_PORTS)
PROM = pod("monitoring", "prometheus-0", "10.244.6.6", app="prometheus")
GRAFANA = pod("monitoring", "grafana-0", "10.244.6.7", app="grafana")
LOKI = pod("monitoring", "loki-0", "10.244.6.8", app="loki", tier="logs")
PROM_SHOP = pod("shop", "prometheus-shop", "10.244.5.9", app="prometheus")
PROM_LAB = pod("lab", "prometheus-lab", "10.244.7.9", app="prometheus")
WEB_ANY = PodEndpoint("shop", {"app": "web"})  # hypothetical: no name, no IP, no ports
PROBE = PodEndpoint("lab", {"app": "probe"})  # hypothetical
DB_ANY = PodEndpoint("shop", {"app": "db"})  # hypothetical
CLIENT = External("10.200.10.5")
CLIENT2 = External("10.200.11.5")
LAN = External("10.200.10.0/24")
PUBLIC = External("1.1.1.1")
OTHER_NET = External("198.51.100.1")
V6 = External("2001:db8::7")
APISERVER, DNS, DB_HOST = External("10.10.0.50"), External("10.0.0.53"), External("10.99.0.1")


def rule(*peers: Json, ports: list[Json] | None = None, key: str = "from") -> Json:
    body: Json = {key: list(peers)}
    if ports is not None:
        body["ports"] = ports
    return body


def web_in(*rules: Json) -> list[Json]:
    spec = {"podSelector": match(app="web"), "policyTypes": ["Ingress"], "ingress": list(rules)}
    return [policy("web-in", spec, "shop")]


def web_ports(*entries: Json) -> list[Json]:
    return web_in({"ports": list(entries)})


def web_spec(**spec: Any) -> list[Json]:
    return [policy("web", {"podSelector": match(app="web"), **spec}, "shop")]


def deny(direction: str, namespace: str) -> Json:
    spec = {"podSelector": {}, "policyTypes": [direction]}
    return policy(f"deny-{direction.lower()}", spec, namespace)


def prom_out(
    ports: list[Json] | None = None, peers: tuple[Json, ...] = ({"namespaceSelector": {}},)
) -> Json:
    egress = rule(*peers, ports=ports, key="to") if peers else {"ports": ports}
    spec = {"podSelector": match(app="prometheus"), "policyTypes": ["Egress"], "egress": [egress]}
    return policy("prom-out", spec, "monitoring")


def expr(key: str, operator: str, *values: str) -> list[Json]:
    requirement: Json = {"key": key, "operator": operator}
    if values:
        requirement["values"] = list(values)
    selector = {"matchExpressions": [requirement]}
    return web_in(rule({"namespaceSelector": {}, "podSelector": selector}))


KKP = [cluster_isolation(), allow_kubevirt_importer(), cluster_isolation(OTHER, "10.10.0.60")]
OLD = [cluster_isolation_v222(), cluster_isolation_v222(OTHER)]
FAQ_FIXED = OLD + custom_policies([FAQ_ENTRY], NS)
OBS_NS = {"namespaceSelector": match(team="obs")}
AND_PEER = web_in(rule({**OBS_NS, "podSelector": match(app="prometheus")}))
TWO_PEERS = web_in(rule(OBS_NS, {"podSelector": match(app="prometheus")}))
TWO_RULES = web_in(
    rule(OBS_NS, ports=[{"port": 9090}]), rule(block("10.200.10.0/24"), ports=[{"port": 8443}])
)
LAN_BLOCK = block("10.200.10.0/24")
TWO_BLOCKS = web_in(rule(block("192.0.2.0/24"), LAN_BLOCK))
BLOCK_EXCEPT = web_in(rule(block("10.200.0.0/16", "10.200.10.0/24")))
BLOCK_HALF_EXCEPT = web_in(rule(block("10.200.0.0/16", "10.200.10.128/25")))
ALL_NS, SAME_NS = web_in(rule({"namespaceSelector": {}})), web_in(rule({"podSelector": {}}))
BY_NAME = web_in(rule({"namespaceSelector": match(**{NAME_LABEL: "monitoring"})}))
OBS_IN = web_in(rule(OBS_NS))
NO_TYPES_IN = web_spec(ingress=[rule(OBS_NS)])
NO_TYPES_OUT = web_spec(egress=[rule(block("0.0.0.0/0"), key="to")])
EMPTY_EGRESS = web_spec(egress=[])
EGRESS_ONLY = web_spec(policyTypes=["Egress"], egress=[{}], ingress=[rule({"podSelector": {}})])
INGRESS_ONLY = web_spec(policyTypes=["Ingress"], egress=[rule(block("192.0.2.0/24"), key="to")])
NOT_FRONTEND = {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["frontend"]}]}
NOT_FRONTEND_DENY = [
    policy("not-frontend", {"podSelector": NOT_FRONTEND, "policyTypes": ["Ingress"]}, "shop")
]
DENY_BOTH = policy("deny-all", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}, "shop")
RANGE = web_ports({"port": 8000, "endPort": 8080})
UDP53, SCTP = (
    web_ports({"protocol": "UDP", "port": 53}),
    web_ports({"protocol": "SCTP", "port": 3868}),
)


@dataclass(frozen=True)
class Case:
    id: str
    policies: list[Json]
    source: Any
    destination: Any
    port: int
    allowed: bool
    egress: str
    ingress: str
    protocol: str = "TCP"
    reason: str = ""


OUT, UNSEL = "outside", "unselected"
CI, IMP, WEBIN = f"{NS}/cluster-isolation", f"{NS}/allow-kubevirt-importer", "shop/web-in"
NO_CI, NO_WEB = f"denied:{CI}", f"denied:{WEBIN}"
VM1_NAME = "cluster-abc/virt-launcher-abc-worker-1-x7k2p"

# fmt: off
CASES = [
    # No policy at all: both directions of every pod are open.
    Case("no-policies-pod-to-pod", [], PROM, WEB, 8443, True, UNSEL, UNSEL),
    Case("no-policies-external-in", [], CLIENT, WEB, 8443, True, OUT, UNSEL),
    Case("no-policies-external-out", [], WEB, PUBLIC, 443, True, UNSEL, OUT),
    Case("no-policies-external-both", [], CLIENT, PUBLIC, 443, True, OUT, OUT),
    # The FAQ under today's KKP defaults: cluster-isolation restricts egress only, so ingress
    # from 10.200.10.0/24 to the VM is not restricted and replies are stateful; an unreachable
    # LB has another cause (selector, CCM, a custom Ingress policy). The VM cannot *open* a
    # connection to 10.200.10.5 though: that address is in rule 1's except 10.0.0.0/8.
    Case("faq-current-kkp", KKP, CLIENT, VM1, 443, True, OUT, UNSEL,
         reason=f"no policy selects {VM1_NAME} for ingress: unrestricted"),
    Case("faq-current-kkp-cidr", KKP, LAN, VM1, 30443, True, OUT, UNSEL),
    Case("kkp-vm-to-vm", KKP, VM1, VM2, 22, True, f"{CI}#0", UNSEL),
    Case("kkp-vm-to-internet", KKP, VM1, PUBLIC, 443, True, f"{CI}#1", OUT),
    Case("kkp-vm-to-lan", KKP, VM1, CLIENT, 443, False, NO_CI, OUT,
         reason="rule 1: 10.200.10.5 is in except 10.0.0.0/8"),
    Case("kkp-vm-to-apiserver", KKP, VM1, APISERVER, 6443, True, f"{CI}#2", OUT),
    Case("kkp-vm-to-dns-udp", KKP, VM1, DNS, 53, True, f"{CI}#3", OUT, "UDP"),
    Case("kkp-vm-to-dns-tcp", KKP, VM1, DNS, 53, True, f"{CI}#3", OUT),
    Case("kkp-vm-to-dns-wrong-port", KKP, VM1, DNS, 80, False, NO_CI, OUT,
         reason="port 80/TCP not in rule 3's ports (53/TCP, 53/UDP)"),
    Case("kkp-vm-to-other-cluster", KKP, VM1, VM_DEF, 22, False, NO_CI, UNSEL,
         reason="is not in namespace cluster-abc"),
    Case("kkp-importer-to-image-repo", KKP, IMPORTER, IMAGE_REPO, 8080, True, f"{IMP}#0", UNSEL),
    Case("kkp-importer-internet-ored", KKP, IMPORTER, PUBLIC, 443, True, f"{CI}#1", OUT),
    Case("kkp-vm-to-image-repo", KKP, VM1, IMAGE_REPO, 8080, False, NO_CI, UNSEL),
    Case("kkp-importer-to-lan", KKP, IMPORTER, CLIENT, 443, False, f"denied:{IMP},{CI}", OUT,
         reason="10.200.10.5 is outside the cluster: selectors match only pods"),
    Case("kkp-unknown-apiserver-empty-rule", [cluster_isolation(address="")], VM1, DB_HOST, 5432,
         True, f"{CI}#2", OUT),
    # KKP ≤ v2.22: ingress-only isolation, which the FAQ's custom policy opens.
    Case("faq-v222", OLD, CLIENT, VM1, 443, False, OUT, NO_CI,
         reason="rule 0: 10.200.10.5 is outside the cluster: selectors match only pods"),
    Case("faq-v222-with-faq-policy", FAQ_FIXED, CLIENT, VM1, 443, True, OUT,
         f"{NS}/allow-external-traffic#0"),
    Case("v222-vm-to-vm", OLD, VM2, VM1, 22, True, UNSEL, f"{CI}#0"),
    Case("v222-vm-to-lan-egress-open", OLD, VM1, CLIENT, 443, True, UNSEL, OUT),
    Case("v222-other-cluster-vm", OLD, VM_DEF, VM1, 22, False, UNSEL, NO_CI,
         reason="a podSelector alone selects pods of the policy's namespace"),
    # policyTypes defaulting, and rules of a direction policyTypes leaves out.
    Case("no-types-ingress-rules", NO_TYPES_IN, PROM, WEB, 9090, True, UNSEL, "shop/web#0"),
    Case("no-types-ingress-rules-egress-open", NO_TYPES_IN, WEB, PUBLIC, 443, True, UNSEL, OUT),
    Case("no-types-egress-rules-deny-ingress", NO_TYPES_OUT, CLIENT, WEB, 8443, False, OUT,
         "denied:shop/web", reason="no ingress rules: denies all ingress"),
    Case("no-types-egress-rules-egress", NO_TYPES_OUT, WEB, PUBLIC, 443, True, "shop/web#0", OUT),
    Case("no-types-empty-egress-list", EMPTY_EGRESS, WEB, PUBLIC, 443, True, UNSEL, OUT),
    Case("egress-only-ignores-ingress-rules", EGRESS_ONLY, CLIENT, WEB, 8443, True, OUT, UNSEL),
    Case("ingress-only-ignores-egress-rules", INGRESS_ONLY, WEB, CLIENT, 443, True, UNSEL, OUT),
    # Deny-all policies.
    Case("deny-all-ingress", [deny("Ingress", "shop")], CLIENT, WEB, 8443, False, OUT,
         "denied:shop/deny-ingress", reason="no ingress rules"),
    Case("deny-all-egress", [deny("Egress", "shop")], WEB, PUBLIC, 443, False,
         "denied:shop/deny-egress", OUT),
    Case("deny-all-plus-allow", [DENY_BOTH, *OBS_IN], PROM, WEB, 8443, True, UNSEL, f"{WEBIN}#0"),
    Case("deny-all-other-namespace", [deny("Ingress", "lab")], CLIENT, WEB, 8443, True, OUT, UNSEL),
    Case("deny-by-expression-unselected", NOT_FRONTEND_DENY, CLIENT, WEB, 8443, True, OUT, UNSEL),
    # Rules ORed, peers ORed.
    Case("second-rule-allows", TWO_RULES, CLIENT, WEB, 8443, True, OUT, f"{WEBIN}#1"),
    Case("first-rule-allows", TWO_RULES, PROM, WEB, 9090, True, UNSEL, f"{WEBIN}#0"),
    Case("no-rule-allows", TWO_RULES, PROM, WEB, 8443, False, UNSEL, NO_WEB,
         reason="port 8443/TCP not in rule 0's ports (9090/TCP); "
                "rule 1: 10.244.6.6 is not in 10.200.10.0/24"),
    Case("second-peer-allows", TWO_BLOCKS, CLIENT, WEB, 8443, True, OUT, f"{WEBIN}#0"),
    Case("no-peer-allows", TWO_BLOCKS, OTHER_NET, WEB, 8443, False, OUT, NO_WEB,
         reason="no peer matches (0: 198.51.100.1 is not in 192.0.2.0/24, "
                "1: 198.51.100.1 is not in 10.200.10.0/24)"),
    # namespaceSelector + podSelector in one peer (AND) versus two peers (OR).
    Case("and-peer-both-match", AND_PEER, PROM, WEB, 9090, True, UNSEL, f"{WEBIN}#0"),
    Case("and-peer-pod-mismatch", AND_PEER, GRAFANA, WEB, 9090, False, UNSEL, NO_WEB,
         reason="monitoring/grafana-0 does not match app=prometheus"),
    Case("and-peer-namespace-mismatch", AND_PEER, PROM_SHOP, WEB, 9090, False, UNSEL, NO_WEB,
         reason="namespace shop does not match team=obs"),
    Case("two-peers-namespace-one", TWO_PEERS, GRAFANA, WEB, 9090, True, UNSEL, f"{WEBIN}#0"),
    Case("two-peers-pod-one-same-ns", TWO_PEERS, PROM_SHOP, WEB, 9090, True, UNSEL, f"{WEBIN}#0"),
    Case("two-peers-pod-alone-other-ns", TWO_PEERS, PROM_LAB, WEB, 9090, False, UNSEL, NO_WEB,
         reason="lab/prometheus-lab is not in namespace shop"),
    # Empty selectors versus absent fields.
    Case("empty-ns-selector-any-ns", ALL_NS, PROM_LAB, WEB, 80, True, UNSEL, f"{WEBIN}#0"),
    Case("empty-ns-selector-not-external", ALL_NS, CLIENT, WEB, 80, False, OUT, NO_WEB,
         reason="selectors match only pods"),
    Case("empty-pod-selector-same-ns", SAME_NS, PROM_SHOP, WEB, 80, True, UNSEL, f"{WEBIN}#0"),
    Case("empty-pod-selector-other-ns", SAME_NS, PROM_LAB, WEB, 80, False, UNSEL, NO_WEB),
    Case("rule-without-from", web_ports({"port": 8443}), CLIENT, WEB, 8443, True, OUT,
         f"{WEBIN}#0"),
    Case("rule-with-empty-from", web_in({"from": []}), CLIENT, WEB, 8443, True, OUT, f"{WEBIN}#0"),
    Case("empty-rule", web_in({}), V6, WEB, 1, True, OUT, f"{WEBIN}#0"),
    Case("namespace-name-label", BY_NAME, GRAFANA, WEB, 80, True, UNSEL, f"{WEBIN}#0"),
    Case("namespace-name-label-other", BY_NAME, PROM_LAB, WEB, 80, False, UNSEL, NO_WEB),
    Case("empty-peer-matches-nothing", web_in(rule({})), PROM_SHOP, WEB, 80, False, UNSEL, NO_WEB,
         reason="an empty peer matches nothing"),
    # matchExpressions.
    Case("expr-in", expr("app", "In", "prometheus", "grafana"), GRAFANA, WEB, 80, True, UNSEL,
         f"{WEBIN}#0"),
    Case("expr-in-miss", expr("app", "In", "prometheus", "grafana"), LOKI, WEB, 80, False, UNSEL,
         NO_WEB, reason="does not match app in (prometheus, grafana)"),
    Case("expr-notin", expr("app", "NotIn", "loki"), GRAFANA, WEB, 80, True, UNSEL, f"{WEBIN}#0"),
    Case("expr-notin-miss", expr("app", "NotIn", "loki"), LOKI, WEB, 80, False, UNSEL, NO_WEB),
    Case("expr-notin-absent-key", expr("tier", "NotIn", "logs"), PROM, WEB, 80, True, UNSEL,
         f"{WEBIN}#0"),
    Case("expr-exists", expr("tier", "Exists"), LOKI, WEB, 80, True, UNSEL, f"{WEBIN}#0"),
    Case("expr-exists-miss", expr("tier", "Exists"), PROM, WEB, 80, False, UNSEL, NO_WEB,
         reason="does not match has tier"),
    Case("expr-does-not-exist", expr("tier", "DoesNotExist"), PROM, WEB, 80, True, UNSEL,
         f"{WEBIN}#0"),
    Case("expr-does-not-exist-miss", expr("tier", "DoesNotExist"), LOKI, WEB, 80, False, UNSEL,
         NO_WEB, reason="does not match no tier"),
    # ipBlock: except, CIDR endpoints, IPv6, pods matched by their own IPs.
    Case("block-address-in-except", BLOCK_EXCEPT, CLIENT, WEB, 8443, False, OUT, NO_WEB,
         reason="10.200.10.5 is in except 10.200.10.0/24"),
    Case("block-address-outside-except", BLOCK_EXCEPT, CLIENT2, WEB, 8443, True, OUT,
         f"{WEBIN}#0"),
    Case("block-cidr-equals-except", BLOCK_EXCEPT, LAN, WEB, 8443, False, OUT, NO_WEB,
         reason="10.200.10.0/24 is in except 10.200.10.0/24"),
    Case("block-cidr-overlaps-except", BLOCK_HALF_EXCEPT, LAN, WEB, 8443, False, OUT, NO_WEB,
         reason="10.200.10.0/24 overlaps except 10.200.10.128/25"),
    Case("block-cidr-partly-inside", web_in(rule(block("10.200.10.0/25"))), LAN, WEB, 8443,
         False, OUT, NO_WEB, reason="10.200.10.0/24 is only partly in 10.200.10.0/25"),
    Case("block-ipv6", web_in(rule(block("2001:db8::/32"))), V6, WEB, 8443, True, OUT,
         f"{WEBIN}#0"),
    Case("block-ipv6-vs-ipv4-block", web_in(rule(block("0.0.0.0/0"))), V6, WEB, 8443, False, OUT,
         NO_WEB, reason="2001:db8::7 is not in 0.0.0.0/0"),
    Case("block-ipv6-except", web_in(rule(block("2001:db8::/32", "2001:db8::/64"))), V6, WEB,
         8443, False, OUT, NO_WEB, reason="2001:db8::7 is in except 2001:db8::/64"),
    Case("block-matches-pod-ip", web_in(rule(block("10.244.0.0/16"))), PROM, WEB, 8443, True,
         UNSEL, f"{WEBIN}#0"),
    Case("block-matches-pod-ipv6", web_in(rule(block("fd00:10:244::/48"))), VM1, WEB, 8443, True,
         UNSEL, f"{WEBIN}#0"),
    Case("block-pod-without-ipv6", web_in(rule(block("fd00:10:244::/48"))), PROM, WEB, 8443,
         False, UNSEL, NO_WEB, reason="has no IPv6 address"),
    Case("block-hypothetical-pod-no-ip", web_in(rule(block("0.0.0.0/0"))), PROBE, WEB, 8443,
         False, UNSEL, NO_WEB, reason="has no known IP, and an ipBlock matches pods only by IP"),
    # Ports: named, numeric, ranges, protocols.
    Case("named-port", web_ports({"port": "https"}), CLIENT, WEB, 8443, True, OUT, f"{WEBIN}#0"),
    Case("named-port-other-number", web_ports({"port": "https"}), CLIENT, WEB, 443, False, OUT,
         NO_WEB,
         reason="port 443/TCP not in rule 0's ports (https/TCP): https is 8443 on shop/web-0"),
    Case("named-port-absent", web_ports({"port": "metrics"}), CLIENT, WEB, 9090, False, OUT,
         NO_WEB, reason="shop/web-0 has no TCP port named metrics"),
    Case("named-port-hypothetical-dst", web_ports({"port": "https"}), CLIENT, WEB_ANY, 8443, False,
         OUT, NO_WEB, reason="pods with app=web in shop has no TCP port named https"),
    Case("named-port-egress-at-destination", [prom_out([{"port": "https"}])], PROM, WEB, 8443,
         True, "monitoring/prom-out#0", UNSEL),
    Case("named-port-egress-wrong-number", [prom_out([{"port": "https"}])], PROM, WEB, 8080,
         False, "denied:monitoring/prom-out", UNSEL),
    Case("named-port-egress-to-external", [prom_out([{"port": "https"}], ())], PROM, PUBLIC, 8443,
         False, "denied:monitoring/prom-out", OUT,
         reason="the named port https can only match a pod, not 1.1.1.1"),
    Case("numeric-port", web_ports({"port": 8443}), CLIENT, WEB, 8443, True, OUT, f"{WEBIN}#0"),
    Case("numeric-port-miss", web_ports({"port": 8443}), CLIENT, WEB, 8444, False, OUT, NO_WEB),
    Case("end-port-low-edge", RANGE, CLIENT, WEB, 8000, True, OUT, f"{WEBIN}#0"),
    Case("end-port-high-edge", RANGE, CLIENT, WEB, 8080, True, OUT, f"{WEBIN}#0"),
    Case("end-port-above", RANGE, CLIENT, WEB, 8081, False, OUT, NO_WEB,
         reason="port 8081/TCP not in rule 0's ports (8000-8080/TCP)"),
    Case("end-port-below", RANGE, CLIENT, WEB, 7999, False, OUT, NO_WEB),
    Case("udp-rule-tcp-traffic", UDP53, CLIENT, WEB, 53, False, OUT, NO_WEB,
         reason="port 53/TCP not in rule 0's ports (53/UDP)"),
    Case("udp-rule-udp-traffic", UDP53, CLIENT, WEB, 53, True, OUT, f"{WEBIN}#0", "UDP"),
    Case("sctp", SCTP, CLIENT, WEB, 3868, True, OUT, f"{WEBIN}#0", "SCTP"),
    Case("sctp-rule-tcp-traffic", SCTP, CLIENT, WEB, 3868, False, OUT, NO_WEB),
    Case("sctp-named-port", web_ports({"protocol": "SCTP", "port": "diameter"}), CLIENT, WEB,
         3868, True, OUT, f"{WEBIN}#0", "SCTP"),
    Case("default-tcp-udp-traffic", web_ports({"port": 53}), CLIENT, WEB, 53, False, OUT, NO_WEB,
         "UDP", reason="port 53/UDP not in rule 0's ports (53/TCP)"),
    Case("default-tcp-tcp-traffic", web_ports({"port": 53}), CLIENT, WEB, 53, True, OUT,
         f"{WEBIN}#0"),
    Case("protocol-only-any-port", web_ports({"protocol": "UDP"}), CLIENT, WEB, 5353, True, OUT,
         f"{WEBIN}#0", "UDP"),
    Case("protocol-only-other-protocol", web_ports({"protocol": "UDP"}), CLIENT, WEB, 5353, False,
         OUT, NO_WEB, reason="(any UDP port)"),
    Case("named-port-wrong-protocol", web_ports({"port": "dns"}), CLIENT, WEB, 5353, False, OUT,
         NO_WEB, "UDP"),
    Case("named-udp-port", web_ports({"protocol": "UDP", "port": "dns"}), CLIENT, WEB, 5353, True,
         OUT, f"{WEBIN}#0", "UDP"),
    # One side denies, the other allows; both deny; both allow.
    Case("egress-denied-ingress-allowed", [deny("Egress", "monitoring"), *OBS_IN], PROM, WEB,
         8443, False, "denied:monitoring/deny-egress", f"{WEBIN}#0"),
    Case("egress-allowed-ingress-denied", [prom_out(), deny("Ingress", "shop")], PROM, WEB, 8443,
         False, "monitoring/prom-out#0", "denied:shop/deny-ingress"),
    Case("both-denied", [deny("Egress", "monitoring"), deny("Ingress", "shop")], PROM, WEB, 8443,
         False, "denied:monitoring/deny-egress", "denied:shop/deny-ingress"),
    Case("both-allowed", [prom_out([{"port": 8443}]), *OBS_IN], PROM, WEB, 8443, True,
         "monitoring/prom-out#0", f"{WEBIN}#0"),
    # Hypothetical pods, chosen by namespace and labels.
    Case("hypothetical-selected", OBS_IN, PROM, WEB_ANY, 8443, True, UNSEL, f"{WEBIN}#0"),
    Case("hypothetical-unselected", OBS_IN, CLIENT, DB_ANY, 5432, True, OUT, UNSEL),
    Case("hypothetical-denied", OBS_IN, CLIENT, WEB_ANY, 8443, False, OUT, NO_WEB),
]
# fmt: on


def outcome(side: Side) -> str:
    if side.outcome in (OUT, UNSEL):
        return side.outcome
    if side.decision is not None:
        return f"{side.decision.policy}#{side.decision.rule}"
    return "denied:" + ",".join(r.policy for r in side.refusals)


def run(case: Case, extra: list[Json] | None = None) -> Verdict:
    policies = case.policies + (extra or [])
    return explain(policies, NAMESPACES, case.source, case.destination, case.port, case.protocol)


def test_the_table_is_big_and_ids_are_unique() -> None:
    assert len(CASES) >= 45
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_verdict_and_deciding_rule(case: Case) -> None:
    verdict = run(case)
    got = (verdict.allowed, outcome(verdict.egress), outcome(verdict.ingress))
    assert got == (case.allowed, case.egress, case.ingress), verdict.explanation
    assert case.reason in verdict.sentence()
    assert case.reason in verdict.explanation


@pytest.mark.parametrize("case", [c for c in CASES if not c.allowed], ids=lambda c: c.id)
def test_the_smallest_fix_flips_a_denial(case: Case) -> None:
    before = run(case)
    fix = smallest_fix(before)
    assert fix is not None
    denying = [s.direction for s in (before.egress, before.ingress) if not s.allowed]
    assert [p.direction for p in fix.policies] == denying
    for entry in fix.entries():
        out = Findings()
        check_spec(entry["spec"], "spec", out)
        assert errors(out.items) == []
        formats.check_dns_label(entry["name"])
    after = run(case, fix.objects())
    assert after.allowed, after.explanation
    fixed = {p.direction: f"{p.namespace}/{p.name}" for p in fix.policies}
    for side in (after.egress, after.ingress):
        if side.direction in fixed:
            assert side.decision is not None and side.decision.policy == fixed[side.direction]


def test_faq_fix_under_v222_is_an_ingress_entry_for_worker_vms() -> None:
    fix = smallest_fix(explain(OLD, NAMESPACES, LAN, VM1, 443))
    assert fix is not None
    workers = {"kubevirt.io": "virt-launcher", "cluster.x-k8s.io/role": "worker"}
    ingress = [{"from": [block("10.200.10.0/24")], "ports": [{"protocol": "TCP", "port": 443}]}]
    spec = {"podSelector": {"matchLabels": workers}, "policyTypes": ["Ingress"], "ingress": ingress}
    assert fix.entries() == [{"name": "allow-from-10-200-10-0-24-443-tcp", "spec": spec}]
    # KKP stamps the entry into every user cluster's namespace: the other cluster's VMs open too.
    stamped = OLD + custom_policies(fix.entries(), NS) + custom_policies(fix.entries(), OTHER)
    assert explain(stamped, NAMESPACES, LAN, VM_DEF, 443).allowed
    assert not explain(stamped, NAMESPACES, LAN, VM_DEF, 22).allowed


def test_fix_takes_a_pod_selector_and_names_single_addresses_without_prefix() -> None:
    fix = smallest_fix(explain(OLD, NAMESPACES, CLIENT, VM1, 443), pod_selector={})
    assert fix is not None
    (entry,) = fix.entries()
    assert entry["name"] == "allow-from-10-200-10-5-443-tcp"
    assert entry["spec"]["podSelector"] == {}
    assert entry["spec"]["ingress"][0]["from"] == [block("10.200.10.5/32")]


def test_fix_for_an_egress_denial_to_a_pod_in_another_namespace() -> None:
    fix = smallest_fix(explain(KKP, NAMESPACES, VM1, IMAGE_REPO, 8080))
    assert fix is not None
    (only,) = fix.policies
    name = "allow-to-images-image-repo-8080-tcp"
    assert (only.namespace, only.name, only.direction) == (NS, name, "Egress")
    peer = {
        "namespaceSelector": match(**{NAME_LABEL: "images"}),
        "podSelector": match(app="image-repo"),
    }
    assert only.spec["egress"] == [{"to": [peer], "ports": [{"protocol": "TCP", "port": 8080}]}]
    assert only.sentence() == (
        f"{name}: egress from pods with kubevirt.io=virt-launcher, cluster.x-k8s.io/role=worker "
        "to pods with app=image-repo in namespaces with kubernetes.io/metadata.name=images "
        "on 8080/TCP"
    )


def test_fix_for_both_sides_has_two_policies_in_their_own_namespaces() -> None:
    policies = [deny("Egress", "monitoring"), deny("Ingress", "shop")]
    fix = smallest_fix(explain(policies, NAMESPACES, PROM, WEB, 8443))
    assert fix is not None
    assert [(p.namespace, p.name) for p in fix.policies] == [
        ("monitoring", "allow-to-shop-web-frontend-8443-tcp"),
        ("shop", "allow-from-monitoring-prometheus-8443-tcp"),
    ]
    assert [o["metadata"]["namespace"] for o in fix.objects()] == ["monitoring", "shop"]


def test_no_fix_when_allowed_and_long_or_ipv6_names_stay_dns_labels() -> None:
    assert smallest_fix(explain([], NAMESPACES, CLIENT, WEB, 443)) is None
    long_pod = PodEndpoint("lab", {"app": "a" * 60, "part": "b" * 60}, "x", ("10.244.9.9",))
    egress = explain([deny("Egress", "lab")], NAMESPACES, long_pod, External("2001:db8::/64"), 443)
    fix = smallest_fix(egress)
    assert fix is not None
    assert fix.entries()[0]["name"] == "allow-to-2001-db8---64-443-tcp"
    ingress = explain([deny("Ingress", "monitoring")], NAMESPACES, long_pod, PROM, 443)
    fix = smallest_fix(ingress)
    assert fix is not None
    name = fix.entries()[0]["name"]
    assert len(name) == 63 and formats.check_dns_label(name)
    assert name.startswith("allow-from-lab-aaaa")
    assert smallest_fix(ingress) == fix


def test_stable_labels_keep_the_kind_and_drop_the_instance() -> None:
    workers = {"kubevirt.io": "virt-launcher", "cluster.x-k8s.io/role": "worker"}
    assert stable_labels(VM1.labels) == workers
    labels = {"app": "web", "pod-template-hash": "5d9c", "topology.kubernetes.io/zone": "a"}
    assert stable_labels(labels) == {"app": "web"}


def test_decision_names_peer_and_port_indices() -> None:
    two = web_in(rule(block("192.0.2.0/24"), LAN_BLOCK, ports=[{"port": 80}, {"port": 443}]))
    decision = explain(two, NAMESPACES, CLIENT, WEB, 443).ingress.decision
    assert decision is not None
    assert (decision.peer, decision.port) == (1, 1)
    assert str(decision) == "shop/web-in rule 0 peer 1 port 1"
    open_rule = explain(web_in({}), NAMESPACES, CLIENT, WEB, 443).ingress.decision
    assert open_rule is not None and (open_rule.peer, open_rule.port) == (None, None)


def test_sentences_of_a_verdict() -> None:
    denied = explain(KKP, NAMESPACES, VM1, CLIENT, 443)
    assert denied.sentence() == (
        f"443/TCP from {VM1_NAME} to 10.200.10.5 is denied: egress of {VM1_NAME} denied by "
        "cluster-abc/cluster-isolation (rule 0: 10.200.10.5 is outside the cluster: selectors "
        "match only pods; rule 1: 10.200.10.5 is in except 10.0.0.0/8; rule 2: 10.200.10.5 is "
        "not in 10.10.0.50/32; rule 3: 10.200.10.5 is not in 10.0.0.53/32; port 443/TCP not in "
        "rule 3's ports (53/TCP, 53/UDP))"
    )
    allowed = explain(KKP, NAMESPACES, VM1, PUBLIC, 443)
    assert allowed.explanation.splitlines() == [
        f"443/TCP from {VM1_NAME} to 1.1.1.1: allowed",
        f"  egress: egress of {VM1_NAME} allowed by cluster-abc/cluster-isolation rule 1 peer 0: "
        "egress from every pod to 0.0.0.0/0 except 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16",
        "  ingress: 1.1.1.1 is outside the cluster: no ingress policy applies",
    ]
    unrestricted = "no policy selects monitoring/prometheus-0 for egress: unrestricted"
    assert unrestricted in explain([], NAMESPACES, PROM, WEB, 80).sentence()


def test_policy_types_defaulting() -> None:
    assert policy_types({"podSelector": {}}) == ("Ingress",)
    assert policy_types({"egress": [{}]}) == ("Ingress", "Egress")
    assert policy_types({"egress": []}) == ("Ingress",)
    assert policy_types({"policyTypes": ["Egress"], "ingress": [{}]}) == ("Egress",)


def test_selects_needs_namespace_selector_and_type() -> None:
    isolation = cluster_isolation()
    assert selects(isolation, VM1, "Egress")
    assert not selects(isolation, VM1, "Ingress")
    assert not selects(isolation, VM_DEF, "Egress")
    assert selects(allow_kubevirt_importer(), IMPORTER, "Egress")
    assert not selects(allow_kubevirt_importer(), VM1, "Egress")


def test_endpoints_from_raw_objects() -> None:
    container_ports = [
        {"containerPort": 8443, "name": "https"},
        {"containerPort": 53, "protocol": "UDP"},
    ]
    raw = {
        "metadata": {"name": "web-0", "namespace": "shop", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "web", "ports": container_ports}]},
        "status": {"podIP": "10.244.5.5", "podIPs": [{"ip": "10.244.5.5"}, {"ip": "fd00::5"}]},
    }
    expected_ports = (ContainerPort(8443, "https"), ContainerPort(53, "", "UDP"))
    expected = PodEndpoint(
        "shop", {"app": "web"}, "web-0", ("10.244.5.5", "fd00::5"), expected_ports
    )
    assert PodEndpoint.from_pod(raw) == expected
    assert str(PodEndpoint("shop")) == "every pod in shop"
    assert str(LAN) == "10.200.10.0/24" and str(External("10.200.10.5/32")) == "10.200.10.5"
    raw_namespaces = [
        {"metadata": {"name": "shop", "labels": {"team": "web"}}},
        {"metadata": {"name": "lab"}},
    ]
    assert namespace_labels(raw_namespaces) == {"shop": {"team": "web"}, "lab": {}}


def test_bad_input_is_a_readable_error() -> None:
    with pytest.raises(ValueError, match="not an IP address"):
        External("10.0.0.300")
    with pytest.raises(ValueError, match="not an IP address"):
        PodEndpoint("shop", ips=("nope",))
    with pytest.raises(ValueError, match="not one of TCP, UDP, SCTP"):
        explain([], NAMESPACES, CLIENT, WEB, 80, "ICMP")
    with pytest.raises(ValueError, match="not a port number"):
        explain([], NAMESPACES, CLIENT, WEB, 0)


def test_rule_sentences_of_the_kkp_policies() -> None:
    assert rule_sentences(cluster_isolation()) == [
        "egress from every pod to every pod in the same namespace",
        "egress from every pod to 0.0.0.0/0 except 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16",
        "egress from every pod to 10.10.0.50/32",
        "egress from every pod to 10.0.0.53/32 on 53/TCP, 53/UDP",
    ]
    quirk = rule_sentences(cluster_isolation(address="", nameservers=()))
    assert quirk[-1] == "egress from every pod to anywhere"
    assert rule_sentences(allow_kubevirt_importer()) == [
        "egress from pods with app=containerized-data-importer, cdi.kubevirt.io=importer "
        "to pods with app=image-repo in every namespace"
    ]
    assert rule_sentences(cluster_isolation_v222()) == [
        "ingress to every pod from every pod in the same namespace"
    ]
    assert rule_sentences(FAQ_ENTRY) == ["ingress to every pod from 10.200.10.0/24"]


EXPRESSIONS = {
    "podSelector": {
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["a", "b"]},
            {"key": "x", "operator": "Exists"},
        ]
    },
    "ingress": [
        {
            "from": [
                {
                    "podSelector": {
                        "matchExpressions": [
                            {"key": "app", "operator": "NotIn", "values": ["db"]},
                            {"key": "legacy", "operator": "DoesNotExist"},
                        ]
                    }
                },
                {"namespaceSelector": {}, "podSelector": {}},
                {},
            ],
            "ports": [{"port": 8000, "endPort": 8080}, {"protocol": "SCTP", "port": "diameter"}],
        }
    ],
}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            {"podSelector": match(app="x"), "ingress": [rule(OBS_NS, ports=[{"port": 443}])]},
            ["ingress to pods with app=x from namespaces with team=obs on 443/TCP"],
        ),
        (
            {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
            ["deny all ingress to every pod", "deny all egress from every pod"],
        ),
        (
            {
                "policyTypes": ["Egress"],
                "ingress": [{}],
                "egress": [{"ports": [{"protocol": "UDP"}]}],
            },
            [
                "ingress rules ignored: policyTypes does not list Ingress",
                "egress from every pod to anywhere on any UDP port",
            ],
        ),
        (
            EXPRESSIONS,
            [
                "ingress to pods with tier in (a, b), has x from pods with app not in (db), "
                "no legacy in the same namespace or every namespace or nothing (an empty peer) "
                "on 8000-8080/TCP, diameter/SCTP"
            ],
        ),
    ],
    ids=["selectors-and-port", "deny-all", "ignored-and-protocol-only", "expressions"],
)
def test_rule_sentences(spec: Json, expected: list[str]) -> None:
    assert rule_sentences(policy("p", spec)) == expected


def test_the_explainer_imports_neither_textual_nor_the_simulator() -> None:
    modules = "kvtui.cluster.netpol, kvtui.cluster.netpol_fix"
    code = f"import json, sys, {modules}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    loaded = set(json.loads(out))
    assert not {
        m for m in loaded if m == "textual" or m.startswith(("textual.", "kvtui.sim", "kvtui.ui"))
    }

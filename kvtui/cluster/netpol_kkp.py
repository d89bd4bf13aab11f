"""What KKP puts in a user cluster's infra namespace, and specs compared as the API server
means them: the reference the Network policies pane measures drift against.

KKP reconciles `cluster-isolation` and `allow-kubevirt-importer` (fact sheet §2.1, as the
current KKP writes them: egress only) unless the datacenter disables them or runs in
namespacedMode, and every `customNetworkPolicies` entry with its spec verbatim (§2.3).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kvtui.cluster.netpol_sentences import RULE_KEYS, policy_types

KKP_DEFAULT, CUSTOM, OTHER = "kkp-default", "custom", "other"
PRIVATE_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")  # §2.1 rule 2's excepts
IMPORTER_LABELS = {"app": "containerized-data-importer", "cdi.kubevirt.io": "importer"}


# -- what KKP would put there --------------------------------------------------------------
def defaults_enabled(block: Mapping[str, Any]) -> bool:
    """§2.1: the CE defaults exist unless disabled, and never in namespacedMode."""
    namespaced = (block.get("namespacedMode") or {}).get("enabled") is True
    return block.get("enableDefaultNetworkPolicies") is not False and not namespaced


def cluster_isolation_spec(address: str, nameservers: Iterable[str]) -> dict[str, Any]:
    """KKP ≥ v2.23's `cluster-isolation` (egress only), as §2.1 spells it out."""
    egress: list[dict[str, Any]] = [
        {"to": [{"podSelector": {}}]},
        {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": list(PRIVATE_RANGES)}}]},
        # Appended even before the address is known: then it is empty, allowing all egress.
        {"to": [{"ipBlock": {"cidr": f"{address}/32"}}]} if address else {},
    ]
    dns = [{"protocol": "TCP", "port": 53}, {"protocol": "UDP", "port": 53}]
    egress += [{"to": [{"ipBlock": {"cidr": f"{ns}/32"}}], "ports": dns} for ns in nameservers]
    return {"podSelector": {}, "policyTypes": ["Egress"], "egress": egress}


def importer_spec() -> dict[str, Any]:
    """`allow-kubevirt-importer`: CDI importer pods may reach an image repo anywhere."""
    peer = {"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "image-repo"}}}
    return {
        "podSelector": {"matchLabels": dict(IMPORTER_LABELS)},
        "policyTypes": ["Egress"],
        "egress": [{"to": [peer]}],
    }


def expected_policies(
    block: Mapping[str, Any], address: str = ""
) -> dict[str, tuple[str, dict[str, Any]]]:
    """Name -> (origin, spec) of what KKP reconciles into one cluster's infra namespace."""
    expected: dict[str, tuple[str, dict[str, Any]]] = {}
    if defaults_enabled(block):
        nameservers = [str(n) for n in (block.get("dnsConfig") or {}).get("nameservers") or ()]
        expected["cluster-isolation"] = (KKP_DEFAULT, cluster_isolation_spec(address, nameservers))
        expected["allow-kubevirt-importer"] = (KKP_DEFAULT, importer_spec())
    for entry in block.get("customNetworkPolicies") or ():
        if isinstance(entry, Mapping) and isinstance(entry.get("name"), str):
            expected.setdefault(entry["name"], (CUSTOM, dict(entry.get("spec") or {})))
    return expected


# -- comparing specs as the API server means them ------------------------------------------
def normal_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A spec with the API server's defaults filled in and empty parts dropped, so that two
    specs meaning the same compare equal (a missing podSelector is `{}`, a port's protocol
    TCP, `from: []` no peers); present-but-empty selectors stay, as they mean "all"."""
    out: dict[str, Any] = {
        "podSelector": _normal_selector(spec.get("podSelector") or {}),
        "policyTypes": list(policy_types(spec)),
    }
    for rules_key, peers_key in RULE_KEYS.values():
        rules = spec.get(rules_key) or []
        if rules:
            out[rules_key] = [_normal_rule(rule or {}, peers_key) for rule in rules]
    return out


def _normal_selector(selector: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if selector.get("matchLabels"):
        out["matchLabels"] = dict(selector["matchLabels"])
    if selector.get("matchExpressions"):
        out["matchExpressions"] = [dict(e) for e in selector["matchExpressions"]]
    return out


def _normal_rule(rule: Mapping[str, Any], peers_key: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    peers = []
    for peer in rule.get(peers_key) or ():
        normal: dict[str, Any] = {}
        block = peer.get("ipBlock")
        if block is not None:
            normal["ipBlock"] = {"cidr": block.get("cidr")}
            if block.get("except"):
                normal["ipBlock"]["except"] = list(block["except"])
        for key in ("namespaceSelector", "podSelector"):
            if peer.get(key) is not None:
                normal[key] = _normal_selector(peer[key])
        peers.append(normal)
    if peers:
        out[peers_key] = peers
    ports = [
        {
            **{k: v for k, v in port.items() if v is not None},
            "protocol": port.get("protocol") or "TCP",
        }
        for port in rule.get("ports") or ()
    ]
    if ports:
        out["ports"] = ports
    return out


def spec_differences(actual: Mapping[str, Any], expected: Mapping[str, Any]) -> list[str]:
    """The top-level parts of the spec (podSelector, policyTypes, ingress, egress) that differ."""
    left, right = normal_spec(actual), normal_spec(expected)
    return [
        key
        for key in ("podSelector", "policyTypes", "ingress", "egress")
        if left.get(key) != right.get(key)
    ]

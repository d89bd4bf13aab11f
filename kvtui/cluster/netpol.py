"""Would this traffic pass the NetworkPolicies, and which rule decides? A pure explainer.

"My LoadBalancer is unreachable" on a KKP KubeVirt infra cluster is usually answered by reading
`cluster-isolation` and friends by hand (provider guide FAQ, fact sheet §2). `explain` does that
reading under Kubernetes NetworkPolicy semantics and names the deciding policy, rule, peer and
port, or every selecting policy with the reason none of its rules matched.

Choices where Kubernetes leaves room:
- An ipBlock matches a pod only by the pod's own IPs (one of them of the block's family, inside
  the cidr and outside every except); a pod with no known IP never matches an ipBlock. The API
  leaves ipBlock for pod IPs to the implementation: Calico (Canal) matches them like this, while
  Cilium keeps CIDR rules for peers that are not pods.
- An external CIDR endpoint passes a peer only when the whole CIDR is inside the block and clear
  of its excepts; a CIDR that is allowed only piecewise, across several peers, reads as denied.
- Named ports resolve against the destination pod's container ports, for egress too; a named
  port never matches an address outside the cluster.
- Replies of allowed connections are not checked: NetworkPolicies are stateful. The source is
  the address the pod sees: behind a LoadBalancer with `externalTrafficPolicy: Cluster` that may
  be a node's address, not the client's.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kvtui.cluster import formats
from kvtui.cluster.netpol_endpoints import (
    ContainerPort,
    Endpoint,
    External,
    PodEndpoint,
    labels_of_namespace,
    namespace_labels,
)
from kvtui.cluster.netpol_sentences import (
    DEFAULT_PROTOCOL,
    EGRESS,
    INGRESS,
    RULE_KEYS,
    policy_types,
    ports_text,
    rule_sentence,
    rule_sentences,
    selector_text,
    spec_of,
)
from kvtui.cluster.netpol_spec import PROTOCOLS
from kvtui.cluster.placement import label_selector_matches

# The endpoints and sentences are part of this module's API; they live apart to stay readable.
__all__ = [
    "ALLOWED",
    "DENIED",
    "EGRESS",
    "INGRESS",
    "OUTSIDE",
    "UNSELECTED",
    "ContainerPort",
    "Decision",
    "Endpoint",
    "External",
    "PodEndpoint",
    "Refusal",
    "Side",
    "Verdict",
    "explain",
    "namespace_labels",
    "policy_key",
    "policy_types",
    "rule_sentences",
    "selects",
]

# How a side came out: the endpoint is no pod of the cluster, no policy restricts the pod in
# that direction, a rule allows the traffic, or the pod is restricted and nothing allows it.
OUTSIDE, UNSELECTED, ALLOWED, DENIED = "outside", "unselected", "allowed", "denied"


@dataclass(frozen=True)
class Decision:
    """The first rule that allows the traffic; peer/port None when the rule has none (= all)."""

    policy: str
    rule: int
    peer: int | None
    port: int | None
    rule_text: str

    def __str__(self) -> str:
        text = f"{self.policy} rule {self.rule}"
        if self.peer is not None:
            text += f" peer {self.peer}"
        return text + (f" port {self.port}" if self.port is not None else "")


@dataclass(frozen=True)
class Refusal:
    """A policy that restricts the pod in this direction, and why none of its rules matched."""

    policy: str
    reasons: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.policy} ({'; '.join(self.reasons)})"


@dataclass(frozen=True)
class Side:
    """One half of the answer: the egress of the source or the ingress of the destination."""

    direction: str
    endpoint: Endpoint
    outcome: str
    decision: Decision | None = None
    refusals: tuple[Refusal, ...] = ()

    @property
    def allowed(self) -> bool:
        return self.outcome != DENIED

    def sentence(self) -> str:
        word = self.direction.lower()
        if self.outcome == OUTSIDE:
            return f"{self.endpoint} is outside the cluster: no {word} policy applies"
        if self.outcome == UNSELECTED:
            return f"no policy selects {self.endpoint} for {word}: unrestricted"
        if self.decision is not None:
            return (
                f"{word} of {self.endpoint} allowed by {self.decision}: {self.decision.rule_text}"
            )
        return f"{word} of {self.endpoint} denied by {'; '.join(map(str, self.refusals))}"


@dataclass(frozen=True)
class Verdict:
    """Allowed only when both the source's egress and the destination's ingress allow."""

    source: Endpoint
    destination: Endpoint
    port: int
    protocol: str
    egress: Side
    ingress: Side

    @property
    def allowed(self) -> bool:
        return self.egress.allowed and self.ingress.allowed

    @property
    def traffic(self) -> str:
        return f"{self.port}/{self.protocol} from {self.source} to {self.destination}"

    def sentence(self) -> str:
        """One line; for a denial it names only the side(s) that deny."""
        if self.allowed:
            return f"{self.traffic} is allowed: {self.egress.sentence()}; {self.ingress.sentence()}"
        sides = [s.sentence() for s in (self.egress, self.ingress) if not s.allowed]
        return f"{self.traffic} is denied: {'; '.join(sides)}"

    @property
    def explanation(self) -> str:
        """Several lines: the verdict, then each side."""
        word = "allowed" if self.allowed else "denied"
        return "\n".join(
            (
                f"{self.traffic}: {word}",
                f"  egress: {self.egress.sentence()}",
                f"  ingress: {self.ingress.sentence()}",
            )
        )


def policy_key(policy: Mapping[str, Any]) -> str:
    metadata = policy.get("metadata") or {}
    return f"{metadata.get('namespace', '')}/{metadata.get('name', '')}"


def selects(policy: Mapping[str, Any], pod: PodEndpoint, direction: str) -> bool:
    """Does this policy restrict `pod` in `direction` (same namespace, podSelector, types)?"""
    spec = spec_of(policy)
    return (
        (policy.get("metadata") or {}).get("namespace") == pod.namespace
        and label_selector_matches(pod.labels, spec.get("podSelector") or {})
        and direction in policy_types(spec)
    )


@dataclass(frozen=True)
class _Traffic:
    """What every rule is checked against, besides the peer."""

    namespaces: Mapping[str, Mapping[str, str]]
    destination: Endpoint
    port: int
    protocol: str


def explain(
    policies: Iterable[Mapping[str, Any]],
    namespaces: Mapping[str, Mapping[str, str]],
    source: Endpoint,
    destination: Endpoint,
    port: int,
    protocol: str = DEFAULT_PROTOCOL,
) -> Verdict:
    """Check the source's egress and the destination's ingress against raw NetworkPolicies.

    `namespaces` maps namespace names to their labels (`kubernetes.io/metadata.name` is added).
    Policies are read in namespace/name order, so "the first allowing rule" is deterministic.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"{protocol!r} is not one of {', '.join(PROTOCOLS)}")
    if not 1 <= port <= 65535:
        raise ValueError(f"{port} is not a port number (1-65535)")
    ordered = sorted(policies, key=policy_key)
    traffic = _Traffic(namespaces, destination, port, protocol)
    egress = _side(EGRESS, source, destination, ordered, traffic)
    ingress = _side(INGRESS, destination, source, ordered, traffic)
    return Verdict(source, destination, port, protocol, egress, ingress)


def _side(
    direction: str,
    subject: Endpoint,
    peer: Endpoint,
    policies: Sequence[Mapping[str, Any]],
    traffic: _Traffic,
) -> Side:
    if not isinstance(subject, PodEndpoint):
        return Side(direction, subject, OUTSIDE)
    selecting = [p for p in policies if selects(p, subject, direction)]
    if not selecting:
        return Side(direction, subject, UNSELECTED)
    rules_key, peers_key = RULE_KEYS[direction]
    refusals = []
    for policy in selecting:
        spec = spec_of(policy)
        namespace = (policy.get("metadata") or {}).get("namespace", "")
        reasons = []
        for index, rule in enumerate(spec.get(rules_key) or ()):
            peer_index, peer_reason = _peers(rule.get(peers_key), namespace, peer, traffic)
            port_index, port_reason = _ports(rule.get("ports"), index, traffic)
            if peer_reason is None and port_reason is None:
                text = rule_sentence(spec, direction, rule)
                decision = Decision(policy_key(policy), index, peer_index, port_index, text)
                return Side(direction, subject, ALLOWED, decision)
            if peer_reason is not None:
                reasons.append(f"rule {index}: {peer_reason}")
            if port_reason is not None:
                reasons.append(port_reason)
        if not reasons:
            reasons.append(f"no {rules_key} rules: denies all {rules_key}")
        refusals.append(Refusal(policy_key(policy), tuple(reasons)))
    return Side(direction, subject, DENIED, refusals=tuple(refusals))


def _peers(
    peers: Sequence[Mapping[str, Any]] | None, namespace: str, peer: Endpoint, traffic: _Traffic
) -> tuple[int | None, str | None]:
    """(index of the first matching peer, None) or (None, why none matched); no peers: all."""
    if not peers:
        return None, None
    reasons = []
    for index, entry in enumerate(peers):
        reason = _peer_reason(entry, namespace, peer, traffic.namespaces)
        if reason is None:
            return index, None
        reasons.append(reason)
    if len(reasons) == 1:
        return None, reasons[0]
    return None, "no peer matches (" + ", ".join(f"{i}: {r}" for i, r in enumerate(reasons)) + ")"


def _peer_reason(
    peer: Mapping[str, Any],
    namespace: str,
    endpoint: Endpoint,
    namespaces: Mapping[str, Mapping[str, str]],
) -> str | None:
    if peer.get("ipBlock") is not None:
        return _block_reason(peer["ipBlock"], endpoint)
    pod_selector, namespace_selector = peer.get("podSelector"), peer.get("namespaceSelector")
    if pod_selector is None and namespace_selector is None:
        return "an empty peer matches nothing"
    if not isinstance(endpoint, PodEndpoint):
        return f"{endpoint} is outside the cluster: selectors match only pods"
    if namespace_selector is None:
        if endpoint.namespace != namespace:
            return (
                f"{endpoint} is not in namespace {namespace} "
                "(a podSelector alone selects pods of the policy's namespace)"
            )
    elif not label_selector_matches(
        labels_of_namespace(namespaces, endpoint.namespace), namespace_selector
    ):
        return f"namespace {endpoint.namespace} does not match {selector_text(namespace_selector)}"
    if pod_selector is not None and not label_selector_matches(endpoint.labels, pod_selector):
        return f"{endpoint} does not match {selector_text(pod_selector)}"
    return None


def _block_reason(block: Mapping[str, Any], endpoint: Endpoint) -> str | None:
    try:
        cidr = formats.parse_cidr(block.get("cidr"))
        excepts = [(text, formats.parse_cidr(text)) for text in block.get("except") or ()]
    except ValueError as exc:
        return f"invalid ipBlock: {exc}"
    cidr_text = str(block.get("cidr"))
    if isinstance(endpoint, External):
        return _network_reason(endpoint.network, str(endpoint), cidr_text, cidr, excepts)
    if not endpoint.ips:
        return f"{endpoint} has no known IP, and an ipBlock matches pods only by IP"
    addresses = [ip for ip in endpoint.addresses() if ip.version == cidr.version]
    if not addresses:
        return f"{endpoint} has no IPv{cidr.version} address to match {cidr_text}"
    reasons = [
        _network_reason(ipaddress.ip_network(ip), str(ip), cidr_text, cidr, excepts)
        for ip in addresses
    ]
    return None if None in reasons else reasons[0]


def _network_reason(
    network: formats.IPNetwork,
    label: str,
    cidr_text: str,
    cidr: formats.IPNetwork,
    excepts: Sequence[tuple[str, formats.IPNetwork]],
) -> str | None:
    if network.version != cidr.version:
        return f"{label} is not in {cidr_text}"
    if not network.subnet_of(cidr):
        partly = network.overlaps(cidr)
        return f"{label} is {'only partly' if partly else 'not'} in {cidr_text}"
    for text, excluded in excepts:
        if excluded.version != network.version:
            continue
        if network.subnet_of(excluded):
            return f"{label} is in except {text}"
        if network.overlaps(excluded):
            return f"{label} overlaps except {text}"
    return None


def _ports(
    ports: Sequence[Mapping[str, Any]] | None, rule: int, traffic: _Traffic
) -> tuple[int | None, str | None]:
    """(index of the first matching port, None) or (None, why not); no ports: every port."""
    if not ports:
        return None, None
    for index, entry in enumerate(ports):
        if _port_matches(entry, traffic):
            return index, None
    text = (
        f"port {traffic.port}/{traffic.protocol} not in rule {rule}'s ports ({ports_text(ports)})"
    )
    notes = [_named_port_note(e["port"], traffic) for e in ports if _is_named(e, traffic.protocol)]
    return None, text + (f": {', '.join(notes)}" if notes else "")


def _is_named(entry: Mapping[str, Any], protocol: str) -> bool:
    return isinstance(entry.get("port"), str) and _protocol(entry) == protocol


def _protocol(entry: Mapping[str, Any]) -> str:
    return entry.get("protocol") or DEFAULT_PROTOCOL


def _port_matches(entry: Mapping[str, Any], traffic: _Traffic) -> bool:
    if _protocol(entry) != traffic.protocol:
        return False
    number = entry.get("port")
    if number is None:
        return True
    if isinstance(number, str):
        destination = traffic.destination
        if not isinstance(destination, PodEndpoint):
            return False
        found = destination.port_named(number, traffic.protocol)
        return found is not None and found.port == traffic.port
    end = entry.get("endPort")
    return number <= traffic.port <= end if end is not None else number == traffic.port


def _named_port_note(name: str, traffic: _Traffic) -> str:
    destination = traffic.destination
    if not isinstance(destination, PodEndpoint):
        return f"the named port {name} can only match a pod, not {destination}"
    found = destination.port_named(name, traffic.protocol)
    if found is None:
        return f"{destination} has no {traffic.protocol} port named {name}"
    return f"{name} is {found.port} on {destination}"

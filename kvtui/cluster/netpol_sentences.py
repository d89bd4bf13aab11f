"""A NetworkPolicySpec read aloud: its effective policyTypes, selectors, peers and ports as words.

An admin asking "why is this blocked?" should not have to parse YAML in their head; the
reachability explainer (`netpol`) quotes these phrases in its reasons, and a policy list can
show one sentence per rule. Everything here takes raw dicts, as the API server returns them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

INGRESS = "Ingress"
EGRESS = "Egress"
DEFAULT_PROTOCOL = "TCP"
# For each direction: the spec key of its rules and the rule key of its peers.
RULE_KEYS = {INGRESS: ("ingress", "from"), EGRESS: ("egress", "to")}


def spec_of(policy: Mapping[str, Any]) -> Mapping[str, Any]:
    """The spec of a NetworkPolicy object or of a KKP `customNetworkPolicies` entry, or a spec."""
    spec = policy.get("spec")
    return spec if isinstance(spec, Mapping) else policy


def policy_types(spec: Mapping[str, Any]) -> tuple[str, ...]:
    """The directions a spec restricts, defaulted as the API server does.

    Without policyTypes: Ingress always, Egress only when there is at least one egress rule
    (`egress: []` does not count, as in `SetDefaults_NetworkPolicy`).
    """
    explicit = spec.get("policyTypes")
    if explicit:
        return tuple(t for t in (INGRESS, EGRESS) if t in explicit)
    return (INGRESS, EGRESS) if spec.get("egress") else (INGRESS,)


def selector_text(selector: Mapping[str, Any]) -> str:
    """`app=x, env in (a, b), has gpu, no legacy`; "" for the empty selector."""
    parts = [f"{key}={value}" for key, value in (selector.get("matchLabels") or {}).items()]
    for expression in selector.get("matchExpressions") or ():
        key, operator = expression.get("key", ""), expression.get("operator", "")
        values = ", ".join(expression.get("values") or ())
        if operator == "In":
            parts.append(f"{key} in ({values})")
        elif operator == "NotIn":
            parts.append(f"{key} not in ({values})")
        elif operator == "Exists":
            parts.append(f"has {key}")
        elif operator == "DoesNotExist":
            parts.append(f"no {key}")
        else:
            parts.append(f"{key} {operator} ({values})")
    return ", ".join(parts)


def pods_text(selector: Mapping[str, Any] | None) -> str:
    """`every pod` or `pods with app=x` (a missing selector is the empty one)."""
    text = selector_text(selector or {})
    return f"pods with {text}" if text else "every pod"


def _namespaces_text(selector: Mapping[str, Any]) -> str:
    text = selector_text(selector)
    return f"namespaces with {text}" if text else "every namespace"


def peer_text(peer: Mapping[str, Any]) -> str:
    """One `from`/`to` entry: an ipBlock, or pods and/or namespaces chosen by selectors."""
    block = peer.get("ipBlock")
    if block is not None:
        excepts = block.get("except") or ()
        return str(block.get("cidr")) + (f" except {', '.join(excepts)}" if excepts else "")
    pods, namespaces = peer.get("podSelector"), peer.get("namespaceSelector")
    if pods is None and namespaces is None:
        return "nothing (an empty peer)"
    if namespaces is None:
        return f"{pods_text(pods)} in the same namespace"
    if pods is None or not selector_text(pods):
        return _namespaces_text(namespaces)
    return f"{pods_text(pods)} in {_namespaces_text(namespaces)}"


def port_text(port: Mapping[str, Any]) -> str:
    """`443/TCP`, `8000-8080/TCP`, `https/TCP` or `any UDP port`."""
    protocol = port.get("protocol") or DEFAULT_PROTOCOL
    number, end = port.get("port"), port.get("endPort")
    if number is None:
        return f"any {protocol} port"
    if end is not None:
        return f"{number}-{end}/{protocol}"
    return f"{number}/{protocol}"


def ports_text(ports: Sequence[Mapping[str, Any]] | None) -> str:
    """A rule's ports, comma-separated; "" when the rule allows every port."""
    return ", ".join(port_text(p) for p in ports or ())


def rule_sentence(spec: Mapping[str, Any], direction: str, rule: Mapping[str, Any]) -> str:
    """`ingress to pods with app=x from namespaces with team=y on 443/TCP`."""
    _, peers_key = RULE_KEYS[direction]
    peers = rule.get(peers_key) or ()
    peer_words = " or ".join(peer_text(p) for p in peers) if peers else "anywhere"
    pods = pods_text(spec.get("podSelector"))
    if direction == INGRESS:
        text = f"ingress to {pods} from {peer_words}"
    else:
        text = f"egress from {pods} to {peer_words}"
    ports = ports_text(rule.get("ports"))
    return f"{text} on {ports}" if ports else text


def rule_sentences(policy: Mapping[str, Any]) -> list[str]:
    """One sentence per rule (ingress first), plus what a direction without rules means.

    A direction in policyTypes without rules denies all of it for the selected pods; rules of
    a direction that policyTypes leaves out are ignored, which is worth saying out loud.
    """
    spec = spec_of(policy)
    types = policy_types(spec)
    sentences: list[str] = []
    for direction in (INGRESS, EGRESS):
        rules_key, _ = RULE_KEYS[direction]
        rules = spec.get(rules_key) or ()
        if direction not in types:
            if rules:
                sentences.append(
                    f"{rules_key} rules ignored: policyTypes does not list {direction}"
                )
            continue
        if not rules:
            preposition = "to" if direction == INGRESS else "from"
            pods = pods_text(spec.get("podSelector"))
            sentences.append(f"deny all {rules_key} {preposition} {pods}")
        sentences.extend(rule_sentence(spec, direction, rule) for rule in rules)
    return sentences

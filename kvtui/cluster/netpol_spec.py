"""Check a `networking.k8s.io/v1` NetworkPolicySpec the way the API server would admit it.

KKP applies each custom policy's spec verbatim in every user cluster's infra namespace (fact
sheet §2.3), so a spec the API server rejects fails there, once per cluster; this catches it
before the Seed is changed. Unknown keys are errors, as in the typed parts of the datacenter.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kvtui.cluster import formats
from kvtui.cluster.findings import Findings, join
from kvtui.cluster.schema import is_int, is_str, keys_of, quoted

POLICY_TYPES = ("Ingress", "Egress")
PROTOCOLS = ("TCP", "UDP", "SCTP")
SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")
_SPEC_KEYS = ("podSelector", "policyTypes", "ingress", "egress")
_PEER_KEYS = ("podSelector", "namespaceSelector", "ipBlock")
# The provider guide's own example indents `cidr` beside `ipBlock` instead of under it.
_PEER_HINTS = {key: "indent it under ipBlock" for key in ("cidr", "except")}


def check_spec(spec: Any, path: str, out: Findings) -> None:
    """Report what is wrong with one NetworkPolicySpec found at `path`."""
    body = keys_of(spec, path, _SPEC_KEYS, out, required=("podSelector",))
    if body is None:
        return
    if "podSelector" in body:
        check_selector(body["podSelector"], join(path, "podSelector"), out)
    types = _policy_types(body.get("policyTypes"), join(path, "policyTypes"), out)
    for direction, peers_key in (("ingress", "from"), ("egress", "to")):
        rules = body.get(direction)
        rules_path = join(path, direction)
        if rules is None:
            continue
        if not isinstance(rules, list):
            out.error(rules_path, "must be a list of rules")
            continue
        for index, rule in enumerate(rules):
            _rule(rule, join(rules_path, index), peers_key, out)
        kind = direction.capitalize()
        if types is not None and rules and kind not in types:
            out.warn(rules_path, f"ignored: policyTypes does not list {kind}")


def _policy_types(value: Any, path: str, out: Findings) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        out.error(path, f"must be a list of {' and/or '.join(POLICY_TYPES)}")
        return None
    for index, item in enumerate(value):
        if item not in POLICY_TYPES:
            out.error(join(path, index), f"{item!r} is not one of {', '.join(POLICY_TYPES)}")
        elif value.index(item) != index:
            out.error(join(path, index), f"{item} is listed twice")
    return [t for t in value if t in POLICY_TYPES]


def _rule(rule: Any, path: str, peers_key: str, out: Findings) -> None:
    body = keys_of(rule, path, (peers_key, "ports"), out)
    if body is None:
        return
    peers = body.get(peers_key)
    if peers is not None:
        if isinstance(peers, list):
            for index, peer in enumerate(peers):
                _peer(peer, join(join(path, peers_key), index), out)
        else:
            out.error(join(path, peers_key), "must be a list of peers")
    ports = body.get("ports")
    if ports is not None:
        if isinstance(ports, list):
            for index, port in enumerate(ports):
                _port(port, join(join(path, "ports"), index), out)
        else:
            out.error(join(path, "ports"), "must be a list of ports")


def _peer(peer: Any, path: str, out: Findings) -> None:
    body = keys_of(peer, path, _PEER_KEYS, out, hints=_PEER_HINTS)
    if body is None:
        return
    present = [k for k in _PEER_KEYS if body.get(k) is not None]
    if not present:
        out.error(path, "a peer needs podSelector, namespaceSelector or ipBlock")
    elif "ipBlock" in present and len(present) > 1:
        out.error(join(path, "ipBlock"), "ipBlock cannot be combined with a selector in one peer")
    for key in ("podSelector", "namespaceSelector"):
        if body.get(key) is not None:
            check_selector(body[key], join(path, key), out)
    if body.get("ipBlock") is not None:
        _ip_block(body["ipBlock"], join(path, "ipBlock"), out)


def _ip_block(block: Any, path: str, out: Findings) -> None:
    body = keys_of(block, path, ("cidr", "except"), out, required=("cidr",))
    if body is None:
        return
    network = _cidr(body.get("cidr"), join(path, "cidr"), out)
    excepts = body.get("except")
    if excepts is None:
        return
    if not isinstance(excepts, list):
        out.error(join(path, "except"), "must be a list of CIDRs")
        return
    for index, text in enumerate(excepts):
        item_path = join(join(path, "except"), index)
        inner = _cidr(text, item_path, out)
        if inner is None or network is None:
            continue
        if not formats.is_strict_subset(inner, network):
            out.error(item_path, f"{text} is not a strict subset of cidr {body['cidr']}")


def _cidr(text: Any, path: str, out: Findings) -> formats.IPNetwork | None:
    if not is_str(text):
        out.error(path, "must be a CIDR string such as 10.0.0.0/24")
        return None
    try:
        network = formats.parse_cidr(text)
    except ValueError as exc:
        out.error(path, str(exc))
        return None
    if formats.has_host_bits(text):
        out.warn(path, f"{text} has host bits set: it means {network}")
    return network


def _port(port: Any, path: str, out: Findings) -> None:
    body = keys_of(port, path, ("protocol", "port", "endPort"), out)
    if body is None:
        return
    protocol = body.get("protocol")
    if protocol is not None and protocol not in PROTOCOLS:
        out.error(join(path, "protocol"), f"{protocol!r} is not one of {', '.join(PROTOCOLS)}")
    number = body.get("port")
    if number is not None:
        if is_int(number):
            if not 1 <= number <= 65535:
                out.error(join(path, "port"), f"{number} is not a port number (1-65535)")
        elif is_str(number):
            try:
                formats.check_port_name(number)
            except ValueError as exc:
                out.error(join(path, "port"), str(exc))
        else:
            out.error(join(path, "port"), "must be a port number or a port name")
    end = body.get("endPort")
    if end is None:
        return
    end_path = join(path, "endPort")
    if not is_int(end):
        out.error(end_path, "must be a port number")
    elif not is_int(number):
        out.error(end_path, "endPort needs a numeric port")
    elif not number <= end <= 65535:
        out.error(end_path, f"must be between port ({number}) and 65535")


def check_selector(selector: Any, path: str, out: Findings) -> None:
    """A LabelSelector: matchLabels with valid label keys and values, matchExpressions."""
    body = keys_of(selector, path, ("matchLabels", "matchExpressions"), out)
    if body is None:
        return
    labels = body.get("matchLabels")
    labels_path = join(path, "matchLabels")
    if isinstance(labels, Mapping):
        for key, value in labels.items():
            _label(key, value, join(labels_path, str(key)), out)
    elif labels is not None:
        out.error(labels_path, "must be a map of label keys to values")
    expressions = body.get("matchExpressions")
    expressions_path = join(path, "matchExpressions")
    if isinstance(expressions, list):
        for index, expression in enumerate(expressions):
            _expression(expression, join(expressions_path, index), out)
    elif expressions is not None:
        out.error(expressions_path, "must be a list of requirements")


def _label(key: Any, value: Any, path: str, out: Findings) -> None:
    try:
        formats.check_label_key(key)
    except ValueError as exc:
        out.error(path, str(exc))
    if not is_str(value):
        out.error(path, f"the value must be a string (quote it: {quoted(value)})")
        return
    try:
        formats.check_label_value(value)
    except ValueError as exc:
        out.error(path, str(exc))


def _expression(expression: Any, path: str, out: Findings) -> None:
    body = keys_of(
        expression, path, ("key", "operator", "values"), out, required=("key", "operator")
    )
    if body is None:
        return
    key = body.get("key")
    if key is not None:
        try:
            formats.check_label_key(key)
        except ValueError as exc:
            out.error(join(path, "key"), str(exc))
    operator = body.get("operator")
    if operator is not None and operator not in SELECTOR_OPERATORS:
        out.error(
            join(path, "operator"), f"{operator!r} is not one of {', '.join(SELECTOR_OPERATORS)}"
        )
    values = body.get("values")
    values_path = join(path, "values")
    if values is not None and (not isinstance(values, list) or not all(map(is_str, values))):
        out.error(values_path, "must be a list of strings")
        return
    if operator in ("In", "NotIn") and not values:
        out.error(values_path, f"{operator} needs at least one value")
    elif operator in ("Exists", "DoesNotExist") and values:
        out.error(values_path, f"{operator} takes no values")

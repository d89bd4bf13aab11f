"""The endpoint words of the explainer, as an admin types them, made into endpoints.

An address or CIDR (a single address that is a pod's IP is that pod), `NS/NAME` (a pod, a VM:
its virt-launcher pod, or as a destination a Service: the pods behind it, reached on its target
port), or `NS:key=value,...` (a pod that would carry those labels). Bad input raises
EndpointError with one readable line.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kvtui.cluster import formats
from kvtui.cluster.netpol import Endpoint, External, PodEndpoint
from kvtui.cluster.netpol_cluster import (
    NetpolWorld,
    launcher_rank,
    pod_label,
    selected_pods,
    selection_text,
    vm_name,
)
from kvtui.cluster.netpol_spec import PROTOCOLS


class EndpointError(ValueError):
    """Input that names nothing (or nothing usable): a one-line message for the admin."""


@dataclass(frozen=True)
class Resolved:
    """What one `--from`/`--to` word stands for: one or more endpoints and how they were found."""

    text: str
    what: str  # "address" | "pod" | "vm" | "service" | "labels"
    endpoints: tuple[Endpoint, ...]
    service: Mapping[str, Any] | None = None
    notes: tuple[str, ...] = ()


# -- parsing -------------------------------------------------------------------------------
def parse_port(text: str) -> tuple[int, str]:
    """`443`, `53/udp`, `8080/TCP` -> (port, protocol)."""
    number, _, protocol = text.strip().partition("/")
    protocol = (protocol or "TCP").upper()
    if protocol not in PROTOCOLS:
        raise EndpointError(f"port {text!r}: protocol must be one of {', '.join(PROTOCOLS)}")
    if not number.isdigit() or not 1 <= int(number) <= 65535:
        raise EndpointError(f"port {text!r}: write a number 1-65535, optionally /TCP, /UDP, /SCTP")
    return int(number), protocol


def parse_labels(text: str) -> dict[str, str]:
    """`app=web,tier=front` -> labels; "" -> none (a pod without labels)."""
    labels: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, equals, value = part.partition("=")
        if not equals:
            raise EndpointError(f"label {part!r}: write key=value")
        try:
            formats.check_label_key(key.strip())
            formats.check_label_value(value.strip())
        except ValueError as exc:
            raise EndpointError(f"label {part!r}: {exc}") from None
        labels[key.strip()] = value.strip()
    return labels


def resolve(world: NetpolWorld, text: str, *, destination: bool = False) -> Resolved:
    """One endpoint word; `destination` also accepts a Service. Raises EndpointError."""
    text = text.strip()
    if not text:
        raise EndpointError("an endpoint is empty: give IP, CIDR, NS/NAME or NS:LABELS")
    address = _address(text)
    if address is not None:
        return _address_endpoint(world, text, address)
    if ":" in text:
        namespace, _, labels = text.partition(":")
        _known_namespace(world, namespace)
        return Resolved(text, "labels", (PodEndpoint(namespace, parse_labels(labels)),))
    namespace, slash, name = text.partition("/")
    if not slash or not namespace or not name or "/" in name:
        raise EndpointError(f"{text!r}: give IP, CIDR, NS/NAME (pod, VM or Service) or NS:LABELS")
    _known_namespace(world, namespace)
    pods = world.pods_in(namespace)
    pod = next((p for p in pods if p["metadata"]["name"] == name), None)
    if pod is not None:
        return Resolved(text, "pod", (PodEndpoint.from_pod(pod),))
    launcher = vm_pod(pods, name)
    if launcher is not None:
        note = f"VM {namespace}/{name} is its virt-launcher pod {launcher['metadata']['name']}"
        return Resolved(text, "vm", (as_vm(launcher),), notes=(note,))
    service = next((s for s in world.services if _is(s, namespace, name)), None)
    if service is not None and destination:
        return _service_endpoint(world, text, service)
    if service is not None:
        raise EndpointError(f"{text} is a Service: a source must be an address, pod or VM")
    raise EndpointError(f"{text}: no pod, VM or Service {name} in namespace {namespace}")


def _is(obj: Mapping[str, Any], namespace: str, name: str) -> bool:
    meta = obj.get("metadata") or {}
    return meta.get("namespace") == namespace and meta.get("name") == name


def _address(text: str) -> formats.IPNetwork | None:
    try:
        if "/" in text:
            return formats.parse_cidr(text)
        return ipaddress.ip_network(formats.parse_ip(text))
    except ValueError:
        if text.replace(".", "").replace("/", "").isdigit():
            raise EndpointError(f"{text!r} is not an IP address or CIDR") from None
        return None


def _address_endpoint(world: NetpolWorld, text: str, network: formats.IPNetwork) -> Resolved:
    """A single address that is a pod's IP is that pod: ipBlocks and selectors both see it."""
    if network.prefixlen == network.max_prefixlen:
        ip = str(network.network_address)
        for pod in world.pods:
            ips = [e.get("ip") for e in (pod.get("status") or {}).get("podIPs") or ()]
            if ip in ips or (pod.get("status") or {}).get("podIP") == ip:
                where = f"{pod['metadata']['namespace']}/{pod_label(pod)}"
                return Resolved(
                    text, "pod", (PodEndpoint.from_pod(pod),), notes=(f"{ip} is {where}",)
                )
    return Resolved(text, "address", (External(text),))


def _known_namespace(world: NetpolWorld, namespace: str) -> None:
    if namespace not in world.namespaces:
        raise EndpointError(f"namespace {namespace!r} not found")


def vm_pod(pods: Sequence[Mapping[str, Any]], vm: str) -> Mapping[str, Any] | None:
    """The virt-launcher pod of VM (= VMI) `vm`: a running one, the migration source first."""
    launchers = [p for p in pods if vm_name(p) == vm]
    return min(launchers, key=launcher_rank) if launchers else None


def _service_endpoint(world: NetpolWorld, text: str, service: Mapping[str, Any]) -> Resolved:
    spec = service.get("spec") or {}
    selector = spec.get("selector") or {}
    namespace = service["metadata"]["namespace"]
    shown = ", ".join(f"{k}={v}" for k, v in selector.items())
    if not selector:
        raise EndpointError(
            f"Service {text} has no selector: its endpoints are managed by hand, name a pod or VM"
        )
    pods = selected_pods(world, namespace, {"podSelector": {"matchLabels": selector}})
    if not pods:
        raise EndpointError(
            f"Service {text} selects no pod ({shown}): traffic to it reaches nothing, "
            "whatever the NetworkPolicies say"
        )
    labels = [pod_label(p) for p in pods]
    kind = spec.get("type", "ClusterIP")
    notes = [f"Service {text} ({kind}) selects {selection_text(labels)}"]
    if spec.get("type") == "LoadBalancer" and spec.get("externalTrafficPolicy") != "Local":
        notes.append(
            "externalTrafficPolicy Cluster: the pods may see a node's address instead of the "
            "client's, so also check --from <node IP>"
        )
    endpoints = tuple(as_vm(p) for p in pods)
    return Resolved(text, "service", endpoints, service=service, notes=tuple(notes))


def as_vm(pod: Mapping[str, Any]) -> PodEndpoint:
    """A pod as an endpoint named the way the admin knows it: `vm/<name>` for a VM's pod."""
    return dataclasses.replace(PodEndpoint.from_pod(pod), name=pod_label(pod))


def target_port(service: Mapping[str, Any], pod: PodEndpoint, port: int, protocol: str) -> int:
    """The pod port that traffic to a Service's `port` (or nodePort) arrives on: NetworkPolicies
    see the destination after the Service's translation."""
    entries = (service.get("spec") or {}).get("ports") or ()
    for entry in entries:
        if (entry.get("protocol") or "TCP") != protocol:
            continue
        if port in (entry.get("port"), entry.get("nodePort")):
            target = entry.get("targetPort", entry.get("port"))
            if isinstance(target, str):
                found = pod.port_named(target, protocol)
                if found is None:
                    raise EndpointError(f"{pod} has no {protocol} port named {target}")
                return found.port
            return int(target)
    offered = ", ".join(f"{e.get('port')}/{e.get('protocol') or 'TCP'}" for e in entries)
    name = service["metadata"]["name"]
    raise EndpointError(
        f"Service {name} has no port {port}/{protocol} (ports: {offered or 'none'})"
    )

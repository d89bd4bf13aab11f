"""The two ends of a connection a NetworkPolicy question is about: a pod, or an outside address.

A VM is its virt-launcher pod; a "what if" question names a hypothetical pod by namespace and
labels. Kept apart from the explainer so the UI and CLI can build endpoints from raw objects.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kvtui.cluster import formats
from kvtui.cluster.netpol_sentences import DEFAULT_PROTOCOL, pods_text

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


@dataclass(frozen=True)
class ContainerPort:
    """One `containers[].ports[]` entry; the name is what a named NetworkPolicy port refers to."""

    port: int
    name: str = ""
    protocol: str = DEFAULT_PROTOCOL


@dataclass(frozen=True)
class External:
    """An IP address or CIDR outside the cluster: only ipBlock peers can match it."""

    address: str
    network: formats.IPNetwork = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if "/" in self.address:
            network = formats.parse_cidr(self.address)
        else:
            network = ipaddress.ip_network(formats.parse_ip(self.address))
        object.__setattr__(self, "network", network)

    def __str__(self) -> str:
        single = self.network.prefixlen == self.network.max_prefixlen
        return str(self.network.network_address) if single else str(self.network)


@dataclass(frozen=True)
class PodEndpoint:
    """A pod of the cluster, or a hypothetical one (no name) chosen by namespace and labels.

    A VM is its virt-launcher pod: pass that pod's labels (the VMI's labels plus KubeVirt's).
    """

    namespace: str
    labels: Mapping[str, str] = field(default_factory=dict)
    name: str = ""
    ips: tuple[str, ...] = ()
    ports: tuple[ContainerPort, ...] = ()

    def __post_init__(self) -> None:
        for ip in self.ips:
            formats.parse_ip(ip)

    @classmethod
    def from_pod(cls, pod: Mapping[str, Any]) -> PodEndpoint:
        """From a raw Pod: metadata, `status.podIPs` (or `podIP`), the containers' ports."""
        metadata, status = pod.get("metadata") or {}, pod.get("status") or {}
        ips = [entry.get("ip") for entry in status.get("podIPs") or ()] or [status.get("podIP")]
        ports = [
            ContainerPort(p["containerPort"], p.get("name") or "", p.get("protocol") or "TCP")
            for container in (pod.get("spec") or {}).get("containers") or ()
            for p in container.get("ports") or ()
        ]
        return cls(
            metadata.get("namespace") or "default",
            dict(metadata.get("labels") or {}),
            metadata.get("name") or "",
            tuple(ip for ip in ips if ip),
            tuple(ports),
        )

    def port_named(self, name: str, protocol: str) -> ContainerPort | None:
        """The container port a named NetworkPolicy port means on this pod, if any."""
        return next((p for p in self.ports if p.name == name and p.protocol == protocol), None)

    def addresses(self) -> list[formats.IPAddress]:
        return [formats.parse_ip(ip) for ip in self.ips]

    def __str__(self) -> str:
        if self.name:
            return f"{self.namespace}/{self.name}"
        return f"{pods_text({'matchLabels': dict(self.labels)})} in {self.namespace}"


Endpoint = External | PodEndpoint


def namespace_labels(namespaces: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    """Raw Namespace objects to the name → labels map `explain` takes."""
    return {
        ns["metadata"]["name"]: dict(ns["metadata"].get("labels") or {})
        for ns in namespaces
        if (ns.get("metadata") or {}).get("name")
    }


def labels_of_namespace(namespaces: Mapping[str, Mapping[str, str]], name: str) -> dict[str, str]:
    """A namespace's labels with the one the API server sets on every namespace."""
    return {**(namespaces.get(name) or {}), NAMESPACE_NAME_LABEL: name}

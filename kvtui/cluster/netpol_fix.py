"""The smallest NetworkPolicy that lets one denied connection through, as KKP custom entries.

KKP copies every `customNetworkPolicies` entry verbatim into each user cluster's infra namespace
(fact sheet §2.3), so a fix must not name one pod, VM, machine or cluster: it selects pods by
the labels their kind shares (`stable_labels`; a KKP worker VM keeps `kubevirt.io:
virt-launcher` and `cluster.x-k8s.io/role: worker`). The peer and the port are exact: the
source CIDR (or pod), the one port, the one protocol.

A fix is only proposed for a side that denies: a policy also isolates, in its direction, every
pod it selects that no policy selected before, so adding one to a side that is unrestricted
would take traffic away. For the same reason, check which other pods carry the chosen labels.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kvtui.cluster.netpol import EGRESS, INGRESS, Endpoint, External, PodEndpoint, Verdict
from kvtui.cluster.netpol_endpoints import NAMESPACE_NAME_LABEL
from kvtui.cluster.netpol_sentences import rule_sentences

# Labels that name one pod, VM, machine, MachineDeployment or user cluster, or that change on a
# restart or migration; KubeVirt, machine-controller (fact sheet §4.3, §5.7) and controllers.
INSTANCE_LABELS = frozenset(
    {
        "kubevirt.io/created-by",
        "kubevirt.io/vm",
        "kubevirt.io/domain",
        "kubevirt.io/nodeName",
        "kubevirt.io/migrationJobUID",
        "kubevirt.io/migrationTargetNodeName",
        "vm.kubevirt.io/name",
        "vmi.kubevirt.io/id",
        "cluster.x-k8s.io/cluster-name",
        "kubermatic.k8c.io/cluster-id",
        "kubermatic.k8c.io/project-id",
        # machine-controller copies the Machine's labels onto the VM and its pod (fact sheet
        # §4.3); `machine` names one MachineDeployment's machines, not a kind of VM.
        "machine",
        "md",
        "pod-template-hash",
        "pod-template-generation",
        "controller-revision-hash",
        "controller-uid",
        "job-name",
        "statefulset.kubernetes.io/pod-name",
        "apps.kubernetes.io/pod-index",
        "batch.kubernetes.io/controller-uid",
        "batch.kubernetes.io/job-name",
        "batch.kubernetes.io/job-completion-index",
    }
)
_INSTANCE_PREFIXES = ("topology.kubernetes.io/",)
_MAX_NAME = 63


def stable_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """The labels a pod shares with others of its kind in every user cluster."""
    return {
        key: value
        for key, value in labels.items()
        if key not in INSTANCE_LABELS and not key.startswith(_INSTANCE_PREFIXES)
    }


@dataclass(frozen=True)
class FixPolicy:
    """One proposed policy: where it goes, what it is called, its spec."""

    namespace: str
    name: str
    direction: str
    spec: Mapping[str, Any]

    @property
    def entry(self) -> dict[str, Any]:
        """The KKP `customNetworkPolicies` entry (name and spec; KKP picks the namespace)."""
        return {"name": self.name, "spec": copy.deepcopy(dict(self.spec))}

    @property
    def policy(self) -> dict[str, Any]:
        """The NetworkPolicy object, for a namespace KKP does not manage."""
        return custom_policies([self.entry], self.namespace)[0]

    def sentence(self) -> str:
        return f"{self.name}: {'; '.join(rule_sentences(self.spec))}"


@dataclass(frozen=True)
class Fix:
    """The policies that together allow the connection: one per denying side."""

    policies: tuple[FixPolicy, ...]

    def entries(self) -> list[dict[str, Any]]:
        return [p.entry for p in self.policies]

    def objects(self) -> list[dict[str, Any]]:
        return [p.policy for p in self.policies]


def custom_policies(entries: Iterable[Mapping[str, Any]], namespace: str) -> list[dict[str, Any]]:
    """KKP's application of `customNetworkPolicies` to one infra namespace: spec verbatim."""
    return [
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": entry["name"], "namespace": namespace},
            "spec": copy.deepcopy(dict(entry["spec"])),
        }
        for entry in entries
    ]


def smallest_fix(
    verdict: Verdict,
    pod_selector: Mapping[str, str] | None = None,
    source_selector: Mapping[str, str] | None = None,
) -> Fix | None:
    """Policies allowing exactly the verdict's connection; None when it is already allowed.

    `pod_selector` (matchLabels) stands for the destination and `source_selector` for the source
    pod, both in the fix's podSelector and in its peers; each defaults to the stable labels of
    that pod. A selector that does not match its pod yields a fix that does not apply to it.
    """
    if verdict.allowed:
        return None
    source, destination = verdict.source, verdict.destination
    source_labels = _selection(source, source_selector)
    destination_labels = _selection(destination, pod_selector)
    port = {"protocol": verdict.protocol, "port": verdict.port}
    policies = []
    if not verdict.egress.allowed and isinstance(source, PodEndpoint):
        peer, token = _peer(destination, destination_labels, source.namespace)
        spec = {
            "podSelector": _selector(source_labels),
            "policyTypes": [EGRESS],
            "egress": [{"to": [peer], "ports": [port]}],
        }
        name = _name("allow-to", token, verdict.port, verdict.protocol)
        policies.append(FixPolicy(source.namespace, name, EGRESS, spec))
    if not verdict.ingress.allowed and isinstance(destination, PodEndpoint):
        peer, token = _peer(source, source_labels, destination.namespace)
        spec = {
            "podSelector": _selector(destination_labels),
            "policyTypes": [INGRESS],
            "ingress": [{"from": [peer], "ports": [port]}],
        }
        name = _name("allow-from", token, verdict.port, verdict.protocol)
        policies.append(FixPolicy(destination.namespace, name, INGRESS, spec))
    return Fix(tuple(policies))


def _selection(endpoint: Endpoint, chosen: Mapping[str, str] | None) -> dict[str, str]:
    if chosen is not None:
        return dict(chosen)
    return stable_labels(endpoint.labels) if isinstance(endpoint, PodEndpoint) else {}


def _selector(labels: Mapping[str, str]) -> dict[str, Any]:
    return {"matchLabels": dict(labels)} if labels else {}


def _peer(
    endpoint: Endpoint, labels: Mapping[str, str], namespace: str
) -> tuple[dict[str, Any], str]:
    """The peer that matches `endpoint` seen from a policy in `namespace`, and its name part."""
    if isinstance(endpoint, External):
        return {"ipBlock": {"cidr": str(endpoint.network)}}, str(endpoint)
    token = "-".join(value for _, value in sorted(labels.items())) or "all-pods"
    if endpoint.namespace == namespace:
        return {"podSelector": _selector(labels)}, token
    peer: dict[str, Any] = {
        "namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: endpoint.namespace}}
    }
    if labels:
        peer["podSelector"] = _selector(labels)
    return peer, f"{endpoint.namespace}-{token}"


def _name(prefix: str, token: str, port: int, protocol: str) -> str:
    """A DNS-1123 label from the peer, port and protocol; long ones end in a short hash."""
    name = re.sub(r"[^a-z0-9-]", "-", f"{prefix}-{token}-{port}-{protocol}".lower()).strip("-")
    if len(name) <= _MAX_NAME:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"{name[: _MAX_NAME - 9].rstrip('-')}-{digest}"

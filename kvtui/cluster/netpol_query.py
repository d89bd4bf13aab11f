"""The explainer's questions as an admin asks them, and the fix as KKP would apply it.

`check` takes the words of `kvtui netpol check --from ... --to ... --port ...` (and of the
explainer screen, see `netpol_resolve`) and explains every destination pod, with what KKP's
defaults do there. `propose` turns a denial into the smallest custom policy, says what it does
in every user cluster of the datacenter, and checks that it changes the verdict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kvtui.cluster.netpol import (
    INGRESS,
    UNSELECTED,
    Endpoint,
    PodEndpoint,
    Verdict,
    explain,
    selects,
)
from kvtui.cluster.netpol_cluster import (
    NetpolWorld,
    UserCluster,
    pod_label,
    selected_pods,
    selection_text,
)
from kvtui.cluster.netpol_fix import Fix, FixPolicy, smallest_fix, stable_labels
from kvtui.cluster.netpol_resolve import Resolved, parse_port, resolve, target_port
from kvtui.cluster.netpol_sentences import policy_types, rule_sentences, spec_of


@dataclass(frozen=True)
class Check:
    """The verdicts of one question: one per destination pod (a Service has several)."""

    source: Resolved
    destination: Resolved
    port: int
    protocol: str
    verdicts: tuple[Verdict, ...]
    notes: tuple[str, ...] = ()

    @property
    def allowed(self) -> bool:
        return bool(self.verdicts) and all(v.allowed for v in self.verdicts)

    @property
    def denied(self) -> list[Verdict]:
        return [v for v in self.verdicts if not v.allowed]


# -- checking ------------------------------------------------------------------------------
def check(world: NetpolWorld, source: str, destination: str, port: str) -> Check:
    """Explain `source` -> `destination` on `port`; raises EndpointError on bad input."""
    number, protocol = parse_port(port)
    src = resolve(world, source)
    dst = resolve(world, destination, destination=True)
    return check_resolved(world, src, dst, number, protocol)


def check_resolved(
    world: NetpolWorld,
    source: Resolved,
    destination: Resolved,
    port: int,
    protocol: str,
    extra: Sequence[Mapping[str, Any]] = (),
) -> Check:
    """The verdicts for resolved endpoints; `extra` policies are added (a proposed fix)."""
    policies = [*world.policies, *extra]
    verdicts = []
    notes = list(source.notes + destination.notes)
    [origin] = source.endpoints
    for endpoint in destination.endpoints:
        pod_port = port
        if destination.service is not None and isinstance(endpoint, PodEndpoint):
            pod_port = target_port(destination.service, endpoint, port, protocol)
        verdicts.append(explain(policies, world.namespaces, origin, endpoint, pod_port, protocol))
    notes += kkp_notes(world, verdicts)
    ports = sorted({v.port for v in verdicts})
    if destination.service is not None and ports != [port]:
        name = destination.service["metadata"]["name"]
        shown = ", ".join(f"{p}/{protocol}" for p in ports)
        notes.append(f"Service {name} port {port} arrives on the pods' port {shown}")
    return Check(source, destination, port, protocol, tuple(verdicts), tuple(notes))


def deciding_rules(verdict: Verdict) -> str:
    """`ingress by ns/policy rule 0 peer 0`: the rules that allow, side by side."""
    return "; ".join(
        f"{side.direction.lower()} by {side.decision}"
        for side in (verdict.egress, verdict.ingress)
        if side.decision is not None
    )


def kkp_notes(world: NetpolWorld, verdicts: Sequence[Verdict]) -> list[str]:
    """What KKP's defaults do here, said once, where a user cluster's pod is involved: the
    current cluster-isolation restricts egress only (fact sheet §2.1), so ingress is decided
    by the other policies, or by none."""
    notes: list[str] = []
    for verdict in verdicts:
        pod = verdict.destination
        if isinstance(pod, PodEndpoint) and _egress_only_isolation(world, pod.namespace):
            if verdict.ingress.outcome == UNSELECTED:
                notes.append(
                    f"no policy restricts ingress to this pod of {pod.namespace}: KKP's "
                    f"{EGRESS_ONLY}"
                )
            else:
                notes.append(
                    f"KKP's {EGRESS_ONLY}: ingress in {pod.namespace} is decided by the other "
                    "policies"
                )
        source, egress = verdict.source, verdict.egress
        if (
            not egress.allowed
            and isinstance(source, PodEndpoint)
            and world.cluster_of(source.namespace) is not None
            and any(r.policy.endswith("/cluster-isolation") for r in egress.refusals)
        ):
            notes.append(
                f"cluster-isolation lets the pods of {source.namespace} reach public addresses, "
                "their own namespace, the user cluster's apiserver and the datacenter's "
                "nameservers; 10.0.0.0/8, 172.16.0.0/12 and 192.168.0.0/16 stay closed"
            )
    return list(dict.fromkeys(notes))


EGRESS_ONLY = (
    "cluster-isolation restricts egress only (KKP ≥ v2.23; up to v2.22 it admitted only "
    "same-namespace ingress)"
)


def _egress_only_isolation(world: NetpolWorld, namespace: str) -> bool:
    """A user cluster's namespace whose cluster-isolation is the current, egress-only one."""
    if world.cluster_of(namespace) is None:
        return False
    return any(
        p["metadata"].get("namespace") == namespace
        and p["metadata"].get("name") == "cluster-isolation"
        and INGRESS not in policy_types(spec_of(p))
        for p in world.policies
    )


def verdict_groups(verdicts: Sequence[Verdict]) -> list[list[Verdict]]:
    """Verdicts decided alike (same outcome, policies and rules on both sides), in order: a
    Service's five VMs usually read as one answer."""
    groups: dict[tuple, list[Verdict]] = {}
    for verdict in verdicts:
        shape = tuple(
            (side.outcome, str(side.decision), tuple(r.policy for r in side.refusals))
            for side in (verdict.egress, verdict.ingress)
        )
        groups.setdefault((verdict.port, *shape), []).append(verdict)
    return list(groups.values())


# -- the fix -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClusterEffect:
    """What one proposed custom policy does in one infra namespace of the datacenter."""

    namespace: str
    clusters: tuple[UserCluster, ...]  # one, or several sharing a namespacedMode namespace
    selected: tuple[str, ...]  # pod_label of each pod it selects there
    newly_isolated: tuple[str, ...]  # of those, the ones no policy restricted in its direction

    def sentence(self, direction: str) -> str:
        names = ", ".join(c.name for c in self.clusters)
        where = f"{self.namespace} ({names})"
        if not self.selected:
            return f"{where}: selects nothing yet (applies to pods created later)"
        text = f"{where}: applies to {selection_text(self.selected)}"
        if self.newly_isolated:
            word = direction.lower()
            text += (
                f"; {len(self.newly_isolated)} of them had no {word} policy: any other {word} "
                "to them is now denied"
            )
        return text


@dataclass(frozen=True)
class Proposal:
    """One policy of a fix, where it goes, and what it does in every cluster of its DC."""

    fix: FixPolicy
    datacenter: str  # "" when the namespace is no KKP cluster's: apply the object by hand
    effects: tuple[ClusterEffect, ...]

    @property
    def entry(self) -> dict[str, Any]:
        return self.fix.entry

    def lines(self) -> list[str]:
        """The policy's rules, then its reach: one line each."""
        lines = [f"{self.fix.name}: {'; '.join(rule_sentences(self.fix.spec))}"]
        if self.datacenter:
            lines.append(
                f"as a customNetworkPolicies entry of datacenter {self.datacenter}, KKP puts it "
                f"in every user cluster's namespace ({len(self.effects)}):"
            )
            lines += [f"  {e.sentence(self.fix.direction)}" for e in self.effects]
        else:
            lines.append(f"{self.fix.namespace} is no KKP user cluster's namespace: apply it there")
        return lines


def fix_labels(endpoint: Endpoint) -> dict[str, str] | None:
    """The labels a fix selects a pod by: shared by its kind in every user cluster."""
    if not isinstance(endpoint, PodEndpoint):
        return None
    return stable_labels(endpoint.labels)


def propose(world: NetpolWorld, verdict: Verdict) -> tuple[Fix, list[Proposal], Verdict] | None:
    """The smallest fix of a denied verdict, each policy's reach, and the verdict with it in
    place (allowed, unless a label choice misses the pod); None when already allowed."""
    fix = smallest_fix(
        verdict,
        pod_selector=fix_labels(verdict.destination),
        source_selector=fix_labels(verdict.source),
    )
    if fix is None:
        return None
    proposals = [_proposal(world, p) for p in fix.policies]
    after = explain(
        [*world.policies, *fix.objects()],
        world.namespaces,
        verdict.source,
        verdict.destination,
        verdict.port,
        verdict.protocol,
    )
    return fix, proposals, after


def _proposal(world: NetpolWorld, fix: FixPolicy) -> Proposal:
    home = world.cluster_of(fix.namespace)
    if home is None:
        return Proposal(fix, "", ())
    by_namespace: dict[str, list[UserCluster]] = {}
    for cluster in world.clusters:
        if cluster.datacenter == home.datacenter:
            by_namespace.setdefault(cluster.namespace, []).append(cluster)
    effects = []
    for namespace, clusters in by_namespace.items():
        pods = selected_pods(world, namespace, fix.spec)
        existing = [p for p in world.policies if p["metadata"].get("namespace") == namespace]
        isolated = [
            p
            for p in pods
            if not any(selects(e, PodEndpoint.from_pod(p), fix.direction) for e in existing)
        ]
        effects.append(
            ClusterEffect(
                namespace,
                tuple(clusters),
                tuple(pod_label(p) for p in pods),
                tuple(pod_label(p) for p in isolated),
            )
        )
    return Proposal(fix, home.datacenter, tuple(effects))

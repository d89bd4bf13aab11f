"""The guide's DNS collision (FAQ; fact sheet §10): the infra cluster's NodeLocal DNS cache
listens on 169.254.20.10, every KKP user cluster runs its own cache on the same address, and VMs
whose datacenter lets them inherit their pod's DNS ask 169.254.20.10 from inside a user cluster,
where the address means the user cluster's cache."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from kvtui.cluster import datacenter_fields as dcf
from kvtui.cluster import kinds
from kvtui.cluster.doctor_model import CheckSpec, CouldNotCheck, Outcome, failure, ok, plural
from kvtui.cluster.doctor_observe import DAEMONSETS, Observed

ADDRESS = dcf.NODE_LOCAL_DNS_ADDRESS
INHERITING = ("ClusterFirst", "ClusterFirstWithHostNet")  # the VM gets its pod's resolv.conf
NAMES_SHOWN = 4


def node_local_dns(daemonsets: list[dict[str, Any]]) -> dict[str, list[str]]:
    """DaemonSet `namespace/name` -> the addresses its `-localip` flag binds."""
    found: dict[str, list[str]] = {}
    for daemonset in daemonsets:
        meta = daemonset.get("metadata") or {}
        template = ((daemonset.get("spec") or {}).get("template") or {}).get("spec") or {}
        for container in template.get("containers") or ():
            args = [
                str(a) for a in (container.get("args") or []) + (container.get("command") or [])
            ]
            for flag, value in pairwise(args):
                if flag in ("-localip", "--localip"):
                    found.setdefault(f"{meta.get('namespace')}/{meta.get('name')}", []).extend(
                        v.strip() for v in value.split(",")
                    )
    return found


def _inherits(policy: str | None, nameservers: list[Any]) -> bool:
    return (policy or "ClusterFirst") in INHERITING or ADDRESS in [str(n) for n in nameservers]


def _clusters_with_cache(observed: Observed) -> dict[str, bool] | None:
    """KKP cluster id -> whether it runs NodeLocal DNS (KKP's default: yes); None unread."""
    clusters = observed.maybe(kinds.CLUSTERS)
    if clusters is None:
        return None
    out = {}
    for cluster in clusters:
        network = (cluster.get("spec") or {}).get("clusterNetwork") or {}
        out[(cluster.get("metadata") or {}).get("name")] = (
            network.get("nodeLocalDNSCacheEnabled") is not False
        )
    return out


def collision(observed: Observed) -> Outcome:
    caches = node_local_dns(observed.items(DAEMONSETS))
    binding = [name for name, addresses in caches.items() if ADDRESS in addresses]
    evidence = [f"DaemonSet {name} binds {', '.join(a)}" for name, a in caches.items()]
    if not binding:
        return ok(f"the infra cluster runs no NodeLocal DNS cache on {ADDRESS}", evidence)
    namespaces = observed.user_namespaces()
    with_cache = _clusters_with_cache(observed)
    if with_cache is None:
        evidence.append(observed.seed_note() + " (every user cluster runs NodeLocal DNS)")
    colliding_dcs = []
    for dc in observed.maybe_datacenters() or ():
        policy = dcf.effective(dc.kubevirt, "dnsPolicy")
        servers = (dc.kubevirt.get("dnsConfig") or {}).get("nameservers") or []
        cached = [c for c in dc.clusters if (with_cache or {}).get(c, True)]
        inherits = _inherits(policy, servers)
        evidence.append(
            f"datacenter {dc.ref.name}: dnsPolicy {policy}, nameservers "
            f"{', '.join(map(str, servers)) or '(none)'}: "
            + ("VMs resolve through 169.254.20.10" if inherits else "VMs use their own resolvers")
        )
        evidence.append(
            f"datacenter {dc.ref.name}: user clusters with NodeLocal DNS on {ADDRESS}: "
            f"{', '.join(cached) or '(none)'}"
        )
        if inherits and cached:
            colliding_dcs.append(dc.ref.name)
    vmis = observed.maybe(kinds.VMIS)
    if vmis is None and not colliding_dcs and observed.maybe_datacenters() is None:
        raise CouldNotCheck(
            f"{observed.read(kinds.VMIS).reason()}; {observed.read('datacenters').reason()}"
        )
    colliding_vmis = []
    for vmi in vmis or ():
        meta, spec = vmi.get("metadata") or {}, vmi.get("spec") or {}
        info = namespaces.get(meta.get("namespace"))
        if info is None or (info.cluster_id and not (with_cache or {}).get(info.cluster_id, True)):
            continue
        servers = (spec.get("dnsConfig") or {}).get("nameservers") or []
        if _inherits(spec.get("dnsPolicy"), servers):
            colliding_vmis.append(f"{meta.get('namespace')}/{meta.get('name')}")
    if colliding_vmis:
        names = sorted(colliding_vmis)
        more = f", … ({len(names) - NAMES_SHOWN} more)" if len(names) > NAMES_SHOWN else ""
        evidence.append(
            f"{plural(len(names), 'VMI')} resolve through {ADDRESS}: "
            + ", ".join(names[:NAMES_SHOWN])
            + more
        )
    if not colliding_dcs and not colliding_vmis:
        return ok(f"VMs do not resolve through {ADDRESS}", evidence)
    where = ", ".join(colliding_dcs) or "the datacenter"
    first = colliding_dcs[0] if colliding_dcs else "DC"
    summary = (
        f"DNS collision: VMs of {where} ask {ADDRESS}, the NodeLocal DNS address of both the "
        "infra cluster and their own user cluster"
    )
    return failure(
        summary,
        evidence,
        instructions=[
            f"Give the datacenter dnsPolicy: None and dnsConfig.nameservers with resolvers the "
            f"VMs can reach (not {ADDRESS}): kvtui datacenter get {first} > dc.yaml, edit, "
            f"kvtui datacenter apply {first} -f dc.yaml; KKP adds a DNS "
            "egress rule per nameserver to cluster-isolation.",
            "KKP copies dnsPolicy and dnsConfig into a MachineDeployment when it is created: "
            "update the existing MachineDeployments of each user cluster too (their machines "
            "rotate).",
        ],
    )


CHECKS = (
    CheckSpec(
        "dns.nodelocal-collision",
        "dns",
        "NodeLocal DNS collision",
        f"VMs do not inherit a pod DNS of {ADDRESS} while their user cluster runs NodeLocal DNS "
        "on the same address (the datacenter's dnsPolicy/dnsConfig)",
        collision,
    ),
)

"""Doctor checks of the network: a CNI the guide supports (KubeOVN ≥ 1.12 or Canal ≥ 3.26),
KKP's default NetworkPolicies in every user-cluster namespace (fact sheet §2.1), and the
NodeLocal DNS collision of the guide's FAQ (fact sheet §10)."""

from __future__ import annotations

import re
from typing import Any

from kvtui.cluster import datacenter_fields as dcf
from kvtui.cluster import kinds
from kvtui.cluster.doctor_model import (
    CheckSpec,
    Outcome,
    Status,
    failure,
    ok,
    plural,
    warning,
    worst,
)
from kvtui.cluster.doctor_observe import DAEMONSETS, NETWORK_POLICIES, Observed
from kvtui.cluster.doctor_versions import release

# (CNI, DaemonSet name, the image whose tag is the version, minimum) as the guide lists them.
SUPPORTED_CNIS = (
    ("KubeOVN", "kube-ovn-cni", "kube-ovn", (1, 12)),
    ("Canal", "canal", "calico/node", (3, 26)),
)
OTHER_CNIS = {
    "calico-node": "Calico (without flannel)",
    "cilium": "Cilium",
    "kube-flannel-ds": "Flannel",
    "weave-net": "Weave Net",
}
_TAG = re.compile(r":(v?\d+(?:\.\d+){1,2})(?:[-@].*)?$")


def _image_version(daemonset: dict[str, Any], image_part: str) -> str:
    template = ((daemonset.get("spec") or {}).get("template") or {}).get("spec") or {}
    for container in template.get("containers") or ():
        image = container.get("image") or ""
        if image_part in image and (match := _TAG.search(image)):
            return match.group(1)
    return ""


def _where(daemonset: dict[str, Any]) -> str:
    meta = daemonset.get("metadata") or {}
    return f"DaemonSet {meta.get('namespace')}/{meta.get('name')}"


def cni(observed: Observed) -> Outcome:
    by_name = {(d.get("metadata") or {}).get("name"): d for d in observed.items(DAEMONSETS)}
    evidence: list[str] = []
    verdicts: list[tuple[Status, str]] = []
    for name, ds_name, image_part, minimum in SUPPORTED_CNIS:
        daemonset = by_name.get(ds_name)
        if daemonset is None:
            continue
        tag = _image_version(daemonset, image_part)
        parsed = release(tag)
        wanted = ".".join(map(str, minimum))
        evidence.append(f"{_where(daemonset)}: {name} {tag or '(version unknown)'}")
        if parsed is None:
            verdicts.append((Status.WARNING, f"{name} found, its version is unknown"))
        elif parsed[: len(minimum)] < minimum:
            verdicts.append((Status.FAILURE, f"{name} {tag} is older than the required {wanted}"))
        else:
            verdicts.append((Status.OK, f"{name} {tag} (the guide asks for {wanted} or newer)"))
    others = [f"{label} ({_where(by_name[n])})" for n, label in OTHER_CNIS.items() if n in by_name]
    evidence += [f"also found: {other}" for other in others]
    steps = [
        "The guide supports KubeOVN 1.12 or newer, or Canal 3.26 or newer: install or update "
        "one of them (with KubeOne: the clusterNetwork.cni section of the cluster manifest).",
    ]
    if not verdicts:
        found = f"; found {', '.join(others)}" if others else ""
        return warning(f"neither KubeOVN nor Canal detected{found}", evidence, instructions=steps)
    status = worst([s for s, _ in verdicts])
    shown = [text for s, text in verdicts if s == status]
    if status is Status.OK:
        return ok("; ".join(shown), evidence)
    make = failure if status is Status.FAILURE else warning
    return make("; ".join(shown), evidence, instructions=steps)


def _defaults_on(block: dict[str, Any]) -> bool:
    namespaced = (block.get("namespacedMode") or {}).get("enabled") is True
    return block.get("enableDefaultNetworkPolicies") is not False and not namespaced


def default_policies(observed: Observed) -> Outcome:
    namespaces = observed.user_namespaces()
    present = {
        ((p.get("metadata") or {}).get("namespace"), (p.get("metadata") or {}).get("name"))
        for p in observed.items(NETWORK_POLICIES)
    }
    existing = observed.maybe(kinds.NAMESPACES)
    here = {(n.get("metadata") or {}).get("name") for n in existing} if existing else None
    evidence: list[str] = []
    missing_default: list[str] = []
    missing_custom: list[str] = []
    disabled: list[str] = []
    for namespace, info in sorted(namespaces.items()):
        block = info.datacenter.kubevirt if info.datacenter else {}
        if here is not None and namespace not in here:
            evidence.append(f"{namespace}: not on this infra cluster (skipped)")
            continue
        if not _defaults_on(block):
            disabled.append(namespace)
            why = (
                "namespacedMode (isolation is the EE controller's)"
                if (block.get("namespacedMode") or {}).get("enabled") is True
                else "enableDefaultNetworkPolicies: false"
            )
            evidence.append(f"{namespace}: default policies off: {why}")
            continue
        custom = [
            c.get("name")
            for c in block.get("customNetworkPolicies") or ()
            if isinstance(c, dict) and c.get("name")
        ]
        gone = [p for p in dcf.DEFAULT_POLICY_NAMES if (namespace, p) not in present]
        gone_custom = [p for p in custom if (namespace, p) not in present]
        missing_default += [f"{namespace}/{p}" for p in gone]
        missing_custom += [f"{namespace}/{p}" for p in gone_custom]
        wanted = [*dcf.DEFAULT_POLICY_NAMES, *custom]
        has = [p for p in wanted if (namespace, p) in present]
        evidence.append(
            f"{namespace}: {', '.join(has) or 'none'}"
            + (f"; missing {', '.join(gone + gone_custom)}" if gone + gone_custom else "")
        )
    if any(info.datacenter is None for info in namespaces.values()):
        evidence.append(observed.seed_note())
    steps = [
        "KKP reconciles these policies into every user-cluster namespace: check the KKP "
        "seed-controller-manager's logs for the cluster (kubectl -n kubermatic logs "
        "deploy/seed-controller-manager), and that its infra kubeconfig may create "
        "NetworkPolicies.",
    ]
    if not namespaces:
        return ok("no user-cluster namespaces on this infra cluster", evidence)
    if missing_default:
        return failure(
            f"{plural(len(missing_default), 'default NetworkPolicy', 'default NetworkPolicies')} "
            f"missing: {', '.join(missing_default)}",
            evidence,
            instructions=steps,
        )
    if missing_custom:
        return warning(
            f"{len(missing_custom)} of the datacenter's customNetworkPolicies missing: "
            f"{', '.join(missing_custom)}",
            evidence,
            instructions=steps,
        )
    if disabled:
        return warning(
            f"default NetworkPolicies are off for {plural(len(disabled), 'namespace')}: "
            "their VMs reach every private network",
            evidence,
            instructions=[
                "Set enableDefaultNetworkPolicies: true in the datacenter (or add "
                "an equivalent customNetworkPolicies entry)."
            ],
        )
    return ok(
        f"cluster-isolation and allow-kubevirt-importer in each of "
        f"{plural(len(namespaces), 'user-cluster namespace')}",
        evidence,
    )


CHECKS = (
    CheckSpec(
        "network.cni",
        "network",
        "Supported CNI",
        "KubeOVN 1.12+ or Canal 3.26+ runs, detected from its DaemonSet's image",
        cni,
    ),
    CheckSpec(
        "network.default-policies",
        "network",
        "Default NetworkPolicies",
        "cluster-isolation, allow-kubevirt-importer and the datacenter's customNetworkPolicies "
        "exist in every user-cluster namespace",
        default_policies,
    ),
)

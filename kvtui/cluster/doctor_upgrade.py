"""Doctor checks of the manual steps after an upgrade from KKP 2.21 (provider guide, Migration
from KKP 2.21): LoadBalancer Services still selecting on the pre-v0.3.0 `cloud.kubevirt.io/<id>`
label (fact sheet §9.1), and MachineDeployments still carrying removed tech-preview fields."""

from __future__ import annotations

from typing import Any

from kvtui.cluster.doctor_fixes import CLUSTER_NAME_LABEL, SERVICES, lb_selector_fix
from kvtui.cluster.doctor_model import CheckSpec, Outcome, failure, ok, plural, warning
from kvtui.cluster.doctor_observe import (
    USER_NAMESPACE,
    Observed,
    old_selector_services,
    selector_text,
)
from kvtui.cluster.preset_apply import CLOUD_PROVIDER_SPEC, MACHINE_DEPLOYMENTS

TENANT_NAME = "cluster.x-k8s.io/tenant-service-name"
TENANT_NAMESPACE = "cluster.x-k8s.io/tenant-service-namespace"


def _matching_pods(observed: Observed, namespace: str, selector: dict[str, str]) -> str:
    read = observed.extra.get(("pods", namespace, selector_text(selector)))
    if read is None or read.error is not None:
        return "an unknown number of pods"
    return plural(len(read.items or ()), "pod")


def lb_selector(observed: Observed) -> Outcome:
    balancers = [
        s for s in observed.items(SERVICES) if (s.get("spec") or {}).get("type") == "LoadBalancer"
    ]
    legacy = old_selector_services(observed)
    if not legacy:
        return ok(
            f"{plural(len(balancers), 'LoadBalancer Service')}, none selects on the old "
            "cloud.kubevirt.io/ label",
        )
    evidence, fixable = [], []
    for svc in legacy:
        meta = svc["metadata"]
        namespace, labels = meta.get("namespace") or "", meta.get("labels") or {}
        tenant = f"{labels.get(TENANT_NAMESPACE, '?')}/{labels.get(TENANT_NAME, '?')}"
        selector = svc["spec"]["selector"]
        line = (
            f"{namespace}/{meta['name']} (tenant Service {tenant}): selector "
            f"{selector_text(selector)} matches {_matching_pods(observed, namespace, selector)}"
        )
        if match := USER_NAMESPACE.fullmatch(namespace):
            fixable.append((svc, match.group(1)))
            new = {CLUSTER_NAME_LABEL: match.group(1)}
            line += f"; {selector_text(new)} would match {_matching_pods(observed, namespace, new)}"
        else:
            line += "; not in a cluster-<id> namespace: set its selector by hand"
        evidence.append(line)
    fix = lb_selector_fix("upgrade.lb-selector", fixable) if fixable else None
    return failure(
        f"{plural(len(legacy), 'LoadBalancer Service')} still "
        f"{'selects' if len(legacy) == 1 else 'select'} on the pre-v0.3.0 "
        "cloud.kubevirt.io/<id> label: unreachable once the machines rotate",
        evidence,
        fix=fix,
        instructions=[
            "Edit each Service in its user cluster namespace on the infra cluster and replace "
            f"the selector cloud.kubevirt.io/<id>: <val> with {CLUSTER_NAME_LABEL}: <cluster-id> "
            "(namespace cluster-xyz ⇒ cluster-id xyz)"
            + (" — kvtui doctor --fix upgrade.lb-selector does exactly this." if fix else "."),
        ],
    )


def _cloud_spec(md: dict[str, Any]) -> dict[str, Any]:
    spec: Any = md
    for key in CLOUD_PROVIDER_SPEC:
        spec = spec.get(key) if isinstance(spec, dict) else None
    return spec if isinstance(spec, dict) else {}


def md_leftovers(md: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(what needs the MD updated and its machines rotated, notes) for one MachineDeployment."""
    spec = _cloud_spec(md)
    vm = spec.get("virtualMachine") or {}
    template = vm.get("template") or {}
    affinity = spec.get("affinity") or {}
    stale, notes = [], []
    if vm.get("flavor"):
        stale.append("virtualMachine.flavor (2.21 templating, replaced by instancetype)")
    if template.get("secondaryDisks"):
        stale.append(
            "virtualMachine.template.secondaryDisks (tech-preview Secondary Disks, removed)"
        )
    for key in ("podAffinityPreset", "podAntiAffinityPreset"):
        if affinity.get(key):
            stale.append(f"affinity.{key} (deprecated: use nodeAffinityPreset)")
    has_size = template.get("cpus") or template.get("vcpus")
    if not vm.get("instancetype") and not has_size:
        stale.append("no instancetype and no cpus/vcpus: a pre-2.22 MachineDeployment")
    elif not vm.get("instancetype"):
        notes.append(
            "no instancetype: CPU and memory of its own (valid; instance types are "
            "KKP's templating since 2.22)"
        )
    return stale, notes


def machine_deployments(observed: Observed) -> Outcome:
    mds = observed.items(MACHINE_DEPLOYMENTS)
    stale_lines, notes = [], []
    for md in sorted(mds, key=lambda m: (m["metadata"].get("namespace"), m["metadata"]["name"])):
        name = f"{md['metadata'].get('namespace')}/{md['metadata']['name']}"
        stale, note = md_leftovers(md)
        stale_lines += [f"{name}: {why}" for why in stale]
        notes += [f"{name}: {why}" for why in note]
    if not stale_lines:
        return ok(f"{plural(len(mds), 'MachineDeployment')} in the GA format", notes)
    count = len({line.split(":", 1)[0] for line in stale_lines})
    return warning(
        f"{plural(count, 'MachineDeployment')} still carry pre-2.22 fields and need "
        "updating (their machines rotate)",
        [*stale_lines, *notes],
        instructions=[
            "Update each MachineDeployment from the KKP dashboard (recommended: it guides "
            "through the options) or kubectl apply: drop the listed fields, pick an instance "
            "type; the machines rotate.",
            "Then run kvtui doctor --only upgrade again: rotated machines need the new "
            "LoadBalancer selector (upgrade.lb-selector).",
        ],
    )


CHECKS = (
    CheckSpec(
        "upgrade.lb-selector",
        "upgrade",
        "LoadBalancer selectors after 2.21",
        "no LoadBalancer Service in a user-cluster namespace selects on the pre-v0.3.0 "
        "cloud.kubevirt.io/<id> label",
        lb_selector,
        fixable=True,
    ),
    CheckSpec(
        "upgrade.machine-deployments",
        "upgrade",
        "MachineDeployments after 2.21",
        "no MachineDeployment keeps removed tech-preview fields (flavor, secondary "
        "disks, pod affinity presets) or lacks both an instance type and a size",
        machine_deployments,
    ),
)

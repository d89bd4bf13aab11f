"""Doctor checks of the VMs themselves: VMIs that are not Ready, VMIs that should live-migrate
but cannot (a drain of their node never ends), failed or repeated migrations, and VMs whose
effective eviction strategy differs from their datacenter's `vmEvictionStrategy`
(kubermatic#14449; fact sheet §5.4, §6)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from kvtui.cluster import kinds
from kvtui.cluster.doctor_model import CheckSpec, Outcome, failure, ok, plural, warning
from kvtui.cluster.doctor_observe import Observed
from kvtui.cluster.views import Migration, Vm, Vmi

ERROR_STATES = frozenset(
    {
        "CrashLoopBackOff",
        "ErrorUnschedulable",
        "ErrImagePull",
        "ImagePullBackOff",
        "ErrorPvcNotFound",
        "DataVolumeError",
        "Unknown",
    }
)
EXCESSIVE_MIGRATIONS = 3  # migrations of one VMI still on record (KubeVirt keeps a few)
MD_LABEL = "md"
DEFAULT_VM_EVICTION = "External"  # machine-controller's choice for an empty vmEvictionStrategy


def _name(view: Vmi | Vm | Migration) -> str:
    return f"{view.namespace}/{view.name}"


def cluster_eviction_default(observed: Observed) -> str:
    """The KubeVirt CR's evictionStrategy, "None" (KubeVirt's default) when unset or unread."""
    for kubevirt in observed.maybe(kinds.KUBEVIRTS) or ():
        value = ((kubevirt.get("spec") or {}).get("configuration") or {}).get("evictionStrategy")
        if value:
            return str(value)
    return "None"


def unhealthy_vmis(observed: Observed) -> list[str]:
    """One line per VM that is not fine: its VMI not Ready, or the VM in an error state."""
    lines = []
    with_vmi = set()
    for vmi in sorted((Vmi(v) for v in observed.items(kinds.VMIS)), key=_name):
        with_vmi.add(vmi.key)
        if vmi.deleting or vmi.phase == "Succeeded":
            continue
        cond = vmi.condition("Ready") or {}
        why = cond.get("reason") or cond.get("message") or ""
        if vmi.phase in ("Failed", "Unknown"):
            lines.append(f"{_name(vmi)}: phase {vmi.phase}" + (f" ({why})" if why else ""))
        elif vmi.phase == "Running" and not vmi.ready:
            lines.append(
                f"{_name(vmi)}: Running on {vmi.node}, not Ready" + (f" ({why})" if why else "")
            )
    for vm in sorted((Vm(v) for v in observed.maybe(kinds.VMS) or ()), key=_name):
        if vm.printable_status in ERROR_STATES and vm.vmi_key not in with_vmi:
            lines.append(f"{_name(vm)}: {vm.printable_status}")
        elif vm.printable_status in ERROR_STATES:
            lines.append(f"{_name(vm)}: VM status {vm.printable_status}")
    return lines


def ready(observed: Observed) -> Outcome:
    lines = unhealthy_vmis(observed)
    total = len(observed.items(kinds.VMIS))
    if not lines:
        return ok(f"all {plural(total, 'VMI')} are Ready (or finished)")
    return failure(
        f"{plural(len(lines), 'VM')} not healthy",
        lines,
        instructions=[
            "kvtui's VM health view (or kubectl describe vmi NAME -n NS and the virt-launcher "
            "pod's events) says why each one is not Ready.",
        ],
    )


def not_migratable(observed: Observed) -> list[tuple[Vmi, str]]:
    """VMIs whose effective strategy is LiveMigrate but whose LiveMigratable is False."""
    default = cluster_eviction_default(observed)
    found = []
    for vmi in sorted((Vmi(v) for v in observed.items(kinds.VMIS)), key=_name):
        if vmi.phase != "Running" or vmi.effective_eviction_strategy(default) != "LiveMigrate":
            continue
        if vmi.live_migratable is False:
            message = vmi.not_migratable_message
            found.append((vmi, vmi.not_migratable_reason + (f": {message}" if message else "")))
    return found


def migratable(observed: Observed) -> Outcome:
    found = not_migratable(observed)
    if not found:
        return ok("every VMI with evictionStrategy LiveMigrate can live-migrate")
    return failure(
        f"{plural(len(found), 'VMI')} with evictionStrategy LiveMigrate cannot live-migrate: "
        "a drain of their node waits for ever",
        [f"{_name(vmi)} on {vmi.node}: {why}" for vmi, why in found],
        instructions=[
            "Give the VM disks that any node can attach (ReadWriteMany, e.g. Ceph RBD block), "
            "or set its evictionStrategy to External so KKP replaces the machine on a drain "
            "(in the MachineDeployment's virtualMachine.evictionStrategy; machines rotate).",
        ],
    )


def migrations(observed: Observed) -> Outcome:
    records = sorted((Migration(m) for m in observed.items(kinds.VMIMS)), key=_name)
    running = [m for m in records if not m.final]
    failed = [m for m in records if m.phase == "Failed"]
    per_vmi = Counter(m.vmi_key for m in records)
    busy = {key: n for key, n in per_vmi.items() if n >= EXCESSIVE_MIGRATIONS}
    evidence = [
        f"running: {_name(m)} ({m.vmi_name}, {m.phase or 'new'}"
        + (f", {m.source_node} → {m.target_node}" if m.target_node else "")
        + ")"
        for m in running
    ]
    evidence += [f"failed: {_name(m)} ({m.vmi_name})" for m in failed]
    evidence += [f"{ns}/{vmi}: {n} migrations on record" for (ns, vmi), n in sorted(busy.items())]
    summary = f"{plural(len(running), 'migration')} running, {len(failed)} failed"
    if not failed and not busy:
        return ok(summary, evidence)
    parts = [summary] + (
        [f"{plural(len(busy), 'VMI')} migrated {EXCESSIVE_MIGRATIONS}+ times"] if busy else []
    )
    return warning(
        "; ".join(parts),
        evidence,
        instructions=[
            "The Migrations pane (or kubectl get vmim -A and kubectl describe vmim) shows each "
            "failure's reason; a VMI that keeps migrating points at node pressure, a "
            "descheduler or workload updates (KubeVirt CR workloadUpdateStrategy).",
        ],
    )


def _vm_records(observed: Observed) -> list[tuple[str, str, str, dict[str, str]]]:
    """(namespace, name, effective strategy, labels) per VMI, and per VM without a VMI."""
    default = cluster_eviction_default(observed)
    out = []
    seen = set()
    for vmi in (Vmi(v) for v in observed.items(kinds.VMIS)):
        seen.add(vmi.key)
        out.append((vmi.namespace, vmi.name, vmi.effective_eviction_strategy(default), vmi.labels))
    for vm in (Vm(v) for v in observed.maybe(kinds.VMS) or ()):
        if vm.vmi_key not in seen:
            template = (vm.spec.get("template") or {}).get("metadata") or {}
            strategy = vm.eviction_strategy or default
            out.append((vm.namespace, vm.name, strategy, template.get("labels") or {}))
    return sorted(out)


def eviction_strategy(observed: Observed) -> Outcome:
    observed.datacenters()  # the datacenter's strategy is the reference: no Seed, no check
    namespaces = observed.user_namespaces()
    differing, steps, checked = [], [], 0
    for namespace, name, strategy, labels in _vm_records(observed):
        info = namespaces.get(namespace)
        if info is None or info.datacenter is None:
            continue
        checked += 1
        dc = info.datacenter
        wanted: Any = dc.kubevirt.get("vmEvictionStrategy") or DEFAULT_VM_EVICTION
        if strategy == wanted:
            continue
        md = labels.get(MD_LABEL)
        origin = f", MachineDeployment {md}" if md else ", not a KKP machine"
        differing.append(
            f"{namespace}/{name}: {strategy}; datacenter {dc.ref.name} says {wanted}{origin}"
        )
        if md:
            steps.append(
                f"MachineDeployment {md} (user cluster {info.cluster_id}): set "
                f"virtualMachine.evictionStrategy: {wanted}; its machines rotate."
            )
        else:
            patch = json.dumps(
                {"spec": {"template": {"spec": {"evictionStrategy": wanted}}}},
                separators=(",", ":"),
            )
            steps.append(
                f"kubectl patch vm {name} -n {namespace} --type merge -p '{patch}', "
                "then restart the VM."
            )
    if not differing:
        return ok(
            f"all {plural(checked, 'VM')} of user clusters follow their datacenter's "
            "vmEvictionStrategy"
        )
    return warning(
        f"{plural(len(differing), 'VM')} evict differently from the datacenter's "
        "vmEvictionStrategy (kubermatic#14449)",
        differing,
        instructions=list(dict.fromkeys(steps)),
    )


CHECKS = (
    CheckSpec(
        "vms.ready",
        "vms",
        "VMs healthy",
        "every VMI that should run is Running and Ready, no VM is in an error state",
        ready,
    ),
    CheckSpec(
        "vms.migratable",
        "vms",
        "VMs that must migrate can",
        "every VMI whose effective evictionStrategy is LiveMigrate is LiveMigratable",
        migratable,
    ),
    CheckSpec(
        "vms.migrations",
        "vms",
        "Migrations",
        f"no failed migration on record and no VMI migrated {EXCESSIVE_MIGRATIONS} or more times",
        migrations,
    ),
    CheckSpec(
        "vms.eviction-strategy",
        "vms",
        "Eviction strategy as the datacenter says",
        "each user-cluster VM's effective evictionStrategy equals its datacenter's "
        "vmEvictionStrategy (empty means External)",
        eviction_strategy,
    ),
)

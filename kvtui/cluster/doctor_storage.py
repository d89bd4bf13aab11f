"""Doctor checks of storage against the guide's known issues: infra storage classes that are
local, topology-constrained or block-only (kubevirt/csi-driver#66), and block-mode PVCs handed
to user clusters, which the KubeVirt CSI driver does not support (fact sheet §9.2)."""

from __future__ import annotations

from typing import Any

from kvtui.cluster import kinds
from kvtui.cluster.datacenter_validation import validate
from kvtui.cluster.doctor_cdi import LOCAL_PROVISIONERS
from kvtui.cluster.doctor_model import CheckSpec, Outcome, failure, ok, plural, warning
from kvtui.cluster.doctor_observe import STORAGE, Observed
from kvtui.cluster.findings import ERROR
from kvtui.cluster.views import Vmi

CLASSES_FIELD = "infraStorageClasses"


def _class_notes(entry: dict[str, Any], storage_class: dict | None, path: str) -> list[str]:
    """What `datacenter_validation` does not say of a class: a local provisioner, zones."""
    notes = []
    provisioner = (storage_class or {}).get("provisioner") or ""
    if provisioner in LOCAL_PROVISIONERS:
        notes.append(
            f"{path}: local provisioner {provisioner}: volumes stay on one node's disk "
            "(guide, known issues: not recommended)"
        )
    if entry.get("zones") or entry.get("regions"):
        where = ", ".join([*(entry.get("regions") or ()), *(entry.get("zones") or ())])
        notes.append(
            f"{path}: constrained to {where}: topology-constrained storage is not "
            "recommended (guide, known issues)"
        )
    return notes


def infra_classes(observed: Observed) -> Outcome:
    datacenters = observed.datacenters()
    classes = observed.items(STORAGE)
    by_name = {(sc.get("metadata") or {}).get("name"): sc for sc in classes}
    errors, warnings, evidence = [], [], []
    for dc in datacenters:
        entries = [e for e in dc.kubevirt.get(CLASSES_FIELD) or () if isinstance(e, dict)]
        if not entries:
            warnings.append(
                f"datacenter {dc.ref.name} lists no {CLASSES_FIELD}: its user "
                "clusters get no KubeVirt storage class"
            )
        for finding in validate(dc.kubevirt, classes):
            if not finding.path.startswith(CLASSES_FIELD):
                continue
            line = f"{dc.ref.name}: {finding.path}: {finding.message}"
            (errors if finding.severity == ERROR else warnings).append(line)
        for index, entry in enumerate(entries):
            path = f"{dc.ref.name}: {CLASSES_FIELD}[{index}] {entry.get('name')}"
            warnings += _class_notes(entry, by_name.get(entry.get("name")), path)
            storage_class = by_name.get(entry.get("name")) or {}
            binding = storage_class.get("volumeBindingMode") or entry.get("volumeBindingMode")
            evidence.append(
                f"{dc.ref.name}: {entry.get('name')}: provisioner "
                f"{storage_class.get('provisioner') or '(no such StorageClass)'}, binding "
                f"{binding or 'Immediate'}"
            )
    steps = [
        "Offer user clusters shared storage that any node can attach (Ceph RBD, NFS, ...): "
        "remove local, zone-bound or block-only classes from the datacenter's "
        "infraStorageClasses (kvtui datacenter apply), or keep them for VM disks only "
        "(volumeProvisioner: infra-csi-driver).",
    ]
    if errors:
        return failure("; ".join(errors), [*errors, *warnings, *evidence], instructions=steps)
    if warnings:
        count = plural(len(warnings), "finding")
        return warning(
            f"{count} among the guide's known storage issues (local, topology-constrained or "
            "block-only storage)",
            [*warnings, *evidence],
            instructions=steps,
        )
    return ok("infra storage classes are shared, unconstrained and offer Filesystem", evidence)


def _volume_claims(volume: dict[str, Any]) -> str:
    source = volume.get("dataVolume") or volume.get("persistentVolumeClaim") or {}
    return source.get("name") or source.get("claimName") or ""


def _hotplugged(volume: dict[str, Any]) -> bool:
    source = volume.get("dataVolume") or volume.get("persistentVolumeClaim") or {}
    return source.get("hotpluggable") is True


def block_pvcs(observed: Observed) -> Outcome:
    namespaces = observed.user_namespaces()
    pvcs = observed.items(kinds.PVCS)
    vm_disks: set[tuple[str, str]] = set()
    for vm in observed.maybe(kinds.VMS) or ():
        meta, spec = vm.get("metadata") or {}, vm.get("spec") or {}
        namespace = meta.get("namespace")
        for template in spec.get("dataVolumeTemplates") or ():
            vm_disks.add((namespace, (template.get("metadata") or {}).get("name") or ""))
        template_spec = (spec.get("template") or {}).get("spec") or {}
        for volume in template_spec.get("volumes") or ():
            if not _hotplugged(volume):
                vm_disks.add((namespace, _volume_claims(volume)))
    attached: dict[tuple[str, str], str] = {}
    for raw in observed.maybe(kinds.VMIS) or ():
        vmi = Vmi(raw)
        for volume in vmi.spec.get("volumes") or ():
            if _hotplugged(volume):
                attached[(vmi.namespace, _volume_claims(volume))] = vmi.name
    found = []
    for pvc in pvcs:
        meta, spec = pvc.get("metadata") or {}, pvc.get("spec") or {}
        key = (meta.get("namespace"), meta.get("name"))
        if key[0] not in namespaces or spec.get("volumeMode") != "Block" or key in vm_disks:
            continue
        where = (
            f"hot-plugged into VMI {attached[key]}" if key in attached else "a user-cluster volume"
        )
        found.append(
            f"{key[0]}/{key[1]}: volumeMode Block, {spec.get('storageClassName')}, {where}"
        )
    if not found:
        return ok(
            f"no block-mode volume handed to a user cluster "
            f"({plural(len(namespaces), 'user-cluster namespace')} looked at)"
        )
    return warning(
        f"{plural(len(found), 'block-mode PVC')} handed to user clusters: the KubeVirt CSI "
        "driver does not support block volumes",
        found,
        instructions=[
            "In the user cluster, move the data to a PVC with volumeMode: Filesystem and delete "
            "the block one; do not offer volumeMode: Block through the tenant StorageClass "
            "(guide, known issues: Support of Block Volume Mode).",
        ],
    )


CHECKS = (
    CheckSpec(
        "storage.infra-classes",
        "storage",
        "Infra storage classes",
        "the datacenter's infraStorageClasses exist and are neither local, "
        "topology-constrained nor block-only (guide, known issues)",
        infra_classes,
    ),
    CheckSpec(
        "storage.block-pvcs",
        "storage",
        "Block-mode volumes in user clusters",
        "no PVC in volumeMode Block is handed to a user cluster (KubeVirt CSI driver)",
        block_pvcs,
    ),
)

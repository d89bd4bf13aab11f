"""Putting a scheduling preset on MachineDeployments and VMs, without losing anyone's edit.

A MachineDeployment gets the preset in its `cloudProviderSpec` (`affinity.nodeAffinityPreset`,
`topologySpreadConstraints`, fact sheet §4.1/§4.2): machine-controller then rolls out new
machines, so the MD's VMs are replaced, not edited. A VM gets the translated fields in
`spec.template.spec` (`affinity.nodeAffinity`, `topologySpreadConstraints`; other affinity
kinds are left alone): its running VMI keeps the old rules until the VM restarts or migrates,
which is why each result says whether a VMI exists.

Every write is a minimal JSON merge patch of those fields only (both kinds are CRDs), guarded
by the resourceVersion the object was read at and preceded by a server-side dry run; a 409
becomes a `PresetConflict`, never a blind retry.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kvtui.cluster import kinds
from kvtui.cluster.connection import Connection
from kvtui.cluster.datacenter_apply import MERGE_PATCH
from kvtui.cluster.errors import Conflict, KubeError, NotFound
from kvtui.cluster.object_change import ObjectChange
from kvtui.cluster.presets import (
    PRESET_LABEL,
    Preset,
    SpreadGroup,
    machine_deployment_fragment,
    md_selector,
    vm_affinity,
    vm_group,
    vm_topology_spread,
)

# KKP's MachineDeployments (user cluster; the simulator keeps them in the cluster-<id> namespace).
MACHINE_DEPLOYMENTS = kinds.Kind(
    "MachineDeployment", "cluster.k8s.io", "v1alpha1", "machinedeployments", True
)
CLOUD_PROVIDER_SPEC = ("spec", "template", "spec", "providerSpec", "value", "cloudProviderSpec")
VM_TEMPLATE = ("spec", "template")
VERB = "preset-apply"
FINAL_VMI_PHASES = ("Succeeded", "Failed")

# (verb, target, dry_run, error): the shape of `Session.record`.
Record = Callable[[str, str, bool, str | None], None]


def _at(obj: Mapping[str, Any], path: Iterable[str]) -> dict[str, Any]:
    for key in path:
        obj = obj.get(key) or {}
    return dict(obj)


# -- planning ------------------------------------------------------------------------------
@dataclass(frozen=True)
class PresetChange(ObjectChange):
    """One object's scheduling fields as they are (`before`) and as the preset makes them
    (`after`), both relative to `base` (the cloudProviderSpec of an MD, a VM's template)."""

    kind: kinds.Kind
    namespace: str
    name: str
    resource_version: str
    preset: str
    before: dict[str, Any]
    after: dict[str, Any]
    base: tuple[str, ...]
    md_vms: tuple[str, ...] = ()  # for an MD: VMs whose pods carry its `md` label, if known

    @property
    def short_kind(self) -> str:
        return "vm" if self.kind == kinds.VMS else self.kind.name.lower()

    @property
    def after_label(self) -> str:  # type: ignore[override]
        return f"preset {self.preset}"

    @property
    def patch_at(self) -> tuple[str, ...]:
        return self.base


def machine_deployment_scheduling(md: Mapping[str, Any]) -> dict[str, Any]:
    """The fields a preset owns in an MD's cloudProviderSpec, as they are now."""
    spec = _at(md, CLOUD_PROVIDER_SPEC)
    out: dict[str, Any] = {}
    preset = (spec.get("affinity") or {}).get("nodeAffinityPreset")
    if preset is not None:
        out["affinity"] = {"nodeAffinityPreset": copy.deepcopy(preset)}
    if "topologySpreadConstraints" in spec:
        out["topologySpreadConstraints"] = copy.deepcopy(spec["topologySpreadConstraints"])
    return out


def plan_machine_deployment(
    md: Mapping[str, Any], preset: Preset, vms: Iterable[str] = ()
) -> PresetChange:
    """The change the preset makes to a MachineDeployment; `vms` are its VMs (they are
    replaced by the rollout the change starts), for the result to name."""
    meta = md.get("metadata") or {}
    return PresetChange(
        MACHINE_DEPLOYMENTS,
        meta.get("namespace") or "",
        meta.get("name") or "",
        str(meta.get("resourceVersion") or ""),
        preset.name,
        machine_deployment_scheduling(md),
        machine_deployment_fragment(preset),
        CLOUD_PROVIDER_SPEC,
        tuple(sorted(vms)),
    )


def vm_scheduling_now(vm: Mapping[str, Any]) -> dict[str, Any]:
    """The template fields a preset owns in a VM, as they are now."""
    template = _at(vm, VM_TEMPLATE)
    spec = template.get("spec") or {}
    out: dict[str, Any] = {}
    node_affinity = (spec.get("affinity") or {}).get("nodeAffinity")
    part: dict[str, Any] = {}
    if "affinity" in spec:
        part["affinity"] = {"nodeAffinity": copy.deepcopy(node_affinity)} if node_affinity else {}
    if "topologySpreadConstraints" in spec:
        part["topologySpreadConstraints"] = copy.deepcopy(spec["topologySpreadConstraints"])
    if part:
        out["spec"] = part
    label = ((template.get("metadata") or {}).get("labels") or {}).get(PRESET_LABEL)
    if label is not None:
        out["metadata"] = {"labels": {PRESET_LABEL: label}}
    return out


def plan_vm(
    vm: Mapping[str, Any], preset: Preset, group: SpreadGroup | None = None
) -> PresetChange:
    """The change the preset makes to a VM's template. `group` decides the spread's label
    selector (default `presets.vm_group` of this VM alone: `md: <name>` for a
    machine-controller VM, else the `kvtui.dev/preset` label, which is added to the template)."""
    meta = vm.get("metadata") or {}
    namespace = meta.get("namespace") or ""
    template = _at(vm, VM_TEMPLATE)
    labels = (template.get("metadata") or {}).get("labels") or {}
    group = group or vm_group(preset, namespace, [labels])
    before = vm_scheduling_now(vm)
    affinity = vm_affinity(preset)
    spec: dict[str, Any] = {}
    if affinity:
        spec["affinity"] = affinity
    elif "affinity" in before.get("spec", {}):
        spec["affinity"] = {}  # drops only nodeAffinity; pod (anti-)affinity stays
    spec["topologySpreadConstraints"] = vm_topology_spread(preset, group.selector)
    after: dict[str, Any] = {"spec": spec}
    if group.label is not None:
        after["metadata"] = {"labels": {group.label[0]: group.label[1]}}
    elif "metadata" in before:
        after["metadata"] = copy.deepcopy(before["metadata"])  # not ours to remove
    return PresetChange(
        kinds.VMS,
        namespace,
        meta.get("name") or "",
        str(meta.get("resourceVersion") or ""),
        preset.name,
        before,
        after,
        VM_TEMPLATE,
    )


def plan_vms(vms: Iterable[Mapping[str, Any]], preset: Preset) -> list[PresetChange]:
    """Changes for VMs chosen together: per namespace they share one spread group
    (`presets.vm_group` of all their labels), so they spread among themselves."""
    vms = list(vms)
    by_namespace: dict[str, list[Mapping[str, Any]]] = {}
    for vm in vms:
        by_namespace.setdefault((vm.get("metadata") or {}).get("namespace") or "", []).append(vm)
    groups = {
        ns: vm_group(
            preset,
            ns,
            [((_at(v, VM_TEMPLATE).get("metadata") or {}).get("labels") or {}) for v in members],
        )
        for ns, members in by_namespace.items()
    }
    return [
        plan_vm(vm, preset, groups[(vm.get("metadata") or {}).get("namespace") or ""]) for vm in vms
    ]


# -- applying ------------------------------------------------------------------------------
@dataclass(frozen=True)
class PresetApplied:
    """One object as the server took the change (`after`: the fields as stored, or as they
    would be for a dry run). `vmi_running`: a VM whose VMI exists keeps its old placement
    rules until it restarts or migrates. `replaced_vms`: an MD's VMs its rollout replaces."""

    change: PresetChange
    after: dict[str, Any]
    resource_version: str
    dry_run: bool = False
    sent: bool = True  # False: nothing differed, no request was made
    vmi_running: bool = False
    replaced_vms: tuple[str, ...] = ()


class PresetConflict(Exception):
    """The object changed since it was read: nothing was applied. `current_version` is its
    resourceVersion now ("" if it could not be read again)."""

    def __init__(self, change: PresetChange, current_version: str = "") -> None:
        self.change = change
        self.current_version = current_version
        versions = f"resourceVersion {change.resource_version}"
        if current_version:
            versions += f" → {current_version}"
        super().__init__(
            f"{change.target} changed since it was read ({versions}); nothing was applied"
        )


@dataclass
class PresetResult:
    """A batch: what was applied, what failed (the rest went on), and the follow-ups: VMs
    to migrate or restart, VMs the MachineDeployment rollouts replace."""

    applied: list[PresetApplied] = field(default_factory=list)
    failures: list[tuple[PresetChange, Exception]] = field(default_factory=list)

    @property
    def needs_restart(self) -> list[tuple[str, str]]:
        """(namespace, name) of running VMs that pick the preset up only when they restart
        or migrate."""
        return [
            (a.change.namespace, a.change.name)
            for a in self.applied
            if a.change.kind == kinds.VMS and a.vmi_running and a.sent
        ]

    @property
    def replaced(self) -> list[tuple[str, str]]:
        return [(a.change.namespace, vm) for a in self.applied for vm in a.replaced_vms]


async def vmi_running(conn: Connection, namespace: str, name: str) -> bool:
    """Whether the VM has a VMI that is not finished (it runs under its old rules)."""
    try:
        vmi = await conn.get_json(kinds.VMIS.path(namespace, name))
    except NotFound:
        return False
    return (vmi.get("status") or {}).get("phase") not in FINAL_VMI_PHASES


async def machine_deployment_vms(conn: Connection, namespace: str, name: str) -> list[str]:
    """The VMs machine-controller made for one MachineDeployment (label `md`)."""
    selector = ",".join(f"{k}={v}" for k, v in md_selector(name)["matchLabels"].items())
    listed = await conn.get_json(kinds.VMS.path(namespace), {"labelSelector": selector})
    return sorted((vm.get("metadata") or {}).get("name") or "" for vm in listed.get("items") or ())


def _record(record: Record | None, target: str, dry_run: bool, error: str | None) -> None:
    if record is not None:
        record(VERB, target, dry_run, error)


async def apply_change(
    conn: Connection,
    change: PresetChange,
    *,
    dry_run: bool = False,
    record: Record | None = None,
) -> PresetApplied:
    """Send one change: a server-side dry run, then (unless `dry_run`) the real patch, both
    guarded by `change.resource_version`. Raises `PresetConflict` on 409 and the request's
    `KubeError` otherwise; an unchanged object sends nothing. One audit record per call."""
    follow = await _follow_ups(conn, change)
    if not change.changed:
        return PresetApplied(
            change, copy.deepcopy(change.before), change.resource_version, dry_run, False, *follow
        )
    if not change.resource_version:
        raise ValueError(f"{change.target} was read without its resourceVersion")
    path = change.kind.path(change.namespace, change.name)
    body = change.body()
    try:
        stored = await conn.request(
            "PATCH", path, body=body, content_type=MERGE_PATCH, dry_run=True
        )
        if not dry_run:
            stored = await conn.request("PATCH", path, body=body, content_type=MERGE_PATCH)
    except Conflict:
        current = ""
        try:
            live = await conn.get_json(path)
            current = str((live.get("metadata") or {}).get("resourceVersion") or "")
        except KubeError:
            pass
        conflict = PresetConflict(change, current)
        _record(record, change.target, dry_run, str(conflict))
        raise conflict from None
    except KubeError as exc:
        _record(record, change.target, dry_run, str(exc))
        raise
    _record(record, change.target, dry_run, None)
    if change.kind == MACHINE_DEPLOYMENTS:
        after = machine_deployment_scheduling(stored)
    else:
        after = vm_scheduling_now(stored)
    version = (
        change.resource_version
        if dry_run
        else str((stored.get("metadata") or {}).get("resourceVersion") or "")
    )
    return PresetApplied(change, after, version, dry_run, True, *follow)


async def _follow_ups(conn: Connection, change: PresetChange) -> tuple[bool, tuple[str, ...]]:
    """(VMI running, VMs replaced) for the result: what the UI offers to do next."""
    if change.kind == kinds.VMS:
        return await vmi_running(conn, change.namespace, change.name), ()
    if not change.changed:
        return False, ()
    vms = change.md_vms or tuple(await machine_deployment_vms(conn, change.namespace, change.name))
    return False, vms


async def apply_preset(
    conn: Connection,
    changes: Iterable[PresetChange],
    *,
    dry_run: bool = False,
    record: Record | None = None,
) -> PresetResult:
    """Apply a batch: every change is dry-run first and, if any of those fails, nothing real
    is sent (the result lists the failures). Then each is applied on its own; one that fails
    (a conflict, say) is listed and the others go on."""
    changes = list(changes)
    result = PresetResult()
    checked: list[PresetApplied] = []
    for change in changes:
        try:
            checked.append(await apply_change(conn, change, dry_run=True, record=record))
        except (KubeError, PresetConflict, ValueError) as exc:
            result.failures.append((change, exc))
    if dry_run or result.failures:
        result.applied = checked if dry_run else []
        return result
    for change in changes:
        try:
            result.applied.append(await apply_change(conn, change, record=record))
        except (KubeError, PresetConflict) as exc:
            result.failures.append((change, exc))
    return result

"""What the cache keeps of each object: the fields the panes, views and domain modules read.

A large infra cluster has 10,000s of pods and VMIs, and a full pod or VMI is mostly fields no
table shows (managedFields, command lines, volumes, device lists, guest OS details). Each kind
has a `trim(obj) -> obj` that builds a smaller dict of the *same shape* (same paths, so views
work on either), and interns the strings that repeat across objects (namespaces, node names,
label keys and values, condition types). The YAML and describe views do not read the cache:
they GET the full object fresh (`Session.fetch`). Need a field that is trimmed away? Add it
here, in the kind's keep-list.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

Obj = dict[str, Any]
Trim = Callable[[Obj], Obj]

_intern = sys.intern
_RUNNING: dict[str, Any] = {"running": {}}  # shared: the state of most containers
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
PHASE_STAMPS_KEPT = 2  # the newest phaseTransitionTimestamps of a VMI (when it got Running)

# Annotations read by views and domain modules, per kind; all others are dropped.
POD_ANNOTATIONS = frozenset(
    {
        "kubevirt.io/domain",
        "kubevirt.io/migrationJobName",
        "kubectl.kubernetes.io/default-container",
        "kubernetes.io/config.mirror",  # a static (mirror) pod, which drain leaves alone
    }
)
VMI_ANNOTATIONS = frozenset(
    {
        "kubevirt.io/instancetype-name",
        "kubevirt.io/cluster-instancetype-name",
        "kubevirt.io/preference-name",
        "kubevirt.io/cluster-preference-name",
        "kubevirt.io/eviction-source",
        "vm.kubevirt.io/os",
        "vm.kubevirt.io/workload",
        "vm.kubevirt.io/flavor",
    }
)
VM_ANNOTATIONS = VMI_ANNOTATIONS
VMIM_ANNOTATIONS = frozenset({"kubevirt.io/evacuationMigration"})

CONDITION_KEYS = ("type", "status", "reason", "message", "lastTransitionTime")
POD_CONDITIONS_KEPT_TRUE = frozenset({"Ready", "PodScheduled"})
MIGRATION_STATE_KEYS = (
    "sourceNode",
    "targetNode",
    "sourcePod",
    "targetPod",
    "startTimestamp",
    "endTimestamp",
    "completed",
    "failed",
    "abortRequested",
    "abortStatus",
    "failureReason",
    "migrationUid",
    "mode",
)
CPU_KEYS = ("sockets", "cores", "threads", "model", "dedicatedCpuPlacement")
NODE_INFO_KEYS = (
    "kubeletVersion",
    "kernelVersion",
    "osImage",
    "containerRuntimeVersion",
    "architecture",
)
NODE_STATUS_DROPPED = frozenset({"images", "volumesInUse", "volumesAttached"})


def _s(value: Any) -> Any:
    """Intern a string (shared by every object that repeats it); anything else as is."""
    return _intern(value) if type(value) is str else value


def _strings(mapping: Any) -> dict[str, Any]:
    """A copy of a str -> str mapping (labels, selectors, quantities) with interned strings."""
    if not isinstance(mapping, dict):
        return {}
    return {_s(k): _s(v) for k, v in mapping.items()}


_SHARED: dict[tuple, dict[str, Any]] = {}
SHARED_LIMIT = 20_000


def _shared(mapping: dict[str, Any]) -> dict[str, Any]:
    """One instance for every equal flat dict of a kind that repeats across objects (resource
    requests, CPU topologies, instancetype references): 10,000 launcher pods of a few sizes
    hold a few request dicts. Bounded like an intern table; cached objects are read-only.
    """
    try:
        # The type too: True == 1, yet {"x": True} must not become {"x": 1}.
        key = tuple((k, type(v), v) for k, v in mapping.items())
        shared = _SHARED.get(key)
    except TypeError:  # a nested (unhashable) value: keep this one as it is
        return mapping
    if shared is not None:
        return shared
    if len(_SHARED) < SHARED_LIMIT:
        _SHARED[key] = mapping
    return mapping


def _pick(source: Any, keys: Iterable[str], intern: bool = True) -> dict[str, Any]:
    """The listed keys that are present, values interned when they are strings."""
    if not isinstance(source, dict):
        return {}
    if intern:
        return {k: _s(source[k]) for k in keys if k in source}
    return {k: source[k] for k in keys if k in source}


def _conditions(conditions: Any, keep_true: frozenset[str] | None = None) -> list[dict[str, Any]]:
    """Conditions without probe/heartbeat times; with `keep_true`, a condition that is "True"
    is kept only when its type is listed (the others only say that all is well)."""
    if not isinstance(conditions, list):
        return []
    return [
        _pick(c, CONDITION_KEYS)
        for c in conditions
        if isinstance(c, dict)
        and (keep_true is None or c.get("status") != "True" or c.get("type") in keep_true)
    ]


def _metadata(meta: Any, annotations: frozenset[str] | None) -> dict[str, Any]:
    """Identity, labels, owners, the listed annotations (None: all but last-applied), and the
    finalizers of an object being deleted."""
    if not isinstance(meta, dict):
        return {}
    out: dict[str, Any] = {"name": meta.get("name", "")}
    for key in ("namespace", "uid", "resourceVersion", "creationTimestamp", "deletionTimestamp"):
        if key in meta:
            out[key] = meta[key]
    if "namespace" in out:
        out["namespace"] = _s(out["namespace"])
    if meta.get("labels"):
        out["labels"] = _strings(meta["labels"])
    source = meta.get("annotations")
    if isinstance(source, dict) and source:
        if annotations is None:
            kept = {_s(k): v for k, v in source.items() if k != LAST_APPLIED}
        else:
            kept = {_s(k): _s(v) for k, v in source.items() if k in annotations}
        if kept:
            out["annotations"] = kept
    owners = meta.get("ownerReferences")
    if isinstance(owners, list) and owners:
        out["ownerReferences"] = [
            _pick(ref, ("apiVersion", "kind", "name", "uid", "controller")) for ref in owners
        ]
    if meta.get("finalizers") and meta.get("deletionTimestamp"):
        # Only while deleting do they matter: they are what it is waiting for.
        out["finalizers"] = [_s(f) for f in meta["finalizers"]]
    return out


def _resources(resources: Any) -> dict[str, Any]:
    if not isinstance(resources, dict):
        return {}
    return {k: _shared(_strings(resources[k])) for k in ("requests", "limits") if resources.get(k)}


def _containers(containers: Any) -> list[dict[str, Any]]:
    if not isinstance(containers, list):
        return []
    out = []
    for container in containers:
        if not isinstance(container, dict):
            continue
        kept = _pick(container, ("name", "image"))
        if container.get("resources"):
            kept["resources"] = _resources(container["resources"])
        out.append(kept)
    return out


def _container_statuses(statuses: Any) -> list[dict[str, Any]]:
    if not isinstance(statuses, list):
        return []
    out = []
    for status in statuses:
        if not isinstance(status, dict):
            continue
        kept = _pick(status, ("name", "ready", "restartCount"))
        state = status.get("state")
        if isinstance(state, dict):
            if set(state) == {"running"}:
                kept["state"] = _RUNNING  # when is in the pod's startTime
            else:
                kept["state"] = {
                    _s(k): _pick(v, ("reason", "exitCode", "message"))
                    for k, v in state.items()
                    if isinstance(v, dict)
                }
        out.append(kept)
    return out


def trim_pod(obj: Obj) -> Obj:
    """Where it runs, what it requests, who owns it, and whether it is up."""
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    out_spec: dict[str, Any] = {"containers": _containers(spec.get("containers"))}
    if spec.get("initContainers"):
        out_spec["initContainers"] = _containers(spec["initContainers"])
    for key in ("nodeName", "priorityClassName", "schedulerName"):
        if key in spec:
            out_spec[key] = _s(spec[key])
    if spec.get("overhead"):
        out_spec["overhead"] = _shared(_strings(spec["overhead"]))
    if spec.get("nodeSelector"):
        out_spec["nodeSelector"] = _shared(_strings(spec["nodeSelector"]))
    out_status = _pick(status, ("phase", "reason", "qosClass"))
    for key in ("message", "podIP", "startTime"):
        if key in status:
            out_status[key] = status[key]
    if status.get("conditions"):
        out_status["conditions"] = _conditions(status["conditions"], POD_CONDITIONS_KEPT_TRUE)
    if status.get("containerStatuses"):
        out_status["containerStatuses"] = _container_statuses(status["containerStatuses"])
    return {
        "metadata": _metadata(obj.get("metadata"), POD_ANNOTATIONS),
        "spec": out_spec,
        "status": out_status,
    }


def _domain(domain: Any) -> dict[str, Any]:
    if not isinstance(domain, dict):
        return {}
    out: dict[str, Any] = {}
    if domain.get("cpu"):
        out["cpu"] = _shared(_pick(domain["cpu"], CPU_KEYS))
    memory = domain.get("memory")
    if isinstance(memory, dict) and memory.get("guest"):
        out["memory"] = _shared({"guest": _s(memory["guest"])})
    if domain.get("resources"):
        out["resources"] = _resources(domain["resources"])
    return out


def _vmi_spec(spec: Any) -> dict[str, Any]:
    """Sizing, eviction strategy and placement of a VMI spec (or a VM's template spec)."""
    if not isinstance(spec, dict):
        return {}
    out: dict[str, Any] = {}
    domain = _domain(spec.get("domain"))
    if domain:
        out["domain"] = domain
    for key in ("evictionStrategy", "priorityClassName"):
        if key in spec:
            out[key] = _s(spec[key])
    if spec.get("nodeSelector"):
        out["nodeSelector"] = _shared(_strings(spec["nodeSelector"]))
    return out


def trim_vmi(obj: Obj) -> Obj:
    """Placement, sizing, migratability and migration progress of a running guest."""
    status = obj.get("status") or {}
    out_status = _pick(
        status,
        (
            "phase",
            "reason",
            "nodeName",
            "evacuationNodeName",
            "migrationMethod",
            "launcherContainerImageVersion",
        ),
    )
    if status.get("conditions"):
        out_status["conditions"] = _conditions(status["conditions"])
    interfaces = status.get("interfaces")
    if isinstance(interfaces, list) and interfaces:
        out_status["interfaces"] = [
            _pick(i, ("name", "ipAddress"), intern=False) for i in interfaces
        ]
    if status.get("migrationState"):
        out_status["migrationState"] = _pick(status["migrationState"], MIGRATION_STATE_KEYS)
    if status.get("activePods"):
        out_status["activePods"] = _strings(status["activePods"])
    if status.get("guestOSInfo"):
        out_status["guestOSInfo"] = _shared(_pick(status["guestOSInfo"], ("name", "version")))
    if status.get("currentCPUTopology"):
        out_status["currentCPUTopology"] = _shared(
            _pick(status["currentCPUTopology"], ("sockets", "cores", "threads"))
        )
    stamps = status.get("phaseTransitionTimestamps")
    if isinstance(stamps, list) and stamps:
        out_status["phaseTransitionTimestamps"] = [
            _pick(s, ("phase", "phaseTransitionTimestamp")) for s in stamps[-PHASE_STAMPS_KEPT:]
        ]
    return {
        "metadata": _metadata(obj.get("metadata"), VMI_ANNOTATIONS),
        "spec": _vmi_spec(obj.get("spec")),
        "status": out_status,
    }


def trim_vm(obj: Obj) -> Obj:
    """Run strategy, instancetype/preference, template sizing and the summary status."""
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    out_spec = _pick(spec, ("runStrategy", "running"))
    for key in ("instancetype", "preference"):
        if spec.get(key):
            out_spec[key] = _shared(_pick(spec[key], ("name", "kind")))
    template = spec.get("template")
    if isinstance(template, dict):
        out_spec["template"] = {"spec": _vmi_spec(template.get("spec"))}
    out_status = _pick(status, ("printableStatus", "ready", "created", "runStrategy"))
    if status.get("conditions"):
        out_status["conditions"] = _conditions(status["conditions"])
    for key in ("stateChangeRequests", "startFailure"):
        if status.get(key):
            out_status[key] = status[key]
    return {
        "metadata": _metadata(obj.get("metadata"), VM_ANNOTATIONS),
        "spec": out_spec,
        "status": out_status,
    }


def trim_vmim(obj: Obj) -> Obj:
    """Which VMI, which phase since when, from which node to which."""
    status = obj.get("status") or {}
    out_status = _pick(status, ("phase",))
    if status.get("conditions"):
        out_status["conditions"] = _conditions(status["conditions"])
    stamps = status.get("phaseTransitionTimestamps")
    if isinstance(stamps, list) and stamps:
        out_status["phaseTransitionTimestamps"] = [
            _pick(s, ("phase", "phaseTransitionTimestamp")) for s in stamps
        ]
    if status.get("migrationState"):
        out_status["migrationState"] = _pick(status["migrationState"], MIGRATION_STATE_KEYS)
    return {
        "metadata": _metadata(obj.get("metadata"), VMIM_ANNOTATIONS),
        "spec": _pick(obj.get("spec"), ("vmiName", "priority", "addedNodeSelector")),
        "status": out_status,
    }


def trim_node(obj: Obj) -> Obj:
    """Nodes are few: everything but the image list, volumes and heartbeat noise."""
    out = dict(obj)
    out["metadata"] = _metadata(obj.get("metadata"), None)
    status = obj.get("status")
    if isinstance(status, dict):
        out_status = {k: v for k, v in status.items() if k not in NODE_STATUS_DROPPED}
        if "conditions" in status:
            out_status["conditions"] = _conditions(status["conditions"])
        if "nodeInfo" in status:
            out_status["nodeInfo"] = _pick(status["nodeInfo"], NODE_INFO_KEYS)
        out["status"] = out_status
    return out


def trim_generic(obj: Obj) -> Obj:
    """Any other kind: the object without managedFields and the last-applied annotation."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or not ("managedFields" in meta or _has_last_applied(meta)):
        return obj
    meta = {k: v for k, v in meta.items() if k != "managedFields"}
    annotations = meta.get("annotations")
    if isinstance(annotations, dict) and LAST_APPLIED in annotations:
        meta["annotations"] = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
    return {**obj, "metadata": meta}


def _has_last_applied(meta: Mapping[str, Any]) -> bool:
    annotations = meta.get("annotations")
    return isinstance(annotations, dict) and LAST_APPLIED in annotations


# Kind name (`Kind.name`) -> trim function; kinds not listed get `trim_generic`.
TRIMS: dict[str, Trim] = {
    "Pod": trim_pod,
    "VirtualMachineInstance": trim_vmi,
    "VirtualMachine": trim_vm,
    "VirtualMachineInstanceMigration": trim_vmim,
    "Node": trim_node,
}


def trimmer(kind_name: str) -> Trim:
    return TRIMS.get(kind_name, trim_generic)

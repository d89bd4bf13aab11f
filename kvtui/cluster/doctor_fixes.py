"""The doctor's mechanical fixes: what each changes, shown as a diff, sent as a minimal PATCH.

A `Fix` names the objects it changes (`FixTarget`) and, for each, the fields it owns as read
(`before`) and as fixed (`after`). Applying one is the same discipline as a datacenter apply
(`datacenter_apply.apply_block`): every target is dry-run on the server first and, if any of
those fails, nothing real is sent; then each gets a JSON merge patch of the changed fields only,
guarded by the resourceVersion the doctor read, so a concurrent edit is a `FixConflict`, never
overwritten. Every call leaves one audit record per target through the `record` callback.

The fixes are the safe ones the provider guide spells out: the LoadBalancer selector of the
2.21 upgrade, the KubeVirt CR's feature gates and monitoring fields, CDI's
HonorWaitForFirstConsumer.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from kvtui.cluster import kinds
from kvtui.cluster.connection import Connection
from kvtui.cluster.datacenter_apply import MERGE_PATCH
from kvtui.cluster.errors import Conflict, KubeError
from kvtui.cluster.object_change import ObjectChange

__all__ = [
    "SERVICES",
    "Fix",
    "FixApplied",
    "FixConflict",
    "FixResult",
    "FixTarget",
    "apply_fix",
    "cdi_feature_gate_fix",
    "feature_gates_fix",
    "lb_selector_fix",
    "monitoring_fix",
]

SERVICES = kinds.Kind("Service", "", "v1", "services", True)
VERB = "doctor-fix"
OLD_SELECTOR_PREFIX = "cloud.kubevirt.io/"  # cloud-provider-kubevirt < v0.3.0 (fact sheet §9.1)
CLUSTER_NAME_LABEL = "cluster.x-k8s.io/cluster-name"
HONOR_WFFC = "HonorWaitForFirstConsumer"
KUBEVIRT_GATES = ("spec", "configuration", "developerConfiguration", "featureGates")
KUBEVIRT_DISABLED_GATES = (
    "spec",
    "configuration",
    "developerConfiguration",
    "disabledFeatureGates",
)
CDI_GATES = ("spec", "config", "featureGates")

# (verb, target, dry_run, error): the shape of `Session.record`.
Record = Callable[[str, str, bool, str | None], None]
Path = tuple[str, ...]

_MISSING = object()


def _get(obj: Mapping[str, Any], path: Path, default: Any = _MISSING) -> Any:
    for key in path:
        if not isinstance(obj, Mapping) or key not in obj:
            return default
        obj = obj[key]
    return obj


def fragment(obj: Mapping[str, Any], paths: Iterable[Path]) -> dict[str, Any]:
    """The object cut down to `paths` (those it has), nested as in the object: what a fix owns."""
    out: dict[str, Any] = {}
    for path in paths:
        value = _get(obj, path)
        if value is _MISSING:
            continue
        node = out
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = copy.deepcopy(value)
    return out


# -- what a fix is -------------------------------------------------------------------------
@dataclass(frozen=True)
class FixTarget(ObjectChange):
    """One object a fix patches: the fields at `paths` as read (`before`) and as fixed."""

    kind: kinds.Kind
    namespace: str | None
    name: str
    resource_version: str
    paths: tuple[Path, ...]
    before: dict[str, Any]
    after: dict[str, Any]

    after_label: ClassVar[str] = "fixed"


@dataclass(frozen=True)
class Fix:
    """A mechanical repair for one check: `description` says what it does in one line."""

    check_id: str
    description: str
    targets: tuple[FixTarget, ...]

    def diff(self) -> list[tuple[str, str]]:
        """Every target's diff, one after the other."""
        return [line for target in self.targets for line in target.diff()]

    @property
    def rbac(self) -> list[tuple[str, str, str, str]]:
        """(verb, group, resource, subresource) the fix needs: the shape of an action's `rbac`
        (`Session.denied_actions`), for a SelfSubjectAccessReview."""
        return sorted({("patch", t.kind.group, t.kind.plural, "") for t in self.targets})

    def target_names(self) -> list[str]:
        return [t.target for t in self.targets]


def _target(
    kind: kinds.Kind, obj: Mapping[str, Any], paths: Sequence[Path], after: dict
) -> FixTarget:
    meta = obj.get("metadata") or {}
    return FixTarget(
        kind,
        meta.get("namespace") or None,
        str(meta.get("name") or ""),
        str(meta.get("resourceVersion") or ""),
        tuple(paths),
        fragment(obj, paths),
        after,
    )


def _with(base: dict[str, Any], path: Path, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(base)
    node = out
    for key in path[:-1]:
        node = node.setdefault(key, {})
    if value is None:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value
    return out


# -- the fixes -----------------------------------------------------------------------------
def lb_selector_fix(check_id: str, services: Iterable[tuple[Mapping[str, Any], str]]) -> Fix:
    """The guide's "Update LoadBalancer selectors" step for each (Service, cluster id): the
    `cloud.kubevirt.io/<id>` selector key becomes `cluster.x-k8s.io/cluster-name: <cluster-id>`;
    any other key stays."""
    path = ("spec", "selector")
    targets = []
    for service, cluster_id in services:
        selector = _get(service, path, None) or {}
        new = {k: v for k, v in selector.items() if not k.startswith(OLD_SELECTOR_PREFIX)}
        new[CLUSTER_NAME_LABEL] = cluster_id
        before = fragment(service, [path])
        targets.append(_target(SERVICES, service, [path], _with(before, path, new)))
    count = len(targets)
    return Fix(
        check_id,
        f"rewrite the selector of {count} LoadBalancer Service{'s' if count != 1 else ''} to "
        f"{CLUSTER_NAME_LABEL}: <cluster-id>",
        tuple(targets),
    )


def feature_gates_fix(check_id: str, kubevirt: Mapping[str, Any], add: Sequence[str]) -> Fix:
    """Add `add` to the KubeVirt CR's feature gates (and take them off its disabled list)."""
    gates = list(_get(kubevirt, KUBEVIRT_GATES, None) or [])
    disabled_now = _get(kubevirt, KUBEVIRT_DISABLED_GATES, None)
    paths = [KUBEVIRT_GATES, KUBEVIRT_DISABLED_GATES]
    before = fragment(kubevirt, paths)
    after = _with(before, KUBEVIRT_GATES, gates + [g for g in add if g not in gates])
    if isinstance(disabled_now, list):
        kept = [g for g in disabled_now if g not in add]
        after = _with(after, KUBEVIRT_DISABLED_GATES, kept or None)
    return Fix(
        check_id,
        f"add the feature gate{'s' if len(add) != 1 else ''} {', '.join(add)} to the KubeVirt CR",
        (_target(kinds.KUBEVIRTS, kubevirt, paths, after),),
    )


def monitoring_fix(check_id: str, kubevirt: Mapping[str, Any], namespace: str, account: str) -> Fix:
    """Set the KubeVirt CR's `monitorNamespace` / `monitorAccount` (guide: Setup Monitoring)."""
    paths = [("spec", "monitorNamespace"), ("spec", "monitorAccount")]
    before = fragment(kubevirt, paths)
    after = _with(_with(before, paths[0], namespace), paths[1], account)
    changed = [p[-1] for p in paths if _get(before, p, None) != _get(after, p)]
    return Fix(
        check_id,
        f"set {' and '.join(changed) or 'nothing'} of the KubeVirt CR ({namespace}, {account})",
        (_target(kinds.KUBEVIRTS, kubevirt, paths, after),),
    )


def cdi_feature_gate_fix(check_id: str, cdi: Mapping[str, Any], gate: str = HONOR_WFFC) -> Fix:
    """Add a feature gate (HonorWaitForFirstConsumer) to the CDI CR's `spec.config`."""
    current = _get(cdi, CDI_GATES, None)
    gates = list(current) if isinstance(current, list) else []
    before = fragment(cdi, [CDI_GATES])
    after = _with(before, CDI_GATES, gates + ([gate] if gate not in gates else []))
    return Fix(
        check_id,
        f"add the feature gate {gate} to the CDI CR",
        (_target(kinds.CDIS, cdi, [CDI_GATES], after),),
    )


# -- applying ------------------------------------------------------------------------------
class FixConflict(Exception):
    """The object changed since the doctor read it: this target was not changed."""

    def __init__(self, target: FixTarget, current_version: str = "") -> None:
        self.target = target
        self.current_version = current_version
        now = f" → {current_version}" if current_version else ""
        super().__init__(
            f"{target.target} changed since the doctor read it (resourceVersion "
            f"{target.resource_version}{now}); it was not changed: run the doctor again"
        )


@dataclass(frozen=True)
class FixApplied:
    """One target as the server took it: `after` are the owned fields as stored (or, for a dry
    run, as they would be stored)."""

    target: FixTarget
    after: dict[str, Any]
    resource_version: str
    dry_run: bool


@dataclass
class FixResult:
    """What `apply_fix` did: the targets it patched (or dry-ran) and those that failed."""

    fix: Fix
    dry_run: bool
    applied: list[FixApplied] = field(default_factory=list)
    failures: list[tuple[FixTarget, Exception]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def failure_lines(self) -> list[str]:
        return [f"{target.target}: {error}" for target, error in self.failures]


def _record(
    record: Record | None, check_id: str, target: FixTarget, dry_run: bool, error: str | None
) -> None:
    if record is not None:
        record(VERB, f"{target.target} ({check_id})", dry_run, error)


async def _patch(
    conn: Connection, fix: Fix, target: FixTarget, *, dry_run: bool, record: Record | None
) -> FixApplied:
    if not target.changed:
        return FixApplied(target, copy.deepcopy(target.before), target.resource_version, dry_run)
    if not target.resource_version:
        raise ValueError(f"{target.target} was read without its resourceVersion")
    path = target.kind.path(target.namespace, target.name)
    try:
        stored = await conn.request(
            "PATCH", path, body=target.body(), content_type=MERGE_PATCH, dry_run=dry_run
        )
    except Conflict:
        current = ""
        try:
            live = await conn.get_json(path)
            current = str((live.get("metadata") or {}).get("resourceVersion") or "")
        except KubeError:
            pass
        conflict = FixConflict(target, current)
        _record(record, fix.check_id, target, dry_run, str(conflict))
        raise conflict from None
    except KubeError as exc:
        _record(record, fix.check_id, target, dry_run, str(exc))
        raise
    _record(record, fix.check_id, target, dry_run, None)
    version = (
        target.resource_version
        if dry_run
        else str((stored.get("metadata") or {}).get("resourceVersion") or "")
    )
    return FixApplied(target, fragment(stored, target.paths), version, dry_run)


async def apply_fix(
    conn: Connection, fix: Fix, *, dry_run: bool = False, record: Record | None = None
) -> FixResult:
    """Dry-run every target on the server; if all pass and not `dry_run`, patch each for
    real. A target that fails the dry run stops the whole fix before anything changes; one
    that fails for real (a conflict, say) is listed and the others go on."""
    checked = FixResult(fix, dry_run=True)
    for target in fix.targets:
        try:
            checked.applied.append(await _patch(conn, fix, target, dry_run=True, record=record))
        except (KubeError, FixConflict, ValueError) as exc:
            checked.failures.append((target, exc))
    if dry_run or checked.failures:
        return checked if dry_run else FixResult(fix, False, [], checked.failures)
    result = FixResult(fix, dry_run=False)
    for target in fix.targets:
        try:
            result.applied.append(await _patch(conn, fix, target, dry_run=False, record=record))
        except (KubeError, FixConflict) as exc:
            result.failures.append((target, exc))
    return result

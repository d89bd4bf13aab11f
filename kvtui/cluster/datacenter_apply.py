"""Changing a datacenter's `spec.kubevirt` block on its Seed without losing anyone's edit.

Every write is a minimal JSON merge patch of that one block (the Seed is a CRD: no strategic
merge), guarded by the Seed's resourceVersion and always sent as a server-side dry run first.
A 409 is never retried blindly: it becomes a `DatacenterConflict` holding both sides, which
`rebase` merges so the admin can re-apply their edit on top of the other one.
"""

from __future__ import annotations

import copy
import difflib
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from platformdirs import user_state_path

from kvtui.cluster import kinds
from kvtui.cluster.connection import Connection
from kvtui.cluster.datacenter import Datacenter, DatacenterRef, get_datacenter
from kvtui.cluster.datacenter_validation import Finding, validate_text
from kvtui.cluster.errors import Conflict, KubeError
from kvtui.cluster.yamlfile import write_atomic

MERGE_PATCH = "application/merge-patch+json"

# (verb, target, dry_run, error): the shape of `Session.record`.
Record = Callable[[str, str, bool, str | None], None]

_ANSI = {"add": "\033[32m", "remove": "\033[31m", "header": "\033[36m"}
_ANSI_RESET = "\033[0m"


# -- comparing blocks ----------------------------------------------------------------------
def same_json(a: Any, b: Any) -> bool:
    """JSON equality: 1 == 1.0, but true is not 1 (Python's `==` says it is)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


def _without_nulls(value: Any) -> Any:
    """A fresh copy with null object members dropped: a merge patch cannot store them."""
    if isinstance(value, Mapping):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def merge_patch(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """The smallest RFC 7386 merge patch turning `old` into `new`: null for a removed key,
    objects diffed member by member, anything else (lists included) replaced whole."""
    patch: dict[str, Any] = {key: None for key in old if new.get(key) is None}
    for key, value in new.items():
        if value is None or (key in old and same_json(old[key], value)):
            continue
        before = old.get(key)
        if isinstance(value, Mapping) and isinstance(before, Mapping):
            patch[key] = merge_patch(before, value)
        else:
            patch[key] = _without_nulls(value)
    return patch


def guarded_patch(
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    resource_version: str,
    at: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The merge patch of an object whose fields at `at` go from `before` to `after`, guarded
    by the resourceVersion it was read at (a 409 instead of overwriting someone's change)."""
    patch: dict[str, Any] = merge_patch(before, after)
    for key in reversed(at):
        patch = {key: patch}
    return {"metadata": {"resourceVersion": resource_version}, **patch}


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 applied to a copy of `target`, as the API server does it."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result = copy.deepcopy(dict(target)) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_merge_patch(result.get(key), value)
    return result


# -- showing blocks ------------------------------------------------------------------------
def block_yaml(block: Mapping[str, Any], *, sort_keys: bool = False) -> str:
    """The block as YAML, keys in the server's order unless `sort_keys`."""
    return yaml.safe_dump(
        _plain(block), sort_keys=sort_keys, default_flow_style=False, allow_unicode=True, width=100
    )


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def diff_lines(
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    *,
    old_label: str = "live",
    new_label: str = "edited",
    context: int = 3,
) -> list[tuple[str, str]]:
    """A unified diff of two blocks as YAML with sorted keys, each line with its kind:
    "header" (---, +++, @@), "remove", "add" or "context". Empty when they are equal."""
    if same_json(old, new):
        return []
    lines = difflib.unified_diff(
        block_yaml(old, sort_keys=True).splitlines(),
        block_yaml(new, sort_keys=True).splitlines(),
        fromfile=old_label,
        tofile=new_label,
        n=context,
        lineterm="",
    )
    return [(_line_kind(line), line) for line in lines]


def _line_kind(line: str) -> str:
    if line.startswith(("---", "+++", "@@")):
        return "header"
    if line.startswith("+"):
        return "add"
    if line.startswith("-"):
        return "remove"
    return "context"


def diff_text(
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    *,
    color: bool | None = None,
    old_label: str = "live",
    new_label: str = "edited",
) -> str:
    """The diff for a terminal or a pipe: ANSI colours only when stdout is a terminal
    (`color=None`), or as told."""
    if color is None:
        color = sys.stdout.isatty()
    out = []
    for kind, line in diff_lines(old, new, old_label=old_label, new_label=new_label):
        start = _ANSI.get(kind) if color else None
        out.append(f"{start}{line}{_ANSI_RESET}" if start else line)
    return "\n".join(out)


# -- applying ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Applied:
    """One change as the server took it: `after` is the block as stored (or, for a dry run,
    as it would be stored), `resource_version` the Seed's after the change."""

    before: dict[str, Any]
    after: dict[str, Any]
    resource_version: str
    dry_run: bool = False

    @property
    def changed(self) -> bool:
        return not same_json(self.before, self.after)


class DatacenterConflict(Exception):
    """The Seed changed between loading the datacenter and applying to it: nothing was
    applied. `ours` is the block we wanted, `theirs` the live datacenter, `base` the block
    both started from."""

    def __init__(
        self,
        ours: Mapping[str, Any],
        theirs: Datacenter,
        base: Mapping[str, Any],
        *,
        loaded_version: str = "",
    ) -> None:
        self.ours = copy.deepcopy(dict(ours))
        self.theirs = theirs
        self.base = copy.deepcopy(dict(base))
        self.loaded_version = loaded_version
        ref = theirs.ref
        where = f"the block of datacenter {ref.name}" if self.block_changed else "another field"
        versions = f" (resourceVersion {loaded_version} → {theirs.resource_version})"
        super().__init__(
            f"seed {ref.seed_namespace}/{ref.seed} changed since it was loaded{versions}: "
            f"someone changed {where}; nothing was applied"
        )

    @property
    def block_changed(self) -> bool:
        """Whether their change touched this datacenter's block (else: elsewhere in the Seed)."""
        return not same_json(self.theirs.kubevirt, self.base)


@dataclass(frozen=True)
class Rebased:
    """Our edit carried onto their version: apply `block` to `dc` (the live datacenter, with
    its new resourceVersion). `clashes` are the paths both sides changed differently; there
    our value wins, and the diff against `dc.kubevirt` shows it."""

    dc: Datacenter
    block: dict[str, Any]
    clashes: list[str] = field(default_factory=list)


def rebase(conflict: DatacenterConflict) -> Rebased:
    """Our change (base → ours) replayed on their block, the way a merge patch would."""
    ours_patch = merge_patch(conflict.base, conflict.ours)
    theirs_patch = merge_patch(conflict.base, conflict.theirs.kubevirt)
    block = apply_merge_patch(conflict.theirs.kubevirt, ours_patch)
    clashes = []
    theirs_paths = list(_leaf_paths(theirs_patch))
    for path in _leaf_paths(ours_patch):
        for other in theirs_paths:
            shorter = min(path, other, key=len)
            if path[: len(shorter)] != other[: len(shorter)]:
                continue
            if not same_json(_at(conflict.ours, shorter), _at(conflict.theirs.kubevirt, shorter)):
                clashes.append(".".join(shorter))
                break
    return Rebased(conflict.theirs, block, sorted(set(clashes)))


def _leaf_paths(patch: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple]:
    for key, value in patch.items():
        if isinstance(value, Mapping) and value:
            yield from _leaf_paths(value, (*prefix, key))
        else:
            yield (*prefix, key)


def _at(block: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(block, Mapping):
            return None
        block = block.get(key)
    return block


def audit_target(ref: DatacenterRef) -> str:
    return f"seed/{ref.seed_namespace}/{ref.seed}/datacenters/{ref.name}"


async def apply_block(
    seed_conn: Connection,
    dc: Datacenter,
    new_block: Mapping[str, Any],
    *,
    dry_run: bool = False,
    record: Record | None = None,
) -> Applied:
    """Make `new_block` the datacenter's kubevirt block: a dry run, then (unless `dry_run`)
    the real patch, both guarded by `dc.resource_version`. Raises `DatacenterConflict` on 409
    (`LookupError` if the datacenter is gone meanwhile) and the request's `KubeError`
    otherwise; a block equal to the live one sends nothing."""
    return await _patch_block(
        seed_conn,
        dc.ref,
        dc.kubevirt,
        new_block,
        dc.resource_version,
        dry_run=dry_run,
        verb="datacenter-apply",
        record=record,
    )


async def undo(
    seed_conn: Connection,
    applied: Applied,
    dc_ref: DatacenterRef,
    *,
    dry_run: bool = False,
    record: Record | None = None,
) -> Applied:
    """Put back the block `applied` replaced, unless the Seed changed since (then
    `DatacenterConflict`, with `ours` the old block and `base` the one we applied)."""
    if applied.dry_run:
        raise ValueError("a dry run changed nothing: there is nothing to undo")
    return await _patch_block(
        seed_conn,
        dc_ref,
        applied.after,
        applied.before,
        applied.resource_version,
        dry_run=dry_run,
        verb="datacenter-undo",
        record=record,
    )


async def _patch_block(
    seed_conn: Connection,
    ref: DatacenterRef,
    base: Mapping[str, Any],
    new_block: Mapping[str, Any],
    resource_version: str,
    *,
    dry_run: bool,
    verb: str,
    record: Record | None,
) -> Applied:
    changes = merge_patch(base, new_block)
    if not changes:
        return Applied(
            copy.deepcopy(dict(base)), copy.deepcopy(dict(base)), resource_version, dry_run
        )
    if not resource_version:
        raise ValueError(f"datacenter {ref.name} was loaded without the Seed's resourceVersion")
    body = {
        "metadata": {"resourceVersion": resource_version},
        "spec": {"datacenters": {ref.name: {"spec": {"kubevirt": changes}}}},
    }
    path = kinds.SEEDS.path(ref.seed_namespace, ref.seed)
    target = audit_target(ref)
    try:
        seed = await seed_conn.request(
            "PATCH", path, body=body, content_type=MERGE_PATCH, dry_run=True
        )
        if not dry_run:
            seed = await seed_conn.request("PATCH", path, body=body, content_type=MERGE_PATCH)
    except Conflict:
        seed_name = f"seed {ref.seed_namespace}/{ref.seed}"
        try:
            theirs = await get_datacenter(seed_conn, ref.name)
        except LookupError:
            message = f"{seed_name} changed: datacenter {ref.name} is gone; nothing was applied"
            _record(record, verb, target, dry_run, message)
            raise LookupError(message) from None
        except KubeError as exc:
            _record(record, verb, target, dry_run, f"{seed_name} changed; rereading it: {exc}")
            raise
        conflict = DatacenterConflict(new_block, theirs, base, loaded_version=resource_version)
        _record(record, verb, target, dry_run, str(conflict))
        raise conflict from None
    except KubeError as exc:
        _record(record, verb, target, dry_run, str(exc))
        raise
    _record(record, verb, target, dry_run, None)
    stored = (((seed.get("spec") or {}).get("datacenters") or {}).get(ref.name) or {}).get("spec")
    after = (stored or {}).get("kubevirt") or {}
    version = resource_version if dry_run else str(seed["metadata"]["resourceVersion"])
    return Applied(copy.deepcopy(dict(base)), after, version, dry_run)


def _record(
    record: Record | None, verb: str, target: str, dry_run: bool, error: str | None
) -> None:
    if record is not None:
        record(verb, target, dry_run, error)


# -- files ---------------------------------------------------------------------------------
def export_block(dc: Datacenter, path: Path | str) -> Path:
    """Write the datacenter's block to `path` as YAML, private to its owner (0600)."""
    ref = dc.ref
    return write_block(
        dc.kubevirt,
        path,
        comment=f"spec.kubevirt of datacenter {ref.name} (seed {ref.seed_namespace}/{ref.seed}, "
        f"resourceVersion {dc.resource_version})",
    )


def write_block(block: Mapping[str, Any], path: Path | str, *, comment: str = "") -> Path:
    """Write a block as YAML, atomically and readable by its owner only (0600); `comment`
    becomes a first `#` line, which reading the file back ignores."""
    return write_private(path, (f"# {comment}\n" if comment else "") + block_yaml(block))


def write_private(path: Path | str, text: str) -> Path:
    """Write `text` atomically, readable by its owner only (0600): a block may name internal
    registries and networks."""
    return write_atomic(Path(path), text, 0o600)


def saved_blocks_dir() -> Path:
    """Where the CLI keeps the blocks it replaced (for undo) and rebased edits: private."""
    return user_state_path("kvtui") / "datacenters"


def save_edit_text(datacenter: str, text: str) -> Path:
    """Keep an edit of `datacenter` that is about to be dropped (YAML text) in the state dir,
    under a name no other save takes (`<dc>-edit-<time>[-n].yaml`, 0600). OSError when the
    disk refuses: the caller keeps the edit then."""
    folder = saved_blocks_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    path, number = folder / f"{datacenter}-edit-{stamp}.yaml", 1
    while path.exists():  # two saves in one second: both kept
        number += 1
        path = folder / f"{datacenter}-edit-{stamp}-{number}.yaml"
    return write_private(path, text)


def import_block(
    path: Path | str, infra_storage_classes: list[dict] | None = None
) -> tuple[dict | None, list[Finding]]:
    """The block in a file and what is wrong with it; a block with any error finding must not
    be applied (an unreadable file is one error finding)."""
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return None, [
            Finding(path="", message=f"cannot read {path}: {reason}", severity="error", line=None)
        ]
    return validate_text(text, infra_storage_classes)

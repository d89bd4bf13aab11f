"""`kvtui datacenter list|get|validate|apply`: KKP's KubeVirt datacenters without a screen.

A thin shell over `kvtui.cluster.datacenter*`. The Seed is read through `--seed-context`
(default: `--context`), the infra cluster's storage classes through `--context`. `apply`
validates first and sends nothing on any error, shows the diff and its impact, asks unless
`--yes`, and exits non-zero with nothing applied on a conflict.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from kvtui.commands import (
    CommandError,
    confirmed,
    open_session,
    refuse_unless_writable,
)


def add_parsers(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    datacenter = sub.add_parser(
        "datacenter",
        parents=parents,
        help="KKP KubeVirt datacenters on the Seed: list, get, validate, apply",
        description=(
            "Read and change the spec.kubevirt block of KKP datacenters on their Seed "
            "(--seed-context, default: --context); storage classes are checked on the "
            "infra cluster (--context)."
        ),
    )
    actions = datacenter.add_subparsers(dest="datacenter_command", metavar="ACTION")
    actions.required = True
    listing = actions.add_parser(
        "list", parents=parents, help="every KubeVirt datacenter, one line each"
    )
    listing.add_argument("-o", "--output", choices=("text", "json"), default="text")
    get = actions.add_parser("get", parents=parents, help="one datacenter's kubevirt block")
    get.add_argument("datacenter", metavar="DC")
    get.add_argument("-o", "--output", choices=("yaml", "json"), default="yaml")
    validate = actions.add_parser(
        "validate", parents=parents, help="check a kubevirt block in a file; exit 1 on errors"
    )
    validate.add_argument("-f", "--filename", required=True, metavar="FILE")
    apply = actions.add_parser(
        "apply",
        parents=parents,
        help="make a file's kubevirt block the datacenter's: validate, diff, dry run, patch",
        description=(
            "Validate FILE (any error: nothing is sent), show the diff against the live "
            "Seed and its impact, then patch only spec.datacenters.DC.spec.kubevirt, guarded "
            "by the Seed's resourceVersion. If the Seed changed meanwhile nothing is applied."
        ),
    )
    apply.add_argument("datacenter", metavar="DC")
    apply.add_argument("-f", "--filename", required=True, metavar="FILE")
    apply.add_argument(
        "--dry-run", action="store_true", help="ask the server to check the change only"
    )
    apply.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")


def run(args: argparse.Namespace) -> int:
    command = {
        "list": _list,
        "get": _get,
        "validate": _validate,
        "apply": _apply,
    }[args.datacenter_command]
    return asyncio.run(command(args))


# -- connections ---------------------------------------------------------------------------


async def _open_seed(args: argparse.Namespace) -> Any:
    """A session on the Seed's context: its connection, read-only flag and audit log."""
    return await open_session(
        args.kubeconfig,
        args.seed_context or args.context,
        read_only=args.read_only,
        what=" to the seed",
    )


async def _infra_classes(args: argparse.Namespace, seed: Any | None) -> list[dict]:
    """The infra cluster's storage classes, on the seed's connection when it is the same
    context; failures raise KubeconfigError or KubeError."""
    from kvtui.cluster.connection import Connection
    from kvtui.cluster.datacenter import infra_storage_classes

    if seed is not None and (not args.seed_context or args.seed_context == args.context):
        return await infra_storage_classes(seed.connection)
    conn = await Connection.open(args.kubeconfig, args.context)
    try:
        return await infra_storage_classes(conn)
    finally:
        await conn.close()


async def _infra_classes_or_none(args: argparse.Namespace, seed: Any | None) -> list[dict] | None:
    """The storage classes, or None (with a note) when the infra cluster cannot tell us."""
    from kvtui.cluster.errors import KubeconfigError, KubeError

    try:
        return await _infra_classes(args, seed)
    except (KubeconfigError, KubeError) as exc:
        print(f"kvtui: note: storage classes not checked: {exc}", file=sys.stderr)
        return None


async def _load(seed: Any, name: str) -> Any:
    from kvtui.cluster.datacenter import get_datacenter
    from kvtui.cluster.errors import KubeError

    try:
        return await get_datacenter(seed.connection, name)
    except LookupError as exc:
        raise CommandError(str(exc).strip("'\""), code=1) from None
    except KubeError as exc:
        raise CommandError(f"cannot read datacenter {name}: {exc}", code=1) from None


# -- list and get --------------------------------------------------------------------------
async def _list(args: argparse.Namespace) -> int:
    from kvtui.cluster.datacenter import list_datacenters, summarize
    from kvtui.cluster.errors import KubeError

    seed = await _open_seed(args)
    try:
        try:
            datacenters = await list_datacenters(seed.connection)
        except KubeError as exc:
            raise CommandError(f"cannot list datacenters: {exc}", code=1) from None
        classes = await _infra_classes_or_none(args, seed) if datacenters else []
    finally:
        await seed.close()
    checked = classes is not None
    pairs = [(dc, summarize(dc, classes or [])) for dc in datacenters]
    if args.output == "json":
        rows = [_summary_json(dc, summary, checked) for dc, summary in pairs]
        print(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return 0
    if not datacenters:
        print(f"No KubeVirt datacenters on the seeds of context {seed.context}.")
        return 0
    print(_table([_summary_row(dc, summary, checked) for dc, summary in pairs]))
    return 0


async def _get(args: argparse.Namespace) -> int:
    from kvtui.cluster.datacenter_apply import block_yaml

    seed = await _open_seed(args)
    try:
        dc = await _load(seed, args.datacenter)
    finally:
        await seed.close()
    if args.output == "json":
        print(orjson.dumps(dc.kubevirt, option=orjson.OPT_INDENT_2).decode())
    else:
        sys.stdout.write(block_yaml(dc.kubevirt))
    return 0


# -- validate ------------------------------------------------------------------------------
def _print_findings(filename: str, findings: Sequence[Any]) -> tuple[int, int]:
    """`FILE:LINE: error: path: message` lines, errors first; the two counts."""
    from kvtui.cluster.datacenter_validation import errors, warnings

    found_errors, found_warnings = errors(findings), warnings(findings)
    for finding in [*found_errors, *found_warnings]:
        where = f"{filename}:{finding.line}" if finding.line else filename
        what = f"{finding.path}: {finding.message}" if finding.path else finding.message
        print(f"{where}: {finding.severity}: {what}")
    return len(found_errors), len(found_warnings)


def _counted(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


async def _read_file(args: argparse.Namespace, classes: list[dict] | None) -> dict:
    """The file's block, its findings printed; any error raises (exit 1)."""
    from kvtui.cluster.datacenter_apply import import_block

    block, findings = import_block(Path(args.filename), classes)
    count_errors, count_warnings = _print_findings(args.filename, findings)
    if count_errors or block is None:
        also = f" and {_counted(count_warnings, 'warning')}" if count_warnings else ""
        raise CommandError(
            f"{args.filename}: {_counted(max(count_errors, 1), 'error')}{also}", code=1
        )
    return block


async def _validate(args: argparse.Namespace) -> int:
    classes = await _infra_classes_or_none(args, None)
    await _read_file(args, classes)
    print(f"{args.filename}: valid")
    return 0


# -- apply ---------------------------------------------------------------------------------
async def _apply(args: argparse.Namespace) -> int:
    seed = await _open_seed(args)
    try:
        return await _apply_on(args, seed)
    finally:
        await seed.close()


async def _apply_on(args: argparse.Namespace, seed: Any) -> int:
    from kvtui.cluster.datacenter import impact
    from kvtui.cluster.datacenter_apply import (
        DatacenterConflict,
        apply_block,
        diff_text,
        same_json,
    )
    from kvtui.cluster.errors import KubeError

    classes = await _infra_classes_or_none(args, seed)
    block = await _read_file(args, classes)
    dc = await _load(seed, args.datacenter)
    ref = dc.ref
    where = f"datacenter {ref.name} on seed {ref.seed_namespace}/{ref.seed}"
    if same_json(dc.kubevirt, block):
        print(f"No changes: {args.filename} matches {where}.")
        return 0
    print(f"Changes to {where} (context {seed.context}):")
    print(diff_text(dc.kubevirt, block, new_label=args.filename))
    lines = impact(dc, dc.kubevirt, block)
    if lines:
        print("Impact:")
        for line in lines:
            print(f"  - {line}")
    refuse_unless_writable(seed, " (the diff above is what apply would change)")
    question = f"Apply to {where} (context {seed.context})? [y/N] "
    if not args.yes and not args.dry_run and not await confirmed(question, "apply"):
        return 1
    try:
        applied = await apply_block(
            seed.connection, dc, block, dry_run=args.dry_run, record=seed.record
        )
    except DatacenterConflict as conflict:
        _show_conflict(args, conflict)
        raise CommandError(str(conflict), code=1) from None
    except LookupError as exc:
        raise CommandError(str(exc).strip("'\""), code=1) from None
    except KubeError as exc:
        raise CommandError(str(exc), code=1) from None
    if args.dry_run:
        print(f"Dry run: the server accepts the change to {where}; nothing was changed.")
    else:
        print(
            f"Applied to {where}: resourceVersion "
            f"{dc.resource_version} → {applied.resource_version}."
        )
    if not same_json(applied.after, block):
        stored = "would store" if args.dry_run else "stored"
        print(f"The server {stored} the block differently (defaults, dropped fields):")
        print(diff_text(block, applied.after, old_label=args.filename, new_label="server"))
    if not args.dry_run:
        _keep_previous(dc)
    return 0


def _keep_previous(dc: Any) -> None:
    """Save the replaced block, so an `apply -f` of it undoes this change."""
    from kvtui.cluster.datacenter_apply import export_block, saved_blocks_dir

    ref = dc.ref
    directory = saved_blocks_dir()
    path = directory / f"{ref.seed}-{ref.name}-{dc.resource_version}.yaml"
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        export_block(dc, path)
    except OSError as exc:
        print(f"kvtui: note: the previous block was not saved: {exc}", file=sys.stderr)
        return
    print(f"The previous block is in {path}; to undo: kvtui datacenter apply {ref.name} -f {path}")


def _show_conflict(args: argparse.Namespace, conflict: Any) -> None:
    """Both sides of a conflict, and our edit carried onto theirs in a file to re-apply."""
    from kvtui.cluster.datacenter_apply import diff_text, rebase, saved_blocks_dir, write_block

    theirs = conflict.theirs
    ref = theirs.ref
    print(
        f"Conflict: seed {ref.seed_namespace}/{ref.seed} changed since it was loaded "
        f"(resourceVersion {conflict.loaded_version} → {theirs.resource_version})."
    )
    if conflict.block_changed:
        print(f"Their change to datacenter {ref.name}:")
        print(diff_text(conflict.base, theirs.kubevirt, old_label="loaded", new_label="live"))
    else:
        print(f"Their change is elsewhere in the Seed; the block of {ref.name} is as loaded.")
    print("Our change (not applied):")
    print(diff_text(conflict.base, conflict.ours, old_label="loaded", new_label=args.filename))
    rebased = rebase(conflict)
    directory = saved_blocks_dir()
    path = directory / f"{ref.seed}-{ref.name}-rebased-{theirs.resource_version}.yaml"
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_block(
            rebased.block,
            path,
            comment=f"{args.filename} re-applied on top of datacenter {ref.name} at "
            f"resourceVersion {theirs.resource_version}",
        )
    except OSError as exc:
        print(f"kvtui: note: the rebased block was not saved: {exc}", file=sys.stderr)
        return
    if rebased.clashes:
        print(f"Both changed (ours kept in the file): {', '.join(rebased.clashes)}")
    print(
        f"Our change on top of theirs is in {path}; review it, then: "
        f"kvtui datacenter apply {ref.name} -f {path}"
    )


# -- the table -----------------------------------------------------------------------------
def _table(rows: list[list[str]]) -> str:
    header = [
        "DC",
        "SEED",
        "DNS POLICY",
        "NAMESERVERS",
        "IMAGES",
        "STORAGE CLASSES",
        "POLICIES",
        "EVICTION",
        "CLUSTERS",
    ]
    everything = [header, *rows]
    widths = [max(len(row[i]) for row in everything) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in everything
    )


def _summary_row(dc: Any, summary: Any, checked: bool) -> list[str]:
    """One table row; a storage class is ✓ when the infra cluster has it, ✗ when not, ? when
    the infra cluster could not be asked."""
    classes = ", ".join(
        f"{sc.name} {('✓' if sc.exists else '✗') if checked else '?'}"
        for sc in summary.storage_classes
    )
    return [
        summary.name,
        f"{dc.ref.seed_namespace}/{summary.seed}",
        summary.dns_policy,
        ", ".join(summary.nameservers) or "-",
        str(sum(len(versions) for versions in summary.images.values())),
        classes or "-",
        ", ".join(summary.policies) or "-",
        summary.eviction_strategy,
        str(len(summary.clusters)),
    ]


def _summary_json(dc: Any, summary: Any, checked: bool) -> dict[str, Any]:
    from dataclasses import asdict

    return {
        **asdict(summary),
        "seed_namespace": dc.ref.seed_namespace,
        "resource_version": dc.resource_version,
        "storage_classes_checked": checked,
    }

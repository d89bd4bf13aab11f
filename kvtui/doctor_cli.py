"""`kvtui doctor` and `kvtui snapshot`: the doctor without a screen.

A thin shell over `kvtui.cluster.doctor*`. `kvtui doctor` prints every check with its stable
id (or JSON) and exits 0 when nothing fails, 1 on a failure, 2 when a check could not run.
`kvtui doctor --fix CHECK` shows the fix as a diff, has the server dry-run it, asks (naming the
context and the objects) unless `--yes`, patches, and runs the check again. `kvtui snapshot`
prints one plain-text screen for an incident ticket.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from typing import Any

import orjson

from kvtui.commands import (
    CommandError,
    confirmed,
    open_session,
    refuse_unless_writable,
)

EXIT_CODES = "exit codes: 0 nothing fails, 1 a check fails, 2 a check could not run (or bad usage)"


def add_parsers(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    doctor = sub.add_parser(
        "doctor",
        parents=parents,
        help="check the infra cluster against KKP's KubeVirt requirements; fix what is safe",
        description=(
            "Check the infra cluster (--context) and the KKP Seed (--seed-context, default: "
            "--context) against the KKP KubeVirt provider guide: nodes, KubeVirt and CDI, "
            "network, DNS, monitoring, storage, the 2.21 upgrade steps and VM health. Every "
            "check has a stable id; --fix CHECK repairs the ones with a mechanical fix."
        ),
        epilog=EXIT_CODES,
    )
    doctor.add_argument("-o", "--output", choices=("text", "json"), default="text")
    doctor.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="AREA",
        help="only these areas or check ids, comma-separated or repeated (areas: nodes, "
        "kubevirt, cdi, network, dns, monitoring, storage, upgrade, vms)",
    )
    doctor.add_argument(
        "--skip",
        action="append",
        default=[],
        metavar="AREA",
        help="leave out these areas or check ids, comma-separated or repeated (e.g. "
        "upgrade.machine-deployments, which cannot run where MachineDeployments are not served)",
    )
    doctor.add_argument(
        "-v", "--verbose", action="store_true", help="show the evidence of passing checks too"
    )
    doctor.add_argument(
        "--fix",
        metavar="CHECK",
        help="apply CHECK's fix: diff, server dry run, confirmation, patch, check again",
    )
    doctor.add_argument(
        "--dry-run", action="store_true", help="with --fix: have the server check the fix only"
    )
    doctor.add_argument("--yes", "-y", action="store_true", help="with --fix: do not ask")
    sub.add_parser(
        "snapshot",
        parents=parents,
        help="one plain-text screen for an incident ticket",
        description=(
            "Print what is wrong right now on one screen: not-ready or cordoned nodes, "
            "unhealthy or non-migratable VMs, running and failed migrations, doctor failures."
        ),
    )


def run_doctor(args: argparse.Namespace) -> int:
    if (args.dry_run or args.yes) and not args.fix:
        raise CommandError("--dry-run and --yes go with --fix CHECK")
    only = [part for value in args.only for part in value.split(",") if part.strip()]
    skip = [part for value in args.skip for part in value.split(",") if part.strip()]
    if args.fix and (only or skip):
        raise CommandError("--fix runs one check: leave out --only and --skip")
    if args.fix and args.output == "json":
        raise CommandError("--fix shows a diff and asks: leave out -o json")
    return asyncio.run(_fix(args) if args.fix else _doctor(args, only, skip))


def run_snapshot(args: argparse.Namespace) -> int:
    return asyncio.run(_snapshot(args))


# -- connections ---------------------------------------------------------------------------
class _Contexts:
    """The infra session (audit log, read-only flag, config) and the Seed's connection."""

    def __init__(self, session: Any, seed: Any) -> None:
        self.session = session
        self.seed = seed

    async def close(self) -> None:
        if self.seed is not self.session.connection:
            await self.seed.close()
        await self.session.close()


async def _open(args: argparse.Namespace) -> _Contexts:
    from kvtui.cluster.connection import Connection
    from kvtui.cluster.errors import KubeconfigError

    session = await open_session(args.kubeconfig, args.context, read_only=args.read_only)
    if not args.seed_context or args.seed_context == session.context:
        return _Contexts(session, session.connection)
    try:
        seed = await Connection.open(args.kubeconfig, args.seed_context)
    except KubeconfigError as exc:
        await session.close()
        raise CommandError(str(exc)) from None
    return _Contexts(session, seed)


async def _report(contexts: _Contexts, only: list[str], skip: Sequence[str] = ()) -> Any:
    from kvtui.cluster.doctor import run_doctor as run

    try:
        return await run(
            contexts.session.connection,
            contexts.seed,
            config=contexts.session.config,
            only=only,
            skip=skip,
        )
    except ValueError as exc:  # an unknown area or check id
        raise CommandError(str(exc)) from None


# -- kvtui doctor ----------------------------------------------------------------------------
async def _doctor(args: argparse.Namespace, only: list[str], skip: list[str]) -> int:
    from kvtui.cluster.doctor import select
    from kvtui.cluster.doctor_report import report_text

    try:
        select(only, skip)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    contexts = await _open(args)
    try:
        report = await _report(contexts, only, skip)
    finally:
        await contexts.close()
    if args.output == "json":
        print(orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2).decode())
    else:
        print("\n".join(report_text(report, details=args.verbose)))
    return report.exit_code


# -- kvtui doctor --fix ----------------------------------------------------------------------
async def _fix(args: argparse.Namespace) -> int:
    from kvtui.cluster.doctor import CHECKS

    if args.fix not in {spec.id for spec in CHECKS}:
        fixable = ", ".join(spec.id for spec in CHECKS if spec.fixable)
        raise CommandError(f"unknown check {args.fix!r} (checks with a fix: {fixable})")
    contexts = await _open(args)
    try:
        return await _fix_on(args, contexts)
    finally:
        await contexts.close()


async def _fix_on(args: argparse.Namespace, contexts: _Contexts) -> int:
    from kvtui.cluster.datacenter_apply import diff_text
    from kvtui.cluster.doctor_fixes import apply_fix
    from kvtui.cluster.doctor_model import Status

    session = contexts.session
    [result] = (await _report(contexts, [args.fix])).results
    if result.status is Status.UNKNOWN:
        raise CommandError(f"{args.fix}: {result.summary}", code=2)
    if result.status is Status.OK:
        print(f"{args.fix}: ok, nothing to fix: {result.summary}")
        return 0
    print(f"{args.fix}: {result.status.label}: {result.summary}")
    if result.fix is None:
        print("No mechanical fix for this check; by hand:")
        for step in result.instructions:
            print(f"  - {step}")
        return 1
    fix = result.fix
    targets = ", ".join(fix.target_names())
    print(f"Fix ({fix.description}) on context {session.context}:")
    for target in fix.targets:
        print(
            diff_text(
                target.before,
                target.after,
                old_label=f"{target.target} (live)",
                new_label=f"{target.target} (fixed)",
            )
        )
    refuse_unless_writable(session, " (the diff above is what the fix would change)")
    checked = await apply_fix(session.connection, fix, dry_run=True, record=session.record)
    if not checked.ok:
        for line in checked.failure_lines():
            print(f"error: {line}")
        raise CommandError("the server refused the fix's dry run; nothing was changed", code=1)
    print(f"Dry run: the server accepts the fix for {targets}.")
    if args.dry_run:
        print("Nothing was changed (--dry-run).")
        return 0
    if not args.yes:
        question = f"Apply the fix to {targets} on context {session.context}? [y/N] "
        if not await confirmed(question, "apply the fix"):
            return 1
    applied = await apply_fix(session.connection, fix, record=session.record)
    for done in applied.applied:
        print(
            f"Patched {done.target.target} (resourceVersion {done.target.resource_version} → "
            f"{done.resource_version})."
        )
    for line in applied.failure_lines():
        print(f"error: {line}")
    [after] = (await _report(contexts, [args.fix])).results
    print(f"{args.fix} now: {after.status.label}: {after.summary}")
    return 0 if applied.ok and after.status is Status.OK else 1


# -- kvtui snapshot --------------------------------------------------------------------------
async def _snapshot(args: argparse.Namespace) -> int:
    from kvtui import __version__
    from kvtui.cluster.doctor import run_checks
    from kvtui.cluster.doctor_observe import collect
    from kvtui.cluster.doctor_snapshot import snapshot_text

    contexts = await _open(args)
    try:
        session = contexts.session
        observed = await collect(
            session.connection, contexts.seed, versions=session.config.supported_versions
        )
    finally:
        await contexts.close()
    lines = snapshot_text(
        observed,
        run_checks(observed),
        now=time.time(),
        server=session.connection.server,
        version=__version__,
    )
    sys.stdout.write("\n".join(lines) + "\n")
    return 0

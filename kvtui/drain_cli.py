"""`kvtui drain NODE` and `kvtui uncordon NODE`: the drain without a screen.

A thin shell over `kvtui.cluster.drain*`: the plan first, then one line per VM state change
(never one per retry), then the verdict; exit code 0 only when the node is drained. It asks
before changing anything unless `--yes`, and refuses in a read-only session.
"""

from __future__ import annotations

import argparse
import asyncio
import re
from collections.abc import Sequence
from typing import Any

import orjson

from kvtui.commands import (
    CommandError,
    ask,
    confirmed,
    interactive,
    open_session,
    refuse_unless_writable,
)

DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """kubectl's durations: `90s`, `5m`, `1h30m`, `0` (no limit is the flag's absence)."""
    text = text.strip()
    if text == "0":
        return 0.0
    pos, total = 0, 0.0
    for match in DURATION.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (try 90s, 5m or 1h30m)")
    return total


def add_parsers(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    drain = sub.add_parser(
        "drain",
        parents=parents,
        help="drain a node: plan, live-migrate its VMs, verdict",
        description=(
            "Cordon NODE and evict its pods through the eviction API while following every "
            "VM's migration. Prints the plan, one line per VM state change and a verdict; "
            "exits 0 only when the node is drained."
        ),
    )
    drain.add_argument("node", metavar="NODE")
    drain.add_argument("--plan", action="store_true", help="print the pre-flight plan only")
    drain.add_argument(
        "--dry-run",
        action="store_true",
        help="ask the server what each eviction would do; change nothing",
    )
    drain.add_argument(
        "--timeout",
        type=parse_duration,
        default=None,
        metavar="DURATION",
        help="give up waiting after this long (e.g. 90s, 5m); default: wait for ever",
    )
    drain.add_argument(
        "--delete-emptydir-data",
        action="store_true",
        help="evict pods with emptyDir volumes (their data is lost)",
    )
    drain.add_argument(
        "--force", action="store_true", help="also evict pods no controller recreates"
    )
    drain.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    drain.add_argument("-o", "--output", choices=("text", "json"), default="text")
    uncordon = sub.add_parser("uncordon", parents=parents, help="let pods schedule on NODE")
    uncordon.add_argument("node", metavar="NODE")
    uncordon.add_argument("--dry-run", action="store_true")


async def _open(args: argparse.Namespace, watch: Sequence[Any]) -> Any:
    return await open_session(args.kubeconfig, args.context, read_only=args.read_only, watch=watch)


async def _cordoned(session: Any, node: str) -> bool:
    """A drain is in progress only while its node stays cordoned: an uncordon gave it up."""
    from kvtui.cluster import kinds
    from kvtui.cluster.errors import KubeError

    try:
        raw = await session.connection.get_json(kinds.NODES.path(name=node))
    except KubeError:
        return False  # the plan says why (a node that is gone, a denied read)
    return bool((raw.get("spec") or {}).get("unschedulable"))


def run_uncordon(args: argparse.Namespace) -> int:
    from kvtui.cluster import kinds
    from kvtui.cluster.session import Target

    async def run() -> int:
        session = await _open(args, [kinds.NODES])
        try:
            refuse_unless_writable(session)
            [result] = await session.run_operation(
                "uncordon", [Target("node", args.node)], dry_run=args.dry_run
            )
        finally:
            await session.close()
        if result.error:
            raise CommandError(result.error, code=1)
        suffix = " (dry run)" if args.dry_run else ""
        print(f"node/{args.node} uncordoned{suffix} on context {session.context}")
        return 0

    return asyncio.run(run())


def run_drain(args: argparse.Namespace) -> int:
    return asyncio.run(_drain(args))


async def _drain(args: argparse.Namespace) -> int:
    from kvtui.cluster.drain import DrainPlan, PlanOptions, make_plan
    from kvtui.cluster.drain_journal import DrainJournal
    from kvtui.cluster.drain_report import change_line, plan_text
    from kvtui.cluster.drain_run import WATCHED, Drain, DrainOptions
    from kvtui.cluster.errors import KubeError

    json_out = args.output == "json"

    def emit(event: str, **data: Any) -> None:
        if json_out:
            print(orjson.dumps({"event": event, **data}).decode(), flush=True)

    session = await _open(args, WATCHED)
    try:
        journal = DrainJournal()
        # A plan or a dry run only looks: it neither resumes nor ends the drain in progress.
        looking = args.plan or args.dry_run
        entry = None if looking else journal.load(session.context, args.node)
        resumed = None
        if entry is not None and entry.status == "running" and await _cordoned(session, args.node):
            resumed = entry
        try:
            if resumed is not None:
                plan = DrainPlan.from_dict(resumed.plan)
            else:
                plan = await make_plan(
                    session.connection,
                    session.cache,
                    args.node,
                    PlanOptions(args.delete_emptydir_data, args.force),
                )
        except LookupError as exc:
            raise CommandError(str(exc).strip("'\""), code=1) from None
        except KubeError as exc:
            raise CommandError(f"cannot plan: {exc}", code=1) from None
        if args.plan:
            if json_out:
                print(orjson.dumps(plan.to_dict(), option=orjson.OPT_INDENT_2).decode())
            else:
                print("\n".join(plan_text(plan, session.context)))
            return 0
        refuse_unless_writable(session, " (use --plan to see what a drain would do)")
        if json_out:
            emit("plan", plan=plan.to_dict())
        else:
            if resumed is not None:
                print(f"Resuming the drain of {args.node} (journal: {journal.directory})")
            print("\n".join(plan_text(plan, session.context)), flush=True)
        if not args.yes and not args.dry_run and resumed is None:
            moving = len([p for p in plan.pods if p.outcome.value != "ignored"])
            question = f"Drain {args.node} on context {session.context} ({moving} pods)? [y/N] "
            if not await confirmed(question, "drain"):
                return 1

        async def on_timeout(drain: Drain) -> str:
            left = ", ".join(i.name for i in drain.items if not i.final)
            if args.yes or not interactive():
                return "stop"
            print(f"Timed out; still on {args.node}: {left}", flush=True)
            answer = await asyncio.to_thread(
                ask,
                "[w]ait longer, [c]ancel (call back migrations, uncordon), "
                "[d]elete the remaining pods, or [s]top here? ",
            )
            if answer.startswith("w"):
                return "wait"
            if answer.startswith("c"):
                await drain.cancel(cancel_migrations=True, uncordon=True)
                return "cancel"
            if answer.startswith("d"):
                confirm = await asyncio.to_thread(
                    ask, f"Type the node name to DELETE {left} without migrating: "
                )
                if confirm == args.node.lower():
                    return "delete"
            return "stop"

        drain = Drain(
            session.connection,
            session.cache,
            plan,
            DrainOptions(
                timeout=args.timeout or None,
                delete_emptydir_data=args.delete_emptydir_data,
                force=args.force,
                dry_run=args.dry_run,
            ),
            context=session.context,
            journal=journal,
            record=session.record,
            on_timeout=on_timeout,
            resumed=resumed,
        )

        def on_change(d: Drain, changes: list) -> None:
            for item, before in changes:
                if json_out:
                    emit(
                        "change",
                        namespace=item.plan.namespace,
                        name=item.name,
                        state=item.state.value,
                        phase=item.phase,
                        target=item.target,
                        message=item.message,
                        previous=before,
                        elapsed=round(d.elapsed, 1),
                    )
                else:
                    print(change_line(item, d.elapsed), flush=True)

        drain.subscribe(on_change)
        try:
            verdict = await drain.run()
        except KubeError as exc:
            raise CommandError(f"cannot drain: {exc}", code=1) from None
        if json_out:
            emit("verdict", **verdict.to_dict(), errors=drain.errors)
        else:
            for error in drain.errors:
                print(f"error: {error}")
            print(verdict.line())
            if not verdict.drained and verdict.status != "dry run":
                for name, state in verdict.remaining:
                    print(f"  still there: {name}: {state}")
                print(
                    f"The node stays cordoned. Run `kvtui drain {args.node}` again to resume, "
                    f"or `kvtui uncordon {args.node}`."
                )
        return 0 if verdict.drained or verdict.status == "dry run" else 1
    finally:
        await session.close()

"""`kvtui preset list|show|preview|apply`: scheduling presets without a screen.

Presets come from kvtui's config file (`presets:`). A target is `md/NS/NAME[:REPLICAS]` (a
KKP MachineDeployment: with REPLICAS, that many new VMs; without, the rollout that replaces
its VMs) or `vms/NS[/SELECTOR]` (the VMs in NS, those matching the label selector). `preview`
exits 1 when a VM would find no node; `apply` shows the diff, asks unless `--yes`, dry-runs on
the server, then sends minimal patches, and says which running VMs pick the rules up only on
their next restart or migration.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass
from typing import Any

import orjson

from kvtui.commands import (
    CommandError,
    confirmed,
    open_session,
    refuse_unless_writable,
)

# standard-2's virt-launcher, when a MachineDeployment has no running VM to measure.
DEFAULT_SIZE_CPU_M, DEFAULT_SIZE_MEMORY = 2000, 8 * 2**30
TARGET_HELP = "md/NS/NAME[:REPLICAS] or vms/NS[/SELECTOR]"


@dataclass(frozen=True)
class TargetSpec:
    """A parsed --target: a MachineDeployment (`replicas` None: its rollout) or VMs."""

    kind: str  # "md" | "vms"
    namespace: str
    name: str = ""  # the MachineDeployment
    replicas: int | None = None
    selector: str = ""  # for vms: a label selector, "" for all

    def __str__(self) -> str:
        if self.kind == "md":
            count = f":{self.replicas}" if self.replicas is not None else ""
            return f"md/{self.namespace}/{self.name}{count}"
        return f"vms/{self.namespace}" + (f"/{self.selector}" if self.selector else "")


def parse_target(text: str) -> TargetSpec:
    """`md/NS/NAME[:REPLICAS]` or `vms/NS[/SELECTOR]` (the selector may hold slashes)."""
    kind, _, rest = text.partition("/")
    if kind == "md":
        namespace, _, name = rest.partition("/")
        name, colon, count = name.partition(":")
        replicas = None
        if colon:
            if not count.isdigit() or int(count) < 1:
                raise argparse.ArgumentTypeError(f"{text!r}: REPLICAS must be a whole number ≥ 1")
            replicas = int(count)
        if not namespace or not name or "/" in name:
            raise argparse.ArgumentTypeError(f"{text!r}: expected md/NS/NAME[:REPLICAS]")
        return TargetSpec("md", namespace, name, replicas)
    if kind == "vms":
        namespace, _, selector = rest.partition("/")
        if not namespace:
            raise argparse.ArgumentTypeError(f"{text!r}: expected vms/NS[/SELECTOR]")
        return TargetSpec("vms", namespace, selector=selector)
    raise argparse.ArgumentTypeError(f"{text!r}: expected {TARGET_HELP}")


def add_parsers(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    preset = sub.add_parser(
        "preset",
        parents=parents,
        help="scheduling presets from the config file: list, show, preview, apply",
        description=(
            "Scheduling presets (topology spread + node affinity) from kvtui's config file: "
            f"preview where VMs would land and apply them to a target ({TARGET_HELP})."
        ),
    )
    actions = preset.add_subparsers(dest="preset_command", metavar="ACTION")
    actions.required = True
    listing = actions.add_parser("list", parents=parents, help="every preset, one line each")
    listing.add_argument("-o", "--output", choices=("text", "json"), default="text")
    show = actions.add_parser("show", parents=parents, help="one preset as the config has it")
    show.add_argument("preset", metavar="PRESET")
    show.add_argument("-o", "--output", choices=("yaml", "json"), default="yaml")
    preview = actions.add_parser(
        "preview",
        parents=parents,
        help="where the target's VMs would land under the preset; exit 1 if one would not",
    )
    preview.add_argument("preset", metavar="PRESET")
    preview.add_argument("--target", required=True, type=parse_target, metavar="TARGET")
    preview.add_argument("-o", "--output", choices=("text", "json"), default="text")
    apply = actions.add_parser(
        "apply",
        parents=parents,
        help="put the preset on a MachineDeployment or VMs: diff, dry run, patch",
        description=(
            "Patch only the scheduling fields (an MD's cloudProviderSpec affinity and "
            "topologySpreadConstraints, a VM template's nodeAffinity and spread), guarded by "
            "resourceVersion, after a server-side dry run of every change."
        ),
    )
    apply.add_argument("preset", metavar="PRESET")
    apply.add_argument("--target", required=True, type=parse_target, metavar="TARGET")
    apply.add_argument(
        "--dry-run", action="store_true", help="ask the server to check the change only"
    )
    apply.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")


def run(args: argparse.Namespace) -> int:
    command = {"list": _list, "show": _show, "preview": _preview, "apply": _apply}
    return asyncio.run(command[args.preset_command](args))


# -- the config ----------------------------------------------------------------------------
def _presets() -> list[Any]:
    from kvtui.cluster.config import ConfigError, load_config

    try:
        return load_config().presets
    except ConfigError as exc:
        raise CommandError(str(exc)) from None


def _preset(name: str) -> Any:
    from kvtui.cluster.config import config_path

    presets = _presets()
    for preset in presets:
        if preset.name == name:
            return preset
    known = ", ".join(p.name for p in presets) or "none"
    raise CommandError(f"no preset {name!r} in {config_path()} (known: {known})", code=1)


async def _list(args: argparse.Namespace) -> int:
    from kvtui.cluster.config import config_path
    from kvtui.cluster.preset_report import preset_line

    presets = _presets()
    if args.output == "json":
        print(orjson.dumps([p.to_dict() for p in presets], option=orjson.OPT_INDENT_2).decode())
        return 0
    if not presets:
        print(f"No presets in {config_path()}.")
        return 0
    width = max(len(p.name) for p in presets)
    for p in presets:
        print(f"{p.name.ljust(width)}  {preset_line(p)}")
    return 0


async def _show(args: argparse.Namespace) -> int:
    from kvtui.cluster.datacenter_apply import block_yaml

    data = _preset(args.preset).to_dict()
    if args.output == "json":
        print(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
    else:
        sys.stdout.write(block_yaml(data))
    return 0


# -- reading the cluster -------------------------------------------------------------------
async def _open(args: argparse.Namespace) -> Any:
    return await open_session(args.kubeconfig, args.context, read_only=args.read_only)


async def _get(conn: Any, path: str, what: str, params: dict | None = None) -> dict:
    from kvtui.cluster.errors import KubeError, NotFound

    try:
        return await conn.get_json(path, params)
    except NotFound:
        raise CommandError(f"{what} not found", code=1) from None
    except KubeError as exc:
        raise CommandError(f"cannot read {what}: {exc}", code=1) from None


async def _target_vms(conn: Any, target: TargetSpec) -> list[dict]:
    """The VMs of a `vms/` target, sorted by name; none is an error."""
    from kvtui.cluster import kinds

    params = {"labelSelector": target.selector} if target.selector else None
    listed = await _get(conn, kinds.VMS.path(target.namespace), f"VMs of {target}", params)
    vms = sorted(listed.get("items") or [], key=lambda v: v["metadata"]["name"])
    if not vms:
        raise CommandError(f"no VMs match {target}", code=1)
    return vms


async def _node_check(preset: Any, nodes: list[dict]) -> None:
    """What the nodes make of the preset: warnings go to stderr, an error stops (exit 1)."""
    from kvtui.cluster.findings import errors
    from kvtui.cluster.presets import check_against_nodes

    found = check_against_nodes(preset, nodes, preset.name)
    problems = errors(found)
    for finding in found:
        if finding not in problems:
            print(f"kvtui: note: {finding}", file=sys.stderr)
    if problems:
        raise CommandError(f"{problems[0].path}: {problems[0].message}", code=1)


# -- preview -------------------------------------------------------------------------------
async def _preview(args: argparse.Namespace) -> int:
    from kvtui.cluster import kinds
    from kvtui.cluster.preset_apply import MACHINE_DEPLOYMENTS
    from kvtui.cluster.preset_preview import (
        ExistingVms,
        NewReplicas,
        ReplicaSize,
        machine_deployment_pods,
        preview_placement,
    )
    from kvtui.cluster.preset_report import preview_json, preview_text

    preset = _preset(args.preset)
    target: TargetSpec = args.target
    session = await _open(args)
    try:
        conn = session.connection
        nodes = (await _get(conn, kinds.NODES.path(), "nodes")).get("items") or []
        pods = (await _get(conn, kinds.PODS.path(), "pods")).get("items") or []
        if target.kind == "md":
            md = await _get(
                conn,
                MACHINE_DEPLOYMENTS.path(target.namespace, target.name),
                f"machinedeployment {target.namespace}/{target.name}",
            )
            own = machine_deployment_pods(pods, target.namespace, target.name)
            size = (
                ReplicaSize.of_pod(own[0])
                if own
                else ReplicaSize(DEFAULT_SIZE_CPU_M, DEFAULT_SIZE_MEMORY)
            )
            if target.replicas is None:
                count = int((md.get("spec") or {}).get("replicas", 1))
                what = f"the rollout of {target.namespace}/{target.name} ({count} VM(s))"
                placed = NewReplicas(target.namespace, target.name, count, size, rollout=True)
            else:
                count = target.replicas
                what = f"{count} new VM(s) of {target.namespace}/{target.name}"
                placed = NewReplicas(target.namespace, target.name, count, size)
        else:
            vms = await _target_vms(conn, target)
            names = tuple(v["metadata"]["name"] for v in vms)
            what = f"the VMs of {target} ({len(names)})"
            placed = ExistingVms(target.namespace, names)
    finally:
        await session.close()
    await _node_check(preset, nodes)
    preview = preview_placement(preset, nodes, pods, placed)
    if args.output == "json":
        data = {"preset": preset.name, "context": session.context, **preview_json(preview, what)}
        print(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
    else:
        print(f"Preset {preset.name} on context {session.context}")
        print(preview_text(preview, what))
    return 1 if preview.unplaced else 0


# -- apply ---------------------------------------------------------------------------------
async def _apply(args: argparse.Namespace) -> int:
    target: TargetSpec = args.target
    if target.kind == "md" and target.replicas is not None:
        raise CommandError(f"--target {target}: apply takes no :REPLICAS (that is for preview)")
    preset = _preset(args.preset)
    session = await _open(args)
    try:
        return await _apply_on(args, session, preset, target)
    finally:
        await session.close()


async def _plan(conn: Any, preset: Any, target: TargetSpec) -> list[Any]:
    """The changes, from the objects as they are now."""
    from kvtui.cluster.errors import KubeError
    from kvtui.cluster.preset_apply import (
        MACHINE_DEPLOYMENTS,
        machine_deployment_vms,
        plan_machine_deployment,
        plan_vms,
    )

    if target.kind == "vms":
        return plan_vms(await _target_vms(conn, target), preset)
    what = f"machinedeployment {target.namespace}/{target.name}"
    raw = await _get(conn, MACHINE_DEPLOYMENTS.path(target.namespace, target.name), what)
    try:
        vms = await machine_deployment_vms(conn, target.namespace, target.name)
    except KubeError as exc:
        raise CommandError(f"cannot list the VMs of {what}: {exc}", code=1) from None
    return [plan_machine_deployment(raw, preset, vms)]


async def _apply_on(args: argparse.Namespace, session: Any, preset: Any, target: TargetSpec) -> int:
    from kvtui.cluster import kinds
    from kvtui.cluster.preset_apply import apply_preset
    from kvtui.cluster.preset_report import changes_text, result_text

    conn = session.connection
    nodes = (await _get(conn, kinds.NODES.path(), "nodes")).get("items") or []
    await _node_check(preset, nodes)
    changes = await _plan(conn, preset, target)
    changed = [c for c in changes if c.changed]
    if not changed:
        print(f"No changes: {target} already has preset {preset.name}'s rules.")
        return 0
    print(f"Preset {preset.name} on {target} (context {session.context}):")
    print(changes_text(changes))
    refuse_unless_writable(session, " (the diff above is what apply would change)")
    if not args.yes and not args.dry_run:
        names = ", ".join(c.target for c in changed)
        question = f"Apply preset {preset.name} to {names} (context {session.context})? [y/N] "
        if not await confirmed(question, "apply"):
            return 1
    result = await apply_preset(conn, changes, dry_run=args.dry_run, record=session.record)
    print(result_text(result, args.dry_run))
    if result.failures:
        change, exc = result.failures[0]
        also = f" (and {len(result.failures) - 1} more)" if len(result.failures) > 1 else ""
        done = "" if result.applied else "nothing was applied: "
        raise CommandError(f"{done}{change.target}: {exc}{also}", code=1)
    return 0

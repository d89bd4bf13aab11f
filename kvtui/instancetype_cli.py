"""`kvtui instancetype list|create|delete`: instance types and preferences without a screen.

A thin shell over `kvtui.cluster.instancetypes` and `instancetype_edit`. `create` validates
the flags first and sends nothing on any error; `delete` names the VMs that use the object
and, for one in use, wants the name typed (or `--force` next to `--yes`). Both ask unless
`--yes`, refuse in a read-only session and are audited. Without `-n` they work on the
cluster-wide `VirtualMachineClusterInstancetype`; with `-n NS`, on the namespaced kind.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
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


def add_parsers(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    instancetype = sub.add_parser(
        "instancetype",
        parents=parents,
        help="KubeVirt instance types and preferences: list, create, delete",
        description=(
            "List instance types and preferences with the VMs that use them; create or "
            "delete a cluster-wide VirtualMachineClusterInstancetype (with -n NS: a "
            "namespaced VirtualMachineInstancetype)."
        ),
    )
    actions = instancetype.add_subparsers(dest="instancetype_command", metavar="ACTION")
    actions.required = True
    listing = actions.add_parser(
        "list",
        parents=parents,
        help="every instance type and preference, with how many VMs use each",
    )
    listing.add_argument("-o", "--output", choices=("text", "json"), default="text")
    create = actions.add_parser(
        "create",
        parents=parents,
        help="create an instance type: validate, show, dry run or create",
        description=(
            "Create an instance type from the flags. Any validation error: exit 1, nothing is sent."
        ),
    )
    create.add_argument("name", metavar="NAME")
    create.add_argument("--cpus", required=True, metavar="N", help="guest vCPUs")
    create.add_argument(
        "--memory", required=True, metavar="QUANTITY", help="guest memory, e.g. 8Gi"
    )
    create.add_argument(
        "--dedicated-cpus",
        action="store_true",
        help="pin each vCPU to a host CPU (dedicatedCPUPlacement)",
    )
    create.add_argument(
        "--dry-run", action="store_true", help="ask the server to check the creation only"
    )
    create.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    delete = actions.add_parser(
        "delete",
        parents=parents,
        help="delete an instance type; one that VMs use needs its name typed",
        description=(
            "Delete an instance type. If VMs use it, they are listed and the name must be "
            "typed to confirm; with --yes such a deletion is refused unless --force."
        ),
    )
    delete.add_argument("name", metavar="NAME")
    delete.add_argument(
        "--dry-run", action="store_true", help="ask the server to check the deletion only"
    )
    delete.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    delete.add_argument(
        "--force", action="store_true", help="with --yes: delete even when VMs use it"
    )


def run(args: argparse.Namespace) -> int:
    command = {"list": _list, "create": _create, "delete": _delete}[args.instancetype_command]
    return asyncio.run(command(args))


async def _open(args: argparse.Namespace) -> Any:
    return await open_session(args.kubeconfig, args.context, read_only=args.read_only)


def _table(header: list[str], rows: list[list[str]]) -> str:
    everything = [header, *rows]
    widths = [max(len(row[i]) for row in everything) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in everything
    )


# -- list ----------------------------------------------------------------------------------
async def _datacenters(session: Any) -> list[Any]:
    """KKP's datacenters for the standard-set policy; [] (with a note) when there are none
    to read (a cluster without KKP, a Seed elsewhere)."""
    from kvtui.cluster.datacenter import list_datacenters
    from kvtui.cluster.errors import KubeError, NotFound

    try:
        return await list_datacenters(session.connection)
    except NotFound:
        return []
    except (KubeError, LookupError) as exc:
        print(f"kvtui: note: KKP datacenters not read: {exc}", file=sys.stderr)
        return []


async def _list(args: argparse.Namespace) -> int:
    from kvtui.cluster.errors import KubeError
    from kvtui.cluster.instancetypes import entries, list_templates, list_vms

    session = await _open(args)
    try:
        try:
            catalog = await list_templates(session.connection)
            vms = await list_vms(session.connection) if catalog.version else []
        except KubeError as exc:
            raise CommandError(f"cannot list instance types: {exc}", code=1) from None
        datacenters = await _datacenters(session) if catalog.version else []
    finally:
        await session.close()
    if catalog.version is None:
        raise CommandError(
            f"context {session.context} serves no instancetype.kubevirt.io API", code=1
        )
    for problem in catalog.unreadable:
        print(f"kvtui: note: {problem}", file=sys.stderr)
    rows = entries(catalog.templates, vms, datacenters)
    if args.namespace:
        rows = [
            e for e in rows if e.template.cluster_scoped or e.template.namespace == args.namespace
        ]
    if args.output == "json":
        data = [_entry_json(e) for e in rows]
        print(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
        return 0
    if not rows:
        print(f"No instance types or preferences on context {session.context}.")
        return 0
    header = ["KIND", "SCOPE", "NAME", "VCPUS", "MEMORY", "DETAILS", "KKP", "VMS"]
    print(_table(header, [_entry_row(e) for e in rows]))
    return 0


def _kkp_mark(entry: Any) -> str:
    if not entry.standard:
        return "-"
    return f"{entry.standard} (disabled)" if entry.kkp_disabled else entry.standard


def _entry_row(entry: Any) -> list[str]:
    t = entry.template
    name = t.name if t.cluster_scoped else f"{t.namespace}/{t.name}"
    if t.is_preference:
        details = f"topology {t.topology}"
    else:
        details = ", ".join(
            part
            for part in (
                "dedicated CPUs" if t.dedicated_cpu else "",
                f"hugepages {t.hugepages}" if t.hugepages else "",
            )
            if part
        )
    return [
        "preference" if t.is_preference else "instancetype",
        t.scope,
        name,
        "-" if t.vcpus is None else str(t.vcpus),
        t.memory or "-",
        details or "-",
        _kkp_mark(entry),
        str(len(entry.users)),
    ]


def _entry_json(entry: Any) -> dict[str, Any]:
    t = entry.template
    return {
        "kind": t.kind,
        "apiVersion": t.api_version,
        "scope": t.scope,
        "namespace": "" if t.cluster_scoped else t.namespace,
        "name": t.name,
        "vcpus": t.vcpus,
        "memory": t.memory or None,
        "dedicatedCPUPlacement": t.dedicated_cpu,
        "preferredCPUTopology": t.topology or None,
        "kkpStandard": entry.standard or None,
        "kkpDisabled": entry.kkp_disabled,
        "usedBy": len(entry.users),
        "vms": [f"{ns}/{name}" for ns, name in entry.users],
    }


# -- create --------------------------------------------------------------------------------
def _fail_on_findings(findings: list[Any], what: str) -> None:
    """Print every finding; any error stops the command (exit 1) before anything is sent."""
    from kvtui.cluster.findings import errors

    for finding in findings:
        print(f"{what}: {finding}")
    problems = errors(findings)
    if problems:
        raise CommandError(f"{what}: {problems[0].path}: {problems[0].message}", code=1)


async def _create(args: argparse.Namespace) -> int:
    from kvtui.cluster.instancetype_edit import InstancetypeForm, validate

    form = InstancetypeForm(
        name=args.name,
        namespace=args.namespace or "",
        cpus=args.cpus,
        memory=args.memory,
        dedicated_cpu=args.dedicated_cpus,
    )
    _fail_on_findings(validate(form), args.name)  # before any connection: nothing is sent
    session = await _open(args)
    try:
        return await _create_on(args, session, form)
    finally:
        await session.close()


async def _create_on(args: argparse.Namespace, session: Any, form: Any) -> int:
    from kvtui.cluster.datacenter_apply import block_yaml
    from kvtui.cluster.errors import KubeError, NotFound
    from kvtui.cluster.instancetype_edit import build, create_template, validate
    from kvtui.cluster.instancetypes import kind_at, served_version

    conn = session.connection
    try:
        version = await served_version(conn)
    except KubeError as exc:
        raise CommandError(f"cannot read the instancetype API: {exc}", code=1) from None
    if version is None:
        raise CommandError(
            f"context {session.context} serves no instancetype.kubevirt.io API", code=1
        )
    obj = build(form, version=version)
    kind = kind_at(obj["kind"], version)
    try:
        await conn.get_json(kind.path(form.namespace or None, form.name))
        taken = [form.name]
    except NotFound:
        taken = []
    except KubeError as exc:
        raise CommandError(f"cannot read {kind.plural}/{form.name}: {exc}", code=1) from None
    _fail_on_findings(validate(form, version=version, taken=taken), args.name)
    where = f"{kind.name.lower()}/{form.name}" + (f" in {form.namespace}" if form.namespace else "")
    print(f"Create {where} on context {session.context}:")
    sys.stdout.write(block_yaml(obj))
    refuse_unless_writable(session)
    if not args.yes and not args.dry_run:
        question = f"Create {where} (context {session.context})? [y/N] "
        if not await confirmed(question, "create"):
            return 1
    try:
        await create_template(conn, obj, dry_run=args.dry_run, record=session.record)
    except KubeError as exc:
        raise CommandError(f"cannot create {where}: {exc}", code=1) from None
    if args.dry_run:
        print(f"Dry run: the server accepts {where}; nothing was created.")
    else:
        print(f"{where} created on context {session.context}.")
    return 0


# -- delete --------------------------------------------------------------------------------
async def _delete(args: argparse.Namespace) -> int:
    session = await _open(args)
    try:
        return await _delete_on(args, session)
    finally:
        await session.close()


async def _delete_on(args: argparse.Namespace, session: Any) -> int:
    from kvtui.cluster.errors import KubeError, NotFound
    from kvtui.cluster.instancetype_edit import delete_template, plan_delete
    from kvtui.cluster.instancetypes import (
        CLUSTER_INSTANCETYPE,
        INSTANCETYPE,
        Template,
        kind_at,
        served_version,
    )

    conn = session.connection
    namespace = args.namespace or ""
    try:
        version = await served_version(conn)
        if version is None:
            raise CommandError(
                f"context {session.context} serves no instancetype.kubevirt.io API", code=1
            )
        kind = kind_at(INSTANCETYPE if namespace else CLUSTER_INSTANCETYPE, version)
        where = f"{kind.name.lower()}/{args.name}" + (f" in {namespace}" if namespace else "")
        try:
            raw = await conn.get_json(kind.path(namespace or None, args.name))
        except NotFound:
            raise CommandError(f"{where} not found on context {session.context}", code=1) from None
        raw.setdefault("kind", kind.name)
        raw.setdefault("apiVersion", kind.api_version)
        template = Template(raw)
        plan = await plan_delete(conn, template)
    except KubeError as exc:
        raise CommandError(f"cannot read {args.name}: {exc}", code=1) from None
    if plan.users:
        print(f"{where} is used by {len(plan.users)} VM(s); a VM without its copy cannot start:")
        for ns, name in plan.users:
            print(f"  {ns}/{name}")
    refuse_unless_writable(session)
    if not args.dry_run:
        if plan.users and args.yes and not args.force:
            raise CommandError(
                f"{where} is in use by {len(plan.users)} VM(s): refusing (add --force)", code=1
            )
        if not args.yes:
            if not interactive():
                raise CommandError("no terminal to confirm on: pass --yes to delete", code=2)
            if plan.users:
                answer = await asyncio.to_thread(
                    ask, f"Type {plan.confirmation} to delete {where} (context {session.context}): "
                )
                ok = answer == plan.confirmation.lower()
            else:
                answer = await asyncio.to_thread(
                    ask, f"Delete {where} (context {session.context})? [y/N] "
                )
                ok = answer in ("y", "yes")
            if not ok:
                print("Nothing changed.")
                return 1
    try:
        await delete_template(conn, template, dry_run=args.dry_run, record=session.record)
    except KubeError as exc:
        raise CommandError(f"cannot delete {where}: {exc}", code=1) from None
    if args.dry_run:
        print(f"Dry run: the server accepts deleting {where}; nothing was deleted.")
    else:
        print(f"{where} deleted on context {session.context}.")
    return 0

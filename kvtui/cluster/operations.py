"""The changes kvtui can make: cordon and uncordon a node; start, stop, restart, migrate a VM.

Each goes through `Connection.request`, so a refusal arrives as a readable `KubeError`, and
each takes `dry_run`: the server validates and admits the change but keeps nothing.
"""

from __future__ import annotations

from kvtui.cluster import kinds
from kvtui.cluster.connection import Connection

STRATEGIC_MERGE = "application/strategic-merge-patch+json"


async def _set_unschedulable(
    conn: Connection, node: str, value: bool | None, dry_run: bool
) -> dict:
    return await conn.request(
        "PATCH",
        kinds.NODES.path(name=node),
        body={"spec": {"unschedulable": value}},
        content_type=STRATEGIC_MERGE,
        dry_run=dry_run,
    )


async def cordon(conn: Connection, node: str, dry_run: bool = False) -> dict | None:
    """Mark a node unschedulable (what `kubectl cordon` does); returns the node."""
    return await _set_unschedulable(conn, node, True, dry_run)


async def uncordon(conn: Connection, node: str, dry_run: bool = False) -> dict | None:
    """Let pods schedule on a node again; removes the field as `kubectl uncordon` does."""
    return await _set_unschedulable(conn, node, None, dry_run)


async def _vm_action(
    conn: Connection, namespace: str, name: str, action: str, dry_run: bool
) -> dict | None:
    # KubeVirt reads dry-run from the options body; the query parameter covers the apiserver.
    answer = await conn.request(
        "PUT",
        kinds.VM_SUBRESOURCES.path(namespace, name, action),
        body={"dryRun": ["All"]} if dry_run else {},
        dry_run=dry_run,
    )
    return answer or None


async def vm_start(
    conn: Connection, namespace: str, name: str, dry_run: bool = False
) -> dict | None:
    """Start a stopped VM (virtctl start)."""
    return await _vm_action(conn, namespace, name, "start", dry_run)


async def vm_stop(
    conn: Connection, namespace: str, name: str, dry_run: bool = False
) -> dict | None:
    """Stop a VM gracefully (virtctl stop): its VMI shuts down, the VM stays."""
    return await _vm_action(conn, namespace, name, "stop", dry_run)


async def vm_restart(
    conn: Connection, namespace: str, name: str, dry_run: bool = False
) -> dict | None:
    """Restart a running VM (virtctl restart): a new VMI, possibly on another node."""
    return await _vm_action(conn, namespace, name, "restart", dry_run)


async def vm_migrate(
    conn: Connection, namespace: str, name: str, dry_run: bool = False
) -> dict | None:
    """Live-migrate a VM (virtctl migrate): KubeVirt creates the VirtualMachineInstanceMigration."""
    return await _vm_action(conn, namespace, name, "migrate", dry_run)

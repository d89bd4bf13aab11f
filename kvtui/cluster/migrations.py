"""Live migrations an admin starts or stops: migrate a VMI (optionally to a chosen node) and
cancel one in flight.

Both write VirtualMachineInstanceMigration objects the way `virtctl` does: migrating creates
one, cancelling deletes it (KubeVirt aborts a migration whose VMIM goes away). Both check the
VMI or VMIM first, so a change that cannot work is refused with a reason instead of leaving an
object behind that fails or hangs.
"""

from __future__ import annotations

from collections.abc import Iterable

from kvtui.cluster import kinds
from kvtui.cluster.connection import Connection
from kvtui.cluster.errors import Conflict, KubeError
from kvtui.cluster.views import Migration, Node, Vmi

GENERATE_NAME = "kubevirt-migrate-vm-"  # what virtctl migrate names its VMIMs
HOSTNAME_LABEL = "kubernetes.io/hostname"
CONFLICT_RETRIES = 5


class MigrationRefused(KubeError):
    """kvtui refuses before asking the server: the migration cannot do what was asked."""

    label = "refused"


def migration_targets(nodes: Iterable[Node]) -> list[str]:
    """Names of the nodes a migration may be sent to: Ready, not cordoned, able to run VMs."""
    return sorted(
        node.name
        for node in nodes
        if node.ready is True and not node.unschedulable and node.kvm_capable
    )


def _vmim_resource(namespace: str, name: str) -> str:
    return f'virtualmachineinstancemigrations "{namespace}/{name}"'


async def migrate_vmi(
    conn: Connection,
    namespace: str,
    vmi_name: str,
    target_node: str | None = None,
    dry_run: bool = False,
) -> dict:
    """Start a live migration of a running VMI; with `target_node`, only to that node.

    The node goes into `spec.addedNodeSelector`, which KubeVirt merges into the target pod's
    node selector (it can narrow the VMI's own placement rules, never override them).
    """
    vmi = Vmi(await conn.get_json(kinds.VMIS.path(namespace, vmi_name)))
    resource = f'virtualmachineinstances "{namespace}/{vmi_name}"'
    reason = ""
    if vmi.phase != "Running":
        reason = f"it is not running (phase {vmi.phase or 'unknown'})"
    elif vmi.live_migratable is False:
        why = vmi.not_migratable_message or vmi.not_migratable_reason
        reason = f"it is not live-migratable: {why}"
    elif target_node and vmi.node == target_node:
        reason = f"it already runs on {target_node}"
    if reason:
        raise MigrationRefused(reason, verb="migrate", resource=resource)
    spec: dict = {"vmiName": vmi_name}
    if target_node:
        spec["addedNodeSelector"] = {HOSTNAME_LABEL: target_node}
    body = {
        "apiVersion": kinds.VMIMS.api_version,
        "kind": kinds.VMIMS.name,
        "metadata": {"generateName": GENERATE_NAME, "namespace": namespace},
        "spec": spec,
    }
    return await conn.request("POST", kinds.VMIMS.path(namespace), body=body, dry_run=dry_run)


async def cancel_migration(
    conn: Connection, namespace: str, name: str, dry_run: bool = False
) -> dict:
    """Abort a migration in flight by deleting its VMIM (what `virtctl migrate-cancel` does).

    The delete carries the resourceVersion that was checked, so a migration that ends between
    the check and the delete is looked at again rather than deleted as history.
    """
    path = kinds.VMIMS.path(namespace, name)
    for attempt in range(CONFLICT_RETRIES):
        migration = Migration(await conn.get_json(path))
        if migration.final:
            raise MigrationRefused(
                f"it has already ended ({migration.phase}); only a migration in flight can be "
                "cancelled",
                verb="cancel",
                resource=_vmim_resource(namespace, name),
            )
        options = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "preconditions": {"resourceVersion": migration.metadata.get("resourceVersion")},
        }
        try:
            return await conn.request("DELETE", path, body=options, dry_run=dry_run)
        except Conflict:
            if attempt == CONFLICT_RETRIES - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover

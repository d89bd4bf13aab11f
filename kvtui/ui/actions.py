"""The one registry of actions: every key the app knows, whether it changes the cluster, where
it applies, and the RBAC check behind it.

Screens build their bindings from here and ask `Safety` whether an action may show: in
read-only mode a mutating action is absent everywhere (bindings, footer, help, palette); while
writes are not armed it shows greyed; a failed RBAC check disables it with the reason.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from textual.binding import Binding

ARM_SECONDS_DEFAULT = 600.0


@dataclass(frozen=True)
class ActionSpec:
    """One action: `name` is the Textual action name (`action_<name>` on a screen or the app)."""

    name: str
    key: str
    label: str
    help: str
    scopes: frozenset[str] = frozenset({"*"})  # pane names, or "*" for everywhere
    mutates: bool = False
    bulk: bool = False  # applies to every marked row
    # (verb, group, resource, subresource) for a SelfSubjectAccessReview.
    rbac: tuple[str, str, str, str] | None = None
    show: bool = True  # in the footer
    key_display: str | None = None
    # Checked in the app's own key order, before keys are routed to the focused widget: the
    # prompt openers need it so that keys typed or pasted right after them reach the prompt.
    priority: bool = False

    def applies_to(self, scope: str) -> bool:
        return "*" in self.scopes or scope in self.scopes


NODES = frozenset({"nodes"})
DRAIN = frozenset({"drain"})
VMS = frozenset({"vms"})
MIGRATIONS = frozenset({"migrations"})
DATACENTER = frozenset({"datacenter"})
PRESETS = frozenset({"presets"})
INSTANCETYPES = frozenset({"instancetypes"})
NETPOLS = frozenset({"netpols"})
NETPOL_EXPLAIN = frozenset({"netpol_explain"})
HEALTH = frozenset({"health"})
HEALTH_DETAIL = frozenset({"health_detail"})
METRICS = frozenset({"metrics"})
TABLES = frozenset({"nodes", "vms", "migrations", "instancetypes", "netpols", "metrics"})

ACTIONS: tuple[ActionSpec, ...] = (
    # navigation and views (read-only)
    ActionSpec(
        "command",
        "colon",
        "Command",
        "Command line: :nodes, :vms, :migrations, :it, :np, :health, :ctx, :q",
        key_display=":",
        priority=True,
    ),
    ActionSpec(
        "filter",
        "slash",
        "Filter",
        "Filter rows: regex, !regex (inverse), -l key=value (labels)",
        scopes=TABLES,
        key_display="/",
        priority=True,
    ),
    ActionSpec("help", "question_mark", "Help", "Every key binding", key_display="?"),
    ActionSpec(
        "drill",
        "enter",
        "Open",
        "Nodes: the VMIs on the node; VMs: VM health; migrations: describe; "
        "instance types: the VMs using it; network policies: rules and YAML; "
        "health: the check's evidence and fix",
        scopes=TABLES | HEALTH,
    ),
    ActionSpec(
        "describe",
        "d",
        "Describe",
        "Describe the object (status, conditions, events)",
        scopes=TABLES,
    ),
    ActionSpec("yaml", "y", "YAML", "The object as YAML, fetched fresh", scopes=TABLES),
    ActionSpec(
        "mark",
        "space",
        "Mark",
        "Mark or unmark the row for bulk actions",
        scopes=TABLES,
        key_display="space",
    ),
    ActionSpec(
        "sort_name", "N", "Sort name", "Sort by name (again: reverse)", scopes=TABLES, show=False
    ),
    ActionSpec(
        "sort_age", "A", "Sort age", "Sort by age (again: reverse)", scopes=TABLES, show=False
    ),
    ActionSpec(
        "sort_prev",
        "less_than_sign",
        "Sort ←",
        "Sort by the column to the left",
        scopes=TABLES,
        show=False,
        key_display="<",
    ),
    ActionSpec(
        "sort_next",
        "greater_than_sign",
        "Sort →",
        "Sort by the column to the right",
        scopes=TABLES,
        show=False,
        key_display=">",
    ),
    ActionSpec(
        "arm",
        "W",
        "Arm writes",
        "Allow changes to the cluster for a limited time (again: disarm)",
        mutates=True,
    ),
    ActionSpec(
        "drain",
        "D",
        "Drain…",
        "Drain the node: the pre-flight plan first (read-only), then start, follow, cancel",
        scopes=NODES,
    ),
    ActionSpec(
        "drain_emptydir",
        "E",
        "emptyDir ok",
        "Drain plan: allow evicting pods with emptyDir data (--delete-emptydir-data)",
        scopes=DRAIN,
    ),
    ActionSpec(
        "dc_edit",
        "e",
        "Edit",
        "Datacenter: edit the kubevirt block in the form or as YAML (escape leaves it)",
        scopes=DATACENTER,
    ),
    ActionSpec(
        "dc_mode",
        "Y",
        "Form/YAML",
        "Datacenter: switch between the form and the YAML of the block, keeping the edit",
        scopes=DATACENTER,
    ),
    ActionSpec(
        "dc_export",
        "O",
        "Export",
        "Datacenter: write the edited block to a file (0600)",
        scopes=DATACENTER,
    ),
    ActionSpec(
        "dc_import",
        "I",
        "Import",
        "Datacenter: read a block from a file into the editor (the edit so far is saved first)",
        scopes=DATACENTER,
    ),
    ActionSpec(
        "dc_diff",
        "F",
        "Diff",
        "Datacenter: the edit against the live block, and whom it reaches (again: hide)",
        scopes=DATACENTER,
    ),
    ActionSpec(
        "dc_next", "n", "Next DC", "Datacenter: the next KubeVirt datacenter", scopes=DATACENTER
    ),
    ActionSpec(
        "dc_prev",
        "p",
        "Prev DC",
        "Datacenter: the previous KubeVirt datacenter",
        scopes=DATACENTER,
    ),
    ActionSpec(
        "netpol_reach",
        "r",
        "Reach…",
        "Network policies: can X reach Y on a port, and which rule decides (the explainer)",
        scopes=NETPOLS,
    ),
    ActionSpec(
        "netpol_fix",
        "f",
        "Fix in DC…",
        "Explainer: open the proposed custom policy in the datacenter editor (review, then P)",
        scopes=NETPOL_EXPLAIN,
    ),
    ActionSpec(
        "preset_new",
        "ctrl+n",
        "New",
        "Presets: a new scheduling preset (saved with ctrl+s)",
        scopes=PRESETS,
        key_display="^n",
    ),
    ActionSpec(
        "preset_save",
        "ctrl+s",
        "Save",
        "Presets: save the edited preset to the config file",
        scopes=PRESETS,
        key_display="^s",
    ),
    ActionSpec(
        "preset_delete",
        "Z",
        "Delete",
        "Presets: remove the chosen preset from the config file",
        scopes=PRESETS,
    ),
    ActionSpec(
        "health_failures",
        "exclamation_mark",
        "Failures",
        "Health: show only the failing checks (again: every check)",
        scopes=HEALTH,
        key_display="!",
    ),
    ActionSpec(
        "health_rerun",
        "ctrl+r",
        "Re-run",
        "Health: run the doctor again (on a check's detail: that check)",
        scopes=HEALTH | HEALTH_DETAIL,
        key_display="^r",
    ),
    ActionSpec(
        "metrics_view",
        "v",
        "VMs/Nodes",
        "Metrics: switch the table between the hottest VMs and the nodes",
        scopes=METRICS,
    ),
    ActionSpec(
        "metrics_range",
        "z",
        "Range",
        "Metrics: the sparklines' time range (5m, 15m, 1h, 6h)",
        scopes=METRICS,
    ),
    # changes to the cluster
    ActionSpec(
        "preset_apply",
        "L",
        "Apply…",
        "Presets: apply the preset to the target MachineDeployment or its VMs (diff, dry run)",
        scopes=PRESETS,
        mutates=True,
        rbac=("patch", "cluster.k8s.io", "machinedeployments", ""),
    ),
    ActionSpec(
        "preset_migrate",
        "T",
        "Migrate VMs…",
        "Presets: live-migrate the running VMs the last apply changed, so they pick it up",
        scopes=PRESETS,
        mutates=True,
        rbac=("create", "kubevirt.io", "virtualmachineinstancemigrations", ""),
    ),
    ActionSpec(
        "drain_start",
        "S",
        "Start drain",
        "Cordon the node and evict its pods through the eviction API, following every VM",
        scopes=DRAIN,
        mutates=True,
        rbac=("create", "", "pods", "eviction"),
    ),
    ActionSpec(
        "drain_cancel",
        "C",
        "Cancel drain",
        "Stop evicting; optionally cancel in-flight migrations and uncordon",
        scopes=DRAIN,
        mutates=True,
        rbac=("delete", "kubevirt.io", "virtualmachineinstancemigrations", ""),
    ),
    ActionSpec(
        "dc_apply",
        "P",
        "Apply…",
        "Datacenter: patch the edited block onto the Seed (after a conflict: rebased first)",
        scopes=DATACENTER,
        mutates=True,
        rbac=("patch", "kubermatic.k8c.io", "seeds", ""),
    ),
    ActionSpec(
        "dc_undo",
        "U",
        "Undo apply",
        "Datacenter: put back the block the last apply here replaced",
        scopes=DATACENTER,
        mutates=True,
        rbac=("patch", "kubermatic.k8c.io", "seeds", ""),
    ),
    ActionSpec(
        "cordon",
        "c",
        "Cordon",
        "Mark the node(s) unschedulable",
        scopes=NODES,
        mutates=True,
        bulk=True,
        rbac=("patch", "", "nodes", ""),
    ),
    ActionSpec(
        "uncordon",
        "u",
        "Uncordon",
        "Mark the node(s) schedulable again (drain: a node a stuck migration could use)",
        scopes=NODES | DRAIN,
        mutates=True,
        bulk=True,
        rbac=("patch", "", "nodes", ""),
    ),
    ActionSpec(
        "vm_start",
        "t",
        "Start",
        "Start the VM(s)",
        scopes=VMS,
        mutates=True,
        bulk=True,
        rbac=("update", "subresources.kubevirt.io", "virtualmachines", "start"),
    ),
    ActionSpec(
        "vm_stop",
        "x",
        "Stop",
        "Stop the VM(s)",
        scopes=VMS,
        mutates=True,
        bulk=True,
        rbac=("update", "subresources.kubevirt.io", "virtualmachines", "stop"),
    ),
    ActionSpec(
        "vm_restart",
        "R",
        "Restart",
        "Restart the VM(s)",
        scopes=VMS,
        mutates=True,
        bulk=True,
        rbac=("update", "subresources.kubevirt.io", "virtualmachines", "restart"),
    ),
    ActionSpec(
        "vm_migrate",
        "m",
        "Migrate",
        "Live-migrate the VM(s) to another node",
        scopes=VMS,
        mutates=True,
        bulk=True,
        rbac=("update", "subresources.kubevirt.io", "virtualmachines", "migrate"),
    ),
    ActionSpec(
        "vm_migrate_to",
        "M",
        "Migrate to…",
        "Live-migrate the VM(s) to a node you pick (or any node)",
        scopes=VMS | DRAIN,
        mutates=True,
        bulk=True,
        rbac=("create", "kubevirt.io", "virtualmachineinstancemigrations", ""),
    ),
    ActionSpec(
        "it_new",
        "a",
        "New…",
        "Instance types: a new instance type or preference, from a form (cluster-wide unless "
        "a namespace is given)",
        scopes=INSTANCETYPES,
        mutates=True,
        rbac=("create", "instancetype.kubevirt.io", "virtualmachineclusterinstancetypes", ""),
    ),
    ActionSpec(
        "it_edit",
        "o",
        "Edit…",
        "Instance types: edit the one under the cursor in the form (only what changed is sent)",
        scopes=INSTANCETYPES,
        mutates=True,
        rbac=("patch", "instancetype.kubevirt.io", "virtualmachineclusterinstancetypes", ""),
    ),
    ActionSpec(
        "it_delete",
        "ctrl+d",
        "Delete…",
        "Instance types: delete the one under the cursor (one that VMs use: type its name)",
        scopes=INSTANCETYPES,
        mutates=True,
        rbac=("delete", "instancetype.kubevirt.io", "virtualmachineclusterinstancetypes", ""),
        key_display="^d",
    ),
    ActionSpec(
        "it_standard",
        "s",
        "Standard set…",
        "Instance types: install KKP's standard set (standard-2/4/8, sockets-advantage) in an "
        "infra namespace that lacks it",
        scopes=INSTANCETYPES,
        mutates=True,
        rbac=("create", "instancetype.kubevirt.io", "virtualmachineinstancetypes", ""),
    ),
    ActionSpec(
        "health_fix",
        "ctrl+f",
        "Fix…",
        "Health: apply the check's mechanical fix shown as a diff (dry run offered; then the "
        "check runs again)",
        scopes=HEALTH_DETAIL,
        mutates=True,
        # The objects differ per fix (Services, the KubeVirt or CDI CR): the detail screen
        # asks the server about exactly the ones its fix patches (`Fix.rbac`).
        rbac=None,
        key_display="^f",
    ),
    ActionSpec(
        "migration_cancel",
        "X",
        "Cancel migration",
        "Cancel the migration(s) in flight (the VM stays where it was)",
        scopes=MIGRATIONS | DRAIN,
        mutates=True,
        bulk=True,
        rbac=("delete", "kubevirt.io", "virtualmachineinstancemigrations", ""),
    ),
)

BY_NAME = {a.name: a for a in ACTIONS}
BY_KEY = {a.key: a for a in ACTIONS}  # keys are unique: see _unique_keys


# Keys the widgets keep for themselves: the table's first/last row, moving the focus.
RESERVED_KEYS = {
    "g": "the table's first row",
    "G": "the table's last row",
    "tab": "the next field",
    "shift+tab": "the previous field",
}


def _unique_keys() -> None:
    """No key may mean two things, whatever the pane (checked at import)."""
    seen: dict[str, str] = dict(RESERVED_KEYS)
    for action in ACTIONS:
        if action.key in seen:
            raise AssertionError(f"key {action.key!r} used by {seen[action.key]} and {action.name}")
        seen[action.key] = action.name


_unique_keys()


@dataclass
class Safety:
    """Read-only, armed-until and RBAC answers: the state every screen consults."""

    read_only: bool
    arm_seconds: float = ARM_SECONDS_DEFAULT
    armed_until: float = 0.0
    denied: dict[str, str] = field(default_factory=dict)  # action name -> reason

    def armed(self, now: float | None = None) -> bool:
        return not self.read_only and (now or time.monotonic()) < self.armed_until

    def remaining(self, now: float | None = None) -> float:
        return max(0.0, self.armed_until - (now or time.monotonic())) if not self.read_only else 0.0

    def arm(self) -> None:
        if not self.read_only:
            self.armed_until = time.monotonic() + self.arm_seconds

    def disarm(self) -> None:
        self.armed_until = 0.0

    def check(self, action: ActionSpec) -> bool | None:
        """Textual's check_action answer: True shown, None greyed, False absent."""
        if not action.mutates:
            return True
        if self.read_only:
            return False
        if action.name == "arm":
            return True
        if action.name in self.denied:
            return None
        return True if self.armed() else None

    def refusal(self, action: ActionSpec) -> str | None:
        """Why a greyed action does nothing; None when it is not greyed."""
        if self.check(action) is not None:
            return None
        return self.denied.get(action.name) or "writes are not armed (press W)"


def bindings(scope: str, read_only: bool) -> list[Binding]:
    """Bindings for a screen of `scope`; in read-only mode mutating keys do not exist at all."""
    out = []
    for action in ACTIONS:
        if not action.applies_to(scope) or (read_only and action.mutates):
            continue
        out.append(
            Binding(
                action.key,
                action.name,
                action.label,
                show=action.show,
                key_display=action.key_display,
                priority=action.priority,
            )
        )
    return out


def visible(scope: str, safety: Safety) -> Iterable[ActionSpec]:
    """The actions the help screen and palette list for a pane."""
    for action in ACTIONS:
        if action.applies_to(scope) and safety.check(action) is not False:
            yield action

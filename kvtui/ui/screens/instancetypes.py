"""The Instance types pane: cluster-wide and namespaced instance types and preferences, their
sizes and CPU placement, KKP's standard mark, the datacenters' policy, and the VMs using each.

Templates are read through the domain module (the cache does not watch them): when the pane
opens, every POLL_SECONDS while it is on top, after each change made here, and when a VM
starts or stops naming one. Creating, editing, deleting and installing KKP's standard set are
registry actions (absent in read-only mode), each confirmed with a dry run and audited.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.widgets import Static

from kvtui.cluster import kinds
from kvtui.cluster.cache import ChangeSet
from kvtui.cluster.connection import Connection
from kvtui.cluster.datacenter import Datacenter, list_datacenters
from kvtui.cluster.errors import KubeconfigError, KubeError
from kvtui.cluster.instancetype_edit import delete_template, install_standard_set, plan_delete
from kvtui.cluster.instancetypes import (
    Catalog,
    Entry,
    StandardPolicy,
    Template,
    TemplateKey,
    Usage,
    entries,
    kind_at,
    list_templates,
    list_vms,
    missing_standard,
    standard_gaps,
    standard_policies,
    standard_status,
    usage,
    vm_references,
)
from kvtui.cluster.presenters import Row
from kvtui.cluster.session import Session, Target
from kvtui.ui.actions import Safety
from kvtui.ui.instancetype_presenter import (
    COLUMNS,
    RIGHT,
    describe_key,
    gap_note,
    standard_detail,
    summary_markup,
    target,
    template_row,
)
from kvtui.ui.screens.confirm import Confirmation
from kvtui.ui.screens.instancetype_delete import TemplateDeleteScreen
from kvtui.ui.screens.instancetype_form import TemplateFormScreen
from kvtui.ui.screens.namespace_picker import NamespacePickerScreen
from kvtui.ui.screens.pane import PaneScreen
from kvtui.ui.widgets.resource_table import ColumnSpec

POLL_SECONDS = 30.0
STANDARD_QUESTION = (
    "Install KKP's standard set (standard-2/4/8, sockets-advantage) where it is missing: "
    "which infra namespace?"
)


class InstancetypesScreen(PaneScreen):
    scope = "instancetypes"
    pane_title = "Instance types"
    target_kind = "instancetype"
    columns = tuple(ColumnSpec(n, align="right" if n in RIGHT else "left") for n in COLUMNS)

    def __init__(self, session: Session, safety: Safety) -> None:
        super().__init__(session, safety)
        self.catalog: Catalog | None = None  # None until the first read
        self.datacenters: list[Datacenter] = []
        self.entries: dict[TemplateKey, Entry] = {}
        self.used: Usage | None = None
        self.gaps: dict[str, list[TemplateKey]] = {}
        self.seed_error = ""  # why the datacenters (and their disable flags) are unknown
        self.load_error = ""
        self.fingerprint: frozenset[Any] | None = None  # the VMs' references when last read
        self.focus_key: TemplateKey | None = None  # where the cursor goes after the next read

    def compose(self) -> ComposeResult:
        widgets = list(super().compose())
        widgets.insert(1, Static(summary_markup(None, [], None, [], {}), id="it-summary"))
        yield from widgets

    def on_mount(self) -> None:
        # PaneScreen's own on_mount runs too (Textual calls each class's handler).
        self.load()
        self.set_interval(POLL_SECONDS, self.poll)

    # -- reading ----------------------------------------------------------------------------
    @work(exclusive=True, group="it-load")
    async def load(self) -> None:
        """Templates, the VMs' references and the datacenters; a Seed we may not read (or
        none at all) leaves only the datacenters' policy unknown."""
        connection = self.session.connection
        try:
            catalog = await list_templates(connection)
            vms = await list_vms(connection) if catalog.version else []
        except KubeError as exc:
            self.load_error = str(exc)
            self.reload()
            return
        try:
            seed = await self.seed_connection()
            datacenters, seed_error = await list_datacenters(seed), ""
        except (KubeError, KubeconfigError) as exc:
            datacenters, seed_error = [], str(exc)
        self.load_error, self.seed_error = "", seed_error
        self.catalog, self.datacenters = catalog, datacenters
        rows = entries(catalog.templates, vms, datacenters)
        self.entries = {e.template.template_key: e for e in rows}
        self.used = usage(catalog.templates, vms)
        self.gaps = standard_gaps(catalog.templates, datacenters)
        self.fingerprint = self.vm_fingerprint()
        self.reload()
        if self.focus_key is not None:
            self.table.move_cursor(self.focus_key)
            self.focus_key = None

    async def seed_connection(self) -> Connection:
        """Where the Seeds are: the app's seed session (`--seed-context`), else ours."""
        opener = getattr(self.app, "seed_session", None)
        return (await opener()).connection if opener is not None else self.session.connection

    def poll(self) -> None:
        if self.is_current:
            self.load()

    def on_screen_resume(self) -> None:
        """Back on top (from another pane, a drill-down, a dialog): read again."""
        if self.catalog is not None:
            self.load()

    def vm_fingerprint(self) -> frozenset[Any]:
        """Which VM names which template, as the cache has it: a change means new counts."""
        return frozenset(
            (
                (vm.get("metadata") or {}).get("namespace"),
                (vm.get("metadata") or {}).get("name"),
                tuple(vm_references(vm)),
            )
            for vm in self.session.cache.items(kinds.VMS)
        )

    def apply_changes(self, changes: ChangeSet) -> None:
        """VM changes matter only when they change who uses what: then read again."""
        touched = self.catalog is not None and changes.keys(kinds.VMS)
        if touched and self.vm_fingerprint() != self.fingerprint:
            self.load()

    def build_rows(self) -> list[Row]:
        now = self.app.clock()  # type: ignore[attr-defined]
        self.labels = {key: e.template.labels for key, e in self.entries.items()}
        return [template_row(entry, now) for entry in self.entries.values()]

    def reload(self) -> None:
        super().reload()
        self.table.empty_message = self.empty_message()
        self.query_one("#it-summary", Static).update(
            summary_markup(
                self.catalog,
                list(self.entries.values()),
                self.used,
                self.datacenters,
                self.gaps,
                seed_error=self.seed_error,
                load_error=self.load_error,
            )
        )

    def empty_message(self) -> str:
        if self.load_error:
            return "Cannot read the instance types (see above)"
        if self.catalog is None:
            return "Loading…"
        if self.catalog.version is None:
            return "This cluster has no instance types API"
        return "No rows match the filter" if self.row_filter else "No instance types"

    # -- rows and targets -------------------------------------------------------------------
    def entry_at_cursor(self) -> Entry | None:
        key = self.table.cursor_key
        return self.entries.get(key) if key is not None else None  # type: ignore[arg-type]

    def target_for(self, key: Hashable) -> Target:
        return target(key)  # type: ignore[arg-type]

    def object_at_cursor(self) -> tuple[kinds.Kind, str | None, str] | None:
        entry = self.entry_at_cursor()
        if entry is None or self.catalog is None or self.catalog.version is None:
            return None
        key = entry.template.template_key
        return kind_at(key.kind, self.catalog.version), key.namespace or None, key.name

    def offered(self, action: str) -> bool:
        return action != "mark" and super().offered(action)  # nothing here acts on marks

    def action_drill(self) -> None:
        """The VMs that use the template under the cursor."""
        entry = self.entry_at_cursor()
        if entry is None:
            return
        what = describe_key(entry.template.template_key)
        if not entry.users:
            self.notify(f"No VM uses {what}.", markup=False)
            return
        from kvtui.ui.screens.instancetype_users import TemplateUsersScreen

        self.app.push_screen(TemplateUsersScreen(self.session, self.safety, what, entry.users))

    def readable(self) -> str | None:
        """The served API version; None (said why) while there is nothing to write to."""
        if self.catalog is None:
            self.notify("Still reading the instance types…", severity="warning")
            return None
        if self.catalog.version is None:
            self.notify("This cluster serves no instancetype.kubevirt.io API.", severity="error")
            return None
        return self.catalog.version

    # -- create and edit --------------------------------------------------------------------
    def action_it_new(self) -> None:
        entry = self.entry_at_cursor()
        self.open_form(None, preference=entry is not None and entry.template.is_preference)

    def action_it_edit(self) -> None:
        entry = self.entry_at_cursor()
        if entry is not None and self.readable():
            self.edit(entry.template)

    async def read_again(self, template: Template) -> Template:
        """The object as it is now: its resourceVersion guards an edit, its uid a delete."""
        key = template.template_key
        version = template.api_version.rpartition("/")[2] or self.readable() or ""
        raw = await self.session.fetch(kind_at(key.kind, version), key.namespace or None, key.name)
        return Template(raw)

    @work(exclusive=True, group="it-fetch")
    async def edit(self, template: Template) -> None:
        """The form on the object as it is now."""
        try:
            fresh = await self.read_again(template)
        except KubeError as exc:
            what = describe_key(template.template_key)
            self.notify(f"Edit {what}: {exc}", severity="error", markup=False)
            return
        self.open_form(fresh)

    def open_form(self, live: Template | None, *, preference: bool = False) -> None:
        version = self.readable()
        if version is None:
            return

        def saved(stored: dict | None) -> None:
            if stored:
                key = Template(stored).template_key
                verb = "Created" if live is None else "Saved"
                self.notify(f"{verb} {describe_key(key)}.", markup=False)
                self.focus_key = key
                self.load()

        form = TemplateFormScreen(
            self.session,
            version=version,
            existing=list(self.entries),
            live=live,
            preference=preference,
        )
        self.app.push_screen(form, saved)

    # -- delete -----------------------------------------------------------------------------
    def action_it_delete(self) -> None:
        entry = self.entry_at_cursor()
        if entry is not None and self.readable():
            self.ask_delete(entry.template)

    @work(exclusive=True, group="it-delete")
    async def ask_delete(self, template: Template) -> None:
        """Read the object and its users now; a used one takes its name typed first."""
        key = template.template_key
        what = describe_key(key)
        try:
            fresh = await self.read_again(template)
            plan = await plan_delete(self.session.connection, fresh)
        except KubeError as exc:
            self.notify(f"Delete {what}: {exc}", severity="error", markup=False)
            return
        if plan.users:
            screen = TemplateDeleteScreen(plan, what, self.session.context)
            if not await self.app.push_screen(screen, wait_for_dismiss=True):
                return
        count = len(plan.users)
        used = f"{count} VM{'s' if count != 1 else ''} use{'s' if count == 1 else ''} it"
        standard = "; one of KKP's standard set" if standard_status(fresh) else ""
        detail = f"({used if count else 'no VM uses it'}{standard})"

        def answered(choice: str | None) -> None:
            if choice in ("apply", "dry-run"):
                self.delete(fresh, choice == "dry-run")

        self.app.confirm(  # type: ignore[attr-defined]
            Confirmation("it_delete", self.session.context, [target(key)], "Delete", detail),
            answered,
        )

    @work(group="it-write")
    async def delete(self, template: Template, dry_run: bool) -> None:
        what = describe_key(template.template_key)
        try:
            await delete_template(
                self.session.connection, template, dry_run=dry_run, record=self.session.record
            )
        except KubeError as exc:
            self.notify(f"Delete {what}: {exc}", severity="error", timeout=12, markup=False)
            return
        if dry_run:
            self.notify(f"Dry run: {what} would be deleted; nothing changed.", markup=False)
            return
        self.notify(f"Deleted {what}.", markup=False)
        self.load()

    # -- KKP's standard set -----------------------------------------------------------------
    def action_it_standard(self) -> None:
        """Pick an infra namespace (those of KKP's user clusters that lack some of the set
        come first), then confirm exactly what will be created there."""
        if self.readable() is None:
            return
        policies = standard_policies(self.datacenters)
        suggestions = [(ns, gap_note(keys, policies.get(ns))) for ns, keys in self.gaps.items()]
        if self.seed_error:
            empty = f"The datacenters are unknown ({self.seed_error}): type the namespace."
        else:
            empty = "Every KKP user cluster's infra namespace has the standard set."

        def chosen(namespace: str | None) -> None:
            if namespace:
                self.confirm_standard(namespace, policies.get(namespace))

        self.app.push_screen(NamespacePickerScreen(STANDARD_QUESTION, suggestions, empty), chosen)

    def confirm_standard(self, namespace: str, policy: StandardPolicy | None) -> None:
        assert self.catalog is not None
        missing = missing_standard(namespace, self.catalog.templates, policy)
        if not missing:
            self.notify(
                f"{namespace} has KKP's standard set (all its datacenter allows): nothing to do.",
                markup=False,
            )
            return

        def answered(choice: str | None) -> None:
            if choice in ("apply", "dry-run"):
                self.install(namespace, policy, choice == "dry-run")

        self.app.confirm(  # type: ignore[attr-defined]
            Confirmation(
                "it_standard",
                self.session.context,
                [target(key) for key in missing],
                "Create",
                standard_detail(namespace, policy),
            ),
            answered,
        )

    @work(group="it-write")
    async def install(self, namespace: str, policy: StandardPolicy | None, dry_run: bool) -> None:
        try:
            created = await install_standard_set(
                self.session.connection,
                namespace,
                dry_run=dry_run,
                record=self.session.record,
                instancetypes=policy is None or not policy.instancetypes_disabled,
                preferences=policy is None or not policy.preferences_disabled,
            )
        except (KubeError, LookupError) as exc:
            self.notify(
                f"Standard set in {namespace}: {exc}", severity="error", timeout=12, markup=False
            )
            return
        names = ", ".join(key.name for key in created) or "nothing (it is there already)"
        if dry_run:
            self.notify(
                f"Dry run: would create {names} in {namespace}; nothing changed.", markup=False
            )
            return
        self.notify(f"Created {names} in {namespace}.", markup=False)
        self.load()

"""The scheduling presets screen: presets from the config file, an editor that offers the
labels the nodes carry, a live placement preview, and apply to a MachineDeployment or to its
VMs directly.

The preview runs on the session's cache (nodes and pods) with the scheduler's rules and sends
nothing. Applying goes through the registry (confirmation naming the context and every target,
dry run, audit) and shows the diff first; running VMs pick the change up only on their next
restart or migration, which `T` offers to do now. Presets are saved to the config file only
with ctrl+s. Inside a field, letters are typing (or a select's search): escape leaves the
field for the list, where the screen's keys work.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.markup import escape
from textual.timer import Timer
from textual.widgets import Footer, Input, Label, OptionList, Select, Static

from kvtui.cluster import kinds
from kvtui.cluster.config import ConfigError, save_presets
from kvtui.cluster.errors import KubeError
from kvtui.cluster.findings import Finding
from kvtui.cluster.preset_apply import (
    MACHINE_DEPLOYMENTS,
    PresetChange,
    apply_preset,
    machine_deployment_vms,
    plan_machine_deployment,
    plan_vms,
)
from kvtui.cluster.preset_preview import (
    ExistingVms,
    NewReplicas,
    ReplicaSize,
    Target,
    machine_deployment_pods,
    preview_placement,
)
from kvtui.cluster.presets import (
    Preset,
    check_against_nodes,
    label_catalogue,
    parse_preset,
)
from kvtui.cluster.session import Session
from kvtui.cluster.session import Target as ObjectTarget
from kvtui.cluster.views import Pod
from kvtui.ui.actions import Safety
from kvtui.ui.preset_presenter import changes_markup, preview_markup, result_markup
from kvtui.ui.screens.action_screen import ActionScreen
from kvtui.ui.screens.confirm import Confirmation
from kvtui.ui.screens.unsaved_edit import UnsavedEditScreen, ask_before_dropping
from kvtui.ui.widgets.preset_editor import PresetEditor
from kvtui.ui.widgets.status_header import StatusHeader

PREVIEW_AFTER = 0.3  # seconds of quiet editing before the preview is computed again
DEFAULT_SIZE = ReplicaSize(cpu_m=2000, memory=8 * 2**30)  # standard-2, when no VM shows one


@dataclasses.dataclass(frozen=True)
class MachineDeployment:
    namespace: str
    name: str
    replicas: int

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


class PresetsScreen(ActionScreen):
    scope = "presets"

    def __init__(self, session: Session, safety: Safety) -> None:
        super().__init__(session, safety)
        self.presets: list[Preset] = list(session.config.presets)
        self.index = 0 if self.presets else -1
        self.findings: list[Finding] = []
        self.preset: Preset | None = None  # the edited preset when it parses
        self.machine_deployments: list[MachineDeployment] = []
        self.target: tuple[str, str] | None = None  # ("md" | "vms", namespace/name)
        self.replicas = 1
        self.pending_restart: list[tuple[str, str]] = []  # VMs to migrate after an apply
        self._timer: Timer | None = None
        self.loaded: dict[str, Any] = {}  # the edited preset as it was loaded or last saved

    def compose(self) -> ComposeResult:
        yield StatusHeader(self.session, self.safety, "Presets")
        with Horizontal(id="presets-body"):
            with Vertical(id="presets-left"):
                yield Label("[b]Presets[/b] [dim](config file)[/]")
                yield OptionList(id="presets-list")
            yield PresetEditor(id="preset-editor")
            with VerticalScroll(id="presets-right"):
                with Horizontal(classes="form-row"):
                    yield Select(
                        [], prompt="target: a MachineDeployment", id="preset-target", compact=True
                    )
                    yield Label("new VMs", classes="preset-small-label")
                    yield Input("1", id="preset-replicas", classes="preset-skew", compact=True)
                yield Static("", id="preset-preview")
                yield Static("", id="preset-result")
        yield Footer()

    @property
    def editor(self) -> PresetEditor:
        return self.query_one(PresetEditor)

    async def on_mount(self) -> None:
        self.fill_list()
        await self.edit(self.presets[0].to_dict() if self.presets else _new_preset(self.presets))
        self.load_targets()

    # -- the list and the editor ------------------------------------------------------------
    def fill_list(self) -> None:
        options = self.query_one("#presets-list", OptionList)
        options.clear_options()
        for preset in self.presets:
            rules = len(preset.spread) + (preset.affinity is not None)
            options.add_option(f"{preset.name} [dim]({rules} rule{'s' if rules != 1 else ''})[/]")
        if 0 <= self.index < len(self.presets):
            options.highlighted = self.index

    async def edit(self, raw: dict[str, Any]) -> None:
        await self.editor.load(raw, label_catalogue(self.session.cache.items(kinds.NODES)))
        self.loaded = copy.deepcopy(self.editor.raw)
        self.check_now()

    @property
    def unsaved(self) -> bool:
        """Whether the editor holds a change the config file does not have (typed text that
        is not a value yet counts)."""
        return self.editor.raw != self.loaded or bool(self.editor.problems)

    def leave_edit(
        self, then: Callable[[], object], going: str, back: Callable[[], object]
    ) -> None:
        """Run `then` (which drops the edit) once the admin agrees to when it is not saved;
        `back` when they keep editing."""
        name = self.editor.raw.get("name") or "(unnamed)"
        question = UnsavedEditScreen(
            f"The preset {name} has changes that are not saved.",
            f"{going} anyway and they are lost; ctrl+s saves them to the config file.",
            going,
        )
        ask_before_dropping(self, self.unsaved, question, then, back)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        chosen = event.option_index
        if chosen == self.index and not self.unsaved:
            return

        async def switch() -> None:
            self.index = chosen
            await self.edit(self.presets[chosen].to_dict())

        def stay() -> None:
            self.query_one("#presets-list", OptionList).highlighted = (
                self.index if self.index >= 0 else None
            )

        self.leave_edit(switch, "Reload" if chosen == self.index else "Switch", stay)

    def on_preset_editor_changed(self, _event: PresetEditor.Changed) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(PREVIEW_AFTER, self.check_now)

    def check_now(self) -> None:
        """Validate the edited preset against the nodes, then preview it."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        raw = self.editor.raw
        preset, findings = parse_preset(raw)
        findings = list(self.editor.problems.values()) + findings
        if preset is not None:
            findings += check_against_nodes(preset, self.session.cache.items(kinds.NODES))
        self.findings = findings
        self.preset = preset if not self.errors else None
        self.editor.show_findings(findings)
        self.paint_preview()
        self.refresh_bindings()

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    def action_preset_new(self) -> None:
        async def start() -> None:
            self.index = -1
            await self.edit(_new_preset(self.presets))
            self.query_one("#preset-name", Input).focus()

        self.leave_edit(start, "Start a new one", lambda: None)

    def action_preset_save(self) -> None:
        """Put the edited preset into the config file (replacing the one of its name)."""
        self.check_now()
        if self.preset is None:
            self.notify("Save: fix the errors first.", severity="error")
            return
        preset = self.preset
        presets = list(self.presets)
        names = [p.name for p in presets]
        if 0 <= self.index < len(presets) and presets[self.index].name in (preset.name, ""):
            presets[self.index] = preset
        elif preset.name in names:
            presets[names.index(preset.name)] = preset
        else:
            presets.append(preset)
        if self.store(presets, f"Saved the preset {preset.name} to the config file."):
            self.index = [p.name for p in self.presets].index(preset.name)
            self.loaded = copy.deepcopy(self.editor.raw)
            self.fill_list()

    def action_preset_delete(self) -> None:
        """Remove the chosen preset from the config file, after a second answer."""
        if not 0 <= self.index < len(self.presets):
            self.notify("Delete: choose a saved preset in the list first.", severity="warning")
            return
        index, name = self.index, self.presets[self.index].name

        async def delete() -> None:
            kept = [p for i, p in enumerate(self.presets) if i != index]
            if self.store(kept, f"Deleted the preset {name} from the config file."):
                self.index = min(index, len(kept) - 1)
                self.fill_list()
                await self.edit(kept[self.index].to_dict() if kept else _new_preset(kept))

        question = UnsavedEditScreen(
            f"Delete the preset {name} from the config file?",
            "It is gone for every kvtui session that reads this config file (an object it was "
            "applied to keeps its rules).",
            "Delete",
            "Keep it",
        )
        ask_before_dropping(self, True, question, delete)

    def store(self, presets: list[Preset], done: str) -> bool:
        try:
            path = save_presets(presets)
        except (ConfigError, OSError) as exc:
            self.notify(f"Not saved: {exc}", severity="error", timeout=10, markup=False)
            return False
        self.presets = presets
        self.session.config.presets = list(presets)
        self.notify(f"{done} ({path})", markup=False)
        return True

    # -- the target and the preview ---------------------------------------------------------
    @work(exclusive=True, group="preset-targets")
    async def load_targets(self) -> None:
        """The MachineDeployments there are (KKP keeps them per user cluster)."""
        try:
            listed = await self.session.connection.get_json(MACHINE_DEPLOYMENTS.path())
        except KubeError as exc:
            self.query_one("#preset-preview", Static).update(
                f"[$warning]No MachineDeployments to preview on:[/] {escape(str(exc))}"
            )
            return
        self.machine_deployments = sorted(
            (
                MachineDeployment(
                    (item.get("metadata") or {}).get("namespace") or "",
                    (item.get("metadata") or {}).get("name") or "",
                    int((item.get("spec") or {}).get("replicas") or 0),
                )
                for item in listed.get("items") or ()
            ),
            key=lambda md: md.key,
        )
        options: list[tuple[str, tuple[str, str]]] = []
        for md in self.machine_deployments:
            options.append((f"MD {md.key}", ("md", md.key)))
            options.append((f"VMs of {md.key} ({md.replicas}), directly", ("vms", md.key)))
        select = self.query_one("#preset-target", Select)
        select.set_options(options)
        if options:
            select.value = options[0][1]

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "preset-target":
            self.target = None if event.value is Select.NULL else event.value
            self.paint_preview()
            self.refresh_bindings()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "preset-replicas":
            try:
                self.replicas = max(1, min(int(event.value), 500))
            except ValueError:
                return
            self.paint_preview()

    def chosen_md(self) -> MachineDeployment | None:
        key = self.target[1] if self.target else None
        return next((md for md in self.machine_deployments if md.key == key), None)

    def preview_target(self) -> tuple[Target, str] | None:
        md = self.chosen_md()
        if md is None or self.target is None:
            return None
        pods = self.session.cache.items(kinds.PODS)
        own = machine_deployment_pods(pods, md.namespace, md.name)
        if self.target[0] == "vms":
            vms = tuple(sorted({Pod(p).vmi_name for p in own} - {""}))
            return ExistingVms(md.namespace, vms), f"the VMs of {md.key}"
        size = ReplicaSize.of_pod(own[0]) if own else DEFAULT_SIZE
        what = f"{self.replicas} new VM(s) of {md.key}"
        return NewReplicas(md.namespace, md.name, self.replicas, size), what

    def paint_preview(self) -> None:
        panel = self.query_one("#preset-preview", Static)
        if self.preset is None:
            panel.update("[dim]The preview follows once the preset has no errors.[/]")
            return
        chosen = self.preview_target()
        if chosen is None:
            panel.update("[dim]Choose a target to see where its VMs would land.[/]")
            return
        target, what = chosen
        preview = preview_placement(
            self.preset,
            self.session.cache.items(kinds.NODES),
            self.session.cache.items(kinds.PODS),
            target,
        )
        panel.update(preview_markup(preview, what))

    # -- keys -------------------------------------------------------------------------------
    def action_back(self) -> None:
        """Out of a field first (its keys are typing there), then back to the panes."""
        listing = self.query_one("#presets-list")
        if self.focused is not None and self.focused is not listing:
            listing.focus()
        else:
            self.leave_edit(super().action_back, "Leave", lambda: None)

    # -- applying ---------------------------------------------------------------------------
    def offered(self, action: str) -> bool:
        if action == "preset_apply":
            return self.preset is not None and self.chosen_md() is not None
        if action == "preset_migrate":
            return bool(self.pending_restart)
        return super().offered(action)

    @work(exclusive=True, group="preset-apply")
    async def action_preset_apply(self) -> None:
        md, preset = self.chosen_md(), self.preset
        if md is None or preset is None or self.target is None:
            self.notify("Apply: a preset without errors and a target first.", severity="warning")
            return
        try:
            changes = await self.plan(md, preset, self.target[0])
        except KubeError as exc:
            self.notify(f"Apply: {exc}", severity="error", markup=False)
            return
        result = self.query_one("#preset-result", Static)
        result.update(f"[b]What the apply changes[/b]\n{changes_markup(changes)}")
        if not any(c.changed for c in changes):
            self.notify("Nothing to change: the target already has these rules.")
            return
        targets = [_object_target(c) for c in changes if c.changed]

        def answered(choice: str | None) -> None:
            if choice in ("apply", "dry-run"):
                self.apply(changes, choice == "dry-run")

        self.app.confirm(  # type: ignore[attr-defined]
            Confirmation(
                "preset_apply",
                self.session.context,
                targets,
                "Apply preset",
                f"{preset.name} (the diff is on screen)",
            ),
            answered,
        )

    async def plan(self, md: MachineDeployment, preset: Preset, how: str) -> list[PresetChange]:
        """The changes, from the objects as they are now (fresh from the API)."""
        conn = self.session.connection
        vms = await machine_deployment_vms(conn, md.namespace, md.name)
        if how == "md":
            raw = await conn.get_json(MACHINE_DEPLOYMENTS.path(md.namespace, md.name))
            return [plan_machine_deployment(raw, preset, vms)]
        fresh = [await conn.get_json(kinds.VMS.path(md.namespace, name)) for name in vms]
        return plan_vms(fresh, preset)

    @work(exclusive=True, group="preset-apply")
    async def apply(self, changes: list[PresetChange], dry_run: bool) -> None:
        result = await apply_preset(
            self.session.connection, changes, dry_run=dry_run, record=self.session.record
        )
        self.query_one("#preset-result", Static).update(result_markup(result, dry_run))
        if not dry_run:
            self.pending_restart = result.needs_restart
        failed = len(result.failures)
        if failed:
            self.notify(f"Apply: {failed} change(s) failed; see the panel.", severity="error")
        else:
            self.notify("Dry run: the server accepts it." if dry_run else "Preset applied.")
        self.refresh_bindings()

    def action_preset_migrate(self) -> None:
        """Live-migrate the VMs that still run under their old rules."""
        if not self.pending_restart:
            return
        targets = [ObjectTarget("vm", name, namespace) for namespace, name in self.pending_restart]
        self.app.confirm_and_run(  # type: ignore[attr-defined]
            Confirmation("preset_migrate", self.session.context, targets, "Migrate")
        )
        self.pending_restart = []
        self.refresh_bindings()


def _new_preset(presets: list[Preset]) -> dict[str, Any]:
    names = {p.name for p in presets}
    name, n = "new-preset", 1
    while name in names:
        n += 1
        name = f"new-preset-{n}"
    return {"name": name, "topologySpreadConstraints": []}


def _object_target(change: PresetChange) -> ObjectTarget:
    kind = "machinedeployment" if change.kind == MACHINE_DEPLOYMENTS else "vm"
    return ObjectTarget(kind, change.name, change.namespace)

"""The editor of one scheduling preset: its name, topology spread constraints and node
affinity preset, offering the label keys and values the infra nodes really carry (with how many
nodes carry each), so a preset cannot name a label by a typo.

It edits the preset's dict spelling (`Preset.to_dict`) in place and posts `Changed` after each
edit; the screen validates it against the nodes and previews where VMs would land.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.markup import escape
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Select, SelectionList, Static

from kvtui.cluster.findings import ERROR, Finding
from kvtui.cluster.placement import HOSTNAME
from kvtui.cluster.presets import AFFINITY_TYPES, SCHEDULE_ANYWAY, WHEN_UNSATISFIABLE

Catalogue = dict[str, dict[str, int]]  # label key -> value -> nodes carrying it


def key_options(catalogue: Catalogue, current: str = "") -> list[tuple[str, str]]:
    """Label keys as select options, `key (N nodes)`; a current key no node carries stays
    offered (marked), so the editor shows the preset as it is."""
    options = [(f"{key} ({sum(values.values())} nodes)", key) for key, values in catalogue.items()]
    if current and current not in catalogue:
        options.insert(0, (f"{current} (no node)", current))
    return options


class PresetEditor(VerticalScroll):
    """Posts `Changed` whenever the preset's dict changes."""

    class Changed(Message):
        """The preset's dict changed."""

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self.raw: dict[str, Any] = {"name": "", "topologySpreadConstraints": []}
        self.catalogue: Catalogue = {}
        self.problems: dict[str, Finding] = {}  # typed text that is not a value yet
        self._findings: list[Finding] = []

    async def load(self, raw: dict[str, Any], catalogue: Catalogue) -> None:
        self.raw = copy.deepcopy(raw)
        self.raw.setdefault("topologySpreadConstraints", [])
        self.catalogue = catalogue
        self.problems.clear()
        await self.recompose()
        self.show_findings(self._findings)

    # -- drawing ----------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Horizontal(classes="form-row"):
            yield Label("name", classes="preset-label")
            yield Input(
                self.raw.get("name") or "",
                placeholder="a label value",
                id="preset-name",
                compact=True,
            )
        yield _Part(self._spread, classes="form-group", id="preset-spread")
        yield _Part(self._affinity, classes="form-group", id="preset-affinity")
        yield Static("", id="preset-findings")

    def _spread(self) -> Iterator[Widget]:
        constraints = self.raw.get("topologySpreadConstraints") or []
        if not constraints:
            yield Static(
                "[dim]none: machine-controller spreads by kubernetes.io/hostname, "
                "maxSkew 1, ScheduleAnyway[/]"
            )
        for index, constraint in enumerate(constraints):
            yield from self._constraint(index, constraint)
        yield Button("+ add constraint", id="preset-add-spread", compact=True)

    def _constraint(self, index: int, constraint: dict[str, Any]) -> Iterator[Widget]:
        with Horizontal(classes="form-row preset-constraint"):
            skew = constraint.get("maxSkew", 1)
            yield Label(f"{index + 1}. maxSkew", classes="preset-small-label")
            yield Input(str(skew), id=f"preset-skew-{index}", classes="preset-skew", compact=True)
            key = constraint.get("topologyKey") or HOSTNAME
            yield Select(
                key_options(self.catalogue, key),
                value=key,
                allow_blank=False,
                compact=True,
                id=f"preset-key-{index}",
                classes="preset-key",
            )
            yield Select(
                [(w, w) for w in WHEN_UNSATISFIABLE],
                value=constraint.get("whenUnsatisfiable") or SCHEDULE_ANYWAY,
                allow_blank=False,
                compact=True,
                id=f"preset-when-{index}",
                classes="preset-when",
            )
            yield Button("✕", id=f"preset-drop-{index}", compact=True)

    def _affinity(self) -> Iterator[Widget]:
        affinity = self.raw.get("nodeAffinityPreset") or {}
        kind = affinity.get("type") or Select.NULL
        with Horizontal(classes="form-row"):
            yield Label("type", classes="preset-label")
            yield Select(
                [(t, t) for t in AFFINITY_TYPES],
                value=kind,
                prompt="none",
                compact=True,
                id="preset-affinity-type",
            )
        if not affinity:
            return
        key = affinity.get("key") or ""
        with Horizontal(classes="form-row"):
            yield Label("key", classes="preset-label")
            yield Select(
                key_options(self.catalogue, key),
                value=key or Select.NULL,
                prompt="a label key the nodes carry",
                compact=True,
                id="preset-affinity-key",
            )
        values = self.catalogue.get(key, {})
        chosen = set(affinity.get("values") or [])
        yield Label(
            "values [dim](none chosen: the node only has to carry the key)[/]",
            classes="preset-label-wide",
        )
        items = [(f"{escape(v)} ({n} nodes)", v, v in chosen) for v, n in values.items()]
        items += [(f"{escape(v)} (no node)", v, True) for v in sorted(chosen - set(values))]
        yield SelectionList[str](*items, id="preset-affinity-values", compact=True)

    # -- findings ---------------------------------------------------------------------------
    def show_findings(self, findings: list[Finding]) -> None:
        """Under the editor (kept for a redraw, which happens when lists change)."""
        self._findings = findings
        panel = self.query("#preset-findings")
        if not panel:
            return
        lines = []
        for finding in findings:
            colour = "$error" if finding.severity == ERROR else "$warning"
            where = f"{finding.path}: " if finding.path else ""
            lines.append(f"[{colour}]{finding.severity}:[/] {escape(where + finding.message)}")
        panel.first(Static).update("\n".join(lines))

    # -- editing ----------------------------------------------------------------------------
    def _changed(self) -> None:
        self.post_message(self.Changed())

    def _constraints(self) -> list[dict[str, Any]]:
        return self.raw.setdefault("topologySpreadConstraints", [])

    @on(Input.Changed)
    def _typed(self, event: Input.Changed) -> None:
        event.stop()
        ident = event.input.id or ""
        if ident == "preset-name":
            self.raw["name"] = event.value.strip()
        elif ident.startswith("preset-skew-"):
            index = int(ident.rsplit("-", 1)[1])
            path = f"topologySpreadConstraints[{index}].maxSkew"
            try:
                self._constraints()[index]["maxSkew"] = int(event.value)
                self.problems.pop(path, None)
            except ValueError:
                self.problems[path] = Finding(path, f"{event.value!r} is not a number", ERROR)
        self._changed()

    @on(Select.Changed)
    async def _chosen(self, event: Select.Changed) -> None:
        event.stop()
        ident = event.select.id or ""
        value = None if event.value is Select.NULL else event.value
        if ident.startswith(("preset-key-", "preset-when-")):
            index = int(ident.rsplit("-", 1)[1])
            field = "topologyKey" if ident.startswith("preset-key-") else "whenUnsatisfiable"
            if self._constraints()[index].get(field) != value:
                self._constraints()[index][field] = value
                self._changed()
        elif ident == "preset-affinity-type":
            current = self.raw.get("nodeAffinityPreset")
            if value is None and current is not None:
                del self.raw["nodeAffinityPreset"]
            elif value is not None and (current or {}).get("type") != value:
                self.raw["nodeAffinityPreset"] = {
                    "type": value,
                    "key": (current or {}).get("key", ""),
                    "values": (current or {}).get("values", []),
                }
            else:
                return
            self._changed()
            await self._redraw("#preset-affinity", "#preset-affinity-type")
        elif ident == "preset-affinity-key":
            affinity = self.raw.setdefault("nodeAffinityPreset", {"type": "hard", "values": []})
            if affinity.get("key") != (value or ""):
                affinity["key"], affinity["values"] = value or "", []
                self._changed()
                await self._redraw("#preset-affinity", "#preset-affinity-key")

    @on(SelectionList.SelectedChanged)
    def _values(self, event: SelectionList.SelectedChanged) -> None:
        event.stop()
        affinity = self.raw.get("nodeAffinityPreset")
        if affinity is not None:
            affinity["values"] = sorted(event.selection_list.selected)
            self._changed()

    @on(Button.Pressed)
    async def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        ident = event.button.id or ""
        if ident == "preset-add-spread":
            self._constraints().append(
                {"maxSkew": 1, "topologyKey": HOSTNAME, "whenUnsatisfiable": SCHEDULE_ANYWAY}
            )
            focus = f"#preset-key-{len(self._constraints()) - 1}"
        elif ident.startswith("preset-drop-"):
            index = int(ident.rsplit("-", 1)[1])
            del self._constraints()[index]
            for stale in [p for p in self.problems if p.startswith("topologySpread")]:
                del self.problems[stale]
            focus = "#preset-add-spread"
        else:
            return
        self._changed()
        await self._redraw("#preset-spread", focus)

    async def _redraw(self, part: str, focus: str) -> None:
        """Draw one part again (the spread list or the affinity) and put the focus back."""
        await self.query_one(part, _Part).recompose()
        found = self.query(focus)
        if found:
            found.first().focus()


class _Part(Vertical):
    """A framed part of the editor drawn by one of its methods, so that adding a constraint or
    choosing an affinity key redraws that part alone (the others keep their state)."""

    TITLES = {"preset-spread": "topologySpreadConstraints", "preset-affinity": "nodeAffinityPreset"}

    def __init__(self, draw: Callable[[], Iterator[Widget]], classes: str, id: str) -> None:
        super().__init__(classes=classes, id=id)
        self.draw = draw
        self.border_title = self.TITLES.get(id, "")

    def compose(self) -> ComposeResult:
        yield from self.draw()

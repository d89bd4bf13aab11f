"""Scheduling presets: topology spread and node affinity, as KKP's machine-controller knows them.

A preset is what an admin would type into KKP's "advanced scheduling settings" once and reuse:
topology spread constraints plus an optional node affinity preset. It is kept in kvtui's config
file (the `presets:` list, in the spelling of the MachineDeployment's `cloudProviderSpec`), checked
field by field and against the infra nodes, and translated exactly as machine-controller's
`getAffinity` / `getTopologySpreadConstraints` do (fact sheet §4.4, §4.5).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kvtui.cluster.findings import Finding, Findings, join
from kvtui.cluster.placement import HOSTNAME
from kvtui.cluster.views import Node

HARD, SOFT = "hard", "soft"
AFFINITY_TYPES = (HARD, SOFT)
DO_NOT_SCHEDULE, SCHEDULE_ANYWAY = "DoNotSchedule", "ScheduleAnyway"
WHEN_UNSATISFIABLE = (DO_NOT_SCHEDULE, SCHEDULE_ANYWAY)
ZONE = "topology.kubernetes.io/zone"
# machine-controller labels each VM with its MachineDeployment's name and spreads on it (§4.5).
MD_LABEL = "md"
# What kvtui labels standalone VMs with, so that the VMs sharing a preset spread among themselves.
PRESET_LABEL = "kvtui.dev/preset"

SPREAD_KEYS = ("maxSkew", "topologyKey", "whenUnsatisfiable")
AFFINITY_KEYS = ("type", "key", "values")
PRESET_KEYS = ("name", "topologySpreadConstraints", "nodeAffinityPreset")

_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


# -- the model -----------------------------------------------------------------------------
@dataclass(frozen=True)
class SpreadConstraint:
    """One topology spread constraint; the label selector is added per target on translation."""

    max_skew: int = 1
    topology_key: str = HOSTNAME
    when_unsatisfiable: str = SCHEDULE_ANYWAY

    @property
    def hard(self) -> bool:
        return self.when_unsatisfiable == DO_NOT_SCHEDULE


@dataclass(frozen=True)
class NodeAffinityPreset:
    """machine-controller's `nodeAffinityPreset`: no values means "has the label" (Exists)."""

    type: str  # hard | soft
    key: str
    values: tuple[str, ...] = ()

    @property
    def operator(self) -> str:
        return "In" if self.values else "Exists"

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether a node with these labels satisfies the requirement."""
        if self.key not in labels:
            return False
        return not self.values or labels[self.key] in self.values

    def describe(self) -> str:
        """One line: `hard: zone in (zone-a, zone-b)` or `soft: has gpu`."""
        if self.values:
            return f"{self.type}: {self.key} in ({', '.join(self.values)})"
        return f"{self.type}: has {self.key}"


@dataclass(frozen=True)
class Preset:
    """A named set of scheduling rules for KubeVirt VMs."""

    name: str
    spread: tuple[SpreadConstraint, ...] = ()
    affinity: NodeAffinityPreset | None = None

    def to_dict(self) -> dict[str, Any]:
        """The config file's (and the editor's) spelling of the preset."""
        out: dict[str, Any] = {
            "name": self.name,
            "topologySpreadConstraints": [
                {
                    "maxSkew": c.max_skew,
                    "topologyKey": c.topology_key,
                    "whenUnsatisfiable": c.when_unsatisfiable,
                }
                for c in self.spread
            ],
        }
        if self.affinity is not None:
            out["nodeAffinityPreset"] = {
                "type": self.affinity.type,
                "key": self.affinity.key,
                "values": list(self.affinity.values),
            }
        return out

    @property
    def effective_spread(self) -> tuple[SpreadConstraint, ...]:
        """The constraints VMs really get: machine-controller's default when there are none."""
        return self.spread or (SpreadConstraint(),)


# -- label keys and values -----------------------------------------------------------------
def label_key_problem(key: Any) -> str | None:
    """Why `key` is not a valid label key (`[prefix/]name`), or None."""
    if not isinstance(key, str) or not key:
        return "must be a label key"
    prefix, _, name = key.rpartition("/")
    if "/" in key and not prefix:
        return f"{key!r} has an empty prefix"
    if prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix)):
        return f"{key!r}: the prefix must be a DNS subdomain (lower case, at most 253 characters)"
    if len(name) > 63 or not _NAME.fullmatch(name):
        return (
            f"{key!r}: the name must be at most 63 letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit"
        )
    return None


def label_value_problem(value: Any) -> str | None:
    """Why `value` is not a valid label value, or None (the empty string is valid)."""
    if not isinstance(value, str):
        return "must be a string"
    if value and (len(value) > 63 or not _NAME.fullmatch(value)):
        return (
            f"{value!r} is not a label value (at most 63 letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit)"
        )
    return None


def label_catalogue(nodes: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """Every label key the nodes carry, with each value and how many nodes have it (both
    sorted), so an editor can offer real keys and values instead of free typing."""
    counts: dict[str, dict[str, int]] = {}
    for raw in nodes:
        for key, value in Node(dict(raw)).labels.items():
            values = counts.setdefault(key, {})
            values[value] = values.get(value, 0) + 1
    return {key: dict(sorted(counts[key].items())) for key in sorted(counts)}


def vm_capable(node: Node) -> bool:
    """Could a new VM start here at all: Ready, not cordoned, no NoSchedule/NoExecute taint
    (machine-controller's VMs tolerate none), and KVM devices to give."""
    return (
        node.ready is True
        and not node.unschedulable
        and node.kvm_allocatable > 0
        and not any(t.get("effect") in ("NoSchedule", "NoExecute") for t in node.taints)
    )


# -- parsing and validation ----------------------------------------------------------------
def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _unknown_keys(found: Findings, raw: Mapping[str, Any], known: tuple[str, ...], path: str):
    for key in raw:
        if key not in known:
            found.error(join(path, str(key)), f"unknown field (known: {', '.join(known)})")


def _parse_spread(raw: Any, path: str, found: Findings) -> list[SpreadConstraint]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        found.error(path, "must be a list of constraints")
        return []
    out: list[SpreadConstraint] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(raw):
        where = join(path, index)
        if not isinstance(item, Mapping):
            found.error(where, "must be a mapping of maxSkew, topologyKey, whenUnsatisfiable")
            continue
        _unknown_keys(found, item, SPREAD_KEYS, where)
        ok = True
        skew = item.get("maxSkew", 1)
        if not _is_int(skew) or skew < 1:
            found.error(join(where, "maxSkew"), f"must be an integer ≥ 1, not {skew!r}")
            ok = False
        key = item.get("topologyKey")
        problem = label_key_problem(key)
        if problem:
            found.error(join(where, "topologyKey"), problem)
            ok = False
        elif key in seen:
            found.error(
                join(where, "topologyKey"),
                f"{key} is already constrained by {join(path, seen[key])}",
            )
            ok = False
        else:
            seen[key] = index
        when = item.get("whenUnsatisfiable", DO_NOT_SCHEDULE)
        if when not in WHEN_UNSATISFIABLE:
            found.error(
                join(where, "whenUnsatisfiable"),
                f"must be {' or '.join(WHEN_UNSATISFIABLE)}, not {when!r}",
            )
            ok = False
        if ok:
            out.append(SpreadConstraint(skew, key, when))
    return out


def _parse_affinity(raw: Any, path: str, found: Findings) -> NodeAffinityPreset | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        found.error(path, "must be a mapping of type, key, values")
        return None
    _unknown_keys(found, raw, AFFINITY_KEYS, path)
    ok = True
    kind = raw.get("type")
    if kind not in AFFINITY_TYPES:
        found.error(join(path, "type"), f"must be hard or soft, not {kind!r}")
        ok = False
    key = raw.get("key")
    problem = label_key_problem(key)
    if problem:
        found.error(join(path, "key"), problem)
        ok = False
    values = raw.get("values") or []
    if not isinstance(values, list):
        found.error(join(path, "values"), "must be a list of label values (empty: has the key)")
        return None
    for index, value in enumerate(values):
        problem = label_value_problem(value)
        if problem and not isinstance(value, str):
            found.error(join(join(path, "values"), index), problem)
            ok = False
        elif problem:
            found.warn(join(join(path, "values"), index), f"{problem}: no node can match it")
    if not ok:
        return None
    return NodeAffinityPreset(kind, key, tuple(dict.fromkeys(values)))


def parse_preset(raw: Any, path: str = "") -> tuple[Preset | None, list[Finding]]:
    """The preset in its dict spelling, and what is wrong with its fields (paths under
    `path`); None when any error stops it from being built."""
    found = Findings()
    if not isinstance(raw, Mapping):
        found.error(
            path, "must be a mapping of name, topologySpreadConstraints, nodeAffinityPreset"
        )
        return None, found.items
    _unknown_keys(found, raw, PRESET_KEYS, path)
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        found.error(join(path, "name"), "must be a non-empty name")
    elif label_value_problem(name):
        # Standalone VMs are labelled with the preset's name (PRESET_LABEL).
        found.error(join(path, "name"), f"{label_value_problem(name)}: it becomes a label value")
    spread = _parse_spread(
        raw.get("topologySpreadConstraints"), join(path, "topologySpreadConstraints"), found
    )
    affinity = _parse_affinity(
        raw.get("nodeAffinityPreset"), join(path, "nodeAffinityPreset"), found
    )
    if any(f.severity == "error" for f in found.items):
        return None, found.items
    return Preset(str(name), tuple(spread), affinity), found.items


def parse_presets(raw: Any, path: str = "presets") -> tuple[list[Preset], list[Finding]]:
    """A list of presets (the config file's section); names must be unique."""
    if raw is None:
        return [], []
    if not isinstance(raw, list):
        return [], [Finding(path, "must be a list of presets", "error")]
    presets: list[Preset] = []
    findings: list[Finding] = []
    names: dict[str, int] = {}
    for index, item in enumerate(raw):
        where = join(path, index)
        preset, found = parse_preset(item, where)
        findings.extend(found)
        if preset is None:
            continue
        if preset.name in names:
            first = join(path, names[preset.name])
            findings.append(
                Finding(join(where, "name"), f"{preset.name!r} is also {first}", "error")
            )
            continue
        names[preset.name] = index
        presets.append(preset)
    return presets, findings


def check_against_nodes(
    preset: Preset, nodes: Iterable[Mapping[str, Any]], path: str = ""
) -> list[Finding]:
    """What the infra nodes make of the preset: a hard affinity no schedulable node matches
    is an error (no VM would start), a soft one a warning; a topology key no eligible node
    carries is an error with DoNotSchedule (no node passes the filter), else a warning."""
    found = Findings()
    views = [Node(dict(n)) for n in nodes]
    usable = [n for n in views if vm_capable(n)]
    affinity = preset.affinity
    eligible = usable
    if affinity is not None:
        where = join(path, "nodeAffinityPreset")
        matching = [n for n in usable if affinity.matches(n.labels)]
        if not matching:
            carriers = [n.name for n in views if affinity.matches(n.labels)]
            why = (
                f" ({', '.join(carriers)} match but cannot take VMs now)"
                if carriers
                else " (no node matches at all)"
            )
            message = f"no schedulable node matches {affinity.describe()}{why}"
            if affinity.type == HARD:
                found.error(where, f"{message}: no VM could be scheduled")
            else:
                found.warn(where, f"{message}: the preference has no effect")
        if affinity.type == HARD:
            eligible = matching
    for index, constraint in enumerate(preset.spread):
        where = join(join(join(path, "topologySpreadConstraints"), index), "topologyKey")
        key = constraint.topology_key
        if any(key in n.labels for n in eligible):
            continue
        whom = "no node" if not any(key in n.labels for n in views) else "no eligible node"
        if constraint.hard:
            found.error(where, f"{whom} carries {key}: with DoNotSchedule no VM could be placed")
        else:
            found.warn(where, f"{whom} carries {key}: the constraint has no effect")
    return found.items


def validate_preset(
    raw: Any, nodes: Iterable[Mapping[str, Any]] | None = None, path: str = ""
) -> list[Finding]:
    """Every finding for a preset in its dict spelling: fields first, then (when the fields
    are sound and nodes are given) what the nodes make of it."""
    preset, findings = parse_preset(raw, path)
    if preset is not None and nodes is not None:
        findings += check_against_nodes(preset, nodes, path)
    return findings


# -- translation (machine-controller's rules) ----------------------------------------------
def machine_deployment_fragment(preset: Preset) -> dict[str, Any]:
    """The preset as `cloudProviderSpec` fields of a MachineDeployment (§4.2): maxSkew is a
    string there (a ConfigVarString), and no affinity is the empty preset KKP writes."""
    affinity = preset.affinity
    return {
        "affinity": {
            "nodeAffinityPreset": {
                "type": affinity.type if affinity else "",
                "key": affinity.key if affinity else "",
                "values": list(affinity.values) if affinity else [],
            }
        },
        "topologySpreadConstraints": [
            {
                "maxSkew": str(c.max_skew),
                "topologyKey": c.topology_key,
                "whenUnsatisfiable": c.when_unsatisfiable,
            }
            for c in preset.spread
        ],
    }


def preset_from_cloud_provider_spec(name: str, spec: Mapping[str, Any]) -> Preset:
    """What a MachineDeployment's `cloudProviderSpec` says, as a preset (for "current" in a
    diff or to start an editor from); unparsable fields are left out."""
    raw = (spec.get("affinity") or {}).get("nodeAffinityPreset") or {}
    affinity = None
    kind = str(raw.get("type") or "").lower()
    if kind in AFFINITY_TYPES and raw.get("key"):
        values = tuple(str(v) for v in raw.get("values") or ())
        affinity = NodeAffinityPreset(kind, str(raw["key"]), values)
    spread = []
    for c in spec.get("topologySpreadConstraints") or ():
        try:
            skew = int(str(c.get("maxSkew", 1)))
        except ValueError:
            continue
        when = str(c.get("whenUnsatisfiable") or DO_NOT_SCHEDULE)
        spread.append(SpreadConstraint(skew, str(c.get("topologyKey") or ""), when))
    return Preset(name, tuple(spread), affinity)


def vm_affinity(preset: Preset) -> dict[str, Any]:
    """`getAffinity`: one requirement, In with values or Exists without; hard is required,
    soft preferred with weight 1; no preset is `{}` (§4.4)."""
    affinity = preset.affinity
    if affinity is None:
        return {}
    requirement: dict[str, Any] = {"key": affinity.key, "operator": affinity.operator}
    if affinity.values:
        requirement["values"] = list(affinity.values)
    if affinity.type == HARD:
        return {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [requirement]}]
                }
            }
        }
    return {
        "nodeAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 1, "preference": {"matchExpressions": [requirement]}}
            ]
        }
    }


def md_selector(machine_deployment: str) -> dict[str, Any]:
    """The label selector machine-controller gives the spread of one MachineDeployment's VMs."""
    return {"matchLabels": {MD_LABEL: machine_deployment}}


def preset_selector(preset: Preset) -> dict[str, Any]:
    """The selector for standalone VMs: those labelled with this preset's name."""
    return {"matchLabels": {PRESET_LABEL: preset.name}}


def vm_topology_spread(preset: Preset, selector: Mapping[str, Any]) -> list[dict[str, Any]]:
    """`getTopologySpreadConstraints`: each constraint with `selector`; machine-controller's
    hostname/ScheduleAnyway default when the preset has none (§4.5)."""
    return [
        {
            "maxSkew": c.max_skew,
            "topologyKey": c.topology_key,
            "whenUnsatisfiable": c.when_unsatisfiable,
            "labelSelector": copy.deepcopy(dict(selector)),
        }
        for c in preset.effective_spread
    ]


def vm_scheduling(preset: Preset, selector: Mapping[str, Any]) -> dict[str, Any]:
    """The VM's `spec.template.spec` scheduling fields for this preset."""
    return {
        "affinity": vm_affinity(preset),
        "topologySpreadConstraints": vm_topology_spread(preset, selector),
    }


@dataclass(frozen=True)
class SpreadGroup:
    """The pods a preset's spread counts together: `selector` in one namespace. `label` is
    the label a VM must carry to belong (added to standalone VMs on apply), None when the VMs
    already carry it (machine-controller's `md`)."""

    namespace: str
    selector: dict[str, Any] = field(default_factory=dict)
    label: tuple[str, str] | None = None


def machine_deployment_group(namespace: str, machine_deployment: str) -> SpreadGroup:
    """The VMs of one MachineDeployment, as machine-controller groups them."""
    return SpreadGroup(namespace, md_selector(machine_deployment))


def vm_group(preset: Preset, namespace: str, vm_labels: Iterable[Mapping[str, str]]) -> SpreadGroup:
    """How VMs applied to directly are grouped: when they all come from one MachineDeployment,
    as machine-controller would (`md: <name>`); otherwise by a `kvtui.dev/preset: <preset>`
    label kvtui adds to their templates, so the VMs sharing the preset spread among
    themselves (a running VM's pod gets the label only when it restarts)."""
    mds = {labels.get(MD_LABEL) for labels in vm_labels}
    if len(mds) == 1 and None not in mds:
        return SpreadGroup(namespace, md_selector(str(mds.pop())))
    return SpreadGroup(namespace, preset_selector(preset), (PRESET_LABEL, preset.name))

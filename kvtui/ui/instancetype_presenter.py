"""The Instance types pane's text: one row per instance type or preference, the summary above
the table, the notes of the standard-set picker, and the fields of the form.

Pure functions over what `kvtui.cluster.instancetypes` returns (k9s's renderer shape), so they
are tested without a screen; colours are theme variables.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from textual.markup import escape

from kvtui.cluster.datacenter import Datacenter
from kvtui.cluster.findings import ERROR, Finding
from kvtui.cluster.instancetype_edit import DISK_BUSES, HUGEPAGE_SIZES, INTERFACE_MODELS
from kvtui.cluster.instancetypes import (
    GROUP,
    KINDS,
    MODIFIED,
    TOPOLOGIES,
    Catalog,
    Entry,
    StandardPolicy,
    Template,
    TemplateKey,
    Usage,
)
from kvtui.cluster.presenters import MUTED, NONE, OK, WARN, Row, age
from kvtui.cluster.session import Target
from kvtui.cluster.views import timestamp

COLUMNS = (
    "KIND",
    "SCOPE",
    "NAME",
    "VCPUS",
    "MEMORY",
    "CPU PLACEMENT",
    "TOPOLOGY",
    "KKP",
    "VMS",
    "AGE",
)
RIGHT = frozenset({"VCPUS", "MEMORY", "VMS", "AGE"})
CLUSTER_SCOPE = "cluster"


def kind_word(kind: str) -> str:
    """`instancetype` or `preference`: the scope has its own column."""
    return "preference" if "Preference" in kind else "instancetype"


def describe_key(key: TemplateKey) -> str:
    """`cluster instancetype cx1.medium`, `preference cluster-abc/sockets-advantage`."""
    if key.namespace:
        return f"{kind_word(key.kind)} {key.namespace}/{key.name}"
    return f"cluster {kind_word(key.kind)} {key.name}"


def placement(template: Template) -> str:
    """Where the guest's vCPUs run: shared host CPUs, or pinned ones (with the emulator
    thread on a CPU of its own)."""
    if template.is_preference:
        return NONE
    if not template.dedicated_cpu:
        return "shared"
    return "dedicated + emulator" if template.isolate_emulator_thread else "dedicated"


def memory_cell(template: Template) -> str:
    if template.is_preference:
        return NONE
    pages = f" ({template.hugepages} pages)" if template.hugepages else ""
    return f"{template.memory or NONE}{pages}"


def topology_cell(template: Template) -> str:
    """A preference's CPU topology in the v1beta1 spelling; `(default)` when it names none,
    the old spelling next to it when it uses one."""
    if not template.is_preference:
        return NONE
    written = template.preferred_topology
    if not written:
        return f"{template.topology} (default)"
    return template.topology if written == template.topology else f"{template.topology} ({written})"


def kkp_cell(entry: Entry) -> str:
    if not entry.standard:
        return NONE
    return f"{entry.standard}, DC disables" if entry.kkp_disabled else entry.standard


def template_row(entry: Entry, now: float) -> Row:
    """KIND SCOPE NAME VCPUS MEMORY CPU-PLACEMENT TOPOLOGY KKP VMS AGE; a modified standard
    one is amber (KKP's users expect its size), one KKP no longer keeps is muted."""
    t = entry.template
    key = t.template_key
    vcpus = t.vcpus
    created = t.metadata.get("creationTimestamp") or ""
    then = timestamp(created)
    health = WARN if entry.standard == MODIFIED else MUTED if entry.kkp_disabled else OK
    cells = (
        kind_word(t.kind),
        key.namespace or CLUSTER_SCOPE,
        t.name,
        str(vcpus) if vcpus is not None else NONE,
        memory_cell(t),
        placement(t),
        topology_cell(t),
        kkp_cell(entry),
        str(len(entry.users)),
        age(created, now),
    )
    sort_keys = (
        cells[0],
        (bool(key.namespace), key.namespace),
        t.name,
        vcpus if vcpus is not None else -1,
        t.memory_bytes,
        cells[5],
        cells[6],
        cells[7],
        len(entry.users),
        now - then if then is not None else -1.0,
    )
    return Row(key, cells, health, sort_keys)  # type: ignore[arg-type]


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def policy_line(datacenters: Sequence[Datacenter], seed_error: str) -> str:
    """What each KubeVirt datacenter tells KKP about its standard set; why it is unknown."""
    if seed_error:
        return (
            f"[$warning]Datacenters unknown:[/] {escape(seed_error)} "
            "[dim](whether a datacenter disables KKP's standard set is not shown)[/]"
        )
    if not datacenters:
        return "[dim]No KubeVirt datacenter on any Seed.[/]"
    parts = []
    for dc in datacenters:
        off = [
            what
            for what, flag in (
                ("instance types", "disableDefaultInstanceTypes"),
                ("preferences", "disableDefaultPreferences"),
            )
            if dc.kubevirt.get(flag) is True
        ]
        state = f"[$warning]disables standard {' and '.join(off)}[/]" if off else "standard set on"
        parts.append(f"{escape(dc.ref.name)} {state}")
    return "Datacenters: " + " · ".join(parts)


def summary_markup(
    catalog: Catalog | None,
    entries: Sequence[Entry],
    used: Usage | None,
    datacenters: Sequence[Datacenter],
    gaps: Mapping[str, Sequence[TemplateKey]],
    *,
    seed_error: str = "",
    load_error: str = "",
) -> str:
    """The lines above the table: API version and counts, the datacenters' policy, where the
    standard set is missing, kinds we may not read, and VMs naming templates that are gone."""
    if load_error:
        return f"[b $error]Cannot read the instance types:[/] {escape(load_error)}"
    if catalog is None:
        return "Loading the instance types, preferences and datacenters…"
    if catalog.version is None:
        return f"[$warning]The cluster serves no {GROUP} API[/]: KubeVirt has no instance types."
    types = sum(not e.template.is_preference for e in entries)
    prefs = len(entries) - types
    users = {vm for e in entries for vm in e.users}
    lines = [
        f"{GROUP}/{catalog.version} · {_count(types, 'instance type')}, "
        f"{_count(prefs, 'preference')} · {_count(len(users), 'VM')} use them",
        policy_line(datacenters, seed_error),
    ]
    if gaps:
        where = ", ".join(f"{escape(ns)} ({len(keys)})" for ns, keys in gaps.items())
        lines.append(f"[$warning]Standard set incomplete in[/] {where} [dim](s installs it)[/]")
    for problem in catalog.unreadable:
        lines.append(f"[$error]Not readable:[/] {escape(problem)}")
    missing = used.missing if used is not None else {}
    if missing:
        named = ", ".join(
            f"{escape(describe_key(key))} ({_count(len(vms), 'VM')})"
            for key, vms in missing.items()
        )
        lines.append(f"[$error]VMs name templates that do not exist:[/] {named}")
    return "\n".join(lines)


def gap_note(keys: Iterable[TemplateKey], policy: StandardPolicy | None) -> str:
    """`missing standard-4, sockets-advantage · kubevirt-ham1`: a picker's line."""
    names = ", ".join(k.name for k in keys)
    where = f" · datacenter {policy.datacenter}" if policy is not None else ""
    return f"missing {names}{where}"


def kind_plural(kind: str) -> str:
    return KINDS[kind].plural if kind in KINDS else kind


def standard_detail(namespace: str, policy: StandardPolicy | None) -> str:
    """The confirmation's detail: where, and what the datacenter makes us leave out."""
    skipped = []
    if policy is not None and policy.instancetypes_disabled:
        skipped.append("instance types")
    if policy is not None and policy.preferences_disabled:
        skipped.append("preferences")
    note = (
        f"; {policy.datacenter} disables KKP's standard {' and '.join(skipped)}: left out"
        if skipped and policy is not None
        else ""
    )
    return f"(KKP's standard set in {namespace}{note})"


# -- the form ------------------------------------------------------------------------------
@dataclass(frozen=True)
class FormField:
    """One control of the form: a form attribute, its label, and how it is edited."""

    attr: str
    label: str
    how: str  # "text" | "flag" | "choice"
    hint: str = ""  # an input's placeholder, a checkbox's text, a select's blank choice
    choices: tuple[str, ...] = ()


NAMING = (
    FormField("name", "Name *", "text", "e.g. cx1.xlarge"),
    FormField("namespace", "Namespace", "text", "empty: cluster-wide (for every user)"),
)
INSTANCETYPE_FIELDS = (
    FormField("cpus", "vCPUs *", "text", "e.g. 4"),
    FormField("memory", "Memory *", "text", "e.g. 16Gi"),
    FormField("dedicated_cpu", "Dedicated CPUs", "flag", "pin each vCPU to a host CPU"),
    FormField(
        "isolate_emulator_thread",
        "Isolate emulator",
        "flag",
        "the emulator thread gets a CPU of its own",
    ),
    FormField("hugepages", "Hugepages", "choice", "none", HUGEPAGE_SIZES),
    FormField("max_sockets", "Max sockets", "text", "CPU hotplug ceiling"),
    FormField("cpu_model", "CPU model", "text", "e.g. host-passthrough"),
    FormField("max_memory", "Max memory", "text", "memory hotplug ceiling, e.g. 64Gi"),
    FormField("overcommit_percent", "Overcommit %", "text", "memory overcommit, 0-100"),
)
PREFERENCE_FIELDS = (
    FormField("topology", "CPU topology", "choice", "unset → sockets", TOPOLOGIES),
    FormField("machine_type", "Machine type", "text", "e.g. q35"),
    FormField("disk_bus", "Disk bus", "choice", "unset", DISK_BUSES),
    FormField("interface_model", "NIC model", "choice", "unset", INTERFACE_MODELS),
    FormField("efi", "EFI", "flag", "boot with EFI firmware"),
    FormField("secure_boot", "Secure boot", "flag", "needs EFI"),
    FormField("min_cpus", "Needs vCPUs", "text", "at least this many (requirements)"),
    FormField("min_memory", "Needs memory", "text", "at least this much, e.g. 4Gi"),
)


def form_fields(preference: bool) -> tuple[FormField, ...]:
    """The controls of either form, in the order shown: name and namespace first."""
    return (*NAMING, *(PREFERENCE_FIELDS if preference else INSTANCETYPE_FIELDS))


def field_note(finding: Finding) -> str:
    """One finding under its field: a mark in its severity's colour and the message."""
    mark = "[b $error]✗[/]" if finding.severity == ERROR else "[b $warning]![/]"
    return f"{mark} {escape(finding.message)}"


def shown_value(value: Any) -> str:
    """A form value in a confirmation (`unset` for empty text and false)."""
    if isinstance(value, bool):
        return "true" if value else "unset"
    return str(value) if value else "unset"


def target(key: TemplateKey) -> Target:
    """The confirmation's target, named as the audit log names it."""
    return Target(kind_plural(key.kind), key.name, key.namespace or None)

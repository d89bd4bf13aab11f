"""Creating, editing and deleting instance types and preferences, and installing KKP's
standard set where it is missing.

An editor works on a form (`InstancetypeForm`, `PreferenceForm`): the fields admins set most
(fact sheet §3.1), as typed text. Validation says what is wrong at the object's own field paths
(`spec.cpu.guest`), so a form and a YAML editor can both point at it. An edit changes only the
fields the form changed: a minimal JSON merge patch of `spec`, guarded by the resourceVersion
it was loaded at; fields the form does not know (gpus, annotations, ...) are left as they are.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from kvtui.cluster import block_edit, kinds
from kvtui.cluster.connection import Connection
from kvtui.cluster.datacenter_apply import MERGE_PATCH, Record, diff_lines, merge_patch
from kvtui.cluster.errors import Conflict, KubeError, NotFound
from kvtui.cluster.findings import Finding, Findings, errors
from kvtui.cluster.formats import check_dns_label, check_dns_subdomain, parse_quantity
from kvtui.cluster.instancetypes import (
    CLUSTER_INSTANCETYPE,
    CLUSTER_PREFERENCE,
    DEPRECATED_TOPOLOGIES,
    GROUP,
    INSTANCETYPE,
    KINDS,
    PREFERENCE,
    STANDARD_INSTANCETYPES,
    STANDARD_PREFERENCES,
    TOPOLOGIES,
    Template,
    TemplateKey,
    VmKey,
    kind_at,
    list_vms,
    served_version,
    usage,
)

HUGEPAGE_SIZES = ("2Mi", "1Gi")
# KVM's own limit on x86 (KVM_MAX_VCPUS); anything above is a typo, not a machine.
MAX_GUEST_CPUS = 1024
MIN_MEMORY = parse_quantity("1Mi")
DISK_BUSES = ("virtio", "sata", "scsi", "usb")
INTERFACE_MODELS = ("virtio", "e1000", "e1000e", "igb", "ne2k_pci", "pcnet", "rtl8139")
DEFAULT_VERSION = "v1beta1"


# -- forms ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class InstancetypeForm:
    """An instance type as an editor shows it; empty text and False mean "not set"."""

    name: str = ""
    namespace: str = ""  # "" makes a VirtualMachineClusterInstancetype
    cpus: str = ""
    memory: str = ""
    dedicated_cpu: bool = False
    isolate_emulator_thread: bool = False
    hugepages: str = ""  # page size: "", "2Mi" or "1Gi"
    max_sockets: str = ""
    cpu_model: str = ""
    max_memory: str = ""  # memory.maxGuest, the ceiling for memory hotplug
    overcommit_percent: str = ""


@dataclass(frozen=True)
class PreferenceForm:
    """A preference as an editor shows it; empty text and False mean "not set"."""

    name: str = ""
    namespace: str = ""  # "" makes a VirtualMachineClusterPreference
    topology: str = ""  # preferredCPUTopology, either spelling
    machine_type: str = ""
    disk_bus: str = ""
    interface_model: str = ""
    efi: bool = False
    secure_boot: bool = False
    min_cpus: str = ""  # requirements.cpu.guest
    min_memory: str = ""  # requirements.memory.guest


Form = InstancetypeForm | PreferenceForm

# Form field -> (object path, how its value is stored: int, text or flag).
_INSTANCETYPE_FIELDS: dict[str, tuple[tuple[str, ...], str]] = {
    "cpus": (("spec", "cpu", "guest"), "int"),
    "memory": (("spec", "memory", "guest"), "text"),
    "dedicated_cpu": (("spec", "cpu", "dedicatedCPUPlacement"), "flag"),
    "isolate_emulator_thread": (("spec", "cpu", "isolateEmulatorThread"), "flag"),
    "hugepages": (("spec", "memory", "hugepages", "pageSize"), "text"),
    "max_sockets": (("spec", "cpu", "maxSockets"), "int"),
    "cpu_model": (("spec", "cpu", "model"), "text"),
    "max_memory": (("spec", "memory", "maxGuest"), "text"),
    "overcommit_percent": (("spec", "memory", "overcommitPercent"), "int"),
}
_PREFERENCE_FIELDS: dict[str, tuple[tuple[str, ...], str]] = {
    "topology": (("spec", "cpu", "preferredCPUTopology"), "text"),
    "machine_type": (("spec", "machine", "preferredMachineType"), "text"),
    "disk_bus": (("spec", "devices", "preferredDiskBus"), "text"),
    "interface_model": (("spec", "devices", "preferredInterfaceModel"), "text"),
    "efi": (("spec", "firmware", "preferredUseEfi"), "flag"),
    "secure_boot": (("spec", "firmware", "preferredUseSecureBoot"), "flag"),
    "min_cpus": (("spec", "requirements", "cpu", "guest"), "int"),
    "min_memory": (("spec", "requirements", "memory", "guest"), "text"),
}


def _fields(form: Form) -> dict[str, tuple[tuple[str, ...], str]]:
    return _PREFERENCE_FIELDS if isinstance(form, PreferenceForm) else _INSTANCETYPE_FIELDS


def field_paths(form: Form) -> dict[str, str]:
    """Form field -> the object path its findings carry (`cpus` -> `spec.cpu.guest`)."""
    paths = {"name": "metadata.name", "namespace": "metadata.namespace"}
    paths.update({attr: ".".join(path) for attr, (path, _) in _fields(form).items()})
    return paths


def form_kind(form: Form) -> str:
    """The Kind a form makes: the scope follows whether it names a namespace."""
    if isinstance(form, PreferenceForm):
        return PREFERENCE if form.namespace else CLUSTER_PREFERENCE
    return INSTANCETYPE if form.namespace else CLUSTER_INSTANCETYPE


# -- validation ----------------------------------------------------------------------------
def _whole(found: Findings, path: str, text: str, low: int, high: int | None = None) -> int | None:
    value = text.strip()
    if not (value.isascii() and value.isdigit()):
        found.error(path, f"{text!r} is not a whole number")
        return None
    number = int(value)
    if number < low:
        found.error(path, f"must be at least {low}")
    elif high is not None and number > high:
        found.error(path, f"must be at most {high}")
    return number


def _memory(found: Findings, path: str, text: str) -> Decimal | None:
    try:
        amount = parse_quantity(text.strip())
    except ValueError as exc:
        found.error(path, str(exc))
        return None
    if amount != amount.to_integral_value():
        found.error(path, f"{text!r} is not a whole number of bytes")
    elif amount < MIN_MEMORY:
        found.error(path, "must be at least 1Mi")
    return amount


def _names(found: Findings, form: Form, taken: Collection[str]) -> None:
    try:
        check_dns_subdomain(form.name)
    except ValueError as exc:
        found.error("metadata.name", str(exc))
    if form.name in taken:
        scope = f"namespace {form.namespace}" if form.namespace else "the cluster"
        found.error("metadata.name", f"{form_kind(form)} {form.name!r} already exists in {scope}")
    if form.namespace:
        try:
            check_dns_label(form.namespace)
        except ValueError as exc:
            found.error("metadata.namespace", str(exc))


def _no_space(found: Findings, path: str, text: str) -> None:
    if text and (text != text.strip() or any(c.isspace() for c in text)):
        found.error(path, f"{text!r} must not contain white space")


def validate_instancetype(form: InstancetypeForm, *, taken: Collection[str] = ()) -> list[Finding]:
    """What is wrong with the form, as the API server and KubeVirt's admission would say it;
    `taken` are the names already used in its scope (for a new object)."""
    found = Findings()
    paths = field_paths(form)
    _names(found, form, taken)
    if not form.cpus.strip():
        found.error(paths["cpus"], "required: the number of vCPUs")
    else:
        _whole(found, paths["cpus"], form.cpus, 1, MAX_GUEST_CPUS)
    memory = None
    if not form.memory.strip():
        found.error(paths["memory"], "required: the guest memory, e.g. 4Gi")
    else:
        memory = _memory(found, paths["memory"], form.memory)
    if form.isolate_emulator_thread and not form.dedicated_cpu:
        found.error(
            paths["isolate_emulator_thread"],
            "needs dedicated CPU placement: KubeVirt isolates the emulator thread only then",
        )
    if form.hugepages:
        if form.hugepages not in HUGEPAGE_SIZES:
            found.error(paths["hugepages"], f"must be one of {', '.join(HUGEPAGE_SIZES)}")
        elif memory is not None and memory % parse_quantity(form.hugepages):
            found.error(paths["memory"], f"must be a multiple of the {form.hugepages} hugepages")
    if form.max_sockets.strip():
        _whole(found, paths["max_sockets"], form.max_sockets, 1)
    _no_space(found, paths["cpu_model"], form.cpu_model)
    if form.max_memory.strip():
        ceiling = _memory(found, paths["max_memory"], form.max_memory)
        if ceiling is not None and memory is not None and ceiling < memory:
            found.error(paths["max_memory"], "must not be less than the guest memory")
    if form.overcommit_percent.strip():
        _whole(found, paths["overcommit_percent"], form.overcommit_percent, 0, 100)
    return found.items


def validate_preference(
    form: PreferenceForm, *, version: str = DEFAULT_VERSION, taken: Collection[str] = ()
) -> list[Finding]:
    """What is wrong with the form; `version` is the API version it will be written at (the
    alpha versions know only the old topology spellings and no requirements)."""
    found = Findings()
    paths = field_paths(form)
    _names(found, form, taken)
    beta = version == DEFAULT_VERSION
    if form.topology:
        if form.topology in DEPRECATED_TOPOLOGIES:
            if beta:
                new = DEPRECATED_TOPOLOGIES[form.topology]
                found.warn(paths["topology"], f"deprecated spelling: write {new!r}")
        elif form.topology in TOPOLOGIES:
            if not beta:
                old = next(k for k, v in DEPRECATED_TOPOLOGIES.items() if v == form.topology)
                found.error(paths["topology"], f"{GROUP}/{version} spells it {old!r}")
        else:
            found.error(paths["topology"], f"must be one of {', '.join(TOPOLOGIES)}")
    _no_space(found, paths["machine_type"], form.machine_type)
    for attr, allowed in (("disk_bus", DISK_BUSES), ("interface_model", INTERFACE_MODELS)):
        value = getattr(form, attr)
        if value and value not in allowed:
            found.error(paths[attr], f"must be one of {', '.join(allowed)}")
    if form.secure_boot and not form.efi:
        found.warn(paths["secure_boot"], "secure boot needs EFI: without it, it is ignored")
    if form.min_cpus.strip():
        _whole(found, paths["min_cpus"], form.min_cpus, 1, MAX_GUEST_CPUS)
    if form.min_memory.strip():
        _memory(found, paths["min_memory"], form.min_memory)
    if not beta and (form.min_cpus.strip() or form.min_memory.strip()):
        found.error("spec.requirements", f"needs {GROUP}/v1beta1; the cluster serves {version}")
    return found.items


def validate(
    form: Form, *, version: str = DEFAULT_VERSION, taken: Collection[str] = ()
) -> list[Finding]:
    """Either form's validation."""
    if isinstance(form, PreferenceForm):
        return validate_preference(form, version=version, taken=taken)
    return validate_instancetype(form, taken=taken)


# -- form <-> object -----------------------------------------------------------------------
def _json_value(text_or_flag: str | bool, how: str) -> Any:
    """The value a form field stores, None when it is not set."""
    if how == "flag":
        return True if text_or_flag else None
    text = str(text_or_flag).strip()
    if not text:
        return None
    return int(text) if how == "int" else text


def _form_value(value: Any, how: str) -> str | bool:
    if how == "flag":
        return value is True
    return "" if value is None or isinstance(value, dict | list) else str(value)


def _get(obj: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    return block_edit.get(obj, path)


def _set(obj: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    """Set (or, for None, remove) a field under `spec`; parents left empty by a removal go
    too, but never `spec` itself."""
    block_edit.set_value(obj.setdefault("spec", {}), path[1:], value)


def form_from(obj: Mapping[str, Any]) -> Form:
    """The form for an existing instance type or preference (fields it does not show stay in
    the object and survive an edit)."""
    view = Template(dict(obj))
    cls = PreferenceForm if view.is_preference else InstancetypeForm
    fields = _PREFERENCE_FIELDS if view.is_preference else _INSTANCETYPE_FIELDS
    values = {attr: _form_value(_get(obj, path), how) for attr, (path, how) in fields.items()}
    namespace = "" if view.cluster_scoped else view.namespace
    return cls(name=view.name, namespace=namespace, **values)


def build(form: Form, *, version: str = DEFAULT_VERSION) -> dict[str, Any]:
    """The object a valid form describes; raises ValueError when the form has errors."""
    problems = errors(validate(form, version=version))
    if problems:
        raise ValueError("; ".join(map(str, problems)))
    metadata: dict[str, Any] = {"name": form.name}
    if form.namespace:
        metadata["namespace"] = form.namespace
    obj: dict[str, Any] = {
        "apiVersion": f"{GROUP}/{version}",
        "kind": form_kind(form),
        "metadata": metadata,
        "spec": {},
    }
    for attr, (path, how) in _fields(form).items():
        _set(obj, path, _json_value(getattr(form, attr), how))
    return obj


def edited(live: Mapping[str, Any], form: Form) -> dict[str, Any]:
    """`live` with the fields the form changed set or removed; nothing else touched."""
    before = form_from(live)
    if (before.name, before.namespace) != (form.name, form.namespace):
        raise ValueError("an edit cannot rename or move an object: create a new one")
    obj = copy.deepcopy(dict(live))
    obj.setdefault("spec", {})
    for attr, (path, how) in _fields(form).items():
        if getattr(form, attr) != getattr(before, attr):
            _set(obj, path, _json_value(getattr(form, attr), how))
    return obj


def spec_diff(live: Mapping[str, Any], new: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The change to review before saving: a diff of the two specs, lines with their kinds."""
    return diff_lines(live.get("spec") or {}, new.get("spec") or {})


# -- writing -------------------------------------------------------------------------------
class TemplateConflict(Conflict):
    """The object changed since it was loaded; nothing was written. `ours` is the spec we
    wanted, `theirs` the object as it is now."""

    def __init__(
        self, key: TemplateKey, ours: Mapping[str, Any], theirs: Template, loaded: str
    ) -> None:
        self.key = key
        self.ours = copy.deepcopy(dict(ours))
        self.theirs = theirs
        self.loaded_version = loaded
        super().__init__(
            f"{key} changed since it was loaded (resourceVersion {loaded} → "
            f"{theirs.resource_version}); nothing was written",
            code=409,
            reason="Conflict",
        )


def _kind_of(obj: Mapping[str, Any]) -> kinds.Kind:
    kind = obj.get("kind")
    if kind not in KINDS:
        raise ValueError(f"not an instance type or preference: kind {kind!r}")
    group, _, version = str(obj.get("apiVersion") or "").rpartition("/")
    return kind_at(kind, version if group == GROUP and version else DEFAULT_VERSION)


def _path(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return _kind_of(obj).path(meta.get("namespace"), meta["name"])


def audit_target(key: TemplateKey) -> str:
    """`virtualmachineclusterinstancetypes/cx1.medium`, `virtualmachinepreferences/ns/name`."""
    plural = KINDS[key.kind].plural
    return f"{plural}/{key.namespace}/{key.name}" if key.namespace else f"{plural}/{key.name}"


def _verb(key: TemplateKey, action: str) -> str:
    what = "preference" if key.kind in (PREFERENCE, CLUSTER_PREFERENCE) else "instancetype"
    return f"{what}-{action}"


def _record(record: Record | None, verb: str, key: TemplateKey, dry_run: bool, error: Any) -> None:
    if record is not None:
        record(verb, audit_target(key), dry_run, None if error is None else str(error))


async def create_template(
    conn: Connection,
    obj: Mapping[str, Any],
    *,
    dry_run: bool = False,
    record: Record | None = None,
) -> dict[str, Any]:
    """POST a new instance type or preference; returns it as stored (or would be, dry)."""
    key = Template(dict(obj)).template_key
    meta = obj.get("metadata") or {}
    collection = _kind_of(obj).path(meta.get("namespace"))
    try:
        stored = await conn.request("POST", collection, body=dict(obj), dry_run=dry_run)
    except KubeError as exc:
        _record(record, _verb(key, "create"), key, dry_run, exc)
        raise
    _record(record, _verb(key, "create"), key, dry_run, None)
    return stored


async def update_template(
    conn: Connection,
    live: Template,
    new: Mapping[str, Any],
    *,
    dry_run: bool = False,
    record: Record | None = None,
) -> dict[str, Any]:
    """Make `new`'s spec the object's: a merge patch of what differs, guarded by the
    resourceVersion `live` was read at. A 409 becomes `TemplateConflict` (`NotFound` if the
    object is gone); an unchanged spec sends nothing and returns `live`'s object."""
    key = live.template_key
    changes = merge_patch(live.spec, new.get("spec") or {})
    if not changes:
        return live.raw
    if not live.resource_version:
        raise ValueError(f"{key} was loaded without a resourceVersion")
    body = {"metadata": {"resourceVersion": live.resource_version}, "spec": changes}
    path = _path(live.raw)
    verb = _verb(key, "edit")
    try:
        stored = await conn.request(
            "PATCH", path, body=body, content_type=MERGE_PATCH, dry_run=dry_run
        )
    except Conflict:
        try:
            theirs = Template(await conn.get_json(path))
        except KubeError as exc:
            _record(record, verb, key, dry_run, exc)
            raise
        conflict = TemplateConflict(key, new.get("spec") or {}, theirs, live.resource_version)
        _record(record, verb, key, dry_run, conflict)
        raise conflict from None
    except KubeError as exc:
        _record(record, verb, key, dry_run, exc)
        raise
    _record(record, verb, key, dry_run, None)
    return stored


@dataclass(frozen=True)
class DeletePlan:
    """What deleting a template would leave behind: the VMs that reference it. KubeVirt keeps
    a running VM's copy (a ControllerRevision), but a VM without one cannot start."""

    template: Template
    users: tuple[VmKey, ...]

    @property
    def confirmation(self) -> str:
        """What the admin types to confirm the deletion of an object in use."""
        return self.template.name


async def plan_delete(conn: Connection, template: Template) -> DeletePlan:
    """Read the VMs now and name those using `template`, for the confirmation."""
    users = usage([template], await list_vms(conn)).users(template.template_key)
    return DeletePlan(template, tuple(users))


async def delete_template(
    conn: Connection,
    template: Template,
    *,
    dry_run: bool = False,
    record: Record | None = None,
) -> None:
    """DELETE exactly the object that was read (uid precondition: not a namesake created
    since)."""
    key = template.template_key
    body = {"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": template.uid}}
    try:
        await conn.request("DELETE", _path(template.raw), body=body, dry_run=dry_run)
    except KubeError as exc:
        _record(record, _verb(key, "delete"), key, dry_run, exc)
        raise
    _record(record, _verb(key, "delete"), key, dry_run, None)


def standard_objects(namespace: str, *, version: str = DEFAULT_VERSION) -> list[dict[str, Any]]:
    """KKP's standard-2/4/8 and sockets-advantage for one infra namespace, exactly as KKP
    makes them (§3): namespaced kinds, no labels, no annotations."""
    made = [(INSTANCETYPE, name, spec) for name, spec in STANDARD_INSTANCETYPES.items()] + [
        (PREFERENCE, name, spec) for name, spec in STANDARD_PREFERENCES.items()
    ]
    return [
        {
            "apiVersion": f"{GROUP}/{version}",
            "kind": kind,
            "metadata": {"name": name, "namespace": namespace},
            "spec": copy.deepcopy(spec),
        }
        for kind, name, spec in made
    ]


async def install_standard_set(
    conn: Connection,
    namespace: str,
    *,
    dry_run: bool = False,
    record: Record | None = None,
    instancetypes: bool = True,
    preferences: bool = True,
) -> list[TemplateKey]:
    """Create whichever of KKP's standard set is missing in `namespace` (at the version the
    cluster serves), leaving existing ones alone, modified or not; returns what it created
    (would create, on a dry run)."""
    version = await served_version(conn)
    if version is None:
        raise LookupError(f"the cluster serves no {GROUP} API")
    wanted = {INSTANCETYPE: instancetypes, PREFERENCE: preferences}
    existing: set[TemplateKey] = set()
    for kind, on in wanted.items():
        if not on:
            continue
        try:
            items = (await conn.get_json(kind_at(kind, version).path(namespace))).get("items")
        except NotFound:
            items = []
        existing.update(TemplateKey(kind, namespace, i["metadata"]["name"]) for i in items or ())
    created: list[TemplateKey] = []
    for obj in standard_objects(namespace, version=version):
        key = TemplateKey(obj["kind"], namespace, obj["metadata"]["name"])
        if not wanted[key.kind] or key in existing:
            continue
        try:
            await create_template(conn, obj, dry_run=dry_run, record=record)
        except Conflict as exc:
            if exc.reason == "AlreadyExists":  # made meanwhile: leave it alone too
                continue
            raise
        created.append(key)
    return created

"""Instance types and preferences: reading, KKP's standard set, usage, forms and writes.

Reading and writing run against the simulator on loopback, each test with a cluster of its
own; expectations come from the default scenario's own definition (its MachineDeployments and
objects), never from the code under test. Version fallback and a missing API run against a
small HTTP server that answers like an older KubeVirt would.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from kvtui.cluster import instancetype_edit as edit
from kvtui.cluster import instancetypes as it
from kvtui.cluster.connection import Connection
from kvtui.cluster.datacenter import Datacenter, DatacenterRef, list_datacenters
from kvtui.cluster.errors import Conflict, Forbidden, NotFound
from kvtui.cluster.findings import errors, warnings
from kvtui.cluster.instancetype_edit import InstancetypeForm, PreferenceForm
from kvtui.cluster.instancetypes import Template, TemplateKey
from kvtui.sim.runner import SimHandle, running_simulator
from kvtui.sim.scenario import load_scenario

SEED = 41
Audit = list[tuple[str, str, bool, str | None]]
TEMPLATE_KINDS = (
    it.INSTANCETYPE,
    it.CLUSTER_INSTANCETYPE,
    it.PREFERENCE,
    it.CLUSTER_PREFERENCE,
)


@pytest.fixture
def cluster() -> Iterator[SimHandle]:
    with running_simulator(scenario="default", speed=10.0, seed=SEED) as handle:
        yield handle


def auditor() -> tuple[Audit, Any]:
    audit: Audit = []

    def record(verb: str, target: str, dry_run: bool, error: str | None) -> None:
        audit.append((verb, target, dry_run, error))

    return audit, record


def instancetype(name: str, spec: dict, *, namespace: str = "", kind: str = "") -> Template:
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    kind = kind or (it.INSTANCETYPE if namespace else it.CLUSTER_INSTANCETYPE)
    return Template(
        {
            "apiVersion": "instancetype.kubevirt.io/v1beta1",
            "kind": kind,
            "metadata": meta,
            "spec": spec,
        }
    )


def preference(name: str, spec: dict, *, namespace: str = "") -> Template:
    kind = it.PREFERENCE if namespace else it.CLUSTER_PREFERENCE
    return instancetype(name, spec, namespace=namespace, kind=kind)


def vm(namespace: str, name: str, spec: dict | None = None, status: dict | None = None) -> dict:
    return {
        "metadata": {"namespace": namespace, "name": name},
        "spec": spec or {},
        "status": status or {},
    }


# -- the view ------------------------------------------------------------------------------
def test_the_view_reads_an_instancetype() -> None:
    t = instancetype(
        "big",
        {
            "cpu": {
                "guest": 16,
                "dedicatedCPUPlacement": True,
                "isolateEmulatorThread": True,
                "maxSockets": 4,
            },
            "memory": {"guest": "64Gi", "hugepages": {"pageSize": "1Gi"}},
        },
    )
    assert (t.scope, t.is_preference, t.cluster_scoped) == ("cluster", False, True)
    assert t.template_key == TemplateKey(it.CLUSTER_INSTANCETYPE, "", "big")
    assert (t.vcpus, t.memory, t.memory_bytes) == (16, "64Gi", 64 * 2**30)
    assert (t.dedicated_cpu, t.isolate_emulator_thread, t.hugepages, t.max_sockets) == (
        True,
        True,
        "1Gi",
        4,
    )
    assert t.topology == ""
    bare = instancetype("odd", {"cpu": {"guest": "2"}, "memory": {"guest": "lots"}})
    assert (bare.vcpus, bare.memory_bytes, bare.dedicated_cpu, bare.hugepages) == (
        None,
        0,
        False,
        "",
    )


@pytest.mark.parametrize(
    ("written", "topology"),
    [
        ("cores", "cores"),
        ("preferSockets", "sockets"),
        ("preferThreads", "threads"),
        ("spread", "spread"),
        (None, "sockets"),  # KubeVirt's default when a preference names none
    ],
)
def test_a_preference_reads_its_topology_in_the_new_spelling(
    written: str | None, topology: str
) -> None:
    spec = {"cpu": {"preferredCPUTopology": written}} if written else {}
    p = preference("p", spec, namespace="ns")
    assert p.scope == "namespaced" and p.is_preference
    assert p.preferred_topology == (written or "")
    assert p.topology == topology
    assert p.vcpus is None


# -- KKP's standard set --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("template", "status"),
    [
        (
            instancetype(
                "standard-2",
                {"cpu": {"guest": 2}, "memory": {"guest": "8Gi"}},
                namespace="cluster-a",
            ),
            it.STANDARD,
        ),
        # the same amount spelt differently is still KKP's
        (
            instancetype(
                "standard-4",
                {"cpu": {"guest": 4}, "memory": {"guest": "16384Mi"}},
                namespace="cluster-a",
            ),
            it.STANDARD,
        ),
        (
            instancetype(
                "standard-8",
                {"cpu": {"guest": 6}, "memory": {"guest": "32Gi"}},
                namespace="cluster-a",
            ),
            it.MODIFIED,
        ),
        (
            instancetype(
                "standard-2",
                {"cpu": {"guest": 2, "dedicatedCPUPlacement": True}, "memory": {"guest": "8Gi"}},
                namespace="cluster-a",
            ),
            it.MODIFIED,
        ),
        # KKP makes the namespaced kind only: a cluster-scoped namesake is not its
        (instancetype("standard-2", {"cpu": {"guest": 2}, "memory": {"guest": "8Gi"}}), ""),
        (
            instancetype(
                "standard-3",
                {"cpu": {"guest": 3}, "memory": {"guest": "8Gi"}},
                namespace="cluster-a",
            ),
            "",
        ),
        (
            preference(
                "sockets-advantage",
                {"cpu": {"preferredCPUTopology": "preferSockets"}},
                namespace="cluster-a",
            ),
            it.STANDARD,
        ),
        (
            preference(
                "sockets-advantage",
                {"cpu": {"preferredCPUTopology": "sockets"}},
                namespace="cluster-a",
            ),
            it.STANDARD,
        ),
        (
            preference(
                "sockets-advantage",
                {"cpu": {"preferredCPUTopology": "cores"}},
                namespace="cluster-a",
            ),
            it.MODIFIED,
        ),
    ],
)
def test_standard_status(template: Template, status: str) -> None:
    assert it.standard_status(template) == status


def datacenter(name: str, clusters: list[str], **kubevirt: Any) -> Datacenter:
    return Datacenter(DatacenterRef("kubermatic", "seed", name), "DE", "", kubevirt, "1", clusters)


def test_the_datacenter_of_a_namespace_says_whether_kkp_keeps_its_standard_set() -> None:
    dcs = [
        datacenter("plain", ["a"]),
        datacenter("no-types", ["b"], disableDefaultInstanceTypes=True),
        datacenter(
            "shared",
            ["c", "d"],
            disableDefaultPreferences=True,
            namespacedMode={"enabled": True, "name": "shared-vms"},
        ),
    ]
    policies = it.standard_policies(dcs)
    assert set(policies) == {"cluster-a", "cluster-b", "shared-vms"}
    assert policies["cluster-b"] == it.StandardPolicy("no-types", True, False)
    assert policies["shared-vms"] == it.StandardPolicy("shared", False, True)
    std2 = {"cpu": {"guest": 2}, "memory": {"guest": "8Gi"}}
    sockets = {"cpu": {"preferredCPUTopology": "preferSockets"}}
    assert not it.kkp_disabled(instancetype("standard-2", std2, namespace="cluster-a"), policies)
    assert it.kkp_disabled(instancetype("standard-2", std2, namespace="cluster-b"), policies)
    assert not it.kkp_disabled(
        preference("sockets-advantage", sockets, namespace="cluster-b"), policies
    )
    assert it.kkp_disabled(
        preference("sockets-advantage", sockets, namespace="shared-vms"), policies
    )
    assert not it.kkp_disabled(instancetype("mine", std2, namespace="cluster-b"), policies)
    assert not it.kkp_disabled(instancetype("standard-2", std2, namespace="elsewhere"), policies)


# -- usage ---------------------------------------------------------------------------------
def test_vm_references_default_the_kind_as_kubevirt_does() -> None:
    cluster_it = TemplateKey(it.CLUSTER_INSTANCETYPE, "", "cx1.medium")
    assert it.vm_references(vm("ns", "a", {"instancetype": {"name": "cx1.medium"}})) == [cluster_it]
    plural = {
        "instancetype": {"name": "small", "kind": "virtualmachineinstancetypes"},
        "preference": {"name": "fast", "kind": "VirtualMachinePreference"},
    }
    assert it.vm_references(vm("ns", "b", plural)) == [
        TemplateKey(it.INSTANCETYPE, "ns", "small"),
        TemplateKey(it.PREFERENCE, "ns", "fast"),
    ]
    # the applied one (status) counts too when the spec already names another
    moved = vm(
        "ns",
        "c",
        {"instancetype": {"name": "cx1.medium"}},
        {"instancetypeRef": {"name": "old", "kind": "VirtualMachineClusterInstancetype"}},
    )
    assert it.vm_references(moved) == [cluster_it, TemplateKey(it.CLUSTER_INSTANCETYPE, "", "old")]
    odd = {"instancetype": {"name": "x", "kind": "Pod"}, "preference": {"inferFromVolume": "d"}}
    assert it.vm_references(vm("ns", "d", odd)) == []


def test_usage_maps_every_template_to_its_vms_and_keeps_dangling_references() -> None:
    medium = instancetype("cx1.medium", {"cpu": {"guest": 2}, "memory": {"guest": "4Gi"}})
    unused = instancetype("idle", {"cpu": {"guest": 1}, "memory": {"guest": "1Gi"}})
    vms = [
        vm(
            "b",
            "two",
            {"instancetype": {"name": "cx1.medium"}},
            {
                "instancetypeRef": {
                    "name": "cx1.medium",
                    "kind": "VirtualMachineClusterInstancetype",
                }
            },
        ),
        vm("a", "one", {"instancetype": {"name": "cx1.medium"}}),
        vm("a", "lost", {"instancetype": {"name": "gone", "kind": "VirtualMachineInstancetype"}}),
    ]
    used = it.usage([medium, unused], vms)
    assert used.users(medium.template_key) == [("a", "one"), ("b", "two")]  # sorted, no twice
    assert used.counts() == {medium.template_key: 2, unused.template_key: 0}
    gone = TemplateKey(it.INSTANCETYPE, "a", "gone")
    assert used.missing == {gone: [("a", "lost")]}
    assert used.count(gone) == 1


# -- reading from the simulator ------------------------------------------------------------
def expected_from_scenario() -> tuple[set[TemplateKey], Counter[TemplateKey]]:
    """The templates and per-template VM counts the default scenario defines."""
    scenario = load_scenario("default", seed=SEED)
    templates = set()
    for obj in scenario.objects:
        if obj.get("kind") in TEMPLATE_KINDS:
            meta = obj["metadata"]
            templates.add(TemplateKey(obj["kind"], meta.get("namespace", ""), meta["name"]))
    counts: Counter[TemplateKey] = Counter()
    for spec in scenario.clusters:
        for md in spec.machine_deployments:
            for ref in (md.instancetype, md.preference):
                if ref:
                    scoped = "Cluster" not in ref["kind"]
                    key = TemplateKey(ref["kind"], spec.namespace if scoped else "", ref["name"])
                    counts[key] += md.replicas
    return templates, counts


async def test_listing_and_usage_match_the_scenario(conn: Connection) -> None:
    templates, counts = expected_from_scenario()
    assert counts and len(templates) > len(counts)  # the scenario has used and unused ones
    catalog = await it.list_templates(conn)
    assert catalog.version == "v1beta1" and catalog.unreadable == []
    assert {t.template_key for t in catalog.templates} == templates
    vms = await it.list_vms(conn)
    used = it.usage(catalog.templates, vms)
    assert used.missing == {}
    assert {k: n for k, n in used.counts().items() if n} == dict(counts)
    for key, users in used.by_template.items():
        assert all(ns == key.namespace for ns, _ in users if key.namespace)

    rows = it.entries(catalog.templates, vms, await list_datacenters(conn))
    assert [r.template.template_key for r in rows][:2] == sorted(
        k for k in templates if k.kind == it.CLUSTER_INSTANCETYPE
    )
    by_key = {r.template.template_key: r for r in rows}
    for key in templates:
        row = by_key[key]
        assert len(row.users) == counts[key]
        if key.kind in (it.INSTANCETYPE, it.PREFERENCE):  # KKP put them there, untouched
            assert row.standard == it.STANDARD and not row.kkp_disabled
        else:
            assert row.standard == ""
    medium = by_key[TemplateKey(it.CLUSTER_INSTANCETYPE, "", "cx1.medium")].template
    assert (medium.vcpus, medium.memory) == (2, "4Gi")
    virtio = by_key[TemplateKey(it.CLUSTER_PREFERENCE, "", "linux-virtio")].template
    assert virtio.topology == "cores"


async def test_a_modified_standard_instancetype_is_told_apart(conn: Connection) -> None:
    catalog = await it.list_templates(conn)
    std = next(t for t in catalog.of_kind(it.INSTANCETYPE) if t.name == "standard-8")
    await conn.request(
        "PATCH",
        it.kind_at(it.INSTANCETYPE, "v1beta1").path(std.namespace, std.name),
        body={"spec": {"memory": {"guest": "24Gi"}}},
        content_type="application/merge-patch+json",
    )
    again = await it.list_templates(conn)
    statuses = {t.template_key: it.standard_status(t) for t in again.of_kind(it.INSTANCETYPE)}
    assert statuses.pop(std.template_key) == it.MODIFIED
    assert set(statuses.values()) == {it.STANDARD}


# -- an older KubeVirt, or none ------------------------------------------------------------
class OldKubevirt:
    """Answers like a cluster serving instancetype.kubevirt.io v1alpha1/v1alpha2 only (or, with
    `group=None`, no such API), without preferences, forbidding namespaced instance types."""

    def __init__(self, group: list[str] | None) -> None:
        self.group = group
        self.paths: list[str] = []

    @staticmethod
    def status(code: int, reason: str, message: str) -> web.Response:
        body = {
            "kind": "Status",
            "apiVersion": "v1",
            "status": "Failure",
            "message": message,
            "reason": reason,
            "code": code,
        }
        return web.json_response(body, status=code)

    async def handle(self, request: web.Request) -> web.Response:
        path = request.path
        self.paths.append(path)
        base = "/apis/instancetype.kubevirt.io"
        if self.group is None or not path.startswith(base):
            return self.status(404, "NotFound", "the server could not find the requested resource")
        if path == base:
            versions = [{"groupVersion": f"{base[6:]}/{v}", "version": v} for v in self.group]
            return web.json_response({"kind": "APIGroup", "name": base[6:], "versions": versions})
        version, plural = path[len(base) + 1 :].split("/", 1)
        if version not in self.group or plural.endswith("preferences"):
            return self.status(404, "NotFound", "the server could not find the requested resource")
        if plural == "virtualmachineinstancetypes":
            return self.status(403, "Forbidden", 'User "dev" cannot list resource here')
        item = {
            "metadata": {"name": "old-small"},
            "spec": {"cpu": {"guest": 1}, "memory": {"guest": "1Gi"}},
        }
        return web.json_response({"kind": "List", "items": [item]})


async def old_cluster(tmp_path: Path, fake: OldKubevirt) -> tuple[web.AppRunner, Connection]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "old", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
        "users": [{"name": "dev", "user": {"token": "t"}}],
        "contexts": [{"name": "old", "context": {"cluster": "old", "user": "dev"}}],
        "current-context": "old",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return runner, await Connection.open(str(path))


async def test_an_older_api_version_is_read_and_missing_kinds_are_empty(tmp_path: Path) -> None:
    fake = OldKubevirt(["v1alpha1", "v1alpha2"])
    runner, conn = await old_cluster(tmp_path, fake)
    try:
        catalog = await it.list_templates(conn)
    finally:
        await conn.close()
        await runner.cleanup()
    assert catalog.version == "v1alpha2"
    assert [(t.kind, t.name, t.api_version) for t in catalog.templates] == [
        (it.CLUSTER_INSTANCETYPE, "old-small", "instancetype.kubevirt.io/v1alpha2")
    ]
    assert len(catalog.unreadable) == 1 and "virtualmachineinstancetypes" in catalog.unreadable[0]
    assert all("/v1alpha2/" in p for p in fake.paths[1:])


async def test_a_cluster_without_the_api_has_an_empty_catalog(tmp_path: Path) -> None:
    fake = OldKubevirt(None)
    runner, conn = await old_cluster(tmp_path, fake)
    try:
        catalog = await it.list_templates(conn)
        with pytest.raises(LookupError, match="serves no"):
            await edit.install_standard_set(conn, "cluster-a")
    finally:
        await conn.close()
        await runner.cleanup()
    assert catalog == it.Catalog(None, [])
    assert fake.paths == ["/apis/instancetype.kubevirt.io"] * 2


@pytest.mark.parametrize(
    ("versions", "picked"),
    [
        (["v1beta1", "v1alpha2", "v1alpha1"], "v1beta1"),
        (["v1alpha1", "v1beta1"], "v1beta1"),
        (["v1alpha1"], "v1alpha1"),
        (["v2"], None),
        ([], None),
    ],
)
def test_pick_version(versions: list[str], picked: str | None) -> None:
    group = {"versions": [{"version": v} for v in versions]}
    assert it.pick_version(group) == picked
    assert it.pick_version(None) is None


# -- forms ---------------------------------------------------------------------------------
BASE = InstancetypeForm(name="ok", cpus="2", memory="4Gi")
FULL_INSTANCETYPE = InstancetypeForm(
    name="db.large",
    cpus="8",
    memory="32Gi",
    dedicated_cpu=True,
    isolate_emulator_thread=True,
    hugepages="1Gi",
    max_sockets="4",
    cpu_model="host-passthrough",
    max_memory="64Gi",
    overcommit_percent="10",
)
FULL_PREFERENCE = PreferenceForm(
    name="windows",
    namespace="cluster-a",
    topology="cores",
    machine_type="q35",
    disk_bus="sata",
    interface_model="e1000e",
    efi=True,
    secure_boot=True,
    min_cpus="2",
    min_memory="4Gi",
)


@pytest.mark.parametrize(
    "form",
    [
        FULL_INSTANCETYPE,
        InstancetypeForm(name="small", cpus="1", memory="1Mi"),
        InstancetypeForm(name="ns-small", namespace="team-a", cpus="2", memory="2Gi"),
        FULL_PREFERENCE,
        PreferenceForm(name="plain"),
        PreferenceForm(name="old-style", topology="preferSockets"),
    ],
)
def test_form_to_object_and_back(form: edit.Form) -> None:
    obj = edit.build(form)
    assert edit.form_from(obj) == form
    assert edit.build(edit.form_from(obj)) == obj


def test_build_writes_the_fields_where_kubevirt_reads_them() -> None:
    assert edit.build(FULL_INSTANCETYPE) == {
        "apiVersion": "instancetype.kubevirt.io/v1beta1",
        "kind": "VirtualMachineClusterInstancetype",
        "metadata": {"name": "db.large"},
        "spec": {
            "cpu": {
                "guest": 8,
                "dedicatedCPUPlacement": True,
                "isolateEmulatorThread": True,
                "maxSockets": 4,
                "model": "host-passthrough",
            },
            "memory": {
                "guest": "32Gi",
                "hugepages": {"pageSize": "1Gi"},
                "maxGuest": "64Gi",
                "overcommitPercent": 10,
            },
        },
    }
    assert edit.build(FULL_PREFERENCE, version="v1beta1") == {
        "apiVersion": "instancetype.kubevirt.io/v1beta1",
        "kind": "VirtualMachinePreference",
        "metadata": {"name": "windows", "namespace": "cluster-a"},
        "spec": {
            "cpu": {"preferredCPUTopology": "cores"},
            "machine": {"preferredMachineType": "q35"},
            "devices": {"preferredDiskBus": "sata", "preferredInterfaceModel": "e1000e"},
            "firmware": {"preferredUseEfi": True, "preferredUseSecureBoot": True},
            "requirements": {"cpu": {"guest": 2}, "memory": {"guest": "4Gi"}},
        },
    }
    with pytest.raises(ValueError, match=r"spec\.cpu\.guest"):
        edit.build(InstancetypeForm(name="x", cpus="0", memory="1Gi"))


def test_an_edit_changes_only_what_the_form_changed() -> None:
    live = edit.build(FULL_INSTANCETYPE)
    live["metadata"]["resourceVersion"] = "7"
    live["spec"]["gpus"] = [{"name": "gpu1", "deviceName": "nvidia.com/A10"}]
    form = edit.form_from(live)
    assert edit.edited(live, form) == live
    smaller = edit.edited(live, dataclasses.replace(form, hugepages="", max_memory="", cpus="4"))
    assert smaller["spec"]["gpus"] == live["spec"]["gpus"]
    assert smaller["spec"]["cpu"]["guest"] == 4
    assert (
        "hugepages" not in smaller["spec"]["memory"] and "maxGuest" not in smaller["spec"]["memory"]
    )
    kinds_and_lines = edit.spec_diff(live, smaller)
    assert ("add", "+  guest: 4") in kinds_and_lines
    assert ("remove", "-  maxGuest: 64Gi") in kinds_and_lines
    # an explicit `false` the form shows as unset stays as written while untouched
    plain = edit.build(BASE)
    plain["spec"]["cpu"]["dedicatedCPUPlacement"] = False
    assert edit.edited(plain, dataclasses.replace(BASE, memory="8Gi"))["spec"]["cpu"] == {
        "guest": 2,
        "dedicatedCPUPlacement": False,
    }
    # an unset firmware block vanishes with its last field
    pref = edit.build(PreferenceForm(name="p", efi=True))
    assert edit.edited(pref, PreferenceForm(name="p"))["spec"] == {}
    with pytest.raises(ValueError, match="rename"):
        edit.edited(live, InstancetypeForm(name="other", cpus="1", memory="1Gi"))


# -- validation ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({}, None),
        ({"name": "ok.example-1"}, None),
        ({"name": ""}, "metadata.name"),
        ({"name": "Bad_Name"}, "metadata.name"),
        ({"name": "-dash"}, "metadata.name"),
        ({"namespace": "team-a"}, None),
        ({"namespace": "team.a"}, "metadata.namespace"),
        ({"cpus": "1"}, None),
        ({"cpus": "1024"}, None),
        ({"cpus": ""}, "spec.cpu.guest"),
        ({"cpus": "0"}, "spec.cpu.guest"),
        ({"cpus": "1.5"}, "spec.cpu.guest"),
        ({"cpus": "two"}, "spec.cpu.guest"),
        ({"cpus": "1025"}, "spec.cpu.guest"),
        ({"memory": "1Mi"}, None),
        ({"memory": "1500M"}, None),
        ({"memory": ""}, "spec.memory.guest"),
        ({"memory": "1023Ki"}, "spec.memory.guest"),
        ({"memory": "0"}, "spec.memory.guest"),
        ({"memory": "-4Gi"}, "spec.memory.guest"),
        ({"memory": "4 GB"}, "spec.memory.guest"),
        ({"memory": "1500m"}, "spec.memory.guest"),  # milli-bytes: not a whole byte
        ({"dedicated_cpu": True, "isolate_emulator_thread": True}, None),
        ({"isolate_emulator_thread": True}, "spec.cpu.isolateEmulatorThread"),
        ({"hugepages": "2Mi"}, None),
        ({"hugepages": "4Ki"}, "spec.memory.hugepages.pageSize"),
        ({"hugepages": "1Gi", "memory": "1536Mi"}, "spec.memory.guest"),
        ({"max_sockets": "2"}, None),
        ({"max_sockets": "0"}, "spec.cpu.maxSockets"),
        ({"cpu_model": "Skylake-Server"}, None),
        ({"cpu_model": "host model"}, "spec.cpu.model"),
        ({"max_memory": "8Gi"}, None),
        ({"max_memory": "2Gi"}, "spec.memory.maxGuest"),
        ({"overcommit_percent": "100"}, None),
        ({"overcommit_percent": "101"}, "spec.memory.overcommitPercent"),
    ],
)
def test_instancetype_validation(changes: dict, path: str | None) -> None:
    found = edit.validate_instancetype(dataclasses.replace(BASE, **changes))
    assert [f.path for f in errors(found)] == ([path] if path else [])


def test_a_taken_name_is_an_error() -> None:
    found = errors(edit.validate_instancetype(BASE, taken={"ok", "other"}))
    assert [(f.path, "already exists" in f.message) for f in found] == [("metadata.name", True)]


@pytest.mark.parametrize(
    ("changes", "version", "error", "warning"),
    [
        ({}, "v1beta1", None, None),
        ({"topology": "threads"}, "v1beta1", None, None),
        ({"topology": "preferCores"}, "v1beta1", None, "spec.cpu.preferredCPUTopology"),
        ({"topology": "preferCores"}, "v1alpha1", None, None),
        ({"topology": "cores"}, "v1alpha1", "spec.cpu.preferredCPUTopology", None),
        ({"topology": "diagonal"}, "v1beta1", "spec.cpu.preferredCPUTopology", None),
        ({"disk_bus": "virtio"}, "v1beta1", None, None),
        ({"disk_bus": "ide"}, "v1beta1", "spec.devices.preferredDiskBus", None),
        ({"interface_model": "igb"}, "v1beta1", None, None),
        ({"interface_model": "vmxnet3"}, "v1beta1", "spec.devices.preferredInterfaceModel", None),
        ({"machine_type": "pc-q35-rhel9.2.0"}, "v1beta1", None, None),
        ({"machine_type": "q 35"}, "v1beta1", "spec.machine.preferredMachineType", None),
        ({"secure_boot": True}, "v1beta1", None, "spec.firmware.preferredUseSecureBoot"),
        ({"secure_boot": True, "efi": True}, "v1beta1", None, None),
        ({"min_cpus": "0"}, "v1beta1", "spec.requirements.cpu.guest", None),
        ({"min_memory": "1Ki"}, "v1beta1", "spec.requirements.memory.guest", None),
        ({"min_memory": "2Gi"}, "v1alpha2", "spec.requirements", None),
    ],
)
def test_preference_validation(
    changes: dict, version: str, error: str | None, warning: str | None
) -> None:
    form = dataclasses.replace(PreferenceForm(name="pref"), **changes)
    found = edit.validate_preference(form, version=version)
    assert [f.path for f in errors(found)] == ([error] if error else [])
    assert [f.path for f in warnings(found)] == ([warning] if warning else [])


def test_field_paths_name_every_form_field() -> None:
    for form in (BASE, PreferenceForm()):
        assert set(edit.field_paths(form)) == {f.name for f in dataclasses.fields(form)}


# -- writing to the simulator --------------------------------------------------------------
async def stored(conn: Connection, obj: dict) -> Template | None:
    meta = obj["metadata"]
    kind = it.kind_at(obj["kind"], "v1beta1")
    try:
        return Template(await conn.get_json(kind.path(meta.get("namespace"), meta["name"])))
    except NotFound:
        return None


async def test_create_edit_delete_with_dry_runs_first(conn: Connection) -> None:
    audit, record = auditor()
    obj = edit.build(InstancetypeForm(name="gp.large", cpus="4", memory="8Gi"))
    dry = await edit.create_template(conn, obj, dry_run=True, record=record)
    assert dry["spec"] == obj["spec"]
    assert await stored(conn, obj) is None

    made = await edit.create_template(conn, obj, record=record)
    live = await stored(conn, obj)
    assert live is not None and live.uid == made["metadata"]["uid"]
    assert (live.vcpus, live.memory) == (4, "8Gi")

    form = edit.form_from(live.raw)
    new = edit.edited(live.raw, dataclasses.replace(form, cpus="6", dedicated_cpu=True))
    would = await edit.update_template(conn, live, new, dry_run=True, record=record)
    assert would["spec"]["cpu"] == {"guest": 6, "dedicatedCPUPlacement": True}
    unchanged = await stored(conn, obj)
    assert unchanged is not None and unchanged.raw == live.raw

    after = await edit.update_template(conn, live, new, record=record)
    now = await stored(conn, obj)
    assert now is not None and now.raw == after
    assert (now.vcpus, now.dedicated_cpu, now.memory) == (6, True, "8Gi")
    assert await edit.update_template(conn, now, now.raw, record=record) is now.raw  # no change

    plan = await edit.plan_delete(conn, now)
    assert plan.users == () and plan.confirmation == "gp.large"
    await edit.delete_template(conn, now, dry_run=True, record=record)
    assert await stored(conn, obj) is not None
    await edit.delete_template(conn, now, record=record)
    assert await stored(conn, obj) is None

    target = "virtualmachineclusterinstancetypes/gp.large"
    assert audit == [
        ("instancetype-create", target, True, None),
        ("instancetype-create", target, False, None),
        ("instancetype-edit", target, True, None),
        ("instancetype-edit", target, False, None),
        ("instancetype-delete", target, True, None),
        ("instancetype-delete", target, False, None),
    ]


async def test_an_edit_from_a_stale_version_is_a_conflict(conn: Connection) -> None:
    audit, record = auditor()
    obj = edit.build(PreferenceForm(name="fast", topology="cores"))
    await edit.create_template(conn, obj)
    loaded = await stored(conn, obj)
    assert loaded is not None
    theirs = edit.edited(loaded.raw, PreferenceForm(name="fast", topology="threads"))
    await edit.update_template(conn, loaded, theirs)  # someone else saves first

    ours = edit.edited(loaded.raw, PreferenceForm(name="fast", topology="spread", efi=True))
    for dry_run in (True, False):
        with pytest.raises(edit.TemplateConflict) as caught:
            await edit.update_template(conn, loaded, ours, dry_run=dry_run, record=record)
        conflict = caught.value
        assert conflict.code == 409
        assert conflict.theirs.preferred_topology == "threads"
        assert conflict.ours == ours["spec"]
        assert conflict.loaded_version == loaded.resource_version
        assert "nothing was written" in str(conflict)
    now = await stored(conn, obj)
    assert now is not None and now.preferred_topology == "threads"
    assert [(v, d, e is not None) for v, _, d, e in audit] == [
        ("preference-edit", True, True),
        ("preference-edit", False, True),
    ]


async def test_delete_names_the_vms_using_it_and_refuses_a_namesake(conn: Connection) -> None:
    catalog = await it.list_templates(conn)
    medium = next(t for t in catalog.of_kind(it.CLUSTER_INSTANCETYPE) if t.name == "cx1.medium")
    _, counts = expected_from_scenario()
    plan = await edit.plan_delete(conn, medium)
    assert len(plan.users) == counts[medium.template_key] > 0
    assert all(ns.startswith("cluster-") for ns, _ in plan.users)

    # deleted and made again by someone else: our delete must not take the new one
    await conn.request("DELETE", it.kind_at(medium.kind, "v1beta1").path(None, medium.name))
    await edit.create_template(conn, {**medium.raw, "metadata": {"name": medium.name}})
    audit, record = auditor()
    with pytest.raises(Conflict):
        await edit.delete_template(conn, medium, record=record)
    assert await stored(conn, medium.raw) is not None
    assert audit[0][3] is not None


async def test_a_viewer_cannot_create_and_it_is_audited(cluster: SimHandle) -> None:
    audit, record = auditor()
    obj = edit.build(InstancetypeForm(name="nope", cpus="1", memory="1Gi"))
    async with await Connection.open(str(cluster.kubeconfig), cluster.readonly_context) as viewer:
        with pytest.raises(Forbidden):
            await edit.create_template(viewer, obj, record=record)
    assert audit[0][:3] == ("instancetype-create", "virtualmachineclusterinstancetypes/nope", False)
    assert "forbidden" in (audit[0][3] or "")


async def test_install_standard_set_creates_only_what_is_missing(conn: Connection) -> None:
    namespace = load_scenario("default", seed=SEED).clusters[0].namespace
    catalog = await it.list_templates(conn)
    present = [t for t in catalog.templates if t.namespace == namespace]
    assert {t.name for t in present} >= {"standard-2", "standard-4", "standard-8"}
    # an admin changed standard-4 and deleted standard-8 and the preference
    kind_path = it.kind_at(it.INSTANCETYPE, "v1beta1").path
    await conn.request(
        "PATCH",
        kind_path(namespace, "standard-4"),
        body={"spec": {"cpu": {"guest": 3}}},
        content_type="application/merge-patch+json",
    )
    await conn.request("DELETE", kind_path(namespace, "standard-8"))
    await conn.request(
        "DELETE", it.kind_at(it.PREFERENCE, "v1beta1").path(namespace, "sockets-advantage")
    )
    missing = [
        TemplateKey(it.INSTANCETYPE, namespace, "standard-8"),
        TemplateKey(it.PREFERENCE, namespace, "sockets-advantage"),
    ]

    audit, record = auditor()
    assert await edit.install_standard_set(conn, namespace, dry_run=True, record=record) == missing
    assert await stored(conn, edit.standard_objects(namespace)[2]) is None
    assert await edit.install_standard_set(conn, namespace, record=record) == missing
    assert await edit.install_standard_set(conn, namespace, record=record) == []
    assert [(verb, dry) for verb, _, dry, _ in audit] == [
        ("instancetype-create", True),
        ("preference-create", True),
        ("instancetype-create", False),
        ("preference-create", False),
    ]

    catalog = await it.list_templates(conn)
    mine = {t.name: t for t in catalog.templates if t.namespace == namespace}
    assert it.standard_status(mine["standard-4"]) == it.MODIFIED  # left alone
    for name in ("standard-8", "sockets-advantage"):
        made = mine[name]
        assert it.standard_status(made) == it.STANDARD
        assert made.labels == {} and made.annotations == {}
        assert made.raw["spec"] == (
            it.STANDARD_INSTANCETYPES.get(name) or it.STANDARD_PREFERENCES[name]
        )

    other = load_scenario("default", seed=SEED).clusters[1].namespace
    only_types = await edit.install_standard_set(conn, other, preferences=False, dry_run=True)
    assert only_types == []  # that namespace has them all


def test_standard_objects_are_kkps_manifests() -> None:
    objs = edit.standard_objects("cluster-x", version="v1alpha1")
    assert [(o["kind"], o["metadata"]) for o in objs] == [
        ("VirtualMachineInstancetype", {"name": "standard-2", "namespace": "cluster-x"}),
        ("VirtualMachineInstancetype", {"name": "standard-4", "namespace": "cluster-x"}),
        ("VirtualMachineInstancetype", {"name": "standard-8", "namespace": "cluster-x"}),
        ("VirtualMachinePreference", {"name": "sockets-advantage", "namespace": "cluster-x"}),
    ]
    assert {o["apiVersion"] for o in objs} == {"instancetype.kubevirt.io/v1alpha1"}
    assert [o["spec"] for o in objs] == [
        {"cpu": {"guest": 2}, "memory": {"guest": "8Gi"}},
        {"cpu": {"guest": 4}, "memory": {"guest": "16Gi"}},
        {"cpu": {"guest": 8}, "memory": {"guest": "32Gi"}},
        {"cpu": {"preferredCPUTopology": "preferSockets"}},
    ]
    objs[0]["spec"]["cpu"]["guest"] = 99  # a copy: the constants stay KKP's
    assert it.STANDARD_INSTANCETYPES["standard-2"]["cpu"]["guest"] == 2

"""The Instance types pane against a simulated cluster of this module's own: usage counts from
the sim's VMs, drill-down to the VMs, create / edit / delete through the form and the one
confirmation (dry run included), a conflict that keeps the edit, KKP's standard set installed
where it is missing, a Seed that cannot be read, and read-only mode.

Expectations come from the simulator's objects (read from its store or with kubectl), never
from the code under test.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from textual.content import Content
from textual.pilot import Pilot
from textual.widgets import Button, Input, Label, OptionList, Static

from kvtui.cluster.datacenter import Datacenter, DatacenterRef
from kvtui.cluster.instancetypes import Template, entries, missing_standard, standard_gaps
from kvtui.sim import kkp as sim_kkp
from kvtui.sim.runner import SimHandle, running_simulator
from kvtui.ui.instancetype_presenter import COLUMNS, template_row
from kvtui.ui.screens.instancetype_form import TemplateFormScreen
from kvtui.ui.screens.instancetypes import InstancetypesScreen
from tests.conftest import Kubectl, require_tool
from tests.ui.conftest import (
    CONTEXT,
    AppFactory,
    cells,
    clear_requests,
    current_table,
    notes,
    press_line,
    row_keys,
    sim_requests,
    started,
    wait_screen,
    wait_until,
)

GROUP = "instancetype.kubevirt.io"
PLURALS = {
    "VirtualMachineInstancetype": "virtualmachineinstancetypes",
    "VirtualMachineClusterInstancetype": "virtualmachineclusterinstancetypes",
    "VirtualMachinePreference": "virtualmachinepreferences",
    "VirtualMachineClusterPreference": "virtualmachineclusterpreferences",
}
VMS = "kubevirt.io/virtualmachines"
Key = tuple[str, str, str]  # kind, namespace ("" cluster-wide), name


# -- what the simulator holds ----------------------------------------------------------------
def sim_templates(sim: SimHandle) -> dict[Key, dict]:
    def read() -> dict[Key, dict]:
        found = {}
        for kind, plural in PLURALS.items():
            for obj in sim.simulator.store.list(f"{GROUP}/{plural}"):
                meta = obj["metadata"]
                found[(kind, meta.get("namespace") or "", meta["name"])] = obj
        return found

    return sim.call(read)


def sim_users(sim: SimHandle) -> dict[Key, set[tuple[str, str]]]:
    """Template -> the VMs naming it in spec or status (an empty ref kind: cluster-wide)."""
    users: dict[Key, set[tuple[str, str]]] = defaultdict(set)
    for vm in sim.call(lambda: sim.simulator.store.list(VMS)):
        namespace, name = vm["metadata"]["namespace"], vm["metadata"]["name"]
        for field, status_field, scoped in (
            ("instancetype", "instancetypeRef", "VirtualMachineInstancetype"),
            ("preference", "preferenceRef", "VirtualMachinePreference"),
        ):
            for ref in (
                (vm.get("spec") or {}).get(field),
                (vm.get("status") or {}).get(status_field),
            ):
                if not ref:
                    continue
                if (ref.get("kind") or "").lower() in (scoped.lower(), scoped.lower() + "s"):
                    users[(scoped, namespace, ref["name"])].add((namespace, name))
                else:
                    cluster = scoped.replace("VirtualMachine", "VirtualMachineCluster")
                    users[(cluster, "", ref["name"])].add((namespace, name))
    return users


def get(kubectl: Kubectl, kind: str, name: str, namespace: str = "") -> dict | None:
    where = ["-n", namespace] if namespace else []
    proc = kubectl("get", f"{PLURALS[kind]}.{GROUP}", name, *where, "-o", "json", check=False)
    if proc.returncode != 0:
        assert "NotFound" in proc.stderr or "not found" in proc.stderr, proc.stderr
        return None
    return json.loads(proc.stdout)


def apply(kubectl: Kubectl, obj: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / f"{obj['metadata']['name']}.json"
    path.write_text(json.dumps(obj))
    kubectl("create", "-f", str(path))


def audit(factory: AppFactory) -> list[dict]:
    return [json.loads(line) for line in factory.audit_lines()]


@pytest.fixture(scope="module")
def kubectl_path() -> str:
    return require_tool("kubectl")


@pytest.fixture
def kubectl(ui_sim: SimHandle, kubectl_path: str) -> Kubectl:
    return Kubectl(kubectl_path, ui_sim.kubeconfig)


# -- driving the app -------------------------------------------------------------------------
async def open_pane(pilot: Pilot, word: str = "it") -> InstancetypesScreen:
    await press_line(pilot, "colon", word)
    await wait_screen(pilot, "InstancetypesScreen")
    screen = pilot.app.screen
    assert isinstance(screen, InstancetypesScreen)
    await wait_until(pilot, lambda: screen.catalog is not None, "the templates")
    await pilot.pause()
    return screen


async def on_row(pilot: Pilot, key: Key) -> None:
    table = current_table(pilot)
    await wait_until(pilot, lambda: table.get_row(key) is not None, f"the row of {key}")
    assert table.move_cursor(key)


async def open_at(pilot: Pilot, key: Key) -> InstancetypesScreen:
    """The pane, with the cursor on a template's row."""
    screen = await open_pane(pilot)
    await on_row(pilot, key)
    return screen


async def open_form(pilot: Pilot, key: str) -> TemplateFormScreen:
    if not pilot.app.safety.armed():
        await pilot.press("W")
    await pilot.press(key)
    await wait_screen(pilot, "TemplateFormScreen")
    form = pilot.app.screen
    assert isinstance(form, TemplateFormScreen)
    await pilot.pause()
    return form


async def fill(pilot: Pilot, form: TemplateFormScreen, **values: Any) -> None:
    for attr, value in values.items():
        form.query_one(f"#it-{attr}").value = value  # type: ignore[attr-defined]
    await pilot.pause()


def plain(widget: Static) -> str:
    return Content.from_markup(str(widget.content)).plain


def field_notes(form: TemplateFormScreen, attr: str) -> str:
    notes_widget = form.query_one(f"#it-{attr}-notes", Static)
    return str(notes_widget.content) if notes_widget.display else ""


async def save(pilot: Pilot) -> tuple[str, str]:
    """ctrl+s in the form; the confirmation's title and targets."""
    await pilot.press("ctrl+s")
    await wait_screen(pilot, "ConfirmScreen")
    screen = pilot.app.screen
    title = str(screen.query_one("#confirm-title", Label).content)
    targets = str(screen.query_one("#confirm-targets").query_one(Static).content)
    return title, targets


# -- the presenter and the standard-set gaps, without a cluster --------------------------------
def template(kind: str, namespace: str, name: str, spec: dict) -> Template:
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    return Template(
        {"apiVersion": f"{GROUP}/v1beta1", "kind": kind, "metadata": meta, "spec": spec}
    )


def datacenter(kubevirt: dict, clusters: list[str]) -> Datacenter:
    return Datacenter(
        DatacenterRef("kubermatic", "seed", "dc-1"), "DE", "", kubevirt, "1", clusters
    )


def test_rows_mark_modified_and_disabled_standard_ones() -> None:
    ns = "cluster-abc"
    as_kkp = template(
        "VirtualMachineInstancetype",
        ns,
        "standard-2",
        {"cpu": {"guest": 2}, "memory": {"guest": "8Gi"}},
    )
    bigger = template(
        "VirtualMachineInstancetype",
        ns,
        "standard-4",
        {"cpu": {"guest": 6}, "memory": {"guest": "16Gi"}},
    )
    prefers = template(
        "VirtualMachinePreference",
        ns,
        "sockets-advantage",
        {"cpu": {"preferredCPUTopology": "preferSockets"}},
    )
    pinned = template(
        "VirtualMachineClusterInstancetype",
        "",
        "cx1.pinned",
        {
            "cpu": {"guest": 4, "dedicatedCPUPlacement": True},
            "memory": {"guest": "8Gi", "hugepages": {"pageSize": "2Mi"}},
        },
    )
    dcs = [datacenter({"disableDefaultInstanceTypes": True}, ["abc"])]
    rows = {
        e.template.name: template_row(e, 0.0)
        for e in entries([as_kkp, bigger, prefers, pinned], [], dcs)
    }
    column = {name: i for i, name in enumerate(COLUMNS)}
    assert rows["standard-2"].cells[column["KKP"]] == "standard, DC disables"
    assert rows["standard-2"].health == "muted"
    assert rows["standard-4"].cells[column["KKP"]] == "modified, DC disables"
    assert rows["standard-4"].health == "warn"
    assert rows["sockets-advantage"].cells[column["KKP"]] == "standard"  # preferences stay on
    assert rows["sockets-advantage"].cells[column["TOPOLOGY"]] == "sockets (preferSockets)"
    assert rows["cx1.pinned"].cells[column["CPU PLACEMENT"]] == "dedicated"
    assert rows["cx1.pinned"].cells[column["MEMORY"]] == "8Gi (2Mi pages)"
    assert rows["cx1.pinned"].cells[column["SCOPE"]] == "cluster"


def test_gaps_leave_out_what_the_datacenter_disables() -> None:
    present = [template("VirtualMachineInstancetype", "cluster-a", "standard-2", {})]
    dcs = [
        datacenter({"disableDefaultPreferences": True}, ["a"]),
    ]
    gaps = standard_gaps(present, dcs)
    assert {ns: [k.name for k in keys] for ns, keys in gaps.items()} == {
        "cluster-a": ["standard-4", "standard-8"]
    }
    full = [
        template("VirtualMachineInstancetype", "cluster-a", n, {})
        for n in ("standard-4", "standard-8")
    ]
    assert standard_gaps(present + full, dcs) == {}
    assert [k.name for k in missing_standard("other", [])] == [
        "standard-2",
        "standard-4",
        "standard-8",
        "sockets-advantage",
    ]


# -- reading ---------------------------------------------------------------------------------
async def test_counts_marks_and_datacenter_policy(app_factory: AppFactory, ui_sim: SimHandle):
    templates = sim_templates(ui_sim)
    users = sim_users(ui_sim)
    assert any(users.values()) and any(k not in users for k in templates)  # used and unused
    dc = ui_sim.call(lambda: ui_sim.simulator.store.list("kubermatic.k8c.io/seeds"))[0]
    dc_name = next(iter(dc["spec"]["datacenters"]))
    async with started(app_factory) as pilot:
        screen = await open_pane(pilot, "preferences")
        table = current_table(pilot)
        await wait_until(pilot, lambda: table.row_count == len(templates), "every template")
        assert set(row_keys(table)) == set(templates)
        standard = set(sim_kkp.STANDARD_INSTANCETYPES) | set(sim_kkp.STANDARD_PREFERENCES)
        for key, obj in templates.items():
            kind, namespace, name = key
            assert cells(table, key, "VMS") == str(len(users.get(key, ()))), key
            assert cells(table, key, "SCOPE") == (namespace or "cluster")
            guest = (obj["spec"].get("cpu") or {}).get("guest")
            if "Instancetype" in kind:
                assert cells(table, key, "VCPUS") == str(guest)
                assert cells(table, key, "MEMORY") == obj["spec"]["memory"]["guest"]
                assert cells(table, key, "CPU PLACEMENT") == "shared"
            else:
                assert cells(table, key, "VCPUS") == "—"
            marked = namespace and name in standard
            assert cells(table, key, "KKP") == ("standard" if marked else "—"), key
        summary = plain(screen.query_one("#it-summary", Static))
        assert f"{dc_name} standard set on" in summary
        assert "Standard set incomplete" not in summary


async def test_drill_down_to_the_vms_and_their_health(app_factory: AppFactory, ui_sim: SimHandle):
    users = sim_users(ui_sim)
    key, vms = max(users.items(), key=lambda item: len(item[1]))
    async with started(app_factory) as pilot:
        await open_at(pilot, key)
        await pilot.press("enter")
        await wait_screen(pilot, "TemplateUsersScreen")
        table = current_table(pilot)
        await wait_until(pilot, lambda: table.row_count == len(vms), "the VMs using it")
        assert set(row_keys(table)) == vms
        assert {cells(table, vm, "NAMESPACE") for vm in vms} == {ns for ns, _ in vms}
        first = row_keys(table)[0]
        await pilot.press("enter")
        await wait_screen(pilot, "VmHealthScreen")
        assert f"{first[0]}/{first[1]}" in str(pilot.app.screen.query_one("#status-header").content)
        await pilot.press("escape")
        await wait_screen(pilot, "TemplateUsersScreen")
        await pilot.press("escape")
        await wait_screen(pilot, "InstancetypesScreen")


# -- create ----------------------------------------------------------------------------------
async def test_create_then_read_back(app_factory: AppFactory, kubectl: Kubectl):
    async with started(app_factory) as pilot:
        await open_pane(pilot)
        form = await open_form(pilot, "a")
        await fill(pilot, form, name="cx2.pinned", cpus="4", memory="8Gi", hugepages="1Gi")
        await fill(pilot, form, dedicated_cpu=True, isolate_emulator_thread=True)
        changes = str(form.query_one("#it-form-changes", Static).content)
        assert "VirtualMachineClusterInstancetype cx2.pinned" in changes
        title, targets = await save(pilot)
        assert title.startswith("Create 1 target") and CONTEXT in title
        assert targets == "• virtualmachineclusterinstancetypes/cx2.pinned"
        await pilot.click("#apply")
        await wait_screen(pilot, "InstancetypesScreen")
        key = ("VirtualMachineClusterInstancetype", "", "cx2.pinned")
        await on_row(pilot, key)
        table = current_table(pilot)
        assert cells(table, key, "CPU PLACEMENT") == "dedicated + emulator"
        assert cells(table, key, "MEMORY") == "8Gi (1Gi pages)"
    stored = get(kubectl, key[0], key[2])
    assert stored is not None
    assert stored["spec"] == {
        "cpu": {"guest": 4, "dedicatedCPUPlacement": True, "isolateEmulatorThread": True},
        "memory": {"guest": "8Gi", "hugepages": {"pageSize": "1Gi"}},
    }
    (line,) = audit(app_factory)
    assert (line["verb"], line["target"], line["dry_run"], line["result"]) == (
        "instancetype-create",
        "virtualmachineclusterinstancetypes/cx2.pinned",
        False,
        "ok",
    )


async def test_dry_run_create_changes_nothing(app_factory: AppFactory, kubectl: Kubectl):
    async with started(app_factory) as pilot:
        await open_at(pilot, ("VirtualMachineClusterPreference", "", "linux-virtio"))
        form = await open_form(pilot, "a")  # on a preference: a new preference
        assert form.preference
        await fill(pilot, form, name="dry-pref", topology="threads", namespace="")
        await save(pilot)
        await pilot.click("#dry-run")
        await wait_until(
            pilot, lambda: any("Dry run:" in n for n in notes(pilot)), "the dry run's answer"
        )
        assert pilot.app.screen is form  # still there to save for real
    assert get(kubectl, "VirtualMachineClusterPreference", "dry-pref") is None
    (line,) = audit(app_factory)
    assert (line["verb"], line["target"], line["dry_run"]) == (
        "preference-create",
        "virtualmachineclusterpreferences/dry-pref",
        True,
    )


async def test_validation_errors_at_the_field_and_nothing_sent(
    app_factory: AppFactory, ui_sim: SimHandle
):
    async with started(app_factory) as pilot:
        await open_pane(pilot)
        form = await open_form(pilot, "a")
        assert field_notes(form, "cpus") == ""  # untouched fields say nothing yet
        form.query_one("#it-cpus", Input).focus()
        await pilot.press("0")
        await wait_until(pilot, lambda: "must be at least 1" in field_notes(form, "cpus"), "note")
        await fill(pilot, form, name="Bad_Name", memory="8Gb", isolate_emulator_thread=True)
        assert "not a valid name" in field_notes(form, "name")
        assert field_notes(form, "memory") != ""
        assert "dedicated CPU placement" in field_notes(form, "isolate_emulator_thread")
        clear_requests(ui_sim)
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: any("Fix the" in n for n in notes(pilot)), "the refusal")
        await pilot.pause(0.2)
        assert pilot.app.screen is form
        assert "required" not in field_notes(form, "cpus")
    writes = [r for r in sim_requests(ui_sim) if r.method != "GET" and GROUP in r.path]
    assert writes == []
    assert app_factory.audit_lines() == []


# -- edit ------------------------------------------------------------------------------------
def edit_subject(name: str) -> dict[str, Any]:
    """An instance type with what the form does not show: a label, an annotation, a field."""
    return {
        "apiVersion": f"{GROUP}/v1beta1",
        "kind": "VirtualMachineClusterInstancetype",
        "metadata": {
            "name": name,
            "labels": {"team": "infra"},
            "annotations": {"note": "kept"},
        },
        "spec": {
            "cpu": {"guest": 2, "model": "host-passthrough"},
            "memory": {"guest": "4Gi"},
            "ioThreadsPolicy": "shared",
        },
    }


def without_versions(obj: dict) -> dict:
    meta = {
        k: v
        for k, v in obj["metadata"].items()
        if k not in ("resourceVersion", "generation", "managedFields")
    }
    return {**obj, "metadata": meta}


async def test_edit_changes_only_the_spec_field(
    app_factory: AppFactory, kubectl: Kubectl, tmp_path: Path
):
    kind, name = "VirtualMachineClusterInstancetype", "edit-me"
    apply(kubectl, edit_subject(name), tmp_path)
    before = get(kubectl, kind, name)
    assert before is not None
    async with started(app_factory) as pilot:
        await open_at(pilot, (kind, "", name))
        form = await open_form(pilot, "o")
        assert form.query_one("#it-name", Input).disabled
        assert form.query_one("#it-memory", Input).value == "4Gi"
        await fill(pilot, form, memory="6Gi")
        assert "+  guest: 6Gi" in str(form.query_one("#it-form-changes", Static).content)
        title, targets = await save(pilot)
        assert "(spec.memory.guest: 4Gi → 6Gi)" in title
        assert targets == f"• virtualmachineclusterinstancetypes/{name}"
        await pilot.click("#apply")
        await wait_screen(pilot, "InstancetypesScreen")
    after = get(kubectl, kind, name)
    assert after is not None
    expected = without_versions(before)
    expected["spec"]["memory"]["guest"] = "6Gi"
    assert without_versions(after) == expected
    (line,) = audit(app_factory)
    assert (line["verb"], line["target"], line["dry_run"]) == (
        "instancetype-edit",
        f"virtualmachineclusterinstancetypes/{name}",
        False,
    )


async def test_conflict_keeps_the_edit_on_top_of_theirs(
    app_factory: AppFactory, kubectl: Kubectl, tmp_path: Path
):
    kind, name = "VirtualMachineClusterInstancetype", "contested"
    apply(kubectl, edit_subject(name), tmp_path)
    async with started(app_factory) as pilot:
        await open_at(pilot, (kind, "", name))
        form = await open_form(pilot, "o")
        patch = json.dumps({"spec": {"cpu": {"guest": 3}}})
        kubectl("patch", f"{PLURALS[kind]}.{GROUP}", name, "--type=merge", "-p", patch)
        await fill(pilot, form, memory="12Gi")
        await save(pilot)
        await pilot.click("#apply")
        await wait_screen(pilot, "TemplateFormScreen")
        panel = form.query_one("#it-form-conflict", Static)
        await wait_until(pilot, lambda: panel.display, "the conflict")
        assert "changed since it was loaded" in str(panel.content)
        assert "nothing was written" in str(panel.content)
        assert form.query_one("#it-memory", Input).value == "12Gi"  # ours, kept
        assert form.query_one("#it-cpus", Input).value == "3"  # theirs, taken in
        live = get(kubectl, kind, name)
        assert live is not None and live["spec"]["memory"]["guest"] == "4Gi"
        await save(pilot)
        await pilot.click("#apply")
        await wait_screen(pilot, "InstancetypesScreen")
    live = get(kubectl, kind, name)
    assert live is not None
    assert live["spec"]["cpu"] == {"guest": 3, "model": "host-passthrough"}
    assert live["spec"]["memory"] == {"guest": "12Gi"}
    verdicts = [(line["verb"], line["result"]) for line in audit(app_factory)]
    assert verdicts == [("instancetype-edit", "error"), ("instancetype-edit", "ok")]


# -- delete ----------------------------------------------------------------------------------
async def test_delete_of_a_used_one_takes_its_name(
    app_factory: AppFactory, ui_sim: SimHandle, kubectl: Kubectl
):
    users = sim_users(ui_sim)
    key, vms = next(
        (k, v) for k, v in sorted(users.items()) if k[1] == "" and "Instancetype" in k[0] and v
    )
    async with started(app_factory) as pilot:
        await open_at(pilot, key)
        await pilot.press("W", "ctrl+d")
        await wait_screen(pilot, "TemplateDeleteScreen")
        dialog = pilot.app.screen
        listed = str(dialog.query_one("#it-delete-users", Static).content)
        assert {line.removeprefix("• ") for line in listed.splitlines()} == {
            f"{ns}/{vm}" for ns, vm in vms
        }
        go_on = dialog.query_one("#continue", Button)
        await pilot.press(*key[2][:-1], "x")
        assert go_on.disabled
        dialog.query_one(Input).value = key[2]
        await pilot.pause()
        assert not go_on.disabled
        await pilot.click("#continue")
        await wait_screen(pilot, "ConfirmScreen")
        title = str(pilot.app.screen.query_one("#confirm-title", Label).content)
        assert title.startswith("Delete 1 target") and f"{len(vms)} VMs use it" in title
        await pilot.click("#apply")
        await wait_screen(pilot, "InstancetypesScreen")
        table = current_table(pilot)
        await wait_until(pilot, lambda: table.get_row(key) is None, "the row to go")
    assert get(kubectl, key[0], key[2]) is None
    assert ui_sim.call(lambda: len(ui_sim.simulator.store.list(VMS))) >= len(vms)
    (line,) = audit(app_factory)
    assert (line["verb"], line["dry_run"], line["result"]) == ("instancetype-delete", False, "ok")


async def test_delete_of_an_unused_one_asks_once(
    app_factory: AppFactory, kubectl: Kubectl, tmp_path: Path
):
    kind, name = "VirtualMachineClusterInstancetype", "unused-one"
    apply(kubectl, edit_subject(name), tmp_path)
    async with started(app_factory) as pilot:
        await open_at(pilot, (kind, "", name))
        await pilot.press("W", "ctrl+d")
        await wait_screen(pilot, "ConfirmScreen")
        assert "no VM uses it" in str(pilot.app.screen.query_one("#confirm-title", Label).content)
        await pilot.click("#dry-run")
        await wait_screen(pilot, "InstancetypesScreen")
        await wait_until(pilot, lambda: any("Dry run:" in n for n in notes(pilot)), "dry run")
        assert get(kubectl, kind, name) is not None
        await pilot.press("ctrl+d")
        await wait_screen(pilot, "ConfirmScreen")
        await pilot.click("#apply")
        await wait_until(pilot, lambda: get(kubectl, kind, name) is None, "the deletion")
    assert [(x["dry_run"], x["result"]) for x in audit(app_factory)] == [
        (True, "ok"),
        (False, "ok"),
    ]


# -- KKP's standard set ----------------------------------------------------------------------
async def test_install_standard_set_creates_exactly_the_missing(
    app_factory: AppFactory, ui_sim: SimHandle, kubectl: Kubectl
):
    namespaces = sorted({k[1] for k in sim_templates(ui_sim) if k[1]})
    namespace = namespaces[-1]
    gone = [
        ("VirtualMachineInstancetype", "standard-4"),
        ("VirtualMachinePreference", "sockets-advantage"),
    ]
    for kind, name in gone:
        kubectl("delete", f"{PLURALS[kind]}.{GROUP}", name, "-n", namespace)
    before = sim_templates(ui_sim)
    async with started(app_factory) as pilot:
        screen = await open_pane(pilot)
        summary = screen.query_one("#it-summary", Static)
        assert f"Standard set incomplete in {namespace} (2)" in plain(summary)
        await pilot.press("W", "s")
        await wait_screen(pilot, "NamespacePickerScreen")
        options = pilot.app.screen.query_one(OptionList)
        assert options.option_count == 1  # only the namespace that lacks some
        option = options.get_option_at_index(0)
        assert option.id == namespace
        assert "missing standard-4, sockets-advantage" in str(option.prompt)
        await pilot.press("enter")
        await wait_screen(pilot, "ConfirmScreen")
        targets = str(pilot.app.screen.query_one("#confirm-targets").query_one(Static).content)
        assert targets.splitlines() == [
            f"• virtualmachineinstancetypes/{namespace}/standard-4",
            f"• virtualmachinepreferences/{namespace}/sockets-advantage",
        ]
        await pilot.click("#apply")
        await wait_until(pilot, lambda: "Standard set incomplete" not in plain(summary), "the set")
    after = sim_templates(ui_sim)
    created = set(after) - set(before)
    assert created == {(kind, namespace, name) for kind, name in gone}
    assert all(after[k] == obj for k, obj in before.items())  # nothing else touched
    assert after[("VirtualMachineInstancetype", namespace, "standard-4")]["spec"] == {
        "cpu": {"guest": 4},
        "memory": {"guest": "16Gi"},
    }
    assert sorted(line["target"] for line in audit(app_factory)) == [
        f"virtualmachineinstancetypes/{namespace}/standard-4",
        f"virtualmachinepreferences/{namespace}/sockets-advantage",
    ]


# -- modes -----------------------------------------------------------------------------------
async def test_read_only_has_no_mutating_key(app_factory: AppFactory):
    async with started(app_factory, read_only=True) as pilot:
        screen = await open_pane(pilot)
        names = {b.binding.action for b in screen.active_bindings.values()}
        assert {"describe", "yaml", "filter"} <= names
        assert not names & {"it_new", "it_edit", "it_delete", "it_standard", "arm"}
        await pilot.press("a", "o", "s", "ctrl+d")
        await pilot.pause(0.2)
        assert pilot.app.screen is screen and len(pilot.app.screen_stack) == 1


def set_missing_groups(sim: SimHandle, groups: tuple[str, ...]) -> None:
    """Serve the cluster as if these API groups' CRDs were not installed."""
    config = sim.simulator.api.config
    sim.call(lambda: setattr(config, "missing_groups", frozenset(groups)))


async def pane_without_seed(pilot: Pilot, count: int) -> str:
    """The pane lists every template all the same; its summary, as text."""
    screen = await open_pane(pilot)
    table = current_table(pilot)
    await wait_until(pilot, lambda: table.row_count == count, "every template")
    assert "KKP" in [c.name for c in table.columns]
    return plain(screen.query_one("#it-summary", Static))


async def test_a_seed_that_cannot_be_read_leaves_the_rest(tmp_path: Path):
    """Seeds forbidden to the token, then no Seed API at all."""
    seeds = ("seeds.kubermatic.k8c.io",)
    with running_simulator(scenario="default", seed=3, restricted=seeds) as sim:
        count = len(sim_templates(sim))
        factory = AppFactory(sim, tmp_path / "audit.jsonl")
        async with started(factory, context=sim.restricted_context) as pilot:
            summary = await pane_without_seed(pilot, count)
        assert "Datacenters unknown: forbidden" in summary, summary
        set_missing_groups(sim, ("kubermatic.k8c.io",))
        async with started(factory) as pilot:
            summary = await pane_without_seed(pilot, count)
        assert "Datacenters unknown: not found" in summary, summary

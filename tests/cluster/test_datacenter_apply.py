"""Changing a datacenter's kubevirt block on the simulated Seed, and the merge logic under it.

Each integration test gets a cluster of its own; before loading, the Seed gets a second
datacenter, labels and annotations, so "nothing else changed" has something to compare. The
concurrent writer is the real kubectl.
"""

from __future__ import annotations

import copy
import json
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kvtui.cluster.connection import Connection
from kvtui.cluster.datacenter import get_datacenter
from kvtui.cluster.datacenter_apply import (
    Applied,
    DatacenterConflict,
    apply_block,
    apply_merge_patch,
    diff_lines,
    diff_text,
    export_block,
    import_block,
    merge_patch,
    rebase,
    save_edit_text,
    saved_blocks_dir,
    undo,
)
from kvtui.cluster.datacenter_validation import errors
from kvtui.cluster.errors import Forbidden
from kvtui.sim.runner import SimHandle, running_simulator
from tests.conftest import Kubectl, require_tool
from tests.sim.http_helpers import Api, make_api

DC = "kubevirt-ham1"
SEED = "/apis/kubermatic.k8c.io/v1/namespaces/kubermatic/seeds/europe-west"
TARGET = f"seed/kubermatic/europe-west/datacenters/{DC}"
MERGE = "application/merge-patch+json"
SECOND_DC = {
    "country": "DE",
    "location": "Hamburg DC2",
    "spec": {"kubevirt": {"dnsPolicy": "ClusterFirst", "vmEvictionStrategy": "External"}},
}

Audit = list[tuple[str, str, bool, str | None]]


# -- the merge logic, without a cluster ------------------------------------------------------
def test_merge_patch_is_minimal() -> None:
    old = {
        "dnsPolicy": "ClusterFirst",
        "dnsConfig": {"nameservers": ["10.0.0.10"], "searches": ["a.local"]},
        "images": {"http": {"operatingSystems": {"ubuntu": {"22.04": "u1", "24.04": "u2"}}}},
        "infraStorageClasses": [{"name": "a"}, {"name": "b"}],
        "ccmLoadBalancerEnabled": True,
    }
    new = copy.deepcopy(old)
    new["dnsPolicy"] = "None"
    del new["dnsConfig"]["searches"]
    new["images"]["http"]["operatingSystems"]["ubuntu"]["24.04"] = "u3"
    new["infraStorageClasses"][1]["isDefaultClass"] = True
    del new["ccmLoadBalancerEnabled"]
    assert merge_patch(old, new) == {
        "dnsPolicy": "None",
        "dnsConfig": {"searches": None},
        "images": {"http": {"operatingSystems": {"ubuntu": {"24.04": "u3"}}}},
        "infraStorageClasses": [{"name": "a"}, {"name": "b", "isDefaultClass": True}],
        "ccmLoadBalancerEnabled": None,
    }
    assert merge_patch(old, old) == {}


def test_merge_patch_tells_true_from_one() -> None:
    assert merge_patch({"enabled": 1}, {"enabled": True}) == {"enabled": True}
    assert merge_patch({"size": 1}, {"size": 1.0}) == {}


json_scalars = st.none() | st.booleans() | st.integers(-5, 5) | st.sampled_from(["a", "b", ""])
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["x", "y", "z"]), inner, max_size=3)
    ),
    max_leaves=12,
)
blocks = st.dictionaries(st.sampled_from(["dnsPolicy", "images", "zones"]), json_values)


def _no_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _no_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_no_nulls(v) for v in value]
    return value


@given(old=blocks, new=blocks)
def test_a_merge_patch_turns_old_into_new(old: dict, new: dict) -> None:
    old, new = _no_nulls(old), _no_nulls(new)  # what a server stores has no null members
    patch = merge_patch(old, new)
    assert apply_merge_patch(old, patch) == new
    assert merge_patch(new, new) == {}


def test_diff_lines_have_kinds_and_sorted_keys() -> None:
    old = {"vmEvictionStrategy": "LiveMigrate", "dnsPolicy": "ClusterFirst"}
    new = {"dnsPolicy": "None", "dnsConfig": {"nameservers": ["10.0.0.10"]}}
    lines = diff_lines(old, new)
    assert lines[:2] == [("header", "--- live"), ("header", "+++ edited")]
    assert lines[2][0] == "header" and lines[2][1].startswith("@@")
    body = lines[3:]
    assert ("remove", "-dnsPolicy: ClusterFirst") in body
    assert ("add", "+dnsPolicy: None") in body
    assert ("add", "+  - 10.0.0.10") in body
    assert ("remove", "-vmEvictionStrategy: LiveMigrate") in body
    assert [text for _, text in body if text.startswith("+")] == [
        "+dnsConfig:",
        "+  nameservers:",
        "+  - 10.0.0.10",
        "+dnsPolicy: None",
    ]  # sorted keys: the same blocks always give the same diff
    assert diff_lines(old, dict(reversed(old.items()))) == []


def test_diff_text_colours_only_when_asked() -> None:
    old, new = {"dnsPolicy": "ClusterFirst"}, {"dnsPolicy": "None"}
    plain = diff_text(old, new, color=False)
    assert "\033[" not in plain and "-dnsPolicy: ClusterFirst" in plain.splitlines()
    coloured = diff_text(old, new, color=True)
    assert "\033[31m-dnsPolicy: ClusterFirst\033[0m" in coloured.splitlines()
    assert "\033[32m+dnsPolicy: None\033[0m" in coloured.splitlines()


# -- against the simulator -----------------------------------------------------------------
@pytest.fixture
def cluster() -> Iterator[SimHandle]:
    with running_simulator(scenario="default", speed=10.0, seed=31) as handle:
        yield handle


@pytest.fixture
def api(cluster: SimHandle, tmp_path: Path) -> Api:
    api = make_api(cluster, tmp_path)
    extras = {
        "metadata": {"labels": {"team": "infra"}, "annotations": {"note": "keep me"}},
        "spec": {"datacenters": {"kubevirt-ham2": SECOND_DC}},
    }
    resp = api("PATCH", SEED, extras, content_type=MERGE)
    assert resp.status_code == 200, resp.text
    return api


@pytest.fixture
def kubectl(cluster: SimHandle) -> Kubectl:
    return Kubectl(require_tool("kubectl"), cluster.kubeconfig)


def block(seed: dict) -> dict:
    return seed["spec"]["datacenters"][DC]["spec"]["kubevirt"]


def the_rest(seed: dict) -> bytes:
    """The Seed without our block and the fields every write changes, as exact bytes."""
    rest = copy.deepcopy(seed)
    for key in ("resourceVersion", "managedFields", "generation"):
        rest["metadata"].pop(key, None)
    del rest["spec"]["datacenters"][DC]["spec"]["kubevirt"]
    return orjson.dumps(rest)


def seed_patches(api: Api) -> list[str]:
    """The query string of every PATCH of the Seed the simulator saw, in order."""
    return [
        r["query"]
        for r in api("GET", "/_sim/requests").json()
        if r["method"] == "PATCH" and r["path"] == SEED
    ]


def edited(live: dict) -> dict:
    new = copy.deepcopy(live)
    new["dnsPolicy"] = "None"
    new["dnsConfig"] = {"nameservers": ["10.0.0.10"], "searches": ["svc.cluster.local"]}
    new["infraStorageClasses"][0]["volumeBindingMode"] = "WaitForFirstConsumer"
    del new["ccmLoadBalancerEnabled"]
    return new


async def test_edit_diff_dry_run_apply(api: Api, conn: Connection) -> None:
    before = api.get(SEED)
    patches_before = len(seed_patches(api))
    dc = await get_datacenter(conn, DC)
    assert dc.kubevirt == block(before)
    assert dc.resource_version == before["metadata"]["resourceVersion"]
    new = edited(dc.kubevirt)
    lines = diff_lines(dc.kubevirt, new)
    assert ("add", "+dnsPolicy: None") in lines
    assert ("remove", "-ccmLoadBalancerEnabled: true") in lines
    audit: Audit = []

    def record(verb: str, target: str, dry_run: bool, error: str | None) -> None:
        audit.append((verb, target, dry_run, error))

    dry = await apply_block(conn, dc, new, dry_run=True, record=record)
    assert dry == Applied(dc.kubevirt, new, dc.resource_version, dry_run=True)
    assert api.get(SEED) == before  # resourceVersion included
    assert seed_patches(api)[patches_before:] == ["dryRun=All"]

    applied = await apply_block(conn, dc, new, record=record)
    after = api.get(SEED)
    assert block(after) == new
    assert the_rest(after) == the_rest(before)
    assert after["spec"]["datacenters"]["kubevirt-ham2"] == SECOND_DC
    assert applied.before == dc.kubevirt and applied.after == new
    assert applied.resource_version == after["metadata"]["resourceVersion"]
    assert applied.resource_version != dc.resource_version
    # The real patch is always preceded by its dry run.
    assert seed_patches(api)[patches_before:] == ["dryRun=All", "dryRun=All", ""]
    assert audit == [
        ("datacenter-apply", TARGET, True, None),
        ("datacenter-apply", TARGET, False, None),
    ]


async def test_removing_keys_removes_them_and_an_unchanged_block_sends_nothing(
    api: Api, conn: Connection
) -> None:
    dc = await get_datacenter(conn, DC)
    new = copy.deepcopy(dc.kubevirt)
    removed = ["images", "ccmZoneAndRegionEnabled", "usePodResourcesCPU"]
    for key in removed:
        del new[key]
    await apply_block(conn, dc, new)
    stored = block(api.get(SEED))
    assert stored == new and not set(removed) & set(stored)

    patches = len(seed_patches(api))
    again = await get_datacenter(conn, DC)
    same = await apply_block(conn, again, copy.deepcopy(again.kubevirt))
    assert not same.changed and same.resource_version == again.resource_version
    assert len(seed_patches(api)) == patches


@pytest.mark.kubectl
async def test_a_concurrent_kubectl_patch_is_a_conflict_and_neither_edit_is_lost(
    api: Api, conn: Connection, kubectl: Kubectl
) -> None:
    dc = await get_datacenter(conn, DC)
    ours = copy.deepcopy(dc.kubevirt)
    ours["dnsPolicy"] = "None"
    ours["dnsConfig"] = {"nameservers": ["10.0.0.10"]}
    theirs_patch = {
        "spec": {"datacenters": {DC: {"spec": {"kubevirt": {"vmEvictionStrategy": "External"}}}}}
    }
    kubectl(
        "patch", "seed", "europe-west", "-n", "kubermatic", "--type", "merge",
        "-p", json.dumps(theirs_patch),
    )  # fmt: skip
    after_kubectl = api.get(SEED)
    audit: Audit = []
    with pytest.raises(DatacenterConflict) as caught:
        await apply_block(conn, dc, ours, record=lambda *entry: audit.append(entry))
    conflict = caught.value
    assert api.get(SEED) == after_kubectl  # nothing of ours was applied
    assert conflict.theirs.kubevirt["vmEvictionStrategy"] == "External"
    assert conflict.theirs.resource_version == after_kubectl["metadata"]["resourceVersion"]
    assert conflict.ours == ours and conflict.base == dc.kubevirt
    assert conflict.block_changed
    assert "changed since it was loaded" in str(conflict)
    [(verb, target, dry_run, error)] = audit
    assert (verb, target, dry_run) == ("datacenter-apply", TARGET, False)
    assert error is not None and "nothing was applied" in error

    rebased = rebase(conflict)
    assert rebased.clashes == []
    assert rebased.dc.resource_version == conflict.theirs.resource_version
    await apply_block(conn, rebased.dc, rebased.block)
    final = api.get(SEED)
    assert block(final)["vmEvictionStrategy"] == "External"  # theirs
    assert block(final)["dnsPolicy"] == "None"  # ours
    assert block(final)["dnsConfig"] == {"nameservers": ["10.0.0.10"]}
    assert the_rest(final) == the_rest(after_kubectl)


@pytest.mark.kubectl
async def test_a_change_elsewhere_in_the_seed_is_a_conflict_too(
    api: Api, conn: Connection, kubectl: Kubectl
) -> None:
    dc = await get_datacenter(conn, DC)
    ours = {**dc.kubevirt, "vmEvictionStrategy": "External"}
    kubectl(
        "patch", "seed", "europe-west", "-n", "kubermatic", "--type", "merge",
        "-p", '{"spec": {"location": "Altona"}}',
    )  # fmt: skip
    with pytest.raises(DatacenterConflict) as caught:
        await apply_block(conn, dc, ours, dry_run=True)
    assert not caught.value.block_changed
    rebased = rebase(caught.value)
    assert rebased.block == ours
    await apply_block(conn, rebased.dc, rebased.block)
    final = api.get(SEED)
    assert final["spec"]["location"] == "Altona" and block(final) == ours


def test_rebase_names_the_paths_both_sides_changed() -> None:
    from kvtui.cluster.datacenter import Datacenter, DatacenterRef

    base = {"dnsPolicy": "ClusterFirst", "dnsConfig": {"nameservers": ["1.1.1.1"]}, "a": 1}
    ours = {"dnsPolicy": "None", "dnsConfig": {"nameservers": ["9.9.9.9"]}, "a": 2}
    theirs_block = {"dnsPolicy": "Default", "dnsConfig": {"nameservers": ["9.9.9.9"]}, "b": 3}
    theirs = Datacenter(
        ref=DatacenterRef("kubermatic", "europe-west", DC),
        country="DE",
        location="Hamburg",
        kubevirt=theirs_block,
        resource_version="42",
        clusters=[],
    )
    rebased = rebase(DatacenterConflict(ours, theirs, base, loaded_version="41"))
    # The same change on both sides is no clash; a different one is, and ours wins.
    assert rebased.clashes == ["a", "dnsPolicy"]
    assert rebased.block == {
        "dnsPolicy": "None",
        "dnsConfig": {"nameservers": ["9.9.9.9"]},
        "a": 2,
        "b": 3,
    }


@pytest.mark.kubectl
async def test_undo_restores_the_previous_block_unless_the_seed_changed(
    api: Api, conn: Connection, kubectl: Kubectl
) -> None:
    original = block(api.get(SEED))
    dc = await get_datacenter(conn, DC)
    applied = await apply_block(conn, dc, edited(dc.kubevirt))
    audit: Audit = []
    undone = await undo(conn, applied, dc.ref, record=lambda *entry: audit.append(entry))
    assert block(api.get(SEED)) == original
    assert undone.after == original and undone.before == applied.after
    assert audit == [("datacenter-undo", TARGET, False, None)]
    with pytest.raises(ValueError, match="nothing to undo"):
        await undo(conn, Applied({}, {}, "1", dry_run=True), dc.ref)

    # An undo on top of someone else's change would lose it: a conflict instead.
    again = await apply_block(conn, await get_datacenter(conn, DC), edited(original))
    kubectl(
        "patch", "seed", "europe-west", "-n", "kubermatic", "--type", "merge",
        "-p", json.dumps({"spec": {"datacenters": {DC: {"country": "AT"}}}}),
    )  # fmt: skip
    with pytest.raises(DatacenterConflict) as caught:
        await undo(conn, again, dc.ref)
    assert caught.value.ours == original and caught.value.base == again.after
    assert block(api.get(SEED)) == again.after


async def test_a_read_only_user_is_refused_and_audited(cluster: SimHandle, api: Api) -> None:
    async with await Connection.open(str(cluster.kubeconfig), cluster.readonly_context) as viewer:
        dc = await get_datacenter(viewer, DC)
        audit: Audit = []
        with pytest.raises(Forbidden):
            await apply_block(viewer, dc, edited(dc.kubevirt), record=lambda *e: audit.append(e))
    [(verb, target, dry_run, error)] = audit
    assert (verb, target, dry_run) == ("datacenter-apply", TARGET, False)
    assert error and error.startswith("forbidden: cannot patch seeds")
    assert block(api.get(SEED)) == dc.kubevirt


async def test_export_then_import_round_trips(api: Api, conn: Connection, tmp_path: Path) -> None:
    dc = await get_datacenter(conn, DC)
    path = export_block(dc, tmp_path / "dc.yaml")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert path.read_text().startswith(f"# spec.kubevirt of datacenter {DC} ")
    imported, findings = import_block(path)
    assert imported == dc.kubevirt and not errors(findings)

    broken = tmp_path / "broken.yaml"
    broken.write_text("dnsPolicy: None\ndnsConfig:\n  nameservers: [10.0.0.10\n")
    imported, findings = import_block(broken)
    assert imported is None
    [finding] = errors(findings)
    assert finding.line is not None and finding.line >= 3

    imported, findings = import_block(tmp_path / "missing.yaml")
    assert imported is None and "cannot read" in errors(findings)[0].message


async def test_a_datacenter_removed_meanwhile_is_reported_not_recreated(
    api: Api, conn: Connection
) -> None:
    dc = await get_datacenter(conn, "kubevirt-ham2")
    gone = {"spec": {"datacenters": {"kubevirt-ham2": None}}}
    assert api("PATCH", SEED, gone, content_type=MERGE).status_code == 200
    audit: Audit = []
    with pytest.raises(LookupError, match="kubevirt-ham2 is gone; nothing was applied"):
        new = {**dc.kubevirt, "vmEvictionStrategy": "LiveMigrate"}
        await apply_block(conn, dc, new, record=lambda *e: audit.append(e))
    assert "kubevirt-ham2" not in api.get(SEED)["spec"]["datacenters"]
    [(_, _, _, error)] = audit
    assert error and "is gone" in error


def test_saved_edits_never_take_each_others_file(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """Edits saved in the same second land in files of their own, private to their owner;
    a state dir that cannot be made is an OSError for the caller to handle."""
    monkeypatch.setattr(time, "strftime", lambda _format: "20261124T031500")  # one second
    first = save_edit_text(DC, "vmEvictionStrategy: External\n")
    second = save_edit_text(DC, "vmEvictionStrategy: LiveMigrate\n")
    assert first.name == f"{DC}-edit-20261124T031500.yaml"
    assert second.name == f"{DC}-edit-20261124T031500-2.yaml"
    assert first.parent == second.parent == saved_blocks_dir()
    assert first.read_text() == "vmEvictionStrategy: External\n"
    assert second.read_text() == "vmEvictionStrategy: LiveMigrate\n"
    assert {first.stat().st_mode & 0o777, second.stat().st_mode & 0o777} == {0o600}
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    monkeypatch.setenv("XDG_STATE_HOME", str(blocked))
    with pytest.raises(OSError):
        save_edit_text(DC, "x: 1\n")

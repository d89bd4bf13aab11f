"""`kvtui instancetype list|create|delete` as an admin runs them, against one simulator.

Commands run in subprocesses with conftest's isolated HOME; kubectl says what the cluster holds
afterwards. Each test creates the objects it changes under its own name, so the module shares
one cluster; the scenario's own objects are only ever read or refused.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from kvtui.sim.runner import SimHandle, running_simulator
from tests.conftest import Kubectl, require_tool
from tests.test_cli import assert_one_line_error, kvtui
from tests.test_datacenter_cli import Terminal

CIT = "virtualmachineclusterinstancetype"
USED = "cx1.medium"  # the ci-runners MachineDeployment's VMs use it


@pytest.fixture(scope="module")
def cluster() -> Iterator[SimHandle]:
    with running_simulator(scenario="default", speed=10.0, seed=61) as handle:
        yield handle


@pytest.fixture
def kubectl(cluster: SimHandle) -> Kubectl:
    return Kubectl(require_tool("kubectl"), cluster.kubeconfig)


def on(handle: SimHandle, *args: str) -> subprocess.CompletedProcess[str]:
    return kvtui("--kubeconfig", str(handle.kubeconfig), "--context", handle.context, *args)


def audit_entries() -> list[dict]:
    path = Path(os.environ["XDG_STATE_HOME"]) / "kvtui" / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def exists(kubectl: Kubectl, name: str) -> bool:
    proc = kubectl("get", CIT, name, "-o", "name", check=False)
    assert proc.returncode == 0 or "NotFound" in proc.stderr, proc.stderr
    return proc.returncode == 0


def create(handle: SimHandle, name: str) -> None:
    proc = on(handle, "instancetype", "create", name, "--cpus", "2", "--memory", "4Gi", "--yes")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def expected_usage(kubectl: Kubectl) -> Counter[tuple[str, str, str]]:
    """(kind, namespace, name) -> VMs, from the VMs' own spec references as kubectl lists
    them: an empty kind is the cluster-scoped one, as KubeVirt reads it."""
    vms = json.loads(kubectl("get", "vm", "-A", "-o", "json").stdout)["items"]
    counts: Counter[tuple[str, str, str]] = Counter()
    for vm in vms:
        for what, cluster_kind in (
            ("instancetype", "VirtualMachineClusterInstancetype"),
            ("preference", "VirtualMachineClusterPreference"),
        ):
            ref = vm["spec"].get(what)
            if not ref:
                continue
            kind = ref.get("kind") or cluster_kind
            namespace = "" if kind == cluster_kind else vm["metadata"]["namespace"]
            counts[(kind, namespace, ref["name"])] += 1
    return counts


@pytest.mark.kubectl
def test_list_counts_the_vms_that_use_each(cluster: SimHandle, kubectl: Kubectl) -> None:
    proc = on(cluster, "instancetype", "list", "-o", "json")
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    rows = json.loads(proc.stdout)
    got = {(r["kind"], r["namespace"], r["name"]): r["usedBy"] for r in rows}
    wanted = expected_usage(kubectl)
    assert wanted  # the scenario's VMs do reference templates
    assert {key: got.get(key) for key in wanted} == dict(wanted)
    assert all(count == 0 for key, count in got.items() if key not in wanted)
    assert sum(len(r["vms"]) for r in rows) == sum(wanted.values())
    standard = [r for r in rows if r["name"] == "standard-2"]
    assert standard and all(r["kkpStandard"] == "standard" for r in standard)

    text = on(cluster, "instancetype", "list")
    assert text.returncode == 0, text.stderr
    header, *lines = text.stdout.splitlines()
    assert header.split() == ["KIND", "SCOPE", "NAME", "VCPUS", "MEMORY", "DETAILS", "KKP", "VMS"]
    assert len(lines) == len(rows)
    [line] = [row for row in lines if row.split()[2] == USED]
    assert line.split()[-1] == str(wanted[("VirtualMachineClusterInstancetype", "", USED)])


@pytest.mark.kubectl
def test_create_then_kubectl_sees_it(cluster: SimHandle, kubectl: Kubectl) -> None:
    proc = on(
        cluster,
        "instancetype",
        "create",
        "pin.large",
        "--cpus",
        "8",
        "--memory",
        "16Gi",
        "--dedicated-cpus",
        "--yes",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    obj = json.loads(kubectl("get", CIT, "pin.large", "-o", "json").stdout)
    assert obj["spec"] == {
        "cpu": {"guest": 8, "dedicatedCPUPlacement": True},
        "memory": {"guest": "16Gi"},
    }
    assert obj["apiVersion"] == "instancetype.kubevirt.io/v1beta1"
    assert audit_entries()[-1] | {"time": ""} == {
        "time": "",
        "context": cluster.context,
        "user": audit_entries()[-1]["user"],
        "verb": "instancetype-create",
        "target": "virtualmachineclusterinstancetypes/pin.large",
        "dry_run": False,
        "result": "ok",
    }
    again = on(cluster, "instancetype", "create", "pin.large", "--cpus", "2", "--memory", "1Gi")
    assert_one_line_error(again, "already exists")
    assert again.returncode == 1


@pytest.mark.kubectl
def test_invalid_flags_send_nothing(cluster: SimHandle, kubectl: Kubectl) -> None:
    for flags, fragment in (
        (("--cpus", "0", "--memory", "4Gi"), "spec.cpu.guest"),
        (("--cpus", "2", "--memory", "lots"), "spec.memory.guest"),
        (("--cpus", "two", "--memory", "4Gi"), "spec.cpu.guest"),
    ):
        proc = on(cluster, "instancetype", "create", "bad.one", *flags, "--yes")
        assert_one_line_error(proc, fragment)
        assert proc.returncode == 1
    proc = on(cluster, "instancetype", "create", "Bad_Name", "--cpus", "1", "--memory", "1Gi")
    assert_one_line_error(proc, "metadata.name")
    assert not exists(kubectl, "bad.one")
    assert not [e for e in audit_entries() if "bad" in e["target"].lower()]


@pytest.mark.kubectl
def test_dry_run_create_and_delete_change_nothing(cluster: SimHandle, kubectl: Kubectl) -> None:
    proc = on(
        cluster, "instancetype", "create", "dry.one", "--cpus", "1", "--memory", "1Gi", "--dry-run"
    )
    assert proc.returncode == 0 and "Dry run" in proc.stdout, proc.stderr
    assert not exists(kubectl, "dry.one")

    create(cluster, "keep.me")
    before = kubectl("get", CIT, "keep.me", "-o", "json").stdout
    proc = on(cluster, "instancetype", "delete", "keep.me", "--dry-run")
    assert proc.returncode == 0 and "nothing was deleted" in proc.stdout, proc.stderr
    assert kubectl("get", CIT, "keep.me", "-o", "json").stdout == before
    assert audit_entries()[-1]["dry_run"] is True

    proc = on(cluster, "instancetype", "delete", "keep.me", "--yes")
    assert proc.returncode == 0, proc.stderr
    assert not exists(kubectl, "keep.me")
    assert_one_line_error(on(cluster, "instancetype", "delete", "keep.me", "--yes"), "not found")


@pytest.mark.kubectl
def test_deleting_a_used_one_is_refused_unless_forced_or_typed(
    cluster: SimHandle, kubectl: Kubectl
) -> None:
    users = [
        vm["metadata"]["name"]
        for vm in json.loads(kubectl("get", "vm", "-A", "-o", "json").stdout)["items"]
        if (vm["spec"].get("instancetype") or {}).get("name") == USED
    ]
    assert users
    proc = on(cluster, "instancetype", "delete", USED, "--yes")
    assert_one_line_error(proc, "in use", "--force")
    assert proc.returncode == 1
    assert all(name in proc.stdout for name in users)
    assert exists(kubectl, USED)
    # Without a terminal and without --yes there is no one to ask.
    proc = on(cluster, "instancetype", "delete", USED)
    assert proc.returncode == 2 and exists(kubectl, USED)

    # At a terminal: a wrong name changes nothing.
    term = Terminal(cluster, "instancetype", "delete", USED)
    term.wait_for(f"Type {USED} to delete")
    code, out, err = term.answer("y\n")
    assert code == 1 and "Nothing changed." in out, out + err
    assert exists(kubectl, USED)


@pytest.mark.kubectl
def test_typing_the_name_or_force_deletes_a_used_one(cluster: SimHandle, kubectl: Kubectl) -> None:
    """Runs last: it takes away what the scenario's ci-runners VMs use."""
    term = Terminal(cluster, "instancetype", "delete", USED)
    term.wait_for(f"Type {USED} to delete")
    code, out, err = term.answer(f"{USED}\n")
    assert code == 0, out + err
    assert not exists(kubectl, USED)

    create(cluster, "used.later")
    patch = {"spec": {"instancetype": {"name": "used.later"}}}
    kubectl(
        "patch",
        "vm",
        "-n",
        "cluster-k4n8vb2t6w",
        "bastion",
        "--type",
        "merge",
        "-p",
        json.dumps(patch),
    )
    proc = on(cluster, "instancetype", "delete", "used.later", "--yes", "--force")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "cluster-k4n8vb2t6w/bastion" in proc.stdout
    assert not exists(kubectl, "used.later")

"""`kvtui preset list|show|preview|apply` as an admin runs them, against one simulator.

Presets come from a config file each test writes into conftest's isolated XDG_CONFIG_HOME.
Commands run in subprocesses; kubectl and the simulator's API say what the cluster holds.
Tests that change the cluster touch different objects (staging-md, bastion), so they share it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
import yaml

from kvtui.sim.runner import SimHandle, running_simulator
from tests.conftest import Kubectl, require_tool
from tests.sim.http_helpers import Api, make_api
from tests.test_cli import assert_one_line_error
from tests.test_datacenter_cli import audit_entries, on

T = TypeVar("T")
STAGING = "cluster-k4n8vb2t6w"
ZONE = "topology.kubernetes.io/zone"
CPS = ("spec", "template", "spec", "providerSpec", "value", "cloudProviderSpec")
PRESETS = [
    {
        "name": "zone-b-only",
        "nodeAffinityPreset": {"type": "hard", "key": ZONE, "values": ["zone-b"]},
    },
    {
        "name": "zones",
        "topologySpreadConstraints": [
            {"maxSkew": 1, "topologyKey": ZONE, "whenUnsatisfiable": "DoNotSchedule"}
        ],
    },
    {"name": "gpu", "nodeAffinityPreset": {"type": "hard", "key": "gpu"}},
]


@pytest.fixture(autouse=True)
def config() -> Path:
    path = Path(os.environ["XDG_CONFIG_HOME"]) / "kvtui" / "config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"presets": PRESETS}, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def cluster() -> Iterator[SimHandle]:
    with running_simulator(scenario="default", speed=10.0, seed=81) as handle:
        yield handle


@pytest.fixture
def kubectl(cluster: SimHandle) -> Kubectl:
    return Kubectl(require_tool("kubectl"), cluster.kubeconfig)


@pytest.fixture
def api(cluster: SimHandle, tmp_path: Path) -> Api:
    return make_api(cluster, tmp_path)


def get(kubectl: Kubectl, resource: str, ns: str, name: str) -> dict:
    return json.loads(kubectl("get", resource, "-n", ns, name, "-o", "json").stdout)


def zone_of(kubectl: Kubectl) -> dict[str, str]:
    nodes = json.loads(kubectl("get", "nodes", "-o", "json").stdout)["items"]
    return {n["metadata"]["name"]: n["metadata"]["labels"].get(ZONE, "") for n in nodes}


def cloud_provider_spec(md: dict) -> dict:
    for key in CPS:
        md = md[key]
    return md


# -- the config ------------------------------------------------------------------------------
def test_list_and_show_read_the_config_file(cluster: SimHandle) -> None:
    proc = on(cluster, "preset", "list", "-o", "json")
    assert proc.returncode == 0, proc.stderr
    assert [p["name"] for p in json.loads(proc.stdout)] == ["zone-b-only", "zones", "gpu"]
    text = on(cluster, "preset", "list").stdout.splitlines()
    assert [line.split()[0] for line in text] == ["zone-b-only", "zones", "gpu"]
    assert "hard: topology.kubernetes.io/zone in (zone-b)" in text[0]

    shown = on(cluster, "preset", "show", "zones")
    assert shown.returncode == 0 and yaml.safe_load(shown.stdout) == {
        **PRESETS[1],
        "topologySpreadConstraints": PRESETS[1]["topologySpreadConstraints"],
    }
    assert json.loads(on(cluster, "preset", "show", "gpu", "-o", "json").stdout) == {
        **PRESETS[2],
        "topologySpreadConstraints": [],
        "nodeAffinityPreset": {"type": "hard", "key": "gpu", "values": []},
    }
    missing = on(cluster, "preset", "show", "nope")
    assert_one_line_error(missing, "no preset 'nope'", "zone-b-only")
    assert missing.returncode == 1


def test_a_bad_config_or_target_is_one_line(cluster: SimHandle, config: Path) -> None:
    bad = on(cluster, "preset", "preview", "zones", "--target", "deploy/x/y")
    assert bad.returncode == 2 and "expected md/NS/NAME[:REPLICAS]" in bad.stderr
    config.write_text("presets:\n  - name: x\n    topologySpreadConstraints: [{maxSkew: 0}]\n")
    proc = on(cluster, "preset", "list")
    assert_one_line_error(proc, "maxSkew")


# -- preview ---------------------------------------------------------------------------------
@pytest.mark.kubectl
def test_preview_json_of_new_replicas(cluster: SimHandle, kubectl: Kubectl) -> None:
    proc = on(cluster, "preset", "preview", "zone-b-only", "--target", f"md/{STAGING}/staging-md:3")
    assert proc.returncode == 0, proc.stderr
    assert "Where the VMs land:" in proc.stdout and "✗ kv-cp-1: taint" in proc.stdout

    proc = on(
        cluster,
        "preset",
        "preview",
        "zone-b-only",
        "--target",
        f"md/{STAGING}/staging-md:3",
        "-o",
        "json",
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    zones = zone_of(kubectl)
    verdicts = {n["name"]: n for n in data["nodes"]}
    assert set(verdicts) == set(zones)
    for name, zone in zones.items():
        if zone != "zone-b":
            assert not verdicts[name]["qualifies"] and verdicts[name]["reason"]
    assert [n for n, v in verdicts.items() if v["qualifies"]] == sorted(
        n for n, z in zones.items() if z == "zone-b"
    )
    assert len(data["landings"]) == 3 and data["unplaced"] == 0
    assert all(zones[landing["node"]] == "zone-b" for landing in data["landings"])
    [zone] = [s for s in data["spread"] if s["topologyKey"] == ZONE]
    assert sum(zone["after"].values()) - sum(zone["before"].values()) == 3


@pytest.mark.kubectl
def test_preview_of_vms_by_selector_says_where_each_goes(
    cluster: SimHandle, kubectl: Kubectl
) -> None:
    target = f"vms/{STAGING}/md=staging-md"
    proc = on(cluster, "preset", "preview", "zone-b-only", "--target", target, "-o", "json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    listed = json.loads(
        kubectl("get", "vm", "-n", STAGING, "-l", "md=staging-md", "-o", "json").stdout
    )
    names = sorted(vm["metadata"]["name"] for vm in listed["items"])
    assert [landing["vm"] for landing in data["landings"]] == names
    zones = zone_of(kubectl)
    assert all(zones[landing["node"]] == "zone-b" for landing in data["landings"])
    assert all(landing["from"] for landing in data["landings"])


def test_preview_exits_1_when_vms_find_no_node(cluster: SimHandle) -> None:
    proc = on(cluster, "preset", "preview", "zones", "--target", f"md/{STAGING}/staging-md:200")
    assert proc.returncode == 1, proc.stderr
    assert "would not be scheduled" in proc.stdout and "nowhere" in proc.stdout
    hard = on(cluster, "preset", "preview", "gpu", "--target", f"vms/{STAGING}")
    assert_one_line_error(hard, "no schedulable node matches hard: has gpu")
    assert hard.returncode == 1
    none = on(cluster, "preset", "preview", "zones", "--target", f"vms/{STAGING}/app=nothing")
    assert_one_line_error(none, "no VMs match")


# -- apply -----------------------------------------------------------------------------------
@pytest.mark.kubectl
def test_apply_dry_run_then_apply_to_a_machine_deployment(
    cluster: SimHandle, kubectl: Kubectl
) -> None:
    target = f"md/{STAGING}/staging-md"
    before = get(kubectl, "machinedeployment", STAGING, "staging-md")
    proc = on(cluster, "preset", "apply", "zones", "--target", target, "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert "+  topologyKey: topology.kubernetes.io/zone" in proc.stdout
    assert "Dry run" in proc.stdout and "replaced by new ones" in proc.stdout
    assert get(kubectl, "machinedeployment", STAGING, "staging-md") == before

    refused = on(cluster, "preset", "apply", "zones", "--target", target)  # no terminal
    assert refused.returncode == 2
    assert get(kubectl, "machinedeployment", STAGING, "staging-md") == before

    proc = on(cluster, "preset", "apply", "zones", "--target", target, "--yes")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    cps = cloud_provider_spec(get(kubectl, "machinedeployment", STAGING, "staging-md"))
    assert cps["topologySpreadConstraints"] == [
        {"maxSkew": "1", "topologyKey": ZONE, "whenUnsatisfiable": "DoNotSchedule"}
    ]
    assert cps["affinity"]["nodeAffinityPreset"] == {"type": "", "key": "", "values": []}
    mine = [e for e in audit_entries() if e["target"] == f"machinedeployment/{STAGING}/staging-md"]
    assert [(e["dry_run"], e["result"]) for e in mine][-2:] == [(True, "ok"), (False, "ok")]

    again = on(cluster, "preset", "apply", "zones", "--target", target, "--yes")
    assert again.returncode == 0 and again.stdout.startswith("No changes:")


def test_apply_is_refused_on_a_read_only_context(cluster: SimHandle) -> None:
    proc = on(
        cluster,
        "--read-only",
        "preset",
        "apply",
        "zone-b-only",
        "--target",
        f"vms/{STAGING}/kubevirt.io/vm=bastion",
        "--yes",
    )
    assert_one_line_error(proc, "read-only")
    assert proc.returncode == 1


def _wait(check: Callable[[], T | None], what: str, timeout: float = 90) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.kubectl
def test_a_vm_picks_the_preset_up_on_restart_and_keeps_it_on_migration(
    cluster: SimHandle, kubectl: Kubectl, api: Api
) -> None:
    """What the simulator does, as KubeVirt without live-updated affinity does: the preset
    changes the VM's template only. The running VMI keeps its old rules, and a migration's
    target pod is built from the VMI's spec (kvtui/sim/controllers/migration.py), so a
    migration alone would not apply the preset. After a restart the new VMI carries the
    preset: it starts on an allowed node, and a migration then lands on an allowed node too
    (zone-b has two workers, so the target must be the other zone-b one)."""
    target = f"vms/{STAGING}/kubevirt.io/vm=bastion"
    vmi_before = get(kubectl, "vmi", STAGING, "bastion")
    proc = on(cluster, "preset", "apply", "zone-b-only", "--target", target, "--yes")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "old placement until they restart" in proc.stdout
    assert f"to the VMI): {STAGING}/bastion" in proc.stdout
    vm = get(kubectl, "vm", STAGING, "bastion")
    required = vm["spec"]["template"]["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]
    assert required["nodeSelectorTerms"] == [
        {"matchExpressions": [{"key": ZONE, "operator": "In", "values": ["zone-b"]}]}
    ]
    assert get(kubectl, "vmi", STAGING, "bastion")["spec"] == vmi_before["spec"]

    zones = zone_of(kubectl)
    base = f"/apis/subresources.kubevirt.io/v1/namespaces/{STAGING}/virtualmachines/bastion"
    assert api("PUT", f"{base}/restart", {}).status_code == 200

    def restarted() -> dict | None:
        vmi = kubectl("get", "vmi", "-n", STAGING, "bastion", "-o", "json", check=False)
        if vmi.returncode:
            return None
        obj = json.loads(vmi.stdout)
        fresh = obj["metadata"]["uid"] != vmi_before["metadata"]["uid"]
        running = (obj.get("status") or {}).get("phase") == "Running"
        return obj if fresh and running and obj["status"].get("nodeName") else None

    vmi = _wait(restarted, "bastion to run again")
    first = vmi["status"]["nodeName"]
    assert zones[first] == "zone-b", first

    assert api("PUT", f"{base}/migrate", {}).status_code == 202

    def migrated() -> str | None:
        obj = get(kubectl, "vmi", STAGING, "bastion")
        state = (obj.get("status") or {}).get("migrationState") or {}
        node = obj["status"].get("nodeName")
        return node if state.get("completed") and node != first else None

    second = _wait(migrated, "bastion's migration")
    assert zones[second] == "zone-b" and second != first

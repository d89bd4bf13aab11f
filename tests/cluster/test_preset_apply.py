"""Putting a preset on MachineDeployments and VMs: the minimal patch, then against the simulator
(dry run first, exactly those fields, a stale resourceVersion is a conflict), read back with
kubectl."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from kvtui.cluster import kinds
from kvtui.cluster.connection import Connection
from kvtui.cluster.errors import NotFound
from kvtui.cluster.preset_apply import (
    MACHINE_DEPLOYMENTS,
    PresetConflict,
    apply_change,
    apply_preset,
    plan_machine_deployment,
    plan_vm,
    plan_vms,
)
from kvtui.cluster.presets import (
    DO_NOT_SCHEDULE,
    HARD,
    HOSTNAME,
    PRESET_LABEL,
    SOFT,
    ZONE,
    NodeAffinityPreset,
    Preset,
    SpreadConstraint,
    machine_deployment_fragment,
    md_selector,
    vm_affinity,
    vm_topology_spread,
)
from kvtui.sim.runner import SimHandle, running_simulator
from tests.conftest import Kubectl, require_tool

PRESET = Preset(
    "zones",
    (SpreadConstraint(1, ZONE, DO_NOT_SCHEDULE),),
    NodeAffinityPreset(HARD, "node-role.kubernetes.io/worker"),
)
STAGING = "cluster-k4n8vb2t6w"
PROD = "cluster-x7k2mq9p4d"
Audit = list[tuple[str, str, bool, str | None]]


# -- planning, without a cluster ---------------------------------------------------------------
def md(**cloud_provider_spec: Any) -> dict:
    spec = {"clusterName": "c", "virtualMachine": {"template": {"memory": "4Gi"}}}
    return {
        "metadata": {"namespace": "ns", "name": "workers", "resourceVersion": "7"},
        "spec": {
            "replicas": 2,
            "template": {
                "spec": {
                    "providerSpec": {
                        "value": {"cloudProviderSpec": {**spec, **cloud_provider_spec}}
                    }
                }
            },
        },
    }


def test_a_machine_deployment_patch_touches_only_the_preset_fields() -> None:
    live = md(
        affinity={
            "nodeAffinityPreset": {"type": "", "key": "", "values": []},
            "podAntiAffinityPreset": {"type": "soft"},  # deprecated, but not ours
        },
        topologySpreadConstraints=[],
    )
    change = plan_machine_deployment(live, PRESET)
    assert change.target == "machinedeployment/ns/workers"
    assert change.body() == {
        "metadata": {"resourceVersion": "7"},
        "spec": {
            "template": {
                "spec": {
                    "providerSpec": {
                        "value": {
                            "cloudProviderSpec": {
                                "affinity": {
                                    "nodeAffinityPreset": {
                                        "type": "hard",
                                        "key": "node-role.kubernetes.io/worker",
                                    }
                                },
                                "topologySpreadConstraints": [
                                    {
                                        "maxSkew": "1",
                                        "topologyKey": ZONE,
                                        "whenUnsatisfiable": "DoNotSchedule",
                                    }
                                ],
                            }
                        }
                    }
                }
            }
        },
    }
    lines = [text for _, text in change.diff()]
    assert lines[:2] == [
        "--- machinedeployment/ns/workers (live)",
        "+++ machinedeployment/ns/workers (preset zones)",
    ]
    assert "+    type: hard" in lines and "-    type: ''" in lines
    # Already there: nothing to change, nothing to diff.
    done = md(**machine_deployment_fragment(PRESET))
    assert not plan_machine_deployment(done, PRESET).changed
    assert plan_machine_deployment(done, PRESET).diff() == []


def vm(name: str = "bastion", **template_spec: Any) -> dict:
    return {
        "metadata": {"namespace": "ns", "name": name, "resourceVersion": "9"},
        "spec": {
            "runStrategy": "Always",
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"domain": {"devices": {}}, **template_spec},
            },
        },
    }


def test_a_standalone_vm_gets_the_preset_label_and_keeps_its_pod_affinity() -> None:
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": []}}
    pinned = vm_affinity(Preset("x", affinity=NodeAffinityPreset(SOFT, HOSTNAME, ("n1",))))
    live = vm(affinity={**pinned, **anti})
    change = plan_vm(live, PRESET)
    selector = {"matchLabels": {PRESET_LABEL: "zones"}}
    assert change.body() == {
        "metadata": {"resourceVersion": "9"},
        "spec": {
            "template": {
                "metadata": {"labels": {PRESET_LABEL: "zones"}},
                "spec": {
                    "affinity": {
                        "nodeAffinity": {
                            "preferredDuringSchedulingIgnoredDuringExecution": None,
                            **vm_affinity(PRESET)["nodeAffinity"],
                        }
                    },
                    "topologySpreadConstraints": vm_topology_spread(PRESET, selector),
                },
            }
        },
    }
    # No affinity in the preset: nodeAffinity goes, podAntiAffinity stays.
    bare = plan_vm(live, Preset("zones", PRESET.spread))
    assert bare.body()["spec"]["template"]["spec"]["affinity"] == {"nodeAffinity": None}
    # Nothing there and nothing wanted: no empty affinity is written.
    assert "affinity" not in plan_vm(vm(), Preset("zones")).body()["spec"]["template"]["spec"]


def test_vms_of_one_machine_deployment_spread_by_its_md_label() -> None:
    a, b = vm("w-1"), vm("w-2")
    for one in (a, b):
        one["spec"]["template"]["metadata"]["labels"]["md"] = "w"
    changes = plan_vms([a, b], PRESET)
    for change in changes:
        spec = change.after["spec"]
        assert [c["labelSelector"] for c in spec["topologySpreadConstraints"]] == [md_selector("w")]
        assert "metadata" not in change.after  # no label of ours needed
    mixed = plan_vms([a, vm("bastion")], PRESET)
    assert all(c.after["metadata"] == {"labels": {PRESET_LABEL: "zones"}} for c in mixed)


# -- against the simulator ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def cluster() -> Iterator[SimHandle]:
    with running_simulator(scenario="default", speed=10.0, seed=51) as handle:
        yield handle


@pytest.fixture
def kubectl(cluster: SimHandle) -> Kubectl:
    return Kubectl(require_tool("kubectl"), cluster.kubeconfig)


def get(kubectl: Kubectl, resource: str, ns: str, name: str) -> dict:
    return json.loads(kubectl("get", resource, "-n", ns, name, "-o", "json").stdout)


def without(obj: dict, *paths: tuple[str, ...]) -> dict:
    """A copy without the fields any write changes and without `paths`."""
    rest = copy.deepcopy(obj)
    rest.pop("status", None)
    for key in ("resourceVersion", "generation", "managedFields"):
        rest["metadata"].pop(key, None)
    for path in paths:
        here = rest
        for key in path[:-1]:
            here = here.get(key) or {}
        here.pop(path[-1], None)
    return rest


CPS = ("spec", "template", "spec", "providerSpec", "value", "cloudProviderSpec")


@pytest.mark.kubectl
async def test_machine_deployment_dry_run_then_apply(conn: Connection, kubectl: Kubectl) -> None:
    md_kind = "machinedeployments.cluster.k8s.io"
    before = get(kubectl, md_kind, PROD, "prod-eu-workers")
    change = plan_machine_deployment(before, PRESET)
    audit: Audit = []

    def record(*entry: Any) -> None:
        audit.append(entry)

    dry = await apply_change(conn, change, dry_run=True, record=record)
    assert get(kubectl, md_kind, PROD, "prod-eu-workers") == before  # resourceVersion too
    assert dry.dry_run and dry.after == machine_deployment_fragment(PRESET)
    assert dry.resource_version == before["metadata"]["resourceVersion"]
    vms = dry.replaced_vms
    assert len(vms) == 3 and all(v.startswith("prod-eu-workers-") for v in vms)

    applied = await apply_change(conn, change, record=record)
    after = get(kubectl, md_kind, PROD, "prod-eu-workers")
    cps = after
    for key in CPS:
        cps = cps[key]
    assert cps["affinity"] == machine_deployment_fragment(PRESET)["affinity"]
    assert cps["topologySpreadConstraints"] == [
        {"maxSkew": "1", "topologyKey": ZONE, "whenUnsatisfiable": "DoNotSchedule"}
    ]
    assert without(after, (*CPS, "affinity"), (*CPS, "topologySpreadConstraints")) == without(
        before, (*CPS, "affinity"), (*CPS, "topologySpreadConstraints")
    )
    # (the controllers write the MD's status right after us: its version moves on)
    assert applied.resource_version != change.resource_version and not applied.dry_run
    target = "machinedeployment/cluster-x7k2mq9p4d/prod-eu-workers"
    assert audit == [("preset-apply", target, True, None), ("preset-apply", target, False, None)]

    # Applying it again sends nothing.
    again = plan_machine_deployment(after, PRESET)
    same = await apply_change(conn, again, record=record)
    assert not same.sent and len(audit) == 2
    # (no version check here: the simulated machine-controller may write status meanwhile)
    assert get(kubectl, md_kind, PROD, "prod-eu-workers")["spec"] == after["spec"]


@pytest.mark.kubectl
async def test_vm_apply_changes_the_template_and_leaves_the_running_vmi(
    conn: Connection, kubectl: Kubectl
) -> None:
    before = get(kubectl, "vm", STAGING, "bastion")
    vmi_before = get(kubectl, "vmi", STAGING, "bastion")
    change = plan_vm(before, PRESET)
    result = await apply_preset(conn, [change], dry_run=True)
    assert result.failures == [] and result.applied[0].dry_run
    assert get(kubectl, "vm", STAGING, "bastion") == before

    audit: Audit = []
    result = await apply_preset(conn, [change], record=lambda *entry: audit.append(entry))
    assert result.failures == []
    assert result.needs_restart == [(STAGING, "bastion")]
    after = get(kubectl, "vm", STAGING, "bastion")
    template = after["spec"]["template"]
    selector = {"matchLabels": {PRESET_LABEL: "zones"}}
    assert template["spec"]["affinity"] == vm_affinity(PRESET)
    assert template["spec"]["topologySpreadConstraints"] == vm_topology_spread(PRESET, selector)
    assert template["metadata"]["labels"] == {
        **before["spec"]["template"]["metadata"]["labels"],
        PRESET_LABEL: "zones",
    }
    fields = (
        ("spec", "template", "spec", "affinity"),
        ("spec", "template", "spec", "topologySpreadConstraints"),
        ("spec", "template", "metadata", "labels"),
    )
    assert without(after, *fields) == without(before, *fields)
    # The running VMI keeps the old rules until a restart or migration.
    assert get(kubectl, "vmi", STAGING, "bastion")["spec"] == vmi_before["spec"]
    target = f"vm/{STAGING}/bastion"
    # Dry run of the batch, then the change's own dry run and real patch (one record).
    assert audit == [("preset-apply", target, True, None), ("preset-apply", target, False, None)]


@pytest.mark.kubectl
async def test_a_stale_resource_version_is_a_conflict(conn: Connection, kubectl: Kubectl) -> None:
    [name] = kubectl("get", "vm", "-n", STAGING, "-l", "md=staging-db", "-o", "name").stdout.split()
    name = name.rsplit("/", 1)[1]
    read = get(kubectl, "vm", STAGING, name)
    change = plan_vm(read, Preset("soft-zone", affinity=NodeAffinityPreset(SOFT, ZONE)))
    kubectl("label", "vm", "-n", STAGING, name, "team=db")
    changed = get(kubectl, "vm", STAGING, name)
    audit: Audit = []
    with pytest.raises(PresetConflict) as caught:
        await apply_change(conn, change, record=lambda *entry: audit.append(entry))
    assert caught.value.current_version == changed["metadata"]["resourceVersion"]
    assert "nothing was applied" in str(caught.value)
    assert get(kubectl, "vm", STAGING, name) == changed
    [(verb, target, dry_run, error)] = audit
    assert (verb, target, dry_run) == ("preset-apply", f"vm/{STAGING}/{name}", False)
    assert error is not None and "changed since it was read" in error

    # A batch: the conflict is listed, the other change still goes through.
    other = plan_vm(get(kubectl, "vm", STAGING, name), Preset("soft-zone"))
    stale = plan_vm(read, Preset("soft-zone"))
    result = await apply_preset(conn, [other, stale])
    assert [type(exc) for _, exc in result.failures] == [PresetConflict]
    assert [a.change for a in result.applied] == []  # a failed dry run stops every real write
    assert get(kubectl, "vm", STAGING, name) == changed


async def test_a_missing_object_fails_its_dry_run(conn: Connection) -> None:
    missing = vm("ghost")
    missing["metadata"]["namespace"] = STAGING
    ghost = plan_vm(missing, PRESET)
    with pytest.raises(NotFound):
        await apply_change(conn, ghost, dry_run=True)


def test_md_kind_paths() -> None:
    assert MACHINE_DEPLOYMENTS.path("ns", "w") == (
        "/apis/cluster.k8s.io/v1alpha1/namespaces/ns/machinedeployments/w"
    )
    assert kinds.VMS.path("ns", "v").endswith("/namespaces/ns/virtualmachines/v")

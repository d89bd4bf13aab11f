"""Each mechanical fix turns its check green against the simulator, verified with kubectl; a
fix previews as a diff and a server-side dry run first, is guarded by the resourceVersion the
doctor read (a concurrent change is a conflict, nothing is overwritten) and is audited."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest

from kvtui.cluster.connection import Connection
from kvtui.cluster.doctor import Status, run_doctor
from kvtui.cluster.doctor_fixes import FixConflict, FixResult, apply_fix, lb_selector_fix
from kvtui.cluster.doctor_model import CheckResult
from kvtui.cluster.errors import Forbidden
from kvtui.sim.runner import SimHandle, running_simulator
from tests.conftest import Kubectl

LB = "a8d41e6b02c7f4a93b5d80f6a1c9e3b2"
LB_NAMESPACE = "cluster-k4n8vb2t6w"
# kubectl reads of what each fix changes.
READS = {
    "upgrade.lb-selector": (
        "get",
        "service",
        LB,
        "-n",
        LB_NAMESPACE,
        "-o",
        "jsonpath={.spec.selector}",
    ),
    "kubevirt.feature-gates": (
        "get",
        "kubevirt",
        "kubevirt",
        "-n",
        "kubevirt",
        "-o",
        "jsonpath={.spec.configuration.developerConfiguration.featureGates}",
    ),
    "monitoring.kubevirt": (
        "get",
        "kubevirt",
        "kubevirt",
        "-n",
        "kubevirt",
        "-o",
        "jsonpath={.spec}",
    ),
    "cdi.honor-wffc": ("get", "cdi", "cdi", "-o", "jsonpath={.spec.config.featureGates}"),
}
GUIDE_GATES_BUT_SNAPSHOT = [
    "ExperimentalIgnitionSupport",
    "DataVolumes",
    "LiveMigration",
    "CPUManager",
    "CPUNodeDiscovery",
    "Sidecar",
    "HotplugVolumes",
]


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimHandle]:
    """The default cluster, and CDI without HonorWaitForFirstConsumer for its local-path."""
    scenario = tmp_path_factory.mktemp("scenario") / "no-wffc.yaml"
    scenario.write_text("extends: default\nname: no-wffc\ncdi:\n  featureGates: []\n")
    with running_simulator(scenario=str(scenario), speed=10.0, seed=31) as handle:
        yield handle


def doctor(handle: SimHandle, check: str, context: str | None = None) -> CheckResult:
    async def run() -> CheckResult:
        conn = await Connection.open(str(handle.kubeconfig), context or handle.context)
        async with conn:
            [result] = (await run_doctor(conn, only=[check])).results
            return result

    return asyncio.run(run())


def fix(
    handle: SimHandle,
    result: CheckResult,
    *,
    dry_run: bool,
    context: str | None = None,
    records: list | None = None,
) -> FixResult:
    async def run() -> FixResult:
        conn = await Connection.open(str(handle.kubeconfig), context or handle.context)
        async with conn:
            record = (lambda *entry: records.append(entry)) if records is not None else None
            return await apply_fix(conn, result.fix, dry_run=dry_run, record=record)

    return asyncio.run(run())


def read(kubectl: Kubectl, check: str) -> object:
    return json.loads(kubectl(*READS[check]).stdout)


def expected(check: str, before: object) -> object:
    """What kubectl must show once the fix is in (from what it showed before)."""
    if check == "upgrade.lb-selector":
        return {"cluster.x-k8s.io/cluster-name": "k4n8vb2t6w"}
    if check == "kubevirt.feature-gates":
        return [*before, "Snapshot"]
    if check == "monitoring.kubevirt":
        return {**before, "monitorAccount": "prometheus-k8s"}
    return ["HonorWaitForFirstConsumer"]


@pytest.mark.parametrize("check", list(READS))
def test_a_fix_turns_its_check_green(broken: SimHandle, kubectl_binary: str, check: str) -> None:
    kubectl = Kubectl(kubectl_binary, broken.kubeconfig)
    result = doctor(broken, check)
    assert result.status is not Status.OK and result.fix is not None
    before = read(kubectl, check)
    assert before != expected(check, before)
    # The preview: a diff of only the fields the fix owns, then the server's dry run.
    diff = [line for kind, line in result.fix.diff() if kind in ("add", "remove")]
    assert diff and all(line[1:].strip() for line in diff)
    records: list = []
    checked = fix(broken, result, dry_run=True, records=records)
    assert checked.ok and checked.dry_run
    assert [a.after for a in checked.applied] == [t.after for t in result.fix.targets]
    assert read(kubectl, check) == before  # a dry run changes nothing
    applied = fix(broken, result, dry_run=False, records=records)
    assert applied.ok and not applied.dry_run
    assert read(kubectl, check) == expected(check, before)
    [target] = result.fix.targets
    assert records == [
        ("doctor-fix", f"{target.target} ({check})", True, None),  # the preview
        ("doctor-fix", f"{target.target} ({check})", True, None),  # apply: dry run first
        ("doctor-fix", f"{target.target} ({check})", False, None),
    ]
    after = doctor(broken, check)
    assert after.status is Status.OK and after.fix is None
    if check == "upgrade.lb-selector":  # the LoadBalancer reaches the cluster's workers again
        pods = kubectl(
            "get",
            "pods",
            "-n",
            LB_NAMESPACE,
            "-l",
            "cluster.x-k8s.io/cluster-name=k4n8vb2t6w",
            "-o",
            "name",
        ).stdout.split()
        assert len(pods) == 3 and all(p.startswith("pod/virt-launcher-") for p in pods)


def test_a_concurrent_change_is_a_conflict_and_nothing_is_overwritten(
    fresh_sim: SimHandle, kubectl_binary: str
) -> None:
    kubectl = Kubectl(kubectl_binary, fresh_sim.kubeconfig)
    result = doctor(fresh_sim, "kubevirt.feature-gates")
    # Someone else edits the KubeVirt CR between the doctor's read and the fix.
    kubectl("-n", "kubevirt", "label", "kubevirt", "kubevirt", "edited-by=someone")
    records: list = []
    outcome = fix(fresh_sim, result, dry_run=False, records=records)
    [(target, error)] = outcome.failures
    assert isinstance(error, FixConflict) and outcome.applied == []
    assert "changed since the doctor read it" in str(error) and error.current_version
    assert records == [
        ("doctor-fix", f"{target.target} (kubevirt.feature-gates)", True, str(error))
    ]
    assert "Snapshot" not in read(kubectl, "kubevirt.feature-gates")
    # Read again, fix again: their label stays, the gate arrives.
    assert fix(fresh_sim, doctor(fresh_sim, "kubevirt.feature-gates"), dry_run=False).ok
    assert "Snapshot" in read(kubectl, "kubevirt.feature-gates")
    labels = kubectl(
        "-n",
        "kubevirt",
        "get",
        "kubevirt",
        "kubevirt",
        "-o",
        "jsonpath={.metadata.labels.edited-by}",
    ).stdout
    assert labels == "someone"


def test_a_token_that_may_not_patch_changes_nothing(
    fresh_sim: SimHandle, kubectl_binary: str
) -> None:
    kubectl = Kubectl(kubectl_binary, fresh_sim.kubeconfig)
    result = doctor(fresh_sim, "upgrade.lb-selector", fresh_sim.readonly_context)
    assert result.status is Status.FAILURE
    before = read(kubectl, "upgrade.lb-selector")
    records: list = []
    outcome = fix(
        fresh_sim, result, dry_run=False, context=fresh_sim.readonly_context, records=records
    )
    [(_, error)] = outcome.failures
    assert isinstance(error, Forbidden) and "kvtui-viewer" in str(error)
    assert read(kubectl, "upgrade.lb-selector") == before
    assert [(dry, err is not None) for _, _, dry, err in records] == [(True, True)]
    assert result.fix.rbac == [("patch", "", "services", "")]


def test_a_fix_with_several_targets_is_dry_run_whole_before_anything_changes(
    fresh_sim: SimHandle, kubectl_binary: str
) -> None:
    kubectl = Kubectl(kubectl_binary, fresh_sim.kubeconfig)
    result = doctor(fresh_sim, "upgrade.lb-selector")
    [target] = result.fix.targets
    service = json.loads(kubectl("get", "service", LB, "-n", LB_NAMESPACE, "-o", "json").stdout)
    gone = json.loads(json.dumps(service))
    gone["metadata"]["name"] = "no-such-service"
    two = lb_selector_fix("upgrade.lb-selector", [(service, "k4n8vb2t6w"), (gone, "k4n8vb2t6w")])
    outcome = fix(
        fresh_sim,
        CheckResult(result.id, result.area, result.title, result.status, result.summary, fix=two),
        dry_run=False,
    )
    assert [t.name for t, _ in outcome.failures] == ["no-such-service"] and not outcome.applied
    assert read(kubectl, "upgrade.lb-selector") == target.before["spec"]["selector"]

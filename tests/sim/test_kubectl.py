"""Stock kubectl against the simulator: the same commands an admin runs on a real cluster."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.conftest import Kubectl


def _json(kubectl: Kubectl, *args: str) -> dict:
    return json.loads(kubectl(*args, "-o", "json").stdout)


def _vmis(kubectl: Kubectl) -> list[dict]:
    return _json(kubectl, "get", "vmi", "-A")["items"]


def _strategy(vmi: dict) -> str:
    return vmi["spec"].get("evictionStrategy", "None")


def _migratable(vmi: dict) -> bool:
    return any(
        c["type"] == "LiveMigratable" and c["status"] == "True"
        for c in vmi["status"].get("conditions", [])
    )


def test_get_nodes_and_pods_across_namespaces(kubectl: Kubectl) -> None:
    nodes = kubectl("get", "nodes").stdout.splitlines()
    assert nodes[0].split()[:5] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    workers = [line for line in nodes[1:] if " worker " in line]
    assert len(workers) >= 3 and all(" Ready " in line for line in workers)
    out = kubectl("get", "nodes,pods", "-A").stdout
    assert "node/" in out and "virt-launcher-" in out and "virt-handler-" in out
    pods = _json(kubectl, "get", "pods", "-A", "-l", "kubevirt.io=virt-launcher")["items"]
    assert pods and all(p["status"]["phase"] in ("Running", "Succeeded") for p in pods)


def test_get_kubevirt_kinds(kubectl: Kubectl) -> None:
    out = kubectl("get", "vm,vmi,vmim", "-A").stdout
    assert "virtualmachine.kubevirt.io/" in out
    assert "virtualmachineinstance.kubevirt.io/" in out
    header = kubectl("get", "vmi", "-A").stdout.splitlines()[0].split()
    assert header[:6] == ["NAMESPACE", "NAME", "AGE", "PHASE", "IP", "NODENAME"] or header[:6] == [
        "NAMESPACE",
        "NAME",
        "PHASE",
        "IP",
        "NODENAME",
        "READY",
    ]
    vms = _json(kubectl, "get", "vm", "-A")["items"]
    assert {vm["status"]["printableStatus"] for vm in vms} == {"Running"}


def test_describe_node_shows_capacity_pods_and_events(kubectl: Kubectl) -> None:
    node = next(v["status"]["nodeName"] for v in _vmis(kubectl))
    out = kubectl("describe", "node", node).stdout
    for expected in (
        "Name:",
        node,
        "devices.kubevirt.io/kvm",
        "Conditions:",
        "Ready",
        "Non-terminated Pods:",
        "virt-launcher-",
        "Allocated resources:",
    ):
        assert expected in out


def test_cordon_and_uncordon(kubectl: Kubectl) -> None:
    node = _json(kubectl, "get", "nodes")["items"][-1]["metadata"]["name"]
    assert "cordoned" in kubectl("cordon", node).stdout
    assert _json(kubectl, "get", "node", node)["spec"].get("unschedulable") is True
    assert "SchedulingDisabled" in kubectl("get", "node", node).stdout
    assert "uncordoned" in kubectl("uncordon", node).stdout
    assert not _json(kubectl, "get", "node", node)["spec"].get("unschedulable")


def test_read_only_context_cannot_cordon(kubectl: Kubectl, sim) -> None:
    node = _json(kubectl, "get", "nodes")["items"][-1]["metadata"]["name"]
    proc = kubectl("cordon", node, context=sim.readonly_context, check=False)
    # kubectl reports a failed cordon on stderr (its exit code stays 0 for this case).
    assert f'unable to cordon node "{node}"' in proc.stderr
    assert "forbidden" in proc.stderr and "kvtui-viewer" in proc.stderr
    assert not _json(kubectl, "get", "node", node)["spec"].get("unschedulable")


def test_apply_cluster_instancetype(kubectl: Kubectl, tmp_path: Path) -> None:
    manifest = tmp_path / "it.yaml"
    body = """apiVersion: instancetype.kubevirt.io/v1beta1
kind: VirtualMachineClusterInstancetype
metadata:
  name: highmem-{cpus}
spec:
  cpu: {{guest: {cpus}}}
  memory: {{guest: {memory}}}
"""
    manifest.write_text(body.format(cpus=4, memory="64Gi"))
    assert "created" in kubectl("apply", "-f", str(manifest)).stdout
    assert "unchanged" in kubectl("apply", "-f", str(manifest)).stdout
    manifest.write_text(body.format(cpus=4, memory="32Gi"))
    assert "configured" in kubectl("apply", "-f", str(manifest)).stdout
    got = _json(kubectl, "get", "virtualmachineclusterinstancetype", "highmem-4")
    assert got["spec"]["memory"]["guest"] == "32Gi"
    assert "kubectl.kubernetes.io/last-applied-configuration" in got["metadata"]["annotations"]
    manifest.write_text(body.format(cpus=2, memory="lots"))
    bad = kubectl("apply", "-f", str(manifest), check=False)
    assert bad.returncode != 0 and "memory.guest" in bad.stderr
    assert "highmem-2" not in kubectl("get", "vmcf").stdout


def test_patch_seed(kubectl: Kubectl) -> None:
    seed = _json(kubectl, "get", "seeds", "-n", "kubermatic")["items"][0]["metadata"]["name"]
    dc = next(iter(_json(kubectl, "get", "seed", seed, "-n", "kubermatic")["spec"]["datacenters"]))
    patch = {
        "spec": {
            "datacenters": {
                dc: {
                    "spec": {
                        "kubevirt": {"dnsPolicy": "None", "dnsConfig": {"nameservers": ["8.8.8.8"]}}
                    }
                }
            }
        }
    }
    out = kubectl(
        "patch", "seed", seed, "-n", "kubermatic", "--type", "merge", "-p", json.dumps(patch)
    ).stdout
    assert "patched" in out
    kv = _json(kubectl, "get", "seed", seed, "-n", "kubermatic")["spec"]["datacenters"][dc]["spec"][
        "kubevirt"
    ]
    assert kv["dnsPolicy"] == "None" and kv["dnsConfig"]["nameservers"] == ["8.8.8.8"]
    assert "images" in kv  # a merge patch keeps the sibling fields
    strategic = kubectl(
        "patch", "seed", seed, "-n", "kubermatic", "-p", '{"spec":{"location":"x"}}', check=False
    )
    assert strategic.returncode != 0 and "strategic-merge-patch" in strategic.stderr


def _wait(predicate, timeout: float = 60.0, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the cluster")
        time.sleep(interval)


@pytest.fixture
def fresh_kubectl(fresh_sim, kubectl_binary: str) -> Kubectl:
    return Kubectl(kubectl_binary, fresh_sim.kubeconfig)


def test_drain_migrates_live_migratable_vms_and_restarts_the_rest(fresh_kubectl: Kubectl):
    kubectl = fresh_kubectl
    before = _vmis(kubectl)
    none_vmi = next(v for v in before if _strategy(v) == "None")
    node = none_vmi["status"]["nodeName"]
    on_node = [v for v in before if v["status"]["nodeName"] == node]
    migrating = [v for v in on_node if _strategy(v) == "LiveMigrate" and _migratable(v)]
    assert migrating, f"the scenario must put a LiveMigrate VM on {node}"
    assert not [v for v in on_node if _strategy(v) == "LiveMigrate" and not _migratable(v)]

    proc = kubectl(
        "drain", node, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=90s", timeout=120
    )
    out = proc.stdout + proc.stderr
    assert f"node/{node} drained" in out
    assert "Eviction triggered evacuation of VMI" in out
    assert "(will retry after 5s)" in out

    after = {(v["metadata"]["namespace"], v["metadata"]["name"]): v for v in _vmis(kubectl)}
    vmims = _json(kubectl, "get", "vmim", "-A")["items"]
    for vmi in migrating:
        key = (vmi["metadata"]["namespace"], vmi["metadata"]["name"])
        moved = after[key]
        assert moved["metadata"]["uid"] == vmi["metadata"]["uid"], "migrated, not recreated"
        assert moved["status"]["phase"] == "Running"
        assert moved["status"]["nodeName"] != node
        assert moved["status"]["migrationState"]["completed"] is True
        assert not moved["status"].get("evacuationNodeName")
        done = [
            m
            for m in vmims
            if m["spec"]["vmiName"] == key[1]
            and m["metadata"]["name"].startswith("kubevirt-evacuation-")
        ]
        assert [m["status"]["phase"] for m in done] == ["Succeeded"]

    key = (none_vmi["metadata"]["namespace"], none_vmi["metadata"]["name"])

    def restarted():
        vmi = next(
            (
                v
                for v in _vmis(kubectl)
                if (v["metadata"]["namespace"], v["metadata"]["name"]) == key
            ),
            None,
        )
        return vmi if vmi and vmi["status"].get("phase") == "Running" else None

    again = _wait(restarted)
    assert again["metadata"]["uid"] != none_vmi["metadata"]["uid"], "shut down and restarted"
    assert again["status"]["nodeName"] != node
    left = _json(kubectl, "get", "pods", "-A", "--field-selector", f"spec.nodeName={node}")
    assert all(p["metadata"]["ownerReferences"][0]["kind"] == "DaemonSet" for p in left["items"])
    kubectl("uncordon", node)


def test_drain_is_blocked_by_a_vm_that_cannot_live_migrate(fresh_kubectl: Kubectl):
    kubectl = fresh_kubectl
    blocker = next(
        v for v in _vmis(kubectl) if _strategy(v) == "LiveMigrate" and not _migratable(v)
    )
    reason = next(c for c in blocker["status"]["conditions"] if c["type"] == "LiveMigratable")
    assert reason["reason"] == "DisksNotLiveMigratable"
    node = blocker["status"]["nodeName"]
    started = time.monotonic()
    proc = kubectl(
        "drain",
        node,
        "--ignore-daemonsets",
        "--delete-emptydir-data",
        "--timeout=8s",
        check=False,
        timeout=60,
    )
    assert proc.returncode != 0
    assert time.monotonic() - started >= 8
    out = proc.stdout + proc.stderr
    assert "is configured with an eviction strategy but is not live-migratable" in out
    assert "global timeout reached: 8s" in out
    still = next(v for v in _vmis(kubectl) if v["metadata"]["uid"] == blocker["metadata"]["uid"])
    assert still["status"]["phase"] == "Running" and still["status"]["nodeName"] == node
    kubectl("uncordon", node)


def test_scale_a_machine_deployment(fresh_kubectl: Kubectl, tmp_path: Path) -> None:
    """`kubectl scale md` through the scale subresource: the replicas change and the KKP side
    follows with machines and VMs; a stale resourceVersion and a negative count are refused."""
    kubectl = fresh_kubectl
    ns, name = "cluster-x7k2mq9p4d", "prod-eu-workers"
    path = f"/apis/cluster.k8s.io/v1alpha1/namespaces/{ns}/machinedeployments/{name}/scale"
    scale = json.loads(kubectl("get", "--raw", path).stdout)
    md = _json(kubectl, "get", "md", "-n", ns, name)
    assert scale["kind"] == "Scale" and scale["apiVersion"] == "autoscaling/v1"
    assert scale["spec"]["replicas"] == md["spec"]["replicas"]
    assert scale["metadata"]["resourceVersion"] == md["metadata"]["resourceVersion"]
    wanted = md["spec"]["replicas"] + 2

    out = kubectl("scale", "md", "-n", ns, name, f"--replicas={wanted}").stdout
    assert "scaled" in out
    assert _json(kubectl, "get", "md", "-n", ns, name)["spec"]["replicas"] == wanted

    def vms_of_md() -> list[dict]:
        vms = _json(kubectl, "get", "vm", "-n", ns)["items"]
        return [v for v in vms if (v["metadata"].get("labels") or {}).get("md") == name]

    _wait(lambda: len(vms_of_md()) == wanted)

    stale = kubectl(
        "scale", "md", "-n", ns, name, "--replicas=1",
        f"--resource-version={md['metadata']['resourceVersion']}", check=False,
    )  # fmt: skip
    assert stale.returncode != 0 and "expected resource version" in stale.stderr.lower()
    stale_put = tmp_path / "scale.json"  # the server's own guard, as a raw PUT meets it
    stale_put.write_text(json.dumps({**scale, "spec": {"replicas": 1}}))
    refused = kubectl("replace", "--raw", path, "-f", str(stale_put), check=False)
    assert refused.returncode != 0 and "modified" in refused.stderr
    negative = kubectl("scale", "md", "-n", ns, name, "--replicas=-1", check=False)
    assert negative.returncode != 0
    assert _json(kubectl, "get", "md", "-n", ns, name)["spec"]["replicas"] == wanted

"""`kvtui netpol list|check` as an admin runs them, against the simulator.

Commands run in subprocesses with conftest's isolated HOME. The reading tests share one cluster
of this module's own; the end-to-end test applies the proposed fix through `kvtui datacenter
apply` on a cluster of its own and waits for the simulated KKP to reconcile it.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from kvtui.sim.runner import SimHandle, running_simulator
from tests.conftest import Kubectl, require_tool
from tests.test_cli import assert_one_line_error, kvtui

DC = "kubevirt-ham1"
PROD, STAGING = "cluster-x7k2mq9p4d", "cluster-k4n8vb2t6w"
NAMESPACES = ("cluster-k4n8vb2t6w", "cluster-q2z9f5m7hc", "cluster-x7k2mq9p4d")


def on(handle: SimHandle, *args: str) -> subprocess.CompletedProcess[str]:
    return kvtui("--kubeconfig", str(handle.kubeconfig), "--context", handle.context, *args)


@pytest.fixture(scope="module")
def cluster() -> Iterator[SimHandle]:
    with running_simulator(scenario="default", speed=10.0, seed=51) as handle:
        yield handle


def load_balancer(handle: SimHandle, namespace: str) -> str:
    services = handle.call(lambda: handle.simulator.store.list("/services", namespace))
    [lb] = [s for s in services if s["spec"].get("type") == "LoadBalancer"]
    return lb["metadata"]["name"]


def worker_vm(handle: SimHandle, namespace: str) -> str:
    vms = handle.call(lambda: handle.simulator.store.list("kubevirt.io/virtualmachines", namespace))
    return sorted(v["metadata"]["name"] for v in vms if "-workers-" in v["metadata"]["name"])[0]


# -- list ----------------------------------------------------------------------------------
def test_list_text_marks_origins_and_reads_rules_aloud(cluster: SimHandle) -> None:
    proc = on(cluster, "netpol", "list")
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    lines = proc.stdout.splitlines()
    assert re.split(r"\s{2,}", lines[0]) == ["NAMESPACE", "NAME", "ORIGIN", "SELECTS", "DRIFT"]
    rows = [re.split(r"\s{2,}", line) for line in lines[1:] if not line.startswith("    ")]
    assert [(r[0], r[1], r[2]) for r in rows] == [
        (ns, name, origin)
        for ns in NAMESPACES
        for name, origin in (
            ("allow-external-traffic", "custom (DC)"),
            ("allow-kubevirt-importer", "KKP default"),
            ("cluster-isolation", "KKP default"),
        )
    ]
    assert {r[4] for r in rows} == {"-"}
    prod = {r[1]: r[3] for r in rows if r[0] == PROD}
    assert prod == {
        "allow-external-traffic": "5 VMs",
        "allow-kubevirt-importer": "none",
        "cluster-isolation": "5 VMs",
    }
    assert "    ingress to every pod from 10.200.10.0/24" in lines
    assert (
        "    egress from every pod to 0.0.0.0/0 except 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16"
        in lines
    )


def test_list_json_and_one_namespace_match_kubectl(cluster: SimHandle) -> None:
    kubectl = Kubectl(require_tool("kubectl"), cluster.kubeconfig)
    peer = json.loads(kubectl("get", "networkpolicies", "-n", STAGING, "-o", "json").stdout)
    proc = on(cluster, "netpol", "list", "-n", STAGING, "-o", "json")
    assert proc.returncode == 0, proc.stderr
    entries = json.loads(proc.stdout)
    assert [(e["namespace"], e["name"]) for e in entries] == sorted(
        (p["metadata"]["namespace"], p["metadata"]["name"]) for p in peer["items"]
    )
    by_name = {e["name"]: e for e in entries}
    assert {e["name"]: e["spec"] for e in entries} == {
        p["metadata"]["name"]: p["spec"] for p in peer["items"]
    }
    faq = by_name["allow-external-traffic"]
    assert faq["origin"] == "custom" and faq["datacenter"] == DC and faq["cluster"] == "k4n8vb2t6w"
    assert faq["drift"] is None and faq["missing"] is False
    # staging: two worker VMs, the database VM and the standalone bastion.
    assert sorted(faq["selects"])[0] == "vm/bastion" and len(faq["selects"]) == 4


# -- check ---------------------------------------------------------------------------------
def test_check_faq_traffic_is_allowed_by_the_datacenter_policy(cluster: SimHandle) -> None:
    lb = load_balancer(cluster, PROD)
    proc = on(cluster, "netpol", "check", "--from", "10.200.10.0/24", "--to", f"{PROD}/{lb}",
              "--port", "443")  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"443/TCP from 10.200.10.0/24 to {PROD}/{lb}: allowed"
    assert f"  note: Service {lb} port 443 arrives on the pods' port 31443/TCP" in lines
    assert any(line.startswith("5 destinations decided alike (") for line in lines)
    assert "  egress: 10.200.10.0/24 is outside the cluster: no egress policy applies" in lines
    assert any(
        f"allowed by {PROD}/allow-external-traffic rule 0 peer 0: ingress to every pod from "
        "10.200.10.0/24" in line
        for line in lines
    )
    assert "Proposed fix" not in proc.stdout


def test_check_json_names_the_deciding_rule_per_side(cluster: SimHandle) -> None:
    lb = load_balancer(cluster, PROD)
    proc = on(cluster, "netpol", "check", "--from", "10.200.20.0/24", "--to", f"{PROD}/{lb}",
              "--port", "443/tcp", "-o", "json")  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    result = json.loads(proc.stdout)
    assert result["allowed"] is False and result["protocol"] == "TCP" and result["port"] == 443
    assert len(result["verdicts"]) == 5
    for verdict in result["verdicts"]:
        assert verdict["port"] == 31443 and verdict["destination"].startswith(f"{PROD}/vm/")
        assert verdict["egress"]["outcome"] == "outside"
        ingress = verdict["ingress"]
        assert ingress["outcome"] == "denied" and ingress["decision"] is None
        assert ingress["refusals"] == [
            {
                "policy": f"{PROD}/allow-external-traffic",
                "reasons": ["rule 0: 10.200.20.0/24 is not in 10.200.10.0/24"],
            }
        ]
    [policy] = result["fix"]["policies"]
    assert policy["datacenter"] == DC and policy["direction"] == "Ingress"
    lan, port = {"ipBlock": {"cidr": "10.200.20.0/24"}}, {"protocol": "TCP", "port": 31443}
    assert policy["entry"]["spec"]["ingress"] == [{"from": [lan], "ports": [port]}]
    effects = {e["namespace"]: e for e in policy["effects"]}
    assert set(effects) == set(NAMESPACES)
    assert len(effects[PROD]["selects"]) == 5 and effects[PROD]["newly_isolated"] == []
    assert result["fix"]["allowed_after"] is True


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (("--from", "10.0.0.1", "--to", f"{PROD}/x", "--port", "http"), ("port 'http'",)),
        (("--from", "10.0.0.1", "--to", f"{PROD}/x", "--port", "53/icmp"), ("TCP, UDP, SCTP",)),
        (("--from", "10.0.0.300", "--to", f"{PROD}:", "--port", "80"), ("not an IP address",)),
        (("--from", "nowhere/x", "--to", f"{PROD}:", "--port", "80"), ("namespace 'nowhere'",)),
        (("--from", "1.1.1.1", "--to", f"{PROD}/no-such-vm", "--port", "80"), ("no pod, VM or",)),
        (("--from", "1.1.1.1", "--to", f"{PROD}:app", "--port", "80"), ("write key=value",)),
    ],
    ids=["port-name", "protocol", "bad-ip", "namespace", "name", "labels"],
)
def test_bad_input_is_one_line_and_exit_2(
    cluster: SimHandle, args: tuple[str, ...], fragments: tuple[str, ...]
) -> None:
    proc = on(cluster, "netpol", "check", *args)
    assert proc.returncode == 2 and proc.stdout == ""
    assert_one_line_error(proc, *fragments)


def test_service_problems_are_one_line(cluster: SimHandle) -> None:
    prod, legacy = load_balancer(cluster, PROD), load_balancer(cluster, STAGING)
    proc = on(cluster, "netpol", "check", "--from", "1.1.1.1", "--to", f"{PROD}/{prod}",
              "--port", "8080")  # fmt: skip
    assert proc.returncode == 2
    assert_one_line_error(proc, f"Service {prod} has no port 8080/TCP (ports: 80/TCP, 443/TCP)")
    # The scenario's old-selector LoadBalancer (fact sheet §9.1): no pod behind it at all.
    proc = on(cluster, "netpol", "check", "--from", "1.1.1.1", "--to", f"{STAGING}/{legacy}",
              "--port", "80")  # fmt: skip
    assert proc.returncode == 2
    assert_one_line_error(proc, "selects no pod (cloud.kubevirt.io/", "reaches nothing")


def test_unreachable_seed_context_is_one_line(cluster: SimHandle) -> None:
    proc = on(cluster, "--seed-context", "no-such-context", "netpol", "list")
    assert proc.returncode == 2
    assert_one_line_error(proc, "no-such-context")


# -- the fix, end to end -------------------------------------------------------------------
def test_egress_to_the_lan_denied_then_fixed_through_the_datacenter(tmp_path: Path) -> None:
    """The LoadBalancer's VMs may not open connections to 10.200.10.0/24 (cluster-isolation
    keeps private ranges closed); the proposed entry, applied to the datacenter, opens it in
    every user cluster once KKP has reconciled."""
    with running_simulator(scenario="default", speed=10.0, seed=52) as handle:
        vm = worker_vm(handle, PROD)
        ask = ("netpol", "check", "--from", f"{PROD}/{vm}", "--to", "10.200.10.7", "--port", "443")
        proc = on(handle, *ask)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert f"denied by {PROD}/cluster-isolation" in proc.stdout
        assert "10.200.10.7 is in except 10.0.0.0/8" in proc.stdout
        assert "192.168.0.0/16 stay closed" in proc.stdout
        fix = json.loads(on(handle, *ask, "-o", "json").stdout)["fix"]
        [policy] = fix["policies"]
        assert policy["direction"] == "Egress" and fix["allowed_after"] is True

        current = on(handle, "datacenter", "get", DC)
        assert current.returncode == 0, current.stderr
        block = yaml.safe_load(current.stdout)
        block["customNetworkPolicies"].append(policy["entry"])
        edited = tmp_path / "dc.yaml"
        edited.write_text(yaml.safe_dump(block, sort_keys=False))
        applied = on(handle, "datacenter", "apply", DC, "-f", str(edited), "--yes")
        assert applied.returncode == 0, applied.stdout + applied.stderr

        deadline = time.monotonic() + 20
        while True:
            proc = on(handle, *ask)
            if proc.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert proc.returncode == 0, proc.stdout
        assert f"allowed by {PROD}/{policy['entry']['name']} rule 0" in proc.stdout
        listing = json.loads(on(handle, "netpol", "list", "-o", "json").stdout)
        new = [e for e in listing if e["name"] == policy["entry"]["name"]]
        assert [(e["namespace"], e["origin"], e["drift"]) for e in new] == [
            (ns, "custom", None) for ns in NAMESPACES
        ]

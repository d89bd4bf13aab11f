"""virt-handler metrics as Prometheus sees them: through the API server's pod proxy, and plain.

Parsed with prometheus_client's own parser, checked against the VMIs the store places on each
node (metric and label names from the fact sheet §8).
"""

from __future__ import annotations

import re
import time
from collections import Counter
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from kvtui.sim.runner import SimHandle
from tests.sim.http_helpers import trusting_session

# Sample name -> the labels it carries besides node, namespace, name (fact sheet §8).
PER_VMI_SERIES: dict[str, set[str]] = {
    "kubevirt_vmi_cpu_usage_seconds_total": set(),
    "kubevirt_vmi_cpu_user_usage_seconds_total": set(),
    "kubevirt_vmi_cpu_system_usage_seconds_total": set(),
    "kubevirt_vmi_vcpu_seconds_total": {"id", "state"},
    "kubevirt_vmi_vcpu_wait_seconds_total": {"id"},
    "kubevirt_vmi_vcpu_delay_seconds_total": {"id"},
    "kubevirt_vmi_guest_load_1m": set(),
    "kubevirt_vmi_memory_resident_bytes": set(),
    "kubevirt_vmi_memory_available_bytes": set(),
    "kubevirt_vmi_memory_usable_bytes": set(),
    "kubevirt_vmi_memory_domain_bytes": set(),
    "kubevirt_vmi_memory_pgmajfault_total": set(),
    "kubevirt_vmi_network_receive_bytes_total": {"interface"},
    "kubevirt_vmi_network_transmit_bytes_total": {"interface"},
    "kubevirt_vmi_network_traffic_bytes_total": {"interface", "type"},
    "kubevirt_vmi_storage_iops_read_total": {"drive"},
    "kubevirt_vmi_storage_write_traffic_bytes_total": {"drive"},
    "kubevirt_vmi_storage_flush_requests_total": {"drive"},
    "kubevirt_vmi_filesystem_capacity_bytes": {"disk_name", "mount_point", "file_system_type"},
}
COUNTERS = [name for name in PER_VMI_SERIES if name.endswith("_total")]
CPU = "kubevirt_vmi_cpu_usage_seconds_total"
Series = tuple[str, tuple[tuple[str, str], ...]]


@pytest.fixture(scope="module")
def http(sim: SimHandle, tmp_path_factory: pytest.TempPathFactory) -> requests.Session:
    session = trusting_session(Path(sim.kubeconfig), tmp_path_factory.mktemp("ca"))
    session.headers["Authorization"] = f"Bearer {sim.token}"
    return session


def handler_pods(sim: SimHandle, http: requests.Session) -> dict[str, str]:
    """Node name -> the virt-handler pod running there."""
    resp = http.get(
        f"{sim.url}/api/v1/namespaces/kubevirt/pods",
        params={"labelSelector": "kubevirt.io=virt-handler"},
        timeout=10,
    )
    resp.raise_for_status()
    return {p["spec"]["nodeName"]: p["metadata"]["name"] for p in resp.json()["items"]}


def vmis_by_node(sim: SimHandle) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for vmi in sim.call(lambda: sim.simulator.store.list("kubevirt.io/virtualmachineinstances")):
        status = vmi.get("status") or {}
        if status.get("phase") == "Running" and status.get("nodeName"):
            out.setdefault(status["nodeName"], []).append(vmi)
    return out


def scrape(http: requests.Session, url: str) -> str:
    resp = http.get(url, timeout=10)
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"].startswith("text/plain")
    return resp.text


def samples(text: str) -> dict[str, list[dict[str, str]]]:
    """Sample name -> the label sets it appears with."""
    out: dict[str, list[dict[str, str]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append(dict(sample.labels))
    return out


def values(text: str, name: str) -> dict[tuple[str, str], float]:
    """(namespace, VMI name) -> value of a per-VMI sample without extra labels."""
    return {
        (s.labels["namespace"], s.labels["name"]): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


def label_key(key: str) -> str:
    return "kubernetes_vmi_label_" + re.sub(r"[./-]", "_", key)


def proxy_url(sim: SimHandle, pod: str) -> str:
    return f"{sim.url}/api/v1/namespaces/kubevirt/pods/{pod}/proxy/metrics"


def test_each_handler_serves_its_own_vmis(sim: SimHandle, http: requests.Session) -> None:
    placed = vmis_by_node(sim)
    pods = handler_pods(sim, http)
    assert set(placed) <= set(pods), "a node with VMIs has no virt-handler"
    for node, pod in pods.items():
        found = samples(scrape(http, proxy_url(sim, pod)))
        ours = {
            (v["metadata"]["namespace"], v["metadata"]["name"]): v for v in placed.get(node, [])
        }
        for name, extra in PER_VMI_SERIES.items():
            series = found.get(name, [])
            assert all(s["node"] == node for s in series), (name, node)
            assert {(s["namespace"], s["name"]) for s in series} == set(ours), (name, node)
            for labels in series:
                assert extra <= set(labels), (name, labels)
        for labels in found.get(CPU, []):
            vmi = ours[(labels["namespace"], labels["name"])]
            for key, value in (vmi["metadata"].get("labels") or {}).items():
                assert labels.get(label_key(key)) == value, (key, labels)
        for labels in found.get("kubevirt_vmi_vcpu_seconds_total", []):
            assert labels["state"] in ("running", "idle", "blocked", "offline"), labels


def test_scheme_and_port_name_form(sim: SimHandle, http: requests.Session) -> None:
    pod = sorted(handler_pods(sim, http).items())[0][1]
    plain = samples(scrape(http, proxy_url(sim, pod)))
    named = samples(scrape(http, proxy_url(sim, f"https:{pod}:8443")))
    assert set(named) == set(plain)
    assert CPU in named
    assert {s["name"] for s in named[CPU]} == {s["name"] for s in plain[CPU]}


def test_readonly_token_may_scrape(sim: SimHandle, http: requests.Session) -> None:
    pod = next(iter(handler_pods(sim, http).values()))
    resp = requests.get(
        proxy_url(sim, pod),
        verify=http.verify,
        timeout=10,
        headers={"Authorization": f"Bearer {sim.readonly_token}"},
    )
    assert resp.status_code == 200
    assert CPU in samples(resp.text)


def test_cpu_counters_increase(sim: SimHandle, http: requests.Session) -> None:
    node, pod = max(
        handler_pods(sim, http).items(), key=lambda item: len(vmis_by_node(sim).get(item[0], []))
    )
    first = values(scrape(http, proxy_url(sim, pod)), CPU)
    assert first, f"no VMI runs on {node}"
    time.sleep(1.0)  # ten simulated seconds at speed 10
    second = values(scrape(http, proxy_url(sim, pod)), CPU)
    assert set(second) == set(first)
    for vmi, before in first.items():
        assert second[vmi] > before, vmi


def test_counter_families_are_typed_counter(sim: SimHandle, http: requests.Session) -> None:
    pod = next(iter(handler_pods(sim, http).values()))
    types = {
        f.name: f.type for f in text_string_to_metric_families(scrape(http, proxy_url(sim, pod)))
    }
    for name in COUNTERS:
        assert types.get(name.removesuffix("_total")) == "counter", name
    assert types.get("kubevirt_vmi_memory_resident_bytes") == "gauge"


def test_plain_endpoint_serves_every_node_once(sim: SimHandle, http: requests.Session) -> None:
    resp = requests.get(sim.metrics_url, timeout=10)
    assert resp.status_code == 200
    text = resp.text
    declared = Counter(line.split()[2] for line in text.splitlines() if line.startswith("# TYPE "))
    assert [n for n, c in declared.items() if c > 1] == [], "a family is declared twice"
    families = [f.name for f in text_string_to_metric_families(text)]
    assert len(families) == len(set(families))
    seen: Counter[Series] = Counter(
        (s.name, tuple(sorted(s.labels.items())))
        for f in text_string_to_metric_families(text)
        for s in f.samples
    )
    assert [k for k, c in seen.items() if c > 1] == [], "a series appears twice"

    everywhere = {
        (v["metadata"]["namespace"], v["metadata"]["name"], node)
        for node, vmis in vmis_by_node(sim).items()
        for v in vmis
    }
    cpu = {(s["namespace"], s["name"], s["node"]) for s in samples(text)[CPU]}
    assert cpu == everywhere
    assert "kubevirt_vmi_info" in samples(text)
    proxied: set[tuple[str, str, str]] = set()
    for pod in handler_pods(sim, http).values():
        proxied |= {
            (s["namespace"], s["name"], s["node"])
            for s in samples(scrape(http, proxy_url(sim, pod))).get(CPU, [])
        }
    assert proxied == cpu

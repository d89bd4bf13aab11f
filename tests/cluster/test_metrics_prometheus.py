"""The metrics questions answered by a real Prometheus scraping the simulator.

One simulator (the default scenario with one clearly hot workload) and one Prometheus (0.5 s
scrapes) for the module: every answer is checked against the simulator's own model of what each
VM does right now, and against the objects it serves. The tests that break things (Prometheus
stopped, the monitoring setup undone) come last.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes.utils.quantity import parse_quantity

from kvtui.cluster import kinds
from kvtui.cluster.doctor_model import Status
from kvtui.cluster.metrics_model import (
    MetricsAuthError,
    MetricsUnavailable,
    MigrationCounts,
    NodeMetric,
    VmMetric,
    VmRef,
)
from kvtui.cluster.metrics_prometheus import PrometheusSource
from kvtui.cluster.metrics_prometheus_api import PrometheusClientApi, PrometheusSettings
from kvtui.cluster.metrics_queries import all_queries
from kvtui.cluster.metrics_source import open_metrics_source
from kvtui.cluster.migrations import migrate_vmi
from kvtui.cluster.monitoring_check import check_monitoring
from kvtui.prometheus_runner import PrometheusRunner, ScrapeTarget, WebTls
from kvtui.sim.runner import SimHandle, running_simulator
from kvtui.sim.tls import make_serving_cert
from tests.cluster.metrics_helpers import (
    WOBBLE,
    close_to,
    declared_hot,
    hot_scenario,
    model,
    opened,
    vmis,
)
from tests.conftest import require_tool
from tests.sim.http_helpers import trusting_session

WINDOW = "5s"  # ten 0.5 s scrapes: enough for rate(), short enough for a fresh Prometheus
CPU = "kubevirt_vmi_cpu_usage_seconds_total"
RATES = f"count(rate({CPU}[{WINDOW}]))"
RATE_SHARE = 0.06  # Prometheus's rate() against the model's exact increase
GAUGE_SHARE = 0.02  # a gauge read up to one scrape ago


@pytest.fixture(scope="module")
def msim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimHandle]:
    scenario = hot_scenario(tmp_path_factory.mktemp("scenario"))
    with running_simulator(scenario=scenario, speed=1.0, seed=7) as handle:
        yield handle


@pytest.fixture(scope="module")
def prom(msim: SimHandle) -> Iterator[PrometheusRunner]:
    require_tool("prometheus")
    runner = PrometheusRunner([ScrapeTarget(msim.metrics_url)], scrape_interval=0.5)
    try:
        runner.start()
        runner.wait_for_samples()
        # rate() reads low until samples cover its whole window: wait for 6.5 s of them
        runner.wait_for_samples(f"min(count_over_time({CPU}[7s])) >= 13")
        yield runner
    finally:
        runner.close()


def source(prom: PrometheusRunner, objects, **settings: object) -> PrometheusSource:
    api = PrometheusClientApi(PrometheusSettings(url=prom.url, **settings))  # type: ignore[arg-type]
    return PrometheusSource(api, objects, WINDOW)


def admin_http(sim: SimHandle, directory: Path):
    http = trusting_session(Path(sim.kubeconfig), directory)
    http.headers["Authorization"] = f"Bearer {sim.token}"
    return http


async def test_every_question_matches_the_simulated_cluster(
    msim: SimHandle, prom: PrometheusRunner
) -> None:
    async with opened(msim) as (_, objects):
        src = source(prom, objects)
        expected = model(msim, 5.0)
        for metric in VmMetric:
            reading = await src.top_vms(metric, limit=100)
            assert reading.source.kind == "prometheus" and reading.source.label.endswith(prom.url)
            assert reading.age() < 5
            got = {row.ref: row for row in reading.value}
            assert set(got) == set(expected), metric
            share = GAUGE_SHARE if metric is VmMetric.MEMORY else RATE_SHARE
            for ref, row in got.items():
                want = expected[ref]
                assert close_to(row.value(metric), want[metric.value], share), (metric, row, want)
                assert row.node == want["node"]
                assert row.memory_total == want["memory_total"]
            values = [row.value(metric) for row in reading.value]
            assert values == sorted(values, reverse=True)

        hottest = (await src.top_vms(VmMetric.CPU, limit=1)).value
        assert len(hottest) == 1 and hottest[0].ref in declared_hot(msim)

        namespace = hottest[0].namespace
        in_namespace = (await src.top_vms(VmMetric.NET_RX, limit=2, namespace=namespace)).value
        ranked = sorted(
            (r for r in expected if r.namespace == namespace),
            key=lambda r: -expected[r]["net_rx"],
        )
        # Which two, not their order: equal declared loads cross as their wobbles move.
        assert {r.ref for r in in_namespace} == set(ranked[:2])
        assert in_namespace[0].net_rx >= in_namespace[1].net_rx

        one = (await src.vm_usage(hottest[0].ref)).value
        assert one is not None and close_to(one.cpu, expected[one.ref]["cpu"], RATE_SHARE)
        assert (await src.vm_usage(VmRef(namespace, "no-such-vm"))).value is None

        nodes = {n.node: n for n in (await src.node_usage()).value}
        for node in msim.simulator.store.list("/nodes"):
            name = node["metadata"]["name"]
            mine = [row for row in expected.values() if row["node"] == name]
            usage = nodes[name]
            assert usage.vms == len(mine)
            assert close_to(usage.cpu, sum(r["cpu"] for r in mine), RATE_SHARE)
            assert close_to(usage.memory, sum(r["resident"] for r in mine), GAUGE_SHARE)
            allocatable = node["status"]["allocatable"]
            assert usage.cpu_allocatable == float(parse_quantity(allocatable["cpu"]))
            assert usage.memory_allocatable == float(parse_quantity(allocatable["memory"]))

        phases = Counter((v.get("status") or {}).get("phase") for v in vmis(msim))
        assert (await src.vmis_by_phase()).value == dict(phases)
        assert (await src.migration_counts()).value == MigrationCounts()
        assert (await src.migration_progress()).value == {}

        ref = hottest[0].ref
        history = (await src.vm_history(VmMetric.CPU, [ref], window=30, points=10)).value[ref]
        now = time.time()
        assert 2 <= len(history) <= 11
        assert all(now - 31 <= t <= now + 1 for t, _ in history)
        # The last point of a range is up to one step older than `expected` (taken now), and
        # the simulated load wobbles by WOBBLE meanwhile (a run under load saw 10% apart);
        # older points: Prometheus warming up.
        assert close_to(history[-1][1], expected[ref]["cpu"], WOBBLE)
        node = hottest[0].node
        vms = (await src.node_history(NodeMetric.VMS, [node], window=20, points=5)).value[node]
        assert vms[-1][1] == nodes[node].vms

        for name, query in all_queries(WINDOW).items():  # every shape kvtui sends is valid
            assert isinstance(await src.api.query(query), list), name
        assert src.traffic.requests > 0 and src.traffic.bytes > 0


async def test_migration_progress_under_new_and_old_names(
    msim: SimHandle, prom: PrometheusRunner, tmp_path: Path
) -> None:
    http = admin_http(msim, tmp_path)
    world = msim.simulator.world
    vmi = next(
        v
        for v in vmis(msim)
        if v["metadata"]["name"].startswith("prod-eu-workers") and v["status"]["phase"] == "Running"
    )
    ref = VmRef(vmi["metadata"]["namespace"], vmi["metadata"]["name"])
    uid = vmi["metadata"]["uid"]
    http.patch(f"{msim.url}/_sim/faults", json={"stall_migrations": [ref.name]}).raise_for_status()
    async with opened(msim) as (conn, objects):
        src = source(prom, objects)
        vmim = await migrate_vmi(conn, ref.namespace, ref.name)
        try:
            for legacy in (False, True):
                msim.call(lambda v=legacy: world.settings.__setitem__("metrics_legacy_names", v))
                old, new = (
                    "kubevirt_migrate_vmi_data_remaining_bytes",
                    ("kubevirt_vmi_migration_data_remaining_bytes"),
                )
                shown, hidden = (old, new) if legacy else (new, old)
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    found = await src.api.query(shown)
                    gone = await src.api.query(hidden)
                    progress = (await src.migration_progress()).value
                    moving = ref in progress and progress[ref].processed_bytes > 0
                    if found and not gone and moving:
                        break
                    await asyncio.sleep(0.5)
                else:
                    pytest.fail(f"Prometheus never showed {shown} alone for {ref}")
                live = msim.call(lambda: world.settings["migrations"][uid])
                sample = progress[ref]
                assert sample.processed_bytes > 0 and sample.remaining_bytes > 0
                assert sample.remaining_bytes <= live.memory_bytes
                assert close_to(sample.transfer_rate, live.transfer_rate, 0.2)
                assert close_to(sample.dirty_rate, live.dirty_rate, 0.2)
                counts = (await src.migration_counts()).value
                assert counts.running == 1 and counts.pending == 0, (legacy, counts)
        finally:
            msim.call(lambda: world.settings.__setitem__("metrics_legacy_names", False))
            http.patch(f"{msim.url}/_sim/faults", json={"stall_migrations": []})
            await conn.request("DELETE", kinds.VMIMS.path(ref.namespace, vmim["metadata"]["name"]))


async def test_a_stopped_prometheus_fails_in_one_line_and_recovers(
    msim: SimHandle, prom: PrometheusRunner
) -> None:
    async with opened(msim) as (_, objects):
        src = source(prom, objects)
        assert (await src.top_vms()).value
        prom.stop()
        try:
            for ask in (src.top_vms(), src.node_usage(), src.vmis_by_phase()):
                with pytest.raises(MetricsUnavailable) as failure:
                    await ask
                assert (
                    str(failure.value)
                    == f"Prometheus {prom.url}: cannot connect: connection refused"
                )
        finally:
            prom.start()
        prom.wait_for_samples(RATES)  # the restarted server has scraped twice
        assert (await src.top_vms()).value  # the same source, nothing reset


async def test_found_in_the_monitor_namespace_through_the_service_proxy(
    msim: SimHandle, prom: PrometheusRunner
) -> None:
    async with opened(msim) as (conn, objects):
        fallback = await open_metrics_source(conn, objects)
        assert fallback.info.kind == "direct"
        assert fallback.info.note == (
            "no Prometheus found (no Prometheus Service in namespace monitoring)"
        )
        service = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "prometheus-k8s", "namespace": "monitoring"},
            "spec": {"ports": [{"name": "web", "port": 9090, "targetPort": "web"}]},
        }
        endpoints = {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {"name": "prometheus-k8s", "namespace": "monitoring"},
            "subsets": [
                {"addresses": [{"ip": "127.0.0.1"}], "ports": [{"name": "web", "port": prom.port}]}
            ],
        }
        await conn.request("POST", "/api/v1/namespaces/monitoring/services", body=service)
        await conn.request("POST", "/api/v1/namespaces/monitoring/endpoints", body=endpoints)
        found = await open_metrics_source(conn, objects)
        assert found.info.kind == "prometheus"
        assert found.info.label == "Prometheus monitoring/prometheus-k8s via the API server"
        direct_url = source(prom, objects)
        # The same hot VMs both ways; their order among themselves (equal load, each with its
        # own wobble) may change with any scrape between the two questions.
        hot = declared_hot(msim)
        through_proxy = [r.ref for r in (await found.top_vms(VmMetric.CPU, len(hot))).value]
        direct = [r.ref for r in (await direct_url.top_vms(VmMetric.CPU, len(hot))).value]
        assert set(through_proxy) == set(direct) == hot
        ref = through_proxy[0]
        assert (await found.vm_history(VmMetric.MEMORY, [ref], window=10)).value[ref]
        assert found.traffic.requests >= 3 and found.traffic.bytes > 0

        prom.stop()
        try:
            with pytest.raises(MetricsUnavailable) as failure:
                await found.node_usage()
            message = str(failure.value)
            assert "\n" not in message and "error trying to reach service" in message
        finally:
            prom.start()
        prom.wait_for_samples(RATES)  # the restarted server has scraped twice
        assert (await found.node_usage()).value


async def test_tls_and_basic_auth_options(msim: SimHandle, tmp_path: Path) -> None:
    require_tool("prometheus")
    cert = make_serving_cert("127.0.0.1")
    for name, data in (
        ("tls.crt", cert.cert_pem),
        ("tls.key", cert.key_pem),
        ("ca.crt", cert.ca_pem),
    ):
        (tmp_path / name).write_bytes(data)
    password = "s3cret-for-the-test"
    web = WebTls(tmp_path / "tls.crt", tmp_path / "tls.key", "kvtui", password)
    with PrometheusRunner([], web=web) as empty:  # scrapes nothing
        assert empty.url.startswith("https://")
        settings = PrometheusSettings(
            url=empty.url, basic_auth=("kvtui", password), ca_file=str(tmp_path / "ca.crt")
        )
        assert password not in repr(settings)
        verified = PrometheusSource(PrometheusClientApi(settings), lambda kind: [], WINDOW)
        assert (await verified.vmis_by_phase()).value == {}
        insecure = PrometheusSettings(url=empty.url, basic_auth=("kvtui", password), insecure=True)
        assert (await source_of(insecure).migration_counts()).value == MigrationCounts()

        with pytest.raises(MetricsUnavailable) as untrusted:
            await source_of(
                PrometheusSettings(url=empty.url, basic_auth=("kvtui", password))
            ).top_vms()
        assert "TLS certificate verify failed" in str(untrusted.value)
        assert "\n" not in str(untrusted.value)
        wrong = PrometheusSettings(url=empty.url, basic_auth=("kvtui", "nope"), insecure=True)
        with pytest.raises(MetricsAuthError) as refused:
            await source_of(wrong).top_vms()
        assert str(refused.value).startswith(f"Prometheus {empty.url}: HTTP 401")

        async with opened(msim) as (conn, _):
            results = {r.id: r for r in await check_monitoring(conn, verified.api)}
        assert results["monitoring.targets"].status is Status.FAILURE
        assert results["monitoring.series"].status is Status.FAILURE
        assert "has no kubevirt_* series" in results["monitoring.series"].summary


def source_of(settings: PrometheusSettings) -> PrometheusSource:
    return PrometheusSource(PrometheusClientApi(settings), lambda kind: [], WINDOW)


async def test_monitoring_check_follows_each_link(msim: SimHandle, prom: PrometheusRunner) -> None:
    """Last in the module: it undoes the simulated cluster's monitoring setup step by step."""
    api = PrometheusClientApi(PrometheusSettings(url=prom.url))
    async with opened(msim) as (conn, _):
        results = await check_monitoring(conn, api)
        assert [r.id for r in results] == [
            "monitoring.fields",
            "monitoring.operator",
            "monitoring.servicemonitor",
            "monitoring.targets",
            "monitoring.series",
        ]
        assert [r.status for r in results] == [Status.OK] * 5, [r.summary for r in results]
        assert "monitoring/prometheus-kubevirt-rules" in results[2].summary

        no_prometheus = {r.id: r for r in await check_monitoring(conn, None)}
        assert no_prometheus["monitoring.series"].status is Status.UNKNOWN
        assert "pass --prometheus-url" in no_prometheus["monitoring.series"].reason

        await conn.request(
            "DELETE",
            "/apis/monitoring.coreos.com/v1/namespaces/monitoring/servicemonitors/"
            "prometheus-kubevirt-rules",
        )
        await conn.request(
            "PATCH",
            kinds.KUBEVIRTS.path("kubevirt", "kubevirt"),
            body={"spec": {"monitorNamespace": None}},
            content_type="application/merge-patch+json",
        )
        broken = {r.id: r for r in await check_monitoring(conn, api)}
        fields = broken["monitoring.fields"]
        assert fields.status is Status.FAILURE
        assert fields.summary.startswith("monitorNamespace not set")
        assert any("kubectl patch kubevirt kubevirt -n kubevirt" in i for i in fields.instructions)
        monitor = broken["monitoring.servicemonitor"]
        assert monitor.status is Status.FAILURE
        assert monitor.summary == "no ServiceMonitor selects kubevirt/kubevirt-prometheus-metrics"

        config = msim.simulator.api.config
        msim.call(lambda: setattr(config, "missing_groups", frozenset({"monitoring.coreos.com"})))
        try:
            without = {r.id: r for r in await check_monitoring(conn, api)}
        finally:
            msim.call(lambda: setattr(config, "missing_groups", frozenset()))
        assert without["monitoring.operator"].status is Status.FAILURE
        assert "not served" in without["monitoring.operator"].summary
        assert without["monitoring.servicemonitor"].status is Status.UNKNOWN

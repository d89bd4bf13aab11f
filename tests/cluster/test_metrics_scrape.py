"""Direct-scrape mode against the simulator: the virt-handlers through the API server's pod proxy.

Rates between two scrapes are checked against the simulator's own model, a restarted VM's
counters against Prometheus's reset rule, the byte budget against the handlers it lets through,
and failures against the one-line contract.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from kvtui.cluster import kinds
from kvtui.cluster.metrics_handlers import handler_pods, metrics_path, parse_handler_text, rates
from kvtui.cluster.metrics_model import MetricsUnavailable, MigrationCounts, VmMetric, VmRef
from kvtui.cluster.metrics_scrape import DirectScrapeSource
from kvtui.cluster.migrations import migrate_vmi
from kvtui.cluster.operations import vm_restart
from kvtui.sim.runner import SimHandle, running_simulator
from tests.cluster.metrics_helpers import close_to, declared_hot, hot_scenario, model, opened, vmis
from tests.sim.http_helpers import trusting_session

RATE_SHARE = 0.05


@pytest.fixture(scope="module")
def dsim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimHandle]:
    scenario = hot_scenario(tmp_path_factory.mktemp("scenario"))
    with running_simulator(scenario=scenario, speed=1.0, seed=8) as handle:
        yield handle


@pytest.fixture
def http(dsim: SimHandle, tmp_path: Path):
    session = trusting_session(Path(dsim.kubeconfig), tmp_path)
    session.headers["Authorization"] = f"Bearer {dsim.token}"
    return session


def handler_count(sim: SimHandle) -> int:
    return len(handler_pods(sim.simulator.store.list("/pods", "kubevirt")))


async def test_rates_between_two_scrapes_match_the_model(dsim: SimHandle) -> None:
    async with opened(dsim) as (conn, objects):
        src = DirectScrapeSource(conn, objects, max_age=1.5)  # questions within 1.5 s share
        first = await src.top_vms(VmMetric.CPU, limit=100)
        assert first.source.kind == "direct" and dsim.url in first.source.label
        assert first.value and all(row.cpu is None for row in first.value)  # one scrape: no rate
        assert all(row.memory is not None for row in first.value)
        started = time.monotonic()
        await asyncio.sleep(2.0)
        second = await src.top_vms(VmMetric.CPU, limit=100)
        expected = model(dsim, time.monotonic() - started)
        got = {row.ref: row for row in second.value}
        assert set(got) == set(expected)
        for ref, row in got.items():
            for metric in VmMetric:
                share = 0.02 if metric is VmMetric.MEMORY else RATE_SHARE
                want = expected[ref][metric.value]
                assert close_to(row.value(metric), want, share), (metric, row, want)
            assert row.node == expected[ref]["node"]
        assert second.value[0].ref in declared_hot(dsim)
        assert second.notes == () and second.age() < 2

        nodes = {n.node: n for n in (await src.node_usage()).value}
        for name, usage in nodes.items():
            mine = [r for r in expected.values() if r["node"] == name]
            assert usage.vms == len(mine)
            assert close_to(usage.cpu, sum(r["cpu"] for r in mine), RATE_SHARE)
        phases = Counter((v.get("status") or {}).get("phase") for v in vmis(dsim))
        assert (await src.vmis_by_phase()).value == dict(phases)
        assert (await src.migration_counts()).value == MigrationCounts()

        hot = second.value[0].ref
        points = (await src.vm_history(VmMetric.CPU, [hot], window=60)).value[hot]
        assert len(points) == 1  # the first scrape had no rate yet
        # Two scrapes of each handler served every question; the objects came from the cache.
        assert src.traffic.requests == 2 * handler_count(dsim)


class SlowAnswers:
    """The connection, with the first answer of each handler held back `delay` seconds after
    it was rendered: what a busy event loop does to an answer."""

    def __init__(self, conn: object, delay: float) -> None:
        self.conn, self.delay, self.seen = conn, delay, set()

    def __getattr__(self, name: str) -> object:
        return getattr(self.conn, name)

    async def get_text(self, path: str, **kwargs: object) -> str:
        text = await self.conn.get_text(path, **kwargs)  # type: ignore[attr-defined]
        if path not in self.seen:
            self.seen.add(path)
            await asyncio.sleep(self.delay)
        return text


async def test_a_late_answer_does_not_skew_the_rate(dsim: SimHandle) -> None:
    """A scrape counts from when it was asked for (as Prometheus stamps one), so a first answer
    that arrives 1.5 s late does not squeeze the time between the scrapes."""
    async with opened(dsim) as (conn, objects):
        src = DirectScrapeSource(SlowAnswers(conn, 1.5), objects, max_age=0.5)  # type: ignore[arg-type]
        started = time.monotonic()
        await src.top_vms(VmMetric.CPU, limit=100)
        await asyncio.sleep(max(0.0, 3.0 - (time.monotonic() - started)))
        second = await src.top_vms(VmMetric.CPU, limit=100)
        expected = model(dsim, time.monotonic() - started)
        rows = [row for row in second.value if row.cpu is not None]
        assert rows
        for row in rows:
            assert close_to(row.cpu, expected[row.ref]["cpu"], RATE_SHARE), (row, expected[row.ref])


async def test_a_restarted_vm_resets_its_counters_and_the_rate_stays_true(
    dsim: SimHandle, http
) -> None:
    # staging-db is pinned to its node: it restarts under the same virt-handler.
    vmi = next(v for v in vmis(dsim) if v["metadata"]["name"].startswith("staging-db"))
    ref = VmRef(vmi["metadata"]["namespace"], vmi["metadata"]["name"])
    node = vmi["status"]["nodeName"]
    async with opened(dsim) as (conn, _):
        pod = handler_pods(dsim.simulator.store.list("/pods", "kubevirt"))[node]
        before = parse_handler_text(
            await conn.get_text(metrics_path(*pod)), time.time(), time.monotonic()
        )
        await vm_restart(conn, ref.namespace, ref.name)
        for _ in range(40):
            http.post(f"{dsim.url}/_sim/clock/advance", params={"seconds": 5}).raise_for_status()
            now = dsim.call(
                lambda: dsim.simulator.store.get(
                    "kubevirt.io/virtualmachineinstances", ref.namespace, ref.name
                )
            )
            renewed = now and now["metadata"]["uid"] != vmi["metadata"]["uid"]
            if renewed and (now.get("status") or {}).get("phase") == "Running":
                break
        else:
            pytest.fail("the VM did not come back")
        assert now["status"]["nodeName"] == node
        after = parse_handler_text(
            await conn.get_text(metrics_path(*pod)), time.time(), time.monotonic() + 1.0
        )
    cpu = "kubevirt_vmi_cpu_usage_seconds_total"
    key = next(k for k in after.counters if k[0] == cpu and k[1] == ref)
    assert after.counters[key] < before.counters[key]  # the new domain counts from zero
    elapsed = after.mono - before.mono
    rated = rates(before, after)
    assert rated[ref][VmMetric.CPU] == pytest.approx(after.counters[key] / elapsed)
    for other, per_vm in rated.items():
        if other != ref:
            other_key = next(k for k in after.counters if k[0] == cpu and k[1] == other)
            increase = after.counters[other_key] - before.counters[other_key]
            assert per_vm[VmMetric.CPU] == pytest.approx(increase / elapsed)
    assert all(value >= 0 for per_vm in rated.values() for value in per_vm.values())


async def test_the_byte_budget_bounds_traffic_and_visits_every_handler(dsim: SimHandle) -> None:
    handlers = handler_count(dsim)
    now = [0.0]  # the source's clock, moved by hand: one round per simulated second
    async with opened(dsim) as (conn, objects):
        starved = DirectScrapeSource(conn, objects, max_age=0, byte_budget=1, clock=lambda: now[0])
        for _ in range(3):
            reading = await starved.top_vms(VmMetric.MEMORY, limit=100)
            now[0] += 1.0
        assert starved.traffic.requests == 1  # one handler, then the overdrawn budget waits
        assert reading.notes == (
            f"{handlers - 1} of {handlers} virt-handlers not scraped yet (traffic budget)",
        )
        assert {row.node for row in reading.value} == {reading.value[0].node}

        size = starved.traffic.bytes  # one handler's text
        budget = size / 10  # about one handler every ten seconds
        now[0] = 0.0
        src = DirectScrapeSource(conn, objects, max_age=0, byte_budget=budget, clock=lambda: now[0])
        rounds = 100
        for _ in range(rounds):
            reading = await src.top_vms(VmMetric.CPU, limit=100)
            now[0] += 1.0
        # The first minute's burst, then the budget, overdrawn by at most one handler.
        assert src.traffic.bytes <= budget * (60 + rounds) + 1.5 * size
        assert src.traffic.requests >= 2 * handlers  # every handler twice at least ...
        assert reading.notes == () and all(row.cpu is not None for row in reading.value)


async def test_migration_progress_under_new_and_old_names(dsim: SimHandle, http) -> None:
    world = dsim.simulator.world
    vmi = next(
        v
        for v in vmis(dsim)
        if v["metadata"]["name"].startswith("prod-eu-workers") and v["status"]["phase"] == "Running"
    )
    ref = VmRef(vmi["metadata"]["namespace"], vmi["metadata"]["name"])
    http.patch(f"{dsim.url}/_sim/faults", json={"stall_migrations": [ref.name]}).raise_for_status()
    async with opened(dsim) as (conn, objects):
        src = DirectScrapeSource(conn, objects)
        vmim = await migrate_vmi(conn, ref.namespace, ref.name)
        try:
            for legacy in (False, True):
                dsim.call(lambda v=legacy: world.settings.__setitem__("metrics_legacy_names", v))
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    progress = (await src.migration_progress()).value
                    counts = (await src.migration_counts()).value
                    moving = ref in progress and progress[ref].processed_bytes > 0
                    if moving and counts.running == 1:
                        break
                    await asyncio.sleep(0.5)
                else:
                    pytest.fail(f"no migration progress for {ref} (legacy names: {legacy})")
                live = dsim.call(lambda: world.settings["migrations"][vmi["metadata"]["uid"]])
                sample = progress[ref]
                assert 0 < sample.remaining_bytes <= live.memory_bytes
                assert close_to(sample.transfer_rate, live.transfer_rate, 0.2)
                assert close_to(sample.dirty_rate, live.dirty_rate, 0.2)
        finally:
            dsim.call(lambda: world.settings.__setitem__("metrics_legacy_names", False))
            http.patch(f"{dsim.url}/_sim/faults", json={"stall_migrations": []})
            await conn.request("DELETE", kinds.VMIMS.path(ref.namespace, vmim["metadata"]["name"]))


async def test_failures_are_one_line_and_the_next_round_recovers(dsim: SimHandle, http) -> None:
    async with opened(dsim) as (conn, objects):
        src = DirectScrapeSource(conn, objects, max_age=0)
        assert (await src.top_vms()).value
        http.patch(f"{dsim.url}/_sim/faults", json={"error_500_share": 1.0}).raise_for_status()
        try:
            with pytest.raises(MetricsUnavailable) as failure:
                await src.node_usage()
        finally:
            http.patch(f"{dsim.url}/_sim/faults", json={"error_500_share": 0.0})
        message = str(failure.value)
        assert "\n" not in message
        assert message.startswith(f"direct scrape of the virt-handlers via {dsim.url}: ")
        assert "no virt-handler answered: unavailable: cannot get pods/proxy" in message
        reading = await src.top_vms()
        assert reading.value and reading.notes == ()
        assert all(row.cpu is not None for row in reading.value)  # rates from before the outage

"""The metrics pane against the simulator: straight from the virt-handlers when there is no
Prometheus, and from a real Prometheus scraping the simulator, which is then stopped (the pane
degrades, the others keep working) and started again (the pane recovers)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.pilot import Pilot

from kvtui.cluster.audit import AuditLog
from kvtui.cluster.config import Config
from kvtui.cluster.metrics_prometheus_api import PrometheusSettings
from kvtui.cluster.session import Session
from kvtui.prometheus_runner import PrometheusRunner, ScrapeTarget
from kvtui.sim.runner import SimHandle
from kvtui.ui.app import KvtuiApp
from kvtui.ui.screens import metrics as metrics_screen
from kvtui.ui.screens.metrics import MetricsScreen
from tests.cluster.metrics_helpers import model
from tests.conftest import require_tool
from tests.ui.conftest import (
    NODES,
    AppFactory,
    current_table,
    press_line,
    started,
    wait_rows,
    wait_screen,
    wait_sync,
    wait_until,
)

SIM_SPEED = 10.0
HOT_SHARE = 0.9  # a "hot" VM burns at least this share of the hottest one's CPU


def hot_now(sim: SimHandle, window: float) -> set[str]:
    """The VMs that the simulator's own model makes hottest by CPU over the last `window`
    simulated seconds. The default scenario's ci-runners (2 vCPUs at 0.9) and prod-eu-frontend
    (2 at 0.7) both wobble by ±20%, so either may lead: every VM close to the top counts."""
    rates = {ref.name: row["cpu"] for ref, row in model(sim, window).items()}
    top = max(rates.values())
    return {name for name, cpu in rates.items() if cpu >= HOT_SHARE * top}


@pytest.fixture(autouse=True)
def _quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics_screen, "REFRESH_SECONDS", 1.0)


@pytest.fixture(scope="module")
def prom(ui_sim: SimHandle) -> Iterator[PrometheusRunner]:
    require_tool("prometheus")
    runner = PrometheusRunner([ScrapeTarget(ui_sim.metrics_url)], scrape_interval=0.5)
    try:
        runner.start()
        runner.wait_for_samples()
        runner.wait_for_samples(
            "min(count_over_time(kubevirt_vmi_cpu_usage_seconds_total[7s])) >= 13"
        )
        yield runner
    finally:
        runner.close()


async def open_metrics(pilot: Pilot) -> MetricsScreen:
    await press_line(pilot, "colon", "metrics")
    await wait_screen(pilot, "MetricsScreen")
    screen = pilot.app.screen
    assert isinstance(screen, MetricsScreen)
    return screen


def source_text(screen: MetricsScreen) -> str:
    return str(screen.query_one("#metrics-source").render())


def cpu_known(screen: MetricsScreen) -> bool:
    return bool(screen.vms) and all(u.cpu is not None for u in screen.vms)


async def test_direct_scrape_ranks_the_hot_vms_first(
    app_factory: AppFactory, ui_sim: SimHandle
) -> None:
    async with started(app_factory) as pilot:
        screen = await open_metrics(pilot)
        # Rates need two scrapes: the first refresh knows memory, the next one CPU too.
        await wait_until(pilot, lambda: cpu_known(screen), "CPU rates from two scrapes", 30)
        assert "direct scrape" in source_text(screen)
        assert "no Prometheus" in source_text(screen)
        table = current_table(pilot)
        assert table is not None
        await wait_until(pilot, lambda: table.keys_in_view(), "the rows")
        first = table.keys_in_view()[0]  # hottest first
        assert first[1] in hot_now(ui_sim, 2 * SIM_SPEED)  # two refreshes of a second
        cpus = [u.cpu for u in screen.vms]
        assert cpus == sorted(cpus, reverse=True)
        assert "VMIs" in str(screen.query_one("#metrics-summary").render())
        # The monitoring setup, link by link: the default scenario runs no Prometheus.
        setup = str(screen.query_one("#metrics-setup").render())
        assert setup.startswith("Monitoring setup") and "fields" in setup
        assert {r.id for r in screen.setup} >= {"monitoring.fields", "monitoring.series"}
        assert any(str(r.status) != "ok" for r in screen.setup)

        await pilot.press("v")  # the nodes: every node, the VMs each runs
        await wait_until(pilot, lambda: screen.view == "nodes" and screen.nodes, "the nodes")
        assert {n.node for n in screen.nodes} == set(NODES)
        vmis = sum(n.vms or 0 for n in screen.nodes)
        assert vmis == sum(screen.phases.values()) if screen.phases else vmis > 0

        await pilot.press("v")
        await wait_until(pilot, lambda: screen.view == "vms" and screen.vms, "the VMs again")
        await wait_rows(pilot, 1)
        await pilot.press("enter")  # a VM row opens its health screen
        await wait_screen(pilot, "VmHealthScreen")


async def test_prometheus_down_degrades_the_pane_only_and_recovers(
    ui_sim: SimHandle, prom: PrometheusRunner, tmp_path: Path
) -> None:
    async def open_session() -> Session:
        return await Session.open(
            str(ui_sim.kubeconfig),
            ui_sim.context,
            config=Config(),
            audit=AuditLog(tmp_path / "audit.jsonl"),
            prometheus=PrometheusSettings(url=prom.url, rate_window="5s"),
        )

    app = KvtuiApp(open_session=open_session)
    async with app.run_test(size=(160, 50)) as pilot:
        await wait_sync(pilot, len(NODES))
        screen = await open_metrics(pilot)
        await wait_until(pilot, lambda: cpu_known(screen), "numbers from Prometheus", 30)
        assert "Prometheus" in source_text(screen) and not screen.error
        assert screen.vms[0].name in hot_now(ui_sim, 5 * SIM_SPEED)  # the 5 s rate window

        prom.stop()
        await wait_until(pilot, lambda: screen.error, "the failure", 30)
        assert screen.vms, "the last numbers stay on screen"
        assert screen.error in source_text(screen)
        await press_line(pilot, "colon", "vms")  # the other panes do not care
        await wait_screen(pilot, "VmsScreen")
        await wait_rows(pilot, 5)
        await press_line(pilot, "colon", "metrics")
        await wait_screen(pilot, "MetricsScreen")

        prom.start()
        prom.wait_for_samples()
        await wait_until(pilot, lambda: not screen.error, "the recovery", 60)


async def test_vm_health_shows_cpu_and_memory_sparklines(app_factory: AppFactory) -> None:
    """The VM health screen has a line of live numbers from the same source as the pane."""
    from kvtui.ui.widgets.vm_sparklines import VmSparklines

    async with started(app_factory) as pilot:
        await press_line(pilot, "colon", "vms")
        await wait_rows(pilot, 5)
        await pilot.press("enter")
        await wait_screen(pilot, "VmHealthScreen")
        line = pilot.app.screen.query_one(VmSparklines)
        await wait_until(pilot, lambda: line.asked >= 2, "two asks", 30)
        text = str(line.render())
        assert "CPU" in text and "cores" in text and "Memory" in text and "GiB" in text
        assert "direct scrape" in text


async def test_a_nodes_vms_show_the_nodes_numbers(app_factory: AppFactory) -> None:
    """Drilling into a node: what its VMs use of the node's CPU and memory, with sparklines."""
    from kvtui.ui.widgets.node_sparklines import NodeSparklines

    async with started(app_factory) as pilot:
        table = current_table(pilot)
        assert table is not None
        assert table.move_cursor(("", "kv-node-1"))
        await pilot.press("enter")
        await wait_until(pilot, lambda: pilot.app.screen.query(NodeSparklines), "the node line")
        line = pilot.app.screen.query_one(NodeSparklines)
        await wait_until(pilot, lambda: line.asked >= 1, "an ask", 30)
        text = str(line.render())
        assert "VMs use CPU" in text and "/ 15.50" in text and "GiB" in text

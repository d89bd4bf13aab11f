"""Pictures of the metrics pane: with numbers (from a fixed source, so the picture does not
depend on how long the simulator has run; the real sources are tested in test_metrics_pane.py)
and with no source at all."""

from __future__ import annotations

import time
import types
from typing import Any

import pytest
from textual.pilot import Pilot

from kvtui.cluster.metrics_model import (
    MetricsUnavailable,
    MigrationCounts,
    NodeUsage,
    Reading,
    SourceInfo,
    Traffic,
    VmUsage,
)
from kvtui.ui import actions
from kvtui.ui.screens import metrics as metrics_screen
from kvtui.ui.screens.metrics import MetricsScreen
from tests.ui.conftest import AppFactory, press_line, wait_screen, wait_sync, wait_until

SIM_SPEED = 1.0
SIZE = (160, 30)
GIB = 2**30
INFO = SourceInfo("prometheus", "Prometheus http://127.0.0.1:9090", "")
VMS = [
    VmUsage(
        "cluster-q2z9f5m7hc",
        "ci-runners-md-7f87afb1e8-nz2jw",
        "kv-node-2",
        1.8,
        3.1 * GIB,
        4 * GIB,
        12e6,
        3e6,
        8e6,
        2e6,
        0.04,
    ),
    VmUsage(
        "cluster-q2z9f5m7hc",
        "ci-runners-md-7f87afb1e8-tsvlc",
        "kv-node-4",
        1.7,
        2.9 * GIB,
        4 * GIB,
        11e6,
        2e6,
        7e6,
        1e6,
        0.03,
    ),
    VmUsage(
        "cluster-x7k2mq9p4d",
        "prod-eu-frontend-2e51cfada4-fz8lw",
        "kv-node-1",
        1.4,
        5.2 * GIB,
        8 * GIB,
        24e6,
        20e6,
        2e6,
        1e6,
        0.01,
    ),
    VmUsage(
        "cluster-k4n8vb2t6w", "bastion", "kv-node-1", 0.05, 0.4 * GIB, 2 * GIB, 1e3, 1e3, 0, 0, 0.0
    ),
]
TREND = [(float(t), v) for t, v in enumerate([0.2, 0.4, 0.9, 1.2, 1.1, 1.5, 1.8, 1.7])]


class FixedSource:
    """A metrics source with fixed answers (or none: `down`)."""

    def __init__(self, down: bool = False) -> None:
        self.down = down
        self.info = INFO
        self.traffic = Traffic()

    def _read(self, value: Any) -> Reading:
        if self.down:
            raise MetricsUnavailable(INFO.label, "connection refused")
        return Reading(value, INFO, time.time())

    async def top_vms(self, by: Any = None, limit: int = 10, namespace: Any = None) -> Reading:
        return self._read(VMS)

    async def vm_usage(self, vm: Any) -> Reading:
        return self._read(next((u for u in VMS if u.ref == vm), VMS[0]))

    async def vm_history(self, metric: Any, vms: Any, window: float = 900.0, points: int = 60):
        return self._read({vm: TREND for vm in vms})

    async def node_usage(self) -> Reading:
        return self._read([NodeUsage("kv-node-1", 3, 2.1, 11 * GIB, 15.5, 62 * GIB)])

    async def node_history(self, metric: Any, nodes: Any, window: float = 900.0, points=60):
        return self._read({n: TREND for n in nodes})

    async def vmis_by_phase(self) -> Reading:
        return self._read({"Running": 11})

    async def migration_counts(self) -> Reading:
        return self._read(MigrationCounts(pending=1, running=2, failed=1))

    async def close(self) -> None:
        pass


@pytest.fixture(autouse=True)
def _still(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(actions, "time", types.SimpleNamespace(monotonic=lambda: 1000.0))


def with_source(monkeypatch: pytest.MonkeyPatch, source: FixedSource) -> None:
    async def opened(*_args: Any) -> FixedSource:
        return source

    monkeypatch.setattr(metrics_screen, "open_metrics_source", opened)


async def metrics_ready(pilot: Pilot) -> None:
    await wait_sync(pilot, 5)
    await press_line(pilot, "colon", "metrics")
    await wait_screen(pilot, "MetricsScreen")
    screen = pilot.app.screen
    assert isinstance(screen, MetricsScreen)
    await wait_until(pilot, lambda: screen.asked, "the first answer")
    await pilot.pause(0.2)


def test_metrics_with_data(snap_compare, app_factory: AppFactory, monkeypatch) -> None:
    """The hottest VMs first, with CPU sparklines, the source line and the summary."""
    with_source(monkeypatch, FixedSource())
    app = app_factory(frozen=True)
    assert snap_compare(app, terminal_size=SIZE, run_before=metrics_ready)


def test_metrics_with_no_source(snap_compare, app_factory: AppFactory, monkeypatch) -> None:
    """The source refuses: the pane says so, in one line, and stays usable."""
    with_source(monkeypatch, FixedSource(down=True))
    app = app_factory(frozen=True)
    assert snap_compare(app, terminal_size=SIZE, run_before=metrics_ready)

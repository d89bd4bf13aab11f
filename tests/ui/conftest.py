"""UI fixtures: one pinned simulated cluster per module, and apps built the way the CLI builds
them, with a fixed clock so ages and the header's time never depend on when a test runs.

Each module gets its own simulator: the action tests cordon and stop things, which must not
leak into the snapshots' pictures.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import AsyncIterator, Callable, Hashable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from kvtui.cluster.audit import AuditLog
from kvtui.cluster.config import Config
from kvtui.cluster.session import Session
from kvtui.sim import store as sim_store
from kvtui.sim import world as sim_world
from kvtui.sim.runner import SimHandle, running_simulator
from kvtui.ui.app import KvtuiApp
from kvtui.ui.widgets.prompt import Prompt
from kvtui.ui.widgets.resource_table import ResourceTable

SEED = 7
FIXED_EPOCH = 1_790_000_000  # the simulated cluster's clock starts here
APP_NOW = FIXED_EPOCH + 24 * 3600 + 60  # what the app's clock says, always
CONTEXT = "kvtui-sim"
ADMIN_USER = "kvtui-admin"
NODES = ("kv-cp-1", "kv-node-1", "kv-node-2", "kv-node-3", "kv-node-4")
DEADLINE = 20.0


def seeded_suffixes(seed: int) -> Callable[[int], str]:
    """The simulator draws generateName and event-name suffixes from `secrets`, so a seeded
    cluster still names its virt-launcher pods (and orders same-second events) differently
    each run; pictures need the same names."""
    rng = random.Random(seed)

    def random_suffix(n: int = 5) -> str:
        return "".join(rng.choice(sim_store._GENERATE_ALPHABET) for _ in range(n))

    return random_suffix


@pytest.fixture(scope="module")
def ui_sim(request: pytest.FixtureRequest) -> Iterator[SimHandle]:
    """A default-scenario cluster of the module's own, pinned in time and randomness; a
    module may set `SIM_SPEED` (migrations take ~12 s of real time at 1x)."""
    speed = getattr(request.module, "SIM_SPEED", 1.0)
    with pytest.MonkeyPatch.context() as patch:
        suffixes = seeded_suffixes(SEED)
        patch.setattr(sim_store, "random_suffix", suffixes)
        patch.setattr(sim_world, "random_suffix", suffixes)
        with running_simulator(
            scenario="default", speed=speed, seed=SEED, start=FIXED_EPOCH
        ) as handle:
            yield handle


@dataclass
class AppFactory:
    """Builds `KvtuiApp`s that open their session on their own loop, as snapshots need."""

    sim: SimHandle
    audit_path: Path

    def __call__(
        self,
        read_only: bool = False,
        context: str = CONTEXT,
        config: Config | None = None,
        frozen: bool = False,
    ) -> KvtuiApp:
        """`frozen` stops the drains' clock too (elapsed times in pictures)."""
        sim, audit_path = self.sim, self.audit_path

        async def open_session() -> Session:
            return await Session.open(
                str(sim.kubeconfig),
                context,
                config=config or Config(),
                read_only=read_only,
                audit=AuditLog(audit_path),
            )

        if frozen:
            return KvtuiApp(open_session=open_session, clock=lambda: APP_NOW, monotonic=lambda: 0)
        return KvtuiApp(open_session=open_session, clock=lambda: APP_NOW)

    def audit_lines(self) -> list[str]:
        if not self.audit_path.exists():
            return []
        return [line for line in self.audit_path.read_text().splitlines() if line.strip()]


@pytest.fixture
def app_factory(ui_sim: SimHandle, tmp_path: Path) -> AppFactory:
    return AppFactory(ui_sim, tmp_path / "audit.jsonl")


# -- helpers for Pilot tests -----------------------------------------------------------------
def current_table(pilot: Pilot) -> ResourceTable | None:
    tables = pilot.app.screen.query(ResourceTable)
    return tables.first() if tables else None


async def wait_until(
    pilot: Pilot, predicate: Callable[[], Any], what: str, timeout: float = DEADLINE
) -> Any:
    """Pause in small steps until `predicate()` is truthy; fail naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        await pilot.pause(0.05)


async def wait_rows(pilot: Pilot, n_min: int = 1, timeout: float = DEADLINE) -> ResourceTable:
    """Until the current pane's table shows at least `n_min` rows."""

    def ready() -> ResourceTable | None:
        table = current_table(pilot)
        return table if table is not None and table.row_count >= n_min else None

    return await wait_until(pilot, ready, f"{n_min}+ rows in the table", timeout)


async def wait_sync(pilot: Pilot, n_min: int = 1) -> ResourceTable:
    """Until the session is open, every kind is synced and the table has rows."""
    app = pilot.app
    await wait_until(pilot, lambda: getattr(app, "session", None) is not None, "the session")
    await app.session.cache.wait_synced(DEADLINE)
    return await wait_rows(pilot, n_min)


async def wait_screen(pilot: Pilot, name: str, timeout: float = DEADLINE) -> None:
    await wait_until(pilot, lambda: type(pilot.app.screen).__name__ == name, name, timeout)


def row_keys(table: ResourceTable) -> list[Hashable]:
    return table.keys_in_view()


def cells(table: ResourceTable, key: Hashable, column: str) -> str:
    row = table.get_row(key)
    assert row is not None, key
    names = [c.name for c in table.columns]
    return row.cells[names.index(column)]


@contextlib.asynccontextmanager
async def started(
    factory: AppFactory,
    read_only: bool = False,
    size: tuple[int, int] = (160, 50),
    context: str = CONTEXT,
    config: Config | None = None,
) -> AsyncIterator[Pilot]:
    """A running app whose session is synced and whose Nodes table is full."""
    app = factory(read_only=read_only, context=context, config=config)
    async with app.run_test(size=size) as pilot:
        await wait_sync(pilot, len(NODES))
        yield pilot


def notes(pilot: Pilot) -> list[str]:
    """The notifications on screen (or not yet expired)."""
    return [n.message for n in pilot.app._notifications]


async def press_line(pilot: Pilot, opener: str, text: str, typed: bool | None = None) -> None:
    """Open the prompt with `opener` (colon or slash), enter `text`, press Enter.

    Short text is typed key by key; longer text is pasted into the prompt in one edit, as
    each Pilot key press waits for the whole process (the simulator thread too) to idle."""
    await pilot.press(opener)
    if typed if typed is not None else len(text) <= 6:
        await pilot.press(*text)
    else:
        pilot.app.screen.query_one(Prompt).value = text
    await pilot.press("enter")
    await pilot.pause()


def sim_requests(sim: SimHandle, user: str = ADMIN_USER) -> list[Any]:
    return [r for r in sim.call(lambda: list(sim.simulator.api.requests)) if r.user == user]


def clear_requests(sim: SimHandle) -> None:
    sim.call(lambda: sim.simulator.api.requests.clear())

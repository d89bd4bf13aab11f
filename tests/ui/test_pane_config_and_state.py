"""Pane settings from the config file (column choices) and per-kind API state on screen."""

from __future__ import annotations

from kvtui.cluster.config import Config
from tests.ui.conftest import AppFactory, press_line, wait_rows, wait_screen, wait_sync


async def test_chosen_columns_in_order(app_factory: AppFactory) -> None:
    config = Config(columns={"vms": ["node", "eviction", "status"], "nodes": ["vmis"]})
    app = app_factory(config=config)
    async with app.run_test(size=(120, 30)) as pilot:
        table = await wait_sync(pilot, 5)
        assert [c.name for c in table.columns] == ["NAME", "VMIS"]  # NAME always stays
        await press_line(pilot, "colon", "vms")
        await wait_screen(pilot, "VmsScreen")
        table = await wait_rows(pilot, 5)
        assert [c.name for c in table.columns] == ["NAME", "NODE", "EVICTION", "STATUS"]
        row = table.get_row(table.cursor_key)
        assert row is not None and len(row.cells) == 4
        assert row.cells[2] in {"LiveMigrate", "None", "External", "LiveMigrateIfPossible"}


async def test_unknown_column_is_reported_and_ignored(app_factory: AppFactory) -> None:
    app = app_factory(config=Config(columns={"nodes": ["name", "bogus"]}))
    async with app.run_test(size=(120, 30)) as pilot:
        table = await wait_sync(pilot, 5)
        assert [c.name for c in table.columns] == ["NAME"]
        messages = [str(n.message) for n in app._notifications]
        assert any("BOGUS" in m and "unknown" in m for m in messages)


async def test_header_shows_a_degraded_kind_in_its_own_words(app_factory: AppFactory) -> None:
    """API failures degrade the header with the error text; it recovers on its own."""
    from kvtui.ui.widgets.status_header import StatusHeader
    from tests.ui.conftest import wait_until

    sim = app_factory.sim
    app = app_factory()
    async with app.run_test(size=(160, 30)) as pilot:
        await wait_sync(pilot, 5)
        header = app.screen.query_one(StatusHeader)
        sim.call(lambda: sim.simulator.api.config.faults.update({"error_500_share": 1.0}))
        try:
            sim.call(sim.simulator.api.drop_watches)
            await wait_until(pilot, lambda: header.api_health()[0] == "degraded", "degraded", 20)
            _, detail = header.api_health()
            assert "injected by the simulator" in detail or "500" in detail, detail
        finally:
            sim.call(lambda: sim.simulator.api.config.faults.update({"error_500_share": 0.0}))
        await wait_until(pilot, lambda: header.api_health()[0] == "synced", "recovery", 40)

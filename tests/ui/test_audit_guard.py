"""A change the audit log would miss does not happen: the app refuses before asking, every CLI
refuses before changing, and a log that fails half way through stops the operation there and
says what reached the server (no traceback anywhere)."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

import pytest

from kvtui.cluster.audit import AuditLog
from kvtui.cluster.config import Config
from kvtui.cluster.session import Session, Target
from kvtui.sim.runner import SimHandle
from tests.test_cli import kvtui
from tests.ui.conftest import AppFactory, notes, started, wait_screen, wait_until
from tests.ui.test_app_actions import cordoned, select, writes

SIM_SPEED = 10.0


def blocked_dir(tmp_path: Path) -> Path:
    """A path under a regular file: nothing can be created there, not even by root."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    return blocker / "state"


def test_problem_names_the_log_and_why(tmp_path: Path) -> None:
    assert AuditLog(tmp_path / "kvtui" / "audit.jsonl").problem() is None
    why = AuditLog(blocked_dir(tmp_path) / "audit.jsonl").problem()
    assert why is not None and "audit.jsonl cannot be written" in why


class FullDisk(AuditLog):
    """Takes `room` entries, then the disk is full."""

    def __init__(self, path: Path, room: int) -> None:
        super().__init__(path)
        self.room = room

    def record(self, **entry: Any) -> dict[str, Any]:  # type: ignore[override]
        if self.room == 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= 1
        return super().record(**entry)


async def test_a_log_that_fills_up_stops_the_operation_there(
    fresh_sim: SimHandle, tmp_path: Path
) -> None:
    session = await Session.open(
        str(fresh_sim.kubeconfig),
        fresh_sim.context,
        config=Config(),
        audit=FullDisk(tmp_path / "audit.jsonl", room=1),
    )
    nodes = ["kv-node-1", "kv-node-2", "kv-node-3"]
    try:
        results = await session.run_operation("cordon", [Target("node", n) for n in nodes])
    finally:
        await session.close()
    ok, unaudited, untouched = results
    assert ok.error is None
    assert unaudited.error is not None and "done, but the audit log" in unaudited.error
    assert "No space left on device" in unaudited.error
    assert untouched.error == "not attempted: the audit log cannot be written"
    assert [cordoned(fresh_sim, n) for n in nodes] == [True, True, False]
    assert len((tmp_path / "audit.jsonl").read_text().splitlines()) == 1
    for name in nodes[:2]:  # leave the module's cluster as it was
        fresh_sim.call(
            lambda n=name: fresh_sim.simulator.store.mutate(
                "/nodes", None, n, lambda o: o["spec"].pop("unschedulable", None)
            )
        )


async def test_the_app_refuses_before_it_asks(ui_sim: SimHandle, tmp_path: Path) -> None:
    factory = AppFactory(ui_sim, blocked_dir(tmp_path) / "audit.jsonl")
    async with started(factory) as pilot:
        await select(pilot, "kv-node-3")
        await pilot.press("W")
        await pilot.press("c")
        await wait_until(
            pilot,
            lambda: any("audit" in n and "cannot be written" in n for n in notes(pilot)),
            "why",
        )
        await wait_screen(pilot, "NodesScreen")  # no confirmation was offered
    assert not cordoned(ui_sim, "kv-node-3")
    assert not [r for r in writes(ui_sim) if "kv-node-3" in r.path]


@pytest.mark.parametrize(
    "args",
    [
        ["uncordon", "kv-node-1"],
        ["instancetype", "create", "cx9", "--cpus", "2", "--memory", "4Gi", "--yes"],
        ["doctor", "--fix", "upgrade.lb-selector", "--yes"],
    ],
)
def test_every_cli_refuses_before_it_changes(sim: SimHandle, tmp_path: Path, args: list[str]):
    proc = kvtui(
        "--kubeconfig",
        str(sim.kubeconfig),
        "--context",
        sim.context,
        *args,
        env={"XDG_STATE_HOME": str(blocked_dir(tmp_path))},
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "cannot be written" in proc.stderr and "nothing was changed" in proc.stderr
    assert (
        sim.call(
            lambda: sim.simulator.store.get(
                "instancetype.kubevirt.io/virtualmachineclusterinstancetypes", None, "cx9"
            )
        )
        is None
    )

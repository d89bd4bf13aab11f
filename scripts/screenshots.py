#!/usr/bin/env python3
"""Regenerate screenshots/*.svg (and PNGs when a converter exists) of the Nodes pane, the VMs
pane, the VM health screen, the drain board, the datacenter editor (form, YAML), the
reachability explainer, the scheduling presets and the Health pane at 160x50, against a pinned
simulated cluster.

Pinned like the snapshot tests: the cluster's start, seed and generated names, and the app's
clock, so an unchanged UI gives unchanged pictures. PNGs come from `rsvg-convert` (Debian:
librsvg2-bin) or the `cairosvg` module, whichever is found.

    .venv/bin/python scripts/screenshots.py [--out screenshots]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from textual.pilot import Pilot  # noqa: E402
from textual.widgets import Input, Static  # noqa: E402

from kvtui.cluster.audit import AuditLog  # noqa: E402
from kvtui.cluster.config import Config  # noqa: E402
from kvtui.cluster.presets import NodeAffinityPreset, Preset, SpreadConstraint  # noqa: E402
from kvtui.cluster.session import Session  # noqa: E402
from kvtui.sim import store as sim_store  # noqa: E402
from kvtui.sim import world as sim_world  # noqa: E402
from kvtui.sim.runner import SimHandle, running_simulator  # noqa: E402
from kvtui.ui.app import KvtuiApp  # noqa: E402
from kvtui.ui.widgets.resource_table import ResourceTable  # noqa: E402

SEED = 7
FIXED_EPOCH = 1_790_000_000
APP_NOW = FIXED_EPOCH + 24 * 3600 + 60
SIZE = (160, 50)
DEADLINE = 30.0


# The preset the presets screenshot shows: spread over zones (hard), zone-a preferred.
ZONES_PRESET = Preset(
    "zones",
    (SpreadConstraint(1, "topology.kubernetes.io/zone", "DoNotSchedule"),),
    NodeAffinityPreset("soft", "topology.kubernetes.io/zone", ("zone-a",)),
)


def seed_generated_names(seed: int) -> None:
    """The simulator draws generateName suffixes from `secrets`; pictures need the same
    virt-launcher pod names (and event order) every time."""
    rng = random.Random(seed)

    def random_suffix(n: int = 5) -> str:
        return "".join(rng.choice(sim_store._GENERATE_ALPHABET) for _ in range(n))

    sim_store.random_suffix = random_suffix  # type: ignore[assignment]
    sim_world.random_suffix = random_suffix  # type: ignore[attr-defined]


async def until(pilot: Pilot, predicate: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"screenshots: timed out waiting for {what}")
        await pilot.pause(0.05)


def rows(pilot: Pilot) -> int:
    tables = pilot.app.screen.query(ResourceTable)
    return tables.first().row_count if tables else 0


async def shoot(sim: SimHandle, out: Path, state: Path) -> list[Path]:
    async def open_session() -> Session:
        return await Session.open(
            str(sim.kubeconfig),
            sim.context,
            config=Config(presets=[ZONES_PRESET]),
            audit=AuditLog(state / "audit.jsonl"),
        )

    # The drain's clock is frozen too (elapsed 0s); its migration byte counts are live.
    app = KvtuiApp(open_session=open_session, clock=lambda: APP_NOW, monotonic=lambda: 0.0)
    written = []
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.session is not None, "the session")
        await app.session.cache.wait_synced(DEADLINE)
        await until(pilot, lambda: rows(pilot) >= 5, "the nodes")
        await pilot.pause(0.3)
        written.append(Path(app.save_screenshot("nodes.svg", str(out))))

        await pilot.press("colon", "v", "m", "s", "enter")
        await until(pilot, lambda: type(app.screen).__name__ == "VmsScreen", "the VMs pane")
        await until(pilot, lambda: rows(pilot) >= 11, "the VMs")
        await pilot.pause(0.3)
        written.append(Path(app.save_screenshot("vms.svg", str(out))))

        await pilot.press("enter")
        await until(pilot, lambda: type(app.screen).__name__ == "VmHealthScreen", "VM health")
        events = app.screen.query_one("#health-events", Static)
        await until(pilot, lambda: "SuccessfulCreate" in str(events.content), "the VM's events")
        await pilot.pause(0.3)
        written.append(Path(app.save_screenshot("vm-health.svg", str(out))))

        # The drain board mid-drain: kv-node-4 holds one VM of each fate.
        await pilot.press("escape")
        await until(pilot, lambda: type(app.screen).__name__ == "VmsScreen", "the VMs pane")
        await pilot.press("colon", *"nodes", "enter")
        await until(pilot, lambda: type(app.screen).__name__ == "NodesScreen", "the Nodes pane")
        app.screen.query_one(ResourceTable).move_cursor(("", "kv-node-4"))
        await pilot.press("D")
        await until(pilot, lambda: getattr(app.screen, "plan", None) is not None, "the plan")
        await pilot.press("W", "S")
        await until(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen", "confirm")
        await pilot.click("#apply")
        await until(pilot, lambda: "kv-node-4" in app.drains, "the drain")
        drain = app.drains["kv-node-4"]
        await until(
            pilot,
            lambda: (
                any(i.processed_bytes for i in drain.items) and any(i.refused for i in drain.items)
            ),
            "a migration moving data next to a refused eviction",
        )
        await pilot.pause(0.3)
        written.append(Path(app.save_screenshot("drain.svg", str(out))))

        # The datacenter editor with the scenario's block and its findings.
        await pilot.press("escape")
        await until(pilot, lambda: type(app.screen).__name__ == "NodesScreen", "the Nodes pane")
        await pilot.press("colon", "d", "c", "enter")
        await until(pilot, lambda: type(app.screen).__name__ == "DatacenterScreen", ":dc")
        await until(pilot, lambda: getattr(app.screen, "dc", None) is not None, "the datacenter")
        await until(pilot, lambda: bool(getattr(app.screen, "findings", None)), "its findings")
        await pilot.pause(0.3)
        written.append(Path(app.save_screenshot("datacenter.svg", str(out))))
        # The same block as YAML (Y switches, keeping the edit).
        await pilot.press("Y")
        await until(pilot, lambda: getattr(app.screen, "mode", "") == "dc-editor", "YAML mode")
        await pilot.pause(0.3)
        written.append(Path(app.save_screenshot("datacenter-yaml.svg", str(out))))

        # The reachability explainer: a second office range denied by the FAQ policy, the fix.
        await pilot.press("escape")
        await until(pilot, lambda: type(app.screen).__name__ == "NodesScreen", "the Nodes pane")
        await pilot.press("colon", "n", "p", "enter")
        await until(pilot, lambda: rows(pilot) >= 9, "the network policies")
        await pilot.press("r")
        await until(pilot, lambda: type(app.screen).__name__ == "NetpolExplainScreen", "explainer")
        services = sim.call(lambda: sim.simulator.store.list("/services", "cluster-x7k2mq9p4d"))
        lb = next(
            s["metadata"]["name"] for s in services if s["spec"].get("type") == "LoadBalancer"
        )
        question = ("10.200.20.0/24", f"cluster-x7k2mq9p4d/{lb}", "443")
        for field, value in zip(("#np-from", "#np-to", "#np-port"), question, strict=True):
            app.screen.query_one(field, Input).value = value
        app.screen.query_one("#np-port", Input).focus()
        await pilot.press("enter")
        await until(pilot, lambda: bool(getattr(app.screen, "proposals", None)), "the fix")
        await pilot.pause(0.3)
        written.append(Path(app.save_screenshot("netpol.svg", str(out))))

        # A scheduling preset and where a MachineDeployment's next VMs would land under it.
        await pilot.press("escape")
        await until(pilot, lambda: type(app.screen).__name__ == "NetpolsScreen", "the policies")
        await pilot.press("colon", *"presets", "enter")
        await until(pilot, lambda: type(app.screen).__name__ == "PresetsScreen", ":presets")
        await until(
            pilot,
            lambda: "Placement of" in str(app.screen.query_one("#preset-preview").render()),
            "the preview",
        )
        app.screen.query_one("#presets-list").focus()
        await pilot.pause(0.3)
        written.append(Path(app.save_screenshot("presets.svg", str(out))))

        # The Health pane: the doctor's checks by area (kv-node-4 is still being drained).
        await pilot.press("escape")
        await pilot.press("colon", *"health", "enter")
        await until(pilot, lambda: type(app.screen).__name__ == "HealthScreen", ":health")
        await until(pilot, lambda: getattr(app.screen, "report", None) is not None, "the checks")
        await until(pilot, lambda: rows(pilot) == len(app.screen.report.results), "the rows")
        await pilot.pause(0.3)
        written.append(Path(app.save_screenshot("health.svg", str(out))))

        # The metrics pane: the hottest VMs from the direct scrape (two scrapes give rates).
        await pilot.press("colon", *"metrics", "enter")
        await until(pilot, lambda: type(app.screen).__name__ == "MetricsScreen", ":metrics")
        await until(
            pilot,
            lambda: bool(app.screen.vms) and all(u.cpu is not None for u in app.screen.vms),
            "CPU rates",
        )
        await pilot.pause(0.3)
        written.append(Path(app.save_screenshot("metrics.svg", str(out))))

        # The instance types and preferences, with how many VMs use each.
        await pilot.press("colon", *"it", "enter")
        await until(pilot, lambda: type(app.screen).__name__ == "InstancetypesScreen", ":it")
        await until(pilot, lambda: rows(pilot) >= 10, "the instance types")
        await pilot.pause(0.3)
        written.append(Path(app.save_screenshot("instancetypes.svg", str(out))))
    return written


def png_converter() -> Callable[[Path, Path], None] | None:
    """rsvg-convert or cairosvg; None when neither is there."""

    def preserved(svg: Path) -> bytes:
        # Rich's SVGs keep runs of spaces as &#160;, which librsvg drops at the start of a
        # <text> unless told to preserve white space.
        return svg.read_bytes().replace(b"<svg ", b'<svg xml:space="preserve" ', 1)

    rsvg = shutil.which("rsvg-convert")
    if rsvg:

        def with_rsvg(svg: Path, png: Path) -> None:
            subprocess.run([rsvg, "-o", str(png)], input=preserved(svg), check=True)

        return with_rsvg
    try:
        import cairosvg  # type: ignore[import-not-found]
    except ImportError:
        return None

    def with_cairo(svg: Path, png: Path) -> None:
        cairosvg.svg2png(bytestring=preserved(svg), write_to=str(png))

    return with_cairo


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots")
    args = parser.parse_args()
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kvtui-screenshots-") as tmp:
        # Nothing of the user's: config, state and kubeconfig all live in the temp dir.
        home = Path(tmp)
        os.environ.update(
            HOME=str(home),
            XDG_CONFIG_HOME=str(home / ".config"),
            XDG_STATE_HOME=str(home / ".local/state"),
            KUBECONFIG=str(home / "no-such-kubeconfig"),
        )
        seed_generated_names(SEED)
        with running_simulator(scenario="default", speed=1.0, seed=SEED, start=FIXED_EPOCH) as sim:
            svgs = asyncio.run(shoot(sim, out, home))
    convert = png_converter()
    for svg in svgs:
        print(f"wrote {svg.relative_to(ROOT) if svg.is_relative_to(ROOT) else svg}")
        if convert is not None:
            png = svg.with_suffix(".png")
            convert(svg, png)
            print(f"wrote {png.relative_to(ROOT) if png.is_relative_to(ROOT) else png}")
    if convert is None:
        print("no rsvg-convert or cairosvg: SVG only (apt-get install librsvg2-bin for PNGs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Shared fixtures: a simulated cluster on loopback, and real external tools.

Tests never read the developer's real kubeconfig or config: every fixture points at files it
made itself. Under CI=true a missing external tool fails the test instead of skipping it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kvtui.sim.runner import SimHandle, running_simulator

IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """No test may touch the developer's kubeconfig, config or state."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local/state"))
    monkeypatch.setenv("KUBECONFIG", str(home / "no-such-kubeconfig"))


def require_tool(name: str) -> str:
    """The path of an external tool; outside CI a missing one skips, in CI it fails."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed"
        if IN_CI:
            pytest.fail(f"{message}, and CI must run every test")
        pytest.skip(message)
    return path


@dataclass
class Kubectl:
    """Runs the real kubectl against one simulator."""

    binary: str
    kubeconfig: Path

    def __call__(
        self, *args: str, timeout: float = 60, check: bool = True, context: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        cmd = [self.binary, "--kubeconfig", str(self.kubeconfig)]
        if context:
            cmd += ["--context", context]
        proc = subprocess.run(
            [*cmd, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "KUBECONFIG": str(self.kubeconfig)},
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({proc.returncode}):\n"
                f"{proc.stdout}\n{proc.stderr}"
            )
        return proc


@pytest.fixture(scope="session")
def sim() -> Iterator[SimHandle]:
    """A shared default-scenario cluster for tests that only read or make small changes."""
    with running_simulator(scenario="default", speed=10.0, seed=1) as handle:
        yield handle


@pytest.fixture(scope="module")
def fresh_sim() -> Iterator[SimHandle]:
    """A cluster of the module's own, for tests that drain, delete or break things."""
    with running_simulator(scenario="default", speed=10.0, seed=2) as handle:
        yield handle


@pytest.fixture(scope="session")
def kubectl_binary() -> str:
    return require_tool("kubectl")


@pytest.fixture
def kubectl(sim: SimHandle, kubectl_binary: str) -> Kubectl:
    return Kubectl(kubectl_binary, sim.kubeconfig)

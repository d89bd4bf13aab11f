"""`kvtui demo` in a real terminal: tmux runs it, we read the screen and type like a user.

A private tmux server, its socket in the test's temp dir, keeps the user's tmux sessions out
of reach; HOME and the XDG dirs point into a temporary directory, so nothing touches the real
user dirs.
"""

from __future__ import annotations

import secrets
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.conftest import require_tool

ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 40.0


class Tmux:
    """One detached session on a private tmux server."""

    def __init__(self, binary: str, socket: Path) -> None:
        self.binary = binary
        self.socket = str(socket)  # in the test's temp dir: nothing left behind in /tmp
        self.name = f"kvtui-e2e-{secrets.token_hex(4)}"
        self.screens: list[str] = []  # every capture, to look for tracebacks afterwards

    def __call__(self, *args: str) -> str:
        proc = subprocess.run(
            [self.binary, "-S", self.socket, *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        if proc.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc.stdout

    def capture(self) -> str:
        text = self("capture-pane", "-p", "-t", self.name)
        self.screens.append(text)
        return text

    def send(self, *keys: str) -> None:
        self("send-keys", "-t", self.name, *keys)

    def type(self, text: str) -> None:
        self("send-keys", "-t", self.name, "-l", text)

    def wait_for(self, predicate: Callable[[str], bool], what: str) -> str:
        deadline = time.monotonic() + DEADLINE
        while True:
            screen = self.capture()
            if predicate(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; the screen:\n{screen}")
            time.sleep(0.1)

    def close(self) -> None:
        subprocess.run(
            [self.binary, "-S", self.socket, "kill-server"], capture_output=True, check=False
        )


def test_demo_in_tmux(tmp_path: Path) -> None:
    tmux = Tmux(require_tool("tmux"), tmp_path / "tmux.sock")
    home = tmp_path / "home"
    home.mkdir()
    exit_file = tmp_path / "exit"
    env = {
        "HOME": home,
        "XDG_CONFIG_HOME": home / ".config",
        "XDG_STATE_HOME": home / ".local/state",
        "XDG_CACHE_HOME": home / ".cache",
        "XDG_DATA_HOME": home / ".local/share",
        "KUBECONFIG": home / "no-such-kubeconfig",
        "TERM": "tmux-256color",
    }
    assignments = " ".join(f"{k}={shlex.quote(str(v))}" for k, v in env.items())
    command = (
        # COLUMNS/LINES from the test's environment would pin the app to 80x24.
        f"env -u COLUMNS -u LINES {assignments} {shlex.quote(sys.executable)} "
        "-m kvtui.cli demo --speed 5; "
        f"echo EXIT=$? > {shlex.quote(str(exit_file))}"
    )
    try:
        size = ("-x", "160", "-y", "50")
        tmux("new-session", "-d", *size, "-s", tmux.name, "-c", str(ROOT), command)
        tmux("set-option", "-t", tmux.name, "remain-on-exit", "on")
        tmux.wait_for(lambda s: "kv-node-1" in s and "synced" in s, "the Nodes pane")

        # Each prompt line goes in one burst, as a paste or a fast typist sends it: the keys
        # right after `:` or `/` must reach the prompt, not the table behind it.
        tmux.type(":vms")
        tmux.send("Enter")
        tmux.wait_for(lambda s: "NAMESPACE" in s and "bastion" in s, "the VMs pane")

        tmux.type("/prod-eu-workers")
        tmux.send("Enter")
        tmux.wait_for(  # the rows, and the header names the filter
            lambda s: "/prod-eu-workers" in s and "bastion" not in s, "the filtered VMs"
        )

        tmux.send("Enter")
        screen = tmux.wait_for(lambda s: "Conditions" in s, "VM health")
        assert "VM health" in screen and "Recent events" in screen

        tmux.send("Escape")
        tmux.wait_for(lambda s: "NAMESPACE" in s and "Conditions" not in s, "the VMs again")

        # Drain a node: the plan, arm, start, confirm (focus starts on Cancel), the verdict.
        tmux.type(":nodes")
        tmux.send("Enter")
        tmux.wait_for(lambda s: "ROLES" in s and "NAMESPACE" not in s, "the Nodes pane again")
        tmux.type("/kv-node-2")
        tmux.send("Enter")
        tmux.wait_for(lambda s: "/kv-node-2" in s and "kv-node-3" not in s, "kv-node-2 alone")
        tmux.send("D")
        tmux.wait_for(lambda s: "Plan for kv-node-2" in s and "Capacity:" in s, "the plan")
        tmux.send("W")
        tmux.wait_for(lambda s: "ARMED" in s, "writes armed")
        tmux.send("S")
        tmux.wait_for(lambda s: "Dry run" in s and "• node/kv-node-2" in s, "the confirmation")
        tmux.send("Tab")
        tmux.send("Tab")
        tmux.send("Enter")
        screen = tmux.wait_for(lambda s: "kv-node-2 drained in" in s, "the drain's verdict")
        assert "2 migrated, 1 replaced" in screen and "0 blocked" in screen
        tmux.send("Escape")
        tmux.wait_for(lambda s: "ROLES" in s and "Draining" not in s, "the Nodes pane")

        tmux.type(":q")
        tmux.send("Enter")
        deadline = time.monotonic() + DEADLINE
        while not exit_file.exists() or not exit_file.read_text().strip():
            assert time.monotonic() < deadline, "kvtui did not exit:\n" + tmux.capture()
            time.sleep(0.1)
        assert exit_file.read_text().strip() == "EXIT=0", tmux.capture()
        deadline = time.monotonic() + DEADLINE
        while tmux("display", "-p", "-t", tmux.name, "#{pane_dead}").strip() != "1":
            assert time.monotonic() < deadline, "the shell did not finish"
            time.sleep(0.1)
        tmux.capture()  # what the terminal shows once the app left: tracebacks land here
    finally:
        tmux.close()
    for screen in tmux.screens:
        assert "Traceback" not in screen, screen

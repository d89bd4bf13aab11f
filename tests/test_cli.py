"""The `kvtui` command line: version, flags in any position, and one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kvtui import __version__
from kvtui.cli import build_parser


def kvtui(
    *args: str, env: dict | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kvtui.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("kvtui: error: ")
    for fragment in fragments:
        assert fragment in lines[0]


def test_version() -> None:
    proc = kvtui("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"kvtui {__version__}"


@pytest.mark.parametrize(
    "argv",
    [
        ["--read-only", "--context", "prod", "demo"],
        ["demo", "--read-only", "--context", "prod"],
        ["--context", "prod", "demo", "--read-only"],
    ],
)
def test_connection_flags_before_or_after_the_subcommand(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert args.command == "demo" and args.read_only is True and args.context == "prod"


def test_unreadable_kubeconfig(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    proc = kvtui("--kubeconfig", str(missing))
    assert_one_line_error(proc, str(missing))


def test_kubeconfig_from_the_environment(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.write_text("clusters: [unclosed\n")
    proc = kvtui(env={"KUBECONFIG": str(broken)})
    assert_one_line_error(proc, str(broken))


def test_unknown_context(sim) -> None:
    proc = kvtui("--kubeconfig", str(sim.kubeconfig), "--context", "nosuch")
    assert_one_line_error(proc, "nosuch", "kvtui-sim")


def test_unreachable_server(tmp_path: Path) -> None:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "gone",
        "clusters": [
            {
                "name": "gone",
                "cluster": {"server": "https://127.0.0.1:1", "insecure-skip-tls-verify": True},
            }
        ],
        "users": [{"name": "u", "user": {"token": "secret-token-value"}}],
        "contexts": [{"name": "gone", "context": {"cluster": "gone", "user": "u"}}],
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    proc = kvtui("--kubeconfig", str(path), timeout=60)
    assert_one_line_error(proc, "127.0.0.1:1")
    assert "secret-token-value" not in proc.stderr + proc.stdout


def test_bad_config_file(tmp_path: Path, sim) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("read_only_contexts: [a\n")
    proc = kvtui("--kubeconfig", str(sim.kubeconfig), env={"KVTUI_CONFIG": str(config)})
    assert_one_line_error(proc, str(config))


def test_sim_refuses_a_bad_scenario(tmp_path: Path) -> None:
    proc = kvtui(
        "sim", "--scenario", str(tmp_path / "missing.yaml"), "--kubeconfig", str(tmp_path / "kc")
    )
    assert_one_line_error(proc, "missing.yaml")

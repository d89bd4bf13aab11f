"""`kvtui demo`'s Prometheus and the --prometheus-* connection flags."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

from kvtui import cli
from kvtui.sim.runner import SimHandle
from tests.conftest import require_tool

SECRET = "pa55-w0rd-not-to-print"


def parsed(*argv: str) -> argparse.Namespace:
    args = cli.build_parser().parse_args(list(argv))
    for name in ("prometheus_token", "prometheus_basic_auth_file", "prometheus_ca"):
        if not hasattr(args, name):
            setattr(args, name, None)
    return args


def test_demo_starts_a_prometheus_that_scrapes_the_simulator_and_stops_it(sim: SimHandle) -> None:
    require_tool("prometheus")
    args = parsed("demo")
    runner = cli._demo_prometheus(args, sim)
    assert runner is not None
    try:
        assert args.prometheus_url == runner.url and runner.url.startswith("http://127.0.0.1:")
        assert args.prometheus_rate_window == "8s"  # four of the demo's 2 s scrapes
        answer = requests.get(
            f"{runner.url}/api/v1/query", params={"query": "count(kubevirt_info)"}, timeout=5
        ).json()
        assert answer["data"]["result"], answer
    finally:
        runner.close()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", runner.port), timeout=2):
        pass
    assert not runner.dir.exists()


def test_demo_without_the_binary_scrapes_directly(
    sim: SimHandle, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    args = parsed("demo")
    assert cli._demo_prometheus(args, sim) is None
    assert args.prometheus_url is None
    assert "no prometheus binary" in capsys.readouterr().out


def test_a_given_url_is_used_as_is(sim: SimHandle) -> None:
    args = parsed("demo", "--prometheus-url", "https://prometheus.example:9090")
    assert cli._demo_prometheus(args, sim) is None
    assert args.prometheus_url == "https://prometheus.example:9090"


def test_flags_become_settings_without_showing_secrets(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = tmp_path / "auth"
    auth.write_text(f"kvtui:{SECRET}\n")
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setenv(cli.PROMETHEUS_TOKEN_ENV, SECRET + "-token")
    settings = cli._prometheus_settings(
        parsed(
            "--prometheus-url",
            "https://prom.example:9090",
            "--prometheus-basic-auth-file",
            str(auth),
            "--prometheus-ca",
            str(ca),
            "--prometheus-rate-window",
            "1m30s",
        )
    )
    assert settings.url == "https://prom.example:9090"
    assert settings.basic_auth == ("kvtui", SECRET)
    assert settings.token == SECRET + "-token"
    assert settings.ca_file == str(ca) and settings.rate_window == "1m30s"
    assert SECRET not in repr(settings)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--prometheus-url", "prom:9090"], "must start with http:// or https://"),
        (["--prometheus-basic-auth-file", "/no/such/file"], "cannot read --prometheus-basic"),
        (["--prometheus-ca", "/no/such/ca.crt"], "--prometheus-ca /no/such/ca.crt: no such file"),
        (["--prometheus-rate-window", "two minutes"], "is not a Prometheus duration"),
    ],
)
def test_bad_flags_are_one_line_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("kvtui: error: ") and message in err and err.count("\n") == 1


def test_basic_auth_must_be_user_colon_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(cli.PROMETHEUS_BASIC_AUTH_ENV, SECRET)
    assert cli.main(["--prometheus-url", "http://127.0.0.1:1"]) == 2
    err = capsys.readouterr().err
    assert "basic auth must be given as user:password" in err and SECRET not in err


OWNER = """
import sys, time
from kvtui.prometheus_runner import PrometheusRunner, ScrapeTarget
runner = PrometheusRunner([ScrapeTarget("http://127.0.0.1:9/metrics")], scrape_interval=2)
runner.start()
print(runner.pid, runner.dir, flush=True)
time.sleep(300)
"""


def ended(pid: int) -> bool:
    """Gone, or a zombie that nobody reaped yet (it runs no more either way)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def test_a_killed_owner_takes_its_prometheus_with_it() -> None:
    """A demo killed with SIGKILL (no cleanup runs) leaves no Prometheus running."""
    require_tool("prometheus")
    require_tool("setpriv")
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert owner.stdout is not None
        pid_text, folder = owner.stdout.readline().split(maxsplit=1)
        pid = int(pid_text)
        assert not ended(pid)
        owner.kill()
        owner.wait(10)
        deadline = time.monotonic() + 20
        while not ended(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert ended(pid), "prometheus outlived the process that started it"
    finally:
        owner.kill()
        owner.wait(10)
        if "pid" in locals() and not ended(pid):
            os.kill(pid, signal.SIGKILL)  # the failure leaves no orphan behind either
        if "folder" in locals():
            shutil.rmtree(folder.strip(), ignore_errors=True)

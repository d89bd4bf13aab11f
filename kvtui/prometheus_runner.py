"""Run a real Prometheus server on loopback for the demo and the tests.

The `prometheus` binary (Debian package `prometheus`) is started with a generated config that
scrapes the given targets (for the simulator: its plain-HTTP `/metrics`, which carries every
virt-handler's and the virt-controller's series), listening on 127.0.0.1 on a free port, with
its data in a temporary directory. `start()` waits until it is ready, `wait_for_samples()` until
a query returns data, `stop()` ends it (and a later `start()` brings it back on the same port
and data, as a restarted server), `close()` also removes the directory. Secrets (a bearer
token, basic-auth users) only ever go into 0600 files in that directory.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

import requests
import yaml

READY_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


class PrometheusError(Exception):
    """Prometheus could not be started or did not become ready; the message is one line."""


@dataclass(frozen=True)
class ScrapeTarget:
    """One URL Prometheus scrapes (scheme, host:port and path are taken from it)."""

    url: str
    job: str = "kubevirt-prometheus-metrics"  # what a ServiceMonitor on KubeVirt's Service names it
    bearer_token: str | None = field(default=None, repr=False)
    ca_file: Path | None = None
    insecure: bool = False


@dataclass(frozen=True)
class WebTls:
    """TLS, and optionally one basic-auth user, for Prometheus's own web server."""

    cert_file: Path
    key_file: Path
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def auth(self) -> tuple[str, str] | None:
        return (self.username, self.password or "") if self.username else None


def prometheus_binary() -> str | None:
    """The `prometheus` executable on PATH, if any."""
    return shutil.which("prometheus")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class PrometheusRunner:
    """One Prometheus process and its temporary directory; use as a context manager."""

    def __init__(
        self,
        targets: Sequence[ScrapeTarget],
        *,
        scrape_interval: float = 2.0,
        binary: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        web: WebTls | None = None,
        retention: str = "2h",
    ) -> None:
        found = binary or prometheus_binary()
        if not found:
            raise PrometheusError(
                "the prometheus binary is not installed (apt-get install prometheus)"
            )
        self.binary = found
        self.targets = list(targets)
        self.scrape_interval = scrape_interval
        self.host = host
        self.port = port or free_port(host)
        self.web = web
        self.retention = retention
        self.dir = Path(tempfile.mkdtemp(prefix="kvtui-prometheus-"))
        self.data_dir = self.dir / "data"
        self.log_file = self.dir / "prometheus.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._started_at = 0.0
        self._write_config()

    @property
    def url(self) -> str:
        scheme = "https" if self.web else "http"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # -- config ----------------------------------------------------------------------------
    def _secret_file(self, name: str, content: str) -> Path:
        path = self.dir / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(content)
        return path

    def _write_config(self) -> None:
        interval = f"{round(self.scrape_interval * 1000)}ms"  # Prometheus durations are whole
        jobs: dict[str, dict] = {}
        for i, target in enumerate(self.targets):
            parts = urlsplit(target.url)
            job: dict = {
                "job_name": target.job if target.job not in jobs else f"{target.job}-{i}",
                "scheme": parts.scheme or "http",
                "metrics_path": parts.path or "/metrics",
                "honor_labels": True,  # as KubeVirt's ServiceMonitor asks
                "scrape_interval": interval,
                "scrape_timeout": interval,
                "static_configs": [{"targets": [parts.netloc]}],
            }
            if target.bearer_token:
                token = self._secret_file(f"token-{i}", target.bearer_token)
                job["authorization"] = {"type": "Bearer", "credentials_file": str(token)}
            if target.ca_file or target.insecure:
                tls: dict = {"insecure_skip_verify": target.insecure}
                if target.ca_file:
                    tls["ca_file"] = str(target.ca_file)
                job["tls_config"] = tls
            jobs[job["job_name"]] = job
        config = {
            "global": {"scrape_interval": interval, "evaluation_interval": interval},
            "scrape_configs": list(jobs.values()),
        }
        (self.dir / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
        if self.web:
            web: dict = {
                "tls_server_config": {
                    "cert_file": str(self.web.cert_file),
                    "key_file": str(self.web.key_file),
                }
            }
            if self.web.username:
                web["basic_auth_users"] = {self.web.username: _bcrypt(self.web.password or "")}
            self._secret_file("web.yml", yaml.safe_dump(web))

    # -- process ---------------------------------------------------------------------------
    def start(self, timeout: float = READY_TIMEOUT) -> str:
        """Start (or restart) the server and wait until it is ready; returns its URL."""
        if self.running:
            return self.url
        command = [
            self.binary,
            f"--config.file={self.dir / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.data_dir}",
            f"--storage.tsdb.retention.time={self.retention}",
            f"--web.listen-address={self.host}:{self.port}",
            "--log.level=warn",
        ]
        if self.web:
            command.append(f"--web.config.file={self.dir / 'web.yml'}")
        self._started_at = time.time()
        log = self.log_file.open("ab")
        try:
            self._process = subprocess.Popen(
                _ends_with_us(command),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=self.dir,
                start_new_session=True,  # a Ctrl-C meant for the app does not reach it
            )
        except OSError as exc:
            raise PrometheusError(f"cannot run {self.binary}: {exc.strerror or exc}") from None
        finally:
            log.close()
        self._wait_ready(timeout)
        return self.url

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self._process.pid if self._process is not None else None

    def _session(self) -> requests.Session:
        session = requests.Session()
        session.trust_env = False  # loopback: no proxy, and no CA bundle from the environment
        session.verify = not self.web  # our own self-signed test server
        if self.web:
            session.auth = self.web.auth
        return session

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._session() as session, _quiet_tls():
            while time.monotonic() < deadline:
                if not self.running:
                    raise PrometheusError(f"prometheus exited at start: {self._log_tail()}")
                with contextlib.suppress(requests.RequestException):
                    if session.get(f"{self.url}/-/ready", timeout=2).status_code == 200:
                        return
                time.sleep(0.1)
        self.stop()
        raise PrometheusError(f"prometheus was not ready within {timeout:g}s: {self._log_tail()}")

    def wait_for_samples(self, query: str = "count(kubevirt_info)", timeout: float = 30.0) -> None:
        """Wait until every target was scraped since the last `start()` and `query` returns
        data (a restarted server still holds its old samples: they alone do not count)."""
        deadline = time.monotonic() + timeout
        with self._session() as session, _quiet_tls():
            while time.monotonic() < deadline:
                with contextlib.suppress(requests.RequestException, ValueError):
                    if (
                        self._scraped_since_start(session)
                        and session.get(
                            f"{self.url}/api/v1/query", params={"query": query}, timeout=5
                        ).json()["data"]["result"]
                    ):
                        return
                time.sleep(0.2)
        raise PrometheusError(f"no samples for {query!r} within {timeout:g}s")

    def _scraped_since_start(self, session: requests.Session) -> bool:
        answer = session.get(f"{self.url}/api/v1/targets", timeout=5).json()
        active = answer["data"]["activeTargets"]
        if len(active) < len(self.targets):
            return False
        for target in active:
            when = _rfc3339(target.get("lastScrape") or "")
            if target.get("health") != "up" or when is None or when < self._started_at:
                return False
        return True

    def _log_tail(self) -> str:
        try:
            lines = self.log_file.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "(no log)"
        return lines[-1][:300] if lines else "(empty log)"

    def stop(self) -> None:
        """End the server (SIGTERM, then SIGKILL); its data stays for a later `start()`."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT)

    def close(self) -> None:
        """Stop the server and remove its directory."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> PrometheusRunner:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


_STAMP = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)")


def _rfc3339(stamp: str) -> float | None:
    """Epoch seconds of Go's RFC 3339 (nanoseconds and all), None when it is not one."""
    match = _STAMP.fullmatch(stamp)
    if match is None:
        return None
    zone = "+00:00" if match[3] == "Z" else match[3]
    return datetime.fromisoformat(match[1] + (match[2] or "")[:7] + zone).timestamp()


@contextlib.contextmanager
def _quiet_tls() -> Iterator[None]:
    """Our own probes of a self-signed test server skip verification without warnings."""
    import warnings

    import urllib3

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
        yield


def _bcrypt(password: str) -> str:
    """The bcrypt hash Prometheus's web config wants (pyca's `bcrypt`: the stdlib's `crypt`
    is gone from Python 3.13). Only a runner with basic auth (the tests') needs it."""
    try:
        import bcrypt
    except ImportError:
        raise PrometheusError("basic auth needs the bcrypt package (pip install bcrypt)") from None
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()


@contextlib.contextmanager
def running_prometheus(
    targets: Sequence[ScrapeTarget], **kwargs: object
) -> Iterator[PrometheusRunner]:
    """A started Prometheus for the duration of the `with` block."""
    runner = PrometheusRunner(targets, **kwargs)  # type: ignore[arg-type]
    try:
        runner.start()
        yield runner
    finally:
        runner.close()


def _ends_with_us(command: list[str]) -> list[str]:
    """The server gets SIGTERM when the process that started it dies, even by SIGKILL (the
    parent-death signal, set by util-linux's `setpriv`, kept across exec): a killed demo leaves
    no Prometheus behind. Without `setpriv`, only a clean exit stops it."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--", *command] if setpriv else command

"""The simulated API server's service proxy, and the prometheus-operator objects it serves."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from kvtui.sim.runner import SimHandle
from tests.conftest import Kubectl
from tests.sim.http_helpers import trusting_session


class _Echo(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"{self.path} auth={self.headers.get('Authorization')}".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def backend() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


@pytest.fixture
def api(fresh_sim: SimHandle, tmp_path: Path) -> requests.Session:
    session = trusting_session(Path(fresh_sim.kubeconfig), tmp_path)
    session.headers["Authorization"] = f"Bearer {fresh_sim.token}"
    return session


def _service(api: requests.Session, sim: SimHandle, name: str, ip: str, port: int) -> None:
    base = f"{sim.url}/api/v1/namespaces/monitoring"
    spec = {"ports": [{"name": "web", "port": 9090, "targetPort": "web"}]}
    api.post(f"{base}/services", json={"metadata": {"name": name}, "spec": spec}).raise_for_status()
    subsets = [{"addresses": [{"ip": ip}], "ports": [{"name": "web", "port": port}]}]
    api.post(
        f"{base}/endpoints", json={"metadata": {"name": name}, "subsets": subsets}
    ).raise_for_status()


def test_forwards_to_a_loopback_endpoint_without_the_callers_token(
    fresh_sim: SimHandle, api: requests.Session, backend: int
) -> None:
    _service(api, fresh_sim, "echo", "127.0.0.1", backend)
    proxy = f"{fresh_sim.url}/api/v1/namespaces/monitoring/services/echo:web/proxy"
    answer = api.get(f"{proxy}/api/v1/query", params={"query": "up"}, timeout=10)
    assert answer.status_code == 200
    assert answer.text == "/api/v1/query?query=up auth=None"


def test_no_reachable_endpoint_is_a_503_status(fresh_sim: SimHandle, api: requests.Session) -> None:
    _service(api, fresh_sim, "remote", "10.244.3.7", 9090)
    base = f"{fresh_sim.url}/api/v1/namespaces/monitoring/services"
    answer = api.get(f"{base}/remote:web/proxy/", timeout=10)
    assert answer.status_code == 503
    assert answer.json()["message"] == 'no endpoints available for service "remote"'
    assert api.get(f"{base}/absent:web/proxy/", timeout=10).status_code == 404


def test_kubevirts_service_monitor_is_served(fresh_sim: SimHandle, kubectl_binary: str) -> None:
    kubectl = Kubectl(kubectl_binary, fresh_sim.kubeconfig)
    out = kubectl("get", "servicemonitors", "-n", "monitoring", "-o", "name").stdout
    assert out.split() == ["servicemonitor.monitoring.coreos.com/prometheus-kubevirt-rules"]
    selector = kubectl(
        "get",
        "smon",
        "prometheus-kubevirt-rules",
        "-n",
        "monitoring",
        "-o",
        "jsonpath={.spec.selector.matchLabels}",
    ).stdout
    labels = kubectl(
        "get",
        "svc",
        "kubevirt-prometheus-metrics",
        "-n",
        "kubevirt",
        "-o",
        "jsonpath={.metadata.labels}",
    ).stdout
    assert '"prometheus.kubevirt.io":"true"' in selector
    assert '"prometheus.kubevirt.io":"true"' in labels

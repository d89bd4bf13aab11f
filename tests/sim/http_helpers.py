"""Raw HTTP against the simulator with the kubeconfig's CA: shared by the API tests."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import requests
import yaml

from kvtui.sim.runner import SimHandle

JSON = "application/json"


def trusting_session(kubeconfig: Path, directory: Path) -> requests.Session:
    """A session that trusts the kubeconfig's CA and nothing else."""
    config = yaml.safe_load(kubeconfig.read_text())
    ca = directory / "ca.crt"
    ca.write_bytes(base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"]))
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE would otherwise replace our CA
    session.verify = str(ca)
    return session


class Api:
    """Raw HTTP against one simulator: exactly the bytes and headers a test chooses."""

    def __init__(self, sim: SimHandle, session: requests.Session) -> None:
        self.sim = sim
        self.session = session

    def __call__(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = JSON,
        token: str | None = "admin",
        params: dict | None = None,
    ) -> requests.Response:
        headers = {}
        if token is not None:
            chosen = {"admin": self.sim.token, "viewer": self.sim.readonly_token}
            headers["Authorization"] = f"Bearer {chosen.get(token, token)}"
        if body is not None:
            headers["Content-Type"] = content_type
            if not isinstance(body, bytes | str):
                body = json.dumps(body)
        return self.session.request(
            method, self.sim.url + path, data=body, headers=headers, params=params, timeout=10
        )

    def get(self, path: str) -> dict:
        resp = self("GET", path)
        assert resp.status_code == 200, resp.text
        return resp.json()


def make_api(sim: SimHandle, directory: Path) -> Api:
    return Api(sim, trusting_session(Path(sim.kubeconfig), directory))


def assert_status(
    resp: requests.Response, code: int | tuple[int, ...], reason: str | tuple[str, ...]
) -> dict:
    """The answer is a well-formed failure `Status` with this code and reason."""
    codes = code if isinstance(code, tuple) else (code,)
    reasons = reason if isinstance(reason, tuple) else (reason,)
    assert resp.status_code in codes, (resp.status_code, resp.text)
    assert resp.headers["Content-Type"].startswith(JSON), resp.headers
    body = resp.json()
    assert body["kind"] == "Status" and body["apiVersion"] == "v1", body
    assert body["status"] == "Failure" and body["code"] == resp.status_code, body
    assert body["reason"] in reasons, body
    assert isinstance(body["message"], str) and body["message"], body
    return body

"""Exec credential plugins (what OIDC and cloud logins use): the token comes from a command."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import yaml

from kvtui.cluster import kinds
from kvtui.cluster.connection import Connection
from kvtui.sim.runner import SimHandle


def _plugin(tmp_path: Path, token: str) -> Path:
    """A client.authentication.k8s.io/v1 plugin that prints an ExecCredential."""
    credential = {
        "apiVersion": "client.authentication.k8s.io/v1",
        "kind": "ExecCredential",
        "status": {"token": token},
    }
    script = tmp_path / "credential-plugin"
    script.write_text(f"#!{sys.executable}\nimport json\nprint(json.dumps({credential!r}))\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def _kubeconfig_with_exec(sim: SimHandle, tmp_path: Path, token: str) -> Path:
    config = yaml.safe_load(sim.kubeconfig.read_text())
    config["users"] = [
        {
            "name": "exec-user",
            "user": {
                "exec": {
                    "apiVersion": "client.authentication.k8s.io/v1",
                    "command": str(_plugin(tmp_path, token)),
                    "interactiveMode": "Never",
                }
            },
        }
    ]
    config["contexts"] = [
        {"name": "exec", "context": {"cluster": config["clusters"][0]["name"], "user": "exec-user"}}
    ]
    config["current-context"] = "exec"
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


async def test_exec_plugin_token_is_used(sim: SimHandle, tmp_path: Path) -> None:
    path = _kubeconfig_with_exec(sim, tmp_path, sim.token)
    conn = await Connection.open(str(path), None)
    try:
        nodes = await conn.get_json(kinds.NODES.path())
        assert len(nodes["items"]) >= 3
        assert await conn.whoami() == "kvtui-admin"
    finally:
        await conn.close()


async def test_exec_plugin_with_the_read_only_token(sim: SimHandle, tmp_path: Path) -> None:
    path = _kubeconfig_with_exec(sim, tmp_path, sim.readonly_token)
    conn = await Connection.open(str(path), None)
    try:
        assert await conn.whoami() == "kvtui-viewer"
        assert json.dumps(await conn.get_json("/version"))
    finally:
        await conn.close()

"""The audit log: one private JSON line per change, never a credential."""

from __future__ import annotations

import json
import stat
from datetime import datetime
from pathlib import Path

from kvtui.cluster.audit import AuditLog


def test_records_append_json_lines(tmp_path: Path):
    log = AuditLog(tmp_path / "state" / "kvtui" / "audit.jsonl")
    log.record("prod", "alice", "cordon", "node/kv-node-1", False, "ok")
    log.record(
        context="prod",
        user="alice",
        verb="migrate",
        target="vm/default/vm-1",
        dry_run=True,
        result="error",
        error='forbidden: cannot update virtualmachines/migrate "default/vm-1"',
    )
    lines = log.path.read_text().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert set(first) == {"time", "context", "user", "verb", "target", "dry_run", "result"}
    assert (first["verb"], first["target"], first["dry_run"], first["result"]) == (
        "cordon",
        "node/kv-node-1",
        False,
        "ok",
    )
    assert second["error"].startswith("forbidden: cannot update")
    assert second["dry_run"] is True
    when = datetime.fromisoformat(first["time"])
    assert first["time"].endswith("Z") and when.utcoffset().total_seconds() == 0
    assert log.read() == [first, second]
    assert log.read(1) == [second]


def test_log_is_private(tmp_path: Path):
    log = AuditLog(tmp_path / "new-dir" / "audit.jsonl")
    log.record("c", "u", "stop", "vm/ns/vm", False, "ok")
    assert stat.S_IMODE(log.path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(log.path.stat().st_mode) == 0o600


def test_default_path_is_the_state_dir():
    log = AuditLog()
    assert log.path == Path.home() / ".local" / "state" / "kvtui" / "audit.jsonl"
    assert log.read() == []
    log.record("c", "u", "uncordon", "node/n", False, "ok")
    assert log.read()[0]["verb"] == "uncordon"


def test_no_credentials_in_the_log(tmp_path: Path):
    log = AuditLog(tmp_path / "audit.jsonl")
    secret = "s3cr3t-t0ken.value"
    log.record(
        "c",
        "u",
        "cordon",
        "node/n",
        False,
        "error",
        error=f"unauthorized: request with Authorization: Bearer {secret} refused",
    )
    text = log.path.read_text()
    assert secret not in text
    assert "Bearer <redacted>" in text
    assert "token" not in json.loads(text)


def test_read_skips_broken_lines(tmp_path: Path):
    log = AuditLog(tmp_path / "audit.jsonl")
    log.record("c", "u", "stop", "vm/ns/a", False, "ok")
    with log.path.open("a") as fh:
        fh.write("{half a line\n")
    log.record("c", "u", "stop", "vm/ns/b", False, "ok")
    assert [e["target"] for e in log.read()] == ["vm/ns/a", "vm/ns/b"]

"""The local audit log: one JSON line per change kvtui made or tried, dry runs included.

It answers "what did I do to that cluster, and when" after the fact. It records who and what,
never credentials: no field takes a token, and anything shaped like one is blanked.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from platformdirs import user_state_path

_CREDENTIAL = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")


def default_audit_path() -> Path:
    return user_state_path("kvtui") / "audit.jsonl"


class AuditLog:
    """Append-only JSON lines in the user's state dir (private: 0700 dir, 0600 file)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_audit_path()

    def record(
        self,
        context: str,
        user: str,
        verb: str,
        target: str,
        dry_run: bool,
        result: str,
        error: str | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Append one entry and return it; raises OSError if the log cannot be written.

        `params` are the operation's own choices (a migration's target node), kept verbatim.
        """
        entry: dict[str, Any] = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "context": context,
            "user": user,
            "verb": verb,
            "target": target,
            "dry_run": dry_run,
            "result": result,
        }
        if params:
            entry["params"] = dict(params)
        if error:
            entry["error"] = _CREDENTIAL.sub(r"\1 <redacted>", error)
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "ab") as fh:
            fh.write(orjson.dumps(entry) + b"\n")
        return entry

    def problem(self) -> str | None:
        """Why no entry can be appended right now (None when one can): asked before a change,
        so that nothing happens that the log would miss."""
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.close(os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600))
        except OSError as exc:
            return f"the audit log {self.path} cannot be written: {exc.strerror or exc}"
        return None

    def read(self, limit: int = 100) -> list[dict[str, Any]]:
        """The last `limit` entries, oldest first; unreadable lines are skipped."""
        try:
            lines = self.path.read_bytes().splitlines()
        except FileNotFoundError:
            return []
        entries = []
        for line in lines[-limit:] if limit > 0 else []:
            try:
                entry = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(entry, dict):
                entries.append(entry)
        return entries

"""The drain journal: what kvtui was asked to drain, kept in the user's state dir.

An SSH session can drop in the middle of a drain. The cluster keeps doing its part (the node
stays cordoned, migrations run on); the journal keeps ours: which node, with which options,
and the plan as it was, so that reopening kvtui finds the drain and resumes the board with
every VM the drain started with, including those that have already left.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from platformdirs import user_state_path

RUNNING = "running"


def default_journal_dir() -> Path:
    return user_state_path("kvtui") / "drains"


def _file_name(context: str, node: str) -> str:
    """Readable, and unique: contexts differing only in `:` or `/` get files of their own."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", f"{context}--{node}")
    digest = hashlib.sha256(f"{context}\0{node}".encode()).hexdigest()[:8]
    return f"{safe}-{digest}.json"


@dataclass
class JournalEntry:
    context: str
    node: str
    started: float  # wall clock, seconds since the epoch
    status: str  # running | drained | cancelled | stopped
    options: dict[str, Any]
    plan: dict[str, Any]
    verdict: str = ""


class DrainJournal:
    """One JSON file per (context, node); private like the audit log (0700 dir, 0600 file)."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_journal_dir()

    def _path(self, context: str, node: str) -> Path:
        return self.directory / _file_name(context, node)

    def _write(self, entry: JournalEntry) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self._path(entry.context, entry.node)
        tmp = path.with_suffix(".tmp")
        data = orjson.dumps(entry.__dict__, option=orjson.OPT_INDENT_2)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            tmp.replace(path)  # never a half-written journal
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def start(
        self, context: str, node: str, options: dict[str, Any], plan: dict[str, Any]
    ) -> JournalEntry:
        entry = JournalEntry(context, node, time.time(), RUNNING, options, plan)
        self._write(entry)
        return entry

    def finish(self, entry: JournalEntry, status: str, verdict: str) -> None:
        entry.status, entry.verdict = status, verdict
        self._write(entry)

    def load(self, context: str, node: str) -> JournalEntry | None:
        try:
            data = orjson.loads(self._path(context, node).read_bytes())
            return JournalEntry(**data)
        except (OSError, orjson.JSONDecodeError, TypeError):
            return None  # missing or unreadable: the cluster state still tells the story

    def running(self, context: str) -> list[JournalEntry]:
        """Drains on this context that were started and never reached an end."""
        found = []
        if not self.directory.is_dir():
            return found
        for path in sorted(self.directory.glob("*.json")):
            try:
                entry = JournalEntry(**orjson.loads(path.read_bytes()))
            except (OSError, orjson.JSONDecodeError, TypeError):
                continue
            if entry.context == context and entry.status == RUNNING:
                found.append(entry)
        return found

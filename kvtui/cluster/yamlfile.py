"""Read a YAML file into plain data, with the failure described for a one-line message.

The config file and kubeconfigs are read the same way; each caller words its own error.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import yaml


class YamlFileError(Exception):
    """Why a YAML file could not be read: `unreadable` (OS error) or bad syntax at `line`."""

    def __init__(self, problem: str, *, unreadable: bool, line: int | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.unreadable = unreadable
        self.line = line


def read_yaml(path: Path, *, missing_ok: bool = False) -> tuple[str, Any]:
    """The file's text and data (data None when empty, or ("", None) when missing and
    `missing_ok`); the text lets a caller point at the line of a key it rejects."""
    try:
        text = path.read_text()
    except FileNotFoundError as exc:
        if missing_ok:
            return "", None
        raise YamlFileError(exc.strerror or str(exc), unreadable=True) from None
    except OSError as exc:
        raise YamlFileError(exc.strerror or str(exc), unreadable=True) from None
    try:
        return text, yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or "cannot parse it"
        raise YamlFileError(
            problem, unreadable=False, line=mark.line + 1 if mark is not None else None
        ) from None


def write_atomic(path: Path, text: str, mode: int) -> Path:
    """Write `text` to a temporary file beside `path` with `mode`, then rename it into place:
    a crash leaves the old file or the new one, never half of either."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path

"""The user's settings file (`~/.config/kvtui/config.yaml`, or $KVTUI_CONFIG).

A missing file means defaults; a broken one is refused with the file and line, because a
silently ignored `read_only_contexts` would let someone change a cluster they meant to protect.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import yaml
from platformdirs import user_config_path

from kvtui.cluster.yamlfile import YamlFileError, read_yaml


class ConfigError(Exception):
    """The config file cannot be used; the message names the file and line."""


@dataclass
class Config:
    # Context names (shell-style patterns allowed, e.g. "prod-*") where kvtui never writes.
    read_only_contexts: list[str] = field(default_factory=list)
    refresh_hz: float = 10.0  # how often panes redraw from the cache at most
    theme: str = "textual-dark"
    # Pane name ("nodes", "vms", ...) -> the columns to show, in order.
    columns: dict[str, list[str]] = field(default_factory=dict)
    arm_minutes: float = 10.0  # how long write mode stays armed
    # After this long the drain board asks: keep waiting, cancel, or delete what is left.
    drain_timeout_minutes: float = 30.0
    stuck_seconds: float = 60.0  # a migration Pending/Scheduling this long is "stuck"


NUMBERS = ("arm_minutes", "drain_timeout_minutes", "stuck_seconds")  # positive numbers


def config_path() -> Path:
    """Where the config lives: $KVTUI_CONFIG, else the XDG config dir."""
    override = os.environ.get("KVTUI_CONFIG")
    if override:
        return Path(override).expanduser()
    return user_config_path("kvtui") / "config.yaml"


def is_read_only(config: Config, context: str) -> bool:
    """Whether the config protects this context from changes."""
    return any(fnmatchcase(context, pattern) for pattern in config.read_only_contexts)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _check(key: str, value: Any) -> str | None:
    """What is wrong with one setting, or None."""
    if key == "read_only_contexts":
        return None if _is_str_list(value) else "must be a list of context names"
    if key == "refresh_hz":
        return None if _is_number(value) and 0 < value <= 100 else "must be a number in (0, 100]"
    if key == "theme":
        return None if isinstance(value, str) and value else "must be a theme name"
    if key == "columns":
        if isinstance(value, dict) and all(
            isinstance(k, str) and _is_str_list(v) for k, v in value.items()
        ):
            return None
        return "must map pane names to lists of column names"
    if key in NUMBERS:
        unit = "seconds" if key.endswith("_seconds") else "minutes"
        return None if _is_number(value) and value > 0 else f"must be a number of {unit} > 0"
    return None


def _key_lines(text: str) -> dict[str, int]:
    """Top-level key -> 1-based line, for error messages."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return {}
    if not isinstance(root, yaml.MappingNode):
        return {}
    return {k.value: k.start_mark.line + 1 for k, _ in root.value if isinstance(k.value, str)}


def load_config(path: Path | None = None) -> Config:
    """The settings from `path` (default: `config_path()`); defaults where the file is silent."""
    path = path or config_path()
    try:
        text, data = read_yaml(path, missing_ok=True)
    except YamlFileError as exc:
        if exc.unreadable:
            raise ConfigError(f"cannot read {path}: {exc.problem}") from None
        line = f":{exc.line}" if exc.line is not None else ""
        raise ConfigError(f"{path}{line}: not valid YAML: {exc.problem}") from None
    if data is None:
        return Config()
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: expected a mapping of settings")
    known = [f.name for f in fields(Config)]
    lines = _key_lines(text)
    values: dict[str, Any] = {}
    for key, value in data.items():
        where = f"{path}:{lines.get(key, 1)}"
        if key not in known:
            raise ConfigError(f"{where}: unknown setting {key!r} (known: {', '.join(known)})")
        problem = _check(key, value)
        if problem:
            raise ConfigError(f"{where}: {key} {problem}, not {value!r}")
        values[key] = float(value) if key in ("refresh_hz", *NUMBERS) else value
    return Config(**values)

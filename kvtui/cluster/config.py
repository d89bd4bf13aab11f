"""The user's settings file (`~/.config/kvtui/config.yaml`, or $KVTUI_CONFIG).

A missing file means defaults; a broken one is refused with the file and line, because a
silently ignored `read_only_contexts` would let someone change a cluster they meant to protect.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import yaml
from platformdirs import user_config_path

from kvtui.cluster.findings import errors, line_of
from kvtui.cluster.presets import Preset, parse_presets
from kvtui.cluster.yamlfile import YamlFileError, read_yaml, write_atomic


class ConfigError(Exception):
    """The config file cannot be used; the message names the file and line."""


# Component -> [oldest, newest] version `kvtui doctor` calls supported, both inclusive; a bound
# with fewer parts covers everything under it ("1.6" admits 1.6.9). The guide names KubeVirt
# 1.2.2 and CDI v1.60; Kubermatic Virtualization ships KubeVirt 1.5-1.6 and CDI up to 1.64.
SUPPORTED_VERSIONS: dict[str, list[str]] = {"kubevirt": ["1.2.2", "1.6"], "cdi": ["1.60", "1.64"]}
_VERSION = re.compile(r"v?(\d+(?:\.\d+){0,2})")


def version_key(text: str) -> tuple[int, ...] | None:
    """`v1.6.4` / `1.60` as (1, 6, 4) / (1, 60); None when it is not such a version."""
    match = _VERSION.fullmatch(text.strip()) if isinstance(text, str) else None
    return tuple(int(part) for part in match.group(1).split(".")) if match else None


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
    # Scheduling presets (topology spread + node affinity), see `presets.py`.
    presets: list[Preset] = field(default_factory=list)
    # `kvtui doctor`'s supported version ranges (merged over SUPPORTED_VERSIONS).
    supported_versions: dict[str, list[str]] = field(
        default_factory=lambda: {k: list(v) for k, v in SUPPORTED_VERSIONS.items()}
    )


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
    if key == "supported_versions":
        return _versions_problem(value)
    return None


def _versions_problem(value: Any) -> str | None:
    """What is wrong with `supported_versions`: {kubevirt|cdi: [oldest, newest]}."""
    shape = "must map kubevirt and/or cdi to [oldest, newest], e.g. kubevirt: [1.2.2, 1.6]"
    if not isinstance(value, dict) or not set(value) <= set(SUPPORTED_VERSIONS):
        return shape
    for bounds in value.values():
        if isinstance(bounds, list) and any(_is_number(b) for b in bounds):
            return f"{shape}; quote each version ('1.60'): YAML reads 1.60 as the number 1.6"
        if not (_is_str_list(bounds) and len(bounds) == 2):
            return shape
        low, high = (version_key(b) for b in bounds)
        if low is None or high is None:
            return f"{shape}; {bounds!r} are not versions"
        if low[: len(high)] > high:
            return f"{shape}; {bounds[0]} is newer than {bounds[1]}"
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
        if key == "presets":
            values[key] = _presets(path, text, value)
            continue
        problem = _check(key, value)
        if problem:
            raise ConfigError(f"{where}: {key} {problem}, not {value!r}")
        if key == "supported_versions":
            value = {**SUPPORTED_VERSIONS, **value}
        values[key] = float(value) if key in ("refresh_hz", *NUMBERS) else value
    return Config(**values)


def _presets(path: Path, text: str, value: Any) -> list[Preset]:
    """The `presets:` section, or a ConfigError at the line of its first bad field."""
    presets, findings = parse_presets(value, "presets")
    bad = errors(findings)
    if bad:
        first = bad[0]
        line = line_of(yaml.compose(text, Loader=yaml.SafeLoader), first.path) or 1
        raise ConfigError(f"{path}:{line}: {first.path}: {first.message}")
    return presets


def _section_end(node: yaml.Node) -> yaml.Mark:
    """Where a value really ends: a block collection's own end mark is the next key's start,
    which would swallow the comments in between."""
    block = isinstance(node, yaml.MappingNode | yaml.SequenceNode) and not node.flow_style
    if block and node.value:
        last = node.value[-1]
        return _section_end(last[1] if isinstance(last, tuple) else last)
    return node.end_mark


def save_presets(presets: list[Preset], path: Path | None = None) -> Path:
    """Make `presets` the config file's `presets:` section, leaving every other line as it
    was (comments included); written to a temporary file and renamed into place, so a crash
    never leaves half a config. A file that does not parse is refused, not overwritten."""
    path = path or config_path()
    try:
        text, data = read_yaml(path, missing_ok=True)
    except YamlFileError as exc:
        line = f":{exc.line}" if exc.line is not None else ""
        raise ConfigError(f"{path}{line}: cannot save presets: {exc.problem}") from None
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{path}:1: cannot save presets: expected a mapping of settings")
    section = yaml.safe_dump(
        {"presets": [p.to_dict() for p in presets]},
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=100,
    )
    root = yaml.compose(text, Loader=yaml.SafeLoader) if data is not None else None
    entry = None
    if isinstance(root, yaml.MappingNode):
        if root.flow_style:
            raise ConfigError(f"{path}:1: cannot save presets into a flow-style mapping")
        entry = next((kv for kv in root.value if kv[0].value == "presets"), None)
    if entry is None:
        new_text = text + ("\n" if text and not text.endswith("\n") else "") + section
    else:
        key, value = entry
        start = key.start_mark.index - key.start_mark.column
        end = text.find("\n", _section_end(value).index)
        end = len(text) if end < 0 else end + 1
        while end < len(text) and text[end] in " \t":  # indented comments: still the section
            newline = text.find("\n", end)
            end = len(text) if newline < 0 else newline + 1
        new_text = text[:start] + section + text[end:]
    # Nothing but the section may change: check before the file is touched.
    reread = yaml.safe_load(new_text) or {}
    stored, _ = parse_presets(reread.get("presets"))
    others = {k: v for k, v in reread.items() if k != "presets"}
    if stored != presets or others != {k: v for k, v in (data or {}).items() if k != "presets"}:
        raise ConfigError(f"{path}: cannot save presets: the rewritten file would read back wrong")
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    return write_atomic(path, new_text, mode)

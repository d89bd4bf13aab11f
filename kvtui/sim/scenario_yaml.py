"""Reading scenario YAML: line numbers for error messages, `extends`, and strict key checks.

Scenario files are written by hand, so every mistake should say where it is: the loader keeps
each mapping's line, and `Reader` rejects unknown keys and wrong types with the file, line and
dotted path of the offending value.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, NoReturn

import yaml

from kvtui.sim.quantity import parse_quantity

BUILTIN_PACKAGE = "kvtui.sim"
BUILTIN_FOLDER = "scenarios"


class ScenarioError(ValueError):
    """A scenario that cannot be loaded; the message names the file and the problem."""


class LineDict(dict):
    """A YAML mapping that remembers the (1-based) lines it and each of its keys started on."""

    line = 0
    key_lines: dict[Any, int] = {}


class _Loader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    out = LineDict()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in out:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = key_node.start_mark.line + 1
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def builtin_scenarios() -> list[str]:
    """Names of the scenarios shipped with kvtui."""
    folder = resources.files(BUILTIN_PACKAGE) / BUILTIN_FOLDER
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def _read_text(ref: str, relative_to: Path | None) -> tuple[str, str, Path | None]:
    """(text, label for messages, folder for relative `extends`) of a name or a path."""
    if ref in builtin_scenarios():
        text = (resources.files(BUILTIN_PACKAGE) / BUILTIN_FOLDER / f"{ref}.yaml").read_text(
            encoding="utf-8"
        )
        return text, f"{ref}.yaml", None
    path = Path(ref).expanduser()
    if relative_to is not None and not path.is_absolute():
        path = relative_to / path
    try:
        return path.read_text(encoding="utf-8"), str(path), path.parent
    except FileNotFoundError:
        if "/" not in ref and not ref.endswith((".yaml", ".yml")):
            raise ScenarioError(
                f"unknown scenario {ref!r}: not a built-in scenario "
                f"({', '.join(builtin_scenarios())}) and no such file"
            ) from None
        raise ScenarioError(f"{path}: cannot read scenario: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ScenarioError(f"{path}: cannot read scenario: {reason}") from None


def _parse_yaml(text: str, label: str) -> Any:
    try:
        return yaml.load(text, Loader=_Loader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{label}:{mark.line + 1}" if mark else label
        problem = exc.problem or exc.context or "invalid YAML"
        raise ScenarioError(f"{where}: invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{label}: invalid YAML: {exc}") from None


def read_document(
    ref: str, relative_to: Path | None = None, seen: tuple[str, ...] = ()
) -> tuple[LineDict, str]:
    """The scenario's top-level mapping, with any `extends` chain merged in, and its label."""
    text, label, folder = _read_text(ref, relative_to)
    data = _parse_yaml(text, label)
    if data is None:
        raise ScenarioError(f"{label}: the scenario file is empty")
    if not isinstance(data, dict):
        raise ScenarioError(f"{label}:1: the top level must be a mapping of sections")
    parent = data.pop("extends", None)
    if parent is None:
        return data, label
    if not isinstance(parent, str):
        raise ScenarioError(f"{label}:{data.line}: extends: expected a scenario name or path")
    if label in seen:
        raise ScenarioError(f"{label}: extends loops back to itself ({' -> '.join(seen)})")
    base, _ = read_document(parent, folder, (*seen, label))
    return merge(base, data), label


def _merge_key(item: Any) -> Any:
    return item.get("id", item.get("name")) if isinstance(item, dict) else None


def merge(base: Any, over: Any) -> Any:
    """Deep-merge `over` into `base`: mappings key by key, lists of named mappings by name
    (`id` or `name`), `problems` by appending; anything else is replaced."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = LineDict(base)
        out.line = getattr(over, "line", 0) or getattr(base, "line", 0)
        out.key_lines = {**getattr(base, "key_lines", {}), **getattr(over, "key_lines", {})}
        for key, value in over.items():
            if key == "problems" and isinstance(value, list) and isinstance(base.get(key), list):
                out[key] = [*base[key], *value]
            else:
                out[key] = merge(base[key], value) if key in base else value
        return out
    if (
        isinstance(base, list)
        and isinstance(over, list)
        and base
        and over
        and all(_merge_key(i) is not None for i in (*base, *over))
    ):
        merged = {_merge_key(i): i for i in base}
        for item in over:
            key = _merge_key(item)
            merged[key] = merge(merged[key], item) if key in merged else item
        return list(merged.values())
    return over


_MISSING = object()
_TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    dict: "a mapping",
    list: "a list",
}


class Reader:
    """Typed, strict access to one mapping of a scenario; `done()` rejects unknown keys."""

    def __init__(self, data: Any, path: str, label: str, line: int = 0) -> None:
        self.path = path
        self.label = label
        self.line = getattr(data, "line", 0) or line
        if not isinstance(data, dict):
            self.data: dict = {}
            self.fail(f"expected a mapping, got {_describe(data)}")
        self.data = data
        self.used: set[str] = set()

    def fail(self, message: str, key: str | None = None) -> NoReturn:
        where = ".".join(p for p in (self.path, key) if p)
        line = getattr(self.data, "key_lines", {}).get(key, self.line)
        prefix = f"{self.label}:{line}" if line else self.label
        raise ScenarioError(f"{prefix}: {where + ': ' if where else ''}{message}")

    def has(self, key: str) -> bool:
        return key in self.data

    def value(self, key: str, types: type | tuple[type, ...], default: Any = _MISSING) -> Any:
        self.used.add(key)
        if key not in self.data:
            if default is _MISSING:
                self.fail("required key is missing", key)
            return default
        value = self.data[key]
        types = types if isinstance(types, tuple) else (types,)
        if value is None and type(None) in types:
            return None
        ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
        if not ok:
            wanted = " or ".join(
                _TYPE_NAMES.get(t, t.__name__) for t in types if t is not type(None)
            )
            self.fail(f"expected {wanted}, got {_describe(value)}", key)
        return value

    def string(self, key: str, default: Any = _MISSING) -> Any:
        return self.value(key, str, default)

    def integer(self, key: str, default: Any = _MISSING, minimum: int = 0) -> Any:
        value = self.value(key, int, default)
        if isinstance(value, int) and value < minimum:
            self.fail(f"must be at least {minimum}, got {value}", key)
        return value

    def boolean(self, key: str, default: Any = _MISSING) -> Any:
        return self.value(key, bool, default)

    def choice(self, key: str, choices: tuple[str, ...], default: Any = _MISSING) -> Any:
        value = self.value(key, str, default)
        if key in self.data and value not in choices:
            self.fail(f"must be one of {', '.join(repr(c) for c in choices)}, got {value!r}", key)
        return value

    def quantity(self, key: str, default: Any = _MISSING) -> Any:
        value = self.value(key, (str, int, float), default)
        if value is default:
            return value
        try:
            parse_quantity(value)
        except ValueError as exc:
            self.fail(f"{value!r} is not a quantity: {exc}", key)
        return str(value)

    def strings(self, key: str, default: Any = _MISSING) -> Any:
        value = self.value(key, list, default)
        if value is not default and not all(isinstance(v, str) for v in value):
            self.fail("expected a list of strings", key)
        return value if value is default else list(value)

    def mapping(self, key: str, default: Any = _MISSING) -> Any:
        value = self.value(key, dict, default)
        return value if value is default else dict(value)

    def sub(self, key: str) -> Reader | None:
        """A nested mapping, or None when the key is absent or null."""
        value = self.value(key, (dict, type(None)), None)
        return None if value is None else Reader(value, self._child(key), self.label, self.line)

    def items(self, key: str) -> list[Reader]:
        """A list of mappings, each as a Reader (empty when absent)."""
        value = self.value(key, (list, type(None)), None) or []
        return [
            Reader(item, f"{self._child(key)}[{i}]", self.label, self.line)
            for i, item in enumerate(value)
        ]

    def _child(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def done(self, check: Callable[[Reader], None] | None = None) -> None:
        unknown = [k for k in self.data if k not in self.used]
        if unknown:
            known = ", ".join(sorted(self.used))
            line = getattr(self.data, "key_lines", {}).get(unknown[0], self.line)
            prefix = f"{self.label}:{line}" if line else self.label
            where = f"{self.path}: " if self.path else ""
            raise ScenarioError(
                f"{prefix}: {where}unknown key {unknown[0]!r} (known here: {known})"
            )
        if check:
            check(self)


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    kind = {
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        list: "list",
        dict: "mapping",
        LineDict: "mapping",
    }.get(type(value), type(value).__name__)
    text = repr(value)
    return f"{kind} {text[:40]}" if kind not in ("list", "mapping") else kind

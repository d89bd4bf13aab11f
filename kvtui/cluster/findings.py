"""Validation findings that point at a field: its path, and the line of the YAML it came from.

A path reads like the field's own spelling (`dnsConfig.nameservers[1]`,
`images.http.operatingSystems.ubuntu["22.04"]`), so a message names what to fix; the same path
leads back through the composed YAML to the line an editor should jump to.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import yaml

ERROR = "error"
WARNING = "warning"
Segment = str | int

_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_TOKEN = re.compile(r'\.?([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]')


@dataclass(frozen=True)
class Finding:
    """One problem with one field; `line` is 1-based when the value came from YAML text."""

    path: str
    message: str
    severity: str  # "error" | "warning"
    line: int | None = None

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        field = f"{self.path}: " if self.path else ""
        return f"{where}{self.severity}: {field}{self.message}"


def errors(findings: Iterable[Finding]) -> list[Finding]:
    """The findings that stop a change from being sent."""
    return [f for f in findings if f.severity == ERROR]


def warnings(findings: Iterable[Finding]) -> list[Finding]:
    """The findings worth reading before sending, which do not stop it."""
    return [f for f in findings if f.severity == WARNING]


# -- paths ---------------------------------------------------------------------------------
def join(path: str, segment: Segment) -> str:
    """`path` one level down: `.key`, `[index]`, or `["odd key"]` when the key needs quoting."""
    if isinstance(segment, int):
        return f"{path}[{segment}]"
    if _PLAIN_KEY.fullmatch(segment):
        return f"{path}.{segment}" if path else segment
    return f"{path}[{json.dumps(segment)}]"


def split(path: str) -> list[Segment]:
    """The segments of a path `join` built; raises ValueError for anything else."""
    segments: list[Segment] = []
    position = 0
    while position < len(path):
        match = _TOKEN.match(path, position)
        if match is None or (match.group(0).startswith(".") and position == 0):
            raise ValueError(f"not a field path: {path!r}")
        if match.group(1) is not None:
            if position and not match.group(0).startswith("."):
                raise ValueError(f"not a field path: {path!r}")
            segments.append(match.group(1))
        elif match.group(2) is not None:
            segments.append(int(match.group(2)))
        else:
            segments.append(json.loads(match.group(3)))
        position = match.end()
    return segments


class Findings:
    """Collects findings while a validator walks a value."""

    def __init__(self) -> None:
        self.items: list[Finding] = []

    def error(self, path: str, message: str) -> None:
        self.items.append(Finding(path, message, ERROR))

    def warn(self, path: str, message: str) -> None:
        self.items.append(Finding(path, message, WARNING))


# -- YAML ----------------------------------------------------------------------------------
def load_yaml(text: str) -> tuple[Any, yaml.Node | None, list[Finding]]:
    """The data of one YAML document, its node tree (for lines), and any syntax error found.

    Duplicate keys, which PyYAML would silently resolve to the last one, are errors here.
    """
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        message = f"YAML syntax: {problem}" + (f" ({context})" if context else "")
        line = mark.line + 1 if mark is not None else None
        return None, None, [Finding("", message, ERROR, line)]
    finally:
        loader.dispose()
    return data, node, _duplicate_keys(node, "")


def _key_text(node: yaml.Node) -> str:
    """A mapping key as the constructed data spells it (`24.10` reads as 24.1)."""
    if not isinstance(node, yaml.ScalarNode):
        return ""
    if node.tag == "tag:yaml.org,2002:str":
        return node.value
    try:
        return str(yaml.safe_load(node.value))
    except yaml.YAMLError:
        return node.value


def _duplicate_keys(node: yaml.Node | None, path: str) -> list[Finding]:
    found: list[Finding] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            text = _key_text(key)
            child = join(path, text)
            if text in seen:
                message = "duplicate key: only the last one would count"
                found.append(Finding(child, message, ERROR, _line(key)))
            seen.add(text)
            found.extend(_duplicate_keys(value, child))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            found.extend(_duplicate_keys(item, join(path, index)))
    return found


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def line_of(root: yaml.Node | None, path: str) -> int | None:
    """The line of the field a path names: its key for a mapping entry, its item in a list.

    A path that ends past the text (a required key that is missing) gives the line of the
    deepest field that is there; a path nothing of which is there gives None.
    """
    try:
        segments = split(path)
    except ValueError:
        return None
    node, line = root, None
    for segment in segments:
        if isinstance(node, yaml.MappingNode) and isinstance(segment, str):
            entry = next(((k, v) for k, v in node.value if _key_text(k) == segment), None)
            if entry is None:
                break
            line, node = _line(entry[0]), entry[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(segment, int):
            if not 0 <= segment < len(node.value):
                break
            node = node.value[segment]
            line = _line(node)
        else:
            break
    return line


def with_lines(findings: Iterable[Finding], root: yaml.Node | None) -> list[Finding]:
    """The findings, each carrying the line of its path unless it already has one."""
    return [
        f if f.line is not None else replace(f, line=line_of(root, f.path) if f.path else None)
        for f in findings
    ]

"""Edits of a nested block (a dict of dicts and lists) at a path, as a form makes them.

A form control owns one path (`("dnsConfig", "nameservers", 1)`); each edit changes exactly
that place. Clearing a value removes its key, and a mapping or list left empty by that goes too,
so a cleared field reads as "unset" (what KKP defaults) rather than as an empty object. New
items come from the field's schema with its required keys present but empty, so the validator
points at what is still to fill in.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping
from typing import Any

from kvtui.cluster.findings import Segment, join
from kvtui.cluster.schema import FieldSpec

Path = tuple[Segment, ...]


def path_text(path: Path) -> str:
    """A path as findings spell it: `dnsConfig.nameservers[1]`."""
    text = ""
    for segment in path:
        text = join(text, segment)
    return text


def get(block: Any, path: Path, default: Any = None) -> Any:
    """The value at `path`, or `default` where the path leads nowhere."""
    value = block
    for segment in path:
        if not _has(value, segment):
            return default
        value = value[segment]
    return value


def set_value(block: dict[str, Any], path: Path, value: Any) -> None:
    """Put `value` at `path`, creating the mappings on the way; None clears it."""
    if value is None:
        clear(block, path)
        return
    parent = block
    for segment, following in itertools.pairwise(path):
        child = parent[segment] if _has(parent, segment) else None
        if not isinstance(child, dict | list):
            child = [] if isinstance(following, int) else {}
            parent[segment] = child
        parent = child
    last = path[-1]
    if isinstance(parent, list) and isinstance(last, int) and last == len(parent):
        parent.append(value)
    else:
        parent[last] = value


def clear(block: dict[str, Any], path: Path) -> None:
    """Remove the key at `path`; mappings and lists it leaves empty go too (not `block`)."""
    parent = get(block, path[:-1])
    last = path[-1]
    if not _has(parent, last):
        return
    del parent[last]
    if len(path) > 1 and not parent:
        clear(block, path[:-1])


def _has(parent: Any, segment: Segment) -> bool:
    """Whether `parent` (a list or mapping; anything else has nothing) holds `segment`."""
    if isinstance(parent, list):
        return isinstance(segment, int) and 0 <= segment < len(parent)
    return isinstance(parent, Mapping) and segment in parent


def append(block: dict[str, Any], list_path: Path, item: Any) -> int:
    """Add `item` at the end of the list at `list_path` (made when missing); its index."""
    items = get(block, list_path)
    if not isinstance(items, list):
        items = []
        set_value(block, list_path, items)
    items.append(item)
    return len(items) - 1


def move(block: dict[str, Any], list_path: Path, index: int, step: int) -> int:
    """Swap item `index` with its neighbour `step` away; the index it ends at."""
    items = get(block, list_path)
    target = index + step
    if not isinstance(items, list) or not (0 <= index < len(items) and 0 <= target < len(items)):
        return index
    items[index], items[target] = items[target], items[index]
    return target


def rename_key(block: dict[str, Any], map_path: Path, old: str, new: str) -> bool:
    """Rename a mapping's key in place, keeping the order; False when `new` is taken."""
    mapping = get(block, map_path)
    if not isinstance(mapping, dict) or old not in mapping:
        return False
    if new == old:
        return True
    if new in mapping:
        return False
    items = list(mapping.items())
    mapping.clear()
    for key, value in items:
        mapping[new if key == old else key] = value
    return True


def free_key(mapping: Mapping[str, Any], choices: tuple[str, ...] = (), stem: str = "new") -> str:
    """A key not yet in `mapping`: the first free choice, or `stem`, `stem-2`, …"""
    for choice in choices:
        if choice not in mapping:
            return choice
    if choices:
        return ""
    key, n = stem, 1
    while key in mapping:
        n += 1
        key = f"{stem}-{n}"
    return key


def new_item(spec: FieldSpec, template: Mapping[str, Any] | None = None) -> Any:
    """A fresh list item or map value for `spec`: a template, or its required keys empty."""
    if template is not None:
        return copy.deepcopy(dict(template))
    if spec.kind == "object":
        return {f.name: new_item(f) for f in spec.fields if f.required}
    if spec.kind == "map":
        return {}
    if spec.kind == "list":
        return []
    if spec.kind == "bool":
        return False
    return ""

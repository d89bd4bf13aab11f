"""A small typed schema (`FieldSpec`) and the strict walk that checks a value against it.

KKP's seed webhook and the Seed CRD reject what does not fit the Go types, so the walk does too:
a wrong type, a value outside an enum, a missing required key and an unknown key are errors
at the field's path. A YAML null counts as leaving the key out, as a merge patch reads it.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kvtui.cluster import formats
from kvtui.cluster.findings import Findings, join

# A check for an object that the schema does not spell out (a NetworkPolicySpec, say).
SpecialCheck = Callable[[Any, str, Findings], None]


@dataclass(frozen=True)
class FieldSpec:
    """One field: enough to check a value and to draw its form control.

    `fields` are the keys of an object; `item` is the spec of each list item or map value; for
    a map, `enum` limits its keys and `key_format` their syntax. `format` names a value syntax
    checked beyond the type: "ip", "cidr", "quantity", "url", "dns-label", "dns-subdomain",
    "search-domain", "label-key", "label-value", "registry", or a special check's name.
    """

    name: str
    kind: str  # "bool" | "enum" | "str" | "list" | "map" | "object"
    help: str = ""
    default: Any = None
    enum: tuple[str, ...] = ()
    fields: tuple[FieldSpec, ...] = ()
    item: FieldSpec | None = None
    required: bool = False
    format: str = ""
    key_format: str = ""
    since: str = ""  # the KKP release that added it
    deprecated: str = ""  # what to use instead

    def field(self, name: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.name == name), None)


def is_str(value: Any) -> bool:
    return isinstance(value, str)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return type(value).__name__


def quoted(value: Any) -> str:
    """A scalar as a YAML string, for "quote it" hints (`true`, not Python's `True`)."""
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return f'"{text}"'


def unknown_key(key: str, allowed: Iterable[str]) -> str:
    """The message for a key the schema does not know, with the nearest known one."""
    allowed = list(allowed)
    close = difflib.get_close_matches(key, allowed, n=1)
    if close:
        return f'unknown key "{key}" (did you mean "{close[0]}"?)'
    return f'unknown key "{key}" (known: {", ".join(allowed)})'


def keys_of(
    value: Any,
    path: str,
    allowed: Iterable[str],
    out: Findings,
    required: Iterable[str] = (),
    hints: Mapping[str, str] | None = None,
) -> dict[str, Any] | None:
    """`value` as a mapping, its unknown and missing required keys reported; None if not one.
    `hints` word the error for an unknown key that is a common slip."""
    if not isinstance(value, Mapping):
        out.error(path, f"must be a mapping, not {_kind_of(value)}")
        return None
    allowed = tuple(allowed)
    for key in value:
        if not isinstance(key, str):
            out.error(join(path, str(key)), f"keys must be strings: quote it ({quoted(key)})")
        elif key not in allowed:
            hint = (hints or {}).get(key)
            message = f'unknown key "{key}": {hint}' if hint else unknown_key(key, allowed)
            out.error(join(path, key), message)
    for key in required:
        if value.get(key) is None:
            out.error(join(path, key), "required")
    return dict(value)


def _positive_quantity(text: str) -> object:
    if formats.parse_quantity(text) <= 0:
        raise ValueError(f"{text!r} must be more than 0")
    return text


_FORMATS: dict[str, Callable[[str], object]] = {
    "ip": formats.parse_ip,
    "cidr": formats.parse_cidr,
    "quantity": _positive_quantity,
    "url": formats.parse_url,
    "dns-label": formats.check_dns_label,
    "dns-subdomain": formats.check_dns_subdomain,
    "search-domain": formats.check_search_domain,
    "label-key": formats.check_label_key,
    "label-value": formats.check_label_value,
    "registry": formats.check_registry,
}


def check_format(text: str, name: str, path: str, out: Findings) -> bool:
    """Whether a string has the syntax `name` says; reports the reason when not."""
    parse = _FORMATS.get(name)
    if parse is None:
        return True
    try:
        parse(text)
    except ValueError as exc:
        out.error(path, str(exc))
        return False
    if name == "cidr" and formats.has_host_bits(text):
        out.warn(path, f"{text} has host bits set: it means {formats.parse_cidr(text)}")
    return True


def _enum_text(values: Iterable[str]) -> str:
    return ", ".join(v if v else '""' for v in values)


def check(
    value: Any,
    spec: FieldSpec,
    path: str,
    out: Findings,
    special: Mapping[str, SpecialCheck] | None = None,
) -> None:
    """Report every way `value` does not fit `spec` (None, an unset field, always fits)."""
    if value is None:
        return
    special = special or {}
    kind = spec.kind
    if kind == "bool":
        if not isinstance(value, bool):
            out.error(path, f"must be true or false, not {_kind_of(value)}")
    elif kind == "enum":
        if not is_str(value) or value not in spec.enum:
            out.error(path, f"{value!r} is not one of {_enum_text(spec.enum)}")
    elif kind == "str":
        if not is_str(value):
            out.error(path, f"must be a string, not {_kind_of(value)} (quote it: {quoted(value)})")
        elif spec.format:
            check_format(value, spec.format, path, out)
    elif kind == "list":
        _check_list(value, spec, path, out, special)
    elif kind == "map":
        _check_map(value, spec, path, out, special)
    elif spec.format in special:
        special[spec.format](value, path, out)
    else:
        _check_object(value, spec, path, out, special)


def _check_list(
    value: Any, spec: FieldSpec, path: str, out: Findings, special: Mapping[str, SpecialCheck]
) -> None:
    if not isinstance(value, list):
        out.error(path, f"must be a list, not {_kind_of(value)}")
        return
    for index, item in enumerate(value):
        if item is None:
            out.error(join(path, index), "empty list item")
        elif spec.item is not None:
            check(item, spec.item, join(path, index), out, special)


def _check_map(
    value: Any, spec: FieldSpec, path: str, out: Findings, special: Mapping[str, SpecialCheck]
) -> None:
    if not isinstance(value, Mapping):
        out.error(path, f"must be a mapping, not {_kind_of(value)}")
        return
    for key, item in value.items():
        item_path = join(path, str(key))
        if not is_str(key):
            out.error(item_path, f"keys must be strings: quote it ({quoted(key)})")
            continue
        if spec.enum and key not in spec.enum:
            out.error(item_path, f'"{key}" is not one of {_enum_text(spec.enum)}')
            continue
        if spec.key_format and not check_format(key, spec.key_format, item_path, out):
            continue
        if item is None:
            out.error(item_path, "has no value")
        elif spec.item is not None:
            check(item, spec.item, item_path, out, special)


def _check_object(
    value: Any, spec: FieldSpec, path: str, out: Findings, special: Mapping[str, SpecialCheck]
) -> None:
    body = keys_of(
        value,
        path,
        (f.name for f in spec.fields),
        out,
        required=(f.name for f in spec.fields if f.required),
    )
    if body is None:
        return
    for field in spec.fields:
        child = body.get(field.name)
        if child is None:
            continue
        field_path = join(path, field.name)
        check(child, field, field_path, out, special)
        if field.deprecated and child is not False:
            out.warn(field_path, f"deprecated: use {field.deprecated}")

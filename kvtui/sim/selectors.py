"""Kubernetes label and field selectors, parsed and matched the way kube-apiserver does it.

The simulator must answer ``?labelSelector=`` / ``?fieldSelector=`` queries and evaluate the
selectors embedded in objects (Services, PDBs, node affinity) exactly like a real cluster, so
that clients see the same results and the same errors. The grammar and the error messages
follow ``k8s.io/apimachinery/pkg/labels`` and ``k8s.io/apimachinery/pkg/fields``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "FieldSelector",
    "FieldTerm",
    "LabelSelector",
    "Requirement",
    "SelectorError",
    "label_selector_from_dict",
    "node_selector_term_matches",
    "parse_field_selector",
    "parse_label_selector",
]


class SelectorError(ValueError):
    """A selector that kube-apiserver would reject (it answers 400 Bad Request)."""


# --------------------------------------------------------------------------- validation

_NAME_RE = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_DNS1123_SUBDOMAIN_RE = re.compile(
    r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
)
_INT64_RE = re.compile(r"[+-]?[0-9]+")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

_NAME_FMT_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
    "with an alphanumeric character"
)


def _key_errors(key: str) -> list[str]:
    """Return why ``key`` is not a qualified name (IsQualifiedName), or nothing."""
    parts = key.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            return ["prefix part must be non-empty"]
        if len(prefix) > 253:
            return ["prefix part must be no more than 253 characters"]
        if not _DNS1123_SUBDOMAIN_RE.fullmatch(prefix):
            return [
                "prefix part a lowercase RFC 1123 subdomain must consist of lower case "
                "alphanumeric characters, '-' or '.', and must start and end with an "
                "alphanumeric character"
            ]
    else:
        return [
            f"a qualified name {_NAME_FMT_MSG} with an optional DNS subdomain prefix "
            "and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        return ["name part must be non-empty"]
    errors = []
    if len(name) > 63:
        errors.append("name part must be no more than 63 characters")
    if not _NAME_RE.fullmatch(name):
        errors.append(f"name part {_NAME_FMT_MSG}")
    return errors


def _validate_key(key: str) -> None:
    errors = _key_errors(key)
    if errors:
        raise SelectorError(f'key: Invalid value: "{key}": ' + "; ".join(errors))


def _validate_value(value: str) -> None:
    errors = []
    if len(value) > 63:
        errors.append("must be no more than 63 characters")
    if value and not _NAME_RE.fullmatch(value):
        errors.append(f"a valid label {_NAME_FMT_MSG}")
    if errors:
        raise SelectorError(f'values: Invalid value: "{value}": ' + "; ".join(errors))


def _parse_int64(text: str) -> int | None:
    """Go's strconv.ParseInt(text, 10, 64): no spaces, no underscores, int64 range."""
    if not _INT64_RE.fullmatch(text):
        return None
    value = int(text)
    return value if _INT64_MIN <= value <= _INT64_MAX else None


# --------------------------------------------------------------------------- label selectors

_UNARY = frozenset({"exists", "!"})
_SET_OPS = frozenset({"in", "notin"})
_EXACT_OPS = frozenset({"=", "==", "!="})
_ORDER_OPS = frozenset({"gt", "lt"})


@dataclass(frozen=True)
class Requirement:
    """One ANDed term of a label selector; ``op`` is one of
    ``in notin = == != exists ! gt lt`` (as in k8s.io/apimachinery/pkg/selection)."""

    key: str
    op: str
    values: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _validate_key(self.key)
        n = len(self.values)
        if self.op in _SET_OPS and n == 0:
            raise SelectorError("values: for 'in', 'notin' operators, values set can't be empty")
        if self.op in _EXACT_OPS and n != 1:
            raise SelectorError("values: exact-match compatibility requires one single value")
        if self.op in _UNARY and n != 0:
            raise SelectorError("values: values set must be empty for exists and does not exist")
        if self.op in _ORDER_OPS:
            if n != 1:
                raise SelectorError(
                    "values: for 'Gt', 'Lt' operators, exactly one value is required"
                )
            if _parse_int64(self.values[0]) is None:
                raise SelectorError(
                    f'values[0]: Invalid value: "{self.values[0]}": '
                    "for 'Gt', 'Lt' operators, the value must be an integer"
                )
        elif self.op not in _SET_OPS | _EXACT_OPS | _UNARY:
            raise SelectorError(f'operator: Unsupported value: "{self.op}"')
        for value in self.values:
            _validate_value(value)

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether ``labels`` satisfies this requirement (labels.Requirement.Matches)."""
        present = self.key in labels
        if self.op in ("in", "=", "=="):
            return present and labels[self.key] in self.values
        if self.op in ("notin", "!="):
            return not present or labels[self.key] not in self.values
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if not present:
            return False
        have, want = _parse_int64(labels[self.key]), _parse_int64(self.values[0])
        if have is None or want is None:
            return False
        return have > want if self.op == "gt" else have < want

    def __str__(self) -> str:
        if self.op == "exists":
            return self.key
        if self.op == "!":
            return f"!{self.key}"
        if self.op in _SET_OPS:
            return f"{self.key} {self.op} ({','.join(self.values)})"
        op = {"gt": ">", "lt": "<"}.get(self.op, self.op)
        return f"{self.key}{op}{self.values[0]}"


@dataclass(frozen=True)
class LabelSelector:
    """A conjunction of requirements; ``nothing`` marks the selector that matches no object
    (a nil metav1.LabelSelector), and no requirements at all means "match everything"."""

    requirements: tuple[Requirement, ...] = ()
    nothing: bool = False

    @property
    def empty(self) -> bool:
        """True when the selector matches every object (lets callers skip filtering)."""
        return not self.requirements and not self.nothing

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        """Whether an object carrying ``labels`` is selected."""
        if self.nothing:
            return False
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    def exact(self, key: str) -> str | None:
        """The value ``key`` must equal, if the selector pins it with ``=``/``==``/single ``in``;
        handy for using a label index instead of a scan."""
        for r in self.requirements:
            if r.key == key and (r.op in ("=", "==") or (r.op == "in" and len(r.values) == 1)):
                return r.values[0]
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


_EVERYTHING = LabelSelector()
_NOTHING = LabelSelector(nothing=True)

_WHITESPACE = " \t\r\n"
_SPECIAL = "=!(),><"
_SYMBOLS = frozenset({"(", ")", ",", "!", "=", "==", "!=", ">", "<"})
_KEYWORDS = frozenset({"in", "notin"})
_END = ""  # kind of the end-of-string token
_IDENT = "id"  # kind of identifier tokens


def _lex(text: str) -> list[tuple[str, str]]:
    """Split a label selector into (kind, literal) tokens, like labels.Lexer."""
    tokens: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in _WHITESPACE:
            i += 1
        if i >= n:
            tokens.append((_END, ""))
            return tokens
        if text[i] in _SPECIAL:
            # Greedy: extend the symbol while the longer string is still a known symbol.
            j = i + 1
            while j < n and text[j] in _SPECIAL and text[i : j + 1] in _SYMBOLS:
                j += 1
            tokens.append((text[i:j], text[i:j]))
        else:
            j = i
            while j < n and text[j] not in _WHITESPACE and text[j] not in _SPECIAL:
                j += 1
            word = text[i:j]
            tokens.append((word if word in _KEYWORDS else _IDENT, word))
        i = j


class _LabelParser:
    """Recursive-descent parser mirroring labels.Parser, including its error texts."""

    def __init__(self, text: str) -> None:
        self.tokens = _lex(text)
        self.pos = 0

    def peek(self, values: bool = True) -> tuple[str, str]:
        kind, lit = self.tokens[self.pos]
        if values and kind in _KEYWORDS:  # "in"/"notin" are plain identifiers in value position
            kind = _IDENT
        return kind, lit

    def take(self, values: bool = True) -> tuple[str, str]:
        token = self.peek(values)
        self.pos = min(self.pos + 1, len(self.tokens) - 1)
        return token

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            kind, lit = self.peek()
            if kind == _END:
                return requirements
            if kind not in (_IDENT, "!"):
                raise SelectorError(f"found '{lit}', expected: !, identifier, or 'end of string'")
            try:
                requirements.append(self.requirement())
            except SelectorError as exc:
                raise SelectorError(f"unable to parse requirement: {exc}") from None
            kind, lit = self.take()
            if kind == _END:
                return requirements
            if kind != ",":
                raise SelectorError(f"found '{lit}', expected: ',' or 'end of string'")
            kind, lit = self.peek()
            if kind not in (_IDENT, "!"):
                raise SelectorError(f"found '{lit}', expected: identifier after ','")

    def requirement(self) -> Requirement:
        kind, lit = self.take()
        negated = kind == "!"
        if negated:
            kind, lit = self.take()
        if kind != _IDENT:
            raise SelectorError(f"found '{lit}', expected: identifier")
        key = lit
        _validate_key(key)
        if negated:
            return Requirement(key, "!")
        if self.peek()[0] in (_END, ","):
            return Requirement(key, "exists")
        kind, lit = self.take(values=False)
        op = {">": "gt", "<": "lt"}.get(kind, kind)
        if op in _SET_OPS:
            return Requirement(key, op, self.set_values())
        if op in _EXACT_OPS or op in _ORDER_OPS:
            return Requirement(key, op, self.exact_value())
        raise SelectorError(f"found '{lit}', expected: in, notin, =, ==, !=, gt, lt")

    def set_values(self) -> tuple[str, ...]:
        kind, lit = self.take()
        if kind != "(":
            raise SelectorError(f"found '{lit}' expected: '('")
        kind, lit = self.peek()
        if kind == ")":
            self.take()
            return ("",)
        if kind not in (_IDENT, ","):
            raise SelectorError(f"found '{lit}', expected: ',', ')' or identifier")
        values: set[str] = set()
        while True:
            kind, lit = self.take()
            if kind == _IDENT:
                values.add(lit)
                kind, lit = self.peek()
                if kind == ")":
                    break
                if kind != ",":
                    raise SelectorError(f"found '{lit}', expected: ',' or ')'")
            elif kind == ",":
                # "(," ",," and ",)" each contribute the empty value, as upstream.
                if not values:
                    values.add("")
                kind, lit = self.peek()
                if kind == ")":
                    values.add("")
                    break
                if kind == ",":
                    self.take()
                    values.add("")
            else:
                raise SelectorError(f"found '{lit}', expected: ',', or identifier")
        self.take()  # the closing parenthesis
        return tuple(sorted(values))

    def exact_value(self) -> tuple[str, ...]:
        if self.peek()[0] in (_END, ","):
            return ("",)
        kind, lit = self.take()
        if kind != _IDENT:
            raise SelectorError(f"found '{lit}', expected: identifier")
        return (lit,)


def parse_label_selector(text: str) -> LabelSelector:
    """Parse the ``labelSelector`` query parameter; the empty string selects everything."""
    requirements = _LabelParser(text).parse()
    if not requirements:
        return _EVERYTHING
    return LabelSelector(tuple(sorted(requirements, key=lambda r: r.key)))


_LABEL_SELECTOR_OPS = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}


def label_selector_from_dict(
    sel: Mapping[str, Any] | None, nil_matches_all: bool = False
) -> LabelSelector:
    """Convert a structured metav1.LabelSelector (LabelSelectorAsSelector).

    A missing (nil) selector matches nothing, as for NetworkPolicy/PDB/topology spread;
    pass ``nil_matches_all`` where the API documents "nil selects everything". An empty
    ``{}`` always matches everything.
    """
    if sel is None:
        return _EVERYTHING if nil_matches_all else _NOTHING
    if not isinstance(sel, Mapping):
        raise SelectorError(f"invalid label selector: {sel!r}")
    match_labels = sel.get("matchLabels") or {}
    expressions = sel.get("matchExpressions") or []
    requirements = [Requirement(str(k), "=", (str(v),)) for k, v in match_labels.items()]
    for expr in expressions:
        if not isinstance(expr, Mapping):
            raise SelectorError(f"invalid label selector requirement: {expr!r}")
        operator = expr.get("operator")
        op = _LABEL_SELECTOR_OPS.get(operator)
        if op is None:
            raise SelectorError(f'"{operator}" is not a valid label selector operator')
        values = tuple(str(v) for v in expr.get("values") or ())
        requirements.append(Requirement(str(expr.get("key", "")), op, values))
    if not requirements:
        return _EVERYTHING
    return LabelSelector(tuple(sorted(requirements, key=lambda r: r.key)))


_NODE_SELECTOR_OPS = {**_LABEL_SELECTOR_OPS, "Gt": "gt", "Lt": "lt"}


def node_selector_term_matches(
    term: Mapping[str, Any], labels: Mapping[str, str] | None, fields: Mapping[str, str]
) -> bool:
    """Whether a node (``labels``, and ``fields`` such as ``{"metadata.name": ...}``) satisfies
    one core/v1 NodeSelectorTerm.

    As in the scheduler, an empty term and a term with an invalid requirement match nothing.
    """
    expressions = term.get("matchExpressions") or []
    match_fields = term.get("matchFields") or []
    if not expressions and not match_fields:
        return False
    labels = labels or {}
    try:
        for expr in expressions:
            op = _NODE_SELECTOR_OPS.get(expr.get("operator"))
            if op is None:
                return False
            values = tuple(str(v) for v in expr.get("values") or ())
            if not Requirement(str(expr.get("key", "")), op, values).matches(labels):
                return False
    except SelectorError:
        return False
    # Upstream only consults matchFields when the node has fields to compare against.
    if not fields:
        return True
    for expr in match_fields:
        values = expr.get("values") or []
        if expr.get("operator") not in ("In", "NotIn") or len(values) != 1:
            return False
        equal = fields.get(expr.get("key", ""), "") == values[0]
        if equal != (expr["operator"] == "In"):
            return False
    return True


# --------------------------------------------------------------------------- field selectors

# Fields whose typed Go value renders even when absent from the JSON object.
_FIELD_DEFAULTS = {"spec.unschedulable": "false", "spec.hostNetwork": "false"}


def _split_terms(text: str) -> list[str]:
    """Split on commas not escaped by a backslash (fields.splitTerms)."""
    terms, start, escaped = [], 0, False
    for i, ch in enumerate(text):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ",":
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms


def _unescape(value: str) -> str:
    """Undo ``\\\\``, ``\\,`` and ``\\=``; bare ``,``/``=`` are errors (fields.UnescapeValue)."""
    out, escaped = [], False
    for ch in value:
        if escaped:
            if ch not in "\\,=":
                raise SelectorError(f"invalid field selector: invalid escape sequence: \\{ch}")
            out.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch in ",=":
            raise SelectorError(f"invalid field selector: unescaped character in value: {ch!r}")
        else:
            out.append(ch)
    if escaped:
        raise SelectorError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def _render(value: Any) -> str:
    """Render a JSON value the way the Go field set does."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _field_value(obj: Mapping[str, Any], path: str) -> str:
    current: Any = obj
    for part in path.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return _FIELD_DEFAULTS.get(path, "")
        current = current[part]
    if current is None:
        return _FIELD_DEFAULTS.get(path, "")
    return _render(current)


@dataclass(frozen=True)
class FieldTerm:
    """``field=value`` (``equal``) or ``field!=value``."""

    field: str
    value: str
    equal: bool = True

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return (_field_value(obj, self.field) == self.value) == self.equal


@dataclass(frozen=True)
class FieldSelector:
    """A conjunction of field terms; no terms matches everything."""

    terms: tuple[FieldTerm, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.terms

    def matches(self, obj: Mapping[str, Any]) -> bool:
        """Whether the object (a plain JSON dict) satisfies every term."""
        return all(t.matches(obj) for t in self.terms)

    def exact(self, field: str) -> str | None:
        """The value ``field`` is pinned to with ``=``/``==``, to look it up in an index."""
        for t in self.terms:
            if t.field == field and t.equal:
                return t.value
        return None

    def __str__(self) -> str:
        def esc(v: str) -> str:
            return v.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")

        return ",".join(f"{t.field}{'=' if t.equal else '!='}{esc(t.value)}" for t in self.terms)


def parse_field_selector(text: str, allowed: set[str] | frozenset[str]) -> FieldSelector:
    """Parse the ``fieldSelector`` query parameter against the fields a resource supports."""
    terms: list[FieldTerm] = []
    for part in sorted(_split_terms(text)):
        if not part:
            continue
        # The first operator occurrence splits the term; keys cannot be escaped.
        for i in range(len(part)):
            op = next((o for o in ("!=", "==", "=") if part.startswith(o, i)), None)
            if op is not None:
                field, raw = part[:i], part[i + len(op) :]
                break
        else:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{part}'")
        terms.append(FieldTerm(field, _unescape(raw), op != "!="))
    # Like the apiserver: the whole selector is parsed before field labels are checked.
    for term in terms:
        if term.field not in allowed:
            raise SelectorError(f"field label not supported: {term.field}")
    return FieldSelector(tuple(terms))

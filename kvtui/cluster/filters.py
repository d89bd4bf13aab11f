"""The `/` filter language of the panes, k9s style: a regex, `!regex` to invert, and
`-l key=value,key2!=v` to select by labels (Kubernetes label selector syntax)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class LabelTerm:
    key: str
    op: str  # "=", "!=", "exists", "!exists"
    value: str = ""

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.op == "exists":
            return self.key in labels
        if self.op == "!exists":
            return self.key not in labels
        if self.op == "=":
            return labels.get(self.key) == self.value
        return labels.get(self.key) != self.value


@dataclass(frozen=True)
class RowFilter:
    text: str
    pattern: re.Pattern[str] | None = None
    inverse: bool = False
    labels: tuple[LabelTerm, ...] = ()

    def matches(self, cells: Sequence[str], labels: Mapping[str, str]) -> bool:
        if not all(term.matches(labels) for term in self.labels):
            return False
        if self.pattern is None:
            return True
        hit = any(self.pattern.search(cell) for cell in cells)
        return hit != self.inverse


def _label_terms(text: str) -> tuple[LabelTerm, ...]:
    terms = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        if "!=" in part:
            key, value = part.split("!=", 1)
            terms.append(LabelTerm(key.strip(), "!=", value.strip()))
        elif "=" in part:
            key, value = part.split("==" if "==" in part else "=", 1)
            terms.append(LabelTerm(key.strip(), "=", value.strip()))
        elif part.startswith("!"):
            terms.append(LabelTerm(part[1:].strip(), "!exists"))
        else:
            terms.append(LabelTerm(part, "exists"))
    if not terms or any(not t.key for t in terms):
        raise ValueError(f"bad label selector {text!r}: use -l key=value[,key2!=value]")
    return tuple(terms)


def parse_filter(text: str) -> RowFilter:
    """Parse the filter line; raises ValueError with a readable message."""
    raw = text.strip()
    labels: tuple[LabelTerm, ...] = ()
    if raw.startswith("-l"):
        selector, _, rest = raw[2:].strip().partition(" ")
        labels = _label_terms(selector)
        raw = rest.strip()
    inverse = raw.startswith("!")
    if inverse:
        raw = raw[1:]
    pattern = None
    if raw:
        try:
            pattern = re.compile(raw, re.IGNORECASE)
        except re.error as exc:
            raise ValueError(f"bad filter regex {raw!r}: {exc}") from None
    return RowFilter(text.strip(), pattern, inverse, labels)

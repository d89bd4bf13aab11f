"""Component versions against the supported range the config names (`supported_versions`).

KubeVirt and CDI report tags like `v1.6.4` or `v1.64.0-rc.1`; a range bound with fewer parts
covers everything under it, so `[1.2.2, 1.6]` admits 1.6.9 but not 1.7.0.
"""

from __future__ import annotations

from collections.abc import Sequence

from kvtui.cluster.config import version_key

BELOW, INSIDE, ABOVE = "below", "inside", "above"


def release(text: str) -> tuple[int, ...] | None:
    """A reported version without its pre-release or build suffix, as numbers."""
    return version_key(str(text or "").split("-", 1)[0].split("+", 1)[0])


def position(version: tuple[int, ...], bounds: Sequence[str]) -> str:
    """Where `version` lies relative to the inclusive range `bounds` ([oldest, newest])."""
    low, high = version_key(bounds[0]), version_key(bounds[1])
    if low is not None and version < low:
        return BELOW
    if high is not None and version[: len(high)] > high:
        return ABOVE
    return INSIDE


def range_text(bounds: Sequence[str]) -> str:
    high = bounds[1].lstrip("v")
    newest = f"{high}.x" if high.count(".") < 2 else high
    return f"{bounds[0].lstrip('v')} to {newest}"

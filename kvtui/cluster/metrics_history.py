"""Bounded history for sparklines when there is no Prometheus to ask.

One ring per VM or node holds the last `capacity` samples of a few numbers in flat arrays
(8 bytes per timestamp, 4 per value), so ten thousand VMs with 60 points of 7 numbers each take
about 20 MB rather than the hundreds a list of tuples would.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence

from kvtui.cluster.metrics_model import Point


class Ring:
    """The newest `capacity` samples of `columns` numbers; NaN stands for "unknown"."""

    __slots__ = ("_next", "_size", "capacity", "columns", "times", "values")

    def __init__(self, columns: int, capacity: int) -> None:
        self.columns = columns
        self.capacity = capacity
        self.times = array("d", bytes(8 * capacity))
        self.values = array("f", bytes(4 * capacity * columns))
        self._next = 0
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def append(self, at: float, values: Sequence[float | None]) -> None:
        slot = self._next
        self.times[slot] = at
        base = slot * self.columns
        for i in range(self.columns):
            value = values[i]
            self.values[base + i] = math.nan if value is None else value
        self._next = (slot + 1) % self.capacity
        self._size = min(self._size + 1, self.capacity)

    @property
    def newest(self) -> float | None:
        return self.times[(self._next - 1) % self.capacity] if self._size else None

    def series(self, column: int, since: float, points: int) -> list[Point]:
        """Known samples of one column at or after `since`, oldest first, at most `points`
        (evenly thinned when there are more)."""
        start = (self._next - self._size) % self.capacity
        found = []
        for k in range(self._size):
            slot = (start + k) % self.capacity
            at = self.times[slot]
            value = self.values[slot * self.columns + column]
            if at >= since and not math.isnan(value):
                found.append((at, float(value)))
        if points > 0 and len(found) > points:
            stride = len(found) / points
            found = [found[int(i * stride)] for i in range(points - 1)] + [found[-1]]
        return found

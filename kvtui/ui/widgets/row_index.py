"""Rows of a resource table kept in sort order by key, with a filter: no Textual here.

A changed row moves by binary search, so live updates never re-sort the whole list.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any, Protocol


class TableRow(Protocol):
    """What the table needs of a row; the presenters' frozen `Row` dataclass fits it."""

    @property
    def key(self) -> Hashable: ...

    @property
    def cells(self) -> tuple[str, ...]: ...

    @property
    def health(self) -> str: ...

    @property
    def sort_keys(self) -> tuple[Any, ...]: ...


def sort_value(value: Any) -> tuple[Any, ...]:
    """A comparable wrapper: numbers before strings before other types; None last."""
    if value is None:
        return (9,)
    if isinstance(value, int | float):
        return (0, value)
    if isinstance(value, str):
        return (1, value)
    return (2, type(value).__name__, value)


class RowIndex:
    """Rows by key in display order, kept sorted and filtered incrementally.

    Knows nothing of Textual. A changed row moves by bisection (O(log n) to find, a memmove to
    shift), so 1,000 updates on 10,000 rows cost milliseconds; a full sort runs only when the
    sort changes, a full filter pass only when the filter changes.
    """

    def __init__(self) -> None:
        self._rows: dict[Hashable, TableRow] = {}
        self._seq: dict[Hashable, int] = {}  # arrival number; the dict order follows it
        self._next_seq = 0
        self._order: dict[Hashable, tuple[Any, ...]] = {}  # only while sorted
        self._all: list[Hashable] = []  # every key, ascending by `_order` (or `_seq`)
        self._view: list[Hashable] = self._all  # the keys passing the filter, same order
        self._visible: set[Hashable] | None = None  # None: no filter, and `_view is _all`
        self._predicate: Callable[[TableRow], bool] | None = None
        self.sort_column: int | None = None
        self.reverse = False

    def __len__(self) -> int:
        return len(self._view)

    @property
    def total(self) -> int:
        return len(self._rows)

    def __getitem__(self, key: Hashable) -> TableRow:
        return self._rows[key]

    def get(self, key: Hashable) -> TableRow | None:
        return self._rows.get(key)

    def rows(self) -> Iterable[TableRow]:
        return self._rows.values()

    def keys(self) -> list[Hashable]:
        """The displayed keys, top to bottom (a copy)."""
        return self._view[::-1] if self.reverse else list(self._view)

    def key_at(self, row: int) -> Hashable:
        return self._view[-1 - row] if self.reverse else self._view[row]

    def locate(self, key: Hashable) -> int | None:
        """The display row of a key, by bisection: O(log n); None when not displayed."""
        if key not in self._rows or (self._visible is not None and key not in self._visible):
            return None
        position = self._position(self._view, key)
        return len(self._view) - 1 - position if self.reverse else position

    def replace(self, rows: Iterable[TableRow]) -> None:
        self._rows = {row.key: row for row in rows}
        self._seq = {key: index for index, key in enumerate(self._rows)}
        self._next_seq = len(self._seq)
        self._reorder()

    def update(self, changed: Sequence[TableRow], removed: Sequence[Hashable]) -> None:
        """Removals first, then additions and replacements; many at once: one full re-sort."""
        bulk = len(changed) + len(removed) > max(256, len(self._rows) // 8)
        rows, order, seq, predicate = self._rows, self._order, self._seq, self._predicate
        is_sorted = self.sort_column is not None
        new_order: tuple[Any, ...] = ()
        for key in removed:
            if key in rows:
                if not bulk:
                    self._unplace(key)
                del rows[key], seq[key]
                order.pop(key, None)
        for row in changed:
            key = row.key
            old = rows.get(key)
            if old is None:
                seq[key] = self._next_seq
                self._next_seq += 1
            if is_sorted:
                new_order = self._order_of(row, seq[key])
            if bulk:
                rows[key] = row
                if is_sorted:
                    order[key] = new_order
                continue
            passes = predicate is None or predicate(row)
            if old is not None:
                was_visible = self._visible is None or key in self._visible
                stays = not is_sorted or new_order == order[key]
                if stays and passes == was_visible:
                    rows[key] = row
                    continue
                self._unplace(key)
            rows[key] = row
            if is_sorted:
                order[key] = new_order
            self._place(key, passes)
        if bulk:
            self._reorder(resort=False)

    def sort(self, column: int | None, reverse: bool) -> None:
        self.sort_column = column
        self.reverse = reverse and column is not None
        self._reorder()

    def filter(self, predicate: Callable[[TableRow], bool] | None) -> None:
        self._predicate = predicate
        self._refilter()

    def _order_of(self, row: TableRow, seq: int) -> tuple[Any, ...]:
        """Where a row sorts on the sort column; unique, as `seq` breaks ties."""
        column = self.sort_column
        assert column is not None
        # Descending shows the list backwards; -seq keeps ties in their arrival order.
        tie = -seq if self.reverse else seq
        sort_keys = getattr(row, "sort_keys", None) or ()
        if column < len(sort_keys) and sort_keys[column] is not None:
            return (sort_value(sort_keys[column]), tie)
        cells = row.cells
        return (sort_value(cells[column] if column < len(cells) else None), tie)

    def _reorder(self, resort: bool = True) -> None:
        """Sort every key (O(n log n)) and filter them again."""
        if self.sort_column is None:
            self._order = {}
            self._all = list(self._rows)  # arrival order: the dict's
        else:
            if resort:
                seq, order_of = self._seq, self._order_of
                self._order = {key: order_of(row, seq[key]) for key, row in self._rows.items()}
            self._all = sorted(self._rows, key=self._order.__getitem__)
        self._refilter()

    def _refilter(self) -> None:
        """Rebuild the displayed keys from the sorted keys: O(n), no sorting."""
        predicate = self._predicate
        if predicate is None:
            self._visible = None
            self._view = self._all
            return
        rows = self._rows
        self._view = [key for key in self._all if predicate(rows[key])]
        self._visible = set(self._view)

    def _position(self, keys: list[Hashable], key: Hashable) -> int:
        rank = self._seq.__getitem__ if self.sort_column is None else self._order.__getitem__
        return bisect_left(keys, rank(key), key=rank)

    def _unplace(self, key: Hashable) -> None:
        """Take a key out of the ordered lists, by its current rank."""
        del self._all[self._position(self._all, key)]
        if self._visible is not None and key in self._visible:
            del self._view[self._position(self._view, key)]
            self._visible.discard(key)

    def _place(self, key: Hashable, visible: bool) -> None:
        self._all.insert(self._position(self._all, key), key)
        if self._visible is not None and visible:
            self._view.insert(self._position(self._view, key), key)
            self._visible.add(key)

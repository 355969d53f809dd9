"""A page of a list the API hands out by `limit` and `offset` (`GET /api/disputes`, `GET /api/registrations`),
with how many there are in all: what the surfaces need to say that more exist, and where they are.

The total costs one COUNT query, and none when the page itself tells it: a page shorter than `limit` is the
last one, so the total is `offset` plus its rows (unless it is empty past the start: then the count says how
far the list goes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    rows: list[T]
    total: int  # how many the user may see with the same filters, on every page
    limit: int
    offset: int

    @property
    def next_offset(self) -> int | None:
        """Where the next page starts, if more remain."""
        after = self.offset + len(self.rows)
        return after if self.rows and after < self.total else None

    @property
    def prev_offset(self) -> int | None:
        """Where the page before starts, if this one is not the first."""
        return max(0, min(self.offset, self.total) - self.limit) if self.offset > 0 else None


def page_of(rows: list[T], limit: int, offset: int, count: Callable[[], int]) -> Page[T]:
    """`rows`, read with `limit` and `offset`, as a page: `count()` is asked only when the page does not tell."""
    last = len(rows) < limit and (bool(rows) or offset == 0)
    return Page(rows, offset + len(rows) if last else count(), limit, offset)

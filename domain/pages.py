"""A page of a list answer, newest first, and the page sizes a client may ask for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20

T = TypeVar("T")


def clamp_page_size(page_size: int) -> int:
    """0 (unset) means the default; anything above the maximum is the maximum."""
    return max(1, min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE))


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page; `total` counts every match, `total_pages` the pages as they are cut from
    the first (by count, and for executions by bytes too: persistence/pagination.py)."""

    entries: list[T]
    next_page_token: str
    total: int
    total_pages: int

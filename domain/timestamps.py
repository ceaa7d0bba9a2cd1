"""Timestamps on the wire are strings (Stigmer's contract), in one of two forms.

* Ours: RFC 3339 UTC with `Z`, e.g. `2026-01-22T10:30:00.123456Z` (`now_rfc3339`).
* Stigmer's runner: `datetime.utcnow().isoformat()`, naive UTC without a zone and without
  a fraction when microseconds are 0, e.g. `2026-01-22T10:30:00`.

Strings are stored and returned exactly as sent; only code that compares or orders times
parses them, with `parse`, which reads both forms (a naive time is UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime


def now_rfc3339() -> str:
    """The current time as RFC 3339 UTC with microseconds and `Z`."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse(value: str) -> datetime | None:
    """An aware UTC datetime from either wire form (or any ISO 8601 offset); None when
    empty or unreadable, so a client's odd string never breaks a sort."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("z", "Z"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def sort_key(value: str) -> tuple[int, float]:
    """Orders wire timestamps by time; missing or unreadable ones go first."""
    parsed = parse(value)
    return (0, 0.0) if parsed is None else (1, parsed.timestamp())

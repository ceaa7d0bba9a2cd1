"""Resource ids: a prefix, then a time-ordered random part (newest sorts last)."""

from __future__ import annotations

import re
import secrets
import time

from domain.errors import InvalidArgument, NotFound

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _base36(n: int, width: int) -> str:
    out = []
    for _ in range(width):
        n, r = divmod(n, 36)
        out.append(_ALPHABET[r])
    return "".join(reversed(out))


def new_id(prefix: str) -> str:
    """`aex_…`, `agt_…`, `ses_…`: 10 chars of milliseconds, then 12 random chars."""
    return f"{prefix}_{_base36(time.time_ns() // 1_000_000, 10)}{_base36(secrets.randbits(62), 12)}"


def is_valid_id(value: str) -> bool:
    """Ids reach MongoDB filters; only plain well-formed strings may pass."""
    return isinstance(value, str) and bool(ID_PATTERN.match(value))


def require_id(value: str, what: str) -> str:
    """`value` as the id of a `what` to look up: missing is the caller's mistake; one that
    cannot be an id names nothing stored."""
    if not value:
        raise InvalidArgument(f"{what} id is required")
    if not is_valid_id(value):
        raise NotFound(f"{what} {value!r} not found")
    return value

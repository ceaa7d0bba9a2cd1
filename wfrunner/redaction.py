"""Secret values never leave in a reported input, output or error: each occurrence is
replaced, wherever a task put it (a header built from `$secrets`, an echoed body)."""

from __future__ import annotations

from typing import Any, TypeVar

REDACTED = "[REDACTED]"

T = TypeVar("T")


def redact(value: T, secrets: list[str]) -> T:
    """`value` with every secret replaced in every string (keys included)."""
    if not secrets or value is None:
        return value
    return _walk(value, sorted({s for s in secrets if s}, key=len, reverse=True))  # type: ignore[no-any-return]


def _walk(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {_walk(k, secrets): _walk(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, secrets) for v in value]
    return value

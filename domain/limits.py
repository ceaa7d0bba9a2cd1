"""Input limits, the same for REST and gRPC (REST's schemas and domain/validation.py both
read them here). Map keys become MongoDB field names, so they are plain: no `$` prefix,
no NUL, no dots where a key is a name."""

from __future__ import annotations

import re
from typing import Any

from domain.errors import InvalidArgument

MAX_MAP_ENTRIES = 64  # labels, annotations, tags, runtime_env
LABEL_KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_./-]*$"
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
MAX_KEY_CHARS = 128
MAX_SHORT_TEXT = 256
MAX_LONG_TEXT = 4096
# Tool-call arguments and other free-form objects: deeper than this is refused (MongoDB
# and JSON encoders have limits of their own; a model never needs this much).
MAX_STRUCT_DEPTH = 20
MAX_VERSION_DIGITS = 18  # a version fits an int64
MAX_SKILL_TAG_CHARS = 128  # a skill's tag (and a reference's version naming one)
MAX_ENV_VALUE_CHARS = 65_536  # an environment or execution-context value: a certificate fits
# What one status patch may change (applyStatusPatch): its changes, and the list items its
# truncates remove (each is a path the update writes). Storing a patch costs time linear
# in these; a runner with more to say sends its whole status instead.
MAX_PATCH_CHANGES = 1_000
MAX_PATCH_REMOVED_ITEMS = 1_000

_LABEL_KEY = re.compile(LABEL_KEY_PATTERN)
_ENV_NAME = re.compile(ENV_NAME_PATTERN)


def check_keys(field: str, keys: list[str] | tuple[str, ...], *, env_names: bool = False) -> None:
    if len(keys) > MAX_MAP_ENTRIES:
        raise InvalidArgument(f"{field} has {len(keys)} entries; at most {MAX_MAP_ENTRIES}")
    pattern = _ENV_NAME if env_names else _LABEL_KEY
    for key in keys:
        if len(key) > MAX_KEY_CHARS or not pattern.match(key):
            shown = key[:40].encode("unicode_escape").decode()
            raise InvalidArgument(f"{field} key {shown!r} must match {pattern.pattern} (≤ {MAX_KEY_CHARS} chars)")


def check_patch_bounds(changes: list[dict[str, Any]]) -> None:
    """Refuse a status patch (its changes as proto JSON) that changes more than one may."""
    if len(changes) > MAX_PATCH_CHANGES:
        raise InvalidArgument(
            f"a status patch has {len(changes)} changes; at most {MAX_PATCH_CHANGES} (send the whole status)"
        )
    removed = 0
    for change in changes:
        truncate = change.get("truncate") if isinstance(change, dict) else None
        if isinstance(truncate, dict):
            previous, length = truncate.get("previous_length", 0), truncate.get("length", 0)
            if isinstance(previous, int) and isinstance(length, int):
                removed += max(0, previous - length)
    if removed > MAX_PATCH_REMOVED_ITEMS:
        raise InvalidArgument(
            f"a status patch removes {removed} list items; at most {MAX_PATCH_REMOVED_ITEMS} (send the whole status)"
        )


def struct_depth(value: object) -> int:
    """How deeply a JSON-like value nests (a scalar is 0)."""
    if isinstance(value, dict):
        return 1 + max((struct_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((struct_depth(v) for v in value), default=0)
    return 0


def parse_version(raw: str | None, what: str = "Last-Event-ID") -> int:
    """A version a stream sent (0 when absent); anything else is the client's mistake."""
    raw = (raw or "").strip()
    if not raw:
        return 0
    if not (raw.isascii() and raw.isdigit()) or len(raw) > MAX_VERSION_DIGITS:
        raise InvalidArgument(f"{what} must be a version number this stream sent")
    return int(raw)

"""The execution a watcher holds, kept current by the event stream's `state` and `patch`
events (ARCHITECTURE.md, "Watching").

A `state` event's data is the whole execution body: it replaces what is held. A `patch`
event's data is `{"version": v, "base_version": b, "changes": [...]}`: the changes apply
to the held body's `status` with `domain.status_changes.apply_changes` (the one applier, the
same the hub runs) when `b` is the held version, and the result is version `v`. A patch
that is not newer than what is held is a duplicate and is dropped; one that starts from
another version or does not fit (`PatchDoesNotFit`) means a patch was missed: the
watcher reconnects without `Last-Event-ID` to get a fresh state.
"""

from __future__ import annotations

import json
from typing import Any

from domain.status_changes import apply_changes

ExecutionBody = dict[str, Any]


class OutOfStep(Exception):
    """The held state cannot take this patch: fetch a fresh state."""


class HeldExecution:
    """The newest execution body a watcher has, or None before its first state."""

    __slots__ = ("body",)

    def __init__(self) -> None:
        self.body: ExecutionBody | None = None

    @property
    def version(self) -> int:
        return int(self.body.get("version", 0)) if self.body else 0

    def take_state(self, data: str) -> ExecutionBody:
        """Hold the whole body a `state` event carries; return it."""
        self.body = json.loads(data)
        return self.body

    def take_patch(self, data: str) -> ExecutionBody | None:
        """Apply a `patch` event to the held body; the new body, or None for a duplicate.

        Raises OutOfStep when the patch does not follow what is held.
        """
        try:
            patch = json.loads(data)
            version, base = patch["version"], patch["base_version"]
            if not (_is_version(version) and _is_version(base)):
                raise ValueError(f"versions must be integers: {version!r}, {base!r}")
        except (ValueError, KeyError, TypeError) as exc:
            raise OutOfStep(f"unreadable patch ({exc})") from None
        if self.body is None:
            raise OutOfStep("a patch arrived before any state")
        if version <= self.version:
            return None  # already held: a retry or an overlap after resuming
        if base != self.version:
            raise OutOfStep(f"patch from version {base} while holding {self.version}")
        try:
            # PatchDoesNotFit (a missed patch) and malformed changes are both ValueErrors.
            status = apply_changes(self.body.get("status", {}), patch.get("changes", []))
        except (ValueError, TypeError, AttributeError) as exc:
            raise OutOfStep(f"patch to version {version} does not apply ({exc})") from None
        self.body = {**self.body, "status": status, "version": version}
        return self.body


def _is_version(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0

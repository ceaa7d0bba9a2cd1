"""What changed in a stored execution, as it travels from the process that stored it to
every process that serves watchers (persistence/bus.py carries it over Redis).

An event is either a whole state (`StateEvent`: a new execution, a spec edit) or a patch
(`PatchEvent`: the status changes that turned version `base_version` into `version`).
Events hold data only; each transport encodes them its own way (api/sse.py for SSE).
Compared by identity (`eq=False`), so a transport may cache its encoding per event.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from domain.status_changes import apply_changes


@dataclass(frozen=True, eq=False)
class StateEvent:
    """One stored state of an execution."""

    execution_id: str
    version: int
    body: dict[str, Any]  # the REST/SSE body (domain/convert.py, execution_to_body)


@dataclass(frozen=True, eq=False)
class PatchEvent:
    """The status changes (domain/status_changes.py) that made `version` out of `base_version`."""

    execution_id: str
    version: int
    base_version: int
    changes: list[dict[str, Any]]

    def data(self) -> dict[str, Any]:
        """What a watcher receives: `{"version", "base_version", "changes"}`."""
        return {"version": self.version, "base_version": self.base_version, "changes": self.changes}


BusEvent = StateEvent | PatchEvent


def with_patch(state: StateEvent, patch: PatchEvent) -> StateEvent:
    """`state` with `patch` applied (its base must be `state`'s version; the caller checks).
    Raises `PatchDoesNotFit` (or ValueError for a malformed change) as `apply_changes` does."""
    status = apply_changes(state.body.get("status") or {}, patch.changes)
    return StateEvent(state.execution_id, patch.version, {**state.body, "status": status, "version": patch.version})

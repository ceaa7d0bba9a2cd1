"""Pure rules of an execution's life: phases and the status merge (ARCHITECTURE.md, "Status merge")."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from ai.stigmer.agentic.agentexecution.v1 import enum_pb2

TERMINAL_PHASES = frozenset(
    {enum_pb2.EXECUTION_COMPLETED, enum_pb2.EXECUTION_FAILED, enum_pb2.EXECUTION_CANCELLED}
)
TERMINAL_PHASE_NAMES = frozenset(enum_pb2.ExecutionPhase.Name(p) for p in TERMINAL_PHASES)
IN_PROGRESS_NAME = enum_pb2.ExecutionPhase.Name(enum_pb2.EXECUTION_IN_PROGRESS)


def is_terminal(phase: int | str) -> bool:
    return phase in TERMINAL_PHASES or phase in TERMINAL_PHASE_NAMES


class Decision(enum.Enum):
    APPLY = "apply"  # merge it and bump the version
    STALE = "stale"  # older or duplicate snapshot: acknowledge, change nothing
    ALREADY_FINAL = "already_final"  # repeats the stored terminal phase: acknowledge
    REFUSED = "refused"  # would change a terminal state: FAILED_PRECONDITION


@dataclass(frozen=True)
class StoredState:
    """What the decision needs from the stored document."""

    phase: str  # enum name, as stored
    sequence: int  # highest runner sequence applied so far (0 = none)


def decide(stored: StoredState, update_phase: str | None, update_sequence: int) -> Decision:
    """Whether a status update may change the stored state.

    `update_sequence` is the runner's ordering key (0 = unordered, as old runners send):
    an ordered update not above the stored sequence is stale. A terminal state is final.
    """
    if is_terminal(stored.phase):
        if update_phase == stored.phase:
            return Decision.ALREADY_FINAL
        if update_sequence and update_sequence <= stored.sequence:
            return Decision.STALE  # a late retry of something already applied
        return Decision.REFUSED
    if update_sequence and update_sequence <= stored.sequence:
        return Decision.STALE
    return Decision.APPLY



def phase_time_stamps(changes: list[dict[str, Any]], stored: dict[str, Any], now: str) -> dict[str, str]:
    """The times the service adds to a status write: `started_at` when it enters
    IN_PROGRESS, `completed_at` when it enters a terminal phase, each only when neither
    the write nor the stored status (proto JSON) has one. Whoever sends the status
    (Stigmer's runner sends neither time), its times are kept exactly as sent."""
    phase = None
    sent: set[str] = set()
    for change in changes:
        fields = change.get("set", {})
        phase = fields.get("phase") or phase
        sent.update(name for name in ("started_at", "completed_at") if fields.get(name))
    stamps = {}
    if phase == IN_PROGRESS_NAME and "started_at" not in sent and not stored.get("started_at"):
        stamps["started_at"] = now
    if phase in TERMINAL_PHASE_NAMES and "completed_at" not in sent and not stored.get("completed_at"):
        stamps["completed_at"] = now
    return stamps

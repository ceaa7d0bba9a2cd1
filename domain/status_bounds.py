"""A status cut to fit a size, for the places where a whole status cannot go: Temporal
payloads (refused over 2 MB). Keeps phase, error, times and todos, then the newest
messages, tool calls and sub-agents that fit (a text too long on its own is shortened),
and says in a SYSTEM message (the last one) what was cut and why."""

from __future__ import annotations

import json
from typing import Any

from ai.stigmer.agentic.agentexecution.v1 import api_pb2, enum_pb2
from domain.convert import to_json
from domain.timestamps import now_rfc3339

# One item may take at most this share of the budget, so a single huge tool result
# cannot push out everything else.
_ITEM_SHARE = 4
_CUT_MARK = "… [{} characters cut]"


def summary_status(status: api_pb2.AgentExecutionStatus) -> api_pb2.AgentExecutionStatus:
    """Phase, error and timestamps of `status`, nothing else."""
    return api_pb2.AgentExecutionStatus(
        phase=status.phase,
        error=status.error,
        started_at=status.started_at,
        completed_at=status.completed_at,
    )


def fits(status: api_pb2.AgentExecutionStatus, max_bytes: int) -> bool:
    """Whether the proto JSON of `status` takes at most `max_bytes`."""
    return _size(to_json(status)) <= max_bytes


def bounded_status(
    status: api_pb2.AgentExecutionStatus, max_bytes: int, reason: str
) -> api_pb2.AgentExecutionStatus:
    """`status` with at most about `max_bytes` of proto JSON; what was cut, and `reason`,
    are said in a SYSTEM message (the last message)."""
    if fits(status, max_bytes):
        return status
    bounded = summary_status(status)
    for key, todo in status.todos.items():
        bounded.todos[key].CopyFrom(todo)
    # What is left after the fixed fields and room for the note, shared by the lists;
    # what one list leaves unused goes to the next.
    budget = max(0, max_bytes - _size(to_json(bounded)) - 1_000)
    item_limit = max(1, budget // _ITEM_SHARE)
    subs_share = budget // 10
    messages_share = (budget - subs_share) // 2
    kept_subs, left, cut_subs = _newest_that_fit(status.sub_agent_executions, subs_share, item_limit)
    kept_messages, left, cut_messages = _newest_that_fit(status.messages, messages_share + left, item_limit)
    calls_share = budget - subs_share - messages_share + left
    kept_calls, _, cut_calls = _newest_that_fit(status.tool_calls, calls_share, item_limit)
    bounded.messages.extend(kept_messages)
    bounded.tool_calls.extend(kept_calls)
    bounded.sub_agent_executions.extend(kept_subs)
    bounded.messages.add(
        type=enum_pb2.MESSAGE_SYSTEM,
        timestamp=now_rfc3339(),
        content=_cut_note(status, bounded, max_bytes, cut_subs + cut_messages + cut_calls, reason),
    )
    return bounded


def _newest_that_fit(items: Any, budget: int, item_limit: int) -> tuple[list[Any], int, int]:
    """The newest items (in their order) whose JSON fits `budget`, each shortened to at
    most `item_limit`; the budget left over; how many kept items were shortened."""
    kept: list[Any] = []
    shortened = 0
    for item in reversed(items):
        short = _shortened(item, item_limit)
        size = _size(to_json(short))
        if size > budget:
            break
        kept.append(short)
        shortened += short is not item
        budget -= size
    kept.reverse()
    return kept, budget, shortened


def _shortened(item: Any, limit: int) -> Any:
    """`item`, or a copy whose long text fields are cut so its JSON fits about `limit`."""
    excess = _size(to_json(item)) - limit
    if excess <= 0:
        return item
    copy = type(item)()
    copy.CopyFrom(item)
    for field in ("content", "result", "output", "input", "error"):
        if excess <= 0:
            break
        if field not in copy.DESCRIPTOR.fields_by_name:
            continue
        text = getattr(copy, field)
        if len(text) <= 200:
            continue
        # JSON may spend more than one byte per character: cut by the encoded excess.
        cut = min(len(text) - 100, excess + 50)
        setattr(copy, field, text[: len(text) - cut] + _CUT_MARK.format(cut))
        excess -= cut
    return copy


def _cut_note(
    original: api_pb2.AgentExecutionStatus, bounded: api_pb2.AgentExecutionStatus, max_bytes: int,
    shortened: int, reason: str,
) -> str:
    note = (
        f"{reason}; this status was cut to {max_bytes // 1000} kB: kept the newest "
        f"{len(bounded.messages)} of {len(original.messages)} messages, {len(bounded.tool_calls)} of "
        f"{len(original.tool_calls)} tool calls and {len(bounded.sub_agent_executions)} of "
        f"{len(original.sub_agent_executions)} sub-agent runs"
    )
    return f"{note}; {shortened} long texts were shortened" if shortened else note


def _size(value: dict[str, Any]) -> int:
    return len(json.dumps(value, ensure_ascii=False).encode())

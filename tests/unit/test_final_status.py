"""What ExecuteGraphton hands back to the workflow: small when the server has the content,
bounded (newest first, with a note of what was cut) when it does not."""

from __future__ import annotations

import json

from ai.stigmer.agentic.agentexecution.v1 import api_pb2, enum_pb2
from domain.convert import to_json
from domain.status_bounds import bounded_status
from runner.final_status import MAX_RETURNED_STATUS_BYTES, returned_status


def json_size(status: api_pb2.AgentExecutionStatus) -> int:
    return len(json.dumps(to_json(status)).encode())


def big_run(steps: int = 40, result_kb: int = 30) -> api_pb2.AgentExecutionStatus:
    """A completed run of `steps` tool calls, each with a `result_kb` result (also in its
    TOOL message): about 2 × steps × result_kb kB."""
    status = api_pb2.AgentExecutionStatus(
        phase=enum_pb2.EXECUTION_COMPLETED, started_at="2026-01-01T00:00:00Z",
        completed_at="2026-01-01T00:01:00Z",
    )
    status.todos["t1"].content = "plan"
    for step in range(steps):
        result = f"result {step} " + "x" * (result_kb * 1000)
        status.tool_calls.add(id=f"call_{step}", name="probe", result=result, status=enum_pb2.TOOL_CALL_COMPLETED)
        status.messages.add(type=enum_pb2.MESSAGE_TOOL, content=result)
    status.messages.add(type=enum_pb2.MESSAGE_AI, content="the final answer")
    return status


def test_delivered_run_returns_only_phase_error_and_times() -> None:
    status = big_run()
    status.error = "a warning"
    returned = returned_status(status, delivered=True)
    assert returned == api_pb2.AgentExecutionStatus(
        phase=enum_pb2.EXECUTION_COMPLETED, error="a warning",
        started_at="2026-01-01T00:00:00Z", completed_at="2026-01-01T00:01:00Z",
    )


def test_undelivered_small_run_returns_everything() -> None:
    status = big_run(steps=2, result_kb=1)
    assert returned_status(status, delivered=False) == status


def test_undelivered_big_run_keeps_the_newest_content_within_the_bound_and_says_what_was_cut() -> None:
    status = big_run()  # about 2.4 MB
    assert json_size(status) > 2_000_000
    returned = returned_status(status, delivered=False)
    assert json_size(returned) <= MAX_RETURNED_STATUS_BYTES
    assert returned.phase == enum_pb2.EXECUTION_COMPLETED
    assert returned.completed_at == status.completed_at
    assert dict(returned.todos) == dict(status.todos)
    # The newest items, in order: the answer and the last tool calls.
    assert returned.messages[-2].content == "the final answer"
    kept_calls = [call.id for call in returned.tool_calls]
    assert kept_calls and kept_calls == [f"call_{i}" for i in range(40 - len(kept_calls), 40)]
    assert returned.tool_calls[-1] == status.tool_calls[-1]
    note = returned.messages[-1]
    assert note.type == enum_pb2.MESSAGE_SYSTEM
    assert f"{len(returned.tool_calls)} of 40 tool calls" in note.content
    assert f"of {len(status.messages)} messages" in note.content


def test_one_huge_result_is_shortened_not_dropped() -> None:
    status = api_pb2.AgentExecutionStatus(phase=enum_pb2.EXECUTION_COMPLETED)
    status.tool_calls.add(id="only", name="probe", result="y" * 2_000_000)
    status.messages.add(type=enum_pb2.MESSAGE_AI, content="done")
    bounded = bounded_status(status, 100_000, "too big to carry")
    assert json_size(bounded) <= 100_000
    assert [call.id for call in bounded.tool_calls] == ["only"]
    assert bounded.tool_calls[0].result.startswith("yyyy")
    assert "characters cut]" in bounded.tool_calls[0].result
    assert "1 long texts were shortened" in bounded.messages[-1].content
    assert bounded.messages[-1].content.startswith("too big to carry; ")
    assert bounded.messages[0].content == "done"


def test_undelivered_big_run_over_stored_content_never_replaces_it_with_a_cut() -> None:
    status = big_run()
    returned = returned_status(status, delivered=False, partly_stored=True)
    # No lists: the stored ones stay as they are (ARCHITECTURE.md, "Status merge"); the error says what is missing.
    assert not returned.messages and not returned.tool_calls
    assert returned.phase == enum_pb2.EXECUTION_COMPLETED
    assert "newest status changes could not be delivered" in returned.error


def test_undelivered_small_run_over_stored_content_returns_everything() -> None:
    status = big_run(steps=2, result_kb=1)
    assert returned_status(status, delivered=False, partly_stored=True) == status

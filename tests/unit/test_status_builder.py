"""StatusBuilder folds astream_events (v2) into an AgentExecutionStatus."""

from __future__ import annotations

from typing import Any

from google.protobuf.json_format import MessageToDict
from hypothesis import given, settings, strategies as st
from langchain_core.messages import AIMessage, AIMessageChunk, ToolMessage

from ai.stigmer.agentic.agentexecution.v1 import api_pb2, enum_pb2
from domain import timestamps
from domain.convert import to_json
from domain.status_changes import apply_changes, diff_status
from runner.status_builder import StatusBuilder
from tests.utils.agent_events import ROOT, STEPS, ScriptedRun, event


def is_rfc3339_utc(stamp: str) -> bool:
    """Our own writes: RFC 3339 UTC with `Z` (Stigmer's timestamps are plain strings)."""
    return stamp.endswith("Z") and timestamps.parse(stamp) is not None


def stream_answer(
    builder: StatusBuilder, run_id: str, tokens: list[str], parents: tuple[str, ...] = (ROOT,)
) -> None:
    builder.handle(event("on_chat_model_start", run_id, "model", parents))
    for token in tokens:
        chunk = AIMessageChunk(content=token)
        builder.handle(event("on_chat_model_stream", run_id, "model", parents, chunk=chunk))
    output = AIMessage(content="".join(tokens))
    builder.handle(event("on_chat_model_end", run_id, "model", parents, output=output))


def request_tool(
    builder: StatusBuilder, run_id: str, call_id: str, name: str, args: dict[str, Any]
) -> None:
    builder.handle(event("on_chat_model_start", run_id, "model"))
    output = AIMessage(content="", tool_calls=[{"id": call_id, "name": name, "args": args}])
    builder.handle(event("on_chat_model_end", run_id, "model", output=output))


def run_tool(
    builder: StatusBuilder, run_id: str, call_id: str, name: str, args: dict[str, Any], result: str
) -> None:
    builder.handle(event("on_tool_start", run_id, name, input=args))
    output = ToolMessage(content=result, tool_call_id=call_id, name=name)
    builder.handle(event("on_tool_end", run_id, name, input=args, output=output))


def test_new_status_is_pending_with_the_human_message_first() -> None:
    status = StatusBuilder("hello").snapshot()
    assert status.phase == enum_pb2.EXECUTION_PENDING
    assert [(m.type, m.content) for m in status.messages] == [(enum_pb2.MESSAGE_HUMAN, "hello")]


def test_streamed_tokens_grow_one_ai_message_as_token_changes() -> None:
    builder = StatusBuilder("hi")
    changes: list[bool] = []
    builder.on_change(changes.append)
    builder.handle(event("on_chat_model_start", "m1", "model"))
    builder.handle(event("on_chat_model_stream", "m1", "model", chunk=AIMessageChunk("Hel")))
    assert builder.snapshot().messages[1].content == "Hel"
    builder.handle(event("on_chat_model_stream", "m1", "model", chunk=AIMessageChunk("lo")))
    status = builder.snapshot()
    assert [(m.type, m.content) for m in status.messages] == [
        (enum_pb2.MESSAGE_HUMAN, "hi"),
        (enum_pb2.MESSAGE_AI, "Hello"),
    ]
    assert changes == [False, False]
    assert builder.last_change_structural is False


def test_tool_call_goes_pending_running_completed_on_the_issuing_message() -> None:
    builder = StatusBuilder("count this")
    changes: list[bool] = []
    builder.on_change(changes.append)
    request_tool(builder, "m1", "call-1", "word_count", {"text": "count this"})
    assert builder.snapshot().tool_calls[0].status == enum_pb2.TOOL_CALL_PENDING

    builder.handle(event("on_tool_start", "t1", "word_count", input={"text": "count this"}))
    running = builder.snapshot().tool_calls[0]
    assert running.status == enum_pb2.TOOL_CALL_RUNNING
    assert MessageToDict(running.args) == {"text": "count this"}
    assert is_rfc3339_utc(running.started_at)

    result = ToolMessage(content="2 words", tool_call_id="call-1")
    builder.handle(event("on_tool_end", "t1", "word_count", output=result))
    status = builder.snapshot()
    (call,) = status.tool_calls
    assert (call.id, call.status, call.result) == ("call-1", enum_pb2.TOOL_CALL_COMPLETED, "2 words")
    metadata = call.component_metadata
    assert (metadata.component_type, metadata.component_group) == ("tool", "builtin")
    ai, tool = status.messages[1], status.messages[2]
    assert [c.id for c in ai.tool_calls] == ["call-1"]
    assert ai.tool_calls[0].status == enum_pb2.TOOL_CALL_COMPLETED
    assert (tool.type, tool.content) == (enum_pb2.MESSAGE_TOOL, "2 words")
    assert MessageToDict(tool.metadata) == {"tool_call_id": "call-1", "tool_name": "word_count"}
    assert changes == [True, True, True]


def test_parallel_calls_of_one_tool_are_matched_by_args() -> None:
    builder = StatusBuilder("x")
    output = AIMessage(
        content="",
        tool_calls=[
            {"id": "a", "name": "word_count", "args": {"text": "one"}},
            {"id": "b", "name": "word_count", "args": {"text": "two words"}},
        ],
    )
    builder.handle(event("on_chat_model_end", "m1", "model", output=output))
    builder.handle(event("on_tool_start", "t2", "word_count", input={"text": "two words"}))
    calls = {c.id: c.status for c in builder.snapshot().tool_calls}
    assert calls == {"a": enum_pb2.TOOL_CALL_PENDING, "b": enum_pb2.TOOL_CALL_RUNNING}


def test_tool_error_marks_the_call_failed_and_adds_a_tool_message() -> None:
    builder = StatusBuilder("x")
    request_tool(builder, "m1", "call-1", "current_time", {})
    builder.handle(event("on_tool_start", "t1", "current_time", input={}))
    builder.handle(event("on_tool_error", "t1", "current_time", error=ValueError("clock broke")))
    status = builder.snapshot()
    assert status.tool_calls[0].status == enum_pb2.TOOL_CALL_FAILED
    assert status.tool_calls[0].error == "clock broke"
    assert status.messages[-1].type == enum_pb2.MESSAGE_TOOL
    assert "clock broke" in status.messages[-1].content


def write_todos(builder: StatusBuilder, step: int, plan: list[dict[str, str]]) -> api_pb2.AgentExecutionStatus:
    """The model calls write_todos with `plan` and the tool answers; the status after."""
    request_tool(builder, f"m{step}", f"call-{step}", "write_todos", {"todos": plan})
    run_tool(builder, f"t{step}", f"call-{step}", "write_todos", {"todos": plan}, "ok")
    return builder.snapshot()


def test_write_todos_fills_todos_with_ids_stable_across_updates() -> None:
    builder = StatusBuilder("plan")
    plan = [
        {"content": "Research", "status": "in_progress"},
        {"content": "Write", "status": "pending"},
    ]
    first = write_todos(builder, 1, plan)
    assert {t.content: t.status for t in first.todos.values()} == {
        "Research": enum_pb2.TODO_IN_PROGRESS,
        "Write": enum_pb2.TODO_PENDING,
    }
    assert first.tool_calls[0].component_metadata.component_group == "planning"

    plan = [
        {"content": "Research", "status": "completed"},
        {"content": "Write", "status": "in_progress"},
    ]
    second = write_todos(builder, 2, plan)
    assert set(second.todos) == set(first.todos)
    research_id = next(i for i, t in first.todos.items() if t.content == "Research")
    assert second.todos[research_id].status == enum_pb2.TODO_COMPLETED
    assert second.todos[research_id].created_at == first.todos[research_id].created_at


def test_task_becomes_a_sub_agent_execution_whose_text_stays_out_of_the_parent() -> None:
    builder = StatusBuilder("delegate")
    args = {"sub_agent": "researcher", "description": "find facts"}
    request_tool(builder, "m1", "call-1", "task", args)
    builder.handle(event("on_tool_start", "t1", "task", input=args))
    started = builder.snapshot().sub_agent_executions[0]
    assert (started.id, started.name, started.input, started.status) == (
        "call-1", "researcher", "find facts", enum_pb2.SUB_AGENT_IN_PROGRESS,
    )

    nested = (ROOT, "tools", "t1", "sub-graph")
    stream_answer(builder, "sub-m1", ["Facts", " found"], parents=nested)
    streaming = builder.snapshot()
    assert streaming.sub_agent_executions[0].output == "Facts found"
    assert all("Facts" not in m.content for m in streaming.messages)

    result = ToolMessage(content="Facts found.", tool_call_id="call-1")
    builder.handle(event("on_tool_end", "t1", "task", output=result))
    done = builder.snapshot()
    sub = done.sub_agent_executions[0]
    assert (sub.status, sub.output) == (enum_pb2.SUB_AGENT_COMPLETED, "Facts found.")
    assert done.tool_calls[0].component_metadata.component_group == "subagent"
    assert [m.type for m in done.messages] == [
        enum_pb2.MESSAGE_HUMAN, enum_pb2.MESSAGE_AI, enum_pb2.MESSAGE_TOOL,
    ]


def test_failed_task_marks_the_sub_agent_failed() -> None:
    builder = StatusBuilder("delegate")
    args = {"sub_agent": "researcher", "description": "x"}
    request_tool(builder, "m1", "call-1", "task", args)
    builder.handle(event("on_tool_start", "t1", "task", input=args))
    builder.handle(event("on_tool_error", "t1", "task", error=RuntimeError("sub-agent crashed")))
    sub = builder.snapshot().sub_agent_executions[0]
    assert (sub.status, sub.error) == (enum_pb2.SUB_AGENT_FAILED, "sub-agent crashed")


def test_phase_marks_set_phase_and_timestamps_and_terminal_is_final() -> None:
    builder = StatusBuilder("x")
    changes: list[bool] = []
    builder.on_change(changes.append)
    builder.mark_in_progress()
    status = builder.snapshot()
    assert status.phase == enum_pb2.EXECUTION_IN_PROGRESS
    assert is_rfc3339_utc(status.started_at) and status.completed_at == ""
    builder.mark_completed()
    builder.mark_failed("too late")
    status = builder.snapshot()
    assert status.phase == enum_pb2.EXECUTION_COMPLETED
    assert is_rfc3339_utc(status.completed_at) and status.error == ""
    assert changes == [True, True]


def test_failure_and_cancellation_close_unfinished_work() -> None:
    failed = StatusBuilder("x")
    failed.mark_in_progress()
    request_tool(failed, "m1", "call-1", "word_count", {"text": "x"})
    failed.mark_failed("model exploded")
    status = failed.snapshot()
    assert (status.phase, status.error) == (enum_pb2.EXECUTION_FAILED, "model exploded")
    call = status.tool_calls[0]
    assert (call.status, call.error) == (enum_pb2.TOOL_CALL_FAILED, "model exploded")

    cancelled = StatusBuilder("x")
    args = {"sub_agent": "researcher", "description": "x"}
    request_tool(cancelled, "m1", "call-1", "task", args)
    cancelled.handle(event("on_tool_start", "t1", "task", input=args))
    cancelled.mark_cancelled()
    status = cancelled.snapshot()
    assert status.phase == enum_pb2.EXECUTION_CANCELLED
    assert status.sub_agent_executions[0].status == enum_pb2.SUB_AGENT_FAILED
    assert status.tool_calls[0].status == enum_pb2.TOOL_CALL_FAILED


def test_snapshot_is_an_independent_copy() -> None:
    builder = StatusBuilder("x")
    stream_answer(builder, "m1", ["a", "b"])
    snapshot = builder.snapshot()
    snapshot.messages[1].content = "changed"
    snapshot.phase = enum_pb2.EXECUTION_FAILED
    fresh = builder.snapshot()
    assert fresh.messages[1].content == "ab"
    assert fresh.phase == enum_pb2.EXECUTION_PENDING


# -- changes as they happen ----------------------------------------------------------


def test_streamed_tokens_are_taken_as_appends_of_the_message_they_grow() -> None:
    builder = StatusBuilder("x")
    assert builder.take_changes() is None  # the first take: nothing to build on
    builder.handle(event("on_chat_model_start", "m1", "model"))
    builder.handle(event("on_chat_model_stream", "m1", "model", chunk=AIMessageChunk(content="Lis")))
    assert builder.take_changes() is None  # a new message is not an append
    for token in ("bon", " is", " ☀"):
        builder.handle(event("on_chat_model_stream", "m1", "model", chunk=AIMessageChunk(content=token)))
    assert builder.take_changes() == [{"append_text": {"index": 1, "offset": 3, "text": "bon is ☀"}}]
    assert builder.take_changes() == []
    builder.handle(event("on_chat_model_stream", "m1", "model", chunk=AIMessageChunk(content="!")))
    assert builder.take_changes() == [{"append_text": {"index": 1, "offset": 11, "text": "!"}}]
    builder.handle(event("on_chat_model_end", "m1", "model", output=AIMessage(content="Lisbon is ☀!")))
    assert builder.take_changes() == []  # the settled text is what was streamed
    builder.mark_completed()
    assert builder.take_changes() is None


def test_a_sub_agents_streamed_output_is_taken_as_a_put_of_that_item() -> None:
    builder = StatusBuilder("delegate")
    args = {"sub_agent": "researcher", "description": "find facts"}
    request_tool(builder, "m1", "call-1", "task", args)
    builder.handle(event("on_tool_start", "t1", "task", input=args))
    nested = (ROOT, "tools", "t1", "sub-graph")
    builder.handle(event("on_chat_model_start", "s1", "model", nested))
    assert builder.take_changes() is None
    builder.handle(event("on_chat_model_stream", "s1", "model", nested, chunk=AIMessageChunk(content="Facts")))
    (change,) = builder.take_changes() or []
    assert change == {"put_sub_agent": {"sub_agent": to_json(builder.snapshot().sub_agent_executions[0])}}
    assert change["put_sub_agent"]["sub_agent"]["output"] == "Facts"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([*STEPS, *["take"] * 8]), max_size=80))
def test_taken_changes_turn_the_previous_take_into_the_current_status(steps: list[str]) -> None:
    """Whatever the run does between two takes, a take that is not None, applied to the
    status at the previous take, gives the status now; token-only stretches give
    exactly what diffing the two snapshots gives."""
    builder = StatusBuilder("question")
    run = ScriptedRun(builder)
    assert builder.take_changes() is None
    before = to_json(builder.snapshot())
    for step in [*steps, "finish", "take"]:
        if step == "finish":
            run.finish()
        elif step != "take":
            run.step(step)
            continue
        changes = builder.take_changes()
        now = to_json(builder.snapshot())
        if changes is not None:
            assert apply_changes(before, changes) == now
            if all("append_text" in change for change in changes):
                assert changes == diff_status(before, now)
        before = now

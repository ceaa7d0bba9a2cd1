"""The real LangGraph engine driven by the offline scripted model (no services)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.tools import tool

from ai.stigmer.agentic.agentexecution.v1 import api_pb2, enum_pb2
from domain.convert import to_json
from infra.settings import Settings
from runner.engine import run_agent
from runner.models import make_chat_model
from runner.scripted_model import ScriptedChatModel
from runner.status_builder import StatusBuilder
from runner.status_sender import StatusJson, StatusSender
from runner.types import AgentConfig, AgentRunRequest, SubAgentConfig

RESEARCHER = SubAgentConfig("researcher", "Find facts.")
FAST = Settings(scripted_token_delay_ms=0, scripted_step_delay_ms=0, default_model="scripted")


def request(
    message: str,
    *,
    model: str = "scripted",
    tools: list[str] | None = None,
    sub_agents: list[SubAgentConfig] | None = None,
) -> AgentRunRequest:
    agent = AgentConfig(
        name="helper",
        instructions="Be helpful.",
        tools=["word_count"] if tools is None else tools,
        sub_agents=[RESEARCHER] if sub_agents is None else sub_agents,
    )
    return AgentRunRequest(
        execution_id="aex_test", session_id="ses_test", thread_id="thr_test",
        message=message, model_name=model, agent=agent,
    )


async def run(
    req: AgentRunRequest, history: list[BaseMessage] | None = None
) -> api_pb2.AgentExecutionStatus:
    """Run to completion with zero model delays; the final status."""
    builder = StatusBuilder(req.message)
    builder.mark_in_progress()
    await run_agent(req, history or [], builder, settings=FAST)
    builder.mark_completed()
    return builder.snapshot()


def final_answer(status: api_pb2.AgentExecutionStatus) -> str:
    assert status.messages[-1].type == enum_pb2.MESSAGE_AI
    return status.messages[-1].content


async def eventually(condition: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met before deadline"
        await asyncio.sleep(0.005)


async def test_agent_plans_calls_a_tool_delegates_and_answers() -> None:
    status = await run(request("How many words are in this sentence?"))

    # The plan is written first, then again with every step done before the answer.
    assert {t.content: t.status for t in status.todos.values()} == {
        "Understand the request": enum_pb2.TODO_COMPLETED,
        "Gather facts with tools": enum_pb2.TODO_COMPLETED,
        "Write the answer": enum_pb2.TODO_COMPLETED,
    }
    assert [c.name for c in status.tool_calls] == ["write_todos", "word_count", "task", "write_todos"]
    calls = {c.name: c for c in status.tool_calls}
    assert all(c.status == enum_pb2.TOOL_CALL_COMPLETED for c in calls.values())
    assert calls["word_count"].result == "7 words"
    assert calls["word_count"].args["text"] == "How many words are in this sentence?"
    groups = {c.component_metadata.component_group for c in calls.values()}
    assert groups == {"planning", "builtin", "subagent"}

    issuing = [m for m in status.messages if any(c.name == "word_count" for c in m.tool_calls)]
    assert len(issuing) == 1 and issuing[0].type == enum_pb2.MESSAGE_AI
    tool_results = [m.content for m in status.messages if m.type == enum_pb2.MESSAGE_TOOL]
    assert "7 words" in tool_results

    (sub,) = status.sub_agent_executions
    assert (sub.name, sub.status) == ("researcher", enum_pb2.SUB_AGENT_COMPLETED)
    assert "How many words" in sub.input and "How many words" in sub.output
    # The sub-agent's streamed text is not mixed into the parent's AI messages.
    ai_texts = [m.content for m in status.messages if m.type == enum_pb2.MESSAGE_AI and m.content]
    assert ai_texts == [final_answer(status)]
    assert 'You asked: "How many words are in this sentence?"' in final_answer(status)
    assert status.phase == enum_pb2.EXECUTION_COMPLETED


async def test_agent_without_tools_or_sub_agents_only_plans_and_answers() -> None:
    status = await run(request("Hi", tools=[], sub_agents=[]))
    assert [c.name for c in status.tool_calls] == ["write_todos", "write_todos"]
    assert not status.sub_agent_executions
    assert "Hi" in final_answer(status)


async def test_answer_streams_across_several_sent_snapshots() -> None:
    settings = Settings(scripted_token_delay_ms=5, scripted_step_delay_ms=0)
    req = request("Stream please", model="scripted:40", sub_agents=[])
    builder = StatusBuilder(req.message)
    answers: list[str] = []

    async def send(status: api_pb2.AgentExecutionStatus, sequence: int) -> None:
        last = status.messages[-1]
        if last.type == enum_pb2.MESSAGE_AI and last.content:
            answers.append(last.content)

    sender = StatusSender(send, update_interval=0.02)
    sender.start(builder)
    builder.mark_in_progress()
    await run_agent(req, [], builder, settings=settings)
    builder.mark_completed()
    assert await sender.close()

    final = final_answer(builder.snapshot())
    partial = [a for a in answers if a != final]
    assert len(partial) >= 2, answers
    assert all(final.startswith(a) for a in partial)
    assert answers[-1] == final


async def test_fail_marker_makes_the_run_raise() -> None:
    with pytest.raises(RuntimeError, match="scripted failure requested"):
        await run(request("please [fail] now"))


async def test_answer_mentions_an_earlier_message_of_the_session() -> None:
    history: list[BaseMessage] = [
        HumanMessage("What is the capital of France?"),
        AIMessage('You asked: "What is the capital of France?".'),
    ]
    status = await run(request("And of Spain?"), history=history)
    answer = final_answer(status)
    assert 'Earlier you asked: "What is the capital of France?"' in answer
    assert "And of Spain?" in answer
    # A fresh session has no memory to mention.
    assert "Earlier you asked" not in final_answer(await run(request("And of Spain?")))


async def test_cancelling_the_run_stops_it_promptly() -> None:
    slow = Settings(scripted_token_delay_ms=50, scripted_step_delay_ms=0)
    req = request("Long answer", model="scripted:10000", sub_agents=[])
    builder = StatusBuilder(req.message)
    task = asyncio.create_task(run_agent(req, [], builder, settings=slow))

    def answering() -> bool:
        last = builder.snapshot().messages[-1]
        return last.type == enum_pb2.MESSAGE_AI and bool(last.content)

    await eventually(answering)

    task.cancel()
    # The whole answer takes minutes: ending within this deadline, the run stopped.
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=30)
    builder.mark_cancelled()
    assert builder.snapshot().phase == enum_pb2.EXECUTION_CANCELLED


async def test_unknown_tool_name_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown tools"):
        await run(request("x", tools=["teleport"]))


async def test_scripted_model_answers_with_no_tools_bound() -> None:
    reply = await ScriptedChatModel(answer_tokens=3).ainvoke("plain question")
    assert reply.text == 'You asked: "plain question".'
    assert not reply.tool_calls


async def test_scripted_answer_streams_the_configured_number_of_tokens() -> None:
    @tool
    def unused(text: str) -> str:
        """A tool the script never calls."""
        return text

    model = ScriptedChatModel(answer_tokens=25).bind_tools([unused])
    chunks = [chunk.text async for chunk in model.astream("count my tokens")]
    assert len([c for c in chunks if c]) == 25
    assert "".join(chunks).startswith('You asked: "count my tokens".')


def test_model_names_select_the_scripted_model_and_reject_unknown_ones() -> None:
    model = make_chat_model("scripted:7", FAST)
    assert isinstance(model, ScriptedChatModel) and model.answer_tokens == 7
    assert isinstance(make_chat_model("", Settings(default_model="")), ScriptedChatModel)
    with pytest.raises(ValueError, match="unknown model"):
        make_chat_model("gpt4all:tiny", FAST)
    with pytest.raises(ValueError, match="positive integer"):
        make_chat_model("scripted:many", FAST)
    with pytest.raises(ValueError, match="OPENAI_API_KEY"):
        make_chat_model("openai:gpt-4o-mini", Settings(openai_api_key=""))


async def test_status_json_equals_to_json_at_every_change_of_a_run() -> None:
    req = request("Plan, count and research", model="scripted:30")
    builder = StatusBuilder(req.message)
    convert = StatusJson()
    mismatches: list[int] = []
    changes = 0

    def check(structural: bool) -> None:
        nonlocal changes
        changes += 1
        snapshot = builder.snapshot()
        if convert(snapshot) != to_json(snapshot):
            mismatches.append(changes)

    builder.on_change(check)
    builder.mark_in_progress()
    await run_agent(req, [], builder, settings=FAST)
    builder.mark_completed()
    final = builder.snapshot()
    assert final.sub_agent_executions and final.tool_calls and changes > 30
    assert not mismatches


def test_status_json_tells_items_of_different_lists_apart_when_their_bytes_match() -> None:
    # An untyped message with content "x" and a tool call named "x" serialize alike.
    status = api_pb2.AgentExecutionStatus()
    status.messages.add(content="x")
    status.tool_calls.add(name="x")
    assert status.messages[0].SerializeToString() == status.tool_calls[0].SerializeToString()
    convert = StatusJson()
    assert convert(status) == to_json(status)
    assert convert(status) == {"messages": [{"content": "x"}], "tool_calls": [{"name": "x"}]}


async def test_tools_and_routing_run_on_the_event_loop_without_a_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    # A sync tool or routing function would run in the loop's executor, and each of its
    # callbacks to the run's event stream would start an event loop of its own there.
    loop = asyncio.get_running_loop()
    handed_to_threads: list[object] = []
    original = loop.run_in_executor

    def recording(executor: object, func: Callable[..., object], *args: object) -> asyncio.Future[object]:
        handed_to_threads.append(func)
        return original(executor, func, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(loop, "run_in_executor", recording)
    status = await run(request("How many words are in this sentence?"))
    assert [c.name for c in status.tool_calls] == ["write_todos", "word_count", "task", "write_todos"]
    assert handed_to_threads == []

"""The pieces of `python -m bench peer` that decide what it measures (no stacks started)."""

from __future__ import annotations

import asyncio
import time

from langchain_core.messages import AIMessage, HumanMessage

from bench.peer_graph import graph as peer_graph
from bench.profiling import summarise
from bench.raw_sse import RawSse
from bench.timed_model import TimedScriptedChatModel, token_clocks
from runner.engine import agent_tools, build_agent_graph
from runner.types import AgentConfig, SubAgentConfig

TOKENS = 30


def script(messages: list) -> list[tuple[str, list[tuple[str, dict]]]]:
    return [(type(m).__name__, [(c["name"], c["args"]) for c in getattr(m, "tool_calls", [])]) for m in messages]


async def test_peer_graph_runs_the_same_script_as_the_service_engine(monkeypatch) -> None:
    monkeypatch.setenv("BENCH_TOKEN_DELAY_MS", "0")
    monkeypatch.setenv("BENCH_STEP_DELAY_MS", "0")

    def model() -> TimedScriptedChatModel:
        return TimedScriptedChatModel(answer_tokens=TOKENS)

    agent = AgentConfig("bench", "", tools=["word_count"], sub_agents=[SubAgentConfig("researcher", "look up")])
    engine_graph = build_agent_graph("bench", "", model, agent_tools(agent, model))
    inputs = {"messages": [HumanMessage("compare these two")]}

    async def streamed(graph, config) -> tuple[list, int]:
        clocks, final = set(), None
        async for mode, chunk in graph.astream(inputs, config, stream_mode=["messages", "values"]):
            if mode == "messages":
                clocks.update(token_clocks(str(chunk[0].content).encode()))
            else:
                final = chunk["messages"]
        return final, len(clocks)

    engine_messages, engine_tokens = await streamed(engine_graph, {})
    peer_messages, peer_tokens = await streamed(peer_graph, {"configurable": {"answer_tokens": TOKENS}})

    assert script(peer_messages) == script(engine_messages)
    assert [name for kind, calls in script(peer_messages) for name, _ in calls] == [
        "write_todos", "word_count", "task", "write_todos"]
    assert engine_tokens == peer_tokens == TOKENS
    assert isinstance(peer_messages[-1], AIMessage) and len(token_clocks(peer_messages[-1].text.encode())) == TOKENS


async def test_timed_model_stamps_only_the_answer_tokens_in_order() -> None:
    model = TimedScriptedChatModel(answer_tokens=5)
    with_tools = model.bind_tools([])  # no schemas: the sub-agent's short answer
    sub_agent = [c async for c in with_tools.astream([HumanMessage("hi")])]
    assert not any(token_clocks(str(c.content).encode()) for c in sub_agent)

    answering = model.bind(tools=[{"type": "function", "function": {"name": "other", "parameters": {}}}])
    chunks = [c async for c in answering.astream([HumanMessage("hi")])]
    stamps = [float(token_clocks(str(c.content).encode())[0]) for c in chunks]
    assert len(stamps) == 5 and stamps == sorted(stamps)


async def test_raw_sse_reassembles_events_split_across_chunks() -> None:
    body = b"event: messages\ndata: one[t=1.000001]\n\n: keep-alive\n\nevent: end\ndata: two[t=2.000002]\n\n"
    pieces = [body[:27], body[27:31], body[31:]]  # a split inside the first clock

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
        for piece in pieces:
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    stream = await RawSse.connect("127.0.0.1", port, "/stream")
    events = [(name, token_clocks(raw)) async for name, raw, _ in stream.events()]
    stream.close()
    server.close()
    assert events == [(b"messages", [b"1.000001"]), (b"end", [b"2.000002"])]


def test_profile_summary_ranks_own_and_inclusive_time() -> None:
    collapsed = "main (app.py:1);encode (json.py:5) 30\nmain (app.py:1);send (net.py:9) 10\n"
    summary = summarise(collapsed)
    assert summary["samples"] == 40
    assert summary["own"][0] == "75.0% encode (json.py)"
    assert summary["inclusive"] == ["75.0% encode (json.py)", "25.0% send (net.py)"]  # not the spine


async def test_timed_model_holds_its_answer_until_the_named_file_exists(tmp_path) -> None:
    go = tmp_path / "go"
    answering = TimedScriptedChatModel(answer_tokens=3).bind(
        tools=[{"type": "function", "function": {"name": "other", "parameters": {}}}])

    async def stream() -> str:
        return "".join([str(c.content) async for c in answering.astream([HumanMessage(f"fan-out [hold:{go}]")])])

    streaming = asyncio.ensure_future(stream())
    await asyncio.sleep(0.2)  # long enough for an unheld answer to have finished
    assert not streaming.done()
    released = time.time()
    go.touch()
    answer = await asyncio.wait_for(streaming, 5)
    stamps = [float(c) for c in token_clocks(answer.encode())]
    assert len(stamps) == 3 and min(stamps) >= released

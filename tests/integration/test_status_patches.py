"""Incremental status end to end: runner patches over gRPC, whole updates in between, and
watchers that rebuild the stored document from SSE patches (ARCHITECTURE.md, "Status merge", §4)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.protobuf import json_format
from hypothesis import HealthCheck, given, settings, strategies as st

from ai.stigmer.agentic.agent.v1.api_pb2 import Agent
from ai.stigmer.agentic.agentexecution.v1 import api_pb2, io_pb2, patch_pb2
from domain.limits import MAX_PATCH_CHANGES, MAX_PATCH_REMOVED_ITEMS
from domain.status_changes import PatchDoesNotFit, apply_changes, diff_status
from stigmer_service.context import ServerContext
from tests.utils.contexts import make_settings, scripted_agent
from tests.utils.grpc_api import GrpcStubs, open_grpc
from tests.utils.http import (
    EXECUTIONS,
    HttpApi,
    SseEvent,
    as_states,
    collect_stream,
    create_execution,
    read_events,
    serve_app,
    wait_until,
)


def status_at(step: int, *, word: str = "word", done: bool = False) -> dict[str, Any]:
    """A runner's whole status after `step` steps: streamed text, tool calls, todos."""
    return {
        "phase": "EXECUTION_COMPLETED" if done else "EXECUTION_IN_PROGRESS",
        "started_at": "2026-01-22T10:30:00",
        "messages": [
            {"type": "MESSAGE_HUMAN", "content": "what time is it?"},
            {"type": "MESSAGE_AI", "content": "".join(f"{word}{j} " for j in range(step))},
        ],
        "tool_calls": [
            {"id": f"t{j}", "name": "clock", "status": "TOOL_CALL_COMPLETED" if j < step // 3 else "TOOL_CALL_RUNNING"}
            for j in range(step // 3 + 1)
        ],
        "todos": {
            f"k{j}": {"id": f"k{j}", "content": f"todo {j}", "status": "TODO_COMPLETED" if j < step // 4 else "TODO_PENDING"}
            for j in range(step // 4 + 1)
        },
    }


class Runner:
    """Sends a run's statuses the way runners do: patches with a sequence, or whole."""

    def __init__(self, stubs: GrpcStubs, execution_id: str) -> None:
        self.stubs, self.execution_id = stubs, execution_id
        self.sent: dict[str, Any] = {}
        self.sequence = 0

    async def patch(self, status: dict[str, Any]) -> patch_pb2.AgentExecutionStatusPatchResult:
        self.sequence += 1
        request = json_format.ParseDict(
            {"execution_id": self.execution_id, "sequence": self.sequence, "changes": diff_status(self.sent, status)},
            patch_pb2.AgentExecutionStatusPatch(),
        )
        result = await self.stubs.commands.applyStatusPatch(request)
        self.sent = status
        return result

    async def whole(self, status: dict[str, Any], sequence: int = 0) -> api_pb2.AgentExecution:
        """Stigmer's runner: the whole status, unordered (sequence 0); ours after a resync."""
        request = io_pb2.AgentExecutionUpdateStatusInput(
            execution_id=self.execution_id, status=json_format.ParseDict(status, api_pb2.AgentExecutionStatus()),
            sequence=sequence,
        )
        stored = await self.stubs.commands.updateStatus(request)
        self.sent = status
        return stored


@contextlib.asynccontextmanager
async def stack(context: ServerContext) -> AsyncIterator[tuple[HttpApi, GrpcStubs]]:
    server, stubs = await open_grpc(context)
    try:
        async with serve_app(context) as api:
            yield api, stubs
    finally:
        await stubs.channel.close()
        await server.stop(grace=None)


def subscribe_path(execution_id: str, query: str = "") -> str:
    return f"{EXECUTIONS}/{execution_id}/subscribe{query}"


async def stored_body(api: HttpApi, execution_id: str) -> dict[str, Any]:
    response = await api.client.get(f"{EXECUTIONS}/{execution_id}")
    assert response.status_code == 200, response.text
    return response.json()


def final_state(events: list[SseEvent], base: dict | None = None) -> dict[str, Any]:
    states = as_states(events, base)
    assert states[-1].event == "end", [e.event for e in states]
    return states[-2].json()


@pytest.fixture
async def api_and_grpc(context: ServerContext) -> AsyncIterator[tuple[HttpApi, GrpcStubs]]:
    async with stack(context) as pair:
        yield pair


async def test_a_watcher_applying_patches_ends_with_the_stored_document(
    api_and_grpc: tuple[HttpApi, GrpcStubs], agent: Agent
) -> None:
    api, stubs = api_and_grpc
    execution_id = (await create_execution(api, agent))["metadata"]["id"]
    first = asyncio.Event()
    watcher = asyncio.create_task(collect_stream(api.client, subscribe_path(execution_id), first_state=first))
    await asyncio.wait_for(first.wait(), 10)
    runner = Runner(stubs, execution_id)
    for step in range(1, 30):
        # Stigmer's whole status now and then, between the patches.
        result = await (runner.whole(status_at(step)) if step % 7 == 0 else runner.patch(status_at(step)))
        assert not getattr(result, "resync_needed", False)
    await runner.patch(status_at(30, done=True))
    events = await asyncio.wait_for(watcher, 15)

    stored = await stored_body(api, execution_id)
    assert final_state(events) == stored
    assert stored["status"]["messages"][1]["content"] == status_at(30)["messages"][1]["content"]
    assert [e.event for e in events[1:-1]] == ["patch"] * (len(events) - 2)
    # The stream costs the size of the changes, not a whole state per step.
    streamed = sum(len(e.data) for e in events)
    as_whole_states = sum(len(e.data) for e in as_states(events))
    assert streamed * 3 < as_whole_states, (streamed, as_whole_states)


async def test_a_watcher_reconnecting_with_last_event_id_gets_the_missed_patches(
    api_and_grpc: tuple[HttpApi, GrpcStubs], agent: Agent
) -> None:
    api, stubs = api_and_grpc
    execution_id = (await create_execution(api, agent))["metadata"]["id"]
    runner = Runner(stubs, execution_id)
    # Another watcher keeps this process's feed (and its patch log) alive.
    keeper_ready = asyncio.Event()
    keeper = asyncio.create_task(collect_stream(api.client, subscribe_path(execution_id), first_state=keeper_ready))
    await asyncio.wait_for(keeper_ready.wait(), 10)

    seen: list[SseEvent] = []
    async with api.client.stream("GET", subscribe_path(execution_id)) as response:
        async for event in read_events(response):
            if event.data:
                seen.append(event)
            if len(seen) == 1:
                for step in range(1, 6):
                    await runner.patch(status_at(step))
            if len(seen) == 4:
                break  # the connection drops mid-run
    held = as_states(seen)[-1].json()
    for step in range(6, 12):  # while it is away
        await runner.patch(status_at(step))

    resuming = asyncio.create_task(collect_stream(
        api.client, subscribe_path(execution_id), headers={"Last-Event-ID": str(held["version"])}
    ))
    hub = api.context.hub
    await wait_until(lambda: hub.watcher_count(execution_id) == 2, what="the resumed watcher")
    await runner.patch(status_at(12, done=True))
    resumed = await asyncio.wait_for(resuming, 15)
    assert resumed[0].event == "patch", [(e.event, e.id) for e in resumed]
    assert resumed[0].json()["base_version"] == held["version"]
    stored = await stored_body(api, execution_id)
    assert final_state(resumed, base=held) == stored
    assert final_state(await asyncio.wait_for(keeper, 15)) == stored


async def test_a_watcher_that_stalls_catches_up_with_a_fresh_state(
    api_and_grpc: tuple[HttpApi, GrpcStubs], agent: Agent
) -> None:
    api, stubs = api_and_grpc
    execution_id = (await create_execution(api, agent))["metadata"]["id"]
    runner = Runner(stubs, execution_id)
    big = "x" * 100_000  # each step appends ~100 KB: far more than the log and the socket hold
    events: list[SseEvent] = []
    writer_done = asyncio.Event()

    async def stalled_reader() -> None:
        async with api.client.stream("GET", subscribe_path(execution_id)) as response:
            async for event in read_events(response):
                if not event.data:
                    continue
                events.append(event)
                if len(events) == 1:
                    await writer_done.wait()  # reads nothing while the run goes on

    reader = asyncio.create_task(stalled_reader())
    await wait_until(lambda: len(events) == 1, what="the first state")
    # ~8 MB in all: more than the socket buffers on both ends and the 1 MiB patch log.
    for step in range(1, 80):
        await runner.patch(status_at(step, word=big))
    await runner.patch(status_at(80, word=big, done=True))
    writer_done.set()
    await asyncio.wait_for(reader, 30)

    assert final_state(events) == await stored_body(api, execution_id)
    assert "state" in [e.event for e in events[1:]], "a watcher that fell behind gets a fresh state"


async def test_mode_state_sends_whole_states_only(api_and_grpc: tuple[HttpApi, GrpcStubs], agent: Agent) -> None:
    api, stubs = api_and_grpc
    execution_id = (await create_execution(api, agent))["metadata"]["id"]
    first = asyncio.Event()
    watcher = asyncio.create_task(
        collect_stream(api.client, subscribe_path(execution_id, "?mode=state"), first_state=first)
    )
    await asyncio.wait_for(first.wait(), 10)
    runner = Runner(stubs, execution_id)
    for step in range(1, 6):
        await runner.patch(status_at(step))
    await runner.patch(status_at(6, done=True))
    events = await asyncio.wait_for(watcher, 15)
    assert {e.event for e in events[:-1]} == {"state"} and events[-1].event == "end"
    assert events[-2].json() == await stored_body(api, execution_id)
    bad = await api.client.get(subscribe_path(execution_id, "?mode=diff"))
    assert bad.status_code in (400, 422) and "error" in bad.json()


async def test_patches_and_whole_updates_interleaved_store_the_right_state(
    api_and_grpc: tuple[HttpApi, GrpcStubs], agent: Agent
) -> None:
    api, stubs = api_and_grpc
    execution_id = (await create_execution(api, agent))["metadata"]["id"]
    runner = Runner(stubs, execution_id)
    await runner.patch(status_at(3))
    await runner.whole(status_at(5))  # Stigmer's runner, unordered
    result = await runner.patch(status_at(6))  # follows what is stored: applies
    assert result.applied and not result.resync_needed and result.stored_sequence == 2
    stored = await stored_body(api, execution_id)
    expected = status_at(6)
    assert stored["status"]["messages"] == expected["messages"]
    assert stored["status"]["tool_calls"] == expected["tool_calls"]
    assert stored["status"]["todos"] == expected["todos"]
    # A repeated patch changes nothing; one after a missing predecessor asks to resync.
    again = await stubs.commands.applyStatusPatch(
        patch_pb2.AgentExecutionStatusPatch(execution_id=execution_id, sequence=2)
    )
    assert not again.applied and again.version == stored["version"]
    gap = await stubs.commands.applyStatusPatch(
        patch_pb2.AgentExecutionStatusPatch(execution_id=execution_id, sequence=9)
    )
    assert gap.resync_needed and not gap.applied
    assert await stored_body(api, execution_id) == stored


async def test_bad_patches_get_the_right_grpc_codes(
    api_and_grpc: tuple[HttpApi, GrpcStubs], agent: Agent
) -> None:
    api, stubs = api_and_grpc
    execution_id = (await create_execution(api, agent))["metadata"]["id"]
    Patch = patch_pb2.AgentExecutionStatusPatch
    cases = [
        (Patch(sequence=1), grpc.StatusCode.INVALID_ARGUMENT),
        (Patch(execution_id=execution_id), grpc.StatusCode.INVALID_ARGUMENT),
        (Patch(execution_id=execution_id, sequence=1, changes=[patch_pb2.StatusChange()]), grpc.StatusCode.INVALID_ARGUMENT),
        (json_format.ParseDict({"execution_id": execution_id, "sequence": 1,
                                "changes": [{"truncate": {"length": 1}}]}, Patch()), grpc.StatusCode.INVALID_ARGUMENT),
        (json_format.ParseDict({"execution_id": execution_id, "sequence": 1,
                                "changes": [{"put_message": {"index": -1}}]}, Patch()), grpc.StatusCode.INVALID_ARGUMENT),
        (Patch(execution_id="aex_doesnotexist0000", sequence=1), grpc.StatusCode.NOT_FOUND),
    ]
    undefined = Patch(execution_id=execution_id, sequence=1)
    undefined.changes.add().set.phase = 42
    cases.append((undefined, grpc.StatusCode.INVALID_ARGUMENT))
    for request, code in cases:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stubs.commands.applyStatusPatch(request)
        assert refused.value.code() == code, (request, refused.value.details())
    runner = Runner(stubs, execution_id)
    await runner.patch(status_at(2, done=True))
    with pytest.raises(grpc.aio.AioRpcError) as final:
        await runner.patch(status_at(3))
    assert final.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert (await stored_body(api, execution_id))["status"]["phase"] == "EXECUTION_COMPLETED"


async def test_a_status_outgrowing_the_size_limit_ends_failed_with_a_reason(
    services, mongo_db_name: str
) -> None:
    settings = make_settings(services, mongo_db_name, max_status_bytes=64 * 1024)
    context = await ServerContext.open(settings, with_workflows=False)
    try:
        agent = await scripted_agent(context.service.resources)
        async with stack(context) as (api, stubs):
            for whole in (False, True):
                execution_id = (await create_execution(api, agent))["metadata"]["id"]
                runner = Runner(stubs, execution_id)
                send = runner.whole if whole else runner.patch
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    for step in range(1, 40):  # ~10 KB a step: refused well before the end
                        await send(status_at(step, word="y" * 2_000))
                assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
                assert "outgrew the 65536-byte limit" in refused.value.details()
                stored = await stored_body(api, execution_id)
                assert stored["status"]["phase"] == "EXECUTION_FAILED"
                assert "outgrew the 65536-byte limit" in stored["status"]["error"]
                with pytest.raises(grpc.aio.AioRpcError) as after:
                    await runner.patch(status_at(1))
                assert after.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    finally:
        await context.mongo.drop_database(mongo_db_name)
        await context.close()


class CountingCollection:
    """The real collection, counting the reads made through it."""

    _READS = ("find_one", "find", "find_one_and_update", "aggregate", "count_documents")

    def __init__(self, inner) -> None:
        self._inner = inner
        self.reads = 0

    def __getattr__(self, name: str):
        attribute = getattr(self._inner, name)
        if name not in self._READS:
            return attribute

        def counted(*args, **kwargs):
            self.reads += 1
            return attribute(*args, **kwargs)

        return counted


async def test_subscribing_to_an_execution_already_watched_reads_nothing_from_mongodb(
    services, mongo_db_name: str
) -> None:
    settings = make_settings(services, mongo_db_name, sse_db_check_seconds=3600)
    context = await ServerContext.open(settings, with_workflows=False)
    try:
        agent = await scripted_agent(context.service.resources)
        async with serve_app(context) as api:
            execution_id = (await create_execution(api, agent))["metadata"]["id"]
            counting = CountingCollection(context.service.executions._collection)
            context.service.executions._collection = counting
            async with contextlib.aclosing(context.service.watch(execution_id)) as first:
                assert (await anext(first)).version == 1
                assert counting.reads == 1  # the first watcher of this process reads it
                for _ in range(3):
                    async with contextlib.aclosing(context.service.watch(execution_id)) as again:
                        assert (await anext(again)).version == 1
                assert counting.reads == 1
                # Served from memory, and still exactly the stored document.
                held = context.hub._feeds[execution_id].state.body
                assert held == await stored_body(api, execution_id)
    finally:
        await context.mongo.drop_database(mongo_db_name)
        await context.close()


# -- lists shrunk by many items, patches that do not fit, bounds ----------------------


async def watched(api: HttpApi, agent: Agent) -> tuple[str, asyncio.Task[list[SseEvent]]]:
    """A new execution and an SSE client watching it from its first state."""
    execution_id = (await create_execution(api, agent))["metadata"]["id"]
    first = asyncio.Event()
    watcher = asyncio.create_task(collect_stream(api.client, subscribe_path(execution_id), first_state=first))
    await asyncio.wait_for(first.wait(), 10)
    return execution_id, watcher


def with_lists(messages: int, tool_calls: int, *, done: bool = False) -> dict[str, Any]:
    return {
        "phase": "EXECUTION_COMPLETED" if done else "EXECUTION_IN_PROGRESS",
        "messages": [{"type": "MESSAGE_AI", "content": f"m{j}"} for j in range(messages)],
        "tool_calls": [{"id": f"t{j}", "name": "clock"} for j in range(tool_calls)],
    }


@pytest.mark.parametrize("removed", [128, 1_000])
async def test_a_list_shrunk_by_many_items_is_shrunk_in_get_and_in_the_sse_client(
    api_and_grpc: tuple[HttpApi, GrpcStubs], agent: Agent, removed: int
) -> None:
    """The embedded stand-in ignores every `$unset` of an update that names 127 paths or
    more; no status update relies on one."""
    api, stubs = api_and_grpc
    execution_id, watcher = await watched(api, agent)
    runner = Runner(stubs, execution_id)
    await runner.whole(with_lists(removed + 1, removed + 1))
    await runner.whole(with_lists(1, removed + 1))  # Stigmer's runner: a shorter whole status
    result = await runner.patch(with_lists(1, 1))  # a patch truncating the other list
    assert result.applied and not result.resync_needed
    stored = await stored_body(api, execution_id)
    assert len(stored["status"]["messages"]) == 1 and len(stored["status"]["tool_calls"]) == 1
    await runner.patch(with_lists(1, 1, done=True))
    stored = await stored_body(api, execution_id)
    assert final_state(await asyncio.wait_for(watcher, 30)) == stored
    # Stamped by the service: this runner sends no times.
    assert stored["status"].pop("started_at") and stored["status"].pop("completed_at")
    assert stored["status"] == {**with_lists(1, 1, done=True), "messages": [{"type": "MESSAGE_AI", "content": "m0"}]}


def patch_of(execution_id: str, sequence: int, changes: list[dict[str, Any]]) -> patch_pb2.AgentExecutionStatusPatch:
    return json_format.ParseDict(
        {"execution_id": execution_id, "sequence": sequence, "changes": changes}, patch_pb2.AgentExecutionStatusPatch()
    )


async def test_patches_that_do_not_fit_are_refused_whole_and_ask_for_a_resync(
    api_and_grpc: tuple[HttpApi, GrpcStubs], agent: Agent
) -> None:
    api, stubs = api_and_grpc
    execution_id, watcher = await watched(api, agent)
    runner = Runner(stubs, execution_id)
    await runner.patch({"phase": "EXECUTION_IN_PROGRESS", "messages": [{"type": "MESSAGE_AI", "content": "Hello"}]})
    before = await stored_body(api, execution_id)
    misfits = [
        {"append_text": {"index": 0, "offset": 2, "text": "y"}},  # inside the text
        {"append_text": {"index": 0, "offset": 9, "text": "y"}},  # past its end
        {"put_message": {"index": 5, "message": {"type": "MESSAGE_AI"}}},  # past the list's end
        {"append_text": {"index": 1, "offset": 0, "text": "y"}},  # to a message that does not exist
        {"truncate": {"list": "STATUS_LIST_MESSAGES", "length": 0, "previous_length": 2}},
        {"set": {"phase": "EXECUTION_PENDING"}},  # backwards
    ]
    for misfit in misfits:
        # A fitting change first: the patch is refused as a whole.
        changes = [{"set": {"error": "partial"}}, misfit]
        result = await stubs.commands.applyStatusPatch(patch_of(execution_id, 2, changes))
        assert (result.applied, result.resync_needed, result.version) == (False, True, before["version"]), misfit
    assert await stored_body(api, execution_id) == before
    # Stigmer's whole status never moves the phase back either; the rest of it applies.
    await runner.whole({"phase": "EXECUTION_PENDING", "error": "late"})
    stored = await stored_body(api, execution_id)
    assert stored["status"]["phase"] == "EXECUTION_IN_PROGRESS" and stored["status"]["error"] == "late"
    await runner.whole({"phase": "EXECUTION_COMPLETED"})
    assert final_state(await asyncio.wait_for(watcher, 15)) == await stored_body(api, execution_id)


@st.composite
def runs_with_misfits(draw: Any) -> list[tuple[dict[str, Any], list[dict[str, Any]] | None]]:
    """Steps of a run: each the runner's whole status, and sometimes instead a patch of
    random changes, most of which do not fit what the server holds."""
    steps: list[tuple[dict[str, Any], list[dict[str, Any]] | None]] = []
    for step in range(1, draw(st.integers(2, 6)) + 1):
        status = status_at(step, word=draw(st.sampled_from(["w", "é", "🙂"])))
        if draw(st.booleans()):
            held = len(status["messages"])
            misfit = draw(st.lists(st.one_of(
                st.builds(lambda i, o: {"append_text": {"index": i, "offset": o, "text": "x"}},
                          st.integers(0, held + 1), st.integers(0, 60)),
                st.builds(lambda i: {"put_message": {"index": i, "message": {"type": "MESSAGE_AI"}}},
                          st.integers(0, held + 2)),
                st.builds(lambda p: {"truncate": {"list": "STATUS_LIST_TOOL_CALLS", "length": 0, "previous_length": p}},
                          st.integers(0, 4)),
                st.builds(lambda p: {"set": {"phase": p}}, st.sampled_from(["EXECUTION_PENDING", "EXECUTION_IN_PROGRESS"])),
                st.just({"put_todo": {"key": "extra", "todo": {"content": "x"}}}),
            ), min_size=1, max_size=3))
            steps.append((status, misfit))
        else:
            steps.append((status, None))
    return steps


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=runs_with_misfits())
async def test_after_random_patches_that_may_not_fit_get_equals_what_the_sse_client_applied(
    api_and_grpc: tuple[HttpApi, GrpcStubs], agent: Agent, steps: list
) -> None:
    api, stubs = api_and_grpc
    execution_id, watcher = await watched(api, agent)
    runner = Runner(stubs, execution_id)
    for status, misfit in steps:
        if misfit is not None:
            runner.sequence += 1
            result = await stubs.commands.applyStatusPatch(patch_of(execution_id, runner.sequence, misfit))
            try:
                fits = bool(apply_changes(runner.sent, misfit) is not None)
            except PatchDoesNotFit:
                fits = False
            assert result.applied == fits and result.resync_needed == (not fits), misfit
            if fits:
                runner.sent = apply_changes(runner.sent, misfit)
        result = await runner.patch(status)
        if result.resync_needed:
            runner.sequence += 1
            await runner.whole(status, runner.sequence)
    await runner.whole({**steps[-1][0], "phase": "EXECUTION_COMPLETED"})
    stored = await stored_body(api, execution_id)
    assert final_state(await asyncio.wait_for(watcher, 15)) == stored


async def test_a_patch_changing_more_than_the_bounds_is_refused_and_the_largest_allowed_one_keeps_serve_answering(
    api_and_grpc: tuple[HttpApi, GrpcStubs], agent: Agent
) -> None:
    api, stubs = api_and_grpc
    execution_id, watcher = await watched(api, agent)
    runner = Runner(stubs, execution_id)
    await runner.whole(with_lists(1, MAX_PATCH_REMOVED_ITEMS + 1))
    over = [
        patch_of(execution_id, 1, [{"truncate": {"list": "STATUS_LIST_TOOL_CALLS", "length": 0,
                                                 "previous_length": MAX_PATCH_REMOVED_ITEMS + 1}}]),
        patch_of(execution_id, 1, [{"put_todo": {"key": "k", "todo": {}}}] * (MAX_PATCH_CHANGES + 1)),
    ]
    for request in over:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stubs.commands.applyStatusPatch(request)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # The most one patch may change: the most items removed, the rest of its changes todos.
    largest = [{"truncate": {"list": "STATUS_LIST_TOOL_CALLS", "length": 1,
                             "previous_length": MAX_PATCH_REMOVED_ITEMS + 1}}]
    largest += [{"put_todo": {"key": f"k{j}", "todo": {"content": "x"}}} for j in range(MAX_PATCH_CHANGES - 1)]
    request = patch_of(execution_id, 1, largest)

    async def send() -> patch_pb2.AgentExecutionStatusPatchResult:
        return await stubs.commands.applyStatusPatch(request)

    call = asyncio.create_task(send())
    health_answered_during_the_patch = 0
    while not call.done():
        response = await api.client.get("/healthz")
        assert response.status_code == 200
        health_answered_during_the_patch += not call.done()
    result = await call
    assert result.applied and not result.resync_needed
    assert health_answered_during_the_patch > 0
    await runner.whole({"phase": "EXECUTION_COMPLETED"})
    stored = await stored_body(api, execution_id)
    assert len(stored["status"]["tool_calls"]) == 1 and len(stored["status"]["todos"]) == MAX_PATCH_CHANGES - 1
    assert final_state(await asyncio.wait_for(watcher, 30)) == stored

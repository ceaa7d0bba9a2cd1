"""A run's status stream (`streamStatusPatches`) against a real gRPC server, MongoDB and
Redis: appended text reaches watchers before storage and is stored within the persist
interval, when the stream ends, or when the runner vanishes; structural changes are
stored before they are answered; versions stay unique across a lost stream; and a resume
between a published and a stored version is answered as application/live_status.py says."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import grpc
import pytest

from ai.stigmer.agentic.agentexecution.v1 import api_pb2, enum_pb2, io_pb2, patch_pb2
from application.executions import ExecutionService, WatchEnd
from devtools.embedded import ServiceEndpoints
from domain.events import PatchEvent, StateEvent
from stigmer_service.context import ServerContext
from tests.utils.contexts import make_settings, scripted_agent
from tests.utils.grpc_api import GrpcStubs, open_grpc

Call = grpc.aio.StreamStreamCall


@contextlib.asynccontextmanager
async def stack(
    services: ServiceEndpoints, db_name: str, persist_interval_ms: int
) -> AsyncIterator[tuple[ServerContext, GrpcStubs]]:
    context = await ServerContext.open(
        make_settings(services, db_name, persist_interval_ms=persist_interval_ms), with_workflows=False
    )
    server, stubs = await open_grpc(context)
    try:
        yield context, stubs
    finally:
        await stubs.channel.close()
        await server.stop(grace=None)
        await context.mongo.drop_database(db_name)
        await context.close()


async def running_execution(context: ServerContext, stubs: GrpcStubs) -> str:
    """An execution IN_PROGRESS with one AI message, stored whole at sequence 1."""
    agent = await scripted_agent(context.service.resources)
    request = api_pb2.AgentExecution()
    request.spec.agent_id = agent.metadata.id
    request.spec.message = "stream to me"
    execution, _ = await context.service.create(request)
    status = api_pb2.AgentExecutionStatus(phase=enum_pb2.EXECUTION_IN_PROGRESS)
    status.messages.add(type=enum_pb2.MESSAGE_AI, content="")
    await stubs.commands.updateStatus(
        io_pb2.AgentExecutionUpdateStatusInput(execution_id=execution.metadata.id, status=status, sequence=1)
    )
    return execution.metadata.id


def append(execution_id: str, sequence: int, offset: int, text: str) -> patch_pb2.AgentExecutionStatusPatch:
    patch = patch_pb2.AgentExecutionStatusPatch(execution_id=execution_id, sequence=sequence)
    patch.changes.add().append_text.CopyFrom(patch_pb2.TextAppend(index=0, offset=offset, text=text))
    return patch


async def send(call: Call, patch: patch_pb2.AgentExecutionStatusPatch) -> patch_pb2.AgentExecutionStatusPatchResult:
    await call.write(patch)
    answer = await call.read()
    assert isinstance(answer, patch_pb2.AgentExecutionStatusPatchResult)
    return answer


async def streamed_text(
    context: ServerContext, stubs: GrpcStubs, first: str, second: str
) -> tuple[str, Call, patch_pb2.AgentExecutionStatusPatchResult, patch_pb2.AgentExecutionStatusPatchResult]:
    """A running execution whose stream sent `first` (stored: it raised the ceiling) and
    then `second` (published): its id, the open stream and both answers."""
    execution_id = await running_execution(context, stubs)
    call = stubs.commands.streamStatusPatches()
    stored = await send(call, append(execution_id, 2, 0, first))
    published = await send(call, append(execution_id, 3, len(first), second))
    return execution_id, call, stored, published


async def stored_text(service: ExecutionService, execution_id: str) -> tuple[int, str]:
    stored = await service.get(execution_id)
    return stored.status.version, stored.status.messages[0].content


async def until_stored(
    service: ExecutionService, execution_id: str, expected: tuple[int, str], timeout: float = 10.0
) -> None:
    """Poll storage until the execution's (version, text) is `expected`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while await stored_text(service, execution_id) != expected:
        assert asyncio.get_running_loop().time() < deadline, f"{expected} never stored"
        await asyncio.sleep(0.02)


async def next_event(watch: AsyncIterator[object]) -> StateEvent | PatchEvent:
    async with asyncio.timeout(10):
        async for item in watch:
            if item is None:
                continue
            assert not isinstance(item, WatchEnd)
            assert isinstance(item, StateEvent | PatchEvent)
            return item
    raise AssertionError("the watch ended")


async def test_text_reaches_watchers_before_storage_and_is_stored_when_the_stream_ends(
    services: ServiceEndpoints, mongo_db_name: str
) -> None:
    async with stack(services, mongo_db_name, persist_interval_ms=10_000) as (context, stubs):
        execution_id = await running_execution(context, stubs)
        call = stubs.commands.streamStatusPatches()
        first = await send(call, append(execution_id, 2, 0, "Hello"))
        assert first.applied and first.stored_version == first.version  # raises the ceiling: stored
        watch = context.service.watch(execution_id, after_version=first.version)
        try:
            assert await anext(watch) is None  # watching, and nothing is missing
            second = await send(call, append(execution_id, 3, 5, ", world"))
            assert second.applied and second.version == first.version + 1
            assert second.stored_version == first.version  # watchers have it; storage not yet
            event = await next_event(watch)
            assert isinstance(event, PatchEvent) and event.version == second.version
            assert event.changes == [{"append_text": {"offset": 5, "text": ", world"}}]  # proto JSON: no zeros
            assert await stored_text(context.service, execution_id) == (first.version, "Hello")
        finally:
            await watch.aclose()
        await call.done_writing()
        assert await call.code() == grpc.StatusCode.OK
        # The call is over only once what it published is stored.
        assert await stored_text(context.service, execution_id) == (second.version, "Hello, world")


async def test_structural_changes_are_stored_before_they_are_answered(
    services: ServiceEndpoints, mongo_db_name: str
) -> None:
    async with stack(services, mongo_db_name, persist_interval_ms=10_000) as (context, stubs):
        execution_id, call, _, _ = await streamed_text(context, stubs, "a", "b")
        done = patch_pb2.AgentExecutionStatusPatch(execution_id=execution_id, sequence=4)
        done.changes.add().set.phase = enum_pb2.EXECUTION_COMPLETED
        answer = await send(call, done)
        assert answer.applied and answer.stored_version == answer.version
        stored = await context.service.get(execution_id)
        assert stored.status.phase == enum_pb2.EXECUTION_COMPLETED and stored.status.completed_at
        assert (stored.status.version, stored.status.messages[0].content) == (answer.version, "ab")
        # The end is final, on the stream as everywhere.
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await send(call, append(execution_id, 5, 2, "late"))
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_appended_text_is_stored_within_the_persist_interval(
    services: ServiceEndpoints, mongo_db_name: str
) -> None:
    async with stack(services, mongo_db_name, persist_interval_ms=50) as (context, stubs):
        execution_id, call, _, last = await streamed_text(context, stubs, "one", " two")

        await until_stored(context.service, execution_id, (last.version, "one two"))  # the stream still open
        call.cancel()


async def test_a_runner_that_vanishes_leaves_what_it_published_stored(
    services: ServiceEndpoints, mongo_db_name: str
) -> None:
    async with stack(services, mongo_db_name, persist_interval_ms=10_000) as (context, stubs):
        execution_id, call, _, last = await streamed_text(context, stubs, "kept", " also")
        assert last.stored_version < last.version
        call.cancel()  # the runner is gone mid-stream

        await until_stored(context.service, execution_id, (last.version, "kept also"))


async def test_a_whole_status_after_a_lost_stream_continues_above_every_published_version(
    services: ServiceEndpoints, mongo_db_name: str
) -> None:
    async with stack(services, mongo_db_name, persist_interval_ms=10_000) as (context, stubs):
        execution_id, call, _, published = await streamed_text(context, stubs, "seen", " but lost")
        assert published.stored_version < published.version
        # The server process dies: what it published and had not stored is gone.
        context.service.live.drop(execution_id)
        call.cancel()
        # The runner resends its whole status: it is stored above anything a watcher saw.
        status = api_pb2.AgentExecutionStatus(phase=enum_pb2.EXECUTION_IN_PROGRESS)
        status.messages.add(type=enum_pb2.MESSAGE_AI, content="seen but lost, resent")
        resent = await stubs.commands.updateStatus(
            io_pb2.AgentExecutionUpdateStatusInput(execution_id=execution_id, status=status, sequence=10)
        )
        assert resent.status.version > published.version
        assert resent.status.messages[0].content == "seen but lost, resent"


async def test_a_resume_between_published_and_stored(services: ServiceEndpoints, mongo_db_name: str) -> None:
    """Here (the process holding the run): exactly the patches after the resume point.
    Another process (storage only): the stored state, then the run's later changes once
    storage has them."""
    async with stack(services, mongo_db_name, persist_interval_ms=300) as (context, stubs):
        other = await ServerContext.open(
            make_settings(services, mongo_db_name, persist_interval_ms=300), with_workflows=False
        )
        try:
            execution_id, call, stored_first, published = await streamed_text(context, stubs, "x", "y")
            assert published.stored_version == stored_first.version < published.version
            here = context.service.watch(execution_id, after_version=published.version)
            there = other.service.watch(execution_id, after_version=published.version)
            try:
                # Here the resume point is current: nothing is missing, and the next patch follows it.
                assert await anext(here) is None
                after = await send(call, append(execution_id, 4, 2, "z"))
                event = await next_event(here)
                assert isinstance(event, PatchEvent)
                assert (event.base_version, event.version) == (published.version, after.version)
                # There, storage is behind the resume point: a fresh state replaces what the
                # watcher has, then the run's changes arrive as storage confirms them.
                state = await next_event(there)
                assert isinstance(state, StateEvent) and state.version < published.version
                seen = state
                while seen.version < after.version:
                    seen = await next_event(there)
                assert seen.version == after.version
                if isinstance(seen, StateEvent):
                    assert seen.body["status"]["messages"][0]["content"] == "xyz"
            finally:
                await here.aclose()
                await there.aclose()
            call.cancel()
        finally:
            await other.close()

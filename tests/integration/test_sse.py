"""Watching an execution live: SSE over a real uvicorn server, and gRPC subscribe (ARCHITECTURE.md, "Watching")."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import socket
import time

import grpc
import pytest
from prometheus_client import REGISTRY

from ai.stigmer.agentic.agent.v1.api_pb2 import Agent
from ai.stigmer.agentic.agentexecution.v1 import api_pb2, enum_pb2, io_pb2
from ai.stigmer.commons.apiresource import io_pb2 as resource_io_pb2
from api import sse
from api.routes import stream
from domain import convert
from persistence.bus import channel_for
from stigmer_service.context import ServerContext
from tests.utils.grpc_api import GrpcStubs
from tests.utils.http import (
    EXECUTIONS,
    HttpApi,
    SseEvent,
    as_states,
    collect_stream,
    create_execution,
    read_events,
    serve_app,
    status_with,
    wait_until,
)

IN_PROGRESS = enum_pb2.EXECUTION_IN_PROGRESS
COMPLETED = enum_pb2.EXECUTION_COMPLETED


def subscribe_path(execution_id: str) -> str:
    return f"{EXECUTIONS}/{execution_id}/subscribe"


async def run_to_completion(context: ServerContext, execution_id: str, steps: int, first_sequence: int = 1) -> int:
    """`steps` streaming updates, then COMPLETED; returns the final version."""
    texts: list[str] = []
    sequence = first_sequence
    for i in range(steps):
        texts.append(f"token {i}")
        await context.service.update_status(execution_id, status_with(IN_PROGRESS, *texts), sequence)
        sequence += 1
    final = await context.service.update_status(execution_id, status_with(COMPLETED, *texts, "done"), sequence)
    return final.status.version


def assert_states_then_end(
    events: list[SseEvent], *, last_id: int, first_id: int | None = None, after: int = 0,
    base: dict | None = None,
) -> list[SseEvent]:
    """States (patches applied, see `as_states`) with strictly increasing ids (all above
    `after`; the first one `first_id` when given), ending with the terminal `last_id`, then
    `end`. States in between may be conflated away for a slow reader; never reordered or
    repeated."""
    events = as_states(events, base)
    assert [e.event for e in events[:-1]] == ["state"] * (len(events) - 1), events
    states = events[:-1]
    ids = [int(e.id) for e in states]
    assert ids == sorted(set(ids)), f"ids not strictly increasing: {ids}"
    assert ids[0] > after and ids[-1] == last_id, ids
    assert first_id is None or ids[0] == first_id, ids
    for event in states:
        assert event.json()["version"] == int(event.id)
    assert states[-1].json()["status"]["phase"] == "EXECUTION_COMPLETED"
    assert events[-1].event == "end"
    assert events[-1].json() == {"phase": "EXECUTION_COMPLETED"}
    return states


@contextlib.asynccontextmanager
async def watching(api: HttpApi, execution_id: str, headers: dict[str, str] | None = None):
    """An SSE client running in the background; yields (task, first-state event)."""
    first = asyncio.Event()
    stream = collect_stream(api.client, subscribe_path(execution_id), headers=headers, first_state=first)
    task = asyncio.create_task(stream)
    try:
        yield task, first
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


# -- SSE ----------------------------------------------------------------------------------------


async def test_client_connected_first_sees_every_state_in_order_then_end(http_api: HttpApi, agent: Agent) -> None:
    execution_id = (await create_execution(http_api, agent))["metadata"]["id"]
    async with watching(http_api, execution_id) as (task, first):
        await asyncio.wait_for(first.wait(), 10)
        last_version = await run_to_completion(http_api.context, execution_id, steps=8)
        events = await asyncio.wait_for(task, 15)
    states = assert_states_then_end(events, first_id=1, last_id=last_version)
    assert states[0].json()["status"]["phase"] == "EXECUTION_PENDING"
    assert states[-1].json()["status"]["messages"][-1]["content"] == "done"


async def test_client_connecting_midway_gets_the_current_state_first(http_api: HttpApi, agent: Agent) -> None:
    execution_id = (await create_execution(http_api, agent))["metadata"]["id"]
    for sequence in (1, 2, 3):
        await http_api.context.service.update_status(execution_id, status_with(IN_PROGRESS, "a" * sequence), sequence)
    async with watching(http_api, execution_id) as (task, first):
        await asyncio.wait_for(first.wait(), 10)
        last_version = await run_to_completion(http_api.context, execution_id, steps=2, first_sequence=4)
        events = await asyncio.wait_for(task, 15)
    states = assert_states_then_end(events, first_id=4, last_id=last_version)
    assert states[0].json()["status"]["phase"] == "EXECUTION_IN_PROGRESS"
    assert states[0].json()["status"]["messages"][0]["content"] == "aaa"


async def test_resuming_with_last_event_id_sends_nothing_older(http_api: HttpApi, agent: Agent) -> None:
    context = http_api.context
    execution_id = (await create_execution(http_api, agent))["metadata"]["id"]
    await context.service.update_status(execution_id, status_with(IN_PROGRESS, "x"), 1)  # version 2
    held = (await http_api.client.get(f"{EXECUTIONS}/{execution_id}")).json()
    assert held["version"] == 2

    async with watching(http_api, execution_id, headers={"Last-Event-ID": "2"}) as (task, _):
        await wait_until(lambda: context.hub.watcher_count(execution_id) == 1, what="the watcher")
        last_version = await run_to_completion(context, execution_id, steps=2, first_sequence=2)
        events = await asyncio.wait_for(task, 15)
    assert_states_then_end(events, after=2, last_id=last_version, base=held)  # nothing at or below 2

    # Reconnecting after the end, when no one here watches it (no patches held): one
    # fresh state, then `end`.
    header = await collect_stream(http_api.client, subscribe_path(execution_id), headers={"Last-Event-ID": "3"})
    assert [(e.event, e.id) for e in header] == [("state", str(last_version)), ("end", None)]
    query = await collect_stream(http_api.client, f"{subscribe_path(execution_id)}?last_event_id=3")
    assert [(e.event, e.id) for e in query] == [("state", str(last_version)), ("end", None)]


async def test_resuming_with_the_final_id_gets_only_end(http_api: HttpApi, agent: Agent) -> None:
    execution_id = (await create_execution(http_api, agent))["metadata"]["id"]
    last_version = await run_to_completion(http_api.context, execution_id, steps=1)
    headers = {"Last-Event-ID": str(last_version)}
    events = await collect_stream(http_api.client, subscribe_path(execution_id), headers=headers)
    assert [e.event for e in events] == ["end"]
    assert events[0].json() == {"phase": "EXECUTION_COMPLETED"}


async def test_stream_headers_stop_proxy_buffering(http_api: HttpApi, agent: Agent) -> None:
    execution_id = (await create_execution(http_api, agent))["metadata"]["id"]
    await run_to_completion(http_api.context, execution_id, steps=0)
    async with http_api.client.stream("GET", subscribe_path(execution_id)) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"
        events = [e async for e in read_events(response)]
    assert [e.event for e in events] == ["state", "end"]


async def test_idle_streams_get_keepalive_comments(context: ServerContext, agent: Agent) -> None:
    settings = context.settings.model_copy(update={"sse_keepalive_seconds": 0.2})
    fast_pings = dataclasses.replace(context, settings=settings)
    async with serve_app(fast_pings) as api:
        execution_id = (await create_execution(api, agent))["metadata"]["id"]
        async with api.client.stream("GET", subscribe_path(execution_id)) as response:
            events = read_events(response)
            assert (await asyncio.wait_for(anext(events), 10)).event == "state"
            ping = await asyncio.wait_for(anext(events), 10)
            assert ping.comments and ping.comments[0].startswith("ping"), ping


async def test_unknown_execution_is_a_404_before_streaming(http_api: HttpApi) -> None:
    response = await http_api.client.get(subscribe_path("aex_does_not_exist"))
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", "99999999999999999999", "\u00b2"])
async def test_malformed_last_event_id_is_422(http_api: HttpApi, agent: Agent, value: str) -> None:
    execution_id = (await create_execution(http_api, agent))["metadata"]["id"]
    headers = {"Last-Event-ID": value.encode("latin-1")}
    response = await http_api.client.get(subscribe_path(execution_id), headers=headers)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_argument"


async def test_deleted_while_watched_ends_the_stream(
    http_api: HttpApi, agent: Agent, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http_api.context.hub, "_check_seconds", 0.2)  # deletes publish nothing
    execution_id = (await create_execution(http_api, agent))["metadata"]["id"]
    async with watching(http_api, execution_id) as (task, first):
        await asyncio.wait_for(first.wait(), 10)
        assert (await http_api.client.delete(f"{EXECUTIONS}/{execution_id}")).status_code == 200
        events = await asyncio.wait_for(task, 10)
    assert [e.event for e in events] == ["state", "end"]
    assert events[-1].json() == {"phase": "EXECUTION_PENDING", "deleted": True}


async def test_200_concurrent_watchers_all_get_the_terminal_state_over_one_subscription(
    context: ServerContext, agent: Agent
) -> None:
    watchers = 200
    async with serve_app(context, max_connections=watchers + 10) as api:
        execution_id = (await create_execution(api, agent))["metadata"]["id"]
        firsts = [asyncio.Event() for _ in range(watchers)]
        tasks = [
            asyncio.create_task(collect_stream(api.client, subscribe_path(execution_id), first_state=first))
            for first in firsts
        ]
        try:
            await asyncio.wait_for(asyncio.gather(*(f.wait() for f in firsts)), 30)
            assert context.hub.watcher_count(execution_id) == watchers
            assert context.hub.subscription_count == 1  # one Redis subscription, fanned out in memory
            last_version = await run_to_completion(context, execution_id, steps=3)
            results = await asyncio.wait_for(asyncio.gather(*tasks), 30)
        finally:
            for task in tasks:
                task.cancel()
        for events in map(as_states, results):
            assert events[-1].event == "end"
            assert int(events[-2].id) == last_version
            assert events[-2].json()["status"]["phase"] == "EXECUTION_COMPLETED"
            ids = [int(e.id) for e in events[:-1]]
            assert ids == sorted(set(ids))
        await wait_until(lambda: context.hub.subscription_count == 0, what="the hub to drop the subscription")
        assert context.hub.watcher_count() == 0
        await wait_until(lambda: redis_subscribers(context, execution_id, 0), what="Redis to drop the channel")


async def test_clients_leaving_midstream_release_the_subscription(context: ServerContext, agent: Agent) -> None:
    async with serve_app(context) as api:
        execution_id = (await create_execution(api, agent))["metadata"]["id"]
        firsts = [asyncio.Event() for _ in range(20)]
        tasks = [
            asyncio.create_task(collect_stream(api.client, subscribe_path(execution_id), first_state=first))
            for first in firsts
        ]
        await asyncio.wait_for(asyncio.gather(*(f.wait() for f in firsts)), 15)
        assert context.hub.watcher_count(execution_id) == 20
        await wait_until(lambda: redis_subscribers(context, execution_id, 1), what="the Redis subscription")

        for task in tasks[:10]:  # half leave; the others keep watching undisturbed
            task.cancel()
        await wait_until(lambda: context.hub.watcher_count(execution_id) == 10, what="10 watchers to go")
        last_version = await run_to_completion(context, execution_id, steps=1)
        for events in await asyncio.wait_for(asyncio.gather(*tasks[10:]), 15):
            assert events[-1].event == "end" and int(events[-2].id) == last_version

        await wait_until(lambda: context.hub.subscription_count == 0, what="the hub to drop the subscription")
        await wait_until(lambda: redis_subscribers(context, execution_id, 0), what="Redis to drop the channel")


async def test_last_client_leaving_unsubscribes_from_redis(http_api: HttpApi, agent: Agent) -> None:
    context = http_api.context
    execution_id = (await create_execution(http_api, agent))["metadata"]["id"]
    for _ in range(3):  # subscribe and leave again: nothing accumulates
        async with watching(http_api, execution_id) as (_, first):
            await asyncio.wait_for(first.wait(), 10)
            assert context.hub.subscription_count == 1
        await wait_until(lambda: context.hub.subscription_count == 0, what="the hub to drop the subscription")
        await wait_until(lambda: redis_subscribers(context, execution_id, 0), what="Redis to drop the channel")


async def redis_subscribers(context: ServerContext, execution_id: str, expected: int) -> bool:
    channel = channel_for(execution_id)
    [(_, count)] = await context.redis.pubsub_numsub(channel)
    return count == expected


# -- gRPC subscribe -------------------------------------------------------------------------------


async def read_rest(call) -> list[api_pb2.AgentExecution]:
    """Read a server stream to its end (read() and iteration cannot be mixed on one call)."""
    messages = []
    while (message := await asyncio.wait_for(call.read(), 15)) is not grpc.aio.EOF:
        messages.append(message)
    return messages


async def grpc_create(grpc_api: GrpcStubs, agent: Agent) -> str:
    request = api_pb2.AgentExecution()
    request.spec.message = "hello over gRPC"
    request.spec.agent_id = agent.metadata.id
    return (await grpc_api.commands.create(request)).metadata.id


async def grpc_update(
    grpc_api: GrpcStubs, execution_id: str, status: api_pb2.AgentExecutionStatus, sequence: int
) -> int:
    request = io_pb2.AgentExecutionUpdateStatusInput(execution_id=execution_id, status=status, sequence=sequence)
    return (await grpc_api.commands.updateStatus(request)).status.version


async def test_grpc_subscribe_streams_states_in_order_and_ends_after_the_terminal_one(
    grpc_api: GrpcStubs, agent: Agent
) -> None:
    execution_id = await grpc_create(grpc_api, agent)
    call = grpc_api.queries.subscribe(io_pb2.AgentExecutionId(value=execution_id))
    first = await asyncio.wait_for(call.read(), 10)
    assert first.status.version == 1 and first.status.phase == enum_pb2.EXECUTION_PENDING

    texts: list[str] = []
    for sequence in range(1, 7):
        texts.append(f"t{sequence}")
        await grpc_update(grpc_api, execution_id, status_with(IN_PROGRESS, *texts), sequence)
    last_version = await grpc_update(grpc_api, execution_id, status_with(COMPLETED, *texts), 7)

    rest = await read_rest(call)  # the server ends the stream
    versions = [first.status.version] + [m.status.version for m in rest]
    assert versions == sorted(set(versions)), versions
    assert versions[-1] == last_version
    assert rest[-1].status.phase == COMPLETED
    assert [m.content for m in rest[-1].status.messages] == texts
    assert await call.code() == grpc.StatusCode.OK


async def test_grpc_subscribe_midway_and_resume(grpc_api: GrpcStubs, agent: Agent) -> None:
    execution_id = await grpc_create(grpc_api, agent)
    await grpc_update(grpc_api, execution_id, status_with(IN_PROGRESS, "a"), 1)
    current = await grpc_update(grpc_api, execution_id, status_with(IN_PROGRESS, "a", "b"), 2)

    midway = grpc_api.queries.subscribe(io_pb2.AgentExecutionId(value=execution_id))
    assert (await asyncio.wait_for(midway.read(), 10)).status.version == current
    final = await grpc_update(grpc_api, execution_id, status_with(COMPLETED, "a", "b", "c"), 3)
    assert [m.status.version for m in await read_rest(midway)] == [final]

    resumed = grpc_api.queries.subscribe(
        io_pb2.AgentExecutionId(value=execution_id), metadata=(("last-event-id", str(final)),)
    )
    assert await read_rest(resumed) == []  # nothing newer than the final state
    assert await resumed.code() == grpc.StatusCode.OK


async def test_grpc_subscribe_matches_the_sse_body(grpc_api: GrpcStubs, http_api: HttpApi, agent: Agent) -> None:
    execution_id = await grpc_create(grpc_api, agent)
    await grpc_update(grpc_api, execution_id, status_with(COMPLETED, "done"), 1)
    [message] = await read_rest(grpc_api.queries.subscribe(io_pb2.AgentExecutionId(value=execution_id)))
    sse = await collect_stream(http_api.client, subscribe_path(execution_id))
    assert sse[0].json() == convert.execution_to_body(message)


async def test_grpc_subscribe_to_an_unknown_execution_is_not_found(grpc_api: GrpcStubs) -> None:
    call = grpc_api.queries.subscribe(io_pb2.AgentExecutionId(value="aex_unknown"))
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await call.read()
    assert failure.value.code() == grpc.StatusCode.NOT_FOUND


# -- leaks, keep-alives, races and slow clients ------------------------------------------------


async def test_keepalives_come_on_time_while_the_hub_checks_often(
    context: ServerContext, agent: Agent, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(context.hub, "_check_seconds", 0.05)  # re-reads the same state 20 times a second
    settings = context.settings.model_copy(update={"sse_keepalive_seconds": 0.3})
    async with serve_app(dataclasses.replace(context, settings=settings)) as api:
        execution_id = (await create_execution(api, agent))["metadata"]["id"]
        async with api.client.stream("GET", subscribe_path(execution_id)) as response:
            events = read_events(response)
            assert (await asyncio.wait_for(anext(events), 10)).event == "state"
            for _ in range(3):  # each within a little more than the keep-alive interval
                ping = await asyncio.wait_for(anext(events), 1.0)
                assert ping.comments and ping.comments[0].startswith("ping"), ping


async def test_clients_leaving_at_any_moment_of_joining_leave_no_watcher(
    http_api: HttpApi, agent: Agent
) -> None:
    context = http_api.context
    execution_id = (await create_execution(http_api, agent))["metadata"]["id"]

    async def open_stream() -> None:
        async with http_api.client.stream("GET", subscribe_path(execution_id)) as response:
            async for _ in response.aiter_bytes():
                pass

    for steps in range(0, 40, 2):
        task = asyncio.create_task(open_stream())
        for _ in range(steps):
            await asyncio.sleep(0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    await wait_until(lambda: context.hub.watcher_count() == 0, what="every watcher to go")
    await wait_until(lambda: context.hub.subscription_count == 0, what="the feed to close")
    await wait_until(lambda: redis_subscribers(context, execution_id, 0), what="Redis to drop the channel")


async def test_subscribing_while_the_execution_is_deleted_always_ends_cleanly(
    http_api: HttpApi, agent: Agent, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http_api.context.hub, "_check_seconds", 0.1)  # deletes publish nothing
    outcomes: list[str] = []
    for attempt in range(20):
        execution_id = (await create_execution(http_api, agent))["metadata"]["id"]
        stream = asyncio.create_task(_stream_or_status(http_api, subscribe_path(execution_id)))
        for _ in range(attempt):  # delete at a different moment of joining each time
            await asyncio.sleep(0)
        assert (await http_api.client.delete(f"{EXECUTIONS}/{execution_id}")).status_code == 200
        result = await asyncio.wait_for(stream, 15)
        if isinstance(result, int):
            assert result == 404
            outcomes.append("404")
        else:
            assert result and result[-1].event == "end", result
            assert result[-1].json()["deleted"] is True
            outcomes.append("end")
    assert set(outcomes) <= {"404", "end"}


async def _stream_or_status(api: HttpApi, path: str) -> int | list[SseEvent]:
    """The events of a stream, or the status code when it is refused."""
    async with api.client.stream("GET", path) as response:
        if response.status_code != 200:
            await response.aread()
            return response.status_code
        return [e async for e in read_events(response) if e.event != "message"]


async def test_grpc_subscribe_to_an_execution_deleted_while_watched_ends_not_found(
    grpc_api: GrpcStubs, agent: Agent, context: ServerContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(context.hub, "_check_seconds", 0.1)
    execution_id = await grpc_create(grpc_api, agent)
    call = grpc_api.queries.subscribe(io_pb2.AgentExecutionId(value=execution_id))
    assert (await asyncio.wait_for(call.read(), 10)).status.version == 1
    await grpc_api.commands.delete(resource_io_pb2.ApiResourceId(value=execution_id))
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await asyncio.wait_for(call.read(), 10)
    assert failure.value.code() == grpc.StatusCode.NOT_FOUND
    assert "deleted" in failure.value.details()


async def test_grpc_subscribes_cancelled_at_once_leave_no_watcher(
    grpc_api: GrpcStubs, agent: Agent, context: ServerContext
) -> None:
    execution_id = await grpc_create(grpc_api, agent)
    for steps in range(0, 60, 3):
        call = grpc_api.queries.subscribe(io_pb2.AgentExecutionId(value=execution_id))
        for _ in range(steps):
            await asyncio.sleep(0)
        call.cancel()
    await wait_until(lambda: context.hub.watcher_count() == 0, what="every watcher to go")
    await wait_until(lambda: context.hub.subscription_count == 0, what="the feed to close")
    await wait_until(lambda: redis_subscribers(context, execution_id, 0), what="Redis to drop the channel")


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@contextlib.asynccontextmanager
async def stalled_clients(api: HttpApi, path: str, count: int):
    """`count` clients that open the stream and then never read a byte."""
    host, port = api.base_url.removeprefix("http://").split(":")
    writers = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # fills at once
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
            # A small reader limit: asyncio stops reading the socket once it holds this.
            _reader, writer = await asyncio.open_connection(sock=sock, limit=4096)
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            await writer.drain()
            writers.append(writer)
        yield
    finally:
        for writer in writers:
            writer.close()


async def test_clients_that_never_read_cost_little_memory_however_large_the_state(
    http_api: HttpApi, agent: Agent
) -> None:
    context = http_api.context
    clients, size = 40, 2 * 1024 * 1024
    execution_id = (await create_execution(http_api, agent))["metadata"]["id"]
    async with stalled_clients(http_api, subscribe_path(execution_id), clients):
        await wait_until(lambda: context.hub.watcher_count(execution_id) == clients, what="the watchers")
        before = rss_bytes()
        for sequence, letter in enumerate("abc", start=1):
            await context.service.update_status(execution_id, status_with(IN_PROGRESS, letter * size), sequence)
        # Each watcher takes its states and writes what the socket lets it within moments;
        # watch the process while that happens.
        peak = before
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            peak = max(peak, rss_bytes())
            await asyncio.sleep(0.05)
        growth = peak - before
    # The states themselves (stored, published, decoded once) cost a fixed few copies;
    # each watcher adds a few pieces at most. A copy of the state per watcher (as when
    # each frame went whole into its socket's buffer) is 40 × 2 MiB and more.
    bound = 20 * 2**20 + clients * 8 * sse.PIECE_BYTES
    assert growth < bound, f"RSS grew {growth / 2**20:.0f} MiB (bound {bound / 2**20:.0f} MiB)"


async def test_a_client_that_stops_reading_is_dropped_after_the_send_timeout(
    http_api: HttpApi, agent: Agent, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stream, "SEND_TIMEOUT_SECONDS", 0.5)
    context = http_api.context
    dropped = REGISTRY.get_sample_value("stigmer_watchers_dropped_total", {"reason": "slow_client"}) or 0
    execution_id = (await create_execution(http_api, agent))["metadata"]["id"]
    async with stalled_clients(http_api, subscribe_path(execution_id), 3):
        await wait_until(lambda: context.hub.watcher_count(execution_id) == 3, what="the watchers")
        await context.service.update_status(execution_id, status_with(IN_PROGRESS, "x" * 6 * 2**20), 1)
        await wait_until(lambda: context.hub.watcher_count(execution_id) == 0, what="the slow watchers to go")
    after = REGISTRY.get_sample_value("stigmer_watchers_dropped_total", {"reason": "slow_client"})
    assert after == dropped + 3


async def test_resuming_a_running_execution_at_its_current_version_answers_at_once(
    http_api: HttpApi, agent: Agent
) -> None:
    context = http_api.context
    execution_id = (await create_execution(http_api, agent))["metadata"]["id"]
    version = (await context.service.update_status(execution_id, status_with(IN_PROGRESS, "x"), 1)).status.version
    headers = {"Last-Event-ID": str(version)}
    async with asyncio.timeout(2):  # well before the first keep-alive (5 s) is due
        async with http_api.client.stream("GET", subscribe_path(execution_id), headers=headers) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")

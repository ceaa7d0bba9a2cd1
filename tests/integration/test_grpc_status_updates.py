"""updateStatus and friends over real gRPC, MongoDB and Redis (ARCHITECTURE.md, "Status merge")."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from redis.asyncio import Redis

from ai.stigmer.agentic.agentexecution.v1 import api_pb2, enum_pb2, io_pb2
from ai.stigmer.commons.apiresource import io_pb2 as resource_io_pb2
from api.auth import ApiKeys
from persistence.bus import channel_for, decode_event
from tests.utils.grpc_api import open_grpc


async def create_execution(grpc_api, agent, message: str = "hello") -> api_pb2.AgentExecution:
    request = api_pb2.AgentExecution()
    request.spec.agent_id = agent.metadata.id
    request.spec.message = message
    return await grpc_api.commands.create(request)


def snapshot(phase: int, *texts: str, **fields) -> api_pb2.AgentExecutionStatus:
    status = api_pb2.AgentExecutionStatus(phase=phase, **fields)
    for text in texts:
        status.messages.add(type=enum_pb2.MESSAGE_AI, content=text)
    return status


async def test_create_persists_pending_with_a_new_session(grpc_api, agent) -> None:
    created = await create_execution(grpc_api, agent)
    assert created.metadata.id.startswith("aex_")
    assert created.status.phase == enum_pb2.EXECUTION_PENDING
    assert created.spec.session_id.startswith("ses_")
    fetched = await grpc_api.queries.get(io_pb2.AgentExecutionId(value=created.metadata.id))
    assert fetched == created


async def test_concurrent_updates_lose_nothing_and_version_grows_strictly(grpc_api, agent) -> None:
    created = await create_execution(grpc_api, agent)
    execution_id = created.metadata.id
    channels = [grpc.aio.insecure_channel(grpc_api.target) for _ in range(20)]
    try:
        from ai.stigmer.agentic.agentexecution.v1 import command_pb2_grpc

        async def send(i: int) -> int:
            stub = command_pb2_grpc.AgentExecutionCommandControllerStub(channels[i])
            status = api_pb2.AgentExecutionStatus(phase=enum_pb2.EXECUTION_IN_PROGRESS)
            status.todos[f"client-{i}"].content = f"from {i}"
            reply = await stub.updateStatus(
                io_pb2.AgentExecutionUpdateStatusInput(execution_id=execution_id, status=status)
            )
            return reply.status.version

        versions = await asyncio.gather(*(send(i) for i in range(20)))
    finally:
        for channel in channels:
            await channel.close()
    assert sorted(versions) == list(range(2, 22))  # every update applied, each its own version
    final = await grpc_api.queries.get(io_pb2.AgentExecutionId(value=execution_id))
    assert final.status.version == 21


async def test_redis_subscriber_sees_every_stored_state_in_version_order(grpc_api, agent, services) -> None:
    created = await create_execution(grpc_api, agent)
    execution_id = created.metadata.id
    redis = Redis.from_url(services.redis_url)
    pubsub = redis.pubsub()
    await pubsub.subscribe(channel_for(execution_id))
    await pubsub.get_message(timeout=2)  # the subscribe confirmation
    try:
        updates = [
            grpc_api.commands.updateStatus(
                io_pb2.AgentExecutionUpdateStatusInput(
                    execution_id=execution_id,
                    status=snapshot(enum_pb2.EXECUTION_IN_PROGRESS, f"token {i}"),
                )
            )
            for i in range(15)
        ]
        await asyncio.gather(*updates)
        seen: list[int] = []
        deadline = asyncio.get_running_loop().time() + 10
        while len(seen) < 15 and asyncio.get_running_loop().time() < deadline:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
            if message:
                seen.append(decode_event(message["data"]).version)
    finally:
        await pubsub.aclose()
        await redis.aclose()
    assert seen == list(range(2, 17))


async def test_old_style_update_with_only_messages_and_phase_works(grpc_api, agent) -> None:
    created = await create_execution(grpc_api, agent)
    # Exactly what Stigmer's own runner sends: no sequence, only messages and phase.
    reply = await grpc_api.commands.updateStatus(
        io_pb2.AgentExecutionUpdateStatusInput(
            execution_id=created.metadata.id,
            status=snapshot(enum_pb2.EXECUTION_IN_PROGRESS, "thinking"),
        )
    )
    assert reply.status.phase == enum_pb2.EXECUTION_IN_PROGRESS
    assert [m.content for m in reply.status.messages] == ["thinking"]
    assert reply.spec.message == "hello"  # spec never touched
    done = await grpc_api.commands.updateStatus(
        io_pb2.AgentExecutionUpdateStatusInput(
            execution_id=created.metadata.id,
            status=snapshot(enum_pb2.EXECUTION_COMPLETED, "thinking", "answer"),
        )
    )
    assert done.status.phase == enum_pb2.EXECUTION_COMPLETED
    assert done.status.version == 3


async def test_stale_sequence_is_acknowledged_without_change(grpc_api, agent) -> None:
    created = await create_execution(grpc_api, agent)
    send = grpc_api.commands.updateStatus
    newer = await send(io_pb2.AgentExecutionUpdateStatusInput(
        execution_id=created.metadata.id, sequence=5,
        status=snapshot(enum_pb2.EXECUTION_IN_PROGRESS, "a", "b")))
    older = await send(io_pb2.AgentExecutionUpdateStatusInput(
        execution_id=created.metadata.id, sequence=4,
        status=snapshot(enum_pb2.EXECUTION_IN_PROGRESS, "a")))
    assert older == newer  # nothing moved backwards, no new version


async def test_late_update_after_completed_is_refused_and_changes_nothing(grpc_api, agent) -> None:
    created = await create_execution(grpc_api, agent)
    send = grpc_api.commands.updateStatus
    final = await send(io_pb2.AgentExecutionUpdateStatusInput(
        execution_id=created.metadata.id, status=snapshot(enum_pb2.EXECUTION_COMPLETED, "done")))
    for late in (snapshot(enum_pb2.EXECUTION_IN_PROGRESS, "more"), snapshot(enum_pb2.EXECUTION_FAILED)):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await send(io_pb2.AgentExecutionUpdateStatusInput(execution_id=created.metadata.id, status=late))
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    again = await send(io_pb2.AgentExecutionUpdateStatusInput(
        execution_id=created.metadata.id, status=snapshot(enum_pb2.EXECUTION_COMPLETED, "done")))
    assert again == final
    assert await grpc_api.queries.get(io_pb2.AgentExecutionId(value=created.metadata.id)) == final


@pytest.mark.parametrize(
    "request_, code",
    [
        (io_pb2.AgentExecutionUpdateStatusInput(execution_id="aex_doesnotexist0000", status=snapshot(2)), grpc.StatusCode.NOT_FOUND),
        (io_pb2.AgentExecutionUpdateStatusInput(execution_id="", status=snapshot(2)), grpc.StatusCode.INVALID_ARGUMENT),
        (io_pb2.AgentExecutionUpdateStatusInput(execution_id="aex_x"), grpc.StatusCode.INVALID_ARGUMENT),
        (io_pb2.AgentExecutionUpdateStatusInput(execution_id='{"$gt": ""}', status=snapshot(2)), grpc.StatusCode.NOT_FOUND),
    ],
    ids=["unknown-id", "empty-id", "missing-status", "operator-payload-id"],
)
async def test_bad_update_input_gets_the_right_code(grpc_api, agent, request_, code) -> None:
    created = await create_execution(grpc_api, agent)
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await grpc_api.commands.updateStatus(request_)
    assert error.value.code() == code
    unchanged = await grpc_api.queries.get(io_pb2.AgentExecutionId(value=created.metadata.id))
    assert unchanged == created


async def test_get_and_delete_unknown_id_is_not_found(grpc_api) -> None:
    for call in (
        grpc_api.queries.get(io_pb2.AgentExecutionId(value="aex_missing000000")),
        grpc_api.commands.delete(resource_io_pb2.ApiResourceId(value="aex_missing000000")),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await call
        assert error.value.code() == grpc.StatusCode.NOT_FOUND


async def test_create_without_session_or_agent_is_invalid(grpc_api) -> None:
    request = api_pb2.AgentExecution()
    request.spec.message = "hi"
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await grpc_api.commands.create(request)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_list_by_session_pages_newest_first(grpc_api, agent) -> None:
    first = await create_execution(grpc_api, agent, "one")
    session_id = first.spec.session_id
    ids = [first.metadata.id]
    for text in ("two", "three"):
        request = api_pb2.AgentExecution()
        request.spec.session_id = session_id
        request.spec.message = text
        ids.append((await grpc_api.commands.create(request)).metadata.id)
    page1 = await grpc_api.queries.listBySession(
        io_pb2.ListAgentExecutionsBySessionRequest(session_id=session_id, page_size=2))
    assert [e.metadata.id for e in page1.entries] == ids[::-1][:2]
    assert page1.total_pages == 2 and page1.next_page_token
    page2 = await grpc_api.queries.listBySession(io_pb2.ListAgentExecutionsBySessionRequest(
        session_id=session_id, page_size=2, page_token=page1.next_page_token))
    assert [e.metadata.id for e in page2.entries] == [ids[0]]
    assert not page2.next_page_token


async def test_update_changes_spec_but_never_status(grpc_api, agent) -> None:
    created = await create_execution(grpc_api, agent)
    edit = api_pb2.AgentExecution()
    edit.metadata.id = created.metadata.id
    edit.spec.execution_config.model_name = "scripted:5"
    edit.status.phase = enum_pb2.EXECUTION_COMPLETED  # must be ignored
    updated = await grpc_api.commands.update(edit)
    assert updated.spec.execution_config.model_name == "scripted:5"
    assert updated.status.phase == enum_pb2.EXECUTION_PENDING


async def test_api_keys_are_required_when_configured(context, agent) -> None:
    server, stubs = await open_grpc(context, api_keys=ApiKeys(("k-one", "k-two")))
    try:
        request = api_pb2.AgentExecution()
        request.spec.agent_id = agent.metadata.id
        request.spec.message = "hi"
        for metadata in ((), (("authorization", "Bearer wrong"),), (("authorization", "k-one"),)):
            with pytest.raises(grpc.aio.AioRpcError) as error:
                await stubs.commands.create(request, metadata=metadata)
            assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED
        page = await context.service.list()
        assert page.total == 0  # nothing was stored by the refused calls
        created = await stubs.commands.create(request, metadata=(("authorization", "Bearer k-two"),))
        assert created.status.phase == enum_pb2.EXECUTION_PENDING
    finally:
        await stubs.channel.close()
        await server.stop(grace=None)


async def test_health_and_reflection_answer(grpc_api) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    health = health_pb2_grpc.HealthStub(grpc_api.channel)
    reply = await health.Check(health_pb2.HealthCheckRequest(
        service="ai.stigmer.agentic.agentexecution.v1.AgentExecutionCommandController"))
    assert reply.status == health_pb2.HealthCheckResponse.SERVING

    reflection = reflection_pb2_grpc.ServerReflectionStub(grpc_api.channel)
    responses = reflection.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    async for response in responses:
        names = {s.name for s in response.list_services_response.service}
        break
    assert {
        "ai.stigmer.agentic.agentexecution.v1.AgentExecutionCommandController",
        "ai.stigmer.agentic.agentexecution.v1.AgentExecutionQueryController",
        "grpc.health.v1.Health",
    } <= names


async def test_times_a_runner_leaves_out_are_stamped_by_the_service_and_sent_ones_kept(grpc_api, agent) -> None:
    """Stigmer's runner sends whole statuses without started_at or completed_at, and
    `dummy-local-key` as its bearer token when none is configured."""
    token = (("authorization", "Bearer dummy-local-key"),)

    async def send(execution_id: str, status: api_pb2.AgentExecutionStatus) -> api_pb2.AgentExecution:
        return await grpc_api.commands.updateStatus(
            io_pb2.AgentExecutionUpdateStatusInput(execution_id=execution_id, status=status), metadata=token
        )

    quiet = (await create_execution(grpc_api, agent)).metadata.id
    first = await send(quiet, snapshot(enum_pb2.EXECUTION_IN_PROGRESS, "thinking"))
    assert first.status.started_at and not first.status.completed_at
    again = await send(quiet, snapshot(enum_pb2.EXECUTION_IN_PROGRESS, "thinking more"))
    assert again.status.started_at == first.status.started_at  # stamped once, on entering
    final = await send(quiet, snapshot(enum_pb2.EXECUTION_COMPLETED, "done"))
    assert final.status.completed_at and final.status.started_at == first.status.started_at

    sent = (await create_execution(grpc_api, agent)).metadata.id
    naive = "2026-01-22T10:30:00"  # as Stigmer's runner writes times
    await send(sent, snapshot(enum_pb2.EXECUTION_IN_PROGRESS, "x", started_at=naive))
    ended = await send(sent, snapshot(enum_pb2.EXECUTION_FAILED, "x", completed_at="2026-01-22T10:31:00.5"))
    assert (ended.status.started_at, ended.status.completed_at) == (naive, "2026-01-22T10:31:00.5")

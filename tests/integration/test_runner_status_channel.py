"""The runner's status channel against real gRPC servers, MongoDB and Redis: patches where
the server has `applyStatusPatch`, whole statuses for the rest of the run where it answers
UNIMPLEMENTED (as Stigmer's own server does), nothing more once the execution ended."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import grpc
import pytest
from google.protobuf import json_format

from ai.stigmer.agentic.agentexecution.v1 import api_pb2, command_pb2, enum_pb2, io_pb2, patch_pb2
from api.grpc_server import CommandServicer
from domain.convert import to_json
from domain.status_changes import apply_changes
from infra import metrics
from runner.service_client import APPLY_STATUS_PATCH, ServiceClient
from runner.status_builder import StatusBuilder
from runner.status_sender import StatusSender
from stigmer_service.context import ServerContext

UPDATE_STATUS = "/ai.stigmer.agentic.agentexecution.v1.AgentExecutionCommandController/updateStatus"


class MethodLog(grpc.aio.ServerInterceptor):
    """Records the full name of every method called on the server."""

    def __init__(self) -> None:
        self.methods: list[str] = []

    async def intercept_service(self, continuation, handler_call_details):
        self.methods.append(handler_call_details.method)
        return await continuation(handler_call_details)


@pytest.fixture
async def stigmer_like_server(context: ServerContext) -> AsyncIterator[tuple[str, MethodLog]]:
    """A real gRPC server over the real service layer that, like Stigmer's, serves the
    command controller's `updateStatus` and has no `applyStatusPatch`."""
    calls = MethodLog()
    server = grpc.aio.server(
        interceptors=[calls], options=[("grpc.max_receive_message_length", 16 * 1024 * 1024)]
    )
    servicer = CommandServicer(context.service)
    service_name = command_pb2.DESCRIPTOR.services_by_name["AgentExecutionCommandController"].full_name
    server.add_generic_rpc_handlers([
        grpc.method_handlers_generic_handler(service_name, {
            "updateStatus": grpc.unary_unary_rpc_method_handler(
                servicer.updateStatus,
                request_deserializer=io_pb2.AgentExecutionUpdateStatusInput.FromString,
                response_serializer=api_pb2.AgentExecution.SerializeToString,
            ),
        })
    ])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield f"127.0.0.1:{port}", calls
    await server.stop(grace=None)


async def new_execution(context: ServerContext, agent) -> str:
    request = api_pb2.AgentExecution()
    request.spec.agent_id = agent.metadata.id
    request.spec.message = "stream to me"
    execution, _ = await context.service.create(request)
    return execution.metadata.id


async def stream_a_run(
    client: ServiceClient, execution_id: str, until_stored: Callable[[str], Awaitable[None]]
) -> tuple[StatusSender, api_pb2.AgentExecutionStatus]:
    """A run's status through the real sender, each step stored before the next: the
    final status sent."""
    sender = StatusSender(client.status_channel(execution_id), 0.01, first_sequence=1)
    builder = StatusBuilder("stream to me")
    sender.start(builder)
    builder.mark_in_progress()
    for step in range(5):
        builder.add_system_note(f"step {step}")
        await until_stored(f"step {step}")
    builder.mark_completed()
    assert await sender.close()
    return sender, builder.snapshot()


async def _until_stored(context: ServerContext, execution_id: str, text: str, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        stored = await context.service.get(execution_id)
        if any(m.content == text for m in stored.status.messages):
            return
        assert asyncio.get_running_loop().time() < deadline, f"{text!r} never stored"
        await asyncio.sleep(0.02)


async def test_server_without_apply_status_patch_gets_whole_statuses_for_the_rest_of_the_run(
    context: ServerContext, agent, stigmer_like_server
) -> None:
    target, calls = stigmer_like_server
    execution_id = await new_execution(context, agent)
    client = ServiceClient(target)
    try:
        sender, final = await stream_a_run(
            client, execution_id, lambda text: _until_stored(context, execution_id, text)
        )
    finally:
        await client.close()
    # One patch was tried, answered UNIMPLEMENTED; every later send was whole.
    assert calls.methods.count(APPLY_STATUS_PATCH) == 1
    assert calls.methods[calls.methods.index(APPLY_STATUS_PATCH) + 1:] == [UPDATE_STATUS] * (
        len(calls.methods) - calls.methods.index(APPLY_STATUS_PATCH) - 1
    )
    # The first status (with step 0), one per later step, the last: all whole.
    assert sender.whole_sends == calls.methods.count(UPDATE_STATUS) == 6
    stored = await context.service.get(execution_id)
    assert stored.status.phase == enum_pb2.EXECUTION_COMPLETED
    assert [m.content for m in stored.status.messages] == [m.content for m in final.messages]
    assert "step 4" in stored.status.messages[-1].content


async def test_ended_execution_stops_the_sending(context: ServerContext, agent, grpc_api) -> None:
    execution_id = await new_execution(context, agent)
    await context.service.update_status(
        execution_id, api_pb2.AgentExecutionStatus(phase=enum_pb2.EXECUTION_CANCELLED)
    )
    client = ServiceClient(grpc_api.target)
    try:
        channel = client.status_channel(execution_id)
        # The server refuses (FAILED_PRECONDITION): the channel takes that as the end.
        await channel.send_whole(api_pb2.AgentExecutionStatus(phase=enum_pb2.EXECUTION_IN_PROGRESS), 5)
        assert channel.ended
        answer = await channel.send_changes([{"set": {"error": "late"}}], 6)
        assert not answer.applied and not answer.resync_needed
    finally:
        await client.close()
    stored = await context.service.get(execution_id)
    assert stored.status.phase == enum_pb2.EXECUTION_CANCELLED
    assert stored.status.error != "late"


async def test_server_with_apply_status_patch_receives_patches_that_rebuild_the_status(
    context: ServerContext, agent
) -> None:
    """A gRPC server whose `applyStatusPatch` applies each patch with the shared
    `apply_changes` on top of the last whole status (a stand-in for the service's own,
    which lives elsewhere): the result is exactly what the runner has."""
    stored: dict = {}
    patches: list[int] = []
    servicer = CommandServicer(context.service)

    async def update_status(request, grpc_context):
        stored.clear()
        stored.update(to_json(request.status))
        return await servicer.updateStatus(request, grpc_context)

    async def apply_status_patch(request, grpc_context):
        body = json_format.MessageToDict(request, preserving_proto_field_name=True)
        applied = apply_changes(stored, body["changes"])
        stored.clear()
        stored.update(applied)
        patches.append(request.sequence)
        return patch_pb2.AgentExecutionStatusPatchResult(applied=True, stored_sequence=request.sequence)

    server = grpc.aio.server()
    service_name = command_pb2.DESCRIPTOR.services_by_name["AgentExecutionCommandController"].full_name
    server.add_generic_rpc_handlers([
        grpc.method_handlers_generic_handler(service_name, {
            "updateStatus": grpc.unary_unary_rpc_method_handler(
                update_status,
                request_deserializer=io_pb2.AgentExecutionUpdateStatusInput.FromString,
                response_serializer=api_pb2.AgentExecution.SerializeToString,
            ),
            "applyStatusPatch": grpc.unary_unary_rpc_method_handler(
                apply_status_patch,
                request_deserializer=patch_pb2.AgentExecutionStatusPatch.FromString,
                response_serializer=patch_pb2.AgentExecutionStatusPatchResult.SerializeToString,
            ),
        })
    ])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    execution_id = await new_execution(context, agent)
    client = ServiceClient(f"127.0.0.1:{port}")
    try:
        sender, final = await stream_a_run(
            client, execution_id, lambda text: _until(lambda: text in str(stored.get("messages")))
        )
    finally:
        await client.close()
        await server.stop(grace=None)
    assert sender.whole_sends == 1 and len(patches) >= 5
    assert patches == sorted(patches)
    assert stored == to_json(final)


async def _until(condition, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_against_this_service_a_run_streams_its_patches_and_closing_stores_them(
    context: ServerContext, agent, grpc_api
) -> None:
    def calls(method: str) -> float:
        return sum(
            metrics.GRPC_REQUESTS.labels(method=method, code=code)._value.get() for code in ("OK", "CANCELLED")
        )

    streams, unary = calls("streamStatusPatches"), calls("applyStatusPatch")
    execution_id = await new_execution(context, agent)
    client = ServiceClient(grpc_api.target)
    try:
        channel = client.status_channel(execution_id)
        sender = StatusSender(channel, 0.01, first_sequence=1)
        builder = StatusBuilder("stream to me")
        sender.start(builder)
        builder.mark_in_progress()
        for step in range(5):
            builder.add_system_note(f"step {step}")
            await _until_stored(context, execution_id, f"step {step}")
        builder.mark_completed()
        assert await sender.close()
        await channel.close()  # the stream ends once what it published is stored
    finally:
        await client.close()
    assert sender.whole_sends == 1 and sender.sent > 5
    assert calls("streamStatusPatches") == streams + 1  # one stream for the whole run
    assert calls("applyStatusPatch") == unary
    stored = await context.service.get(execution_id)
    assert stored.status.phase == enum_pb2.EXECUTION_COMPLETED
    assert to_json(stored.status) | {"version": 0} == to_json(builder.snapshot()) | {"version": 0}

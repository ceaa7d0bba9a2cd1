"""gRPC input is held to the same limits as REST, by the one validation layer: bad input
answers INVALID_ARGUMENT (or RESOURCE_EXHAUSTED), never UNKNOWN or internal text, and a
refused create leaves nothing behind (no orphan session)."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import struct_pb2

from ai.stigmer.agentic.agent.v1.api_pb2 import Agent
from ai.stigmer.agentic.agentexecution.v1 import api_pb2, enum_pb2, io_pb2
from stigmer_service.context import ServerContext
from tests.utils.grpc_api import GrpcStubs

COMMANDS = "/ai.stigmer.agentic.agentexecution.v1.AgentExecutionCommandController/"


def new_execution(agent: Agent) -> api_pb2.AgentExecution:
    execution = api_pb2.AgentExecution()
    execution.spec.agent_id = agent.metadata.id
    execution.spec.message = "hello"
    return execution


def nested_struct(depth: int) -> struct_pb2.Struct:
    root = struct_pb2.Struct()
    node = root
    for _ in range(depth):
        node = node.fields["a"].struct_value
    return root


async def expect_refused(call, codes=(grpc.StatusCode.INVALID_ARGUMENT,)) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await call
    assert error.value.code() in codes, (error.value.code(), error.value.details())
    details = error.value.details() or ""
    assert "Traceback" not in details and "bson" not in details.lower()
    return details


async def test_create_refuses_what_rest_refuses_and_leaves_no_session(
    grpc_api: GrpcStubs, context: ServerContext, agent: Agent
) -> None:
    too_many_labels = new_execution(agent)
    for i in range(65):
        too_many_labels.metadata.labels[f"k{i}"] = "v"
    nul_key = new_execution(agent)
    nul_key.metadata.labels["bad\x00key"] = "v"
    dollar_key = new_execution(agent)
    dollar_key.spec.runtime_env["$where"].value = "x"
    long_message = new_execution(agent)
    long_message.spec.message = "x" * (context.settings.max_message_chars + 1)
    for request in (too_many_labels, nul_key, dollar_key, long_message):
        await expect_refused(grpc_api.commands.create(request, timeout=10))
    sessions = await context.service.resources.sessions.list(agent_id=agent.metadata.id)
    assert sessions.total == 0  # nothing half-made


async def test_bytes_that_do_not_decode_are_invalid_argument_not_unknown(grpc_api: GrpcStubs) -> None:
    # AgentExecutionUpdateStatusInput{execution_id = <invalid UTF-8>}
    invalid_utf8 = bytes([1 << 3 | 2, 2, 0xFF, 0xFE])
    await expect_refused(grpc_api.channel.unary_unary(COMMANDS + "updateStatus")(invalid_utf8, timeout=10))
    truncated = bytes([1 << 3 | 2, 50]) + b"short"
    await expect_refused(grpc_api.channel.unary_unary(COMMANDS + "updateStatus")(truncated, timeout=10))


async def test_deeply_nested_tool_args_are_refused(
    grpc_api: GrpcStubs, context: ServerContext, agent: Agent
) -> None:
    created = await grpc_api.commands.create(new_execution(agent), timeout=10)
    status = api_pb2.AgentExecutionStatus(phase=enum_pb2.EXECUTION_IN_PROGRESS)
    status.tool_calls.add(id="c1", name="deep").args.CopyFrom(nested_struct(30))
    update = io_pb2.AgentExecutionUpdateStatusInput(execution_id=created.metadata.id, status=status)
    await expect_refused(grpc_api.commands.updateStatus(update, timeout=10))
    stored = await context.service.get(created.metadata.id)
    assert stored.status.phase == enum_pb2.EXECUTION_PENDING


async def test_an_absurd_last_event_id_is_invalid_argument(grpc_api: GrpcStubs, agent: Agent) -> None:
    created = await grpc_api.commands.create(new_execution(agent), timeout=10)
    stream = grpc_api.queries.subscribe(
        io_pb2.AgentExecutionId(value=created.metadata.id),
        metadata=(("last-event-id", "9" * 5000),),
        timeout=10,
    )

    async def drain() -> None:
        async for _ in stream:
            pass

    await expect_refused(drain())

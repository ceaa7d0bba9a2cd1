"""A context's gRPC server on a free port, and stubs of the execution controllers on it."""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from ai.stigmer.agentic.agentexecution.v1 import command_pb2_grpc, query_pb2_grpc
from api.auth import ApiKeys
from api.grpc_server import start_grpc_server
from stigmer_service.context import ServerContext


@dataclass
class GrpcStubs:
    target: str
    channel: grpc.aio.Channel
    commands: command_pb2_grpc.AgentExecutionCommandControllerStub
    queries: query_pb2_grpc.AgentExecutionQueryControllerStub


async def open_grpc(
    context: ServerContext, api_keys: ApiKeys | None = None
) -> tuple[grpc.aio.Server, GrpcStubs]:
    server, port = await start_grpc_server(
        context.service, host="127.0.0.1", port=0, api_keys=api_keys or ApiKeys(),
        workflow_domain=(context.workflows, context.workflow_executions),
    )
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    stubs = GrpcStubs(
        f"127.0.0.1:{port}",
        channel,
        command_pb2_grpc.AgentExecutionCommandControllerStub(channel),
        query_pb2_grpc.AgentExecutionQueryControllerStub(channel),
    )
    return server, stubs

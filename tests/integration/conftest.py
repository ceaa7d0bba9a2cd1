"""A server process's context (and its gRPC server) against the real backing services."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest

from ai.stigmer.agentic.agent.v1.api_pb2 import Agent
from ai.stigmer.agentic.agentexecution.v1 import command_pb2_grpc, query_pb2_grpc
from api.auth import ApiKeys
from api.grpc_server import start_grpc_server
from core.context import ServerContext
from core.resources import DEFAULT_MODEL_ANNOTATION
from core.settings import Settings
from devtools.embedded import ServiceEndpoints
from tests.utils.http import HttpApi, serve_app
from tests.utils.mcp_policy import TEST_MCP_POLICY, TEST_SANDBOX_MODE


def make_settings(services: ServiceEndpoints, db_name: str, **overrides) -> Settings:
    values = {"mcp_stdio_sandbox": TEST_SANDBOX_MODE, **TEST_MCP_POLICY, **overrides}
    return Settings(
        mongodb_uri=services.mongodb_uri,
        mongodb_database=db_name,
        redis_url=services.redis_url,
        temporal_address=services.temporal_address,
        **values,
    )


@pytest.fixture
async def context(services: ServiceEndpoints, mongo_db_name: str) -> AsyncIterator[ServerContext]:
    """The service layer on a fresh database, without workflows (nothing starts runs)."""
    ctx = await ServerContext.open(make_settings(services, mongo_db_name), with_workflows=False)
    yield ctx
    await ctx.mongo.drop_database(mongo_db_name)
    await ctx.close()


@pytest.fixture
async def agent(context: ServerContext) -> Agent:
    request = Agent()
    request.metadata.name = "helper"
    request.metadata.annotations[DEFAULT_MODEL_ANNOTATION] = "scripted"
    request.spec.instructions = "Be brief and precise."
    return await context.service.resources.create_agent(request)


@dataclass
class GrpcStubs:
    target: str
    channel: grpc.aio.Channel
    commands: command_pb2_grpc.AgentExecutionCommandControllerStub
    queries: query_pb2_grpc.AgentExecutionQueryControllerStub


async def open_grpc(context: ServerContext, api_keys: ApiKeys | None = None):
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


@pytest.fixture
async def grpc_api(context: ServerContext) -> AsyncIterator[GrpcStubs]:
    server, stubs = await open_grpc(context)
    yield stubs
    await stubs.channel.close()
    await server.stop(grace=None)


@pytest.fixture
async def http_api(context: ServerContext) -> AsyncIterator[HttpApi]:
    """The REST/SSE app of `context`, served by a real uvicorn server in this process."""
    async with serve_app(context) as api:
        yield api

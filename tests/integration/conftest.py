"""A server process's context (and its gRPC server) against the real backing services."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from ai.stigmer.agentic.agent.v1.api_pb2 import Agent
from devtools.embedded import ServiceEndpoints
from stigmer_service.context import ServerContext
from tests.utils.contexts import RUNNER, USER, opened_context, scripted_agent
from tests.utils.grpc_api import GrpcStubs, open_grpc
from tests.utils.http import HttpApi, serve_app
from tests.utils.mcp_probe import probe_over_http


@pytest.fixture
async def context(services: ServiceEndpoints, mongo_db_name: str) -> AsyncIterator[ServerContext]:
    """The service layer on a fresh database, without workflows (nothing starts runs)."""
    async with opened_context(services, mongo_db_name) as ctx:
        yield ctx


@pytest.fixture
async def keyed_context(services: ServiceEndpoints, mongo_db_name: str) -> AsyncIterator[ServerContext]:
    """Like `context`, checking keys (USER's and RUNNER's) and sealing secrets with a key of its own."""
    async with opened_context(
        services, mongo_db_name, api_keys=USER, runner_api_keys=RUNNER, secrets_key="test-secrets-key"
    ) as ctx:
        yield ctx


@pytest.fixture
async def agent(context: ServerContext) -> Agent:
    return await scripted_agent(context.service.resources)


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


@pytest.fixture(scope="module")
def probe_http_url() -> Iterator[str]:
    """The MCP probe server over streamable HTTP, in its own process."""
    with probe_over_http() as url:
        yield url

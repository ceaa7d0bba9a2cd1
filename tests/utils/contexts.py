"""Settings of a server context on the test services, a context opened on them, and the
agent most tests run."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from ai.stigmer.agentic.agent.v1.api_pb2 import Agent
from application.resources import ResourceService
from devtools.embedded import ServiceEndpoints
from domain.resource_rules import DEFAULT_MODEL_ANNOTATION
from infra.settings import Settings
from stigmer_service.context import ServerContext
from tests.utils.mcp_policy import TEST_MCP_POLICY, TEST_SANDBOX_MODE

# The keys of a server that checks them: a user's and a runner's (`keyed_context`).
USER, RUNNER = "user-key", "runner-key"


def make_settings(services: ServiceEndpoints, db_name: str, **overrides) -> Settings:
    values = {"mcp_stdio_sandbox": TEST_SANDBOX_MODE, **TEST_MCP_POLICY, **overrides}
    return Settings(
        mongodb_uri=services.mongodb_uri,
        mongodb_database=db_name,
        redis_url=services.redis_url,
        temporal_address=services.temporal_address,
        **values,
    )


@contextlib.asynccontextmanager
async def opened_context(services: ServiceEndpoints, db_name: str, **overrides) -> AsyncIterator[ServerContext]:
    """The service layer without workflows on database `db_name`, dropped at the end."""
    ctx = await ServerContext.open(make_settings(services, db_name, **overrides), with_workflows=False)
    try:
        yield ctx
    finally:
        await ctx.mongo.drop_database(db_name)
        await ctx.close()


async def scripted_agent(resources: ResourceService, name: str = "helper") -> Agent:
    """An agent on the scripted model, without tools."""
    request = Agent()
    request.metadata.name = name
    request.metadata.annotations[DEFAULT_MODEL_ANNOTATION] = "scripted"
    request.spec.instructions = "Be brief and precise."
    return await resources.agents.create(request)

"""The `demo` agent that `dev` and compose's `demo-agent` job seed."""

from __future__ import annotations

import asyncio

from core.context import ServerContext
from devtools.dev import seed_demo_agent
from devtools.embedded import ServiceEndpoints
from tests.integration.conftest import make_settings
from tests.utils.http import serve_app


async def test_a_server_that_allows_no_tool_server_still_gets_a_runnable_demo_agent(
    services: ServiceEndpoints, mongo_db_name: str
) -> None:
    # Compose's default policy: no stdio command is allowed until the operator lists one.
    settings = make_settings(services, mongo_db_name, mcp_stdio_commands="")
    context = await ServerContext.open(settings, with_workflows=False)
    async with serve_app(context) as api:
        agent_id = await asyncio.to_thread(seed_demo_agent, api.base_url, {})
        agent = (await api.client.get(f"/v1/agents/{agent_id}")).json()
        assert agent["metadata"]["name"] == "demo"
        assert agent["spec"].get("mcp_servers", []) == []
        # Seeding again finds it rather than making another.
        assert await asyncio.to_thread(seed_demo_agent, api.base_url, {}) == agent_id
    await context.mongo.drop_database(mongo_db_name)
    await context.close()

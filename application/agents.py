"""Agents: their use cases and the default instance each one gets.

Creating an agent also creates its default instance (application/agent_instances.py);
deleting one deletes its instances. What a valid agent is lives in
domain/resource_rules.py, what MCP servers it may declare in domain/mcp_policy.py.
Replies never carry secret values.
"""

from __future__ import annotations

from dataclasses import replace

from ai.stigmer.agentic.agent.v1 import api_pb2 as agent_pb2
from ai.stigmer.agentic.agentinstance.v1 import api_pb2 as instance_pb2
from ai.stigmer.commons.apiresource import io_pb2 as resource_io_pb2
from ai.stigmer.commons.apiresource.apiresourcekind import api_resource_kind_pb2 as kind_pb2
from application import resource_steps as steps
from application.agent_instances import AgentInstanceService
from domain.convert import keep_secrets, without_secrets
from domain.errors import InvalidArgument, NotFound
from domain.ids import is_valid_id, require_id
from domain.mcp_policy import McpPolicy
from domain.pages import Page
from domain.resource_rules import check_mcp_policy, validate_agent
from persistence.agents import AgentStore


class AgentService:
    def __init__(self, store: AgentStore, instances: AgentInstanceService, *, mcp_policy: McpPolicy) -> None:
        self.store = store
        self._instances = instances
        self.mcp_policy = mcp_policy

    def _validate(self, agent: agent_pb2.Agent) -> None:
        validate_agent(agent)
        check_mcp_policy(agent, self.mcp_policy)

    async def create(self, request: agent_pb2.Agent) -> agent_pb2.Agent:
        self._validate(request)
        agent = steps.new_state(request, "Agent", "agt", name_from_id=True)
        stored = await steps.insert(self.store, agent)
        try:
            instance = await self._instances.create(_default_instance_of(stored))
        except Exception:
            await self.store.delete(stored.metadata.id)  # no agent without its default instance
            raise
        stored.status.default_instance_id = instance.metadata.id
        return without_secrets(await self.store.replace(stored))

    async def update(self, request: agent_pb2.Agent) -> agent_pb2.Agent:
        self._validate(request)
        current = await self.store.get(require_id(request.metadata.id, "agent"))
        agent = steps.updated_state(current, request)
        keep_secrets(agent, current)
        return without_secrets(await steps.replace(self.store, agent))

    async def apply(self, request: agent_pb2.Agent) -> agent_pb2.Agent:
        """Create, or update the agent with this id or slug (declarative, like `kubectl apply`)."""
        self._validate(request)
        return await steps.apply(self.store, request, self.create, self.update)

    async def delete(self, agent_id: str) -> agent_pb2.Agent:
        deleted = await self.store.delete(require_id(agent_id, "agent"))
        await self._instances.delete_of_agent(deleted.metadata.id)
        return without_secrets(deleted)

    async def get(self, agent_id: str) -> agent_pb2.Agent:
        return without_secrets(await self.store.get(require_id(agent_id, "agent")))

    async def find(self, id_or_name: str) -> agent_pb2.Agent:
        """By id (`agt_…`), else by slug or name."""
        if not id_or_name:
            raise InvalidArgument("agent id or name is required")
        if id_or_name.startswith("agt_") and is_valid_id(id_or_name):
            return without_secrets(await self.store.get(id_or_name))
        found = await self.store.find_by_slug_or_name(id_or_name)
        if found is None:
            raise NotFound(f"agent {id_or_name!r} not found")
        return without_secrets(found)

    async def get_by_reference(self, ref: resource_io_pb2.ApiResourceReference) -> agent_pb2.Agent:
        return without_secrets(await steps.by_reference(self.store, ref, kind_pb2.agent))

    async def list(self, page_size: int = 20, page_token: str = "") -> Page[agent_pb2.Agent]:
        steps.check_page_size(page_size)
        page = await self.store.page(page_size, page_token)
        return replace(page, entries=[without_secrets(a) for a in page.entries])


def _default_instance_of(agent: agent_pb2.Agent) -> instance_pb2.AgentInstance:
    instance = instance_pb2.AgentInstance()
    instance.metadata.name = f"{agent.metadata.slug}-default"
    instance.metadata.org = agent.metadata.org
    instance.spec.agent_id = agent.metadata.id
    instance.spec.description = "Default instance (auto-created, no custom configuration)"
    return instance

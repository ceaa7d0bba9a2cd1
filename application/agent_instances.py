"""Agent instances: an agent deployed with its own configuration (environments).

Every agent has a default instance, made with it (application/agents.py); what a valid
instance is lives in domain/resource_rules.py.
"""

from __future__ import annotations

from ai.stigmer.agentic.agent.v1 import api_pb2 as agent_pb2
from ai.stigmer.agentic.agentinstance.v1 import api_pb2 as instance_pb2, io_pb2 as instance_io_pb2
from ai.stigmer.commons.apiresource import io_pb2 as resource_io_pb2
from ai.stigmer.commons.apiresource.apiresourcekind import api_resource_kind_pb2 as kind_pb2
from application import resource_steps as steps
from domain.errors import InvalidArgument
from domain.ids import require_id
from domain.resource_rules import validate_instance
from persistence.agents import AgentInstanceStore, AgentStore


class AgentInstanceService:
    def __init__(self, store: AgentInstanceStore, agents: AgentStore) -> None:
        self.store = store
        self._agents = agents

    async def create(self, request: instance_pb2.AgentInstance) -> instance_pb2.AgentInstance:
        validate_instance(request)
        await self._agent(request.spec.agent_id)
        instance = steps.new_state(request, "AgentInstance", "ain", name_from_id=True)
        return await steps.insert(self.store, instance)

    async def update(self, request: instance_pb2.AgentInstance) -> instance_pb2.AgentInstance:
        validate_instance(request)
        current = await self.get(request.metadata.id)
        if request.spec.agent_id != current.spec.agent_id:
            raise InvalidArgument("spec.agent_id of an agent instance cannot change")
        instance = steps.updated_state(current, request)
        return await steps.replace(self.store, instance)

    async def apply(self, request: instance_pb2.AgentInstance) -> instance_pb2.AgentInstance:
        validate_instance(request)
        return await steps.apply(self.store, request, self.create, self.update)

    async def delete(self, instance_id: str) -> instance_pb2.AgentInstance:
        return await self.store.delete(require_id(instance_id, "agent instance"))

    async def delete_of_agent(self, agent_id: str) -> None:
        await self.store.delete_instances_of(agent_id)

    async def get(self, instance_id: str) -> instance_pb2.AgentInstance:
        return await self.store.get(require_id(instance_id, "agent instance"))

    async def get_by_reference(self, ref: resource_io_pb2.ApiResourceReference) -> instance_pb2.AgentInstance:
        return await steps.by_reference(self.store, ref, kind_pb2.agent_instance)

    async def of_agent(
        self, request: instance_io_pb2.GetAgentInstancesByAgentRequest
    ) -> instance_io_pb2.AgentInstanceList:
        """An agent's instances, oldest first; `page_info` (1-based `num`, `size`) pages them."""
        agent = await self._agent(request.agent_id)
        items = await self.store.instances_of(agent.metadata.id)
        page = request.page_info
        if page.num < 0 or page.size < 0:
            raise InvalidArgument("page_info.num and page_info.size must not be negative")
        total = len(items)
        if page.size:
            start = (max(page.num, 1) - 1) * page.size
            items = items[start : start + page.size]
        return instance_io_pb2.AgentInstanceList(total_count=total, items=items)

    async def ids_of(self, agent_or_instance_id: str) -> list[str]:
        """An instance's own id, or the ids of an agent's instances."""
        if agent_or_instance_id.startswith("ain_"):
            return [agent_or_instance_id]
        instances = await self.store.instances_of(agent_or_instance_id)
        return [i.metadata.id for i in instances]

    async def _agent(self, agent_id: str) -> agent_pb2.Agent:
        return await self._agents.get(require_id(agent_id, "agent"))

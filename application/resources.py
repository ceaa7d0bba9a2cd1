"""Agents, agent instances and sessions: their use cases, defaults and the execution chain.

Stigmer's resource chain: an execution runs in a session, a session belongs to an agent
instance, an instance deploys an agent. Creating an agent also creates its default
instance; an execution that names only an agent gets a new session on that instance.

Both transports (gRPC servicers, REST routes) call this one service; what a valid
resource is lives in domain/resource_rules.py, and persistence only stores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from ai.stigmer.agentic.agent.v1 import api_pb2 as agent_pb2
from ai.stigmer.agentic.agentinstance.v1 import api_pb2 as instance_pb2, io_pb2 as instance_io_pb2
from ai.stigmer.agentic.session.v1 import api_pb2 as session_pb2
from ai.stigmer.commons.apiresource import io_pb2 as resource_io_pb2
from ai.stigmer.commons.apiresource.apiresourcekind import api_resource_kind_pb2 as kind_pb2
from application import resource_steps as steps
from domain.convert import keep_secrets, without_secrets
from domain.errors import InvalidArgument, NotFound
from domain.ids import is_valid_id, require_id
from domain.mcp_policy import McpPolicy
from domain.pages import Page
from domain.resource_rules import (
    check_mcp_policy,
    validate_agent,
    validate_instance,
    validate_session,
)
from persistence.agents import AgentInstanceStore, AgentStore, ResourceStore, SessionStore

R = TypeVar("R", agent_pb2.Agent, instance_pb2.AgentInstance, session_pb2.Session)




@dataclass(frozen=True)
class ExecutionTarget:
    """What an execution runs against."""

    session: session_pb2.Session
    instance: instance_pb2.AgentInstance
    agent: agent_pb2.Agent




# -- the service ------------------------------------------------------------------------


class ResourceService:
    def __init__(
        self,
        agents: AgentStore,
        instances: AgentInstanceStore,
        sessions: SessionStore,
        *,
        mcp_policy: McpPolicy,
    ) -> None:
        self.agents = agents
        self.instances = instances
        self.sessions = sessions
        self.mcp_policy = mcp_policy

    def _validate_agent(self, agent: agent_pb2.Agent) -> None:
        validate_agent(agent)
        check_mcp_policy(agent, self.mcp_policy)

    # -- agents ---------------------------------------------------------------------

    async def create_agent(self, request: agent_pb2.Agent) -> agent_pb2.Agent:
        self._validate_agent(request)
        agent = steps.new_state(request, "Agent", "agt", name_from_id=True)
        agent.ClearField("status")
        stored = await steps.insert(self.agents, agent)
        try:
            instance = await self.create_instance(_default_instance_of(stored))
        except Exception:
            await self.agents.delete(stored.metadata.id)  # no agent without its default instance
            raise
        stored.status.default_instance_id = instance.metadata.id
        return without_secrets(await self.agents.replace(stored))

    async def update_agent(self, request: agent_pb2.Agent) -> agent_pb2.Agent:
        self._validate_agent(request)
        current = await self.agents.get(require_id(request.metadata.id, "agent"))
        agent = steps.updated_state(current, request)
        agent.status.CopyFrom(current.status)  # status is the service's, never the client's
        keep_secrets(agent, current)
        return without_secrets(await steps.replace(self.agents, agent))

    async def apply_agent(self, request: agent_pb2.Agent) -> agent_pb2.Agent:
        """Create, or update the agent with this id or slug (declarative, like `kubectl apply`)."""
        self._validate_agent(request)
        return await steps.apply(self.agents, request, self.create_agent, self.update_agent)

    async def delete_agent(self, agent_id: str) -> agent_pb2.Agent:
        deleted = await self.agents.delete(require_id(agent_id, "agent"))
        await self.instances.delete_instances_of(deleted.metadata.id)
        return without_secrets(deleted)

    async def get_agent(self, agent_id: str) -> agent_pb2.Agent:
        return without_secrets(await self.agents.get(require_id(agent_id, "agent")))

    async def find_agent(self, id_or_name: str) -> agent_pb2.Agent:
        """By id (`agt_…`), else by slug or name."""
        if not id_or_name:
            raise InvalidArgument("agent id or name is required")
        if id_or_name.startswith("agt_") and is_valid_id(id_or_name):
            return without_secrets(await self.agents.get(id_or_name))
        found = await self.agents.find_by_slug_or_name(id_or_name)
        if found is None:
            raise NotFound(f"agent {id_or_name!r} not found")
        return without_secrets(found)

    async def get_agent_by_reference(self, ref: resource_io_pb2.ApiResourceReference) -> agent_pb2.Agent:
        return without_secrets(await _by_reference(self.agents, ref, kind_pb2.agent))

    async def list_agents(self, page_size: int = 20, page_token: str = "") -> Page[agent_pb2.Agent]:
        _page_size(page_size)
        page = await self.agents.page(page_size, page_token)
        return Page([without_secrets(a) for a in page.entries], page.next_page_token, page.total, page.total_pages)

    # -- agent instances ------------------------------------------------------------

    async def create_instance(self, request: instance_pb2.AgentInstance) -> instance_pb2.AgentInstance:
        validate_instance(request)
        await self.get_agent(request.spec.agent_id)
        instance = steps.new_state(request, "AgentInstance", "ain", name_from_id=True)
        instance.ClearField("status")
        return await steps.insert(self.instances, instance)

    async def update_instance(self, request: instance_pb2.AgentInstance) -> instance_pb2.AgentInstance:
        validate_instance(request)
        current = await self.get_instance(request.metadata.id)
        if request.spec.agent_id != current.spec.agent_id:
            raise InvalidArgument("spec.agent_id of an agent instance cannot change")
        instance = steps.updated_state(current, request)
        instance.status.CopyFrom(current.status)
        return await steps.replace(self.instances, instance)

    async def apply_instance(self, request: instance_pb2.AgentInstance) -> instance_pb2.AgentInstance:
        validate_instance(request)
        return await steps.apply(self.instances, request, self.create_instance, self.update_instance)

    async def delete_instance(self, instance_id: str) -> instance_pb2.AgentInstance:
        return await self.instances.delete(require_id(instance_id, "agent instance"))

    async def get_instance(self, instance_id: str) -> instance_pb2.AgentInstance:
        return await self.instances.get(require_id(instance_id, "agent instance"))

    async def get_instance_by_reference(
        self, ref: resource_io_pb2.ApiResourceReference
    ) -> instance_pb2.AgentInstance:
        return await _by_reference(self.instances, ref, kind_pb2.agent_instance)

    async def instances_of_agent(
        self, request: instance_io_pb2.GetAgentInstancesByAgentRequest
    ) -> instance_io_pb2.AgentInstanceList:
        """An agent's instances, oldest first; `page_info` (1-based `num`, `size`) pages them."""
        agent = await self.get_agent(request.agent_id)
        items = await self.instances.instances_of(agent.metadata.id)
        page = request.page_info
        if page.num < 0 or page.size < 0:
            raise InvalidArgument("page_info.num and page_info.size must not be negative")
        total = len(items)
        if page.size:
            start = (max(page.num, 1) - 1) * page.size
            items = items[start : start + page.size]
        return instance_io_pb2.AgentInstanceList(total_count=total, items=items)

    # -- sessions -------------------------------------------------------------------

    async def create_session(self, request: session_pb2.Session) -> session_pb2.Session:
        validate_session(request)
        await self.get_instance(request.spec.agent_instance_id)
        session = steps.new_state(request, "Session", "ses", name_from_id=True)
        session.ClearField("status")
        session.spec.thread_id = session.spec.thread_id or f"thread_{session.metadata.id}"
        return await self.sessions.insert(session)

    async def update_session(self, request: session_pb2.Session) -> session_pb2.Session:
        validate_session(request)
        current = await self.get_session(request.metadata.id)
        if request.spec.agent_instance_id != current.spec.agent_instance_id:
            raise InvalidArgument("spec.agent_instance_id of a session cannot change")
        session = steps.updated_state(current, request)
        session.spec.thread_id = session.spec.thread_id or current.spec.thread_id
        session.status.CopyFrom(current.status)
        return await self.sessions.replace(session)

    async def apply_session(self, request: session_pb2.Session) -> session_pb2.Session:
        """Sessions have no unique name: apply updates the one with this id, else creates."""
        validate_session(request)
        known = request.metadata.id and is_valid_id(request.metadata.id)
        if known and await self.sessions.find(request.metadata.id) is not None:
            return await self.update_session(request)
        return await self.create_session(request)

    async def delete_session(self, session_id: str) -> session_pb2.Session:
        return await self.sessions.delete(require_id(session_id, "session"))

    async def get_session(self, session_id: str) -> session_pb2.Session:
        return await self.sessions.get(require_id(session_id, "session"))

    async def list_sessions(
        self, *, agent_id: str = "", page_size: int = 20, page_token: str = ""
    ) -> Page[session_pb2.Session]:
        """Newest first. `agent_id` is an agent (all its instances) or an agent instance."""
        _page_size(page_size)
        if not agent_id:
            return await self.sessions.page(page_size, page_token)
        if not is_valid_id(agent_id):
            raise InvalidArgument("agent_id is not a valid id")
        instance_ids = await self._instance_ids(agent_id)
        return await self.sessions.page_of_instances(instance_ids, page_size, page_token)

    async def list_sessions_of_agent(
        self, agent_id: str, *, page_size: int = 20, page_token: str = ""
    ) -> Page[session_pb2.Session]:
        if not agent_id:
            raise InvalidArgument("agent_id is required")
        return await self.list_sessions(agent_id=agent_id, page_size=page_size, page_token=page_token)

    async def _instance_ids(self, agent_or_instance_id: str) -> list[str]:
        if agent_or_instance_id.startswith("ain_"):
            return [agent_or_instance_id]
        instances = await self.instances.instances_of(agent_or_instance_id)
        return [i.metadata.id for i in instances]

    # -- the execution chain --------------------------------------------------------

    async def resolve_execution_target(self, session_id: str, agent_id: str, subject: str = "") -> ExecutionTarget:
        """session → instance → agent; with only an agent, a new session on its default instance."""
        if session_id:
            session = await self.get_session(session_id)
            instance = await self.get_instance(session.spec.agent_instance_id)
            agent = await self.get_agent(instance.spec.agent_id)
            if agent_id and agent_id != agent.metadata.id:
                raise InvalidArgument(
                    f"session {session_id!r} belongs to agent {agent.metadata.id!r}, not {agent_id!r}"
                )
            return ExecutionTarget(session, instance, agent)
        if not agent_id:
            raise InvalidArgument("spec.session_id or spec.agent_id is required")
        agent = await self.get_agent(agent_id)
        if not agent.status.default_instance_id:
            raise NotFound(f"agent {agent_id!r} has no default instance")
        instance = await self.get_instance(agent.status.default_instance_id)
        request = session_pb2.Session()
        request.spec.agent_instance_id = instance.metadata.id
        request.spec.subject = subject[:200]
        session = await self.create_session(request)
        return ExecutionTarget(session, instance, agent)



def _page_size(page_size: int) -> None:
    if page_size < 0:
        raise InvalidArgument("page_size must not be negative")


def _default_instance_of(agent: agent_pb2.Agent) -> instance_pb2.AgentInstance:
    instance = instance_pb2.AgentInstance()
    instance.metadata.name = f"{agent.metadata.slug}-default"
    instance.metadata.org = agent.metadata.org
    instance.spec.agent_id = agent.metadata.id
    instance.spec.description = "Default instance (auto-created, no custom configuration)"
    return instance


async def _by_reference(store: ResourceStore[R], ref: resource_io_pb2.ApiResourceReference, kind: int) -> R:
    if ref.kind not in (kind_pb2.api_resource_kind_unknown, kind):
        raise InvalidArgument(f"reference kind must be {kind_pb2.ApiResourceKind.Name(kind)}")
    if not ref.slug:
        raise InvalidArgument("reference slug is required")
    return await steps.by_slug(store, ref.slug)

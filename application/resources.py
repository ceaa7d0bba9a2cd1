"""Agents, agent instances, sessions and the execution target, wired together.

Each concept has its own module: application/agents.py, application/agent_instances.py,
application/sessions.py, application/execution_target.py. This one builds them over
their stores, for the transports (`resources.agents`, `.instances`, `.sessions`) and
the execution service (the three calls it makes, below).
"""

from __future__ import annotations

from ai.stigmer.agentic.agent.v1 import api_pb2 as agent_pb2
from ai.stigmer.agentic.session.v1 import api_pb2 as session_pb2
from application.agent_instances import AgentInstanceService
from application.agents import AgentService
from application.execution_target import ExecutionTarget, ExecutionTargets
from application.sessions import SessionService
from domain.mcp_policy import McpPolicy
from persistence.agents import AgentInstanceStore, AgentStore, SessionStore


class ResourceService:
    def __init__(
        self,
        agents: AgentStore,
        instances: AgentInstanceStore,
        sessions: SessionStore,
        *,
        mcp_policy: McpPolicy,
    ) -> None:
        self.instances = AgentInstanceService(instances, agents)
        self.agents = AgentService(agents, self.instances, mcp_policy=mcp_policy)
        self.sessions = SessionService(sessions, self.instances)
        self.targets = ExecutionTargets(self.agents, self.instances, self.sessions)

    async def find_agent(self, id_or_name: str) -> agent_pb2.Agent:
        return await self.agents.find(id_or_name)

    async def delete_session(self, session_id: str) -> session_pb2.Session:
        return await self.sessions.delete(session_id)

    async def resolve_execution_target(self, session_id: str, agent_id: str, subject: str = "") -> ExecutionTarget:
        return await self.targets.resolve(session_id, agent_id, subject)

"""What an execution runs against: Stigmer's chain session → agent instance → agent.

An execution runs in a session, a session belongs to an agent instance, an instance
deploys an agent. An execution that names only an agent gets a new session on that
agent's default instance.
"""

from __future__ import annotations

from dataclasses import dataclass

from ai.stigmer.agentic.agent.v1 import api_pb2 as agent_pb2
from ai.stigmer.agentic.agentinstance.v1 import api_pb2 as instance_pb2
from ai.stigmer.agentic.session.v1 import api_pb2 as session_pb2
from application.agent_instances import AgentInstanceService
from application.agents import AgentService
from application.sessions import SessionService
from domain.errors import InvalidArgument, NotFound


@dataclass(frozen=True)
class ExecutionTarget:
    """What an execution runs against."""

    session: session_pb2.Session
    instance: instance_pb2.AgentInstance
    agent: agent_pb2.Agent


class ExecutionTargets:
    def __init__(self, agents: AgentService, instances: AgentInstanceService, sessions: SessionService) -> None:
        self._agents = agents
        self._instances = instances
        self._sessions = sessions

    async def resolve(self, session_id: str, agent_id: str, subject: str = "") -> ExecutionTarget:
        """session → instance → agent; with only an agent, a new session on its default instance."""
        if session_id:
            session = await self._sessions.get(session_id)
            instance = await self._instances.get(session.spec.agent_instance_id)
            agent = await self._agents.get(instance.spec.agent_id)
            if agent_id and agent_id != agent.metadata.id:
                raise InvalidArgument(
                    f"session {session_id!r} belongs to agent {agent.metadata.id!r}, not {agent_id!r}"
                )
            return ExecutionTarget(session, instance, agent)
        if not agent_id:
            raise InvalidArgument("spec.session_id or spec.agent_id is required")
        agent = await self._agents.get(agent_id)
        if not agent.status.default_instance_id:
            raise NotFound(f"agent {agent_id!r} has no default instance")
        instance = await self._instances.get(agent.status.default_instance_id)
        request = session_pb2.Session()
        request.spec.agent_instance_id = instance.metadata.id
        request.spec.subject = subject[:200]
        session = await self._sessions.create(request)
        return ExecutionTarget(session, instance, agent)

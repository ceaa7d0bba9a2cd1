"""Sessions: the conversations executions run in, each on one agent instance.

An execution that names only an agent gets a new session on the agent's default instance
(application/execution_target.py). What a valid session is lives in
domain/resource_rules.py.
"""

from __future__ import annotations

from ai.stigmer.agentic.session.v1 import api_pb2 as session_pb2
from application import resource_steps as steps
from application.agent_instances import AgentInstanceService
from domain.errors import InvalidArgument
from domain.ids import is_valid_id, require_id
from domain.pages import Page
from domain.resource_rules import validate_session
from persistence.agents import SessionStore


class SessionService:
    def __init__(self, store: SessionStore, instances: AgentInstanceService) -> None:
        self.store = store
        self._instances = instances

    async def create(self, request: session_pb2.Session) -> session_pb2.Session:
        validate_session(request)
        await self._instances.get(request.spec.agent_instance_id)
        session = steps.new_state(request, "Session", "ses", name_from_id=True)
        session.spec.thread_id = session.spec.thread_id or f"thread_{session.metadata.id}"
        return await self.store.insert(session)

    async def update(self, request: session_pb2.Session) -> session_pb2.Session:
        validate_session(request)
        current = await self.get(request.metadata.id)
        if request.spec.agent_instance_id != current.spec.agent_instance_id:
            raise InvalidArgument("spec.agent_instance_id of a session cannot change")
        session = steps.updated_state(current, request)
        session.spec.thread_id = session.spec.thread_id or current.spec.thread_id
        return await self.store.replace(session)

    async def apply(self, request: session_pb2.Session) -> session_pb2.Session:
        """Sessions have no unique name: apply updates the one with this id, else creates."""
        validate_session(request)
        known = request.metadata.id and is_valid_id(request.metadata.id)
        if known and await self.store.find(request.metadata.id) is not None:
            return await self.update(request)
        return await self.create(request)

    async def delete(self, session_id: str) -> session_pb2.Session:
        return await self.store.delete(require_id(session_id, "session"))

    async def get(self, session_id: str) -> session_pb2.Session:
        return await self.store.get(require_id(session_id, "session"))

    async def list(
        self, *, agent_id: str = "", page_size: int = 20, page_token: str = ""
    ) -> Page[session_pb2.Session]:
        """Newest first. `agent_id` is an agent (all its instances) or an agent instance."""
        steps.check_page_size(page_size)
        if not agent_id:
            return await self.store.page(page_size, page_token)
        if not is_valid_id(agent_id):
            raise InvalidArgument("agent_id is not a valid id")
        instance_ids = await self._instances.ids_of(agent_id)
        return await self.store.page_of_instances(instance_ids, page_size, page_token)

    async def list_of_agent(
        self, agent_id: str, *, page_size: int = 20, page_token: str = ""
    ) -> Page[session_pb2.Session]:
        if not agent_id:
            raise InvalidArgument("agent_id is required")
        return await self.list(agent_id=agent_id, page_size=page_size, page_token=page_token)

"""gRPC servicers of Stigmer's agent, agent-instance and session controllers.

Thin: each method calls its use case (application/agents.py, application/agent_instances.py,
application/sessions.py) and never touches the call context; errors map
to status codes in `unary` (api/grpc_common.py).
"""

from __future__ import annotations

import grpc

from ai.stigmer.agentic.agent.v1 import (
    api_pb2 as agent_pb2,
    command_pb2 as agent_command_pb2,
    command_pb2_grpc as agent_command_grpc,
    io_pb2 as agent_io_pb2,
    query_pb2 as agent_query_pb2,
    query_pb2_grpc as agent_query_grpc,
)
from ai.stigmer.agentic.agentinstance.v1 import (
    api_pb2 as instance_pb2,
    command_pb2 as instance_command_pb2,
    command_pb2_grpc as instance_command_grpc,
    io_pb2 as instance_io_pb2,
    query_pb2 as instance_query_pb2,
    query_pb2_grpc as instance_query_grpc,
)
from ai.stigmer.agentic.session.v1 import (
    api_pb2 as session_pb2,
    command_pb2 as session_command_pb2,
    command_pb2_grpc as session_command_grpc,
    io_pb2 as session_io_pb2,
    query_pb2 as session_query_pb2,
    query_pb2_grpc as session_query_grpc,
)
from api.grpc_common import GrpcContext, ReadMethods, WriteMethods, register, unary
from application.agent_instances import AgentInstanceService
from application.resources import ResourceService
from application.sessions import SessionService
from domain.pages import Page


class AgentCommandServicer(WriteMethods[agent_pb2.Agent], agent_command_grpc.AgentCommandControllerServicer):
    @unary
    async def delete(self, request: agent_io_pb2.AgentId, context: GrpcContext) -> agent_pb2.Agent:
        return await self._service.delete(request.value)


class AgentQueryServicer(ReadMethods[agent_pb2.Agent], agent_query_grpc.AgentQueryControllerServicer):
    @unary
    async def get(self, request: agent_io_pb2.AgentId, context: GrpcContext) -> agent_pb2.Agent:
        return await self._service.get(request.value)


class AgentInstanceCommandServicer(
    WriteMethods[instance_pb2.AgentInstance], instance_command_grpc.AgentInstanceCommandControllerServicer
):
    @unary
    async def delete(
        self, request: instance_io_pb2.AgentInstanceId, context: GrpcContext
    ) -> instance_pb2.AgentInstance:
        return await self._service.delete(request.value)


class AgentInstanceQueryServicer(
    ReadMethods[instance_pb2.AgentInstance], instance_query_grpc.AgentInstanceQueryControllerServicer
):
    def __init__(self, instances: AgentInstanceService) -> None:
        super().__init__(instances)
        self._instances = instances

    @unary
    async def get(
        self, request: instance_io_pb2.AgentInstanceId, context: GrpcContext
    ) -> instance_pb2.AgentInstance:
        return await self._service.get(request.value)

    @unary
    async def getByAgent(
        self, request: instance_io_pb2.GetAgentInstancesByAgentRequest, context: GrpcContext
    ) -> instance_io_pb2.AgentInstanceList:
        return await self._instances.of_agent(request)


class SessionCommandServicer(WriteMethods[session_pb2.Session], session_command_grpc.SessionCommandControllerServicer):
    @unary
    async def delete(self, request: session_io_pb2.SessionId, context: GrpcContext) -> session_pb2.Session:
        return await self._service.delete(request.value)


class SessionQueryServicer(session_query_grpc.SessionQueryControllerServicer):
    def __init__(self, sessions: SessionService) -> None:
        self._sessions = sessions

    @unary
    async def get(self, request: session_io_pb2.SessionId, context: GrpcContext) -> session_pb2.Session:
        return await self._sessions.get(request.value)

    @unary
    async def list(
        self, request: session_io_pb2.ListSessionsRequest, context: GrpcContext
    ) -> session_io_pb2.SessionList:
        page = await self._sessions.list(page_size=request.page_size, page_token=request.page_token)
        return _session_list(page)

    @unary
    async def listByAgent(
        self, request: session_io_pb2.ListSessionsByAgentRequest, context: GrpcContext
    ) -> session_io_pb2.SessionList:
        page = await self._sessions.list_of_agent(
            request.agent_id, page_size=request.page_size, page_token=request.page_token
        )
        return _session_list(page)


def _session_list(page: Page[session_pb2.Session]) -> session_io_pb2.SessionList:
    return session_io_pb2.SessionList(
        total_pages=page.total_pages, entries=page.entries, next_page_token=page.next_page_token
    )


def add_resource_servicers(resources: ResourceService, server: grpc.aio.Server) -> tuple[str, ...]:
    """Register the six controllers; returns their full service names (for health, reflection)."""
    agents, instances, sessions = resources.agents, resources.instances, resources.sessions
    return register(server, (
        (agent_command_pb2, "AgentCommandController", agent_command_grpc, AgentCommandServicer(agents)),
        (agent_query_pb2, "AgentQueryController", agent_query_grpc, AgentQueryServicer(agents)),
        (instance_command_pb2, "AgentInstanceCommandController", instance_command_grpc,
         AgentInstanceCommandServicer(instances)),
        (instance_query_pb2, "AgentInstanceQueryController", instance_query_grpc, AgentInstanceQueryServicer(instances)),
        (session_command_pb2, "SessionCommandController", session_command_grpc, SessionCommandServicer(sessions)),
        (session_query_pb2, "SessionQueryController", session_query_grpc, SessionQueryServicer(sessions)),
    ))

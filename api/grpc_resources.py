"""gRPC servicers of Stigmer's agent, agent-instance and session controllers.

Thin: each method calls application/resources.py and never touches the call context; errors map
to status codes in `_unary`.
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
from ai.stigmer.commons.apiresource import io_pb2 as resource_io_pb2
from api.grpc_server import Context, _unary
from application.resources import ResourcePage, ResourceService
from persistence.pagination import clamp_page_size


class AgentCommandServicer(agent_command_grpc.AgentCommandControllerServicer):
    def __init__(self, resources: ResourceService) -> None:
        self._resources = resources

    @_unary
    async def apply(self, request: agent_pb2.Agent, context: Context) -> agent_pb2.Agent:
        return await self._resources.apply_agent(request)

    @_unary
    async def create(self, request: agent_pb2.Agent, context: Context) -> agent_pb2.Agent:
        return await self._resources.create_agent(request)

    @_unary
    async def update(self, request: agent_pb2.Agent, context: Context) -> agent_pb2.Agent:
        return await self._resources.update_agent(request)

    @_unary
    async def delete(self, request: agent_io_pb2.AgentId, context: Context) -> agent_pb2.Agent:
        return await self._resources.delete_agent(request.value)


class AgentQueryServicer(agent_query_grpc.AgentQueryControllerServicer):
    def __init__(self, resources: ResourceService) -> None:
        self._resources = resources

    @_unary
    async def get(self, request: agent_io_pb2.AgentId, context: Context) -> agent_pb2.Agent:
        return await self._resources.get_agent(request.value)

    @_unary
    async def getByReference(
        self, request: resource_io_pb2.ApiResourceReference, context: Context
    ) -> agent_pb2.Agent:
        return await self._resources.get_agent_by_reference(request)


class AgentInstanceCommandServicer(instance_command_grpc.AgentInstanceCommandControllerServicer):
    def __init__(self, resources: ResourceService) -> None:
        self._resources = resources

    @_unary
    async def apply(
        self, request: instance_pb2.AgentInstance, context: Context
    ) -> instance_pb2.AgentInstance:
        return await self._resources.apply_instance(request)

    @_unary
    async def create(
        self, request: instance_pb2.AgentInstance, context: Context
    ) -> instance_pb2.AgentInstance:
        return await self._resources.create_instance(request)

    @_unary
    async def update(
        self, request: instance_pb2.AgentInstance, context: Context
    ) -> instance_pb2.AgentInstance:
        return await self._resources.update_instance(request)

    @_unary
    async def delete(
        self, request: instance_io_pb2.AgentInstanceId, context: Context
    ) -> instance_pb2.AgentInstance:
        return await self._resources.delete_instance(request.value)


class AgentInstanceQueryServicer(instance_query_grpc.AgentInstanceQueryControllerServicer):
    def __init__(self, resources: ResourceService) -> None:
        self._resources = resources

    @_unary
    async def get(
        self, request: instance_io_pb2.AgentInstanceId, context: Context
    ) -> instance_pb2.AgentInstance:
        return await self._resources.get_instance(request.value)

    @_unary
    async def getByAgent(
        self, request: instance_io_pb2.GetAgentInstancesByAgentRequest, context: Context
    ) -> instance_io_pb2.AgentInstanceList:
        return await self._resources.instances_of_agent(request)

    @_unary
    async def getByReference(
        self, request: resource_io_pb2.ApiResourceReference, context: Context
    ) -> instance_pb2.AgentInstance:
        return await self._resources.get_instance_by_reference(request)


class SessionCommandServicer(session_command_grpc.SessionCommandControllerServicer):
    def __init__(self, resources: ResourceService) -> None:
        self._resources = resources

    @_unary
    async def apply(self, request: session_pb2.Session, context: Context) -> session_pb2.Session:
        return await self._resources.apply_session(request)

    @_unary
    async def create(self, request: session_pb2.Session, context: Context) -> session_pb2.Session:
        return await self._resources.create_session(request)

    @_unary
    async def update(self, request: session_pb2.Session, context: Context) -> session_pb2.Session:
        return await self._resources.update_session(request)

    @_unary
    async def delete(self, request: session_io_pb2.SessionId, context: Context) -> session_pb2.Session:
        return await self._resources.delete_session(request.value)


class SessionQueryServicer(session_query_grpc.SessionQueryControllerServicer):
    def __init__(self, resources: ResourceService) -> None:
        self._resources = resources

    @_unary
    async def get(self, request: session_io_pb2.SessionId, context: Context) -> session_pb2.Session:
        return await self._resources.get_session(request.value)

    @_unary
    async def list(
        self, request: session_io_pb2.ListSessionsRequest, context: Context
    ) -> session_io_pb2.SessionList:
        page = await self._resources.list_sessions(page_size=request.page_size, page_token=request.page_token)
        return _session_list(page, request.page_size)

    @_unary
    async def listByAgent(
        self, request: session_io_pb2.ListSessionsByAgentRequest, context: Context
    ) -> session_io_pb2.SessionList:
        page = await self._resources.list_sessions_of_agent(
            request.agent_id, page_size=request.page_size, page_token=request.page_token
        )
        return _session_list(page, request.page_size)


def _session_list(page: ResourcePage[session_pb2.Session], page_size: int) -> session_io_pb2.SessionList:
    size = clamp_page_size(page_size)
    return session_io_pb2.SessionList(
        total_pages=(page.total + size - 1) // size, entries=page.entries, next_page_token=page.next_page_token
    )


_REGISTRATIONS = (
    (agent_command_pb2, "AgentCommandController", agent_command_grpc, AgentCommandServicer),
    (agent_query_pb2, "AgentQueryController", agent_query_grpc, AgentQueryServicer),
    (instance_command_pb2, "AgentInstanceCommandController", instance_command_grpc, AgentInstanceCommandServicer),
    (instance_query_pb2, "AgentInstanceQueryController", instance_query_grpc, AgentInstanceQueryServicer),
    (session_command_pb2, "SessionCommandController", session_command_grpc, SessionCommandServicer),
    (session_query_pb2, "SessionQueryController", session_query_grpc, SessionQueryServicer),
)


def add_resource_servicers(resources: ResourceService, server: grpc.aio.Server) -> tuple[str, ...]:
    """Register the six controllers; returns their full service names (for health, reflection)."""
    names = []
    for module, service, grpc_module, servicer in _REGISTRATIONS:
        getattr(grpc_module, f"add_{service}Servicer_to_server")(servicer(resources), server)
        names.append(module.DESCRIPTOR.services_by_name[service].full_name)
    return tuple(names)

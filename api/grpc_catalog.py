"""gRPC servicers of Stigmer's skill, environment and execution-context controllers.

Thin: each method calls its use case (application/skills.py, application/environments.py,
application/execution_contexts.py); errors map to status codes in `unary` (api/grpc_common.py). Reads of secrets
are in the clear only for a runner's key (`api/auth.py`, `reads_secrets`).
"""

from __future__ import annotations

import grpc

from ai.stigmer.agentic.environment.v1 import (
    api_pb2 as environment_pb2,
    command_pb2 as environment_command_pb2,
    command_pb2_grpc as environment_command_grpc,
    query_pb2 as environment_query_pb2,
    query_pb2_grpc as environment_query_grpc,
)
from ai.stigmer.agentic.executioncontext.v1 import (
    api_pb2 as context_pb2,
    command_pb2 as context_command_pb2,
    command_pb2_grpc as context_command_grpc,
    io_pb2 as context_io_pb2,
    query_pb2 as context_query_pb2,
    query_pb2_grpc as context_query_grpc,
)
from ai.stigmer.agentic.skill.v1 import (
    api_pb2 as skill_pb2,
    command_pb2 as skill_command_pb2,
    command_pb2_grpc as skill_command_grpc,
    io_pb2 as skill_io_pb2,
    query_pb2 as skill_query_pb2,
    query_pb2_grpc as skill_query_grpc,
)
from ai.stigmer.commons.apiresource import io_pb2 as resource_io_pb2
from api.auth import ApiKeys, reads_secrets
from api.grpc_common import GrpcContext, WriteMethods, register, unary
from application.environments import EnvironmentService
from application.execution_contexts import ExecutionContextService
from application.executions import ExecutionService
from application.skills import SkillService
from domain.errors import Unavailable


def _reveals(keys: ApiKeys, context: GrpcContext) -> bool:
    header = dict(context.invocation_metadata() or ()).get("authorization")
    return reads_secrets(keys.authenticate(header if isinstance(header, str) else None))


class SkillCommandServicer(skill_command_grpc.SkillCommandControllerServicer):
    def __init__(self, skills: SkillService) -> None:
        self._skills = skills

    @unary
    async def push(self, request: skill_io_pb2.PushSkillRequest, context: GrpcContext) -> skill_pb2.Skill:
        return await self._skills.push(request)

    @unary
    async def delete(self, request: skill_io_pb2.SkillId, context: GrpcContext) -> skill_pb2.Skill:
        return await self._skills.delete(request.value)


class SkillQueryServicer(skill_query_grpc.SkillQueryControllerServicer):
    def __init__(self, skills: SkillService) -> None:
        self._skills = skills

    @unary
    async def get(self, request: skill_io_pb2.SkillId, context: GrpcContext) -> skill_pb2.Skill:
        return await self._skills.get(request.value)

    @unary
    async def getByReference(
        self, request: resource_io_pb2.ApiResourceReference, context: GrpcContext
    ) -> skill_pb2.Skill:
        return await self._skills.get_by_reference(request)

    @unary
    async def getArtifact(
        self, request: skill_io_pb2.GetArtifactRequest, context: GrpcContext
    ) -> skill_io_pb2.GetArtifactResponse:
        return skill_io_pb2.GetArtifactResponse(artifact=await self._skills.get_artifact(request.artifact_storage_key))


class EnvironmentCommandServicer(
    WriteMethods[environment_pb2.Environment], environment_command_grpc.EnvironmentCommandControllerServicer
):
    @unary
    async def delete(
        self, request: resource_io_pb2.ApiResourceDeleteInput, context: GrpcContext
    ) -> environment_pb2.Environment:
        return await self._service.delete(request.resource_id)


class EnvironmentQueryServicer(environment_query_grpc.EnvironmentQueryControllerServicer):
    def __init__(self, environments: EnvironmentService, keys: ApiKeys) -> None:
        self._environments = environments
        self._keys = keys

    @unary
    async def get(self, request: resource_io_pb2.ApiResourceId, context: GrpcContext) -> environment_pb2.Environment:
        return await self._environments.get(request.value, reveal=_reveals(self._keys, context))

    @unary
    async def getByReference(
        self, request: resource_io_pb2.ApiResourceReference, context: GrpcContext
    ) -> environment_pb2.Environment:
        return await self._environments.get_by_reference(request, reveal=_reveals(self._keys, context))


class ExecutionContextCommandServicer(context_command_grpc.ExecutionContextCommandControllerServicer):
    def __init__(self, contexts: ExecutionContextService) -> None:
        self._contexts = contexts

    @unary
    async def apply(self, request: context_pb2.ExecutionContext, context: GrpcContext) -> context_pb2.ExecutionContext:
        return await self._contexts.apply(request)

    @unary
    async def create(self, request: context_pb2.ExecutionContext, context: GrpcContext) -> context_pb2.ExecutionContext:
        return await self._contexts.create(request)

    @unary
    async def delete(
        self, request: resource_io_pb2.ApiResourceDeleteInput, context: GrpcContext
    ) -> context_pb2.ExecutionContext:
        return await self._contexts.delete(request.resource_id)


class ExecutionContextQueryServicer(context_query_grpc.ExecutionContextQueryControllerServicer):
    def __init__(self, contexts: ExecutionContextService, keys: ApiKeys) -> None:
        self._contexts = contexts
        self._keys = keys

    @unary
    async def get(
        self, request: context_io_pb2.ExecutionContextId, context: GrpcContext
    ) -> context_pb2.ExecutionContext:
        return await self._contexts.get(request.value, reveal=_reveals(self._keys, context))

    @unary
    async def getByReference(
        self, request: resource_io_pb2.ApiResourceReference, context: GrpcContext
    ) -> context_pb2.ExecutionContext:
        return await self._contexts.get_by_reference(request, reveal=_reveals(self._keys, context))


def add_catalog_servicers(service: ExecutionService, server: grpc.aio.Server, keys: ApiKeys) -> tuple[str, ...]:
    """Register the six controllers; returns their full service names (for health, reflection)."""
    if service.skills is None or service.environments is None or service.execution_contexts is None:
        raise Unavailable("skills, environments and execution contexts are not configured")
    return register(server, (
        (skill_command_pb2, "SkillCommandController", skill_command_grpc, SkillCommandServicer(service.skills)),
        (skill_query_pb2, "SkillQueryController", skill_query_grpc, SkillQueryServicer(service.skills)),
        (environment_command_pb2, "EnvironmentCommandController", environment_command_grpc,
         EnvironmentCommandServicer(service.environments)),
        (environment_query_pb2, "EnvironmentQueryController", environment_query_grpc,
         EnvironmentQueryServicer(service.environments, keys)),
        (context_command_pb2, "ExecutionContextCommandController", context_command_grpc,
         ExecutionContextCommandServicer(service.execution_contexts)),
        (context_query_pb2, "ExecutionContextQueryController", context_query_grpc,
         ExecutionContextQueryServicer(service.execution_contexts, keys)),
    ))

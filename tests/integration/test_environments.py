"""Environments and execution contexts over real gRPC and REST: secrets sealed at rest,
redacted for users, clear for runners; execution contexts live as long as their execution."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest
from google.protobuf import json_format

from ai.stigmer.agentic.agent.v1.api_pb2 import Agent
from ai.stigmer.agentic.agentexecution.v1 import api_pb2 as execution_pb2, enum_pb2 as phases
from ai.stigmer.agentic.environment.v1 import (
    api_pb2 as environment_pb2,
    command_pb2_grpc as environment_commands,
    query_pb2_grpc as environment_queries,
)
from ai.stigmer.agentic.executioncontext.v1 import (
    api_pb2 as context_pb2,
    command_pb2_grpc as context_commands,
    io_pb2 as context_io,
    query_pb2_grpc as context_queries,
)
from ai.stigmer.commons.apiresource import enum_pb2 as scopes, io_pb2 as resource_io
from ai.stigmer.commons.apiresource.apiresourcekind import api_resource_kind_pb2 as kinds
from api.auth import ApiKeys
from domain.errors import InvalidArgument
from domain.resource_rules import DEFAULT_MODEL_ANNOTATION
from stigmer_service.context import ServerContext
from tests.utils.contexts import RUNNER, USER
from tests.utils.grpc_api import open_grpc
from tests.utils.http import serve_app

AS_USER = (("authorization", f"Bearer {USER}"),)
AS_RUNNER = (("authorization", f"Bearer {RUNNER}"),)
SECRET = "ghp_s3cr3t-token-value"


@dataclass
class Api:
    context: ServerContext
    environments: environment_commands.EnvironmentCommandControllerStub
    environment_queries: environment_queries.EnvironmentQueryControllerStub
    contexts: context_commands.ExecutionContextCommandControllerStub
    context_queries: context_queries.ExecutionContextQueryControllerStub


@pytest.fixture
async def api(keyed_context: ServerContext) -> AsyncIterator[Api]:
    server, stubs = await open_grpc(keyed_context, api_keys=ApiKeys(users=(USER,), runners=(RUNNER,)))
    channel = stubs.channel
    yield Api(
        keyed_context,
        environment_commands.EnvironmentCommandControllerStub(channel),
        environment_queries.EnvironmentQueryControllerStub(channel),
        context_commands.ExecutionContextCommandControllerStub(channel),
        context_queries.ExecutionContextQueryControllerStub(channel),
    )
    await channel.close()
    await server.stop(grace=None)


def github_environment(name: str = "github") -> environment_pb2.Environment:
    return json_format.ParseDict(
        {
            "metadata": {"name": name, "owner_scope": "organization", "org": "acme"},
            "spec": {
                "description": "GitHub access",
                "data": {
                    "GITHUB_TOKEN": {"value": SECRET, "is_secret": True, "description": "a PAT"},
                    "GITHUB_ORG": {"value": "acme"},
                },
            },
        },
        environment_pb2.Environment(),
    )


async def raw_documents(context: ServerContext, collection: str) -> str:
    return json.dumps([doc async for doc in context.db[collection].find({})], default=str)


async def test_secret_values_are_sealed_at_rest_and_redacted_for_users(api: Api) -> None:
    created = await api.environments.create(github_environment(), metadata=AS_USER)
    assert created.metadata.id.startswith("env_")
    assert created.metadata.slug == "github"
    assert created.spec.data["GITHUB_TOKEN"].value == ""  # redacted in the answer too
    assert created.spec.data["GITHUB_TOKEN"].is_secret
    assert created.spec.data["GITHUB_ORG"].value == "acme"

    stored = await raw_documents(api.context, "environments")
    assert SECRET not in stored and "s3cr3t" not in stored
    assert "acme" in stored  # plain values stay readable

    by_id = resource_io.ApiResourceId(value=created.metadata.id)
    ref = resource_io.ApiResourceReference(kind=kinds.environment, slug="github")
    for read in (api.environment_queries.get(by_id, metadata=AS_USER),
                 api.environment_queries.getByReference(ref, metadata=AS_USER)):
        assert (await read).spec.data["GITHUB_TOKEN"].value == ""
    for read in (api.environment_queries.get(by_id, metadata=AS_RUNNER),
                 api.environment_queries.getByReference(ref, metadata=AS_RUNNER)):
        assert (await read).spec.data["GITHUB_TOKEN"].value == SECRET


async def test_an_update_that_sends_a_secret_back_redacted_keeps_it(api: Api) -> None:
    created = await api.environments.create(github_environment(), metadata=AS_USER)
    edit = environment_pb2.Environment()
    edit.CopyFrom(created)  # as a user read it: the secret is ""
    edit.spec.data["GITHUB_ORG"].value = "acme-two"
    edit.spec.data["EXTRA"].value = "x"
    updated = await api.environments.update(edit, metadata=AS_USER)
    assert updated.status.version == created.status.version + 1
    clear = await api.environment_queries.get(resource_io.ApiResourceId(value=created.metadata.id), metadata=AS_RUNNER)
    assert clear.spec.data["GITHUB_TOKEN"].value == SECRET
    assert clear.spec.data["GITHUB_ORG"].value == "acme-two"

    rotated = environment_pb2.Environment()
    rotated.CopyFrom(edit)
    rotated.spec.data["GITHUB_TOKEN"].value = "ghp_rotated"
    applied = await api.environments.apply(rotated, metadata=AS_USER)
    assert applied.metadata.id == created.metadata.id
    clear = await api.environment_queries.get(resource_io.ApiResourceId(value=created.metadata.id), metadata=AS_RUNNER)
    assert clear.spec.data["GITHUB_TOKEN"].value == "ghp_rotated"


async def test_environments_apply_create_refuse_bad_input_and_delete(api: Api) -> None:
    applied = await api.environments.apply(github_environment("fresh"), metadata=AS_USER)
    assert applied.metadata.slug == "fresh"
    with pytest.raises(grpc.aio.AioRpcError) as taken:
        await api.environments.create(github_environment("fresh"), metadata=AS_USER)
    assert taken.value.code() == grpc.StatusCode.ALREADY_EXISTS
    platform = github_environment("other")
    platform.metadata.owner_scope = scopes.platform
    bad_key = github_environment("badkey")
    bad_key.spec.data["not a name"].value = "x"
    for request in (platform, bad_key):
        with pytest.raises(grpc.aio.AioRpcError) as invalid:
            await api.environments.create(request, metadata=AS_USER)
        assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as runner_write:
        await api.environments.create(github_environment("x"), metadata=AS_RUNNER)
    assert runner_write.value.code() == grpc.StatusCode.PERMISSION_DENIED

    deleted = await api.environments.delete(
        resource_io.ApiResourceDeleteInput(resource_id=applied.metadata.id), metadata=AS_USER
    )
    assert deleted.metadata.id == applied.metadata.id
    assert deleted.spec.data["GITHUB_TOKEN"].value == ""
    with pytest.raises(grpc.aio.AioRpcError) as gone:
        await api.environment_queries.get(resource_io.ApiResourceId(value=applied.metadata.id), metadata=AS_USER)
    assert gone.value.code() == grpc.StatusCode.NOT_FOUND


async def test_rest_views_of_environments_redact_secrets(keyed_context: ServerContext) -> None:
    headers = {"Authorization": f"Bearer {USER}"}
    body = json_format.MessageToDict(github_environment(), preserving_proto_field_name=True)
    async with serve_app(keyed_context) as rest:
        created = await rest.client.post("/v1/environments", headers=headers, json=body)
        assert created.status_code == 201, created.text
        env_id = created.json()["metadata"]["id"]
        for response in (await rest.client.get(f"/v1/environments/{env_id}", headers=headers),
                         await rest.client.get("/v1/environments/github", headers=headers)):
            assert response.status_code == 200
            assert response.json()["spec"]["data"]["GITHUB_TOKEN"] == {
                "is_secret": True, "description": "a PAT"}  # proto JSON leaves "" out
            assert SECRET not in response.text
        listed = (await rest.client.get("/v1/environments", headers=headers)).json()
        assert listed["total"] == 1 and SECRET not in json.dumps(listed)
        assert (await rest.client.delete(f"/v1/environments/{env_id}", headers=headers)).status_code == 200
        assert (await rest.client.get(f"/v1/environments/{env_id}", headers=headers)).status_code == 404


def execution_context(name: str, execution_id: str = "aex_123") -> context_pb2.ExecutionContext:
    context = context_pb2.ExecutionContext()
    context.metadata.name = name
    context.spec.execution_id = execution_id
    context.spec.data["API_TOKEN"].value = SECRET
    context.spec.data["API_TOKEN"].is_secret = True
    context.spec.data["REGION"].value = "eu"
    return context


async def test_execution_contexts_are_create_only_sealed_and_redacted_for_users(api: Api) -> None:
    created = await api.contexts.apply(execution_context("run-one"), metadata=AS_USER)
    assert created.metadata.id.startswith("exec_")
    with pytest.raises(grpc.aio.AioRpcError) as again:
        await api.contexts.apply(execution_context("run-one"), metadata=AS_USER)
    assert again.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert SECRET not in await raw_documents(api.context, "execution_contexts")

    by_id = context_io.ExecutionContextId(value=created.metadata.id)
    assert (await api.context_queries.get(by_id, metadata=AS_USER)).spec.data["API_TOKEN"].value == ""
    assert (await api.context_queries.get(by_id, metadata=AS_RUNNER)).spec.data["API_TOKEN"].value == SECRET
    ref = resource_io.ApiResourceReference(kind=kinds.execution_context, slug="run-one")
    assert (await api.context_queries.getByReference(ref, metadata=AS_RUNNER)).spec.data["REGION"].value == "eu"

    empty_value = execution_context("run-two")
    empty_value.spec.data["EMPTY"].value = ""
    no_execution = execution_context("run-three", execution_id="")
    scoped = execution_context("run-four")
    scoped.metadata.owner_scope = scopes.organization
    for request in (empty_value, no_execution, scoped):
        with pytest.raises(grpc.aio.AioRpcError) as invalid:
            await api.contexts.create(request, metadata=AS_USER)
        assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    deleted = await api.contexts.delete(resource_io.ApiResourceDeleteInput(resource_id=created.metadata.id),
                                        metadata=AS_USER)
    assert deleted.metadata.id == created.metadata.id
    with pytest.raises(grpc.aio.AioRpcError) as gone:
        await api.context_queries.get(by_id, metadata=AS_USER)
    assert gone.value.code() == grpc.StatusCode.NOT_FOUND


async def test_an_execution_with_runtime_env_has_a_context_until_it_ends(api: Api) -> None:
    service = api.context.service
    agent = Agent()
    agent.metadata.name = "helper"
    agent.metadata.annotations[DEFAULT_MODEL_ANNOTATION] = "scripted"
    agent.spec.instructions = "Be brief and precise."
    agent = await service.resources.agents.create(agent)

    request = execution_pb2.AgentExecution()
    request.spec.agent_id = agent.metadata.id
    request.spec.message = "hello"
    request.spec.runtime_env["API_TOKEN"].value = SECRET
    request.spec.runtime_env["API_TOKEN"].is_secret = True
    execution, _ = await service.create(request)
    assert service.execution_contexts is not None
    contexts = await service.execution_contexts.of_execution(execution.metadata.id)
    assert [c.spec.execution_id for c in contexts] == [execution.metadata.id]
    assert contexts[0].spec.data["API_TOKEN"].value == ""
    assert SECRET not in await raw_documents(api.context, "execution_contexts")

    plain = execution_pb2.AgentExecution()
    plain.spec.agent_id = agent.metadata.id
    plain.spec.message = "no env"
    without_env, _ = await service.create(plain)
    assert await service.execution_contexts.of_execution(without_env.metadata.id) == []

    await service.update_status(execution.metadata.id, execution_pb2.AgentExecutionStatus(phase=phases.EXECUTION_COMPLETED))
    assert await service.execution_contexts.of_execution(execution.metadata.id) == []

    # A runtime_env the context cannot hold creates nothing at all.
    too_long = execution_pb2.AgentExecution()
    too_long.spec.agent_id = agent.metadata.id
    too_long.spec.message = "huge env"
    too_long.spec.runtime_env["BIG"].value = "x" * 70_000
    page_before = await service.list(page_size=100)
    with pytest.raises(InvalidArgument, match="longer than"):
        await service.create(too_long)
    assert (await service.list(page_size=100)).total == page_before.total


async def test_runtime_env_values_need_at_least_one_character(api: Api) -> None:
    request = execution_pb2.AgentExecution()
    request.spec.agent_id = "agt_whatever"
    request.spec.message = "hello"
    request.spec.runtime_env["EMPTY"].value = ""
    with pytest.raises(InvalidArgument, match=r"runtime_env\[EMPTY\]\.value must be at least 1 character"):
        await api.context.service.create(request)

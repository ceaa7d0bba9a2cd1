"""Stigmer's validation rules on both transports, secret runtime_env values on every read
path, and list pages that tell old clients the truth."""

from __future__ import annotations

import asyncio
import json
import uuid

import grpc
import pytest
from google.protobuf import json_format

from ai.stigmer.agentic.agent.v1.api_pb2 import Agent
from ai.stigmer.agentic.agentexecution.v1 import api_pb2, enum_pb2, io_pb2
from devtools.embedded import ServiceEndpoints
from domain.workflow_contract import workflow_id_for
from stigmer_service.context import ServerContext
from tests.utils.contexts import make_settings
from tests.utils.grpc_api import GrpcStubs
from tests.utils.http import (
    EXECUTIONS,
    HttpApi,
    collect_stream,
    status_with,
)

SECRET = "sk-very-secret-0123456789"


def secret_spec(agent: Agent) -> dict:
    return {
        "message": "use the key",
        "agent_id": agent.metadata.id,
        "runtime_env": {"API_KEY": {"value": SECRET, "is_secret": True}, "TZ": "UTC"},
    }


async def stored_count(context: ServerContext) -> int:
    return (await context.service.executions.list()).total


# -- secrets ------------------------------------------------------------------------------


async def test_a_secret_runtime_env_value_is_on_no_read_path(
    http_api: HttpApi, grpc_api: GrpcStubs, agent: Agent
) -> None:
    created = await http_api.client.post(EXECUTIONS, json={"spec": secret_spec(agent)})
    assert created.status_code == 201, created.text
    execution_id = created.json()["metadata"]["id"]
    session_id = created.json()["spec"]["session_id"]
    stored = await http_api.context.service.executions.get(execution_id)
    assert stored.spec.runtime_env["API_KEY"].value == SECRET  # kept for the runner

    # The runner finishes, so every stream ends on its own.
    await grpc_api.commands.updateStatus(io_pb2.AgentExecutionUpdateStatusInput(
        execution_id=execution_id, status=status_with(enum_pb2.EXECUTION_COMPLETED, "done")))

    rest_bodies = [
        created.text,
        (await http_api.client.get(f"{EXECUTIONS}/{execution_id}")).text,
        (await http_api.client.get(EXECUTIONS)).text,
        (await http_api.client.get(EXECUTIONS, params={"session_id": session_id})).text,
        *[e.data for e in await collect_stream(http_api.client, f"{EXECUTIONS}/{execution_id}/subscribe")],
    ]
    by_id = io_pb2.AgentExecutionId(value=execution_id)
    grpc_replies = [
        await grpc_api.queries.get(by_id),
        *(await grpc_api.queries.list(io_pb2.ListAgentExecutionsRequest())).entries,
        *(await grpc_api.queries.listBySession(
            io_pb2.ListAgentExecutionsBySessionRequest(session_id=session_id))).entries,
        *[reply async for reply in grpc_api.queries.subscribe(by_id)],
    ]
    assert len(rest_bodies) >= 5 and len(grpc_replies) >= 4
    for body in rest_bodies:
        assert SECRET not in body
    for reply in grpc_replies:
        assert SECRET.encode() not in reply.SerializeToString()
        assert reply.spec.runtime_env["API_KEY"].is_secret
        assert reply.spec.runtime_env["API_KEY"].value == ""
        assert reply.spec.runtime_env["TZ"].value == "UTC"
    got = json.loads(rest_bodies[1])["spec"]["runtime_env"]
    assert got == {"API_KEY": {"value": "", "is_secret": True}, "TZ": {"value": "UTC"}}
    deleted = await http_api.client.delete(f"{EXECUTIONS}/{execution_id}")
    assert deleted.status_code == 200 and SECRET not in deleted.text


async def test_the_workflow_input_carries_the_secret_value(
    services: ServiceEndpoints, mongo_db_name: str
) -> None:
    """The runner gets the secret through the workflow input (Temporal's history), on a
    queue no worker polls, so the started workflow just waits."""
    settings = make_settings(services, mongo_db_name, workflow_task_queue=f"idle-{uuid.uuid4().hex[:8]}")
    context = await ServerContext.open(settings, with_hub=False)
    try:
        agent = Agent()
        agent.metadata.name = "secret-user"
        agent.spec.instructions = "Use the key you are given."
        agent = await context.service.resources.agents.create(agent)
        request = api_pb2.AgentExecution()
        request.spec.agent_id = agent.metadata.id
        request.spec.message = "use the key"
        request.spec.runtime_env["API_KEY"].value = SECRET
        request.spec.runtime_env["API_KEY"].is_secret = True
        created, _ = await context.service.create(request)
        handle = context.temporal.get_workflow_handle(workflow_id_for(created.metadata.id))
        history = await handle.fetch_history()
        started = history.events[0].workflow_execution_started_event_attributes
        assert SECRET.encode() in started.input.payloads[0].data
    finally:
        await context.mongo.drop_database(mongo_db_name)
        await context.close()


async def test_update_cannot_blank_a_secret_by_echoing_its_redacted_read(
    grpc_api: GrpcStubs, http_api: HttpApi, agent: Agent
) -> None:
    created = await http_api.client.post(EXECUTIONS, json={"spec": secret_spec(agent)})
    read = await grpc_api.queries.get(io_pb2.AgentExecutionId(value=created.json()["metadata"]["id"]))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await grpc_api.commands.update(read)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    stored = await http_api.context.service.executions.get(read.metadata.id)
    assert stored.spec.runtime_env["API_KEY"].value == SECRET


# -- refusals -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"api_version": "agentic.stigmer.ai/v2"}, "api_version"),
        ({"kind": "Agent"}, "kind"),
        ({"metadata": {"owner_scope": "organization"}}, "owner_scope"),
        ({"spec_message": ""}, "spec.message"),
    ],
    ids=["api-version", "kind", "owner-scope", "empty-message"],
)
async def test_stigmers_create_rules_refuse_on_both_transports(
    http_api: HttpApi, grpc_api: GrpcStubs, agent: Agent, change: dict, expected: str
) -> None:
    body: dict = {"spec": {"message": "hi", "agent_id": agent.metadata.id}}
    if "spec_message" in change:
        body["spec"]["message"] = change.pop("spec_message")
    body.update(change)

    response = await http_api.client.post(EXECUTIONS, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_argument"
    assert expected in response.json()["error"]["message"]

    request = json_format.ParseDict(body, api_pb2.AgentExecution())
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await grpc_api.commands.create(request)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert expected in refused.value.details()
    assert await stored_count(http_api.context) == 0


async def test_stigmers_own_values_are_accepted(http_api: HttpApi, agent: Agent) -> None:
    response = await http_api.client.post(EXECUTIONS, json={
        "api_version": "agentic.stigmer.ai/v1",
        "kind": "AgentExecution",
        "metadata": {"owner_scope": "api_resource_owner_scope_unspecified"},
        "spec": {"message": "hi", "agent_id": agent.metadata.id},
    })
    assert response.status_code == 201, response.text


async def test_undefined_owner_scope_number_is_refused_over_grpc(grpc_api: GrpcStubs, agent: Agent) -> None:
    request = api_pb2.AgentExecution()
    request.spec.agent_id = agent.metadata.id
    request.spec.message = "hi"
    request.metadata.owner_scope = 12  # proto3 enums are open: this travels as a number
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await grpc_api.commands.create(request)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_update_with_owner_scope_is_refused_and_changes_nothing(
    grpc_api: GrpcStubs, agent: Agent
) -> None:
    request = api_pb2.AgentExecution()
    request.spec.agent_id = agent.metadata.id
    request.spec.message = "hi"
    created = await grpc_api.commands.create(request)
    edit = api_pb2.AgentExecution()
    edit.metadata.id = created.metadata.id
    edit.metadata.owner_scope = 1
    edit.spec.execution_config.model_name = "openai:gpt-4o"
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await grpc_api.commands.update(edit)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert await grpc_api.queries.get(io_pb2.AgentExecutionId(value=created.metadata.id)) == created


async def test_list_with_an_undefined_phase_number_is_refused(grpc_api: GrpcStubs) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await grpc_api.queries.list(io_pb2.ListAgentExecutionsRequest(phase=42))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


# -- pages for clients that only read total_pages -----------------------------------------


async def test_total_pages_matches_the_page_size_used(grpc_api: GrpcStubs, agent: Agent) -> None:
    first = api_pb2.AgentExecution()
    first.spec.agent_id = agent.metadata.id
    first.spec.message = "0"
    session_id = (await grpc_api.commands.create(first)).spec.session_id

    async def add(i: int) -> None:
        request = api_pb2.AgentExecution()
        request.spec.session_id = session_id
        request.spec.message = str(i)
        await grpc_api.commands.create(request)

    await asyncio.gather(*(add(i) for i in range(1, 25)))  # 25 in all

    no_size = await grpc_api.queries.list(io_pb2.ListAgentExecutionsRequest())
    assert len(no_size.entries) == 20 and no_size.total_pages == 2 and no_size.next_page_token
    by_session = await grpc_api.queries.listBySession(
        io_pb2.ListAgentExecutionsBySessionRequest(session_id=session_id))
    assert len(by_session.entries) == 20 and by_session.total_pages == 2
    sevens = await grpc_api.queries.list(io_pb2.ListAgentExecutionsRequest(page_size=7))
    assert len(sevens.entries) == 7 and sevens.total_pages == 4
    huge = await grpc_api.queries.list(io_pb2.ListAgentExecutionsRequest(page_size=5000))
    assert len(huge.entries) == 25 and huge.total_pages == 1 and not huge.next_page_token

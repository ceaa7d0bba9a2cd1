"""Stigmer's agent, agent-instance and session controllers over real gRPC, and their REST views."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest
from google.protobuf import json_format

from ai.stigmer.agentic.agent.v1 import (
    api_pb2 as agent_pb2,
    command_pb2_grpc as agent_commands,
    io_pb2 as agent_io,
    query_pb2_grpc as agent_queries,
)
from ai.stigmer.agentic.agentexecution.v1 import api_pb2 as execution_pb2
from ai.stigmer.agentic.agentinstance.v1 import (
    api_pb2 as instance_pb2,
    command_pb2_grpc as instance_commands,
    io_pb2 as instance_io,
    query_pb2_grpc as instance_queries,
)
from ai.stigmer.agentic.session.v1 import (
    api_pb2 as session_pb2,
    command_pb2_grpc as session_commands,
    io_pb2 as session_io,
    query_pb2_grpc as session_queries,
)
from ai.stigmer.commons.apiresource import io_pb2 as resource_io
from ai.stigmer.commons.apiresource.apiresourcekind import api_resource_kind_pb2 as kinds
from api.auth import ApiKeys
from domain.convert import resource_to_body
from stigmer_service.context import ServerContext
from tests.utils.grpc_api import GrpcStubs
from tests.utils.http import EXECUTIONS, HttpApi

NOT_FOUND = grpc.StatusCode.NOT_FOUND
INVALID = grpc.StatusCode.INVALID_ARGUMENT


@dataclass
class Controllers:
    agents: agent_commands.AgentCommandControllerStub
    agent_queries: agent_queries.AgentQueryControllerStub
    instances: instance_commands.AgentInstanceCommandControllerStub
    instance_queries: instance_queries.AgentInstanceQueryControllerStub
    sessions: session_commands.SessionCommandControllerStub
    session_queries: session_queries.SessionQueryControllerStub
    executions: GrpcStubs


@pytest.fixture
async def rpc(grpc_api: GrpcStubs) -> AsyncIterator[Controllers]:
    channel = grpc_api.channel
    yield Controllers(
        agent_commands.AgentCommandControllerStub(channel),
        agent_queries.AgentQueryControllerStub(channel),
        instance_commands.AgentInstanceCommandControllerStub(channel),
        instance_queries.AgentInstanceQueryControllerStub(channel),
        session_commands.SessionCommandControllerStub(channel),
        session_queries.SessionQueryControllerStub(channel),
        grpc_api,
    )


def stigmer_agent(name: str = "Research Helper", instructions: str = "Answer with sources, briefly.") -> agent_pb2.Agent:
    """An agent as Stigmer's CLI sends it: MCP servers of each kind and a sub-agent."""
    return json_format.ParseDict(
        {
            "api_version": "agentic.stigmer.ai/v1",
            "kind": "Agent",
            "metadata": {"name": name, "labels": {"team": "research"}},
            "spec": {
                "description": "Finds things out",
                "instructions": instructions,
                "mcp_servers": [
                    {"name": "time", "stdio": {"command": "mcp-server-time", "args": ["--local-timezone", "UTC"],
                                               "env_placeholders": {"TZ": "${TZ}"}},
                     "enabled_tools": ["get_current_time"]},
                    {"name": "search", "http": {"url": "https://mcp.example.com/mcp", "headers": {"X-Key": "${KEY}"},
                                                "timeout_seconds": 30}},
                    {"name": "files", "docker": {"image": "mcp/filesystem:1", "volumes": [
                        {"host_path": "/data", "container_path": "/data", "read_only": True}]}},
                ],
                "sub_agents": [{
                    "name": "fact-checker", "instructions": "Check every claim against a source.",
                    "mcp_servers": ["search"],
                    "mcp_tool_selections": {"search": {"enabled_tools": ["web_search"]}},
                }],
                "skill_refs": [{"kind": "skill", "slug": "citations"}],
                "env_spec": {"data": {"KEY": {"value": "", "is_secret": True}}},
            },
        },
        agent_pb2.Agent(),
    )


async def expect_code(code: grpc.StatusCode, call) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await call
    assert error.value.code() == code, error.value.details()
    return error.value.details()


# -- agents -------------------------------------------------------------------------------


async def test_create_stores_stigmers_agent_and_its_default_instance(rpc: Controllers) -> None:
    request = stigmer_agent()
    created = await rpc.agents.create(request)

    assert created.metadata.id.startswith("agt_") and created.metadata.slug == "research-helper"
    assert created.spec == request.spec  # every field, MCP servers of each kind included
    assert created.spec.mcp_servers[2].docker.volumes[0].read_only
    instance_id = created.status.default_instance_id
    assert instance_id.startswith("ain_")

    instance = await rpc.instance_queries.get(instance_io.AgentInstanceId(value=instance_id))
    assert instance.spec.agent_id == created.metadata.id
    assert instance.metadata.name == "research-helper-default"
    listed = await rpc.instance_queries.getByAgent(instance_io.GetAgentInstancesByAgentRequest(agent_id=created.metadata.id))
    assert listed.total_count == 1 and [i.metadata.id for i in listed.items] == [instance_id]

    assert await rpc.agent_queries.get(agent_io.AgentId(value=created.metadata.id)) == created


async def test_get_by_reference_finds_by_slug_and_by_name(rpc: Controllers) -> None:
    created = await rpc.agents.create(stigmer_agent("Research Helper"))
    by_slug = await rpc.agent_queries.getByReference(resource_io.ApiResourceReference(slug="research-helper"))
    by_name = await rpc.agent_queries.getByReference(
        resource_io.ApiResourceReference(kind=kinds.agent, slug="Research Helper")
    )
    assert by_slug == by_name == created

    instance = await rpc.instance_queries.getByReference(resource_io.ApiResourceReference(slug="research-helper-default"))
    assert instance.metadata.id == created.status.default_instance_id

    await expect_code(NOT_FOUND, rpc.agent_queries.getByReference(resource_io.ApiResourceReference(slug="nobody")))
    await expect_code(INVALID, rpc.agent_queries.getByReference(resource_io.ApiResourceReference()))
    await expect_code(INVALID, rpc.agent_queries.getByReference(
        resource_io.ApiResourceReference(kind=kinds.session, slug="research-helper")))


async def test_apply_creates_then_updates_the_same_agent(rpc: Controllers) -> None:
    first = await rpc.agents.apply(stigmer_agent("planner", "Plan first, then act."))
    changed = stigmer_agent("planner", "Plan carefully, then act.")
    del changed.spec.mcp_servers[1:]
    del changed.spec.sub_agents[:]
    second = await rpc.agents.apply(changed)

    assert second.metadata.id == first.metadata.id
    assert second.spec.instructions == "Plan carefully, then act."
    assert [s.name for s in second.spec.mcp_servers] == ["time"]
    assert second.status.default_instance_id == first.status.default_instance_id  # status is kept
    assert second.status.version == first.status.version + 1
    listed = await rpc.instance_queries.getByAgent(instance_io.GetAgentInstancesByAgentRequest(agent_id=first.metadata.id))
    assert listed.total_count == 1  # no second default instance


async def test_update_replaces_the_spec_and_refuses_unknown_ids(rpc: Controllers) -> None:
    created = await rpc.agents.create(stigmer_agent())
    edit = agent_pb2.Agent()
    edit.CopyFrom(created)
    edit.spec.description = "Now with a new description"
    edit.status.default_instance_id = "ain_forged"  # status belongs to the service
    updated = await rpc.agents.update(edit)
    assert updated.spec.description == "Now with a new description"
    assert updated.status.default_instance_id == created.status.default_instance_id

    edit.metadata.id = "agt_unknown"
    await expect_code(NOT_FOUND, rpc.agents.update(edit))


async def test_delete_removes_the_agent_and_its_instances(rpc: Controllers) -> None:
    created = await rpc.agents.create(stigmer_agent())
    deleted = await rpc.agents.delete(agent_io.AgentId(value=created.metadata.id))
    assert deleted.metadata.id == created.metadata.id
    await expect_code(NOT_FOUND, rpc.agent_queries.get(agent_io.AgentId(value=created.metadata.id)))
    await expect_code(NOT_FOUND, rpc.instance_queries.get(
        instance_io.AgentInstanceId(value=created.status.default_instance_id)))
    await expect_code(NOT_FOUND, rpc.agents.delete(agent_io.AgentId(value=created.metadata.id)))


def _with(change) -> agent_pb2.Agent:
    agent = stigmer_agent()
    change(agent)
    return agent


@pytest.mark.parametrize(
    ("change", "mentions"),
    [
        (lambda a: setattr(a.spec, "instructions", "too short"), "spec.instructions"),
        (lambda a: a.metadata.ClearField("name"), "metadata.name"),
        (lambda a: setattr(a.spec.sub_agents[0], "instructions", "short"), "sub_agents[0].instructions"),
        (lambda a: a.spec.mcp_servers.add(name="empty"), "stdio, http or docker"),
        (lambda a: setattr(a.spec.mcp_servers.add(name="time").stdio, "command", "x"), "two servers named"),
        (lambda a: a.spec.sub_agents[0].mcp_servers.append("nowhere"), "nowhere"),
        (lambda a: setattr(a.spec.mcp_servers[1].http, "url", "ftp://x"), "http(s)"),
        (lambda a: setattr(a, "kind", "Workflow"), "kind"),
        (lambda a: a.spec.mcp_servers[0].stdio.env_placeholders.__setitem__("$set", "x"), "invalid key"),
        (lambda a: setattr(a.spec.skill_refs[0], "kind", kinds.environment), "skill"),
    ],
)
async def test_invalid_agents_are_refused_with_invalid_argument(rpc: Controllers, change, mentions: str) -> None:
    details = await expect_code(INVALID, rpc.agents.create(_with(change)))
    assert mentions in details
    await expect_code(NOT_FOUND, rpc.agent_queries.getByReference(resource_io.ApiResourceReference(slug="research-helper")))


async def test_a_duplicate_name_is_already_exists(rpc: Controllers) -> None:
    await rpc.agents.create(stigmer_agent("helper"))
    await expect_code(grpc.StatusCode.ALREADY_EXISTS, rpc.agents.create(stigmer_agent("helper")))
    await expect_code(grpc.StatusCode.ALREADY_EXISTS, rpc.agents.create(stigmer_agent("Helper")))  # same slug
    other = await rpc.agents.create(stigmer_agent("other"))
    other.metadata.name = "helper"
    other.metadata.slug = ""
    await expect_code(grpc.StatusCode.ALREADY_EXISTS, rpc.agents.update(other))


async def test_unknown_ids_are_not_found(rpc: Controllers) -> None:
    await expect_code(NOT_FOUND, rpc.agent_queries.get(agent_io.AgentId(value="agt_nope")))
    await expect_code(NOT_FOUND, rpc.instance_queries.get(instance_io.AgentInstanceId(value="ain_nope")))
    await expect_code(NOT_FOUND, rpc.session_queries.get(session_io.SessionId(value="ses_nope")))
    await expect_code(NOT_FOUND, rpc.sessions.delete(session_io.SessionId(value="ses_nope")))
    await expect_code(NOT_FOUND, rpc.instance_queries.getByAgent(
        instance_io.GetAgentInstancesByAgentRequest(agent_id="agt_nope")))
    instance = instance_pb2.AgentInstance()
    instance.metadata.name = "orphan"
    instance.spec.agent_id = "agt_nope"
    await expect_code(NOT_FOUND, rpc.instances.create(instance))
    await expect_code(INVALID, rpc.agent_queries.get(agent_io.AgentId()))


# -- instances and sessions ------------------------------------------------------------------


async def test_instances_of_an_agent_and_their_sessions(rpc: Controllers) -> None:
    agent = await rpc.agents.create(stigmer_agent())
    staging = instance_pb2.AgentInstance()
    staging.metadata.name = "staging"
    staging.spec.agent_id = agent.metadata.id
    staging.spec.environment_refs.add(kind=kinds.environment, slug="staging-env")
    staging = await rpc.instances.apply(staging)
    staging.spec.description = "for tests"
    again = await rpc.instances.apply(staging)
    assert again.metadata.id == staging.metadata.id and again.spec.description == "for tests"

    page = await rpc.instance_queries.getByAgent(instance_io.GetAgentInstancesByAgentRequest(
        agent_id=agent.metadata.id, page_info={"num": 2, "size": 1}))
    assert page.total_count == 2 and [i.metadata.id for i in page.items] == [staging.metadata.id]

    sessions = []
    for instance_id in (agent.status.default_instance_id, staging.metadata.id, staging.metadata.id):
        request = session_pb2.Session()
        request.spec.agent_instance_id = instance_id
        request.spec.subject = "trip planning"
        request.spec.metadata["channel"] = "cli"
        sessions.append(await rpc.sessions.create(request))
    assert all(s.spec.thread_id == f"thread_{s.metadata.id}" for s in sessions)

    by_instance = await rpc.session_queries.listByAgent(session_io.ListSessionsByAgentRequest(agent_id=staging.metadata.id))
    assert [s.metadata.id for s in by_instance.entries] == [sessions[2].metadata.id, sessions[1].metadata.id]
    by_agent = await rpc.session_queries.listByAgent(
        session_io.ListSessionsByAgentRequest(agent_id=agent.metadata.id, page_size=2))
    assert by_agent.total_pages == 2 and len(by_agent.entries) == 2 and by_agent.next_page_token
    rest = await rpc.session_queries.listByAgent(session_io.ListSessionsByAgentRequest(
        agent_id=agent.metadata.id, page_size=2, page_token=by_agent.next_page_token))
    assert [s.metadata.id for s in rest.entries] == [sessions[0].metadata.id]
    await expect_code(INVALID, rpc.session_queries.listByAgent(session_io.ListSessionsByAgentRequest()))

    edited = session_pb2.Session()
    edited.CopyFrom(sessions[0])
    edited.spec.subject = "a new subject"
    applied = await rpc.sessions.apply(edited)
    assert applied.metadata.id == sessions[0].metadata.id and applied.spec.subject == "a new subject"
    assert applied.spec.thread_id == sessions[0].spec.thread_id
    edited.spec.agent_instance_id = staging.metadata.id
    await expect_code(INVALID, rpc.sessions.update(edited))

    deleted = await rpc.sessions.delete(session_io.SessionId(value=sessions[0].metadata.id))
    assert deleted.metadata.id == sessions[0].metadata.id
    assert (await rpc.session_queries.list(session_io.ListSessionsRequest())).total_pages == 1


async def test_a_session_needs_an_existing_instance(rpc: Controllers) -> None:
    await expect_code(INVALID, rpc.sessions.create(session_pb2.Session()))
    request = session_pb2.Session()
    request.spec.agent_instance_id = "ain_missing"
    await expect_code(NOT_FOUND, rpc.sessions.create(request))


# -- the execution chain and the REST views --------------------------------------------------


async def test_an_execution_with_only_an_agent_gets_a_session_on_the_default_instance(rpc: Controllers) -> None:
    agent = await rpc.agents.create(stigmer_agent())
    request = execution_pb2.AgentExecution()
    request.spec.agent_id = agent.metadata.id
    request.spec.message = "What time is it in Lisbon?"
    execution = await rpc.executions.commands.create(request)

    session = await rpc.session_queries.get(session_io.SessionId(value=execution.spec.session_id))
    assert session.spec.agent_instance_id == agent.status.default_instance_id
    assert session.spec.subject == "What time is it in Lisbon?"
    listed = await rpc.session_queries.listByAgent(session_io.ListSessionsByAgentRequest(agent_id=agent.metadata.id))
    assert [s.metadata.id for s in listed.entries] == [session.metadata.id]

    # Continuing the session resolves session → instance → agent.
    again = execution_pb2.AgentExecution()
    again.spec.session_id = session.metadata.id
    again.spec.message = "And in Tokyo?"
    assert (await rpc.executions.commands.create(again)).spec.agent_id == agent.metadata.id
    other = await rpc.agents.create(stigmer_agent("someone else"))
    again.spec.agent_id = other.metadata.id
    await expect_code(INVALID, rpc.executions.commands.create(again))


async def test_rest_views_equal_the_grpc_resources(rpc: Controllers, http_api: HttpApi) -> None:
    agent = await rpc.agents.create(stigmer_agent("Research Helper"))
    rest = (await http_api.client.get(f"/v1/agents/{agent.metadata.id}")).json()
    assert rest == resource_to_body(agent)
    assert rest["version"] == agent.status.version and "version" not in rest["status"]
    assert rest["spec"]["mcp_servers"][0]["stdio"]["env_placeholders"] == {"TZ": "${TZ}"}
    assert (await http_api.client.get("/v1/agents/Research Helper")).json() == rest  # by name
    assert (await http_api.client.get("/v1/agents/research-helper")).json() == rest  # by slug

    created = await http_api.client.post(EXECUTIONS, json={"spec": {"message": "hi", "agent_id": agent.metadata.id}})
    session_id = created.json()["spec"]["session_id"]
    session = await rpc.session_queries.get(session_io.SessionId(value=session_id))
    assert (await http_api.client.get(f"/v1/sessions/{session_id}")).json() == resource_to_body(session)
    listed = (await http_api.client.get("/v1/sessions", params={"agent_id": agent.status.default_instance_id})).json()
    assert listed["entries"] == [resource_to_body(session)] and listed["total"] == 1


async def test_rest_create_takes_stigmers_shape_and_grpc_reads_it(rpc: Controllers, http_api: HttpApi) -> None:
    body = {
        "metadata": {"name": "helper", "annotations": {"stigmer/default-model": "scripted"}},
        "spec": {
            "instructions": "Be concise and helpful.",
            "mcp_servers": [{"name": "time", "stdio": {"command": "mcp-server-time"}}],
            "sub_agents": [{"name": "researcher", "instructions": "Find facts and summarise them.",
                            "mcp_servers": ["time"]}],
        },
    }
    response = await http_api.client.post("/v1/agents", json=body)
    assert response.status_code == 201, response.text
    agent = await rpc.agent_queries.get(agent_io.AgentId(value=response.json()["metadata"]["id"]))
    assert agent.spec.sub_agents[0].mcp_servers == ["time"]
    assert agent.spec.mcp_servers[0].stdio.command == "mcp-server-time"
    assert response.json() == resource_to_body(agent)

    duplicate = await http_api.client.post("/v1/agents", json=body)
    assert duplicate.status_code == 409 and duplicate.json()["error"]["code"] == "already_exists"
    deleted = await http_api.client.delete("/v1/agents/helper")
    assert deleted.status_code == 200
    await expect_code(NOT_FOUND, rpc.agent_queries.get(agent_io.AgentId(value=agent.metadata.id)))


async def test_the_runner_config_comes_from_the_agent_spec(context: ServerContext) -> None:
    from runner.activities import agent_config

    request = stigmer_agent()
    request.metadata.annotations["stigmer/default-model"] = "scripted:10"
    agent = await context.service.resources.agents.create(request)
    config = agent_config(agent)
    assert config.name == "Research Helper" and config.instructions == "Answer with sources, briefly."
    assert config.model_name == "scripted:10"
    time_server, search, files = config.mcp_servers
    assert (time_server.name, time_server.transport, time_server.enabled_tools) == ("time", "stdio", ["get_current_time"])
    assert time_server.stdio is not None and time_server.stdio.env_placeholders == {"TZ": "${TZ}"}
    assert search.http is not None and (search.http.url, search.http.timeout_seconds) == ("https://mcp.example.com/mcp", 30)
    assert files.transport == "docker"
    (checker,) = config.sub_agents
    assert checker.mcp_servers == ["search"]
    assert checker.mcp_tool_selections["search"].enabled_tools == ["web_search"]
    assert [(s.name, s.instructions) for s in config.sub_agents] == [
        ("fact-checker", "Check every claim against a source.")
    ]


async def test_the_resource_controllers_require_an_api_key(context: ServerContext) -> None:
    from tests.utils.grpc_api import open_grpc

    server, stubs = await open_grpc(context, api_keys=ApiKeys(("resource-key",)))
    try:
        queries = agent_queries.AgentQueryControllerStub(stubs.channel)
        await expect_code(grpc.StatusCode.UNAUTHENTICATED, queries.get(agent_io.AgentId(value="agt_x")))
        sessions = session_queries.SessionQueryControllerStub(stubs.channel)
        await expect_code(grpc.StatusCode.UNAUTHENTICATED, sessions.list(session_io.ListSessionsRequest()))
        keyed = (("authorization", "Bearer resource-key"),)
        await expect_code(NOT_FOUND, queries.get(agent_io.AgentId(value="agt_x"), metadata=keyed))
    finally:
        await stubs.channel.close()
        await server.stop(grace=None)


async def test_secret_environment_values_are_never_read_back(rpc: Controllers, context: ServerContext) -> None:
    request = stigmer_agent()
    request.spec.env_spec.data["KEY"].value = "s3cret-value"
    request.spec.env_spec.data["REGION"].value = "eu-west-1"
    created = await rpc.agents.create(request)
    assert created.spec.env_spec.data["KEY"].value == ""
    assert created.spec.env_spec.data["KEY"].is_secret
    assert created.spec.env_spec.data["REGION"].value == "eu-west-1"
    read = await rpc.agent_queries.get(agent_io.AgentId(value=created.metadata.id))
    assert "s3cret-value" not in str(read)
    edit = agent_pb2.Agent()
    edit.CopyFrom(read)
    edit.spec.description = "edited"
    await rpc.agents.update(edit)  # sends the secret back as read: ""
    stored = await context.db["agents"].find_one({"_id": created.metadata.id})
    assert stored["spec"]["env_spec"]["data"]["KEY"]["value"] == "s3cret-value"  # kept

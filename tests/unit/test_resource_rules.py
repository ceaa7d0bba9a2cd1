"""The pure rules of domain/resource_rules.py: slugs and agent validation."""

from __future__ import annotations

import pytest

from ai.stigmer.agentic.agent.v1 import api_pb2
from domain.errors import InvalidArgument
from domain.resource_rules import slugify, validate_agent


@pytest.mark.parametrize(
    ("name", "slug"),
    [("Research Helper", "research-helper"), ("  a -- b  ", "a-b"), ("Ünïcode & co!", "ncode-co"), ("x_y.z", "xyz")],
)
def test_slugs_follow_stigmers_rule(name: str, slug: str) -> None:
    assert slugify(name) == slug


def agent(instructions: str = "Ten chars!") -> api_pb2.Agent:
    request = api_pb2.Agent()
    request.metadata.name = "a"
    request.spec.instructions = instructions
    return request


def test_ten_characters_of_instructions_are_enough_and_nine_are_not() -> None:
    validate_agent(agent("Ten chars!"))
    with pytest.raises(InvalidArgument, match="at least 10"):
        validate_agent(agent("Nine char"))


def test_each_mcp_server_kind_needs_its_address() -> None:
    for kind, field in (("stdio", "command"), ("http", "url"), ("docker", "image")):
        request = agent()
        getattr(request.spec.mcp_servers.add(name="s"), kind).SetInParent()
        with pytest.raises(InvalidArgument, match=f"{kind}.{field} is required"):
            validate_agent(request)


def test_resource_contract_speaks_stigmers_names_and_numbers() -> None:
    from ai.stigmer.agentic.agent.v1 import command_pb2, query_pb2, spec_pb2
    from ai.stigmer.agentic.agentinstance.v1 import (
        command_pb2 as ai_command,
        query_pb2 as ai_query,
        spec_pb2 as ai_spec,
    )
    from ai.stigmer.agentic.session.v1 import (
        command_pb2 as s_command,
        query_pb2 as s_query,
        spec_pb2 as s_spec,
    )

    def methods(module, service: str) -> list[str]:
        return [m.name for m in module.DESCRIPTOR.services_by_name[service].methods]

    def numbers(message) -> dict[str, int]:
        return {f.name: f.number for f in message.DESCRIPTOR.fields}

    assert command_pb2.DESCRIPTOR.package == "ai.stigmer.agentic.agent.v1"
    assert methods(command_pb2, "AgentCommandController") == ["apply", "create", "update", "delete"]
    assert methods(query_pb2, "AgentQueryController") == ["get", "getByReference"]
    assert methods(ai_command, "AgentInstanceCommandController") == ["apply", "create", "update", "delete"]
    assert methods(ai_query, "AgentInstanceQueryController") == ["get", "getByAgent", "getByReference"]
    assert methods(s_command, "SessionCommandController") == ["apply", "create", "update", "delete"]
    assert methods(s_query, "SessionQueryController") == ["get", "list", "listByAgent"]
    assert numbers(spec_pb2.AgentSpec) == {
        "description": 1, "icon_url": 2, "instructions": 3, "mcp_servers": 4, "skill_refs": 5,
        "sub_agents": 6, "env_spec": 7,
    }
    assert numbers(spec_pb2.McpServerDefinition) == {"name": 1, "stdio": 2, "http": 3, "docker": 4, "enabled_tools": 5}
    assert numbers(spec_pb2.StdioServer) == {"command": 1, "args": 2, "env_placeholders": 3, "working_dir": 4}
    assert numbers(spec_pb2.HttpServer) == {"url": 1, "headers": 2, "query_params": 3, "timeout_seconds": 4}
    assert numbers(spec_pb2.SubAgent) == {
        "name": 1, "description": 2, "instructions": 3, "mcp_servers": 4, "mcp_tool_selections": 5, "skill_refs": 6,
    }
    assert numbers(ai_spec.AgentInstanceSpec) == {"agent_id": 1, "description": 2, "environment_refs": 3}
    assert numbers(s_spec.SessionSpec) == {
        "agent_instance_id": 1, "subject": 2, "thread_id": 3, "sandbox_id": 4, "metadata": 5,
    }

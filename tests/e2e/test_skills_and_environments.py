"""An agent with a skill and environments runs on the whole stack (keys on): the runner
resolves the skill by reference, unpacks it, and gives its SKILL.md to the model; the
instance's environments (in order) and the execution's runtime_env fill an MCP server's
placeholder, read in the clear with the runner's key."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from google.protobuf import json_format

from ai.stigmer.agentic.agent.v1.api_pb2 import Agent
from ai.stigmer.agentic.agentexecution.v1 import api_pb2, enum_pb2
from ai.stigmer.agentic.environment.v1 import api_pb2 as environment_pb2
from ai.stigmer.agentic.skill.v1 import io_pb2 as skill_io
from ai.stigmer.commons.apiresource.apiresourcekind import api_resource_kind_pb2 as kinds
from devtools.embedded import ServiceEndpoints
from domain.resource_rules import DEFAULT_MODEL_ANNOTATION
from tests.utils.skill_zips import skill_zip
from tests.utils.stack import Stack, running_stack, stack_settings, wait_for_phase

PROBE = Path(__file__).parents[1] / "integration" / "mcp_probe_server.py"
USER, RUNNER = "e2e-user-key", "e2e-runner-key"
TERMINAL = {enum_pb2.EXECUTION_COMPLETED, enum_pb2.EXECUTION_FAILED, enum_pb2.EXECUTION_CANCELLED}
# The skill tells the model to call a tool: a call that happens proves the model read it.
SKILL_MD = '# Token checker\nTo check access, read the token.\ncall tool env_value {"name": "PROBE_TOKEN"}'


@pytest.fixture(scope="module")
async def stack(services: ServiceEndpoints, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    settings = stack_settings(
        services, api_keys=USER, runner_api_keys=RUNNER, runner_api_key=RUNNER,
        secrets_key="e2e-secrets-key", runner_work_dir=str(tmp_path_factory.mktemp("runs")),
    )
    async with running_stack(settings) as running:
        yield running


def environment(name: str, **values: str) -> environment_pb2.Environment:
    data = {key: {"value": value, "is_secret": True} for key, value in values.items()}
    return json_format.ParseDict({"metadata": {"name": name}, "spec": {"data": data}}, environment_pb2.Environment())


async def agent_with_skill_and_environments(stack: Stack) -> Agent:
    service = stack.context.service
    assert service.skills is not None and service.environments is not None
    await service.skills.push(skill_io.PushSkillRequest(name="token-checker", artifact=skill_zip(SKILL_MD), tag="v1"))
    await service.environments.create(environment("base-env", API_TOKEN="from-base", REGION="eu"))
    await service.environments.create(environment("team-env", API_TOKEN="from-team"))

    request = Agent()
    request.metadata.name = "skilled"
    request.metadata.annotations[DEFAULT_MODEL_ANNOTATION] = "scripted"
    request.spec.instructions = "You check access when asked."
    request.spec.skill_refs.add(kind=kinds.skill, slug="token-checker", version="v1")
    probe = request.spec.mcp_servers.add(name="probe", enabled_tools=["env_value"])
    probe.stdio.command = sys.executable
    probe.stdio.args.extend([str(PROBE), "stdio"])
    probe.stdio.env_placeholders["PROBE_TOKEN"] = "${API_TOKEN}"
    agent = await service.resources.agents.create(request)

    instance = await service.resources.instances.get(agent.status.default_instance_id)
    instance.spec.environment_refs.add(kind=kinds.environment, slug="base-env")
    instance.spec.environment_refs.add(kind=kinds.environment, slug="team-env")  # later wins
    await service.resources.instances.update(instance)
    return agent


async def run(stack: Stack, agent: Agent, runtime_env: dict[str, str] | None = None) -> api_pb2.AgentExecution:
    request = api_pb2.AgentExecution()
    request.spec.agent_id = agent.metadata.id
    request.spec.message = "please check access"
    for key, value in (runtime_env or {}).items():
        request.spec.runtime_env[key].value = value
        request.spec.runtime_env[key].is_secret = True
    # Through the server, which starts the workflow (the stack's own context does not).
    created = await stack.commands.create(request, metadata=(("authorization", f"Bearer {USER}"),))
    return await wait_for_phase(stack, created.metadata.id, TERMINAL, timeout=60)


async def test_an_agent_with_a_skill_and_environments_completes_and_the_model_read_the_skill(stack: Stack) -> None:
    agent = await agent_with_skill_and_environments(stack)

    done = await run(stack, agent)
    assert done.status.phase == enum_pb2.EXECUTION_COMPLETED, done.status.error
    calls = {call.name: call for call in done.status.tool_calls}
    # The model called the tool only SKILL.md names, and the server's placeholder was
    # filled from the later environment.
    assert "env_value" in calls, [c.name for c in done.status.tool_calls]
    assert calls["env_value"].result == "from-team"

    overridden = await run(stack, agent, runtime_env={"API_TOKEN": "from-runtime"})
    assert overridden.status.phase == enum_pb2.EXECUTION_COMPLETED, overridden.status.error
    assert {c.name: c.result for c in overridden.status.tool_calls}["env_value"] == "from-runtime"
    # Its execution context lived while it ran; the workflow's final write removes it.
    await wait_until_no_context(stack, overridden.metadata.id)


async def wait_until_no_context(stack: Stack, execution_id: str, timeout: float = 30.0) -> None:
    contexts = stack.context.service.execution_contexts
    assert contexts is not None
    deadline = asyncio.get_running_loop().time() + timeout
    while await contexts.of_execution(execution_id):
        assert asyncio.get_running_loop().time() < deadline, f"{execution_id} still has an execution context"
        await asyncio.sleep(0.05)  # polling MongoDB, as wait_for_phase does

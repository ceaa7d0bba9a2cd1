"""Executions end to end: create → Temporal workflow → runner (LangGraph, scripted model)
→ progressive status → durable final state, with failures along the way."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import httpx
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from ai.stigmer.agentic.agentexecution.v1 import api_pb2, enum_pb2, io_pb2
from domain.status_rules import TERMINAL_PHASES
from tests.utils.stack import Stack, create_agent, create_execution, wait_for_phase, waiting_caller


async def watch_all(stack: Stack, execution_id: str) -> list:
    states = []
    async for state in stack.queries.subscribe(io_pb2.AgentExecutionId(value=execution_id), timeout=60):
        states.append(state)
    return states


async def test_execution_streams_progress_and_completes(stack: Stack) -> None:
    agent_id = await create_agent(stack)
    created = await create_execution(stack, agent_id=agent_id, message="count these words please",
                                     model_name="scripted:30")
    assert created.status.phase == enum_pb2.EXECUTION_PENDING
    states = await watch_all(stack, created.metadata.id)

    versions = [s.status.version for s in states]
    assert versions == sorted(set(versions))  # strictly increasing
    phases = [s.status.phase for s in states]
    assert phases[-1] == enum_pb2.EXECUTION_COMPLETED
    assert enum_pb2.EXECUTION_IN_PROGRESS in phases
    final = states[-1].status
    assert len(final.todos) == 3
    names = {call.name: call for call in final.tool_calls}
    # The MCP server's tool, called for real through REST/gRPC → Temporal → runner.
    assert names["get_current_time"].status == enum_pb2.TOOL_CALL_COMPLETED
    assert '"timezone": "UTC"' in names["get_current_time"].result
    assert names["get_current_time"].component_metadata.component_type == "mcp"
    assert names["get_current_time"].component_metadata.component_group == "time"
    assert [s.status for s in final.sub_agent_executions] == [enum_pb2.SUB_AGENT_COMPLETED]
    answer = [m.content for m in final.messages if m.type == enum_pb2.MESSAGE_AI and m.content][-1]
    assert "count these words please" in answer
    # The answer streamed: some intermediate state held a shorter, non-empty prefix of it.
    partial = [
        m.content for s in states[:-1] for m in s.status.messages
        if m.type == enum_pb2.MESSAGE_AI and m.content and answer.startswith(m.content) and m.content != answer
    ]
    assert partial
    assert final.started_at.endswith("Z") and final.completed_at.endswith("Z")
    stored = await stack.context.service.get(created.metadata.id)
    assert stored.status == final


async def test_cancel_mid_run_ends_cancelled_before_the_run_would_end(stack: Stack) -> None:
    agent_id = await create_agent(stack)
    created = await create_execution(stack, agent_id=agent_id, model_name="scripted:50000")
    execution_id = created.metadata.id
    await wait_for_phase(stack, execution_id, {enum_pb2.EXECUTION_IN_PROGRESS})
    await _cancel(stack, execution_id)
    # The scripted answer runs far longer than this deadline: CANCELLED, not COMPLETED,
    # says the cancel ended it.
    cancelled = await wait_for_phase(stack, execution_id, TERMINAL_PHASES, timeout=30)
    assert cancelled.status.phase == enum_pb2.EXECUTION_CANCELLED


async def _cancel(stack: Stack, execution_id: str) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{stack.http_url}/v1/agent-executions/{execution_id}/cancel")
    assert response.status_code == 202, response.text


async def test_agent_error_ends_failed_with_its_message(stack: Stack) -> None:
    agent_id = await create_agent(stack)
    created = await create_execution(stack, agent_id=agent_id, message="please [fail] now")
    failed = await wait_for_phase(stack, created.metadata.id, TERMINAL_PHASES)
    assert failed.status.phase == enum_pb2.EXECUTION_FAILED
    assert "scripted failure requested" in failed.status.error


async def test_second_execution_in_a_session_remembers_the_first(stack: Stack) -> None:
    agent_id = await create_agent(stack)
    first = await create_execution(stack, agent_id=agent_id, message="my favourite colour is teal")
    await wait_for_phase(stack, first.metadata.id, {enum_pb2.EXECUTION_COMPLETED})
    second = await create_execution(stack, session_id=first.spec.session_id, message="what did I say?")
    done = await wait_for_phase(stack, second.metadata.id, {enum_pb2.EXECUTION_COMPLETED})
    answer = [m.content for m in done.status.messages if m.type == enum_pb2.MESSAGE_AI and m.content][-1]
    assert "my favourite colour is teal" in answer


async def test_a_runner_that_cannot_reach_the_server_fails_loudly_through_the_workflow(stack: Stack) -> None:
    """It cannot read the session's earlier turns, so it stops rather than answer without
    them; the readable failure still arrives, through Temporal's durable final write."""
    await stack.stop_runner()
    try:
        # A runner that cannot reach the server at all (nothing listens on port 9).
        await stack.restart_runner(stack.settings.model_copy(update={"server_grpc_target": "127.0.0.1:9"}))
        agent_id = await create_agent(stack)
        created = await create_execution(stack, agent_id=agent_id, message="offline run")
        done = await wait_for_phase(stack, created.metadata.id, TERMINAL_PHASES, timeout=60)
        assert done.status.phase == enum_pb2.EXECUTION_FAILED
        assert "could not be read" in done.status.error
        assert "the run stopped rather than forget it" in done.status.error
    finally:
        await stack.stop_runner()
        await stack.restart_runner()


async def test_killed_runner_process_never_leaves_the_execution_stuck(stack: Stack) -> None:
    await stack.stop_runner()
    env = {
        **os.environ,
        "MONGODB_URI": stack.settings.mongodb_uri,
        "REDIS_URL": stack.settings.redis_url,
        "TEMPORAL_ADDRESS": stack.settings.temporal_address,
        "RUNNER_TASK_QUEUE": stack.settings.runner_task_queue,
        "SERVER_GRPC_TARGET": stack.grpc_target,
        "SCRIPTED_TOKEN_DELAY_MS": "5",
        "HEARTBEAT_INTERVAL_SECONDS": "0.5",
        "MCP_STDIO_COMMANDS": stack.settings.mcp_stdio_commands,
        "MCP_STDIO_SANDBOX": stack.settings.mcp_stdio_sandbox,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "stigmer_service.cli", "runner", env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await wait_for_runner_poller(stack, process.pid)  # a loaded machine imports slowly
        agent_id = await create_agent(stack)
        created = await create_execution(stack, agent_id=agent_id, model_name="scripted:4000")
        execution_id = created.metadata.id
        deadline = asyncio.get_running_loop().time() + 30
        while True:  # wait until the runner process is mid-run (status streaming)
            current = await stack.context.service.get(execution_id)
            if any(m.type == enum_pb2.MESSAGE_AI and m.content for m in current.status.messages):
                break
            assert asyncio.get_running_loop().time() < deadline, "runner never started"
            await asyncio.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await stack.restart_runner()
    # Heartbeat timeout (3 s) notices the crash; the retry runs on the in-process runner.
    ended = await wait_for_phase(stack, execution_id, TERMINAL_PHASES, timeout=45)
    assert ended.status.phase in (enum_pb2.EXECUTION_COMPLETED, enum_pb2.EXECUTION_FAILED)
    if ended.status.phase == enum_pb2.EXECUTION_FAILED:
        assert "runner" in ended.status.error


async def wait_for_runner_poller(stack: Stack, pid: int, timeout: float = 90.0) -> None:
    """Until the runner process `pid` polls the runner queue (Temporal's own view)."""
    client = await Client.connect(stack.settings.temporal_address)
    request = DescribeTaskQueueRequest(
        namespace="default",
        task_queue=TaskQueue(name=stack.settings.runner_task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
    )
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        answer = await client.workflow_service.describe_task_queue(request)
        if any(p.identity.startswith(f"{pid}@") for p in answer.pollers):
            return
        assert asyncio.get_running_loop().time() < deadline, "the runner process never polled"
        await asyncio.sleep(0.2)


# -- callback_token: completing a caller's waiting activity -----------------------

async def test_callback_token_completes_the_waiting_external_activity(stack: Stack, tmp_path) -> None:
    async with waiting_caller(stack, tmp_path) as (handle, token):
        agent_id = await create_agent(stack)
        created = await create_execution(stack, agent_id=agent_id, message="callback please", callback_token=token)
        result = await asyncio.wait_for(handle.result(), timeout=45)
    # Completed with the stored AgentExecution message (a protobuf JSON payload).
    assert isinstance(result, api_pb2.AgentExecution)
    assert result.metadata.id == created.metadata.id
    assert result.status.phase == enum_pb2.EXECUTION_COMPLETED
    assert any("callback please" in m.content for m in result.status.messages)


async def test_an_agent_stored_with_a_command_the_runner_does_not_allow_fails_its_run(
    stack: Stack, tmp_path
) -> None:
    """The runner checks the policy itself: an agent stored before the lists changed (or
    by a server with other lists) cannot run a shell through it."""
    from ai.stigmer.agentic.agent.v1.api_pb2 import Agent
    from application.agents import AgentService
    from domain.mcp_policy import McpPolicy
    from domain.resource_rules import DEFAULT_MODEL_ANNOTATION

    marker = tmp_path / "owned"
    resources = stack.context.service.resources
    permissive = AgentService(resources.agents.store, resources.instances, mcp_policy=McpPolicy(stdio_commands=("/bin/sh",)))
    request = Agent()
    request.metadata.name = "stored-earlier"
    request.metadata.annotations[DEFAULT_MODEL_ANNOTATION] = "scripted"
    request.spec.instructions = "Use the tools you have."
    shell = request.spec.mcp_servers.add(name="shell")
    shell.stdio.command = "/bin/sh"
    shell.stdio.args.extend(["-c", f"touch {marker}"])
    agent = await permissive.create(request)

    created = await create_execution(stack, agent_id=agent.metadata.id, message="run it")
    done = await wait_for_phase(stack, created.metadata.id, TERMINAL_PHASES, timeout=30)
    assert done.status.phase == enum_pb2.EXECUTION_FAILED
    assert "MCP server 'shell': command '/bin/sh' is not allowed on this service" in done.status.error
    assert "MCP_STDIO_COMMANDS" in done.status.error
    assert not marker.exists()

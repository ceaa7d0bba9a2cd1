"""MCP servers start every time: 40 executions of an agent with a stdio MCP server
(`mcp-server-time`) on one runner — 20 one after another, then waves of 4, 8 and 8 at
once — each ends COMPLETED with the tool's result stored.

The runner is the `stigmer-service runner` process, as deployed: how that process runs
its event loop decides how it spawns MCP servers (a runner on uvloop forked them from a
multi-threaded process, and about one child in ten died before it could exec).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ai.stigmer.agentic.agent.v1.api_pb2 import Agent
from ai.stigmer.agentic.agentexecution.v1 import api_pb2, enum_pb2
from devtools.embedded import ServiceEndpoints
from devtools.stack import log_tail, stop_process
from domain.resource_rules import DEFAULT_MODEL_ANNOTATION
from infra.settings import Settings
from tests.utils.stack import Stack, create_execution, running_stack, stack_settings, wait_for_phase

TOOL = "get_current_time"
SEQUENTIAL = 20
WAVES = (4, 8, 8)
TERMINAL = {enum_pb2.EXECUTION_COMPLETED, enum_pb2.EXECUTION_FAILED, enum_pb2.EXECUTION_CANCELLED}


def runner_environment(settings: Settings) -> dict[str, str]:
    """What a `stigmer-service runner` process needs to serve this stack."""
    values = {
        "temporal_address": settings.temporal_address,
        "temporal_namespace": settings.temporal_namespace,
        "runner_task_queue": settings.runner_task_queue,
        "server_grpc_target": settings.server_grpc_target,
        "heartbeat_interval_seconds": settings.heartbeat_interval_seconds,
        "scripted_token_delay_ms": 0,
        "scripted_step_delay_ms": 0,
        "mcp_tool_timeout_seconds": 60,
        # The stack's MCP policy and sandbox, which allow the server this test starts.
        "mcp_stdio_commands": settings.mcp_stdio_commands,
        "mcp_stdio_sandbox": settings.mcp_stdio_sandbox,
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("STIGMER_")}
    return {**env, **{name.upper(): str(value) for name, value in values.items()}}


@contextmanager
def runner_process(settings: Settings, log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`stigmer-service runner` as a child; no preexec_fn (that would fork this
    multi-threaded test process with its at-fork handlers), so it is stopped here."""
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "stigmer_service.cli", "runner"], env=runner_environment(settings),
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        stop_process(process, grace=20)


@pytest.fixture(scope="module")
async def stack_with_runner_process(services: ServiceEndpoints, tmp_path_factory: pytest.TempPathFactory
                                    ) -> AsyncIterator[tuple[Stack, Path]]:
    log_dir = tmp_path_factory.mktemp("mcp-starts")
    # A runner process may take a while to start on a busy machine, and 8 MCP servers
    # starting at once keep it busy: generous pick-up and heartbeat limits.
    settings = stack_settings(services, runner_pickup_timeout_seconds=60.0, heartbeat_timeout_seconds=20.0,
                              execution_timeout_seconds=120.0)
    async with running_stack(settings, with_runner=False) as stack:
        with runner_process(stack.settings, log_dir / "runner.log"):
            yield stack, log_dir / "runner.log"


async def create_clock_agent(stack: Stack) -> str:
    request = Agent()
    request.metadata.name = f"clock-{uuid.uuid4().hex[:6]}"
    request.metadata.annotations[DEFAULT_MODEL_ANNOTATION] = "scripted"
    request.spec.instructions = f'Tell the time.\ncall tool {TOOL} {{"timezone": "UTC"}}'
    server = request.spec.mcp_servers.add(name="time", enabled_tools=[TOOL])
    server.stdio.command = "mcp-server-time"
    server.stdio.args.extend(["--local-timezone", "UTC"])
    return (await stack.context.service.resources.agents.create(request)).metadata.id


def why_not_done(execution: api_pb2.AgentExecution) -> str | None:
    """None when the execution ended COMPLETED with the tool's result stored; else why not."""
    status = execution.status
    if status.phase != enum_pb2.EXECUTION_COMPLETED:
        return f"{execution.metadata.id}: {enum_pb2.ExecutionPhase.Name(status.phase)} {status.error}"
    calls = [call for call in status.tool_calls if call.name == TOOL]
    if not calls or calls[0].status != enum_pb2.TOOL_CALL_COMPLETED:
        return f"{execution.metadata.id}: no completed {TOOL} call"
    if "datetime" not in json.loads(calls[0].result):
        return f"{execution.metadata.id}: {TOOL} result without a time: {calls[0].result[:100]}"
    return None


async def test_a_stdio_mcp_server_starts_for_every_one_of_40_executions(
    stack_with_runner_process: tuple[Stack, Path],
) -> None:
    stack, runner_log = stack_with_runner_process
    agent_id = await create_clock_agent(stack)

    async def one(i: int) -> str | None:
        created = await create_execution(stack, agent_id=agent_id, message=f"what time is it? ({i})")
        return why_not_done(await wait_for_phase(stack, created.metadata.id, TERMINAL, timeout=120))

    outcomes = [await one(i) for i in range(SEQUENTIAL)]
    for size in WAVES:
        outcomes += await asyncio.gather(*(one(len(outcomes) + k) for k in range(size)))

    assert len(outcomes) == 40
    failed = [reason for reason in outcomes if reason is not None]
    assert not failed, f"{len(failed)} of 40 failed: {failed}\nrunner.log:\n{log_tail(runner_log, 40)}"

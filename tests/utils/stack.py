"""The whole stack in-process: server (REST + gRPC), workflow worker and runner, on the
real Temporal dev server, Redis and Mongo wire server, with the helpers the end-to-end
tests drive it with. Each stack gets its own database and task queues, so leftovers of
one never run in another."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
from temporalio.client import WorkflowHandle

from ai.stigmer.agentic.agentexecution.v1 import api_pb2, command_pb2_grpc, query_pb2_grpc
from devtools.embedded import ServiceEndpoints
from devtools.stack import backing_settings
from infra.settings import Settings
from runner.worker import run_runner
from stigmer_service.context import ServerContext
from stigmer_service.serve import serve_in_process
from stigmer_service.worker import run_worker
from tests.utils.mcp_policy import TEST_MCP_POLICY, TEST_SANDBOX_MODE

TEST_TIMEOUTS = {
    "heartbeat_timeout_seconds": 3.0,
    "heartbeat_interval_seconds": 0.5,
    "runner_pickup_timeout_seconds": 8.0,
    "execution_timeout_seconds": 60.0,
    "scripted_token_delay_ms": 2,
    "scripted_step_delay_ms": 5,
    "update_interval_ms": 50,
    "status_flush_timeout_seconds": 2.0,
}


@dataclass
class Stack:
    settings: Settings
    http_url: str
    grpc_target: str
    context: ServerContext  # a second client context on the same database, for assertions
    commands: command_pb2_grpc.AgentExecutionCommandControllerStub
    queries: query_pb2_grpc.AgentExecutionQueryControllerStub
    runner_stop: asyncio.Event
    runner_task: asyncio.Task
    server_stop: asyncio.Event
    server_task: asyncio.Task

    async def restart_runner(self, settings: Settings | None = None) -> None:
        """Start an in-process runner (after a test stopped or replaced it)."""
        self.runner_stop = asyncio.Event()
        self.runner_task = asyncio.create_task(run_runner(settings or self.settings, stop=self.runner_stop))

    async def stop_runner(self) -> None:
        self.runner_stop.set()
        await asyncio.gather(self.runner_task, return_exceptions=True)

    async def restart_server(self) -> None:
        """Stop the API server (dropping its connections) and start it on the same ports."""
        self.server_stop.set()
        await asyncio.wait_for(self.server_task, 20)
        self.server_stop, self.server_task, _ = await start_server(self.settings)


def stack_settings(services: ServiceEndpoints, **overrides) -> Settings:
    suffix = uuid.uuid4().hex[:8]
    values = dict(
        **backing_settings(services),
        mongodb_database=f"e2e_{suffix}",
        workflow_task_queue=f"wf-{suffix}",
        runner_task_queue=f"runner-{suffix}",
        http_port=0,
        grpc_port=0,
        **TEST_TIMEOUTS,
        **TEST_MCP_POLICY,
        mcp_stdio_sandbox=TEST_SANDBOX_MODE,
    )
    values.update(overrides)
    return Settings(**values)


start_server = serve_in_process  # the entry point's own launcher, in-process


@contextlib.asynccontextmanager
async def running_stack(settings: Settings, *, with_runner: bool = True) -> AsyncIterator[Stack]:
    server_stop, server, (http_port, grpc_port) = await start_server(settings)
    settings = settings.model_copy(update={
        "server_grpc_target": f"127.0.0.1:{grpc_port}", "http_port": http_port, "grpc_port": grpc_port,
    })
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(settings, stop=stop))
    runner_stop = asyncio.Event()
    runner = asyncio.create_task(
        run_runner(settings, stop=runner_stop) if with_runner else runner_stop.wait()
    )
    context = await ServerContext.open(settings, with_workflows=False)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}")
    stack = Stack(
        settings,
        f"http://127.0.0.1:{http_port}",
        f"127.0.0.1:{grpc_port}",
        context,
        command_pb2_grpc.AgentExecutionCommandControllerStub(channel),
        query_pb2_grpc.AgentExecutionQueryControllerStub(channel),
        runner_stop,
        runner,
        server_stop,
        server,
    )
    try:
        yield stack
    finally:
        stop.set()
        stack.server_stop.set()
        stack.runner_stop.set()
        await channel.close()
        hung = []
        for name, task in (("server", stack.server_task), ("worker", worker), ("runner", stack.runner_task)):
            try:
                await asyncio.wait_for(task, 20)
            except TimeoutError:
                hung.append(name)
            except Exception:  # a process that failed already reported it in its test
                pass
        await context.mongo.drop_database(settings.mongodb_database)
        await context.close()
        assert not hung, f"did not stop within 20 s: {hung}"


async def create_agent(stack: Stack, name: str | None = None) -> str:
    from ai.stigmer.agentic.agent.v1.api_pb2 import Agent
    from domain.resource_rules import DEFAULT_MODEL_ANNOTATION

    request = Agent()
    request.metadata.name = name or f"agent-{uuid.uuid4().hex[:6]}"
    request.metadata.annotations[DEFAULT_MODEL_ANNOTATION] = "scripted"
    # A real third-party MCP server over stdio; the scripted model calls its tool once.
    request.spec.instructions = (
        'You help people with their questions.\ncall tool get_current_time {"timezone": "UTC"}'
    )
    time_server = request.spec.mcp_servers.add(name="time", enabled_tools=["get_current_time"])
    time_server.stdio.command = "mcp-server-time"
    time_server.stdio.args.extend(["--local-timezone", "UTC"])
    request.spec.sub_agents.add(name="researcher", instructions="Find facts and summarise them.")
    agent = await stack.context.service.resources.agents.create(request)
    return agent.metadata.id


async def create_execution(stack: Stack, *, agent_id: str = "", session_id: str = "",
                           message: str = "hello there", model_name: str = "",
                           callback_token: bytes = b"") -> api_pb2.AgentExecution:
    request = api_pb2.AgentExecution()
    request.spec.message = message
    request.spec.agent_id = agent_id
    request.spec.session_id = session_id
    if model_name:
        request.spec.execution_config.model_name = model_name
    if callback_token:
        request.spec.callback_token = callback_token
    return await stack.commands.create(request)


async def wait_for_phase(stack: Stack, execution_id: str, phases: set[int], timeout: float = 30.0) -> api_pb2.AgentExecution:
    """Poll MongoDB (through the service) until the execution reaches one of `phases`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        execution = await stack.context.service.get(execution_id)
        if execution.status.phase in phases:
            return execution
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{execution_id} still {execution.status.phase} after {timeout}s")
        await asyncio.sleep(0.05)


async def follow_with_reconnect(http_url: str, execution_id: str, *, timeout: float = 60.0) -> list[tuple[int, dict]]:
    """Watch over SSE like a browser's EventSource: apply `state` and `patch` events to the
    held execution (the client's own applier), reconnect with Last-Event-ID whenever the
    stream drops (without it when a patch does not follow), until the `end` event.
    Returns every (version, held body) seen."""
    from client.live import HeldExecution, OutOfStep
    from client.sse import aiter_sse

    held = HeldExecution()
    received: list[tuple[int, dict]] = []
    deadline = asyncio.get_running_loop().time() + timeout
    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=30.0)) as client:
        while asyncio.get_running_loop().time() < deadline:
            headers = {"Last-Event-ID": str(held.version)} if held.body is not None else {}
            try:
                async with client.stream("GET", f"{http_url}/v1/agent-executions/{execution_id}/subscribe",
                                         headers=headers) as response:
                    if response.status_code != 200:
                        raise httpx.TransportError(f"status {response.status_code}")
                    async for event in aiter_sse(response.aiter_lines()):
                        body = None
                        if event.event == "state":
                            body = held.take_state(event.data)
                        elif event.event == "patch":
                            body = held.take_patch(event.data)
                        elif event.event == "end":
                            return received
                        if body is not None and (not received or held.version > received[-1][0]):
                            received.append((held.version, body))
            except OutOfStep:
                held = HeldExecution()  # a missed patch: start again from a fresh state
            except (httpx.TransportError, httpx.StreamError):
                pass
            await asyncio.sleep(0.1)  # EventSource's retry delay, shortened
    raise AssertionError(f"stream of {execution_id} did not end within {timeout}s; got {len(received)} states")


@contextlib.asynccontextmanager
async def waiting_caller(stack: Stack, token_dir: Path) -> AsyncIterator[tuple[WorkflowHandle[Any, Any], bytes]]:
    """A caller workflow whose activity waits to be completed through a callback token:
    yields its handle and that token once the activity is waiting."""
    from temporalio.client import Client
    from temporalio.worker import Worker

    from tests.e2e.caller_workflow import CallerWorkflow, wait_for_agent_execution

    client = await Client.connect(stack.settings.temporal_address)
    queue = f"caller-{uuid.uuid4().hex[:6]}"
    token_path = token_dir / "token"
    async with Worker(client, task_queue=queue, workflows=[CallerWorkflow], activities=[wait_for_agent_execution]):
        handle = await client.start_workflow(CallerWorkflow.run, str(token_path), id=f"caller-{queue}", task_queue=queue)
        deadline = asyncio.get_running_loop().time() + 20
        while not token_path.exists() or not token_path.read_bytes():
            assert asyncio.get_running_loop().time() < deadline, "the caller's activity never waited"
            await asyncio.sleep(0.05)
        yield handle, token_path.read_bytes()

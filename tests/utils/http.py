"""The REST/SSE app served by a real uvicorn server in this process (SSE needs real
streaming), plus an SSE reader over the client's parser. The `http_api` fixture is in
tests/integration/conftest.py."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import uvicorn

from ai.stigmer.agentic.agent.v1.api_pb2 import Agent
from ai.stigmer.agentic.agentexecution.v1 import api_pb2, enum_pb2, spec_pb2
from api.app import create_app
from client.sse import SSEEvent, SSEParser, aiter_sse
from domain.status_changes import apply_changes
from stigmer_service.context import ServerContext

EXECUTIONS = "/v1/agent-executions"


@dataclass
class HttpApi:
    base_url: str
    client: httpx.AsyncClient
    context: ServerContext


class _TestServer(uvicorn.Server):
    """Leaves signal handling to pytest (and sse-starlette's shutdown detection off it)."""

    @contextlib.contextmanager
    def capture_signals(self):
        yield


@contextlib.asynccontextmanager
async def serve_app(context: ServerContext, *, max_connections: int = 50) -> AsyncIterator[HttpApi]:
    """`create_app(context)` on a free port until the block ends."""
    config = uvicorn.Config(
        create_app(context),
        host="127.0.0.1",
        port=0,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=3,
    )
    server = _TestServer(config)
    task = asyncio.create_task(server.serve(), name="uvicorn-test-server")
    await wait_until(lambda: server.started or task.done(), what="uvicorn to start")
    if task.done():
        task.result()  # raises what stopped it
    port = server.servers[0].sockets[0].getsockname()[1]
    base_url = f"http://127.0.0.1:{port}"
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    client = httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(15.0), limits=limits)
    try:
        yield HttpApi(base_url, client, context)
    finally:
        await client.aclose()
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)


async def create_execution(api: HttpApi, agent: Agent, message: str = "hello", **spec) -> dict:
    """POST one execution of `agent` (a new session); returns its body."""
    response = await api.client.post(EXECUTIONS, json={"spec": {"message": message, "agent_id": agent.metadata.id, **spec}})
    assert response.status_code == 201, response.text
    return response.json()


def status_with(phase: int, *texts: str) -> api_pb2.AgentExecutionStatus:
    """A runner-style whole status: the phase and the AI messages so far."""
    return api_pb2.AgentExecutionStatus(
        phase=phase,
        messages=[spec_pb2.AgentMessage(type=enum_pb2.MESSAGE_AI, content=t) for t in texts],
    )


async def wait_until(predicate, *, timeout: float = 10.0, what: str = "condition") -> None:
    """Poll `predicate` (sync or async) until true, failing after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


# -- SSE -------------------------------------------------------------------------------


SseEvent = SSEEvent


def as_states(events: list[SseEvent], base: dict | None = None) -> list[SseEvent]:
    """The stream with each `patch` replaced by the `state` it makes, as a client builds it
    (domain.status_changes.apply_changes on the held status); a patch that does not follow the
    held version fails the test. `base`: the state held before the stream (a resume)."""
    held, states = base, []
    for event in events:
        if event.event == "patch":
            patch = event.json()
            assert held is not None, "a patch before any state"
            assert patch["base_version"] == held["version"], (patch["base_version"], held["version"])
            assert patch["version"] == int(event.id)
            held = {**held, "status": apply_changes(held.get("status", {}), patch["changes"]),
                    "version": patch["version"]}
            event = dataclasses.replace(event, event="state", data=json.dumps(held))
        elif event.event == "state":
            held = event.json()
        states.append(event)
    return states


async def read_events(response: httpx.Response) -> AsyncIterator[SSEEvent]:
    """The events of a text/event-stream body exactly as sent: each with its own id only,
    and comment-only blocks (keep-alive pings) as events with empty data."""
    async for event in aiter_sse(response.aiter_lines(), SSEParser(keepalives=True, carry_id=False)):
        yield event


async def collect_stream(
    client: httpx.AsyncClient, path: str, *, headers: dict[str, str] | None = None,
    first_state: asyncio.Event | None = None,
) -> list[SseEvent]:
    """Every non-ping event of one SSE stream until the server closes it."""
    events: list[SseEvent] = []
    async with client.stream("GET", path, headers=headers) as response:
        assert response.status_code == 200, await response.aread()
        async for event in read_events(response):
            if event.event == "message" and not event.data:
                continue  # ping
            events.append(event)
            if first_state is not None and event.event == "state":
                first_state.set()
    return events

"""Failures are normal: Redis, MongoDB, the API server and Temporal restart mid-run;
watchers converge and nothing is lost. Each test is bounded in time.

These run on their own persistent backing services, so restarts keep the data and
never disturb the rest of the suite."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from ai.stigmer.agentic.agentexecution.v1 import enum_pb2
from devtools.embedded import EmbeddedServices
from domain.convert import execution_to_body
from domain.status_rules import TERMINAL_PHASES
from tests.utils.stack import (
    Stack,
    create_agent,
    create_execution,
    follow_with_reconnect,
    running_stack,
    stack_settings,
    wait_for_phase,
)


@pytest.fixture(scope="module")
def fault_services(tmp_path_factory):
    launcher = EmbeddedServices(tmp_path_factory.mktemp("fault-services"), persistent=True)
    launcher.start()
    yield launcher
    launcher.stop()


@pytest.fixture(scope="module")
async def fault_stack(fault_services) -> AsyncIterator[Stack]:
    settings = stack_settings(fault_services.endpoints, sse_db_check_seconds=0.5, status_flush_timeout_seconds=10)
    async with running_stack(settings) as stack:
        yield stack


async def start_long_run(stack: Stack, tokens: int = 1500):
    agent_id = await create_agent(stack)
    created = await create_execution(stack, agent_id=agent_id, message="survive this",
                                     model_name=f"scripted:{tokens}")
    watcher = asyncio.create_task(follow_with_reconnect(stack.http_url, created.metadata.id))
    deadline = asyncio.get_running_loop().time() + 30
    while True:  # until the answer is streaming: the middle of the run
        current = await stack.context.service.get(created.metadata.id)
        if any(m.type == enum_pb2.MESSAGE_AI and len(m.content) > 20 for m in current.status.messages):
            return created.metadata.id, watcher
        assert asyncio.get_running_loop().time() < deadline, "run never reached its answer"
        await asyncio.sleep(0.05)


async def assert_converged(stack: Stack, execution_id: str, watcher: asyncio.Task) -> None:
    received = await asyncio.wait_for(watcher, 60)
    versions = [version for version, _ in received]
    assert versions == sorted(set(versions)), "a watcher saw a version twice or out of order"
    stored = await wait_for_phase(stack, execution_id, TERMINAL_PHASES, timeout=30)
    assert stored.status.phase == enum_pb2.EXECUTION_COMPLETED, stored.status.error
    last_version, last_state = received[-1]
    assert last_version == stored.status.version
    assert last_state == execution_to_body(stored)
    answer = [m.content for m in stored.status.messages if m.type == enum_pb2.MESSAGE_AI and m.content][-1]
    assert "survive this" in answer


async def test_redis_restarted_mid_stream(fault_services, fault_stack: Stack) -> None:
    execution_id, watcher = await start_long_run(fault_stack)
    await asyncio.to_thread(fault_services.restart, "redis")
    await assert_converged(fault_stack, execution_id, watcher)


async def test_mongodb_restarted_mid_run(fault_services, fault_stack: Stack) -> None:
    execution_id, watcher = await start_long_run(fault_stack)
    await asyncio.to_thread(fault_services.restart, "mongodb")
    await assert_converged(fault_stack, execution_id, watcher)


async def test_api_server_restarted_with_watchers_connected(fault_stack: Stack) -> None:
    execution_id, first = await start_long_run(fault_stack)
    others = [asyncio.create_task(follow_with_reconnect(fault_stack.http_url, execution_id)) for _ in range(3)]
    await fault_stack.restart_server()
    for watcher in [first, *others]:
        await assert_converged(fault_stack, execution_id, watcher)


async def test_temporal_restarted_mid_run(fault_services, fault_stack: Stack) -> None:
    execution_id, watcher = await start_long_run(fault_stack)
    await asyncio.to_thread(fault_services.restart, "temporal")
    await assert_converged(fault_stack, execution_id, watcher)

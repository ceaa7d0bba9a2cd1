"""Nothing stays IN_PROGRESS forever: no runner, or an agent that runs too long, ends
FAILED with a reason a person can read."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ai.stigmer.agentic.agentexecution.v1 import enum_pb2
from domain.status_rules import TERMINAL_PHASES
from tests.utils.stack import (
    Stack,
    create_agent,
    create_execution,
    running_stack,
    stack_settings,
    wait_for_phase,
)


@pytest.fixture(scope="module")
async def short_stack(services) -> AsyncIterator[Stack]:
    settings = stack_settings(services, runner_pickup_timeout_seconds=1.5, execution_timeout_seconds=1.5)
    async with running_stack(settings, with_runner=False) as stack:
        yield stack


async def test_no_runner_available_fails_readably(short_stack: Stack) -> None:
    agent_id = await create_agent(short_stack)
    created = await create_execution(short_stack, agent_id=agent_id)
    failed = await wait_for_phase(short_stack, created.metadata.id, TERMINAL_PHASES, timeout=20)
    assert failed.status.phase == enum_pb2.EXECUTION_FAILED
    assert "no runner picked up the execution within 1.5s" in failed.status.error
    assert short_stack.settings.runner_task_queue in failed.status.error


async def test_an_agent_running_too_long_fails_readably(short_stack: Stack) -> None:
    await short_stack.restart_runner()
    try:
        agent_id = await create_agent(short_stack)
        created = await create_execution(short_stack, agent_id=agent_id, model_name="scripted:100000")
        failed = await wait_for_phase(short_stack, created.metadata.id, TERMINAL_PHASES, timeout=30)
    finally:
        await short_stack.stop_runner()
    assert failed.status.phase == enum_pb2.EXECUTION_FAILED
    assert "did not finish within 1.5s" in failed.status.error

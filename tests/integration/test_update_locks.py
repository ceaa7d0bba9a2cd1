"""The per-execution update lock table holds an entry only while an update runs or waits."""

from __future__ import annotations

import asyncio
import contextlib

from ai.stigmer.agentic.agent.v1.api_pb2 import Agent
from ai.stigmer.agentic.agentexecution.v1 import api_pb2, enum_pb2
from stigmer_service.context import ServerContext
from tests.utils.http import status_with


async def test_an_update_cancelled_while_waiting_for_the_lock_leaves_no_entry(
    context: ServerContext, agent: Agent
) -> None:
    service = context.service
    execution = await _new_execution(context, agent)
    execution_id = execution.metadata.id
    status = status_with(enum_pb2.EXECUTION_IN_PROGRESS, "a")
    holder = asyncio.create_task(service.update_status(execution_id, status, 1))
    waiter = asyncio.create_task(service.update_status(execution_id, status, 2))
    await asyncio.sleep(0)  # the holder is now in MongoDB with the lock, the waiter queued on it
    assert not holder.done() and not waiter.done()
    waiter.cancel()  # the client of the second update left
    with contextlib.suppress(asyncio.CancelledError):
        await waiter
    await holder
    assert len(service._update_locks) == 0


async def _new_execution(context: ServerContext, agent: Agent) -> api_pb2.AgentExecution:
    request = api_pb2.AgentExecution()
    request.spec.message = "hello"
    request.spec.agent_id = agent.metadata.id
    execution, _ = await context.service.create(request)
    return execution

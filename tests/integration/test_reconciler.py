"""The reconciler and cancel end executions that nothing else would: no workflow, or a
workflow that ended without writing the final phase (real Temporal and MongoDB)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from ai.stigmer.agentic.agentexecution.v1 import api_pb2, enum_pb2
from core.context import ServerContext
from core.ids import new_id
from core.reconciler import Reconciler
from core.workflow_contract import workflow_id_for
from devtools.embedded import ServiceEndpoints
from persistence.spill import CONTENT_COLLECTION
from tests.integration.conftest import make_settings

LATER = datetime.now(UTC) + timedelta(days=1)  # past every grace period


@pytest.fixture
async def wf_context(services: ServiceEndpoints, mongo_db_name: str) -> AsyncIterator[ServerContext]:
    """A context that starts workflows on a queue no worker polls: they stay RUNNING."""
    settings = make_settings(services, mongo_db_name, workflow_task_queue=f"idle-{uuid.uuid4().hex[:8]}")
    ctx = await ServerContext.open(settings, with_hub=False)
    yield ctx
    await ctx.mongo.drop_database(mongo_db_name)
    await ctx.close()


async def stored_without_workflow(context: ServerContext, phase: int) -> api_pb2.AgentExecution:
    """An execution as a create leaves it when its reply (and workflow start) was lost."""
    execution = api_pb2.AgentExecution()
    execution.metadata.id = new_id("aex")
    execution.spec.message = "hello"
    execution.spec.session_id = new_id("ses")
    execution.status.phase = phase  # type: ignore[assignment]
    return await context.service.executions.insert(execution)


async def test_pending_execution_without_workflow_gets_its_workflow_started(wf_context: ServerContext) -> None:
    execution = await stored_without_workflow(wf_context, enum_pb2.EXECUTION_PENDING)
    reconciler = Reconciler(wf_context.service, wf_context.temporal, grace_seconds=60)
    assert await reconciler.run_once() == []  # young executions are left to the normal path
    repairs = await reconciler.run_once(now=LATER)
    assert [(r.execution_id, r.action) for r in repairs] == [(execution.metadata.id, "started")]
    described = await wf_context.temporal.get_workflow_handle(workflow_id_for(execution.metadata.id)).describe()
    assert described.workflow_type == "stigmer/agent-execution/invoke"


async def test_an_orphan_behind_150_healthy_runs_is_started_in_the_same_round(wf_context: ServerContext) -> None:
    healthy = [await stored_without_workflow(wf_context, enum_pb2.EXECUTION_PENDING) for _ in range(150)]
    await asyncio.gather(*(wf_context.service.workflows.start(execution) for execution in healthy))
    orphan = await stored_without_workflow(wf_context, enum_pb2.EXECUTION_PENDING)  # the newest id
    repairs = await Reconciler(wf_context.service, wf_context.temporal, grace_seconds=60).run_once(now=LATER)
    assert [(r.execution_id, r.action) for r in repairs] == [(orphan.metadata.id, "started")]


async def test_execution_whose_workflow_was_terminated_ends_failed(wf_context: ServerContext) -> None:
    execution = await stored_without_workflow(wf_context, enum_pb2.EXECUTION_PENDING)
    await wf_context.service.workflows.start(execution)
    await wf_context.service.update_status(
        execution.metadata.id, api_pb2.AgentExecutionStatus(phase=enum_pb2.EXECUTION_IN_PROGRESS)
    )
    handle = wf_context.temporal.get_workflow_handle(workflow_id_for(execution.metadata.id))
    reconciler = Reconciler(wf_context.service, wf_context.temporal, grace_seconds=0)
    assert await reconciler.run_once(now=LATER) == []  # running: its workflow will finish it
    await handle.terminate("operator stopped it")
    repairs = await reconciler.run_once(now=LATER)
    assert [r.action for r in repairs] == ["EXECUTION_FAILED"]
    ended = await wf_context.service.get(execution.metadata.id)
    assert ended.status.phase == enum_pb2.EXECUTION_FAILED
    assert "terminated" in ended.status.error
    assert await reconciler.run_once(now=LATER) == []  # terminal now: left alone


async def test_cancel_of_an_execution_without_workflow_ends_it_cancelled(wf_context: ServerContext) -> None:
    execution = await stored_without_workflow(wf_context, enum_pb2.EXECUTION_PENDING)
    cancelled = await wf_context.service.cancel(execution.metadata.id)
    assert cancelled.status.phase == enum_pb2.EXECUTION_CANCELLED
    stored = await wf_context.service.get(execution.metadata.id)
    assert stored.status.phase == enum_pb2.EXECUTION_CANCELLED


async def test_each_round_removes_status_texts_whose_execution_is_gone(wf_context: ServerContext) -> None:
    live = await stored_without_workflow(wf_context, enum_pb2.EXECUTION_COMPLETED)
    content = wf_context.db[CONTENT_COLLECTION]
    await content.insert_many([
        {"_id": f"{live.metadata.id}:1", "execution_id": live.metadata.id, "text": "kept"},
        {"_id": "aex_gone:1", "execution_id": new_id("aex"), "text": "left by a write that raced a delete"},
    ])
    await Reconciler(wf_context.service, wf_context.temporal, grace_seconds=60).run_once()
    assert [doc["text"] async for doc in content.find({})] == ["kept"]

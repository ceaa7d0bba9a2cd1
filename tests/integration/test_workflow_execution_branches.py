"""Each branch of the workflow-execution invoke workflow, with a stand-in `ExecuteWorkflow`
registered under Stigmer's name and the real service-side activities on real MongoDB."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio import activity
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from ai.stigmer.agentic.workflowexecution.v1 import api_pb2, enum_pb2
from devtools.embedded import ServiceEndpoints
from domain.workflow_runner_contract import EXECUTE_WORKFLOW_ACTIVITY, execution_workflow_id
from stigmer_service.context import ServerContext
from tests.e2e.caller_workflow import CallerWorkflow, wait_for_agent_execution
from tests.utils.contexts import make_settings
from tests.utils.workflow_docs import workflow
from workflows.worker import workflow_domain_workers

TERMINAL = {enum_pb2.EXECUTION_COMPLETED, enum_pb2.EXECUTION_FAILED, enum_pb2.EXECUTION_CANCELLED}


@pytest.fixture
async def wf(services: ServiceEndpoints, mongo_db_name: str) -> AsyncIterator[ServerContext]:
    suffix = uuid.uuid4().hex[:8]
    settings = make_settings(
        services, mongo_db_name, workflow_execution_task_queue=f"wfx-{suffix}",
        workflow_execution_runner_task_queue=f"wfx-run-{suffix}", workflow_validation_task_queue=f"wfv-{suffix}",
        workflow_validation_runner_task_queue=f"wfv-run-{suffix}", workflow_validation_wait_seconds=0,
        runner_pickup_timeout_seconds=2.0,
    )
    ctx = await ServerContext.open(settings, with_hub=False)
    async with contextlib.AsyncExitStack() as workers:
        for worker in workflow_domain_workers(ctx.workflows, ctx.workflow_executions, ctx.temporal, settings):
            await workers.enter_async_context(worker)
        yield ctx
    await ctx.mongo.drop_database(mongo_db_name)
    await ctx.close()


def runner(ctx: ServerContext, execute) -> Worker:
    return Worker(ctx.temporal, task_queue=ctx.settings.workflow_execution_runner_task_queue,
                  activities=[activity.defn(name=EXECUTE_WORKFLOW_ACTIVITY)(execute)])


async def start(ctx: ServerContext, callback_token: bytes = b"") -> str:
    created = await ctx.workflows.create_workflow(workflow(f"branch-{uuid.uuid4().hex[:6]}"))
    request = api_pb2.WorkflowExecution()
    request.spec.workflow_id = created.metadata.id
    request.spec.callback_token = callback_token
    return (await ctx.workflow_executions.create(request)).metadata.id


async def ended(ctx: ServerContext, execution_id: str) -> api_pb2.WorkflowExecution:
    assert ctx.temporal is not None
    await asyncio.wait_for(ctx.temporal.get_workflow_handle(execution_workflow_id(execution_id)).result(), 20)
    stored = await ctx.workflow_executions.get(execution_id)
    assert stored.status.phase in TERMINAL
    return stored


async def test_a_runner_error_ends_failed_with_its_message(wf: ServerContext) -> None:
    async def execute(execution: api_pb2.WorkflowExecution) -> api_pb2.WorkflowExecutionStatus:
        raise ApplicationError("failed to convert workflow to YAML: bad", non_retryable=True)

    async with runner(wf, execute):
        done = await ended(wf, await start(wf))
    assert done.status.phase == enum_pb2.EXECUTION_FAILED
    assert done.status.error == "failed to convert workflow to YAML: bad" and done.status.completed_at


async def test_a_returned_status_without_a_terminal_phase_ends_completed(wf: ServerContext) -> None:
    async def execute(execution: api_pb2.WorkflowExecution) -> api_pb2.WorkflowExecutionStatus:
        status = api_pb2.WorkflowExecutionStatus()
        status.tasks.add(task_id="t", task_name="only", status=enum_pb2.WORKFLOW_TASK_COMPLETED)
        return status

    async with runner(wf, execute):
        done = await ended(wf, await start(wf))
    assert done.status.phase == enum_pb2.EXECUTION_COMPLETED
    assert [t.task_name for t in done.status.tasks] == ["only"]


async def test_a_runner_that_returns_no_status_ends_failed(wf: ServerContext) -> None:
    async def execute(execution: api_pb2.WorkflowExecution) -> None:
        return None

    async with runner(wf, execute):
        done = await ended(wf, await start(wf))
    assert done.status.phase == enum_pb2.EXECUTION_FAILED
    assert done.status.error == "the workflow runner returned no status"


async def test_no_runner_ends_failed_saying_so(wf: ServerContext) -> None:
    done = await ended(wf, await start(wf))
    assert done.status.phase == enum_pb2.EXECUTION_FAILED
    assert "no workflow runner picked up the execution" in done.status.error


async def test_a_callback_token_completes_the_callers_activity_with_the_execution(
    wf: ServerContext, tmp_path: Path
) -> None:
    assert wf.temporal is not None
    queue = f"caller-{uuid.uuid4().hex[:6]}"
    token_path = tmp_path / "token"

    async def execute(execution: api_pb2.WorkflowExecution) -> api_pb2.WorkflowExecutionStatus:
        return api_pb2.WorkflowExecutionStatus(phase=enum_pb2.EXECUTION_COMPLETED)

    async with Worker(wf.temporal, task_queue=queue, workflows=[CallerWorkflow], activities=[wait_for_agent_execution]):
        caller = await wf.temporal.start_workflow(CallerWorkflow.run, str(token_path), id=queue, task_queue=queue)
        while not token_path.exists() or not token_path.read_bytes():
            await asyncio.sleep(0.05)
        async with runner(wf, execute):
            execution_id = await start(wf, callback_token=token_path.read_bytes())
            await ended(wf, execution_id)
            result = await asyncio.wait_for(caller.result(), 20)
    assert isinstance(result, api_pb2.WorkflowExecution)  # the payload names its message type
    assert result.metadata.id == execution_id and result.status.phase == enum_pb2.EXECUTION_COMPLETED
    assert not result.spec.callback_token and not result.status.version


async def test_a_failed_execution_fails_the_callers_activity(wf: ServerContext, tmp_path: Path) -> None:
    assert wf.temporal is not None
    queue = f"caller-{uuid.uuid4().hex[:6]}"
    token_path = tmp_path / "token"
    async with Worker(wf.temporal, task_queue=queue, workflows=[CallerWorkflow], activities=[wait_for_agent_execution]):
        caller = await wf.temporal.start_workflow(CallerWorkflow.run, str(token_path), id=queue, task_queue=queue)
        while not token_path.exists() or not token_path.read_bytes():
            await asyncio.sleep(0.05)
        await start(wf, callback_token=token_path.read_bytes())  # no runner: it fails
        with pytest.raises(WorkflowFailureError) as caught:
            await asyncio.wait_for(caller.result(), 30)
    assert "no workflow runner picked up" in str(caught.value.cause.cause)  # type: ignore[union-attr]


async def test_the_reconciler_starts_what_never_started_and_ends_what_was_terminated(wf: ServerContext) -> None:
    from datetime import UTC, datetime, timedelta

    from application.workflow_execution_reconciler import WorkflowExecutionReconciler
    from domain.ids import new_id

    assert wf.temporal is not None
    reconciler = WorkflowExecutionReconciler(wf.workflow_executions, wf.temporal, grace_seconds=60)
    created = await wf.workflows.create_workflow(workflow(f"lost-{uuid.uuid4().hex[:6]}"))
    lost = api_pb2.WorkflowExecution()
    lost.metadata.id = new_id("wex")
    lost.spec.workflow_id, lost.spec.workflow_instance_id = created.metadata.id, created.status.default_instance_id
    lost.status.phase = enum_pb2.EXECUTION_PENDING
    await wf.workflow_executions.executions.insert(lost)  # as if the server died before starting it
    terminated = await start(wf)
    await wf.temporal.get_workflow_handle(execution_workflow_id(terminated)).terminate("by an operator")
    repairs = dict(await reconciler.run_once(now=datetime.now(UTC) + timedelta(hours=1)))
    assert repairs == {lost.metadata.id: "started", terminated: "EXECUTION_FAILED"}
    assert (await wf.workflow_executions.get(terminated)).status.error == "its workflow was terminated"
    described = await wf.temporal.get_workflow_handle(execution_workflow_id(lost.metadata.id)).describe()
    assert described.id == execution_workflow_id(lost.metadata.id)

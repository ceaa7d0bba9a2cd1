"""Each branch of the invoke workflow, with stand-in runner activities registered under
Stigmer's names and the real service-side activities on real MongoDB. (Temporal's
time-skipping server is a download, so these run on the embedded dev server with
short timeouts instead.)

Every worker here decodes as strictly as Stigmer's: its messages against Stigmer's
descriptors, refusing fields Stigmer lacks (tests/utils/stigmer_contract.py). So a
workflow that let one of our additions into a payload fails each of these tests."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import pytest
from temporalio import activity, workflow
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from ai.stigmer.agentic.agentexecution.v1 import api_pb2, enum_pb2
from devtools.embedded import ServiceEndpoints
from domain.ids import new_id
from domain.status_rules import TERMINAL_PHASES
from domain.workflow_contract import AGENT_ERROR_TYPE, ENSURE_THREAD, EXECUTE_GRAPHTON, workflow_id_for
from stigmer_service.context import ServerContext
from tests.utils.contexts import make_settings
from tests.utils.payloads import payloads_in
from tests.utils.stigmer_contract import STRICT_STIGMER_CONVERTER, decode_strictly, stigmer_class
from workflows.activities import ServiceActivities
from workflows.workflow import InvokeAgentExecutionWorkflow

Graphton = Callable[[api_pb2.AgentExecution, str], "asyncio.Future[api_pb2.AgentExecutionStatus]"]


@pytest.fixture
async def wf(services: ServiceEndpoints, mongo_db_name: str) -> AsyncIterator[ServerContext]:
    suffix = uuid.uuid4().hex[:8]
    settings = make_settings(
        services, mongo_db_name, workflow_task_queue=f"wf-{suffix}", runner_task_queue=f"run-{suffix}",
        runner_pickup_timeout_seconds=2.0, heartbeat_timeout_seconds=1.0,
    )
    ctx = await ServerContext.open(settings, with_hub=False)
    service_activities = ServiceActivities(ctx.service, ctx.temporal)
    async with Worker(
        strict_client(ctx),  # decodes the workflow input and the local status writes
        task_queue=settings.workflow_task_queue,
        workflows=[InvokeAgentExecutionWorkflow],
        activities=[service_activities.update_execution_status, service_activities.complete_external_activity],
    ):
        yield ctx
    await ctx.mongo.drop_database(mongo_db_name)
    await ctx.close()


def strict_client(ctx: ServerContext) -> Client:
    """The same Temporal connection, decoding as Stigmer's workers do."""
    return Client(ctx.temporal.service_client, namespace=ctx.temporal.namespace,
                  data_converter=STRICT_STIGMER_CONVERTER)


def runner_worker(ctx: ServerContext, execute_graphton) -> Worker:
    """A foreign runner: Stigmer's activity names, and Stigmer's strict decoding."""
    @activity.defn(name=ENSURE_THREAD)
    async def ensure_thread(session_id: str, agent_id: str) -> str:
        return f"thread_{session_id}"

    return Worker(
        strict_client(ctx),
        task_queue=ctx.settings.runner_task_queue,
        activities=[ensure_thread, activity.defn(name=EXECUTE_GRAPHTON)(execute_graphton)],
    )


async def start(ctx: ServerContext, callback_token: bytes = b"") -> str:
    execution = api_pb2.AgentExecution()
    execution.metadata.id = new_id("aex")
    execution.spec.message = "hello"
    execution.spec.session_id = new_id("ses")
    execution.spec.callback_token = callback_token
    execution.status.phase = enum_pb2.EXECUTION_PENDING
    stored = await ctx.service.executions.insert(execution)
    await ctx.service.workflows.start(stored)
    return stored.metadata.id


async def ended(ctx: ServerContext, execution_id: str, timeout: float = 20.0) -> api_pb2.AgentExecution:
    """The stored execution once its workflow closed; Temporal's status of the workflow
    says the same as the execution's phase."""
    handle = ctx.temporal.get_workflow_handle(workflow_id_for(execution_id))
    with contextlib.suppress(WorkflowFailureError):
        await asyncio.wait_for(handle.result(), timeout)
    stored = await ctx.service.get(execution_id)
    assert stored.status.phase in TERMINAL_PHASES
    assert (await handle.describe()).status == WORKFLOW_STATUS_OF[stored.status.phase]
    return stored


WORKFLOW_STATUS_OF = {
    enum_pb2.EXECUTION_COMPLETED: WorkflowExecutionStatus.COMPLETED,
    enum_pb2.EXECUTION_FAILED: WorkflowExecutionStatus.FAILED,
    enum_pb2.EXECUTION_CANCELLED: WorkflowExecutionStatus.CANCELED,
}


async def test_agent_error_ends_failed_with_its_message(wf: ServerContext) -> None:
    async def execute_graphton(execution: api_pb2.AgentExecution, thread_id: str) -> api_pb2.AgentExecutionStatus:
        raise ApplicationError("agent failed: the model refused", type=AGENT_ERROR_TYPE, non_retryable=True)

    async with runner_worker(wf, execute_graphton):
        done = await ended(wf, await start(wf))
    assert done.status.phase == enum_pb2.EXECUTION_FAILED
    assert done.status.error == "agent failed: the model refused"


async def test_runner_status_without_a_terminal_phase_ends_completed_with_its_content(wf: ServerContext) -> None:
    async def execute_graphton(execution: api_pb2.AgentExecution, thread_id: str) -> api_pb2.AgentExecutionStatus:
        status = api_pb2.AgentExecutionStatus()
        status.messages.add(type=enum_pb2.MESSAGE_AI, content=f"answer to {execution.spec.message} in {thread_id}")
        return status

    async with runner_worker(wf, execute_graphton):
        execution_id = await start(wf)
        done = await ended(wf, execution_id)
    assert done.status.phase == enum_pb2.EXECUTION_COMPLETED
    assert done.status.messages[-1].content.startswith("answer to hello in thread_ses_")


async def test_cancel_during_the_agent_run_ends_cancelled(wf: ServerContext) -> None:
    running = asyncio.Event()

    async def execute_graphton(execution: api_pb2.AgentExecution, thread_id: str) -> api_pb2.AgentExecutionStatus:
        running.set()
        while True:  # until cancelled: heartbeats carry the cancel to the activity
            activity.heartbeat()
            await asyncio.sleep(0.1)

    async with runner_worker(wf, execute_graphton):
        execution_id = await start(wf)
        await asyncio.wait_for(running.wait(), 20)
        await wf.service.cancel(execution_id)
        done = await ended(wf, execution_id)
    assert done.status.phase == enum_pb2.EXECUTION_CANCELLED
    assert done.status.error == "cancelled by request"


async def test_no_runner_on_the_queue_fails_readably(wf: ServerContext) -> None:
    done = await ended(wf, await start(wf))
    assert done.status.phase == enum_pb2.EXECUTION_FAILED
    assert "no runner picked up the execution within 2s" in done.status.error
    assert wf.settings.runner_task_queue in done.status.error


async def test_runner_that_stops_heartbeating_is_taken_for_dead(wf: ServerContext) -> None:
    async def execute_graphton(execution: api_pb2.AgentExecution, thread_id: str) -> api_pb2.AgentExecutionStatus:
        await asyncio.sleep(30)  # alive to the worker, silent to Temporal: looks crashed
        return api_pb2.AgentExecutionStatus()

    async with runner_worker(wf, execute_graphton):
        done = await ended(wf, await start(wf), timeout=30)
    assert done.status.phase == enum_pb2.EXECUTION_FAILED
    assert "the runner stopped responding" in done.status.error


async def test_final_status_that_cannot_be_stored_ends_failed_saying_what_was_dropped(wf: ServerContext) -> None:
    async def execute_graphton(execution: api_pb2.AgentExecution, thread_id: str) -> api_pb2.AgentExecutionStatus:
        status = api_pb2.AgentExecutionStatus(phase=enum_pb2.EXECUTION_COMPLETED)
        call = status.tool_calls.add(id="c1", name="lookup")
        call.args.update({"bad\x00key": 1})  # a model's tool call can carry this; BSON cannot
        return status

    async with runner_worker(wf, execute_graphton):
        started = asyncio.get_running_loop().time()
        done = await ended(wf, await start(wf))
    assert asyncio.get_running_loop().time() - started < 15  # not an hour of retries
    assert done.status.phase == enum_pb2.EXECUTION_FAILED
    assert "could not be stored" in done.status.error
    assert not done.status.tool_calls


# -- the payloads themselves, as Stigmer's code decodes them --------------------------

@activity.defn(name="WaitForAgentExecution")
async def wait_for_agent_execution(token_queue: str) -> api_pb2.AgentExecution:
    """A caller's activity that an agent execution completes through its callback token."""
    WAITING[token_queue].set_result(activity.info().task_token)
    activity.raise_complete_async()


WAITING: dict[str, asyncio.Future[bytes]] = {}


@contextlib.asynccontextmanager
async def waiting_caller(wf: ServerContext) -> AsyncIterator[tuple[WorkflowHandle[Any, Any], bytes]]:
    """A caller workflow whose activity waits to be completed through a callback token:
    yields its handle and that token once the activity waits."""
    queue = f"caller-{uuid.uuid4().hex[:8]}"
    WAITING[queue] = asyncio.get_running_loop().create_future()
    try:
        async with Worker(wf.temporal, task_queue=queue, workflows=[CallerWorkflow], activities=[wait_for_agent_execution]):
            caller = await wf.temporal.start_workflow(CallerWorkflow.run, queue, id=queue, task_queue=queue)
            yield caller, await asyncio.wait_for(WAITING[queue], 20)
    finally:
        del WAITING[queue]


@workflow.defn(name="CallerWorkflow", sandboxed=False)
class CallerWorkflow:
    @workflow.run
    async def run(self, token_queue: str) -> api_pb2.AgentExecution:
        return await workflow.execute_activity(
            wait_for_agent_execution, token_queue, start_to_close_timeout=timedelta(seconds=60)
        )


async def test_every_payload_the_workflow_sends_or_returns_decodes_as_stigmers_contract(wf: ServerContext) -> None:
    """Workflow input, runner activity arguments and results, the callback's result and
    the memo, read back from Temporal's histories and decoded with unknown fields refused."""
    async def execute_graphton(execution: api_pb2.AgentExecution, thread_id: str) -> api_pb2.AgentExecutionStatus:
        status = api_pb2.AgentExecutionStatus(phase=enum_pb2.EXECUTION_COMPLETED)
        status.messages.add(type=enum_pb2.MESSAGE_AI, content="done")
        return status

    async with runner_worker(wf, execute_graphton), waiting_caller(wf) as (caller, token):
        execution_id = await start(wf, callback_token=token)
        done = await ended(wf, execution_id)
        result = await asyncio.wait_for(caller.result(), 20)
    assert done.status.version > 0  # our addition is there on reads, and only there
    assert result.metadata.id == execution_id and result.status.phase == enum_pb2.EXECUTION_COMPLETED

    decoded: list[str] = []
    for handle in (wf.temporal.get_workflow_handle(workflow_id_for(execution_id)), caller):
        async for event in handle.fetch_history_events():
            for payload in payloads_in(event):
                name = payload.metadata.get("messageType", b"").decode()
                if stigmer_class(name) is not None:
                    decode_strictly(name, payload.data)
                    decoded.append(name)
    status_name = api_pb2.AgentExecutionStatus.DESCRIPTOR.full_name
    execution_name = api_pb2.AgentExecution.DESCRIPTOR.full_name
    # The workflow input, ExecuteGraphton's argument, its result, the callback's result.
    assert decoded.count(execution_name) >= 3 and decoded.count(status_name) >= 1, decoded


async def test_a_failed_execution_fails_its_workflow_after_the_callback_completes(wf: ServerContext) -> None:
    """Temporal's own status shows failures (as Stigmer's workflow does), and the caller
    waiting on the callback token still hears of it first."""
    async def execute_graphton(execution: api_pb2.AgentExecution, thread_id: str) -> api_pb2.AgentExecutionStatus:
        raise ApplicationError("agent failed: no model", type=AGENT_ERROR_TYPE, non_retryable=True)

    async with runner_worker(wf, execute_graphton), waiting_caller(wf) as (caller, token):
        execution_id = await start(wf, callback_token=token)
        done = await ended(wf, execution_id)  # the workflow FAILED, as the execution
        with pytest.raises(WorkflowFailureError) as caller_failed:
            await asyncio.wait_for(caller.result(), 20)
    assert done.status.phase == enum_pb2.EXECUTION_FAILED and done.status.completed_at
    assert "agent failed: no model" in str(caller_failed.value.cause.cause)
    workflow_failure = await wf.temporal.get_workflow_handle(workflow_id_for(execution_id)).describe()
    assert workflow_failure.status == WorkflowExecutionStatus.FAILED

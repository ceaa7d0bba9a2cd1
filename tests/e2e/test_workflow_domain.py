"""Workflows end to end against a stand-in workflow runner (tests/utils/workflow_runner.py)
that plays Stigmer's side of the Temporal contract: validation, executions reported task
by task, an agent call completed through its callback token, failures, watching, cancel,
delete and paging."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import httpx
import pytest
from temporalio.client import WorkflowExecutionStatus

from ai.stigmer.agentic.agent.v1.api_pb2 import Agent
from ai.stigmer.agentic.agentexecution.v1 import enum_pb2 as agent_enum_pb2
from ai.stigmer.agentic.workflow.v1.serverless import validation_pb2
from ai.stigmer.agentic.workflowexecution.v1 import (
    api_pb2,
    enum_pb2,
    io_pb2,
)
from ai.stigmer.commons.apiresource import io_pb2 as resource_io_pb2
from application.workflows import WorkflowService
from client.sse import aiter_sse
from domain.resource_rules import DEFAULT_MODEL_ANNOTATION
from domain.workflow_runner_contract import execution_workflow_id
from tests.utils.cli import stigmer_service
from tests.utils.workflow_docs import task, workflow
from tests.utils.workflow_runner import stand_in_runner
from tests.utils.workflow_stack import WorkflowStack, unique, until_ended
from workflows.workflow_starters import TemporalWorkflowValidator


async def run(wf: WorkflowStack, workflow_id: str) -> api_pb2.WorkflowExecution:
    request = api_pb2.WorkflowExecution()
    request.spec.workflow_id = workflow_id
    request.spec.trigger_message = "go"
    return await wf.commands.create(request)


async def test_create_validates_through_the_runner_and_makes_the_default_instance(wf: WorkflowStack) -> None:
    name = unique("daily")
    created = await wf.workflows.create(workflow(name))
    validation = created.status.serverless_workflow_validation
    assert validation.state == validation_pb2.VALID
    assert validation.validation_workflow_id.startswith("stigmer/workflow-validation/")
    assert "do: [greet]" in validation.yaml and validation.HasField("validated_at")
    instance = await wf.service.get_instance(created.status.default_instance_id)
    assert instance.metadata.name == f"{name}-default" and instance.spec.workflow_id == created.metadata.id
    assert wf.runner.seen.validations[-1].document.name == name  # decoded strictly by the runner
    found = await wf.service.get_workflow_by_reference(resource_io_pb2.ApiResourceReference(slug=name))
    assert found.metadata.id == created.metadata.id


async def test_an_invalid_workflow_is_refused_naming_the_runners_first_error(wf: WorkflowStack) -> None:
    request = workflow(unique("bad"))
    request.spec.document.namespace = "invalid"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await wf.workflows.create(request)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "namespace 'invalid' is not allowed" in (caught.value.details() or "")


async def test_our_own_checks_run_before_the_runner_is_asked(wf: WorkflowStack) -> None:
    asked = len(wf.runner.seen.validations)
    request = workflow(unique("dup"), task("a", "SET", {"variables": {"x": "1"}}, then="b"))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await wf.workflows.create(request)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "'b'" in (caught.value.details() or "")
    assert len(wf.runner.seen.validations) == asked


async def test_with_no_runner_answering_create_succeeds_pending_and_the_late_result_is_recorded(
    wf: WorkflowStack,
) -> None:
    quiet_queue = f"nobody-{uuid.uuid4().hex[:6]}"
    settings = wf.stack.settings.model_copy(update={
        "workflow_validation_runner_task_queue": quiet_queue, "workflow_validation_wait_seconds": 0.3,
    })
    service = WorkflowService(wf.service.workflows, wf.service.instances, TemporalWorkflowValidator(wf.temporal, settings))
    created = await service.create_workflow(workflow(unique("late")))
    pending = created.status.serverless_workflow_validation
    assert pending.state == validation_pb2.PENDING and pending.validation_workflow_id
    # A runner comes up on that queue: the validation workflow records its answer.
    async with stand_in_runner(wf.temporal, wf.stack.grpc_target, execution_queue=f"x-{quiet_queue}",
                               validation_queue=quiet_queue, agent_call_queue=f"y-{quiet_queue}"):
        await wf.temporal.get_workflow_handle(pending.validation_workflow_id).result()
    stored = await wf.service.get_workflow(created.metadata.id)
    assert stored.status.serverless_workflow_validation.state == validation_pb2.VALID


async def test_an_execution_goes_through_in_progress_with_its_tasks_merged(wf: WorkflowStack) -> None:
    created = await wf.workflows.create(workflow(
        unique("steps"),
        task("first", "SET", {"variables": {"a": "1"}}),
        task("second", "SET", {"variables": {"b": "2"}}),
    ))
    execution = await run(wf, created.metadata.id)
    assert execution.status.phase == enum_pb2.EXECUTION_PENDING
    assert execution.spec.workflow_instance_id == created.status.default_instance_id
    assert execution.status.temporal_workflow_id == execution_workflow_id(execution.metadata.id)
    phases = []
    async for state in wf.queries.subscribe(
        io_pb2.SubscribeWorkflowExecutionRequest(execution_id=execution.metadata.id), timeout=60
    ):
        phases.append(state.status.phase)
    assert phases[-1] == enum_pb2.EXECUTION_COMPLETED
    stored = await wf.stack.context.workflow_executions.get(execution.metadata.id)
    assert [(t.task_name, t.status) for t in stored.status.tasks] == [
        ("first", enum_pb2.WORKFLOW_TASK_COMPLETED), ("second", enum_pb2.WORKFLOW_TASK_COMPLETED)]
    assert dict(stored.status.tasks[1].output) == {"b": "2"}
    assert all(t.started_at and t.completed_at for t in stored.status.tasks)
    assert stored.status.started_at and stored.status.completed_at
    # The runner reported one task per call and saw the execution as Stigmer sends it.
    assert all(len(update.tasks) <= 1 for update in wf.runner.seen.updates)
    sent = next(e for e in wf.runner.seen.executions if e.metadata.id == execution.metadata.id)
    assert sent.spec.workflow_instance_id == created.status.default_instance_id


async def test_an_agent_call_task_completes_through_the_callback(wf: WorkflowStack) -> None:
    agent = Agent()
    agent.metadata.name = unique("helper")
    agent.metadata.annotations[DEFAULT_MODEL_ANNOTATION] = "scripted"
    agent.spec.instructions = "You answer questions briefly."
    stored_agent = await wf.stack.context.service.resources.agents.create(agent)
    created = await wf.workflows.create(workflow(
        unique("ask"), task("ask", "AGENT_CALL", {"agent": stored_agent.metadata.slug, "message": "What is 2 + 2?"}),
    ))
    ended = await until_ended(wf, (await run(wf, created.metadata.id)).metadata.id)
    assert ended.status.phase == enum_pb2.EXECUTION_COMPLETED, ended.status.error
    (asked,) = ended.status.tasks
    assert asked.task_type == enum_pb2.WORKFLOW_TASK_AGENT_INVOCATION and asked.status == enum_pb2.WORKFLOW_TASK_COMPLETED
    assert asked.output["phase"] == "EXECUTION_COMPLETED" and asked.output["answered"] is True
    agent_execution = await wf.stack.context.service.get(asked.output["agent_execution_id"])
    assert agent_execution.status.phase == agent_enum_pb2.EXECUTION_COMPLETED


async def test_a_failing_task_fails_the_execution_with_its_error(wf: WorkflowStack) -> None:
    created = await wf.workflows.create(workflow(
        unique("boom"),
        task("prepare", "SET", {"variables": {"a": "1"}}),
        task("explode", "RAISE", {"error": "Boom", "message": "the sky fell"}),
        task("never", "SET", {"variables": {"b": "2"}}),
    ))
    ended = await until_ended(wf, (await run(wf, created.metadata.id)).metadata.id)
    assert ended.status.phase == enum_pb2.EXECUTION_FAILED and "the sky fell" in ended.status.error
    assert [(t.task_name, t.status) for t in ended.status.tasks] == [
        ("prepare", enum_pb2.WORKFLOW_TASK_COMPLETED), ("explode", enum_pb2.WORKFLOW_TASK_FAILED)]


async def test_subscribing_to_an_execution_that_already_ended_closes(wf: WorkflowStack) -> None:
    created = await wf.workflows.create(workflow(unique("quick")))
    execution_id = (await run(wf, created.metadata.id)).metadata.id
    await until_ended(wf, execution_id)
    states = [s async for s in wf.queries.subscribe(
        io_pb2.SubscribeWorkflowExecutionRequest(execution_id=execution_id), timeout=30)]
    assert [s.status.phase for s in states] == [enum_pb2.EXECUTION_COMPLETED]
    events = []
    async with httpx.AsyncClient(base_url=wf.stack.http_url, timeout=30) as client, client.stream(
        "GET", f"/v1/workflow-executions/{execution_id}/subscribe"
    ) as response:
        assert response.status_code == 200
        async for event in aiter_sse(response.aiter_lines()):
            events.append(event.event)
    assert events == ["state", "end"]


async def running_execution(wf: WorkflowStack) -> tuple[str, object]:
    created = await wf.workflows.create(workflow(unique("slow"), task("nap", "WAIT", {"seconds": 60})))
    execution = await run(wf, created.metadata.id)
    handle = wf.temporal.get_workflow_handle(execution_workflow_id(execution.metadata.id))
    async for state in wf.queries.subscribe(
        io_pb2.SubscribeWorkflowExecutionRequest(execution_id=execution.metadata.id), timeout=30
    ):
        if state.status.tasks:  # the runner is inside the long task
            break
    return execution.metadata.id, handle


async def test_rest_cancel_stops_the_temporal_workflow(wf: WorkflowStack) -> None:
    execution_id, handle = await running_execution(wf)
    async with httpx.AsyncClient(base_url=wf.stack.http_url, timeout=30) as client:
        response = await client.post(f"/v1/workflow-executions/{execution_id}/cancel")
    assert response.status_code == 202
    ended = await until_ended(wf, execution_id)
    assert ended.status.phase == enum_pb2.EXECUTION_CANCELLED
    await asyncio.wait_for(handle.result(), 30)  # type: ignore[attr-defined]
    assert (await handle.describe()).status != WorkflowExecutionStatus.RUNNING  # type: ignore[attr-defined]


async def test_delete_stops_the_temporal_workflow(wf: WorkflowStack) -> None:
    execution_id, handle = await running_execution(wf)
    await wf.commands.delete(resource_io_pb2.ApiResourceId(value=execution_id))
    await asyncio.wait_for(handle.result(), 30)  # type: ignore[attr-defined]
    assert (await handle.describe()).status != WorkflowExecutionStatus.RUNNING  # type: ignore[attr-defined]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await wf.queries.get(io_pb2.WorkflowExecutionId(value=execution_id))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_lists_page(wf: WorkflowStack) -> None:
    created = await wf.workflows.create(workflow(unique("paged")))
    ids = [(await run(wf, created.metadata.id)).metadata.id for _ in range(3)]
    for execution_id in ids:
        await until_ended(wf, execution_id)
    first = await wf.queries.listByWorkflow(io_pb2.ListWorkflowExecutionsByWorkflowRequest(
        workflow_id=created.metadata.id, page_size=2))
    assert first.total_pages == 2 and [e.metadata.id for e in first.entries] == ids[::-1][:2]
    second = await wf.queries.listByWorkflow(io_pb2.ListWorkflowExecutionsByWorkflowRequest(
        workflow_id=created.metadata.id, page_size=2, page_token=first.next_page_token))
    assert [e.metadata.id for e in second.entries] == ids[:1] and not second.next_page_token
    everything = await wf.queries.list(io_pb2.ListWorkflowExecutionsRequest(page_size=100))
    assert set(ids) <= {e.metadata.id for e in everything.entries}
    async with httpx.AsyncClient(base_url=wf.stack.http_url, timeout=30) as client:
        page = (await client.get("/v1/workflow-executions", params={"workflow_id": created.metadata.id,
                                                                     "page_size": 2})).json()
    assert [e["metadata"]["id"] for e in page["entries"]] == ids[::-1][:2] and page["next_page_token"]


async def test_the_cli_runs_a_workflow_by_name_and_follows_its_tasks(wf: WorkflowStack) -> None:
    name = unique("cli")
    await wf.workflows.create(workflow(name, task("hello", "SET", {"variables": {"greeting": "hi"}}),
                                       task("oops", "RAISE", {"error": "Nope", "message": "stop here"})))
    result = await stigmer_service("run", "go", "--workflow", name, "--url", wf.stack.http_url)
    assert result.code == 1, result.stderr  # it failed, on purpose
    assert "FAILED" in result.stdout and "✓ hello" in result.stdout and "✗ oops" in result.stdout
    assert "stop here" in result.stdout

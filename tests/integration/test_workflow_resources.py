"""Workflows, instances and executions over gRPC and REST without a workflow engine:
the rules the server keeps on its own (no Temporal, so validation stays PENDING and
executions stay where their updates put them)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from ai.stigmer.agentic.workflow.v1 import command_pb2_grpc as workflow_command_grpc
from ai.stigmer.agentic.workflow.v1.serverless import validation_pb2
from ai.stigmer.agentic.workflowexecution.v1 import (
    api_pb2,
    command_pb2,
    command_pb2_grpc,
    enum_pb2,
    io_pb2,
    query_pb2_grpc,
)
from ai.stigmer.agentic.workflowinstance.v1 import (
    api_pb2 as instance_pb2,
    command_pb2_grpc as instance_command_grpc,
    io_pb2 as instance_io_pb2,
    query_pb2_grpc as instance_query_grpc,
)
from ai.stigmer.commons.apiresource import enum_pb2 as resource_enum_pb2
from stigmer_service.context import ServerContext
from tests.utils.grpc_api import open_grpc
from tests.utils.http import HttpApi
from tests.utils.workflow_docs import task, workflow


class Stubs:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self.workflows = workflow_command_grpc.WorkflowCommandControllerStub(channel)
        self.instances = instance_command_grpc.WorkflowInstanceCommandControllerStub(channel)
        self.instance_queries = instance_query_grpc.WorkflowInstanceQueryControllerStub(channel)
        self.commands = command_pb2_grpc.WorkflowExecutionCommandControllerStub(channel)
        self.queries = query_pb2_grpc.WorkflowExecutionQueryControllerStub(channel)


@pytest.fixture
async def stubs(context: ServerContext) -> AsyncIterator[Stubs]:
    server, opened = await open_grpc(context)
    yield Stubs(opened.channel)
    await opened.channel.close()
    await server.stop(grace=None)


async def code_of(call) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value.code()


def status_update(execution_id: str, sequence: int = 0, **fields) -> command_pb2.WorkflowExecutionUpdateStatusInput:
    return command_pb2.WorkflowExecutionUpdateStatusInput(
        execution_id=execution_id, status=api_pb2.WorkflowExecutionStatus(**fields), sequence=sequence
    )


async def test_without_a_runner_a_workflow_is_stored_with_validation_pending(stubs: Stubs) -> None:
    created = await stubs.workflows.create(workflow("nightly"))
    assert created.status.serverless_workflow_validation.state == validation_pb2.PENDING
    assert created.metadata.id.startswith("wfl_") and created.status.default_instance_id.startswith("win_")
    assert await code_of(stubs.workflows.create(workflow("nightly"))) == grpc.StatusCode.ALREADY_EXISTS
    applied = await stubs.workflows.apply(workflow("nightly", task("other", "SET", {"variables": {"k": "v"}})))
    assert applied.metadata.id == created.metadata.id and applied.spec.tasks[0].name == "other"
    assert applied.status.default_instance_id == created.status.default_instance_id


async def test_instances_need_their_workflow_and_its_org(stubs: Stubs) -> None:
    orphan = instance_pb2.WorkflowInstance()
    orphan.metadata.name = "orphan"
    orphan.spec.workflow_id = "wfl_missing"
    assert await code_of(stubs.instances.create(orphan)) == grpc.StatusCode.NOT_FOUND
    request = workflow("org-flow")
    request.metadata.owner_scope, request.metadata.org = resource_enum_pb2.organization, "acme"
    parent = await stubs.workflows.create(request)
    stranger = instance_pb2.WorkflowInstance()
    stranger.metadata.name = "stranger"
    stranger.metadata.owner_scope, stranger.metadata.org = resource_enum_pb2.organization, "other"
    stranger.spec.workflow_id = parent.metadata.id
    assert await code_of(stubs.instances.create(stranger)) == grpc.StatusCode.INVALID_ARGUMENT
    for name in ("second", "third"):
        extra = instance_pb2.WorkflowInstance()
        extra.metadata.name, extra.metadata.owner_scope, extra.metadata.org = name, resource_enum_pb2.organization, "acme"
        extra.spec.workflow_id = parent.metadata.id
        await stubs.instances.create(extra)
    request = instance_io_pb2.GetWorkflowInstancesByWorkflowRequest(workflow_id=parent.metadata.id)
    request.page_info.num, request.page_info.size = 2, 2
    page = await stubs.instance_queries.getByWorkflow(request)
    assert page.total_pages == 2 and [i.metadata.name for i in page.entries] == ["third"]


async def test_an_execution_needs_an_existing_instance_and_defaults_to_the_workflows(stubs: Stubs) -> None:
    created = await stubs.workflows.create(workflow("runs"))
    missing = api_pb2.WorkflowExecution()
    missing.spec.workflow_instance_id = "win_missing"
    assert await code_of(stubs.commands.create(missing)) == grpc.StatusCode.NOT_FOUND
    assert await code_of(stubs.commands.create(api_pb2.WorkflowExecution())) == grpc.StatusCode.INVALID_ARGUMENT
    request = api_pb2.WorkflowExecution()
    request.spec.workflow_id = created.metadata.id
    request.spec.callback_token = b"not a token"
    assert await code_of(stubs.commands.create(request)) == grpc.StatusCode.INVALID_ARGUMENT
    request.spec.ClearField("callback_token")
    request.spec.runtime_env["TOKEN"].value, request.spec.runtime_env["TOKEN"].is_secret = "s3cret", True
    execution = await stubs.commands.create(request)
    assert execution.status.phase == enum_pb2.EXECUTION_PENDING
    assert execution.spec.workflow_instance_id == created.status.default_instance_id
    assert execution.spec.runtime_env["TOKEN"].value == ""  # redacted on every read


async def test_status_updates_merge_tasks_keep_order_and_end_for_good(stubs: Stubs, context: ServerContext) -> None:
    created = await stubs.workflows.create(workflow("merge"))
    request = api_pb2.WorkflowExecution()
    request.spec.workflow_id = created.metadata.id
    execution_id = (await stubs.commands.create(request)).metadata.id
    task_a = api_pb2.WorkflowTask(task_id="a", task_name="A", status=enum_pb2.WORKFLOW_TASK_IN_PROGRESS)
    await stubs.commands.updateStatus(status_update(execution_id, 1, phase=enum_pb2.EXECUTION_IN_PROGRESS))
    await stubs.commands.updateStatus(status_update(execution_id, 2, tasks=[task_a]))
    task_b = api_pb2.WorkflowTask(task_id="b", task_name="B", status=enum_pb2.WORKFLOW_TASK_COMPLETED)
    after = await stubs.commands.updateStatus(status_update(execution_id, 4, tasks=[task_b]))
    # A late update (sequence 3 after 4) changes nothing.
    late = api_pb2.WorkflowTask(task_id="a", status=enum_pb2.WORKFLOW_TASK_FAILED)
    stale = await stubs.commands.updateStatus(status_update(execution_id, 3, tasks=[late]))
    assert stale.status.version == after.status.version
    assert [(t.task_id, t.status) for t in stale.status.tasks] == [
        ("a", enum_pb2.WORKFLOW_TASK_IN_PROGRESS), ("b", enum_pb2.WORKFLOW_TASK_COMPLETED)]
    done = await stubs.commands.updateStatus(status_update(execution_id, phase=enum_pb2.EXECUTION_COMPLETED))
    assert done.status.completed_at and done.status.started_at
    repeat = await stubs.commands.updateStatus(status_update(execution_id, phase=enum_pb2.EXECUTION_COMPLETED))
    assert repeat.status.version == done.status.version
    assert await code_of(stubs.commands.updateStatus(
        status_update(execution_id, phase=enum_pb2.EXECUTION_FAILED))) == grpc.StatusCode.FAILED_PRECONDITION
    assert await code_of(stubs.commands.updateStatus(status_update("wex_missing"))) == grpc.StatusCode.NOT_FOUND
    bad = api_pb2.WorkflowExecutionStatus()
    bad.tasks.add(task_id="x", status=42)  # type: ignore[arg-type]
    assert await code_of(stubs.commands.updateStatus(command_pb2.WorkflowExecutionUpdateStatusInput(
        execution_id=execution_id, status=bad))) == grpc.StatusCode.INVALID_ARGUMENT
    states = [s async for s in stubs.queries.subscribe(io_pb2.SubscribeWorkflowExecutionRequest(
        execution_id=execution_id), timeout=10)]
    assert [s.status.phase for s in states] == [enum_pb2.EXECUTION_COMPLETED]


async def test_rest_workflows_and_executions(http_api: HttpApi) -> None:
    client = http_api.client
    body = {"metadata": {"name": "rest-flow"}, "spec": {
        "document": {"dsl": "1.0.0", "namespace": "t", "name": "rest-flow", "version": "1"},
        "tasks": [{"name": "only", "kind": "WORKFLOW_TASK_KIND_SET", "task_config": {"variables": {"a": "b"}}}]}}
    created = await client.post("/v1/workflows", json=body)
    assert created.status_code == 201, created.text
    assert created.headers["Location"].endswith(created.json()["metadata"]["id"])
    bad = await client.post("/v1/workflows", json={**body, "metadata": {"name": "bad"}, "spec": {
        **body["spec"], "tasks": [{"name": "x", "kind": "WORKFLOW_TASK_KIND_SET", "task_config": {"nope": 1}}]}})
    assert bad.status_code == 422 and "not a valid SET config" in bad.json()["error"]["message"]
    assert (await client.get("/v1/workflows/rest-flow")).json()["metadata"]["id"] == created.json()["metadata"]["id"]
    run = await client.post("/v1/workflow-executions", json={"spec": {"workflow_id": "rest-flow"}})
    assert run.status_code == 201, run.text
    execution = run.json()
    assert execution["status"]["phase"] == "EXECUTION_PENDING" and execution["version"] == 1
    listed = (await client.get("/v1/workflow-executions", params={"phase": "pending"})).json()
    assert [e["metadata"]["id"] for e in listed["entries"]] == [execution["metadata"]["id"]]
    cancelled = await client.post(f"/v1/workflow-executions/{execution['metadata']['id']}/cancel")
    assert cancelled.status_code == 503  # no workflow engine in this process
    deleted = await client.delete(f"/v1/workflows/{created.json()['metadata']['id']}")
    assert deleted.status_code == 200
    assert (await client.get("/v1/workflows/rest-flow")).status_code == 404


async def test_a_status_that_would_outgrow_the_limit_ends_the_execution_failed(context: ServerContext) -> None:
    from domain.errors import StatusTooLarge

    service = context.workflow_executions
    service.max_status_bytes = 4000
    created = await context.workflows.create_workflow(workflow("big"))
    request = api_pb2.WorkflowExecution()
    request.spec.workflow_id = created.metadata.id
    execution_id = (await service.create(request)).metadata.id
    huge = api_pb2.WorkflowTask(task_id="a", status=enum_pb2.WORKFLOW_TASK_COMPLETED)
    huge.output.update({"text": "x" * 5000})
    with pytest.raises(StatusTooLarge):
        await service.update_status(execution_id, api_pb2.WorkflowExecutionStatus(tasks=[huge]))
    stored = await service.get(execution_id)
    assert stored.status.phase == enum_pb2.EXECUTION_FAILED and "outgrew the limit" in stored.status.error
    assert not stored.status.tasks

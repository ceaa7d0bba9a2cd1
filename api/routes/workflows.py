"""`/v1/workflows` and `/v1/workflow-executions`: REST views of Stigmer's workflow domain
(the same resources gRPC serves). Bodies are the resources' proto3 JSON (snake_case).

Watching (`GET /v1/workflow-executions/{id}/subscribe`, Server-Sent Events): `state`
events (id = the document version, data = the execution), the first one the current
state and then one per stored change (whole states), then one `end` (`{"phase": …}`,
with `"deleted": true` when it was deleted while watched) and the stream closes, at once
when the execution had already ended. `Last-Event-ID` resumes.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Path, Query
from fastapi.responses import JSONResponse

from ai.stigmer.agentic.workflow.v1 import api_pb2 as workflow_pb2
from ai.stigmer.agentic.workflowexecution.v1 import api_pb2 as execution_pb2
from ai.stigmer.agentic.workflowinstance.v1 import io_pb2 as instance_io_pb2
from api.routes.agents import PageSize, PageToken
from api.routes.deps import ServerBackends
from api.routes.stream import (
    SEND_TIMEOUT_SECONDS,
    SSE_HEADERS,
    StateStream,
    first_taken,
    parse_last_event_id,
    sse_stream,
)
from api.schemas import ERROR_RESPONSES
from application.workflow_executions import WorkflowExecutionService, WorkflowWatch
from domain import convert
from domain.convert import resource_body as to_body, workflow_execution_to_body as execution_body
from domain.status_rules import is_terminal

WATCH_DOC = (
    "`event: state` — `id:` the execution's version, `data:` the execution JSON (the current "
    "state first, then one per stored change); `event: end` — `data: {\"phase\": …}` (with "
    "`\"deleted\": true` when it was deleted while watched), then the stream closes, at once "
    "when the execution had already ended. `Last-Event-ID` resumes."
)

workflows = APIRouter(prefix="/v1/workflows", tags=["workflows"], responses=ERROR_RESPONSES)
EXECUTIONS = "/v1/workflow-executions"
executions = APIRouter(prefix=EXECUTIONS, tags=["workflow executions"], responses=ERROR_RESPONSES)

IdOrName = Annotated[str, Path(max_length=128, description="`wfl_…` id, or the workflow's name or slug.")]
WORKFLOW_BODY = Body(description="A Workflow as proto3 JSON: metadata.name and spec (document, tasks).")
EXECUTION_BODY = Body(description="A WorkflowExecution as proto3 JSON: spec.workflow_id or spec.workflow_instance_id.")


def _json(data: dict[str, Any], status_code: int = 200, **headers: str) -> JSONResponse:
    return JSONResponse(data, status_code=status_code, headers=headers or None)


def _workflow_request(body: Any) -> workflow_pb2.Workflow:
    request = workflow_pb2.Workflow()
    convert.from_json(body, request)
    return request


# -- workflows --------------------------------------------------------------------------


@workflows.post("", status_code=201, summary="Create a workflow (validated; makes its default instance)")
async def create_workflow(context: ServerBackends, body: Annotated[dict[str, Any], WORKFLOW_BODY]) -> JSONResponse:
    workflow = await context.workflows.create_workflow(_workflow_request(body))
    return _json(to_body(workflow), 201, Location=f"{workflows.prefix}/{workflow.metadata.id}")


@workflows.put("", summary="Apply a workflow: create it, or update the one with this id or name")
async def apply_workflow(context: ServerBackends, body: Annotated[dict[str, Any], WORKFLOW_BODY]) -> JSONResponse:
    return _json(to_body(await context.workflows.apply_workflow(_workflow_request(body))))


@workflows.get("", summary="List workflows, newest first")
async def list_workflows(context: ServerBackends, page_size: PageSize = 20, page_token: PageToken = "") -> JSONResponse:
    page = await context.workflows.list_workflows(page_size, page_token)
    return _json({"entries": [to_body(w) for w in page.entries], "next_page_token": page.next_page_token,
                  "total": page.total})


@workflows.get("/{id_or_name}", summary="Get a workflow by id or name")
async def get_workflow(id_or_name: IdOrName, context: ServerBackends) -> JSONResponse:
    return _json(to_body(await context.workflows.find_workflow(id_or_name)))


@workflows.get("/{id_or_name}/instances", summary="A workflow's instances, oldest first")
async def workflow_instances(
    id_or_name: IdOrName, context: ServerBackends,
    page: Annotated[int, Query(ge=1, description="1-based page number.")] = 1,
    page_size: PageSize = 20,
) -> JSONResponse:
    workflow = await context.workflows.find_workflow(id_or_name)
    request = instance_io_pb2.GetWorkflowInstancesByWorkflowRequest(workflow_id=workflow.metadata.id)
    request.page_info.num, request.page_info.size = page, page_size
    listed = await context.workflows.instances_of_workflow(request)
    return _json({"entries": [to_body(i) for i in listed.entries], "total_pages": listed.total_pages})


@workflows.delete("/{id_or_name}", summary="Delete a workflow and its instances (returns it)")
async def delete_workflow(id_or_name: IdOrName, context: ServerBackends) -> JSONResponse:
    workflow = await context.workflows.find_workflow(id_or_name)
    return _json(to_body(await context.workflows.delete_workflow(workflow.metadata.id)))


# -- workflow executions ----------------------------------------------------------------


@executions.post("", status_code=201, summary="Run a workflow: create an execution and start it")
async def create_execution(context: ServerBackends, body: Annotated[dict[str, Any], EXECUTION_BODY]) -> JSONResponse:
    request = execution_pb2.WorkflowExecution()
    convert.from_json(body, request)
    if request.spec.workflow_id and not request.spec.workflow_id.startswith("wfl_"):
        # A name is accepted here for people; gRPC takes ids, as Stigmer's does.
        request.spec.workflow_id = (await context.workflows.find_workflow(request.spec.workflow_id)).metadata.id
    execution = await context.workflow_executions.create(request)
    return _json(execution_body(execution), 201, Location=f"{EXECUTIONS}/{execution.metadata.id}")


@executions.get("", summary="List workflow executions, newest first")
async def list_executions(
    context: ServerBackends,
    workflow_id: Annotated[str, Query(max_length=128, description="Only this workflow's executions.")] = "",
    phase: Annotated[str, Query(max_length=64, description="Only executions in this phase (e.g. `COMPLETED`).")] = "",
    page_size: PageSize = 20,
    page_token: PageToken = "",
) -> JSONResponse:
    page = await context.workflow_executions.list(
        workflow_id=workflow_id, phase=phase, page_size=page_size, page_token=page_token
    )
    return _json({"entries": [execution_body(e) for e in page.entries], "next_page_token": page.next_page_token,
                  "total": page.total})


@executions.get("/{execution_id}", summary="Get a workflow execution")
async def get_execution(execution_id: str, context: ServerBackends) -> JSONResponse:
    return _json(execution_body(await context.workflow_executions.get(execution_id)))


@executions.post(
    "/{execution_id}/cancel", status_code=202, summary="Ask a running workflow execution to stop",
    description="202: its Temporal workflow was asked to stop (it ends CANCELLED shortly); 200: it had no "
    "workflow and is CANCELLED now; 409: it had already ended.",
)
async def cancel_execution(execution_id: str, context: ServerBackends) -> JSONResponse:
    execution = await context.workflow_executions.cancel(execution_id)
    return _json(execution_body(execution), 200 if is_terminal(execution.status.phase) else 202)


@executions.delete("/{execution_id}", summary="Delete a workflow execution and stop its workflow (returns it)")
async def delete_execution(execution_id: str, context: ServerBackends) -> JSONResponse:
    return _json(execution_body(await context.workflow_executions.delete(execution_id)))


@executions.get("/{execution_id}/subscribe", summary="Watch a workflow execution live (Server-Sent Events)",
                description=WATCH_DOC)
async def subscribe(
    execution_id: str,
    context: ServerBackends,
    last_event_id_header: Annotated[str | None, Header(alias="Last-Event-ID", max_length=32)] = None,
    last_event_id: Annotated[str | None, Query(max_length=32)] = None,
) -> StateStream:
    after = parse_last_event_id(last_event_id_header, last_event_id)
    items = await _open_watch(context.workflow_executions, execution_id, after, context.settings.sse_keepalive_seconds)
    return StateStream(sse_stream(items), headers=SSE_HEADERS, ping=0, send_timeout=SEND_TIMEOUT_SECONDS)


async def _open_watch(
    service: WorkflowExecutionService, execution_id: str, after: int, keepalive: float
) -> WorkflowWatch:
    """The first item is taken before any byte is sent: an unknown id is a JSON 404."""
    return await first_taken(service.watch(execution_id, after, idle_seconds=keepalive))

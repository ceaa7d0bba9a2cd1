"""`/v1/agent-executions`: create, read, list, cancel, delete (subscribe is in stream.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query
from fastapi.responses import JSONResponse

from ai.stigmer.agentic.agentexecution.v1 import api_pb2
from api.auth import caller_of
from api.routes.agents import PageSize, PageToken
from api.routes.deps import Service
from api.schemas import ERROR_RESPONSES, PHASES, Execution, ExecutionCreate, ExecutionList
from core import convert
from core.domain import is_terminal

PREFIX = "/v1/agent-executions"
router = APIRouter(prefix=PREFIX, tags=["agent executions"], responses=ERROR_RESPONSES)


def execution_response(execution: api_pb2.AgentExecution, status_code: int = 200, **headers: str) -> JSONResponse:
    return JSONResponse(convert.execution_to_body(execution), status_code=status_code, headers=headers or None)


def phase_filter(phase: str) -> str:
    """`COMPLETED` and `completed` mean `EXECUTION_COMPLETED`; unknown names fail in the service."""
    name = phase.strip().upper()
    if name and not name.startswith("EXECUTION_"):
        name = "EXECUTION_" + name
    return name


@router.post(
    "",
    status_code=201,
    response_model=Execution,
    summary="Create an execution (and start running it)",
    responses={200: {"model": Execution, "description": "An `Idempotency-Key` retry: the execution created first"}},
)
async def create_execution(
    body: ExecutionCreate,
    service: Service,
    idempotency_key: Annotated[
        str | None,
        Header(max_length=200, description="Retries with the same key return the first execution; "
               "the same key with a different request is a 409. Keys are per API key."),
    ] = None,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> JSONResponse:
    proto = api_pb2.AgentExecution()
    convert.from_json(body.model_dump(exclude_none=True), proto)  # fills `proto`
    execution, created = await service.create(
        proto, idempotency_key=idempotency_key, caller=caller_of(authorization), agent_by_name=True
    )
    return execution_response(
        execution, 201 if created else 200, Location=f"{PREFIX}/{execution.metadata.id}"
    )


@router.get("", response_model=ExecutionList, summary="List executions, newest first")
async def list_executions(
    service: Service,
    session_id: Annotated[str, Query(max_length=128, description="Only this session's executions.")] = "",
    phase: Annotated[
        str,
        Query(max_length=64, description=f"Only executions in this phase: one of {', '.join(PHASES)} "
              "(the `EXECUTION_` prefix may be left out)."),
    ] = "",
    page_size: PageSize = 20,
    page_token: PageToken = "",
) -> JSONResponse:
    page = await service.list(
        session_id=session_id, phase=phase_filter(phase), page_size=page_size, page_token=page_token
    )
    return JSONResponse(
        {
            "entries": [convert.execution_to_body(e) for e in page.entries],
            "next_page_token": page.next_page_token,
            "total": page.total,
        }
    )


@router.get("/{execution_id}", response_model=Execution, summary="Get an execution")
async def get_execution(execution_id: str, service: Service) -> JSONResponse:
    return execution_response(await service.get(execution_id))


@router.post(
    "/{execution_id}/cancel",
    status_code=202,
    response_model=Execution,
    summary="Ask a running execution to stop",
    description="202: its workflow was asked to stop; the execution ends CANCELLED shortly "
    "(watch it, or get it again). 200: it had no workflow and is CANCELLED now. 409: it had "
    "already ended (the message names the phase).",
    responses={200: {"model": Execution, "description": "Cancelled at once"}},
)
async def cancel_execution(execution_id: str, service: Service) -> JSONResponse:
    execution = await service.cancel(execution_id)
    return execution_response(execution, 200 if is_terminal(execution.status.phase) else 202)


@router.delete("/{execution_id}", response_model=Execution, summary="Delete an execution (returns it)")
async def delete_execution(execution_id: str, service: Service) -> JSONResponse:
    return execution_response(await service.delete(execution_id))

"""`/v1/sessions`: REST views of Stigmer's sessions (executions with only `agent_id` make them)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.routes.agents import PageSize, PageToken
from api.routes.deps import Service
from api.schemas import ERROR_RESPONSES, Session, SessionList
from domain.convert import resource_to_body

router = APIRouter(prefix="/v1/sessions", tags=["sessions"], responses=ERROR_RESPONSES)


@router.get("", response_model=SessionList, summary="List sessions, newest first")
async def list_sessions(
    service: Service,
    agent_id: Annotated[
        str, Query(max_length=128, description="Only the sessions of this agent (`agt_…`) or agent instance (`ain_…`).")
    ] = "",
    page_size: PageSize = 20,
    page_token: PageToken = "",
) -> dict[str, Any]:
    page = await service.resources.sessions.list(agent_id=agent_id, page_size=page_size, page_token=page_token)
    return {"entries": [resource_to_body(s) for s in page.entries], "next_page_token": page.next_page_token,
            "total": page.total}


@router.get("/{session_id}", response_model=Session, summary="Get a session")
async def get_session(session_id: str, service: Service) -> dict[str, Any]:
    return resource_to_body(await service.resources.sessions.get(session_id))

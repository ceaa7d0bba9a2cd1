"""`/v1/sessions`: conversations with an agent (created by executions with only `agent_id`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.routes.agents import PageSize, PageToken
from api.routes.deps import Service
from api.schemas import ERROR_RESPONSES, SessionList
from core.errors import InvalidArgument
from core.ids import is_valid_id
from core.service import require_id
from persistence.agents import Session

router = APIRouter(prefix="/v1/sessions", tags=["sessions"], responses=ERROR_RESPONSES)


@router.get("", response_model=SessionList, summary="List sessions, newest first")
async def list_sessions(
    service: Service,
    agent_id: Annotated[str, Query(max_length=128, description="Only this agent's sessions.")] = "",
    page_size: PageSize = 20,
    page_token: PageToken = "",
) -> SessionList:
    if agent_id and not is_valid_id(agent_id):
        raise InvalidArgument("agent_id is not a valid id")
    sessions, token = await service.sessions.list(
        agent_id=agent_id or None, page_size=page_size, page_token=page_token
    )
    return SessionList(entries=sessions, next_page_token=token)


@router.get("/{session_id}", response_model=Session, summary="Get a session")
async def get_session(session_id: str, service: Service) -> Session:
    return await service.sessions.get(require_id(session_id, "session"))

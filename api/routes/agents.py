"""`/v1/agents`: the agents executions run against."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.routes.deps import Service
from api.schemas import ERROR_RESPONSES, AgentList
from core.service import require_id
from persistence.agents import Agent, AgentFields

router = APIRouter(prefix="/v1/agents", tags=["agents"], responses=ERROR_RESPONSES)

PageSize = Annotated[int, Query(ge=1, le=100, description="Entries per page (1–100).")]
PageToken = Annotated[str, Query(max_length=512, description="`next_page_token` of the previous page.")]


@router.post("", status_code=201, response_model=Agent, summary="Create an agent")
async def create_agent(fields: AgentFields, service: Service, response: Response) -> Agent:
    agent = await service.agents.create(fields)
    response.headers["Location"] = f"{router.prefix}/{agent.id}"
    return agent


@router.get("", response_model=AgentList, summary="List agents, newest first")
async def list_agents(service: Service, page_size: PageSize = 20, page_token: PageToken = "") -> AgentList:
    agents, token = await service.agents.list(page_size=page_size, page_token=page_token)
    return AgentList(entries=agents, next_page_token=token)


@router.get("/{agent_id}", response_model=Agent, summary="Get an agent")
async def get_agent(agent_id: str, service: Service) -> Agent:
    return await service.agents.get(require_id(agent_id, "agent"))


@router.delete("/{agent_id}", response_model=Agent, summary="Delete an agent (returns it)")
async def delete_agent(agent_id: str, service: Service) -> Agent:
    return await service.agents.delete(require_id(agent_id, "agent"))

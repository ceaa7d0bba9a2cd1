"""`/v1/agents`: REST views of Stigmer's agents (the same resources gRPC serves)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from ai.stigmer.agentic.agent.v1 import api_pb2 as agent_pb2
from api.routes.deps import Service
from api.schemas import ERROR_RESPONSES, Agent, AgentCreate, AgentList, ErrorResponse
from domain import convert
from domain.convert import resource_to_body

router = APIRouter(
    prefix="/v1/agents",
    tags=["agents"],
    responses={**ERROR_RESPONSES, 409: {"model": ErrorResponse, "description": "An agent with this name exists"}},
)

PageSize = Annotated[int, Query(ge=1, le=100, description="Entries per page (1–100).")]
PageToken = Annotated[str, Query(max_length=512, description="`next_page_token` of the previous page.")]
IdOrName = Annotated[str, Path(max_length=128, description="`agt_…` id, or the agent's name or slug.")]


@router.post("", status_code=201, response_model=Agent, summary="Create an agent (and its default instance)")
async def create_agent(body: AgentCreate, service: Service, response: Response) -> dict[str, Any]:
    request = agent_pb2.Agent()
    convert.from_json(body.model_dump(exclude_defaults=True), request)  # fills `request`
    agent = await service.resources.agents.create(request)
    response.headers["Location"] = f"{router.prefix}/{agent.metadata.id}"
    return resource_to_body(agent)


@router.get("", response_model=AgentList, summary="List agents, newest first")
async def list_agents(service: Service, page_size: PageSize = 20, page_token: PageToken = "") -> dict[str, Any]:
    page = await service.resources.agents.list(page_size=page_size, page_token=page_token)
    return {"entries": [resource_to_body(a) for a in page.entries], "next_page_token": page.next_page_token,
            "total": page.total}


@router.get("/{id_or_name}", response_model=Agent, summary="Get an agent by id or name")
async def get_agent(id_or_name: IdOrName, service: Service) -> dict[str, Any]:
    return resource_to_body(await service.resources.agents.find(id_or_name))


@router.delete("/{id_or_name}", response_model=Agent, summary="Delete an agent and its instances (returns it)")
async def delete_agent(id_or_name: IdOrName, service: Service) -> dict[str, Any]:
    agent = await service.resources.agents.find(id_or_name)
    return resource_to_body(await service.resources.agents.delete(agent.metadata.id))

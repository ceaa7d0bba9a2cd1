"""`/v1/environments` and `/v1/execution-contexts`: REST views of the resources gRPC
serves. Secret values always read redacted here (REST is the users' API)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Response
from pydantic import BaseModel, Field

from ai.stigmer.agentic.environment.v1 import api_pb2 as environment_pb2
from api.routes.deps import Service
from api.schemas import ERROR_RESPONSES, ProtoResource
from application.environments import EnvironmentService
from application.execution_contexts import ExecutionContextService
from domain import convert
from domain.convert import resource_body
from domain.errors import InvalidArgument, Unavailable

ENVIRONMENTS = "/v1/environments"
router = APIRouter(tags=["environments"], responses=ERROR_RESPONSES)

PageSize = Annotated[int, Query(ge=1, le=100, description="Entries per page (1–100).")]
PageToken = Annotated[str, Query(max_length=512, description="`next_page_token` of the previous page.")]
IdOrSlug = Annotated[str, Path(max_length=128, description="The resource's id, or its slug.")]
ContextId = Annotated[str, Path(max_length=128, description="`exec_…` id.")]


class StoredResource(ProtoResource):
    """Proto JSON with snake_case names, and the document `version`."""

    version: int = Field(description="Monotonic document version.")


class ResourceList(BaseModel):
    entries: list[StoredResource]
    next_page_token: str = Field(description="Pass as `page_token` for the next page; empty on the last.")
    total: int = Field(description="How many there are.")


EnvironmentBody = Annotated[
    dict[str, Any],
    Body(examples=[{"metadata": {"name": "github"}, "spec": {"data": {
        "GITHUB_TOKEN": {"value": "ghp_…", "is_secret": True}, "GITHUB_ORG": {"value": "acme"}}}}]),
]


def _environments(service: Service) -> EnvironmentService:
    if service.environments is None:
        raise Unavailable("environments are not served by this process")
    return service.environments


def _contexts(service: Service) -> ExecutionContextService:
    if service.execution_contexts is None:
        raise Unavailable("execution contexts are not served by this process")
    return service.execution_contexts


def _environment(body: dict[str, Any]) -> environment_pb2.Environment:
    request = environment_pb2.Environment()
    try:
        convert.from_json(body, request)
    except Exception as exc:  # a body that is not Stigmer's Environment JSON
        raise InvalidArgument(f"not an Environment: {exc}") from None
    return request


@router.post(ENVIRONMENTS, status_code=201, response_model=StoredResource, summary="Create an environment")
async def create_environment(body: EnvironmentBody, service: Service, response: Response) -> dict[str, Any]:
    environment = await _environments(service).create(_environment(body))
    response.headers["Location"] = f"{ENVIRONMENTS}/{environment.metadata.id}"
    return resource_body(environment)


@router.put(f"{ENVIRONMENTS}/{{id_or_slug}}", response_model=StoredResource,
            summary="Replace an environment (a secret sent as \"\" keeps its value)")
async def update_environment(id_or_slug: IdOrSlug, body: EnvironmentBody, service: Service) -> dict[str, Any]:
    current = await _environments(service).find(id_or_slug)
    request = _environment(body)
    request.metadata.id = current.metadata.id
    return resource_body(await _environments(service).update(request))


@router.get(ENVIRONMENTS, response_model=ResourceList, summary="List environments, newest first")
async def list_environments(service: Service, page_size: PageSize = 20, page_token: PageToken = "") -> dict[str, Any]:
    page = await _environments(service).page(page_size=page_size, page_token=page_token)
    return {"entries": [resource_body(e) for e in page.entries], "next_page_token": page.next_page_token,
            "total": page.total}


@router.get(f"{ENVIRONMENTS}/{{id_or_slug}}", response_model=StoredResource, summary="Get an environment")
async def get_environment(id_or_slug: IdOrSlug, service: Service) -> dict[str, Any]:
    return resource_body(await _environments(service).find(id_or_slug))


@router.delete(f"{ENVIRONMENTS}/{{id_or_slug}}", response_model=StoredResource, summary="Delete an environment")
async def delete_environment(id_or_slug: IdOrSlug, service: Service) -> dict[str, Any]:
    environment = await _environments(service).find(id_or_slug)
    return resource_body(await _environments(service).delete(environment.metadata.id))


@router.get("/v1/execution-contexts", response_model=ResourceList, tags=["execution contexts"],
            summary="List execution contexts, newest first")
async def list_contexts(service: Service, page_size: PageSize = 20, page_token: PageToken = "") -> dict[str, Any]:
    page = await _contexts(service).page(page_size=page_size, page_token=page_token)
    return {"entries": [resource_body(c) for c in page.entries], "next_page_token": page.next_page_token,
            "total": page.total}


@router.get("/v1/execution-contexts/{context_id}", response_model=StoredResource, tags=["execution contexts"],
            summary="Get an execution context")
async def get_context(context_id: ContextId, service: Service) -> dict[str, Any]:
    return resource_body(await _contexts(service).get(context_id))

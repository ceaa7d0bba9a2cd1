"""`/v1/skills`: push (multipart upload), list, get, download, delete — the skills gRPC serves."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, Query, Response, UploadFile
from pydantic import BaseModel, Field

from ai.stigmer.agentic.skill.v1 import io_pb2 as skill_io_pb2
from ai.stigmer.commons.apiresource import enum_pb2 as scope_pb2
from api.routes.deps import Service
from api.schemas import ERROR_RESPONSES, ProtoResource
from application.skills import SkillService
from domain.convert import resource_body
from domain.errors import InvalidArgument, ResourceExhausted, Unavailable
from domain.skill_archive import MAX_ARCHIVE_BYTES

PREFIX = "/v1/skills"
MAX_UPLOAD_BYTES = MAX_ARCHIVE_BYTES + 64 * 1024  # the ZIP and the form's other fields
router = APIRouter(prefix=PREFIX, tags=["skills"], responses=ERROR_RESPONSES)

PageSize = Annotated[int, Query(ge=1, le=100, description="Entries per page (1–100).")]
PageToken = Annotated[str, Query(max_length=512, description="`next_page_token` of the previous page.")]
IdOrSlug = Annotated[str, Path(max_length=128, description="`skl_…` id, or the skill's slug.")]


class Skill(ProtoResource):
    """Stigmer's `Skill` as proto JSON: `spec.skill_md`, `spec.tag`, `status.version_hash`,
    `status.artifact_storage_key`, `status.state`."""


class SkillList(BaseModel):
    entries: list[Skill]
    next_page_token: str = Field(description="Pass as `page_token` for the next page; empty on the last.")
    total: int = Field(description="How many skills there are.")


def _skills(service: Service) -> SkillService:
    if service.skills is None:
        raise Unavailable("skills are not served by this process")
    return service.skills


@router.post("", status_code=201, response_model=Skill, summary="Push a skill (its ZIP, with SKILL.md at the root)")
async def push_skill(
    service: Service,
    response: Response,
    artifact: Annotated[UploadFile, File(description="The skill's ZIP (≤ 100 MB).")],
    name: Annotated[str, Form(max_length=100, description="The skill's name; its slug names it.")],
    tag: Annotated[str, Form(max_length=128, description="Optional tag of this version.")] = "",
    org: Annotated[str, Form(max_length=100)] = "",
    scope: Annotated[str, Form(description="`platform` or `organization`; empty: by `org`.")] = "",
) -> dict[str, Any]:
    data = await artifact.read(MAX_ARCHIVE_BYTES + 1)
    if len(data) > MAX_ARCHIVE_BYTES:
        raise ResourceExhausted(f"skill archive is larger than {MAX_ARCHIVE_BYTES} bytes")
    request = skill_io_pb2.PushSkillRequest(name=name, org=org, tag=tag, artifact=data)
    if scope:
        try:
            number: Any = scope_pb2.ApiResourceOwnerScope.Value(scope)
            request.scope = number
        except ValueError:
            raise InvalidArgument(f"scope {scope!r} is not an owner scope") from None
    skill = await _skills(service).push(request)
    response.headers["Location"] = f"{PREFIX}/{skill.metadata.id}"
    return resource_body(skill)


@router.get("", response_model=SkillList, summary="List skills, newest first")
async def list_skills(service: Service, page_size: PageSize = 20, page_token: PageToken = "") -> dict[str, Any]:
    page = await _skills(service).page(page_size=page_size, page_token=page_token)
    return {"entries": [resource_body(s) for s in page.entries], "next_page_token": page.next_page_token,
            "total": page.total}


@router.get("/{id_or_slug}", response_model=Skill, summary="Get a skill by id or slug")
async def get_skill(id_or_slug: IdOrSlug, service: Service) -> dict[str, Any]:
    return resource_body(await _skills(service).find(id_or_slug))


@router.get("/{id_or_slug}/versions", response_model=list[Skill], summary="Every push of a skill, newest first")
async def skill_versions(id_or_slug: IdOrSlug, service: Service) -> list[dict[str, Any]]:
    skill = await _skills(service).find(id_or_slug)
    return [resource_body(s) for s in await _skills(service).versions_of(skill.metadata.id)]


@router.get(
    "/{id_or_slug}/artifact",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}, "description": "The skill's ZIP"}},
    summary="Download a skill's current ZIP",
)
async def download_skill(id_or_slug: IdOrSlug, service: Service) -> Response:
    skill = await _skills(service).find(id_or_slug)
    data = await _skills(service).get_artifact(skill.status.artifact_storage_key)
    filename = f"{skill.metadata.slug}-{skill.status.version_hash[:12]}.zip"
    return Response(data, media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.delete("/{id_or_slug}", response_model=Skill, summary="Delete a skill, its versions and unused artifacts")
async def delete_skill(id_or_slug: IdOrSlug, service: Service) -> dict[str, Any]:
    skill = await _skills(service).find(id_or_slug)
    return resource_body(await _skills(service).delete(skill.metadata.id))

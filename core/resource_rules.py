"""Rules every resource kind shares (pure): its header, references to it, its REST body.

Skills, environments and execution contexts use these; nothing here reads storage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from google.protobuf import json_format
from google.protobuf.message import Message

from ai.stigmer.commons.apiresource import io_pb2 as resource_io_pb2, metadata_pb2
from ai.stigmer.commons.apiresource.apiresourcekind import api_resource_kind_pb2 as kind_pb2
from core.errors import InvalidArgument
from core.limits import check_keys
from core.resources import API_VERSION, MAX_NAME, slugify

MAX_DESCRIPTION = 4096

M = TypeVar("M", bound=Message)


@dataclass(frozen=True)
class Page(Generic[M]):
    """One page, newest first; `total` counts every match, not just this page."""

    entries: list[M]
    next_page_token: str
    total: int


class ApiResource(Protocol):
    """What Stigmer's resources share: a header and metadata."""

    api_version: str
    kind: str

    @property
    def metadata(self) -> metadata_pb2.ApiResourceMetadata: ...


def check_text(value: str, field: str, *, required: bool = False, limit: int = MAX_DESCRIPTION) -> None:
    if required and not value.strip():
        raise InvalidArgument(f"{field} is required")
    if len(value) > limit:
        raise InvalidArgument(f"{field} is longer than {limit} characters")


def check_header(resource: ApiResource, kind: str, *, name_required: bool = True) -> None:
    """api_version and kind (empty means ours), name, slug, labels, annotations, tags."""
    if resource.api_version and resource.api_version != API_VERSION:
        raise InvalidArgument(f"api_version must be {API_VERSION!r}")
    if resource.kind and resource.kind != kind:
        raise InvalidArgument(f"kind must be {kind!r}")
    metadata = resource.metadata
    check_text(metadata.name, "metadata.name", required=name_required, limit=MAX_NAME)
    check_text(metadata.slug, "metadata.slug", limit=MAX_NAME)
    check_text(metadata.org, "metadata.org", limit=MAX_NAME)
    if metadata.slug and slugify(metadata.slug) != metadata.slug:
        raise InvalidArgument("metadata.slug may only hold lowercase letters, digits and hyphens")
    if (metadata.name or metadata.slug) and not (metadata.slug or slugify(metadata.name)):
        raise InvalidArgument(f"metadata.name {metadata.name!r} gives an empty slug")
    check_keys("metadata.labels", list(metadata.labels))
    check_keys("metadata.annotations", list(metadata.annotations))
    if len(metadata.tags) > 64:
        raise InvalidArgument("metadata.tags has more than 64 entries")


def check_reference(ref: resource_io_pb2.ApiResourceReference, kind: int) -> str:
    """A reference's slug, once its kind and slug are sound."""
    if ref.kind not in (kind_pb2.api_resource_kind_unknown, kind):
        raise InvalidArgument(f"reference kind must be {kind_pb2.ApiResourceKind.Name(kind)}")
    if not ref.slug:
        raise InvalidArgument("reference slug is required")
    if len(ref.slug) > MAX_NAME:
        raise InvalidArgument(f"reference slug is longer than {MAX_NAME} characters")
    return ref.slug


def resource_body(resource: Message, version: int | None = None) -> dict[str, Any]:
    """The REST body: proto JSON (snake_case names), the document `version` at the top."""
    body = json_format.MessageToDict(resource, preserving_proto_field_name=True)
    status = body.setdefault("status", {})
    stored = status.pop("version", None)
    if version is None and stored is not None:
        version = int(stored)
    if version is not None:
        body["version"] = version
    return body

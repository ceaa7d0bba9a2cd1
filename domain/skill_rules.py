"""Skills' rules (pure): what a push may carry, the keys of stored artifacts, and which
version a reference names.

A skill's version is the SHA-256 of its ZIP (domain/skill_archive.py). A reference's
`version` is Stigmer's: empty or `latest` is the current skill; a 64-hex value or a tag
equal to the current one is the current skill too; otherwise it names an archived
version, by hash, or the newest with that tag.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from ai.stigmer.agentic.skill.v1 import api_pb2 as skill_pb2, io_pb2 as skill_io_pb2
from ai.stigmer.commons.apiresource import enum_pb2 as scope_pb2
from domain.errors import InvalidArgument, NotFound
from domain.limits import MAX_SKILL_TAG_CHARS
from domain.resource_rules import MAX_NAME, check_text, slugify

SKILL_ID_PREFIX = "skl"
MAX_TAG = MAX_SKILL_TAG_CHARS
_TAG = re.compile(r"^[a-zA-Z0-9._-]+$")
_HASH = re.compile(r"^[a-f0-9]{64}$")
# The only artifact keys this service issues (and so the only ones it serves).
_ARTIFACT_KEY = re.compile(r"^skills/([a-f0-9]{64})\.zip$")
_SKILL_SCOPES = (scope_pb2.platform, scope_pb2.organization)


def is_version_hash(value: str) -> bool:
    return bool(_HASH.match(value))


def check_tag(tag: str, field: str = "tag") -> None:
    if tag and (len(tag) > MAX_TAG or not _TAG.match(tag)):
        raise InvalidArgument(f"{field} must match ^[a-zA-Z0-9._-]+$ (≤ {MAX_TAG} characters)")


def push_slug(request: skill_io_pb2.PushSkillRequest) -> str:
    """Check a push's fields (not its archive); returns the skill's slug."""
    check_text(request.name, "name", required=True, limit=MAX_NAME)
    slug = slugify(request.name)
    if not slug:
        raise InvalidArgument(f"invalid skill name: {request.name!r}")
    if request.scope not in scope_pb2.ApiResourceOwnerScope.values():
        raise InvalidArgument(f"scope: {request.scope} is not a defined ApiResourceOwnerScope value")
    if request.scope not in (scope_pb2.api_resource_owner_scope_unspecified, *_SKILL_SCOPES):
        raise InvalidArgument("a skill's scope is platform or organization")
    check_text(request.org, "org", limit=MAX_NAME)
    check_tag(request.tag)
    if not request.artifact:
        raise InvalidArgument("artifact is required")
    return slug


def owner_scope(request: skill_io_pb2.PushSkillRequest) -> scope_pb2.ApiResourceOwnerScope:
    """Unset: organization when an org is named, else platform."""
    if request.scope:
        return request.scope
    return scope_pb2.organization if request.org else scope_pb2.platform


def artifact_key(version_hash: str) -> str:
    return f"skills/{version_hash}.zip"


def check_artifact_key(key: str) -> str:
    """A key this service could have issued, else InvalidArgument (never a path to follow)."""
    if not key:
        raise InvalidArgument("artifact_storage_key is required")
    if not _ARTIFACT_KEY.match(key):
        raise InvalidArgument("artifact_storage_key is not a key this service issued")
    return key


@dataclass(frozen=True, slots=True)
class VersionChoice:
    """Which stored skill a reference's version names."""

    by: Literal["current", "hash", "tag"]
    value: str = ""


def choose_version(version: str, current: skill_pb2.Skill) -> VersionChoice:
    version = version.strip()
    if version in ("", "latest"):
        return VersionChoice("current")
    if is_version_hash(version):
        if current.status.version_hash == version:
            return VersionChoice("current")
        return VersionChoice("hash", version)
    check_tag(version, "reference version")
    if current.spec.tag == version:
        return VersionChoice("current")
    return VersionChoice("tag", version)


def version_not_found(slug: str, version: str) -> NotFound:
    return NotFound(f"skill version {slug}:{version.strip()} not found")

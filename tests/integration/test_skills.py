"""Skills over real gRPC and REST: push, versions, references, artifacts, delete."""

from __future__ import annotations

import os
import re
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest

from ai.stigmer.agentic.skill.v1 import (
    command_pb2_grpc as skill_commands,
    io_pb2 as skill_io,
    query_pb2_grpc as skill_queries,
    status_pb2 as skill_status,
)
from ai.stigmer.commons.apiresource import enum_pb2 as scopes, io_pb2 as resource_io
from ai.stigmer.commons.apiresource.apiresourcekind import api_resource_kind_pb2 as kinds
from api.auth import ApiKeys
from api.grpc_server import MAX_ARTIFACT_MESSAGE_BYTES
from domain.skill_archive import MAX_SKILL_MD_BYTES
from stigmer_service.context import ServerContext
from tests.utils.contexts import RUNNER, USER
from tests.utils.grpc_api import open_grpc
from tests.utils.http import serve_app
from tests.utils.skill_zips import make_zip, skill_zip

LARGE = [
    ("grpc.max_send_message_length", MAX_ARTIFACT_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_ARTIFACT_MESSAGE_BYTES),
]


@dataclass
class SkillApi:
    context: ServerContext
    commands: skill_commands.SkillCommandControllerStub
    queries: skill_queries.SkillQueryControllerStub
    channel: grpc.aio.Channel
    metadata: tuple[tuple[str, str], ...] = (("authorization", f"Bearer {USER}"),)

    async def push(self, name: str, artifact: bytes, tag: str = "") -> object:
        request = skill_io.PushSkillRequest(name=name, artifact=artifact, tag=tag, scope=scopes.platform)
        return await self.commands.push(request, metadata=self.metadata)

    async def by_reference(self, slug: str, version: str = "") -> object:
        ref = resource_io.ApiResourceReference(kind=kinds.skill, slug=slug, version=version)
        return await self.queries.getByReference(ref, metadata=self.metadata)

    async def artifact(self, key: str, metadata: tuple[tuple[str, str], ...] | None = None) -> bytes:
        request = skill_io.GetArtifactRequest(artifact_storage_key=key)
        reply = await self.queries.getArtifact(request, metadata=self.metadata if metadata is None else metadata)
        return bytes(reply.artifact)


@pytest.fixture
async def api(keyed_context: ServerContext) -> AsyncIterator[SkillApi]:
    server, stubs = await open_grpc(keyed_context, api_keys=ApiKeys(users=(USER,), runners=(RUNNER,)))
    channel = grpc.aio.insecure_channel(stubs.target, options=LARGE)
    yield SkillApi(
        keyed_context, skill_commands.SkillCommandControllerStub(channel),
        skill_queries.SkillQueryControllerStub(channel), channel,
    )
    await channel.close()
    await stubs.channel.close()
    await server.stop(grace=None)


async def stored_artifact_keys(context: ServerContext) -> list[str]:
    return sorted({doc["filename"] async for doc in context.db["skill_artifacts.files"].find({})})


async def test_a_push_stores_the_skill_ready_with_its_skill_md_hash_and_artifact(api: SkillApi) -> None:
    data = skill_zip("# Greeter\nGreet people by name.", scripts__greet_sh=b"echo hi")
    skill = await api.push("Greeter Skill", data, tag="v1")
    assert skill.metadata.id.startswith("skl_")
    assert skill.metadata.slug == "greeter-skill"
    assert skill.metadata.owner_scope == scopes.platform
    assert skill.spec.skill_md == "# Greeter\nGreet people by name."
    assert skill.spec.tag == "v1"
    assert skill.status.state == skill_status.SKILL_STATE_READY
    assert len(skill.status.version_hash) == 64
    assert skill.status.artifact_storage_key == f"skills/{skill.status.version_hash}.zip"
    assert await api.artifact(skill.status.artifact_storage_key) == data
    got = await api.queries.get(skill_io.SkillId(value=skill.metadata.id), metadata=api.metadata)
    assert got == skill


async def test_pushing_the_same_zip_again_keeps_one_skill_and_one_artifact(api: SkillApi) -> None:
    data = skill_zip()
    first = await api.push("greeter", data)
    second = await api.push("greeter", data)
    assert second.metadata.id == first.metadata.id
    assert second.status.version_hash == first.status.version_hash
    assert await stored_artifact_keys(api.context) == [first.status.artifact_storage_key]


async def test_get_by_reference_follows_the_version_rules(api: SkillApi) -> None:
    v1 = await api.push("greeter", skill_zip("# v1 text"), tag="stable")
    v2 = await api.push("greeter", skill_zip("# v2 text"), tag="beta")
    v3 = await api.push("greeter", skill_zip("# v3 text"), tag="stable")  # the current one
    assert v1.metadata.id == v2.metadata.id == v3.metadata.id
    for version in ("", "latest", v3.status.version_hash, "stable"):
        assert (await api.by_reference("greeter", version)).spec.skill_md == "# v3 text", version
    assert (await api.by_reference("greeter", v1.status.version_hash)).spec.skill_md == "# v1 text"
    assert (await api.by_reference("greeter", v2.status.version_hash)).spec.skill_md == "# v2 text"
    assert (await api.by_reference("greeter", "beta")).spec.skill_md == "# v2 text"
    # Three artifacts, one per content.
    assert len(await stored_artifact_keys(api.context)) == 3

    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await api.by_reference("greeter", "nightly")
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert "greeter:nightly" in (missing.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as unknown_hash:
        await api.by_reference("greeter", "0" * 64)
    assert unknown_hash.value.code() == grpc.StatusCode.NOT_FOUND
    assert f"greeter:{'0' * 64}" in (unknown_hash.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as no_skill:
        await api.by_reference("nobody")
    assert no_skill.value.code() == grpc.StatusCode.NOT_FOUND


async def test_get_artifact_needs_a_key_and_serves_only_keys_it_issued(api: SkillApi) -> None:
    skill = await api.push("greeter", skill_zip())
    key = skill.status.artifact_storage_key
    runner = (("authorization", f"Bearer {RUNNER}"),)
    assert await api.artifact(key, runner) == await api.artifact(key)
    for metadata, code in (((), grpc.StatusCode.UNAUTHENTICATED),
                           ((("authorization", "Bearer wrong"),), grpc.StatusCode.UNAUTHENTICATED)):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await api.artifact(key, metadata)
        assert refused.value.code() == code
    for bad in ("../../etc/passwd", "/etc/passwd", "skills/../secrets.key", f"{key}/..", "SKILLS/x.zip", ""):
        with pytest.raises(grpc.aio.AioRpcError) as invalid:
            await api.artifact(bad)
        assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT, bad
    with pytest.raises(grpc.aio.AioRpcError) as absent:
        await api.artifact(f"skills/{'a' * 64}.zip")
    assert absent.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(
    ("archive", "message"),
    [
        (make_zip({"SKILL.md": b"# ok", "../escape.sh": b"rm -rf ~"}), "leaves the archive's folder"),
        (make_zip({"SKILL.md": b"# ok", "/etc/cron.d/x": b"x"}), "absolute path"),
        (make_zip({"SKILL.md": b"# ok", "zeros.bin": b"\0" * 5_000_000}), r"compressed \d+:1; at most 100:1"),
        (make_zip({"README.md": b"# no skill here"}), "SKILL.md not found"),
        (make_zip({"SKILL.md": os.urandom(MAX_SKILL_MD_BYTES // 2 + 1).hex().encode()[: MAX_SKILL_MD_BYTES + 1]},
                  compression=zipfile.ZIP_STORED), r"SKILL\.md is 1048577 bytes"),
        (b"not a zip at all", "not a ZIP file"),
    ],
    ids=["zip-slip", "absolute-path", "zip-bomb", "no-skill-md", "oversized-skill-md", "not-a-zip"],
)
async def test_bad_archives_are_refused_and_nothing_is_stored(api: SkillApi, archive: bytes, message: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await api.push("bad", archive)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert re.search(message, refused.value.details() or ""), refused.value.details()
    assert await stored_artifact_keys(api.context) == []
    with pytest.raises(grpc.aio.AioRpcError):
        await api.by_reference("bad")


async def test_a_push_names_a_skill_and_a_valid_tag(api: SkillApi) -> None:
    for name, tag in (("", ""), ("!!!", ""), ("ok", "bad tag"), ("ok", "a/b")):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await api.push(name, skill_zip(), tag=tag)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (name, tag)
    identity = skill_io.PushSkillRequest(name="mine", artifact=skill_zip(), scope=scopes.identity_account)
    with pytest.raises(grpc.aio.AioRpcError) as scope:
        await api.commands.push(identity, metadata=api.metadata)
    assert scope.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_delete_removes_the_versions_and_the_artifacts_nothing_else_uses(api: SkillApi) -> None:
    shared = skill_zip("# shared text")
    keep = await api.push("keeper", shared)
    await api.push("doomed", skill_zip("# only mine"), tag="old")
    await api.push("doomed", shared)
    doomed = await api.push("doomed", skill_zip("# newest"))
    assert len(await stored_artifact_keys(api.context)) == 3

    deleted = await api.commands.delete(skill_io.SkillId(value=doomed.metadata.id), metadata=api.metadata)
    assert deleted.metadata.id == doomed.metadata.id
    # The keeper's artifact stays; the two only the deleted skill used are gone.
    assert await stored_artifact_keys(api.context) == [keep.status.artifact_storage_key]
    assert await api.context.db["skill_versions"].find_one({"skill_id": doomed.metadata.id}) is None
    for call in (api.queries.get(skill_io.SkillId(value=doomed.metadata.id), metadata=api.metadata),
                 api.by_reference("doomed", "old")):
        with pytest.raises(grpc.aio.AioRpcError) as gone:
            await call
        assert gone.value.code() == grpc.StatusCode.NOT_FOUND
    assert await api.artifact(keep.status.artifact_storage_key) == shared


async def test_push_and_get_artifact_carry_archives_over_the_usual_message_limit(api: SkillApi) -> None:
    """20 MB (stored, incompressible): over the 16 MiB other methods take."""
    payload = os.urandom(20 * 1024 * 1024)
    data = make_zip({"SKILL.md": b"# big", "blob.bin": payload}, compression=zipfile.ZIP_STORED)
    skill = await api.push("big", data)
    assert await api.artifact(skill.status.artifact_storage_key) == data


async def test_other_methods_keep_the_usual_message_limit(api: SkillApi) -> None:
    big_ref = resource_io.ApiResourceReference(slug="x", version="y" * (17 * 1024 * 1024))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await api.queries.getByReference(big_ref, metadata=api.metadata)
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_rest_uploads_lists_gets_downloads_and_deletes_skills(keyed_context: ServerContext) -> None:
    headers = {"Authorization": f"Bearer {USER}"}
    data = skill_zip("# REST skill")
    async with serve_app(keyed_context) as rest:
        client = rest.client
        created = await client.post("/v1/skills", headers=headers, data={"name": "Rest Skill", "tag": "v1"},
                                    files={"artifact": ("skill.zip", data, "application/zip")})
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["spec"]["skill_md"] == "# REST skill"
        assert body["status"]["state"] == "SKILL_STATE_READY"
        assert created.headers["Location"] == f"/v1/skills/{body['metadata']['id']}"

        listed = (await client.get("/v1/skills", headers=headers)).json()
        assert [e["metadata"]["slug"] for e in listed["entries"]] == ["rest-skill"]
        assert listed["total"] == 1
        assert (await client.get("/v1/skills/rest-skill", headers=headers)).json() == body
        download = await client.get("/v1/skills/rest-skill/artifact", headers=headers)
        assert download.status_code == 200
        assert download.headers["content-type"] == "application/zip"
        assert download.content == data

        bad = await client.post("/v1/skills", headers=headers, data={"name": "evil"},
                                files={"artifact": ("s.zip", make_zip({"SKILL.md": b"x", "../x": b"y"}))})
        assert bad.status_code == 422
        assert bad.json()["error"]["code"] == "invalid_argument"
        # Over the JSON routes' body limit (1 MiB): uploads have their own (100 MB).
        big = make_zip({"SKILL.md": b"# big", "blob.bin": os.urandom(2 * 1024 * 1024)}, compression=zipfile.ZIP_STORED)
        uploaded = await client.post("/v1/skills", headers=headers, data={"name": "big"},
                                     files={"artifact": ("big.zip", big, "application/zip")})
        assert uploaded.status_code == 201, uploaded.text
        too_big_json = await client.post("/v1/environments", headers=headers, content=b"{" + b" " * (2 * 1024 * 1024) + b"}")
        assert too_big_json.status_code == 413
        assert (await client.delete("/v1/skills/big", headers=headers)).status_code == 200
        runner = await client.get("/v1/skills", headers={"Authorization": f"Bearer {RUNNER}"})
        assert runner.status_code == 403

        deleted = await client.delete("/v1/skills/rest-skill", headers=headers)
        assert deleted.status_code == 200
        assert (await client.get("/v1/skills/rest-skill", headers=headers)).status_code == 404
        assert await stored_artifact_keys(keyed_context) == []

"""Roles: every gRPC method under a user key and a runner key, and REST under a runner
key. A user key cannot send a runner's status (so it cannot forge a result); a runner
key can do nothing but send status and read what a runner reads."""

from __future__ import annotations

import asyncio

import grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from api.auth import RUNNER_ONLY_METHODS, RUNNER_READ_METHODS, ApiKeys
from stigmer_service.context import ServerContext
from tests.utils.contexts import RUNNER, USER, scripted_agent
from tests.utils.grpc_api import open_grpc
from tests.utils.http import serve_app

KEYS = ApiKeys(users=(USER,), runners=(RUNNER,))


def served_methods(channel: grpc.Channel) -> list[tuple[str, bool]]:
    """Every method the server offers (from its own reflection): (full name, streams)."""
    database = ProtoReflectionDescriptorDatabase(channel)
    methods = []
    for service_name in database.get_services():
        if not service_name.startswith("ai.stigmer."):
            continue
        service = database.FindFileContainingSymbol(service_name)
        for described in service.service:
            if f"{service.package}.{described.name}" != service_name:
                continue
            for method in described.method:
                methods.append((f"/{service_name}/{method.name}", method.server_streaming))
    return methods


async def call_code(channel: grpc.aio.Channel, method: str, streams: bool, key: str) -> grpc.StatusCode:
    metadata = (("authorization", f"Bearer {key}"),)
    try:
        if streams:
            call = channel.unary_stream(method)(b"", metadata=metadata, timeout=5)
            async for _ in call:
                pass
        else:
            await channel.unary_unary(method)(b"", metadata=metadata, timeout=5)
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


async def test_each_grpc_method_answers_each_role_as_its_table_says(keyed_context: ServerContext) -> None:
    server, stubs = await open_grpc(keyed_context, api_keys=KEYS)
    sync_channel = grpc.insecure_channel(stubs.target)
    try:
        methods = await asyncio.to_thread(served_methods, sync_channel)  # sync client: off the loop
        names = {name for name, _ in methods}
        assert RUNNER_ONLY_METHODS & names  # updateStatus is served
        assert len(names) >= 8
        for name, streams in methods:
            user = await call_code(stubs.channel, name, streams, USER)
            runner = await call_code(stubs.channel, name, streams, RUNNER)
            assert grpc.StatusCode.UNAUTHENTICATED not in (user, runner), name
            if name in RUNNER_ONLY_METHODS:
                assert user == grpc.StatusCode.PERMISSION_DENIED, name
                assert runner != grpc.StatusCode.PERMISSION_DENIED, name
            elif name in RUNNER_READ_METHODS:
                assert grpc.StatusCode.PERMISSION_DENIED not in (user, runner), name
            else:
                assert user != grpc.StatusCode.PERMISSION_DENIED, name
                assert runner == grpc.StatusCode.PERMISSION_DENIED, name
    finally:
        sync_channel.close()
        await stubs.channel.close()
        await server.stop(grace=None)


async def test_a_runner_key_cannot_use_the_rest_api(keyed_context: ServerContext) -> None:
    async with serve_app(keyed_context) as api:
        for method, path in (("GET", "/v1/agent-executions"), ("POST", "/v1/agents"), ("GET", "/v1/sessions")):
            response = await api.client.request(method, path, headers={"Authorization": f"Bearer {RUNNER}"}, json={})
            assert response.status_code == 403, (method, path)
            assert response.json()["error"]["code"] == "permission_denied"
        ok = await api.client.get("/v1/agent-executions", headers={"Authorization": f"Bearer {USER}"})
        assert ok.status_code == 200


async def test_an_idempotency_key_is_scoped_by_the_key_not_by_how_the_header_is_spelled(
    keyed_context: ServerContext,
) -> None:
    agent_id = (await scripted_agent(keyed_context.service.resources, "scoped")).metadata.id
    request = {"spec": {"message": "once", "agent_id": agent_id}}
    async with serve_app(keyed_context) as api:
        created = []
        for header in (f"bearer {USER}", f"Bearer {USER}", f"BEARER   {USER}"):
            response = await api.client.post(
                "/v1/agent-executions", json=request,
                headers={"Authorization": header, "Idempotency-Key": "one-key"},
            )
            assert response.status_code in (200, 201), response.text
            created.append(response.json()["metadata"]["id"])
        assert len(set(created)) == 1
        assert (await keyed_context.service.executions.list()).total == 1

"""Auth on every endpoint, constant-time key checks, injection payloads, size limits,
and the loopback-only default."""

from __future__ import annotations

import hmac
import subprocess
import sys

import grpc
import pytest

from ai.stigmer.agentic.agentexecution.v1 import api_pb2, command_pb2, io_pb2, patch_pb2, query_pb2
from ai.stigmer.commons.apiresource import io_pb2 as resource_io_pb2
from api.auth import ApiKeys
from domain.errors import Unauthenticated
from infra.settings import Settings
from stigmer_service.serve import InsecureBind, check_bind_is_safe
from tests.utils.contexts import opened_context
from tests.utils.grpc_api import open_grpc
from tests.utils.http import serve_app

KEYS = ["first-key", "second-key"]
OPEN_PATHS = {"/healthz", "/readyz", "/metrics", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json", "/"}


@pytest.fixture
async def keyed_context(services, mongo_db_name):
    async with opened_context(services, mongo_db_name, api_keys=",".join(KEYS)) as ctx:
        yield ctx


async def test_every_rest_endpoint_requires_a_valid_key(keyed_context) -> None:
    async with serve_app(keyed_context) as api:
        spec = (await api.client.get("/openapi.json")).json()  # every documented operation
        routes = [
            (method.upper(), path)
            for path, operations in spec["paths"].items()
            if path not in OPEN_PATHS
            for method in operations
        ]
        assert len(routes) >= 10
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "first-key"}):
            for method, path in routes:
                url = path.replace("{", "").replace("}", "")  # any id-shaped text will do
                response = await api.client.request(method, url, headers=headers, json={})
                assert response.status_code == 401, (method, path, headers, response.text)
                assert response.json()["error"]["code"] == "unauthenticated"
        ok = await api.client.get("/v1/agents", headers={"Authorization": "Bearer second-key"})
        assert ok.status_code == 200
        assert (await api.client.get("/healthz")).status_code == 200


async def first_answer(call, request):
    """The first answer of a bidirectional call to `request`."""
    await call.write(request)
    return await call.read()


async def test_every_grpc_method_requires_a_valid_key(keyed_context) -> None:
    server, stubs = await open_grpc(keyed_context, api_keys=ApiKeys(tuple(KEYS)))
    try:
        calls = {
            "create": lambda md: stubs.commands.create(api_pb2.AgentExecution(), metadata=md),
            "update": lambda md: stubs.commands.update(api_pb2.AgentExecution(), metadata=md),
            "updateStatus": lambda md: stubs.commands.updateStatus(io_pb2.AgentExecutionUpdateStatusInput(), metadata=md),
            "delete": lambda md: stubs.commands.delete(resource_io_pb2.ApiResourceId(), metadata=md),
            "applyStatusPatch": lambda md: stubs.commands.applyStatusPatch(
                patch_pb2.AgentExecutionStatusPatch(), metadata=md
            ),
            "streamStatusPatches": lambda md: first_answer(
                stubs.commands.streamStatusPatches(metadata=md), patch_pb2.AgentExecutionStatusPatch()
            ),
            "get": lambda md: stubs.queries.get(io_pb2.AgentExecutionId(), metadata=md),
            "list": lambda md: stubs.queries.list(io_pb2.ListAgentExecutionsRequest(), metadata=md),
            "listBySession": lambda md: stubs.queries.listBySession(io_pb2.ListAgentExecutionsBySessionRequest(), metadata=md),
        }
        services = [
            command_pb2.DESCRIPTOR.services_by_name["AgentExecutionCommandController"],
            query_pb2.DESCRIPTOR.services_by_name["AgentExecutionQueryController"],
        ]
        every_method = {m.name for s in services for m in s.methods}
        assert every_method == set(calls) | {"subscribe"}
        for metadata in ((), (("authorization", "Bearer nope"),)):
            for name, call in calls.items():
                with pytest.raises(grpc.aio.AioRpcError) as error:
                    await call(metadata)
                assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED, name
            with pytest.raises(grpc.aio.AioRpcError) as error:
                async for _ in stubs.queries.subscribe(io_pb2.AgentExecutionId(value="aex_x"), metadata=metadata):
                    pass
            assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        await stubs.channel.close()
        await server.stop(grace=None)


def test_keys_are_compared_in_constant_time_against_every_key(monkeypatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a, b):
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    keys = ApiKeys(users=tuple(KEYS), runners=("runner-key",))
    keys.authenticate("Bearer first-key")  # matches the first key...
    assert len(compared) == len(KEYS) + 1  # ...and still compares the rest: no early exit
    with pytest.raises(Unauthenticated):
        keys.authenticate("Bearer first-kez")


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("POST", "/v1/agent-executions", {"spec": {"message": "hi", "agent_id": {"$gt": ""}}}),
        ("POST", "/v1/agent-executions", {"spec": {"message": {"$where": "sleep(1000)"}, "agent_id": "agt_x"}}),
        ("POST", "/v1/agent-executions", {"spec": {"message": "hi", "session_id": {"$ne": None}}}),
        ("POST", "/v1/agents", {"metadata": {"name": {"$gt": ""}}, "spec": {"instructions": "Be brief, be kind."}}),
        ("GET", '/v1/agent-executions?session_id={"$gt": ""}', None),
        ("GET", "/v1/agent-executions?session_id[$gt]=", None),
        ("GET", '/v1/agent-executions?phase={"$ne": 1}', None),
        ("GET", '/v1/agent-executions/{"$gt": ""}', None),
        ("GET", "/v1/agents/$where", None),
    ],
)
async def test_mongo_operator_payloads_are_rejected_or_literal(http_api, agent, method, path, body) -> None:
    before = await http_api.context.service.executions.list()
    response = await http_api.client.request(method, path, json=body)
    assert response.status_code < 500, response.text
    if response.status_code == 200:  # treated as a literal: it matched nothing
        assert response.json()["entries"] == []
    else:
        assert "error" in response.json()
    assert (await http_api.context.service.executions.list()).total == before.total


async def test_oversized_bodies_and_messages_are_refused(http_api, agent) -> None:
    settings = http_api.context.settings
    huge = {"spec": {"agent_id": agent.metadata.id, "message": "x" * (settings.max_body_bytes + 10)}}
    response = await http_api.client.post("/v1/agent-executions", json=huge)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    long = {"spec": {"agent_id": agent.metadata.id, "message": "x" * (settings.max_message_chars + 1)}}
    response = await http_api.client.post("/v1/agent-executions", json=long)
    assert response.status_code == 422
    assert (await http_api.context.service.executions.list()).total == 0


def test_server_refuses_non_loopback_without_keys() -> None:
    with pytest.raises(InsecureBind, match="API_KEYS"):
        check_bind_is_safe(Settings(host="0.0.0.0"))
    check_bind_is_safe(Settings(host="127.0.0.1"))
    check_bind_is_safe(Settings(host="::1"))
    check_bind_is_safe(Settings(host="0.0.0.0", api_keys="k"))
    check_bind_is_safe(Settings(host="0.0.0.0", allow_insecure=True))


def test_serve_command_exits_with_a_clear_message_on_an_open_bind(services) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "stigmer_service.cli", "serve"],
        env={"PATH": "/usr/bin:/bin", "HOST": "0.0.0.0", "MONGODB_URI": services.mongodb_uri,
             "REDIS_URL": services.redis_url, "TEMPORAL_ADDRESS": services.temporal_address},
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0
    assert "refusing to listen on 0.0.0.0 without API keys" in result.stderr


async def test_the_key_is_checked_before_the_body_is_read(keyed_context) -> None:
    async with serve_app(keyed_context) as api:
        broken = await api.client.post("/v1/agent-executions", content=b"{not json",
                                       headers={"content-type": "application/json"})
        huge = await api.client.post("/v1/agents", content=b"x" * (keyed_context.settings.max_body_bytes + 1))
        for response in (broken, huge):
            assert response.status_code == 401
            assert response.json()["error"]["code"] == "unauthenticated"
        allowed = await api.client.post("/v1/agent-executions", content=b"{not json",
                                        headers={"content-type": "application/json",
                                                 "authorization": "Bearer first-key"})
        assert allowed.status_code == 400

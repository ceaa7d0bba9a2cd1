"""The REST API over the real service layer: resources, errors, auth, health, metrics."""

from __future__ import annotations

import dataclasses
import json

import httpx
import pytest
from prometheus_client import REGISTRY
from pydantic import SecretStr
from temporalio.client import Client as TemporalClient

from ai.stigmer.agentic.agent.v1.api_pb2 import Agent
from ai.stigmer.agentic.agentexecution.v1 import api_pb2, enum_pb2, io_pb2
from devtools.embedded import ServiceEndpoints
from stigmer_service.context import ServerContext, connect_redis
from tests.utils.http import EXECUTIONS, HttpApi, create_execution, serve_app

JSON = {"content-type": "application/json"}
SPEC = {"message": "hi", "agent_id": "agt_x"}


def with_settings(context: ServerContext, **changes) -> ServerContext:
    """The same services, other settings (the app reads them from the context)."""
    return dataclasses.replace(context, settings=context.settings.model_copy(update=changes))


def assert_error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


async def finish(api: HttpApi, execution_id: str, phase: int = enum_pb2.EXECUTION_COMPLETED) -> None:
    await api.context.service.update_status(execution_id, api_pb2.AgentExecutionStatus(phase=phase))


# -- agent executions -----------------------------------------------------------------------


async def test_create_execution_returns_201_location_and_the_pending_body(http_api: HttpApi, agent: Agent) -> None:
    response = await http_api.client.post(
        EXECUTIONS,
        json={
            "spec": {"message": "Plan a trip", "agent_id": agent.metadata.id, "execution_config": {"model_name": "scripted"},
                     "runtime_env": {"TZ": "UTC"}},
            "metadata": {"name": "trip", "labels": {"team": "travel"}, "tags": ["demo"]},
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    execution_id = body["metadata"]["id"]
    assert execution_id.startswith("aex_")
    assert response.headers["location"] == f"{EXECUTIONS}/{execution_id}"
    assert body["kind"] == "AgentExecution"
    assert body["status"]["phase"] == "EXECUTION_PENDING"
    assert body["version"] == 1
    assert body["spec"]["message"] == "Plan a trip"
    assert body["spec"]["agent_id"] == agent.metadata.id
    assert body["spec"]["session_id"].startswith("ses_")
    assert body["spec"]["execution_config"] == {"model_name": "scripted"}
    assert body["metadata"]["labels"] == {"team": "travel"}

    fetched = await http_api.client.get(response.headers["location"])
    assert fetched.status_code == 200
    assert fetched.json() == body


async def test_create_with_only_agent_starts_a_session_of_that_agent(http_api: HttpApi, agent: Agent) -> None:
    created = await create_execution(http_api, agent)
    session_id = created["spec"]["session_id"]

    session = await http_api.client.get(f"/v1/sessions/{session_id}")
    assert session.status_code == 200
    assert session.json()["spec"]["agent_instance_id"] == agent.status.default_instance_id

    listed = await http_api.client.get("/v1/sessions", params={"agent_id": agent.metadata.id})
    assert [s["metadata"]["id"] for s in listed.json()["entries"]] == [session_id]
    assert listed.json()["total"] == 1

    again = await http_api.client.post(EXECUTIONS, json={"spec": {"message": "more", "session_id": session_id}})
    assert again.status_code == 201
    assert again.json()["spec"]["session_id"] == session_id
    assert again.json()["spec"]["agent_id"] == agent.metadata.id


async def test_idempotency_key_retry_returns_200_with_the_first_execution(http_api: HttpApi, agent: Agent) -> None:
    request = {"spec": {"message": "once", "agent_id": agent.metadata.id}}
    headers = {"Idempotency-Key": "retry-me-1"}
    first = await http_api.client.post(EXECUTIONS, json=request, headers=headers)
    second = await http_api.client.post(EXECUTIONS, json=request, headers=headers)
    assert first.status_code == 201
    assert second.status_code == 200
    assert second.json() == first.json()
    assert second.headers["location"] == first.headers["location"]
    listed = await http_api.client.get(EXECUTIONS)
    assert listed.json()["total"] == 1


async def test_idempotency_key_reused_with_another_request_is_409_and_keys_are_per_caller(
    http_api: HttpApi, agent: Agent
) -> None:
    headers = {"Idempotency-Key": "shared-key"}
    first = await http_api.client.post(
        EXECUTIONS, json={"spec": {"message": "once", "agent_id": agent.metadata.id}}, headers=headers
    )
    assert first.status_code == 201
    other = await http_api.client.post(
        EXECUTIONS, json={"spec": {"message": "something else", "agent_id": agent.metadata.id}}, headers=headers
    )
    assert_error(other, 409, "failed_precondition")
    assert "different request" in other.json()["error"]["message"]
    # Another caller (another key) with the same key text gets its own execution.
    elsewhere = await http_api.client.post(
        EXECUTIONS,
        json={"spec": {"message": "once", "agent_id": agent.metadata.id}},
        headers={**headers, "Authorization": "Bearer someone-else"},
    )
    assert elsewhere.status_code == 201
    assert elsewhere.json()["metadata"]["id"] != first.json()["metadata"]["id"]


async def test_list_filters_by_session_and_phase_and_pages_with_tokens(http_api: HttpApi, agent: Agent) -> None:
    first = await create_execution(http_api, agent, "one")
    session_id = first["spec"]["session_id"]
    in_session = [first] + [
        (await http_api.client.post(EXECUTIONS, json={"spec": {"message": f"m{i}", "session_id": session_id}})).json()
        for i in range(4)
    ]
    await create_execution(http_api, agent, "elsewhere")  # another session
    await finish(http_api, in_session[1]["metadata"]["id"])
    await finish(http_api, in_session[3]["metadata"]["id"])

    everything = (await http_api.client.get(EXECUTIONS)).json()
    assert everything["total"] == 6 and len(everything["entries"]) == 6

    seen: list[str] = []
    token = ""
    while True:
        params = {"session_id": session_id, "page_size": 2, "page_token": token}
        page = await http_api.client.get(EXECUTIONS, params=params)
        assert page.status_code == 200
        body = page.json()
        assert body["total"] == 5
        assert len(body["entries"]) <= 2
        seen += [e["metadata"]["id"] for e in body["entries"]]
        token = body["next_page_token"]
        if not token:
            break
    assert seen == [e["metadata"]["id"] for e in reversed(in_session)]  # newest first, each once

    expected_done = {in_session[1]["metadata"]["id"], in_session[3]["metadata"]["id"]}
    for phase in ("EXECUTION_COMPLETED", "COMPLETED", "completed"):
        done = (await http_api.client.get(EXECUTIONS, params={"phase": phase})).json()
        assert {e["metadata"]["id"] for e in done["entries"]} == expected_done
        assert all(e["status"]["phase"] == "EXECUTION_COMPLETED" for e in done["entries"])
        assert done["total"] == 2
    pending = (await http_api.client.get(EXECUTIONS, params={"phase": "PENDING", "session_id": session_id})).json()
    assert pending["total"] == 3


async def test_cancel_of_an_ended_execution_is_409_naming_its_phase(http_api: HttpApi, agent: Agent) -> None:
    created = await create_execution(http_api, agent)
    execution_id = created["metadata"]["id"]
    await finish(http_api, execution_id, enum_pb2.EXECUTION_FAILED)

    response = await http_api.client.post(f"{EXECUTIONS}/{execution_id}/cancel")
    assert_error(response, 409, "failed_precondition")
    assert "EXECUTION_FAILED" in response.json()["error"]["message"]
    stored = await http_api.client.get(f"{EXECUTIONS}/{execution_id}")
    assert stored.json()["status"]["phase"] == "EXECUTION_FAILED"  # an ended one stays as it is


async def test_cancel_without_a_workflow_engine_is_503(http_api: HttpApi, agent: Agent) -> None:
    created = await create_execution(http_api, agent)
    response = await http_api.client.post(f"{EXECUTIONS}/{created['metadata']['id']}/cancel")
    assert_error(response, 503, "unavailable")


async def test_delete_returns_the_execution_and_then_it_is_gone(http_api: HttpApi, agent: Agent) -> None:
    created = await create_execution(http_api, agent)
    url = f"{EXECUTIONS}/{created['metadata']['id']}"
    deleted = await http_api.client.delete(url)
    assert deleted.status_code == 200
    assert deleted.json()["metadata"]["id"] == created["metadata"]["id"]
    assert_error(await http_api.client.get(url), 404, "not_found")
    assert_error(await http_api.client.delete(url), 404, "not_found")


# -- agents and sessions ----------------------------------------------------------------------


async def test_agents_create_get_list_page_and_delete(http_api: HttpApi) -> None:
    created = []
    for i in range(3):
        response = await http_api.client.post("/v1/agents", json={
            "metadata": {"name": f"agent-{i}"},
            "spec": {"instructions": "Be brief and precise.",
                     "mcp_servers": [{"name": "time", "stdio": {"command": "mcp-server-time"}}]},
        })
        assert response.status_code == 201, response.text
        body = response.json()
        assert response.headers["location"] == f"/v1/agents/{body['metadata']['id']}"
        assert body["metadata"]["name"] == f"agent-{i}" and body["metadata"]["id"].startswith("agt_")
        assert body["spec"]["mcp_servers"] == [{"name": "time", "stdio": {"command": "mcp-server-time"}}]
        assert body["status"]["default_instance_id"].startswith("ain_")
        created.append(body)

    fetched = (await http_api.client.get(f"/v1/agents/{created[0]['metadata']['id']}")).json()
    assert fetched == created[0]
    assert (await http_api.client.get("/v1/agents/agent-0")).json() == created[0]  # by name

    first = (await http_api.client.get("/v1/agents", params={"page_size": 2})).json()
    params = {"page_size": 2, "page_token": first["next_page_token"]}
    second = (await http_api.client.get("/v1/agents", params=params)).json()
    ids = [a["metadata"]["id"] for a in first["entries"] + second["entries"]]
    assert ids == [a["metadata"]["id"] for a in reversed(created)]
    assert second["next_page_token"] == "" and first["total"] == 3

    assert (await http_api.client.delete(f"/v1/agents/{created[1]['metadata']['id']}")).status_code == 200
    assert_error(await http_api.client.get(f"/v1/agents/{created[1]['metadata']['id']}"), 404, "not_found")


async def test_duplicate_agent_name_is_409(http_api: HttpApi, agent: Agent) -> None:
    body = {"metadata": {"name": agent.metadata.name}, "spec": {"instructions": "Something else entirely."}}
    assert_error(await http_api.client.post("/v1/agents", json=body), 409, "already_exists")


# -- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"),
    [
        ("POST", EXECUTIONS, {"content": b'{"spec": {"message": "hi"', "headers": JSON}, 400, "invalid_argument"),
        ("POST", EXECUTIONS, {"content": b"\xff\xfe not utf-8", "headers": JSON}, 400, "invalid_argument"),
        ("POST", EXECUTIONS, {"json": {"spec": {"agent_id": "agt_x"}}}, 422, "invalid_argument"),
        ("POST", EXECUTIONS, {"json": {"spec": {"message": "   ", "agent_id": "agt_x"}}}, 422, "invalid_argument"),
        ("POST", EXECUTIONS, {"json": {"spec": {"message": "hi"}}}, 422, "invalid_argument"),
        ("POST", EXECUTIONS, {"json": {"spec": {"message": "hi", "agent_id": "agt_missing"}}}, 404, "not_found"),
        ("POST", EXECUTIONS, {"json": {"spec": {"message": "hi", "session_id": "ses_missing"}}}, 404, "not_found"),
        ("POST", EXECUTIONS, {"json": {"spec": SPEC, "extra": 1}}, 422, "invalid_argument"),
        ("POST", EXECUTIONS, {"json": {"spec": {**SPEC, "callback_token": "x"}}}, 422, "invalid_argument"),
        ("POST", EXECUTIONS, {"json": {"spec": SPEC, "metadata": {"labels": {"$where": "1"}}}}, 422, "invalid_argument"),
        ("POST", EXECUTIONS, {"json": [1, 2]}, 422, "invalid_argument"),
        ("POST", EXECUTIONS, {"json": {"spec": {**SPEC, "message": "x" * 100_001}}}, 422, "invalid_argument"),
        ("POST", EXECUTIONS, {"json": {"spec": SPEC}, "headers": {"Idempotency-Key": ""}}, 422, "invalid_argument"),
        ("GET", EXECUTIONS, {"params": {"page_token": "not-a-token!"}}, 422, "invalid_argument"),
        ("GET", EXECUTIONS, {"params": {"page_token": "JCRub3Q"}}, 422, "invalid_argument"),
        ("GET", EXECUTIONS, {"params": {"page_size": 0}}, 422, "invalid_argument"),
        ("GET", EXECUTIONS, {"params": {"page_size": 101}}, 422, "invalid_argument"),
        ("GET", EXECUTIONS, {"params": {"page_size": "ten"}}, 422, "invalid_argument"),
        ("GET", EXECUTIONS, {"params": {"phase": "EXECUTION_SLEEPING"}}, 422, "invalid_argument"),
        ("GET", EXECUTIONS, {"params": {"phase": "DONE"}}, 422, "invalid_argument"),
        ("GET", EXECUTIONS, {"params": {"session_id": "ses $ne"}}, 422, "invalid_argument"),
        ("GET", f"{EXECUTIONS}/aex_unknown", {}, 404, "not_found"),
        ("GET", f"{EXECUTIONS}/not%20an%20id", {}, 404, "not_found"),
        ("DELETE", f"{EXECUTIONS}/aex_unknown", {}, 404, "not_found"),
        ("POST", f"{EXECUTIONS}/aex_unknown/cancel", {}, 404, "not_found"),
        ("GET", f"{EXECUTIONS}/aex_unknown/subscribe", {}, 404, "not_found"),
        ("GET", "/v1/agents/agt_unknown", {}, 404, "not_found"),
        ("DELETE", "/v1/agents/agt_unknown", {}, 404, "not_found"),
        ("GET", "/v1/agents", {"params": {"page_token": "%%%"}}, 422, "invalid_argument"),
        ("GET", "/v1/agents", {"params": {"page_size": -1}}, 422, "invalid_argument"),
        ("POST", "/v1/agents", {"json": {"name": "flat shape"}}, 422, "invalid_argument"),
        ("POST", "/v1/agents", {"json": {"metadata": {"name": "a"}, "spec": {"instructions": "short"}}},
         422, "invalid_argument"),
        ("POST", "/v1/agents", {"json": {"metadata": {"name": "a"}, "spec": {
            "instructions": "Long enough instructions.", "mcp_servers": [{"name": "no-kind"}]}}},
         422, "invalid_argument"),
        ("GET", "/v1/sessions/ses_unknown", {}, 404, "not_found"),
        ("GET", "/v1/sessions", {"params": {"agent_id": "{}"}}, 422, "invalid_argument"),
        ("GET", "/v1/nothing-here", {}, 404, "not_found"),
        ("PUT", EXECUTIONS, {}, 405, "method_not_allowed"),
    ],
)
async def test_bad_requests_get_the_right_4xx_and_a_json_error(
    http_api: HttpApi, method: str, path: str, kwargs: dict, status: int, code: str
) -> None:
    assert_error(await http_api.client.request(method, path, **kwargs), status, code)


async def test_unexpected_failures_are_500_json_without_internals(
    http_api: HttpApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(execution_id: str):
        raise RuntimeError("secret connection string mongodb://admin:pw@db")

    monkeypatch.setattr(http_api.context.service, "get", broken)
    response = await http_api.client.get(f"{EXECUTIONS}/aex_any")
    error = assert_error(response, 500, "internal")
    assert "secret" not in response.text and "Traceback" not in response.text
    assert error["message"] == "internal server error"


async def test_bodies_over_the_limit_are_refused_with_413(context: ServerContext) -> None:
    async with serve_app(with_settings(context, max_body_bytes=2048)) as api:
        big = {"spec": {"message": "x" * 4096, "agent_id": "agt_x"}}
        assert_error(await api.client.post(EXECUTIONS, json=big), 413, "payload_too_large")

        async def chunks():  # no Content-Length: the limit counts the streamed bytes
            yield b'{"spec": {"message": "'
            for _ in range(8):
                yield b"y" * 512
            yield b'", "agent_id": "agt_x"}}'

        chunked = await api.client.post(EXECUTIONS, content=chunks(), headers={"content-type": "application/json"})
        assert_error(chunked, 413, "payload_too_large")

        small = await api.client.post(EXECUTIONS, json={"spec": {"message": "ok", "agent_id": "agt_x"}})
        assert_error(small, 404, "not_found")  # under the limit: it reached the service


# -- auth -----------------------------------------------------------------------------------


async def test_api_keys_guard_every_resource_route(context: ServerContext, agent: Agent) -> None:
    async with serve_app(with_settings(context, api_keys=SecretStr("key-one, key-two"))) as api:
        wrong = ("", "Bearer wrong", "Basic a2V5LW9uZQ==", "key-one", "Bearer", "Bearer key-one-and-more")
        for headers in ({"Authorization": value} if value else {} for value in wrong):
            for method, path in (("GET", EXECUTIONS), ("POST", EXECUTIONS), ("GET", "/v1/agents"),
                                 ("GET", "/v1/sessions"), ("GET", f"{EXECUTIONS}/aex_x/subscribe")):
                response = await api.client.request(method, path, headers=headers, json={"spec": {"message": "m"}})
                assert_error(response, 401, "unauthenticated")
                assert response.headers["www-authenticate"] == "Bearer"

        for key in ("key-one", "key-two"):
            ok = await api.client.post(
                EXECUTIONS,
                headers={"Authorization": f"Bearer {key}"},
                json={"spec": {"message": "m", "agent_id": agent.metadata.id}},
            )
            assert ok.status_code == 201, ok.text

        for path in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/"):
            assert (await api.client.get(path)).status_code == 200, path


async def test_sse_accepts_the_key_as_access_token_for_event_source(context: ServerContext, agent: Agent) -> None:
    """Browsers' EventSource cannot send headers; only the stream takes `?access_token=`."""
    async with serve_app(with_settings(context, api_keys=SecretStr("key-one"))) as api:
        auth = {"Authorization": "Bearer key-one"}
        created = await api.client.post(EXECUTIONS, headers=auth, json={"spec": {"message": "m", "agent_id": agent.metadata.id}})
        execution_id = created.json()["metadata"]["id"]
        await finish(api, execution_id)
        subscribe = f"{EXECUTIONS}/{execution_id}/subscribe"

        ok = await api.client.get(subscribe, params={"access_token": "key-one"})
        assert ok.status_code == 200 and "event: end" in ok.text
        assert_error(await api.client.get(subscribe, params={"access_token": "nope"}), 401, "unauthenticated")
        assert_error(await api.client.get(subscribe), 401, "unauthenticated")
        # Elsewhere a key in the URL is not accepted (URLs end up in logs).
        other = await api.client.get(f"{EXECUTIONS}/{execution_id}", params={"access_token": "key-one"})
        assert_error(other, 401, "unauthenticated")


# -- health, metrics, docs ---------------------------------------------------------------------


HUB_OK = {"hub-reader": "ok", "hub-channel-sync": "ok"}


async def test_healthz_is_ok(http_api: HttpApi) -> None:
    response = await http_api.client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


async def test_readyz_is_ok_when_mongo_redis_and_temporal_answer(
    context: ServerContext, services: ServiceEndpoints
) -> None:
    temporal = await TemporalClient.connect(services.temporal_address)
    async with serve_app(dataclasses.replace(context, temporal=temporal)) as api:
        response = await api.client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ok", "checks": {"mongodb": "ok", "redis": "ok", "temporal": "ok", **HUB_OK}}


async def test_readyz_reports_temporal_not_configured_without_workflows(http_api: HttpApi) -> None:
    response = await http_api.client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json()["checks"] == {"mongodb": "ok", "redis": "ok", "temporal": "not configured", **HUB_OK}


async def test_readyz_is_503_naming_what_is_down(context: ServerContext) -> None:
    dead_redis = connect_redis("redis://127.0.0.1:9/0")  # discard port: nothing listens
    try:
        async with serve_app(dataclasses.replace(context, redis=dead_redis)) as api:
            response = await api.client.get("/readyz")
    finally:
        await dead_redis.aclose()
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["mongodb"] == "ok"
    assert body["checks"]["redis"].startswith("down:")


async def test_create_takes_the_agent_by_name_or_slug_and_stores_its_id(
    http_api: HttpApi, grpc_api, agent: Agent
) -> None:
    for reference in (agent.metadata.name, agent.metadata.slug):
        response = await http_api.client.post(EXECUTIONS, json={"spec": {"message": "hi", "agent_id": reference}})
        assert response.status_code == 201, response.text
        assert response.json()["spec"]["agent_id"] == agent.metadata.id
        stored = await grpc_api.queries.get(io_pb2.AgentExecutionId(value=response.json()["metadata"]["id"]))
        assert stored.spec.agent_id == agent.metadata.id  # gRPC carries the id
    unknown = await http_api.client.post(EXECUTIONS, json={"spec": {"message": "hi", "agent_id": "nobody"}})
    assert unknown.status_code == 404
    assert unknown.json()["error"] == {"code": "not_found", "message": "agent 'nobody' not found"}
    # Rules about the message are still checked first.
    blank = await http_api.client.post(EXECUTIONS, json={"spec": {"message": " ", "agent_id": "nobody"}})
    assert blank.status_code == 422


async def test_metrics_label_requests_of_any_content_type_and_refused_ones_by_route(
    context: ServerContext, agent: Agent
) -> None:
    def count(method: str, route: str, status: int) -> float:
        labels = {"method": method, "route": route, "status": str(status)}
        return REGISTRY.get_sample_value("stigmer_http_requests_total", labels) or 0.0

    expected = [("POST", EXECUTIONS, 201), ("GET", f"{EXECUTIONS}/{{execution_id}}", 401),
                ("PUT", EXECUTIONS, 401), ("GET", "<unmatched>", 404)]
    before = [count(*labels) for labels in expected]
    async with serve_app(with_settings(context, api_keys=SecretStr("key-one"))) as api:
        body = json.dumps({"spec": {"message": "hi", "agent_id": agent.metadata.id}})
        # What `curl -d` sends: application/x-www-form-urlencoded.
        form = {"Authorization": "Bearer key-one", "Content-Type": "application/x-www-form-urlencoded"}
        assert (await api.client.post(EXECUTIONS, content=body, headers=form)).status_code == 201
        assert (await api.client.get(f"{EXECUTIONS}/aex_x")).status_code == 401  # refused before routing
        assert (await api.client.put(EXECUTIONS)).status_code == 401  # a method the route lacks
        assert (await api.client.get("/no-such-page")).status_code == 404  # no route at all
    after = [count(*labels) for labels in expected]
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1, 1, 1]


async def test_metrics_count_requests_by_route_template(http_api: HttpApi, agent: Agent) -> None:
    created = await create_execution(http_api, agent)
    await http_api.client.get(f"{EXECUTIONS}/{created['metadata']['id']}")
    await http_api.client.get(f"{EXECUTIONS}/aex_unknown")
    response = await http_api.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert "stigmer_http_requests_total" in text
    assert 'route="/v1/agent-executions/{execution_id}"' in text
    assert 'method="GET",route="/v1/agent-executions/{execution_id}",status="404"' in text
    assert created["metadata"]["id"] not in text  # raw paths never become labels
    assert "stigmer_http_request_seconds_bucket" in text


async def test_openapi_describes_real_schemas(http_api: HttpApi) -> None:
    spec = (await http_api.client.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    names = ("ExecutionCreate", "ExecutionSpecIn", "Execution", "ExecutionList", "ErrorResponse", "AgentCreate", "Agent")
    for name in names:
        assert name in schemas, name
    create = spec["paths"][EXECUTIONS]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/ExecutionCreate")
    assert {"200", "201", "400", "404", "422"} <= set(create["responses"])
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    assert "/healthz" in spec["paths"] and "security" not in spec["paths"]["/healthz"]["get"]
    docs = await http_api.client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


async def test_root_serves_the_web_view(http_api: HttpApi) -> None:
    response = await http_api.client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")


async def test_create_when_temporal_is_unreachable_is_503_and_stores_nothing(http_api, agent) -> None:
    """Without its workflow an execution would never run: refuse it whole, retryably."""
    from temporalio.client import Client

    from workflows.starter import TemporalWorkflowControl

    unreachable = await Client.connect("127.0.0.1:9", lazy=True)  # nothing listens there
    service = http_api.context.service
    service.workflows = TemporalWorkflowControl(unreachable, http_api.context.settings)
    try:
        response = await http_api.client.post(
            "/v1/agent-executions", json={"spec": {"agent_id": agent.metadata.id, "message": "hi"}}
        )
    finally:
        service.workflows = None
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "unavailable"
    assert (await service.executions.list()).total == 0
    assert (await service.resources.sessions.list()).entries == []  # the session made for it is gone too


async def test_a_json_body_without_a_json_content_type_is_read_as_json(http_api: HttpApi, agent: Agent) -> None:
    body = json.dumps({"spec": {"agent_id": agent.metadata.id, "message": "sent like curl -d"}})
    response = await http_api.client.post(
        EXECUTIONS, content=body, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 201, response.text
    assert response.json()["spec"]["message"] == "sent like curl -d"
    not_json = await http_api.client.post(EXECUTIONS, content=b"message=hi", headers={"content-type": "text/plain"})
    assert_error(not_json, 400, "invalid_argument")
    assert "Content-Type: application/json" in not_json.json()["error"]["message"]


async def test_a_model_nobody_can_build_is_refused_at_create_saying_what_is_available(
    http_api: HttpApi, agent: Agent
) -> None:
    response = await http_api.client.post(EXECUTIONS, json={
        "spec": {"agent_id": agent.metadata.id, "message": "hi", "execution_config": {"model_name": "gpt5"}}
    })
    assert_error(response, 422, "invalid_argument")
    assert "'openai:<model>'" in response.json()["error"]["message"]
    bad_agent = await http_api.client.post("/v1/agents", json={
        "metadata": {"name": "typo", "annotations": {"stigmer/default-model": "anthropic"}},
        "spec": {"instructions": "Answer briefly and well."},
    })
    assert_error(bad_agent, 422, "invalid_argument")
    assert "names no model" in bad_agent.json()["error"]["message"]


async def test_execution_bodies_match_the_documented_schema(http_api: HttpApi, agent: Agent) -> None:
    from api.schemas import Execution, ExecutionList
    from tests.utils.http import status_with

    created = await create_execution(http_api, agent)
    execution_id = created["metadata"]["id"]
    status = status_with(enum_pb2.EXECUTION_IN_PROGRESS, "partial answer")
    call = status.tool_calls.add(id="c1", name="lookup", status=enum_pb2.TOOL_CALL_COMPLETED, result="42")
    call.args.update({"q": "meaning", "depth": [1, {"x": True}]})
    status.todos["t1"].content = "plan"
    status.todos["t1"].status = enum_pb2.TODO_COMPLETED
    status.sub_agent_executions.add(id="s1", name="researcher", status=enum_pb2.SUB_AGENT_IN_PROGRESS)
    status.started_at = "2026-01-22T10:30:00"
    await http_api.context.service.update_status(execution_id, status)
    body = (await http_api.client.get(f"{EXECUTIONS}/{execution_id}")).json()
    Execution.model_validate(body)  # extra="forbid" all the way down: nothing undocumented
    ExecutionList.model_validate((await http_api.client.get(EXECUTIONS)).json())
    spec = (await http_api.client.get("/openapi.json")).json()
    documented = spec["paths"]["/v1/agent-executions/{execution_id}/cancel"]["post"]["responses"]
    assert {"200", "202", "404", "409", "503"} <= set(documented)
    phases = spec["components"]["schemas"]["AgentExecutionStatus"]["properties"]["phase"]
    assert "EXECUTION_COMPLETED" in json.dumps(phases)


async def test_a_wait_for_a_storage_connection_is_503_storage_busy_with_retry_after(
    http_api: HttpApi, agent: Agent, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every pooled MongoDB connection stayed busy for the whole wait: nothing is down, so
    the answer says so (its own code) and when to come back; MongoDB away stays `unavailable`."""
    from pymongo.errors import ServerSelectionTimeoutError, WaitQueueTimeoutError

    created = await create_execution(http_api, agent, "hi")
    executions = http_api.context.service.executions
    for error, code in ((WaitQueueTimeoutError("Timed out while checking out a connection"), "storage_busy"),
                        (ServerSelectionTimeoutError("no servers"), "unavailable")):
        async def failing(*args: object, error: Exception = error, **kwargs: object) -> None:
            raise error

        monkeypatch.setattr(executions._collection, "find_one", failing)  # the driver fails
        response = await http_api.client.get(f"{EXECUTIONS}/{created['metadata']['id']}")
        assert_error(response, 503, code)
        assert response.headers["retry-after"] == "1"

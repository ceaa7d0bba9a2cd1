"""What a REST user sees: create over REST, watch over SSE until the end."""

from __future__ import annotations

import httpx

from domain.convert import execution_to_body
from domain.status_changes import apply_changes
from tests.utils.http import read_events
from tests.utils.stack import Stack, create_agent

PHASE_ORDER = ["EXECUTION_PENDING", "EXECUTION_IN_PROGRESS", "EXECUTION_COMPLETED"]


async def test_rest_create_then_sse_shows_progress_until_completed(stack: Stack) -> None:
    agent_id = await create_agent(stack)
    async with httpx.AsyncClient(base_url=stack.http_url, timeout=30) as client:
        response = await client.post("/v1/agent-executions", json={
            "spec": {"agent_id": agent_id, "message": "walk me through it",
                     "execution_config": {"model_name": "scripted:40"}}})
        assert response.status_code == 201
        created = response.json()
        assert created["status"]["phase"] == "EXECUTION_PENDING"
        assert response.headers["location"].endswith(created["metadata"]["id"])

        states, ended = [], None
        async with client.stream("GET", f"/v1/agent-executions/{created['metadata']['id']}/subscribe") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            assert stream.headers["cache-control"] == "no-cache"
            async for event in read_events(stream):
                if event.event == "state":
                    states.append((int(event.id), event.json()))
                elif event.event == "patch":  # what a client does: apply it to the held state
                    patch, (version, held) = event.json(), states[-1]
                    assert patch["base_version"] == version
                    status = apply_changes(held["status"], patch["changes"])
                    states.append((patch["version"], {**held, "status": status, "version": patch["version"]}))
                elif event.event == "end":
                    ended = event.json()

    assert ended == {"phase": "EXECUTION_COMPLETED"}
    async with httpx.AsyncClient(base_url=stack.http_url, timeout=30) as client:
        stored = (await client.get(f"/v1/agent-executions/{created['metadata']['id']}")).json()
    assert states[-1][1] == stored  # the patches rebuilt exactly the stored document
    versions = [v for v, _ in states]
    assert versions == sorted(set(versions))
    phases = [s["status"]["phase"] for _, s in states]
    assert [PHASE_ORDER.index(p) for p in phases] == sorted(PHASE_ORDER.index(p) for p in phases)
    assert phases[-1] == "EXECUTION_COMPLETED" and "EXECUTION_IN_PROGRESS" in phases

    def seen(predicate) -> bool:
        return any(predicate(s["status"]) for _, s in states)

    assert seen(lambda st: len(st.get("todos", {})) == 3)
    assert seen(lambda st: any(c["name"] == "get_current_time" and c["status"] == "TOOL_CALL_COMPLETED" for c in st.get("tool_calls", [])))
    assert seen(lambda st: any(s["status"] == "SUB_AGENT_COMPLETED" for s in st.get("sub_agent_executions", [])))
    answers = [
        [m["content"] for m in s["status"].get("messages", []) if m["type"] == "MESSAGE_AI" and m.get("content")]
        for _, s in states
    ]
    final_answer = answers[-1][-1]
    assert "walk me through it" in final_answer
    assert any(a and a[-1] != final_answer and final_answer.startswith(a[-1]) for a in answers[:-1])  # streamed

    stored = await stack.context.service.get(created["metadata"]["id"])
    assert execution_to_body(stored) == states[-1][1]

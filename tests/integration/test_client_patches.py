"""The terminal client follows an execution from `state` and `patch` events, against a
real local HTTP server that plays recorded event streams (one per connection) and notes
what each connection asked for."""

from __future__ import annotations

import io
import json
import random
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import uvicorn
from rich.console import Console
from sse_starlette import ServerSentEvent
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from client.api import MAX_RESYNCS, ApiClient
from client.commands import watch
from tests.status_runs import PatchEvent, patch_events, random_run

EXECUTION_ID = "aex_patched"


def body(status: dict, version: int) -> dict:
    return {"metadata": {"id": EXECUTION_ID}, "spec": {"message": "plan a trip"}, "status": status,
            "version": version}


def state_event(status: dict, version: int) -> bytes:
    return ServerSentEvent(data=json.dumps(body(status, version)), event="state", id=str(version)).encode()


def patch_event(patch: PatchEvent | dict, version: int | None = None) -> bytes:
    data = patch.data() if isinstance(patch, PatchEvent) else patch
    event_id = version if version is not None else data["version"]
    return ServerSentEvent(data=json.dumps(data), event="patch", id=str(event_id)).encode()


def end_event(phase: str) -> bytes:
    return ServerSentEvent(data=json.dumps({"phase": phase}), event="end").encode()


@dataclass
class RecordedServer:
    """Serves `streams[n]` to the n-th subscribe connection (the last one again after
    that) and `stored` to GET; `asked` notes each connection's Last-Event-ID and mode."""

    streams: list[bytes] = field(default_factory=list)
    stored: dict = field(default_factory=dict)
    asked: list[tuple[str | None, str | None]] = field(default_factory=list)
    url: str = ""

    async def subscribe(self, request: Request) -> Response:
        self.asked.append((request.headers.get("last-event-id"), request.query_params.get("mode")))
        stream = self.streams[min(len(self.asked), len(self.streams)) - 1]
        return Response(stream, media_type="text/event-stream")

    async def get(self, request: Request) -> Response:
        return JSONResponse(self.stored)


@pytest.fixture
def server() -> Iterator[RecordedServer]:
    recorded = RecordedServer()
    app = Starlette(routes=[
        Route("/v1/agent-executions/{id}/subscribe", recorded.subscribe),
        Route("/v1/agent-executions/{id}", recorded.get),
    ])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    uv = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started:
        assert time.monotonic() < deadline, "the recorded server did not start"
        time.sleep(0.01)
    recorded.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    yield recorded
    uv.should_exit = True
    thread.join(timeout=10)
    sock.close()


def follow(server: RecordedServer) -> list[dict]:
    with ApiClient(server.url, sleep=lambda _: None, reconnect_window=5) as client:
        return list(client.follow(EXECUTION_ID))


@pytest.mark.parametrize("seed", range(4))
def test_follow_applies_patches_to_the_held_state(server: RecordedServer, seed: int) -> None:
    run = random_run(random.Random(seed))
    patches = patch_events(run)
    final = patches[-1]
    server.streams = [state_event(run[0], 1) + b"".join(map(patch_event, patches)) + end_event(run[-1]["phase"])]

    seen = follow(server)

    assert [b["version"] for b in seen] == [1, *(p.version for p in patches)]
    assert [b["status"] for b in seen] == [run[0], *(p.status for p in patches)]
    assert seen[-1]["status"]["phase"] == run[-1]["phase"]
    assert seen[-1]["spec"] == {"message": "plan a trip"}  # the rest of the body is kept
    assert server.asked == [(None, None)]
    assert final.status == {k: v for k, v in run[-1].items()}


def test_run_view_shows_the_answer_built_from_patches(server: RecordedServer) -> None:
    start = {"phase": "EXECUTION_IN_PROGRESS", "messages": [{"type": "MESSAGE_HUMAN", "content": "hi"}]}
    answer = "Take tram 28 🚋 to Alfama."
    run = [start]
    for end in range(4, len(answer) + 1, 4):
        run.append({**start, "messages": [*start["messages"], {"type": "MESSAGE_AI", "content": answer[:end]}]})
    run.append({**run[-1], "messages": [*start["messages"], {"type": "MESSAGE_AI", "content": answer}],
                "phase": "EXECUTION_COMPLETED"})
    patches = patch_events(run)
    assert any("append_text" in c for p in patches for c in p.changes)  # the answer streams as appends
    server.streams = [state_event(start, 1) + b"".join(map(patch_event, patches)) + end_event("EXECUTION_COMPLETED")]
    output = io.StringIO()

    with ApiClient(server.url) as client:
        code = watch(client, body(start, 1), Console(file=output, width=100))

    assert code == 0
    assert answer in output.getvalue() and "COMPLETED" in output.getvalue()


def test_a_missed_patch_reconnects_without_last_event_id_for_a_fresh_state(server: RecordedServer) -> None:
    run = random_run(random.Random(7), steps=12)
    patches = patch_events(run)
    gap = len(patches) // 2
    last = patches[-1]
    server.streams = [
        # The patch to version gap+2 never arrives: the next one starts from a version not held.
        state_event(run[0], 1) + b"".join(map(patch_event, patches[:gap] + patches[gap + 1:])),
        state_event(last.status, last.version) + end_event(run[-1]["phase"]),
    ]

    seen = follow(server)

    assert seen[-1]["status"] == last.status and seen[-1]["version"] == last.version
    assert [b["version"] for b in seen] == [1, *(p.version for p in patches[:gap]), last.version]
    assert server.asked == [(None, None), (None, None)]


def test_a_patch_that_does_not_fit_reconnects_for_a_fresh_state(server: RecordedServer) -> None:
    start = {"phase": "EXECUTION_IN_PROGRESS", "messages": [{"type": "MESSAGE_AI", "content": "abc"}]}
    done = {**start, "phase": "EXECUTION_COMPLETED"}
    beyond = {"version": 2, "base_version": 1, "changes": [{"append_text": {"offset": 9, "text": "d"}}]}
    server.streams = [
        state_event(start, 1) + patch_event(beyond),
        state_event(done, 3) + end_event("EXECUTION_COMPLETED"),
    ]

    seen = follow(server)

    assert [(b["version"], b["status"]) for b in seen] == [(1, start), (3, done)]
    assert server.asked == [(None, None), (None, None)]


def test_a_dropped_stream_resumes_after_the_last_patch(server: RecordedServer) -> None:
    run = random_run(random.Random(3), steps=10)
    patches = patch_events(run)
    server.streams = [
        state_event(run[0], 1) + b"".join(map(patch_event, patches[:3])),  # drops, no `end`
        b"".join(map(patch_event, patches[2:])) + end_event(run[-1]["phase"]),  # one overlap
    ]

    seen = follow(server)

    assert [b["version"] for b in seen] == [1, *(p.version for p in patches)]  # the overlap is dropped
    assert seen[-1]["status"] == patches[-1].status
    assert server.asked == [(None, None), (str(patches[2].version), None)]


def test_patches_that_never_fit_fall_back_to_whole_states(server: RecordedServer) -> None:
    start = {"phase": "EXECUTION_IN_PROGRESS", "todos": {"a": {"id": "a", "content": "plan"}}}
    done = {**start, "phase": "EXECUTION_CANCELLED"}
    broken = {"version": 2, "base_version": 1, "changes": [{"truncate": {"list": "STATUS_LIST_NOTHING"}}]}
    patching = state_event(start, 1) + patch_event(broken)
    server.streams = [patching] * MAX_RESYNCS + [state_event(done, 2) + end_event("EXECUTION_CANCELLED")]

    seen = follow(server)

    assert seen[-1]["status"] == done
    assert server.asked == [(None, None)] * MAX_RESYNCS + [(None, "state")]


def test_plain_state_streams_still_work(server: RecordedServer) -> None:
    start = {"phase": "EXECUTION_IN_PROGRESS"}
    done = {"phase": "EXECUTION_COMPLETED", "messages": [{"type": "MESSAGE_AI", "content": "ok"}]}
    server.streams = [state_event(start, 1) + state_event(done, 2) + end_event("EXECUTION_COMPLETED")]

    assert [b["status"] for b in follow(server)] == [start, done]

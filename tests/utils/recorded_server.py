"""A real local HTTP server that plays recorded event streams to the clients, one per
subscribe connection, and notes what each connection asked for (Last-Event-ID, mode).
It also serves the web view and the empty lists the page loads, so a browser can watch
through it."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn
from sse_starlette import ServerSentEvent
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from tests.utils.status_runs import PatchEvent

WEB_VIEW = Path(__file__).resolve().parents[2] / "api" / "static" / "index.html"
EXECUTION_ID = "aex_patched"


def body(status: dict, version: int) -> dict:
    return {"metadata": {"id": EXECUTION_ID}, "spec": {"message": "plan a trip"}, "status": status,
            "version": version}


def state_event(status: dict, version: int) -> bytes:
    return ServerSentEvent(data=json.dumps(body(status, version)), event="state", id=str(version)).encode()


def patch_event(patch: PatchEvent | dict) -> bytes:
    data = patch.data() if isinstance(patch, PatchEvent) else patch
    return ServerSentEvent(data=json.dumps(data), event="patch", id=str(data["version"])).encode()


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

    async def empty_list(self, request: Request) -> Response:
        return JSONResponse({"entries": [], "next_page_token": "", "total_pages": 0})

    async def web_view(self, request: Request) -> Response:
        return FileResponse(WEB_VIEW)


@contextmanager
def recorded_server() -> Iterator[RecordedServer]:
    """A RecordedServer on a free local port, for the duration of the block."""
    recorded = RecordedServer()
    app = Starlette(routes=[
        Route("/", recorded.web_view),
        Route("/v1/agents", recorded.empty_list),
        Route("/v1/agent-executions", recorded.empty_list),
        Route("/v1/agent-executions/{id}/subscribe", recorded.subscribe),
        Route("/v1/agent-executions/{id}", recorded.get),
    ])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the recorded server did not start")
            time.sleep(0.01)
        recorded.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        yield recorded
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()

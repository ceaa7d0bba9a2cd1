"""`GET /v1/agent-executions/{id}/subscribe`: live state over Server-Sent Events (DESIGN §4).

Events: `state` (id = document version, data = the execution body) for the current state
and each newer stored one, then one `end` (data = `{"phase": …}`) and the stream closes.
`Last-Event-ID` (header, or `?last_event_id=` for clients that cannot set headers)
resumes: only states newer than it are sent.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query
from sse_starlette import EventSourceResponse, ServerSentEvent

from api.routes.deps import Context
from api.routes.executions import PREFIX
from api.schemas import ERROR_RESPONSES
from core import convert
from core.errors import InvalidArgument, NotFound
from core.service import ExecutionService, event_is_terminal

router = APIRouter(prefix=PREFIX, tags=["agent executions"], responses=ERROR_RESPONSES)

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
# A client that stops reading without leaving would hold its watcher forever; one send
# (an event or a ping) stuck this long ends the stream.
SEND_TIMEOUT_SECONDS = 60.0

_EVENTS_DOC = (
    "`event: state` — `id:` the execution's version, `data:` the execution JSON;\n"
    '`event: end` — `data: {"phase": "EXECUTION_COMPLETED"}`, then the stream closes.'
)


def parse_last_event_id(header: str | None, query: str | None) -> int:
    raw = (header or query or "").strip()
    if not raw:
        return 0
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise InvalidArgument("Last-Event-ID must be a version number this stream sent")
    return int(raw)


async def state_events(
    service: ExecutionService, execution_id: str, after_version: int, keepalive_seconds: float
) -> AsyncIterator[ServerSentEvent]:
    """The SSE events of one watch. Closing this generator (client gone) closes the watch,
    so the hub drops the watcher and, with the last one, the Redis subscription."""
    last = None
    async with contextlib.aclosing(
        service.watch(execution_id, after_version, idle_seconds=keepalive_seconds)
    ) as states:
        async for event in states:
            if event is None:  # idle: a comment keeps proxies and clients from timing out
                yield ServerSentEvent(comment="ping")
                continue
            last = event
            yield ServerSentEvent(
                data=event.body_json, event="state", id=str(event.version)
            )
    end: dict = {}
    if last is not None and event_is_terminal(last):
        end["phase"] = last.body["status"]["phase"]
    else:  # resumed after the final state (nothing newer to send), or deleted while watched
        try:
            end["phase"] = convert.phase_name((await service.get(execution_id)).status.phase)
        except NotFound:
            last_phase = last.body.get("status", {}).get("phase", "") if last else ""
            end = {"phase": last_phase, "deleted": True}
    yield ServerSentEvent(data=json.dumps(end), event="end")


@router.get(
    "/{execution_id}/subscribe",
    summary="Watch an execution live (Server-Sent Events)",
    description=_EVENTS_DOC,
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}, "description": _EVENTS_DOC}},
)
async def subscribe(
    execution_id: str,
    context: Context,
    last_event_id_header: Annotated[
        str | None, Header(alias="Last-Event-ID", max_length=32, description="Resume after this version.")
    ] = None,
    last_event_id: Annotated[
        str | None, Query(max_length=32, description="Same as the `Last-Event-ID` header.")
    ] = None,
) -> EventSourceResponse:
    after = parse_last_event_id(last_event_id_header, last_event_id)
    await context.service.get(execution_id)  # an unknown id is a 404, not an empty stream
    return EventSourceResponse(
        state_events(context.service, execution_id, after, context.settings.sse_keepalive_seconds),
        headers=SSE_HEADERS,
        ping=0,  # keep-alives come from the event generator: one task less per watcher
        send_timeout=SEND_TIMEOUT_SECONDS,
    )

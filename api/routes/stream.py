"""`GET /v1/agent-executions/{id}/subscribe`: live state over Server-Sent Events (ARCHITECTURE.md, "Watching").

Events: `state` (id = document version, data = the execution body) first, then one
`patch` per stored change (id = the version it produced, data = `{"version",
"base_version", "changes"}`; a client applies the changes to its state's `status` with
`domain.status_changes.apply_changes`), then one `end` (data = `{"phase": …}`) and the
stream closes. A watcher that falls behind gets a fresh `state` instead of a backlog.
`Last-Event-ID` (header, or `?last_event_id=` for clients that cannot set headers)
resumes: the missed patches when still held, else one fresh `state`. `?mode=state`
sends whole states only (conflated), for clients that do not apply patches.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Annotated, Literal, TypeVar

from fastapi import APIRouter, Header, Query
from sse_starlette import EventSourceResponse
from sse_starlette.sse import SendTimeoutError
from starlette.types import Receive, Scope, Send

from api.routes.deps import ServerBackends
from api.routes.executions import PREFIX
from api.schemas import ERROR_RESPONSES
from api.sse import comment_frame, end_frame, event_frame
from application.executions import ExecutionService, Watch, WatchEnd
from domain.limits import parse_version
from infra import metrics

log = logging.getLogger(__name__)

router = APIRouter(prefix=PREFIX, tags=["agent executions"], responses=ERROR_RESPONSES)

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
# A client that takes no piece for this long is dropped (the connection closes).
SEND_TIMEOUT_SECONDS = 30.0

T = TypeVar("T")

_EVENTS_DOC = (
    "`event: state` — `id:` the execution's version, `data:` the execution JSON;\n"
    "`event: patch` — `id:` the version it produced, `data:` "
    '`{"version", "base_version", "changes"}` (apply the changes to the held `status` when '
    "`base_version` is the held version; `?mode=state` sends whole states only);\n"
    '`event: end` — `data: {"phase": "EXECUTION_COMPLETED"}` (with `"deleted": true` when the '
    "execution was deleted while watched), then the stream closes."
)


def parse_last_event_id(header: str | None, query: str | None) -> int:
    return parse_version(header or query)


async def sse_stream(items: Watch) -> AsyncIterator[bytes]:
    """The SSE bytes of one watch. Closing this generator (client gone) closes the watch,
    so the hub drops the watcher and, with the last one, the Redis subscription."""
    async with contextlib.aclosing(items):
        async for item in items:
            if item is None:  # idle: a comment keeps proxies and clients from timing out
                yield comment_frame("ping")
            elif isinstance(item, WatchEnd):
                for piece in end_frame(item.phase, deleted=item.deleted):
                    yield piece
                return
            else:
                for piece in event_frame(item):
                    yield piece


async def open_watch(
    service: ExecutionService,
    execution_id: str,
    after_version: int,
    keepalive_seconds: float,
    *,
    states_only: bool = False,
) -> Watch:
    """Start watching and take the first item before any byte is sent, so an unknown (or
    just deleted) execution is a JSON 404, never a stream cut short."""
    items = service.watch(
        execution_id, after_version, idle_seconds=keepalive_seconds, states_only=states_only
    )
    return await first_taken(items)


async def first_taken(items: AsyncGenerator[T, None]) -> AsyncGenerator[T, None]:
    """`items`, its first item already taken: what taking it raises is raised here (and
    `items` closed), not from the stream."""
    try:
        first = await anext(items)
    except BaseException:
        await items.aclose()
        raise
    return _starting_with(first, items)


async def _starting_with(first: T, rest: AsyncGenerator[T, None]) -> AsyncGenerator[T, None]:
    async with contextlib.aclosing(rest):
        yield first
        async for item in rest:
            yield item


class StateStream(EventSourceResponse):
    """Ends the stream of a client that stopped reading (see SEND_TIMEOUT_SECONDS)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except SendTimeoutError:
            metrics.WATCHERS_DROPPED.labels(reason="slow_client").inc()
            log.warning(
                "dropped a watcher of %s: its client read nothing for %ss",
                scope.get("path", "?"),
                self.send_timeout,
            )


@router.get(
    "/{execution_id}/subscribe",
    summary="Watch an execution live (Server-Sent Events)",
    description=_EVENTS_DOC,
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}, "description": _EVENTS_DOC}},
)
async def subscribe(
    execution_id: str,
    context: ServerBackends,
    last_event_id_header: Annotated[
        str | None, Header(alias="Last-Event-ID", max_length=32, description="Resume after this version.")
    ] = None,
    last_event_id: Annotated[
        str | None, Query(max_length=32, description="Same as the `Last-Event-ID` header.")
    ] = None,
    mode: Annotated[
        Literal["patch", "state"],
        Query(description="`patch` (default): a state, then patches; `state`: whole states only."),
    ] = "patch",
) -> StateStream:
    after = parse_last_event_id(last_event_id_header, last_event_id)
    items = await open_watch(
        context.service, execution_id, after, context.settings.sse_keepalive_seconds,
        states_only=mode == "state",
    )
    return StateStream(
        sse_stream(items),
        headers=SSE_HEADERS,
        ping=0,  # keep-alives come from the event generator: one task less per watcher
        send_timeout=SEND_TIMEOUT_SECONDS,
    )

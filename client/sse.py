"""The one Server-Sent Events parser: the client, the tests and the benchmarks all read
event streams through it.

`SSEParser` is incremental: feed it one line at a time (without its line break) and it
returns the event a blank line completes. `iter_sse` and `aiter_sse` run it over sync and
async line iterators (e.g. httpx's `iter_lines()` / `aiter_lines()`).

It follows the WHATWG event-stream rules, with two options for tests that check exactly
what the server sent (a browser does neither): `keepalives=True` dispatches a block made
only of comments as an event with empty data and the comment text in `comments`, and
`carry_id=False` gives each event only the id its own block set (a browser carries the
last id over to later events; `last_event_id` always does).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SSEEvent:
    event: str
    data: str
    id: str | None = None
    comments: tuple[str, ...] = field(default=(), compare=False)

    def json(self) -> Any:
        return json.loads(self.data)

    @property
    def is_keepalive(self) -> bool:
        return not self.data and bool(self.comments)


class SSEParser:
    """Feed lines; get events. `last_event_id` survives across events, as in a browser,
    so a reconnect can send it as `Last-Event-ID`."""

    __slots__ = ("_block_id", "_comments", "_data", "_event", "carry_id", "keepalives", "last_event_id")

    def __init__(self, *, keepalives: bool = False, carry_id: bool = True) -> None:
        self.keepalives = keepalives
        self.carry_id = carry_id
        self.last_event_id: str | None = None
        self._reset()

    def _reset(self) -> None:
        self._event = ""
        self._data: list[str] = []
        self._comments: list[str] = []
        self._block_id: str | None = None

    def feed(self, line: str) -> SSEEvent | None:
        """Consume one line; return the event a blank line completes, else None."""
        line = line.rstrip("\r\n")
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            self._comments.append(line[1:].removeprefix(" "))
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self.last_event_id = self._block_id = value
        return None  # `retry` and unknown fields are ignored

    def _dispatch(self) -> SSEEvent | None:
        event: SSEEvent | None = None
        event_id = self.last_event_id if self.carry_id else self._block_id
        if self._data:
            event = SSEEvent(self._event or "message", "\n".join(self._data), event_id, tuple(self._comments))
        elif self.keepalives and self._comments:
            event = SSEEvent("message", "", event_id, tuple(self._comments))
        # Blocks with neither data nor (wanted) comments dispatch nothing, as in a browser.
        self._reset()
        return event


def iter_sse(lines: Iterable[str], parser: SSEParser | None = None) -> Iterator[SSEEvent]:
    """The events in a sequence of lines."""
    parser = parser or SSEParser()
    for line in lines:
        event = parser.feed(line)
        if event is not None:
            yield event


async def aiter_sse(lines: AsyncIterable[str], parser: SSEParser | None = None) -> AsyncIterator[SSEEvent]:
    """The events in an async sequence of lines."""
    parser = parser or SSEParser()
    async for line in lines:
        event = parser.feed(line)
        if event is not None:
            yield event

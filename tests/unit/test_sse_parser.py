"""The one SSE parser, in the modes the tests and benchmarks use: keep-alives visible,
ids exactly as sent, async lines, and bytes split anywhere by chunked transfer."""

from __future__ import annotations

import asyncio

from client.sse import SSEEvent, SSEParser, aiter_sse, iter_sse

STREAM = ["id: 4", "event: state", "data: {}", "", ": ping 1", "", "event: end", "data: {}", ""]


def test_keepalives_are_events_with_their_comment_text_when_asked_for() -> None:
    events = list(iter_sse(STREAM, SSEParser(keepalives=True)))
    assert [(e.event, e.data, e.comments) for e in events] == [
        ("state", "{}", ()), ("message", "", ("ping 1",)), ("end", "{}", ()),
    ]
    assert events[1].is_keepalive and not events[0].is_keepalive
    assert [e.event for e in iter_sse(STREAM)] == ["state", "end"]  # a browser never sees pings


def test_ids_as_sent_or_carried_over_like_a_browser() -> None:
    assert [e.id for e in iter_sse(STREAM, SSEParser(carry_id=False))] == ["4", None]
    parser = SSEParser()
    assert [e.id for e in iter_sse(STREAM, parser)] == ["4", "4"]
    assert parser.last_event_id == "4"


def test_async_lines_give_the_same_events() -> None:
    async def lines():
        for line in STREAM:
            yield line + "\r\n"

    async def collect() -> list[SSEEvent]:
        return [event async for event in aiter_sse(lines())]

    assert asyncio.run(collect()) == list(iter_sse(STREAM))


def test_chunk_size_lines_of_a_raw_http_body_are_ignored() -> None:
    # What bench/fanout.py reads off a bare socket: chunk sizes and chunk-ending CRLFs.
    raw = ["1b", "id: 2", "event: state", "data: x", "", "", "1c", ": ping", "", ""]
    assert list(iter_sse(raw)) == [SSEEvent("state", "x", "2")]

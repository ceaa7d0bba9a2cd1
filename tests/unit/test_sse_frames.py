"""SSE frames: sent in pieces, byte for byte the events sse-starlette would encode."""

from __future__ import annotations

import json

from sse_starlette import ServerSentEvent

from api.sse import PIECE_BYTES, comment_frame, end_frame, event_frame
from domain.events import PatchEvent, StateEvent


def whole_state(event: StateEvent) -> bytes:
    data = json.dumps(event.body, separators=(",", ":"))
    return ServerSentEvent(data=data, event="state", id=str(event.version)).encode()


def test_a_small_state_is_one_piece() -> None:
    event = StateEvent("aex_1", 3, {"status": {"phase": "EXECUTION_PENDING"}, "note": "é\nline"})
    pieces = list(event_frame(event))
    assert pieces == [whole_state(event)]


def test_a_large_state_goes_out_in_bounded_pieces_that_join_to_the_event() -> None:
    event = StateEvent("aex_1", 9, {"status": {"messages": [{"content": "ü" * (3 * PIECE_BYTES)}]}})
    pieces = list(event_frame(event))
    assert len(pieces) > 3
    assert max(len(piece) for piece in pieces) <= PIECE_BYTES
    assert b"".join(pieces) == whole_state(event)


def test_patches_ends_and_keepalives_are_the_events_sse_starlette_writes() -> None:
    patch = PatchEvent("aex_1", 4, 3, [{"append_text": {"index": 0, "offset": 2, "text": "ü"}}])
    data = json.dumps(patch.data(), separators=(",", ":"), ensure_ascii=False)
    assert b"".join(event_frame(patch)) == ServerSentEvent(data=data, event="patch", id="4").encode()
    end = ServerSentEvent(data=json.dumps({"phase": "EXECUTION_COMPLETED", "deleted": True}), event="end")
    assert b"".join(end_frame("EXECUTION_COMPLETED", deleted=True)) == end.encode()
    assert comment_frame("ping") == ServerSentEvent(comment="ping").encode()

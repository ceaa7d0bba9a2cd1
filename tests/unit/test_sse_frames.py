"""SSE state frames: sent in pieces, byte for byte the event sse-starlette would encode."""

from __future__ import annotations

from sse_starlette import ServerSentEvent

from api.routes.stream import PIECE_BYTES, state_frame
from persistence.bus import StateEvent


def whole_event(event: StateEvent) -> bytes:
    return ServerSentEvent(data=event.body_json, event="state", id=str(event.version)).encode()


def test_a_small_state_is_one_piece() -> None:
    event = StateEvent("aex_1", 3, {"status": {"phase": "EXECUTION_PENDING"}, "note": "é\nline"})
    pieces = list(state_frame(event))
    assert pieces == [whole_event(event)]


def test_a_large_state_goes_out_in_bounded_pieces_that_join_to_the_event() -> None:
    event = StateEvent("aex_1", 9, {"status": {"messages": [{"content": "ü" * (3 * PIECE_BYTES)}]}})
    pieces = list(state_frame(event))
    assert len(pieces) > 3
    assert max(len(piece) for piece in pieces) <= PIECE_BYTES
    assert b"".join(pieces) == whole_event(event)

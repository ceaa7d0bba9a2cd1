"""The one Server-Sent Events encoder: every frame the service sends (states, patches, the
end, keep-alives) is written here, byte for byte what sse-starlette's `ServerSentEvent`
would write (`tests/unit/test_sse_frames.py` holds them equal); `client/sse.py` is the one
parser.

An event's data is one line of JSON, encoded once per event however many watchers send
it (kept while the event lives), and cut into pieces of at most `PIECE_BYTES` as it is
sent, so a watcher never holds a copy of a whole large frame.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Iterator
from typing import Any

from domain.events import BusEvent, PatchEvent

# What a client that stops reading costs: uvicorn writes each piece whole into the
# socket's buffer and waits for that to drain only before the next one, so a large state
# goes out in pieces of this size; memory per stuck client stays about one piece.
PIECE_BYTES = 64 * 1024
SEP = "\r\n"  # sse-starlette's line separator

_encoded: weakref.WeakKeyDictionary[BusEvent, str] = weakref.WeakKeyDictionary()


def event_frame(event: BusEvent) -> Iterator[bytes]:
    """A state (`event: state`, the execution body) or a patch (`event: patch`,
    `{"version", "base_version", "changes"}`), its version as the id."""
    data = _encoded.get(event)
    if data is None:
        if isinstance(event, PatchEvent):
            data = json.dumps(event.data(), separators=(",", ":"), ensure_ascii=False)
        else:
            data = json.dumps(event.body, separators=(",", ":"))
        _encoded[event] = data
    return frame("patch" if isinstance(event, PatchEvent) else "state", data, event_id=event.version)


def end_frame(phase: str, *, deleted: bool = False) -> Iterator[bytes]:
    data: dict[str, Any] = {"phase": phase}
    if deleted:
        data["deleted"] = True
    return frame("end", json.dumps(data))


def comment_frame(text: str) -> bytes:
    """A comment line: keeps proxies and clients from timing out an idle stream."""
    return f": {text}{SEP}{SEP}".encode()


def frame(kind: str, data: str, *, event_id: int | None = None) -> Iterator[bytes]:
    """One event of one data line as SSE bytes, in pieces of at most PIECE_BYTES of data."""
    head = (f"id: {event_id}{SEP}" if event_id is not None else "") + f"event: {kind}{SEP}data: "
    tail = (SEP + SEP).encode()
    if len(data) <= PIECE_BYTES:
        yield head.encode() + data.encode() + tail
        return
    yield head.encode()
    for start in range(0, len(data), PIECE_BYTES):
        yield data[start : start + PIECE_BYTES].encode()
    yield tail


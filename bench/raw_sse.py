"""A light SSE client over bare asyncio streams, for hundreds of watchers in one process.

It speaks just enough HTTP/1.1 (one GET, chunked or plain body) and hands back each
event's raw bytes with the wall time they arrived, so watchers cost little CPU in the
load generator and the arrival time is taken as the bytes are read.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator


class RawSse:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, chunked: bool) -> None:
        self._reader, self._writer, self._chunked = reader, writer, chunked

    @classmethod
    async def connect(cls, host: str, port: int, path: str, body: dict | None = None) -> RawSse:
        """GET the stream (POST `body` as JSON when given); returns once the response
        headers are in (status 200 checked)."""
        reader, writer = await asyncio.open_connection(host, port, limit=2**24)
        method, extra, payload = "GET", "", b""
        if body is not None:
            payload = json.dumps(body).encode()
            method, extra = "POST", f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        writer.write(f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n{extra}\r\n".encode()
                     + payload)
        await writer.drain()
        status = await reader.readline()
        if b" 200 " not in status:
            writer.close()
            raise RuntimeError(f"GET {path}: {status.decode(errors='replace').strip()}")
        chunked = False
        while (line := await reader.readline()) not in (b"\r\n", b""):
            chunked |= line.lower().startswith(b"transfer-encoding:") and b"chunked" in line.lower()
        return cls(reader, writer, chunked)

    async def _body(self) -> AsyncIterator[bytes]:
        if not self._chunked:
            while data := await self._reader.read(2**16):
                yield data
            return
        while True:
            size = int((await self._reader.readline()).split(b";")[0] or b"0", 16)
            if size == 0:
                return
            yield await self._reader.readexactly(size)
            await self._reader.readexactly(2)  # the CRLF after each chunk

    async def events(self) -> AsyncIterator[tuple[bytes, bytes, float]]:
        """(event name, raw event bytes, arrival wall time) until the stream closes.
        Comments (keep-alives) are skipped."""
        buffer = b""
        try:
            async for data in self._body():
                arrived = time.time()
                buffer += data.replace(b"\r\n", b"\n")
                *complete, buffer = buffer.split(b"\n\n")
                for raw in complete:
                    name = b"message"
                    for line in raw.split(b"\n"):
                        if line.startswith(b"event:"):
                            name = line[6:].strip()
                    if any(not line.startswith(b":") for line in raw.split(b"\n") if line):
                        yield name, raw, arrived
        except (asyncio.IncompleteReadError, ConnectionError):
            return

    def close(self) -> None:
        self._writer.close()

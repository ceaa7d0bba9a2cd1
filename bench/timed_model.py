"""The scripted model with a clock on every answer token, for latency benchmarks.

Each token of the final answer (the call with tools bound) ends with a marker holding the
wall time the model produced it, ``[t=<unix seconds>]``. A client that finds the marker in
what it receives knows how long the token took to reach it, whatever the transport and
however the server batches or re-sends text. Both sides of `bench.peer` run this model.

A human message holding ``[hold:<path>]`` makes the answer wait until that file exists, so
a benchmark can connect its watchers before the tokens it times start to flow.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessageChunk
from langchain_core.outputs import ChatGenerationChunk

from runner.scripted_model import ScriptedChatModel

TOKEN_CLOCK = re.compile(rb"\[t=(\d+\.\d{6})\]")
HOLD = re.compile(r"\[hold:([^\]]+)\]")
HOLD_LIMIT_S = 600


def token_clocks(data: bytes) -> list[bytes]:
    """The production-time markers in a chunk of received bytes (each one names a token)."""
    return TOKEN_CLOCK.findall(data)


class TimedScriptedChatModel(ScriptedChatModel):
    """ScriptedChatModel whose answer tokens carry the time they were produced."""

    async def _astream(self, messages: Any, stop: Any = None, run_manager: Any = None,
                       **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
        answering = bool(kwargs.get("tools"))  # the main agent's answer, not the sub-agent's
        first = True
        async for chunk in super()._astream(messages, stop, run_manager, **kwargs):
            message = chunk.message
            if answering and isinstance(message.content, str) and message.content:
                if first:
                    await _hold(messages)
                    first = False
                message = AIMessageChunk(content=f"{message.content}[t={time.time():.6f}]",
                                         chunk_position=message.chunk_position)
                chunk = ChatGenerationChunk(message=message)
            yield chunk


async def _hold(messages: Any) -> None:
    """Wait for the file a `[hold:<path>]` in the conversation names (bounded)."""
    found = [HOLD.search(str(m.content)) for m in messages if m.type == "human"]
    paths = [Path(match.group(1)) for match in found if match]
    deadline = time.monotonic() + HOLD_LIMIT_S
    while paths and not paths[-1].exists() and time.monotonic() < deadline:
        await asyncio.sleep(0.01)

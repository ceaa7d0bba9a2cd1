"""Status writes/s and token→SSE latency while a model streams at 10, 100 and 1,000
tokens/s: our StatusSender (interval policy) against the seed policy "send every 10
events" (the runner awaits a send on every 10th event), in the same run.

    python -m bench.status_streaming
"""

from __future__ import annotations

import asyncio
import json
import time

import httpx
from langchain_core.messages import AIMessageChunk

from bench.harness import emit, percentiles, running_stack, sse_events
from runner.service_client import ServiceClient
from runner.status_builder import StatusBuilder
from runner.status_sender import StatusSender

RATES = (10, 100, 1000)
SECONDS_PER_RUN = 3.0
INTERVAL = 0.1  # update_interval for our policy


def token_event(text: str) -> dict:
    return {"event": "on_chat_model_stream", "run_id": "model-run", "parent_ids": [], "name": "model",
            "data": {"chunk": AIMessageChunk(content=text)}}


class EveryTenEvents:
    """The seed policy: the agent itself awaits a send on every 10th event."""

    def __init__(self, send) -> None:
        self._send = send
        self._events = 0
        self._sequence = 0
        self.sent = 0

    async def on_event(self, builder: StatusBuilder) -> None:
        self._events += 1
        if self._events % 10 == 0:
            await self.flush(builder)

    async def flush(self, builder: StatusBuilder) -> None:
        self._sequence += 1
        await self._send(builder.snapshot(), self._sequence)
        self.sent += 1


async def one_run(stack, client: httpx.AsyncClient, agent_id: str, rate: int, policy: str) -> dict:
    created = (await client.post(f"{stack.http_url}/v1/agent-executions",
                                 json={"spec": {"agent_id": agent_id, "message": "bench"}})).json()
    execution_id = created["metadata"]["id"]
    service = ServiceClient(stack.grpc_target)
    token_times: list[float] = []
    latencies: list[float] = []
    stream_open = asyncio.Event()

    async def watch() -> None:
        seen = 0
        async for event, _, data in sse_events(client, f"{stack.http_url}/v1/agent-executions/{execution_id}/subscribe"):
            stream_open.set()
            if event != "state":
                continue
            now = time.perf_counter()
            body = json.loads(data)
            texts = [m.get("content", "") for m in body.get("status", {}).get("messages", []) if m.get("type") == "MESSAGE_AI"]
            visible = texts[-1].count(" ") if texts else 0
            for index in range(seen, min(visible, len(token_times))):
                latencies.append(now - token_times[index])
            seen = max(seen, visible)

    watcher = asyncio.create_task(watch())
    await stream_open.wait()
    builder = StatusBuilder("bench")
    send = lambda status, sequence: service.update_status(execution_id, status, sequence)  # noqa: E731
    count = int(rate * SECONDS_PER_RUN)
    started = time.perf_counter()
    if policy == "interval":
        sender = StatusSender(send, INTERVAL)
        sender.start(builder)
        builder.mark_in_progress()
        for i in range(count):
            await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
            token_times.append(time.perf_counter())
            builder.handle(token_event(f"t{i} "))
        builder.mark_completed()
        await sender.close()
        writes = sender.sent
    else:
        baseline = EveryTenEvents(send)
        builder.mark_in_progress()
        await baseline.flush(builder)
        for i in range(count):
            await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
            token_times.append(time.perf_counter())
            builder.handle(token_event(f"t{i} "))
            await baseline.on_event(builder)
        builder.mark_completed()
        await baseline.flush(builder)
        writes = baseline.sent
    elapsed = time.perf_counter() - started
    await asyncio.wait_for(watcher, 30)
    await service.close()
    return {"writes": writes, "writes_per_s": round(writes / elapsed, 1),
            "achieved_tokens_per_s": round(count / elapsed, 1), **percentiles(latencies)}


async def main() -> None:
    with running_stack() as stack:
        async with httpx.AsyncClient(timeout=30) as client:
            agent = (await client.post(f"{stack.http_url}/v1/agents", json={"metadata": {"name": "bench"}, "spec": {"instructions": "Answer briefly and precisely."}})).json()
            results: dict = {}
            for rate in RATES:
                for policy in ("interval", "every_10_events"):
                    results[f"{rate}_tokens_per_s/{policy}"] = await one_run(stack, client, agent["metadata"]["id"], rate, policy)
            verdict = {
                f"{rate}_tokens_per_s": {
                    "writes_bounded_by_interval": results[f"{rate}_tokens_per_s/interval"]["writes_per_s"] <= 1 / INTERVAL + 2,
                    "p99_under_interval_plus_50ms": results[f"{rate}_tokens_per_s/interval"]["p99_ms"] <= INTERVAL * 1000 + 50,
                    "writes_ratio_vs_seed": round(results[f"{rate}_tokens_per_s/interval"]["writes"] / max(1, results[f"{rate}_tokens_per_s/every_10_events"]["writes"]), 3),
                    "p99_ratio_vs_seed": round(results[f"{rate}_tokens_per_s/interval"]["p99_ms"] / max(0.001, results[f"{rate}_tokens_per_s/every_10_events"]["p99_ms"]), 3),
                }
                for rate in RATES
            }
            emit("status_streaming", {"update_interval_ms": INTERVAL * 1000, "seconds_per_run": SECONDS_PER_RUN,
                                      "runs": results, "verdict": verdict})


if __name__ == "__main__":
    asyncio.run(main())

"""End to end: REST create → Temporal → runner (scripted model, no delays) → COMPLETED.
Executions/s, time to first SSE event and to completion (p50/p99).

    python -m bench.end_to_end
"""

from __future__ import annotations

import asyncio
import json
import time

import httpx

from bench.harness import emit, percentiles, running_stack, sse_events

EXECUTIONS = 30
CONCURRENCY = 10


async def main() -> None:
    with running_stack(with_worker=True, with_runner=True, SCRIPTED_TOKEN_DELAY_MS="0",
                       SCRIPTED_STEP_DELAY_MS="0") as stack:
        async with httpx.AsyncClient(timeout=60) as client:
            agent = (await client.post(f"{stack.http_url}/v1/agents", json={
                "metadata": {"name": "bench"},
                "spec": {"instructions": "Answer briefly and precisely.",
                         "sub_agents": [{"name": "researcher", "instructions": "Look things up and summarise."}]}})).json()
            first_event, completion = [], []
            gate = asyncio.Semaphore(CONCURRENCY)

            async def one(i: int) -> None:
                async with gate:
                    started = time.perf_counter()
                    created = (await client.post(f"{stack.http_url}/v1/agent-executions", json={
                        "spec": {"agent_id": agent["metadata"]["id"], "message": f"run {i}", "execution_config": {"model_name": "scripted:10"}}})).json()
                    seen_first = False
                    phase = ""
                    async for event, _, data in sse_events(client, f"{stack.http_url}/v1/agent-executions/{created['metadata']['id']}/subscribe"):
                        if not seen_first:
                            first_event.append(time.perf_counter() - started)
                            seen_first = True
                        if event == "state":
                            phase = json.loads(data)["status"].get("phase", "")
                    assert phase == "EXECUTION_COMPLETED", phase
                    completion.append(time.perf_counter() - started)

            await one(-1)  # warm-up: first workflow run pays for worker caches
            first_event.clear(), completion.clear()
            started = time.perf_counter()
            await asyncio.gather(*(one(i) for i in range(EXECUTIONS)))
            elapsed = time.perf_counter() - started
    emit("end_to_end", {
        "executions": EXECUTIONS,
        "concurrency": CONCURRENCY,
        "executions_per_s": round(EXECUTIONS / elapsed, 2),
        "time_to_first_sse_event": percentiles(first_event),
        "time_to_completed": percentiles(completion),
    })


if __name__ == "__main__":
    asyncio.run(main())

"""Fan-out: one execution, 1,000 SSE watchers. p99 time for one update to reach all of
them, and the server's memory per idle watcher (RSS delta / watchers).

    python -m bench.fanout
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlparse

import httpx

from ai.stigmer.agentic.agentexecution.v1 import api_pb2, enum_pb2
from bench.harness import emit, open_raw_sse, percentiles, rss_bytes, running_stack
from client.sse import SSEParser
from runner.service_client import ServiceClient

WATCHERS = 1000
UPDATES = 10


async def main() -> None:
    with running_stack(SSE_DB_CHECK_SECONDS="30") as stack:
        url = urlparse(stack.http_url)
        async with httpx.AsyncClient(timeout=30) as client:
            agent = (await client.post(f"{stack.http_url}/v1/agents", json={"metadata": {"name": "bench"}, "spec": {"instructions": "Answer briefly and precisely."}})).json()
            created = (await client.post(f"{stack.http_url}/v1/agent-executions",
                                         json={"spec": {"agent_id": agent["metadata"]["id"], "message": "fan"}})).json()
        execution_id = created["metadata"]["id"]
        path = f"/v1/agent-executions/{execution_id}/subscribe"
        baseline_rss = rss_bytes(stack.server_pid)

        connections = []
        for start in range(0, WATCHERS, 100):  # connect in batches: a realistic ramp
            connections += await asyncio.gather(*(open_raw_sse(url.hostname, url.port, path) for _ in range(start, min(WATCHERS, start + 100))))

        arrivals: dict[int, list[float]] = {}
        first_state = [asyncio.Event() for _ in connections]

        async def read(index: int, reader) -> None:
            # Chunked transfer encoding adds size lines and blank lines between chunks;
            # the parser ignores both (unknown fields, blocks without data).
            parser = SSEParser()
            while line := await reader.readline():
                event = parser.feed(line.decode())
                if event is not None and event.event == "state":
                    arrivals.setdefault(int(event.id), []).append(time.perf_counter())
                    first_state[index].set()

        readers = [asyncio.create_task(read(i, r)) for i, (r, _) in enumerate(connections)]
        for event in first_state:
            await event.wait()
        idle_rss = rss_bytes(stack.server_pid)

        service = ServiceClient(stack.grpc_target)
        spreads = []
        for i in range(UPDATES):
            version = 2 + i
            status = api_pb2.AgentExecutionStatus(
                phase=enum_pb2.EXECUTION_COMPLETED if i == UPDATES - 1 else enum_pb2.EXECUTION_IN_PROGRESS)
            status.messages.add(type=enum_pb2.MESSAGE_AI, content=f"update {i}")
            sent = time.perf_counter()
            await service.update_status(execution_id, status, i + 1)
            deadline = time.monotonic() + 30
            while len(arrivals.get(version, ())) < WATCHERS and time.monotonic() < deadline:
                await asyncio.sleep(0.001)
            times = arrivals.get(version, [])
            spreads.append({"all_reached_s": max(times) - sent if len(times) == WATCHERS else float("inf"),
                            "per_watcher": [t - sent for t in times]})
        await service.close()
        await asyncio.wait_for(asyncio.gather(*readers), 30)
        for _, writer in connections:
            writer.close()

    all_reached = [s["all_reached_s"] for s in spreads]
    per_watcher = [t for s in spreads for t in s["per_watcher"]]
    per_idle = (idle_rss - baseline_rss) / WATCHERS
    emit("fanout", {
        "watchers": WATCHERS,
        "updates": UPDATES,
        "time_to_reach_all": percentiles(all_reached),
        "time_to_reach_all_each_ms": [round(t * 1000, 1) for t in all_reached],
        "per_watcher_delivery": percentiles(per_watcher),
        "server_rss_mib_before": round(baseline_rss / 2**20, 1),
        "server_rss_mib_with_idle_watchers": round(idle_rss / 2**20, 1),
        "kib_per_idle_watcher": round(per_idle / 1024, 1),
        "targets": {
            "p99_reach_all_under_250ms": percentiles(all_reached)["p99_ms"] <= 250,
            "at_most_50_kib_per_idle_watcher": per_idle <= 50 * 1024,
        },
    })


if __name__ == "__main__":
    asyncio.run(main())

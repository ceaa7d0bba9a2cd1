"""A burst of creates while many executions run: how many are refused (503), and how long
the rest take. The embedded stack (MongoDB stand-in, Temporal dev server, Redis, serve,
worker, runner) as child processes; the scripted model runs slowly so the background
executions are still running, and sending status, when the burst lands.

    python -m bench burst                       # 200 running, then 200 creates at once
    python -m bench.burst --running 200 --burst 400 --operation-timeout-ms 3000

Target: no 503 at 200 concurrent creates. A 503 says why in its code: `storage_busy`
(every MongoDB connection was taken for the whole wait: retry after `Retry-After`) or
`unavailable`.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import sys
import time

import httpx

from bench.harness import emit, percentiles, running_stack

RUNNING = 200
BURST = 200


async def create(client: httpx.AsyncClient, url: str, agent_id: str, message: str) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = await client.post(f"{url}/v1/agent-executions", json={"spec": {"agent_id": agent_id, "message": message}})
    return response, time.perf_counter() - started


def outcome(response: httpx.Response) -> str:
    """The status, and for an error its code and the start of its message (the cause)."""
    if response.status_code < 400:
        return str(response.status_code)
    try:
        error = response.json()["error"]
        code, message = error["code"], error["message"].split(";")[0][:60]
    except Exception:
        code, message = "?", ""
    return f"{response.status_code} {code}: {message}"


async def run(running: int, burst: int, **env: str) -> dict:
    # Slow scripted runs: the background executions are still streaming during the burst.
    with running_stack(with_worker=True, with_runner=True, SCRIPTED_TOKEN_DELAY_MS="20",
                       SCRIPTED_STEP_DELAY_MS="500", **env) as stack:
        limits = httpx.Limits(max_connections=burst + 50, max_keepalive_connections=burst + 50)
        async with httpx.AsyncClient(timeout=120, limits=limits) as client:
            agent = (await client.post(f"{stack.http_url}/v1/agents", json={
                "metadata": {"name": "burst"}, "spec": {"instructions": "Answer briefly and precisely."}})).json()
            agent_id = agent["metadata"]["id"]
            gate = asyncio.Semaphore(20)

            async def background(i: int) -> str:
                async with gate:
                    return outcome((await create(client, stack.http_url, agent_id, f"background {i}"))[0])

            background_outcomes = collections.Counter(await asyncio.gather(*(background(i) for i in range(running))))
            listed = (await client.get(f"{stack.http_url}/v1/agent-executions",
                                       params={"phase": "IN_PROGRESS", "page_size": 1})).json()
            in_progress = listed.get("total", 0)
            started = time.perf_counter()
            results = await asyncio.gather(*(create(client, stack.http_url, agent_id, f"burst {i}") for i in range(burst)))
            elapsed = time.perf_counter() - started
            ids = [r.json()["metadata"]["id"] for r, _ in results if r.status_code < 300]
            reads = await asyncio.gather(*(client.get(f"{stack.http_url}/v1/agent-executions/{i}") for i in ids))
    burst_outcomes = collections.Counter(outcome(r) for r, _ in results)
    retry_after = sum(1 for r, _ in results if r.status_code == 503 and "retry-after" in r.headers)
    return {
        "running_before_burst": running,
        "in_progress_at_burst": in_progress,
        "background_outcomes": dict(background_outcomes),
        "burst": burst,
        "burst_outcomes": dict(burst_outcomes),
        "burst_503": sum(n for key, n in burst_outcomes.items() if key.startswith("503")),
        "burst_503_with_retry_after": retry_after,
        "burst_seconds": round(elapsed, 2),
        "create_latency": percentiles([t for _, t in results]),
        "get_after_burst_503": sum(1 for r in reads if r.status_code == 503),
    }


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench burst")
    parser.add_argument("--running", type=int, default=RUNNING)
    parser.add_argument("--burst", type=int, default=BURST)
    parser.add_argument("--operation-timeout-ms", type=int, default=0,
                        help="MONGODB_OPERATION_TIMEOUT_MS of the stack (default: the setting's)")
    args = parser.parse_args(argv if argv is not None else [])
    env = {"MONGODB_OPERATION_TIMEOUT_MS": str(args.operation_timeout_ms)} if args.operation_timeout_ms else {}
    figures = await run(args.running, args.burst, **env)
    emit("burst", {**figures, "mongodb_operation_timeout_ms": args.operation_timeout_ms or "default"})


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))

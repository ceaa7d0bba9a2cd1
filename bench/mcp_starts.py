"""MCP server starts through the real runner path: executions of an agent with a stdio MCP
server (`mcp-server-time`), REST create → Temporal → runner → COMPLETED, in waves of
1, 4 and 8 at once. Reports failed starts (any execution that did not end COMPLETED with
the tool's result stored, by reason), the MCP start time the runner logs (process start
→ MCP handshake → tools listed) as p50/p99, and the runner's CPU per execution.

    python -m bench mcp_starts                       # 300 executions
    python -m bench.mcp_starts --executions 60       # fewer
"""

from __future__ import annotations

import argparse
import asyncio
import re
import time
from collections import Counter

import httpx

from bench.harness import cpu_seconds, emit, percentiles, running_stack, sse_events

EXECUTIONS = 300
WAVES = (1, 4, 8)  # executions at once, taken in turn
TOOL = "get_current_time"
AGENT = {
    "metadata": {"name": "clock"},
    "spec": {
        "instructions": f'Tell the time.\ncall tool {TOOL} {{"timezone": "UTC"}}',
        "mcp_servers": [{"name": "time", "enabled_tools": [TOOL],
                         "stdio": {"command": "mcp-server-time", "args": ["--local-timezone", "UTC"]}}],
    },
}
_READY = re.compile(r"MCP server 'time' ready in (\d+) ms")


def outcome(execution: dict) -> str:
    """"ok" for an execution that ended COMPLETED with the tool's result stored, else why not."""
    status = execution.get("status", {})
    if status.get("phase") != "EXECUTION_COMPLETED":
        return f"{status.get('phase')}: {status.get('error', '')[:160]}"
    calls = [c for c in status.get("tool_calls", []) if c.get("name") == TOOL]
    if not calls or calls[0].get("status") != "TOOL_CALL_COMPLETED" or '"datetime"' not in calls[0].get("result", ""):
        return f"COMPLETED without the {TOOL} result"
    return "ok"


async def run(executions: int) -> dict:
    with running_stack(with_worker=True, with_runner=True, SCRIPTED_TOKEN_DELAY_MS="0",
                       SCRIPTED_STEP_DELAY_MS="0") as stack:
        async with httpx.AsyncClient(base_url=stack.http_url, timeout=120) as client:
            agent = (await client.post("/v1/agents", json=AGENT)).raise_for_status().json()

            async def one(i: int) -> str:
                created = (await client.post("/v1/agent-executions", json={
                    "spec": {"agent_id": agent["metadata"]["id"], "message": f"time please ({i})"}})).json()
                url = f"/v1/agent-executions/{created['metadata']['id']}"
                async for _ in sse_events(client, f"{stack.http_url}{url}/subscribe?mode=state"):
                    pass  # the stream ends with the execution
                return outcome((await client.get(url)).json())

            await one(-1)  # warm-up: the runner imports the MCP SDK once
            runner_cpu = cpu_seconds(stack.pids["runner"])
            log_at = (stack.log_dir / "runner.log").stat().st_size
            results: Counter[str] = Counter()
            started, done, wave = time.perf_counter(), 0, 0
            while done < executions:
                size = min(WAVES[wave % len(WAVES)], executions - done)
                results.update(await asyncio.gather(*(one(done + k) for k in range(size))))
                done, wave = done + size, wave + 1
            elapsed = time.perf_counter() - started
            runner_cpu = cpu_seconds(stack.pids["runner"]) - runner_cpu
        with open(stack.log_dir / "runner.log", errors="replace") as log:
            log.seek(log_at)
            ready = [int(ms) / 1000 for ms in _READY.findall(log.read())]
    failures = {reason: n for reason, n in results.items() if reason != "ok"}
    return {
        "executions": executions,
        "waves": list(WAVES),
        "completed_with_tool_result": results["ok"],
        "failed": sum(failures.values()),
        "failures": failures,
        "mcp_start": percentiles(ready),
        "executions_per_s": round(executions / elapsed, 2),
        "runner_cpu_ms_per_execution": round(runner_cpu / executions * 1000, 1),
    }


async def main(executions: int = EXECUTIONS) -> None:
    emit("mcp_starts", await run(executions))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--executions", type=int, default=EXECUTIONS)
    asyncio.run(main(parser.parse_args().executions))

"""Shared pieces of the benchmarks: the stack in child processes, an SSE reader, stats."""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from client.sse import aiter_sse
from devtools.embedded import EmbeddedServices
from devtools.ports import free_port
from devtools.stack import StackProcesses, process_environment


@dataclass
class BenchStack:
    http_url: str
    grpc_target: str
    env: dict[str, str]
    mongodb_uri: str
    server_pid: int
    pids: dict[str, int]  # every process of the stack, by name
    log_dir: Path  # the stack's own processes' logs, `<name>.log`


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds each process of the stack (and this one) spends during a block."""

    def __init__(self, pids: dict[str, int]) -> None:
        self._pids = {**pids, "load_generator": os.getpid()}

    def __enter__(self) -> CpuMeter:
        self._start = {name: cpu_seconds(pid) for name, pid in self._pids.items()}
        self._wall = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.perf_counter() - self._wall
        self.cores_used = {
            name: round((cpu_seconds(pid) - self._start[name]) / wall, 2) for name, pid in self._pids.items()
        }


def rss_bytes(pid: int) -> int:
    """Resident memory of a process (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


async def open_raw_sse(host: str, port: int, path: str):
    """A bare-bones SSE connection (asyncio streams): light enough for 1,000 at once."""
    import asyncio

    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\r\n".encode())
    await writer.drain()
    while (await reader.readline()) not in (b"\r\n", b""):
        pass  # skip the response headers
    return reader, writer


@contextlib.contextmanager
def running_stack(*, with_worker: bool = False, with_runner: bool = False, runner_module: str = "",
                  **env_overrides: str) -> Iterator[BenchStack]:
    """Embedded services plus `stigmer-service serve` (and optionally worker/runner) as
    child processes, so load generator and server don't share a CPU-bound event loop.
    `runner_module`: run the runner as `python -m <module>` instead (e.g. an instrumented one)."""
    with tempfile.TemporaryDirectory(prefix="stigmer-bench-") as data_dir:
        services = EmbeddedServices(Path(data_dir), persistent=False)
        endpoints = services.start()
        http_port, grpc_port = free_port(), free_port()
        env = {**process_environment(endpoints, http_port, grpc_port, mongodb_database="bench"), **env_overrides}
        names = ["serve"] + (["worker"] if with_worker else []) + (["runner"] if with_runner else [])
        url = f"http://127.0.0.1:{http_port}"
        try:
            with StackProcesses(env, Path(data_dir), names, modules={"runner": runner_module} if runner_module else None) as processes:
                processes.wait_ready(url, path="/healthz")
                pids = {**services.pids, **processes.pids}
                yield BenchStack(url, f"127.0.0.1:{grpc_port}", env, endpoints.mongodb_uri, pids["serve"], pids,
                                 Path(data_dir))
        finally:
            services.stop()


async def sse_events(client: httpx.AsyncClient, url: str, headers: dict | None = None) -> AsyncIterator[tuple[str, str, str]]:
    """(event, id, data) for each SSE event of a stream, until it closes."""
    async with client.stream("GET", url, headers=headers or {}, timeout=None) as response:
        response.raise_for_status()
        async for event in aiter_sse(response.aiter_lines()):
            yield event.event, event.id or "", event.data


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50/p99/max in milliseconds."""
    if not samples:
        return {"p50_ms": float("nan"), "p99_ms": float("nan"), "max_ms": float("nan"), "n": 0}
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(p99 * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
        "n": len(ordered),
    }


def emit(name: str, figures: dict) -> None:
    print(json.dumps({"benchmark": name, **figures}, indent=2), flush=True)

"""The two systems `bench.peer` compares, behind one small interface.

Each starts its whole stack as child processes, says which process trees are its own
(for CPU and memory), creates runs of the benchmark agent and names the SSE path that
watches one. `stream_new_run` creates a run and streams it the way that system's
clients do: the service's REST create then `/subscribe`; the peer's
`/threads/{id}/runs/stream` in one request.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlparse

import httpx

from bench.harness import free_port, running_stack
from bench.proc_tree import wait_until_settled
from bench.raw_sse import RawSse
from devtools.stack import stop_process

ROOT = Path(__file__).resolve().parent.parent
# The fact tool runs in the runner's process, as the peer graph's does (bench/timed_runner.py
# gives it to the agent), so neither side pays an MCP server start per run.
AGENT = {
    "metadata": {"name": "bench", "annotations": {"stigmer/default-model": "scripted"}},
    "spec": {
        "instructions": "You help people with their questions.",
        "sub_agents": [{"name": "researcher", "instructions": "Look things up and summarise."}],
    },
}


class System:
    name: str
    url: str
    roots: dict[str, int]  # root pid of each process tree this system runs

    def running(self) -> contextlib.AbstractContextManager[None]:
        raise NotImplementedError

    async def prepare(self, client: httpx.AsyncClient) -> None:
        """One-off set-up before any run (e.g. create the agent)."""

    async def start_run(self, client: httpx.AsyncClient, message: str, tokens: int) -> str:
        """Create a run in the background; returns the path that watches it over SSE."""
        raise NotImplementedError

    async def stream_new_run(self, client: httpx.AsyncClient, message: str,
                             tokens: int) -> AsyncIterator[tuple[bytes, bytes, float]]:
        raise NotImplementedError
        yield

    def succeeded(self, last_event: tuple[bytes, bytes] | None) -> bool:
        raise NotImplementedError

    async def _watch(self, path: str, body: dict | None = None) -> AsyncIterator[tuple[bytes, bytes, float]]:
        url = urlparse(self.url)
        stream = await RawSse.connect(url.hostname or "127.0.0.1", url.port or 80, path, body)
        try:
            async for event in stream.events():
                yield event
        finally:
            stream.close()


class StigmerService(System):
    name = "stigmer_service"

    def __init__(self, token_delay_ms: int, step_delay_ms: int) -> None:
        self._env = {"SCRIPTED_TOKEN_DELAY_MS": str(token_delay_ms), "SCRIPTED_STEP_DELAY_MS": str(step_delay_ms),
                     "SSE_DB_CHECK_SECONDS": "30"}

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        # Laid out as `dev` runs it: serve with the workflow worker, and the runner.
        with running_stack(with_runner=True, runner_module="bench.timed_runner",
                           SERVE_RUNS_WORKER="true", **self._env) as stack:
            self.url, self.roots = stack.http_url, dict(stack.pids)
            wait_until_settled(self.roots)  # /healthz answers while the runner still imports
            yield

    async def prepare(self, client: httpx.AsyncClient) -> None:
        response = await client.post(f"{self.url}/v1/agents", json=AGENT)
        response.raise_for_status()
        self._agent_id = response.json()["metadata"]["id"]

    async def start_run(self, client: httpx.AsyncClient, message: str, tokens: int) -> str:
        response = await client.post(f"{self.url}/v1/agent-executions", json={"spec": {
            "agent_id": self._agent_id, "message": message, "execution_config": {"model_name": f"scripted:{tokens}"}}})
        response.raise_for_status()
        return f"/v1/agent-executions/{response.json()['metadata']['id']}/subscribe"

    async def stream_new_run(self, client, message, tokens):
        async for event in self._watch(await self.start_run(client, message, tokens)):
            yield event

    def succeeded(self, last_event):
        return last_event is not None and last_event[0] == b"end" and b"EXECUTION_COMPLETED" in last_event[1]


class LangGraphDev(System):
    """`langgraph dev` (in-memory runtime) serving bench/peer_graph.py, from its own venv."""

    name = "langgraph_dev"

    def __init__(self, token_delay_ms: int, step_delay_ms: int, jobs_per_worker: int) -> None:
        self._env = {"BENCH_TOKEN_DELAY_MS": str(token_delay_ms), "BENCH_STEP_DELAY_MS": str(step_delay_ms)}
        self._jobs = jobs_per_worker

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        langgraph = peer_environment() / "bin" / "langgraph"
        with tempfile.TemporaryDirectory(prefix="bench-peer-") as work:
            (Path(work) / "graph.py").write_text("from bench.peer_graph import graph\n")
            (Path(work) / "langgraph.json").write_text(json.dumps(
                {"dependencies": ["."], "graphs": {"agent": "./graph.py:graph"}}))
            port = free_port()
            env = {**os.environ, **self._env, "PYTHONPATH": str(ROOT),
                   "LANGGRAPH_CLI_NO_ANALYTICS": "1",  # offline: no usage reports
                   "LANGSMITH_TRACING": "false", "LANGCHAIN_TRACING_V2": "false"}
            with open(Path(work) / "server.log", "wb") as log:
                # Without --n-jobs-per-worker it runs one job at a time, whatever its help says.
                process = subprocess.Popen(
                    [str(langgraph), "dev", "--no-browser", "--no-reload", "--port", str(port), "--config",
                     str(Path(work) / "langgraph.json"), "--n-jobs-per-worker", str(self._jobs),
                     "--server-log-level", "WARNING"],
                    cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
            self.url, self.roots = f"http://127.0.0.1:{port}", {"langgraph_dev": process.pid}
            try:
                _wait_until_up(f"{self.url}/ok", process, Path(work) / "server.log")
                wait_until_settled(self.roots)
                yield
            finally:
                stop_process(process)

    def _run_body(self, message: str, tokens: int) -> dict:
        return {"assistant_id": "agent", "input": {"messages": [{"role": "human", "content": message}]},
                "stream_mode": ["messages-tuple"], "config": {"configurable": {"answer_tokens": tokens}}}

    async def _new_thread(self, client: httpx.AsyncClient) -> str:
        response = await client.post(f"{self.url}/threads", json={})
        response.raise_for_status()
        return response.json()["thread_id"]

    async def start_run(self, client, message, tokens):
        thread = await self._new_thread(client)
        response = await client.post(f"{self.url}/threads/{thread}/runs", json=self._run_body(message, tokens))
        response.raise_for_status()
        return f"/threads/{thread}/runs/{response.json()['run_id']}/stream"

    async def stream_new_run(self, client, message, tokens):
        thread = await self._new_thread(client)
        async for event in self._watch(f"/threads/{thread}/runs/stream", self._run_body(message, tokens)):
            yield event

    def succeeded(self, last_event):
        return last_event is not None and last_event[0] != b"error"


def peer_environment() -> Path:
    """A virtualenv holding LangGraph's server, made on first use (BENCH_PEER_VENV to choose
    where). It cannot share the service's environment: langgraph-api pins protobuf<7 and
    grpcio<1.82, older than the service's generated stubs need."""
    venv = Path(os.environ.get("BENCH_PEER_VENV", ROOT / ".bench-peer-venv"))
    if not (venv / "bin" / "langgraph").exists():
        requirements = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["bench"]["peer-requirements"]
        print(f"[bench] installing {requirements} into {venv}", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", *requirements], check=True)
    return venv


def _wait_until_up(url: str, process: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"langgraph dev did not start: {log.read_text()[-2000:]}")

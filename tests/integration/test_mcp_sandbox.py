"""What an agent's MCP servers may run and reach, and what a started server can see.

The policy (core/mcp_policy.py) is checked when an agent is created (REST 422, gRPC
INVALID_ARGUMENT) and again by the runner before it opens a server; stdio servers start
through the sandbox (runner/sandbox.py) as an unprivileged user with only their
config's environment.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import grpc
import pytest

from ai.stigmer.agentic.agent.v1 import api_pb2 as agent_pb2, command_pb2_grpc as agent_commands
from core.context import ServerContext
from core.settings import Settings
from runner.engine import run_agent
from runner.mcp_config import EnvValue, HttpServer, McpServerConfig, StdioServer
from runner.mcp_tools import McpServerError
from runner.sandbox import StdioSandbox, can_run
from runner.status_builder import StatusBuilder
from runner.types import AgentConfig, AgentRunRequest
from tests.integration.conftest import open_grpc
from tests.integration.test_mcp_tools import PROBE, child_pids, free_port, probe_http_url  # noqa: F401
from tests.utils.http import serve_app
from tests.utils.mcp_policy import sandbox_runs

SHELL = {"name": "shell", "stdio": {"command": "/bin/sh", "args": ["-c", "touch /tmp/owned"]}}
RUN_SETTINGS = Settings(scripted_token_delay_ms=0, scripted_step_delay_ms=0, mcp_tool_timeout_seconds=30)


def agent_body(*servers: dict) -> dict:
    return {"metadata": {"name": "tooled"}, "spec": {"instructions": "Use the tools you have.", "mcp_servers": list(servers)}}


def request(message: str, servers: list[McpServerConfig], runtime_env: dict[str, EnvValue] | None = None) -> AgentRunRequest:
    agent = AgentConfig(name="helper", instructions="Be helpful.", mcp_servers=servers)
    return AgentRunRequest(
        execution_id="aex_box", session_id="ses_box", thread_id="thr_box",
        message=message, model_name="scripted", agent=agent, runtime_env=runtime_env or {},
    )


async def run(req: AgentRunRequest, settings: Settings) -> StatusBuilder:
    builder = StatusBuilder(req.message)
    builder.mark_in_progress()
    await run_agent(req, [], builder, settings=settings)
    builder.mark_completed()
    return builder


# -- create ---------------------------------------------------------------------------


async def test_an_agent_with_a_shell_command_is_refused_at_create_over_rest_and_grpc(
    context: ServerContext,
) -> None:
    async with serve_app(context) as api:
        response = await api.client.post("/v1/agents", json=agent_body(SHELL))
        assert response.status_code == 422, response.text
        message = response.json()["error"]["message"]
        assert "MCP server 'shell': command '/bin/sh' is not allowed" in message
        assert "MCP_STDIO_COMMANDS" in message
        # Allowed servers of every kind still create.
        allowed = agent_body(
            {"name": "time", "stdio": {"command": "mcp-server-time"}},
            {"name": "web", "http": {"url": "https://mcp.example.com/mcp"}},
            {"name": "files", "docker": {"image": "mcp/filesystem:1"}},
        )
        assert (await api.client.post("/v1/agents", json=allowed)).status_code == 201

    server, stubs = await open_grpc(context)
    try:
        agents = agent_commands.AgentCommandControllerStub(stubs.channel)
        request = agent_pb2.Agent()
        request.metadata.name = "boxed"
        request.spec.instructions = "Use the tools you have."
        server_def = request.spec.mcp_servers.add(name="python")
        server_def.stdio.command = "python3"
        server_def.stdio.args.extend(["-c", "print(open('/proc/1/environ').read())"])
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await agents.create(request)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "MCP server 'python': command 'python3' is not allowed" in (raised.value.details() or "")
        assert "MCP_STDIO_COMMANDS" in (raised.value.details() or "")
        # An update (or apply) cannot bring it into an agent that exists either.
        request.spec.ClearField("mcp_servers")
        created = await agents.create(request)
        server_def = created.spec.mcp_servers.add(name="python")
        server_def.stdio.command = "python3"
        for method in (agents.update, agents.apply):
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await method(created)
            assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT, method
    finally:
        await stubs.channel.close()
        await server.stop(grace=None)


async def test_an_http_server_on_loopback_is_refused_at_create_by_default(context: ServerContext) -> None:
    async with serve_app(context) as api:
        loopback = {"name": "local", "http": {"url": "http://127.0.0.1:7233/mcp"}}
        response = await api.client.post("/v1/agents", json=agent_body(loopback))
        assert response.status_code == 422, response.text
        message = response.json()["error"]["message"]
        assert "MCP server 'local': host '127.0.0.1' is not allowed" in message and "MCP_HTTP_HOSTS" in message


# -- run ------------------------------------------------------------------------------


async def test_the_runner_refuses_a_shell_command_an_agent_names_and_starts_nothing(tmp_path: Path) -> None:
    """An agent stored before the policy (or by another server) still cannot run it."""
    marker = tmp_path / "owned"
    shell = McpServerConfig("shell", stdio=StdioServer("/bin/sh", ["-c", f"touch {marker}"]))
    before = child_pids()
    settings = RUN_SETTINGS.model_copy(update={"mcp_stdio_commands": "mcp-server-time"})
    with pytest.raises(McpServerError, match=r"MCP server 'shell': command '/bin/sh' is not allowed.*MCP_STDIO_COMMANDS"):
        await run(request("hi", [shell]), settings)
    assert not marker.exists()
    assert child_pids() <= before


async def test_the_runner_refuses_an_http_server_on_loopback_by_default(probe_http_url: str) -> None:  # noqa: F811
    server = McpServerConfig("web", http=HttpServer(probe_http_url))
    with pytest.raises(McpServerError, match=r"MCP server 'web': host '127\.0\.0\.1' is not allowed.*MCP_HTTP_HOSTS"):
        await run(request("hi", [server]), RUN_SETTINGS)
    # Allowing every public host does not open loopback, by address or by a name for it.
    anywhere = RUN_SETTINGS.model_copy(update={"mcp_http_hosts": "*"})
    with pytest.raises(McpServerError, match="loopback, link-local and private addresses are refused"):
        await run(request("hi", [server]), anywhere)
    by_name = McpServerConfig("web", http=HttpServer(probe_http_url.replace("127.0.0.1", "localhost")))
    with pytest.raises(McpServerError, match=r"host 'localhost' \(address (127\.0\.0\.1|::1)\) is not allowed"):
        await run(request("hi", [by_name]), anywhere)
    # Named by the operator, it works.
    allowed = RUN_SETTINGS.model_copy(update={"mcp_http_hosts": "127.0.0.1"})
    builder = await run(request('call tool echo {"text": "allowed"}', [server]), allowed)
    (call,) = [c for c in builder.snapshot().tool_calls if c.name == "echo"]
    assert call.result == "echo: allowed"


# -- the sandbox ------------------------------------------------------------------------


def sandbox_python() -> tuple[str, dict[str, str]]:
    """An interpreter the sandbox user can run, with what the probe server imports: this
    one, or the system's Python of the same version reading this environment's packages
    (when this one lives where the sandbox user cannot go, as under /root)."""
    system = f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"
    nobody = pwd.getpwnam("nobody")
    site = sysconfig.get_paths()["purelib"]
    if not all(os.path.exists(path) and can_run(str(path), nobody.pw_uid, nobody.pw_gid, bits=0o4) for path in (PROBE, site)):
        pytest.skip(f"the sandbox user cannot reach {PROBE} or {site} here")
    if sandbox_runs(sys.executable):
        return sys.executable, {}
    if os.path.exists(system) and can_run(system, nobody.pw_uid, nobody.pw_gid):
        return system, {"PYTHONPATH": site}
    pytest.skip("no Python the sandbox user can run here")


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox starts servers as another user: the runner must be root")


@needs_root
def test_an_allowed_server_runs_sandboxed_and_cannot_read_the_runners_environment(tmp_path: Path) -> None:
    """A runner whose environment holds a key runs an allowed Python MCP server, which
    tries to read the runner's environment and its own: it gets neither the key nor
    anything but what its config gives it."""
    secret = "runner-secret-5d1e"
    python, extra_env = sandbox_python()
    script = f"""
import asyncio, sys
sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
from core.settings import Settings
from runner.engine import run_agent
from runner.mcp_config import McpServerConfig, StdioServer
from runner.status_builder import StatusBuilder
from runner.types import AgentConfig, AgentRunRequest

settings = Settings(scripted_token_delay_ms=0, scripted_step_delay_ms=0, mcp_stdio_commands={python!r},
                    mcp_stdio_sandbox="user")
env = {{**{extra_env!r}, "GIVEN": "from-config"}}
server = McpServerConfig("probe", stdio=StdioServer({python!r}, [{str(PROBE)!r}, "stdio"], env_placeholders=env))
message = ("call tool parent_environ {{}}\\ncall tool own_environ {{}}\\n"
           'call tool env_value {{"name": "RUNNER_API_KEY"}}')
agent = AgentConfig(name="a", instructions="Be helpful.", mcp_servers=[server])
req = AgentRunRequest(execution_id="aex_1", session_id="ses_1", thread_id="t", message=message,
                      model_name="scripted", agent=agent, runtime_env={{}})
builder = StatusBuilder(message)
asyncio.run(run_agent(req, [], builder, settings=settings))
for call in builder.snapshot().tool_calls:
    print(call.name, "=>", repr(call.result or call.error))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "RUNNER_API_KEY": secret}, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    results = dict(line.split(" => ", 1) for line in done.stdout.splitlines() if " => " in line)
    assert results["parent_environ"] == "'refused: PermissionError'", results
    names = set(results["own_environ"].strip("'").split(","))
    assert names <= {"PATH", "HOME", "USER", "LOGNAME", "GIVEN", "PYTHONPATH", "LC_CTYPE"}, names
    assert "GIVEN" in names
    assert results["env_value"] == "'<unset>'"
    assert secret not in done.stdout


@needs_root
def test_the_spawn_path_drops_to_the_sandbox_user_with_only_the_config_environment(tmp_path: Path) -> None:
    """The same wrapping the runner applies to every stdio server, with plain commands."""
    from mcp import StdioServerParameters
    from mcp.client.stdio import get_default_environment

    # Only the key file's own mode keeps it from the server: its folder is open to all.
    folder = Path(tempfile.mkdtemp(prefix="runner-", dir="/tmp"))
    folder.chmod(0o755)
    key_file = folder / "runner.key"
    key_file.write_text("runner-key-9a7c")
    key_file.chmod(0o600)
    sandbox = StdioSandbox("user", "nobody")

    def spawn(command: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        params = sandbox.wrap(StdioServerParameters(command=command, args=list(args), env=env or {}))
        # Started as the MCP SDK starts it: its minimal environment plus the config's.
        return subprocess.run([params.command, *params.args], env={**get_default_environment(), **(params.env or {})},
                              capture_output=True, text=True, timeout=30)

    me = spawn("/usr/bin/id", "-u")
    assert me.stdout.strip() == str(pwd.getpwnam("nobody").pw_uid), me.stderr
    environ = spawn("/bin/cat", f"/proc/{os.getpid()}/environ")
    assert environ.returncode != 0 and "Permission denied" in environ.stderr
    key = spawn("/bin/cat", str(key_file))
    assert key.returncode != 0 and "Permission denied" in key.stderr and "runner-key-9a7c" not in key.stdout
    shutil.rmtree(folder)
    env = spawn("/usr/bin/env", env={"GIVEN": "1"})
    names = {line.split("=", 1)[0] for line in env.stdout.splitlines()}
    assert names == {"PATH", "HOME", "USER", "LOGNAME", "GIVEN"}, env.stdout
    assert "GIVEN=1" in env.stdout.splitlines()
    # no_new_privs: a setuid program cannot take it back to root.
    status = spawn("/bin/grep", "NoNewPrivs", "/proc/self/status")
    assert status.stdout.split() == ["NoNewPrivs:", "1"], status.stdout


def test_a_runner_that_is_not_root_refuses_to_start_stdio_servers_unless_told_to(monkeypatch: pytest.MonkeyPatch) -> None:
    from mcp import StdioServerParameters

    from runner.sandbox import SandboxUnavailable

    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    params = StdioServerParameters(command="/bin/true", args=[])
    with pytest.raises(SandboxUnavailable, match=r"only when the runner runs as root.*MCP_STDIO_SANDBOX=none"):
        StdioSandbox("auto").wrap(params)
    assert StdioSandbox("none").wrap(params) == params

"""MCP tools in the runner: real MCP servers, the real engine, the scripted model.

Servers: the third-party `mcp-server-time` (stdio) and `mcp_probe_server.py` (a FastMCP
server, over stdio or streamable HTTP in a subprocess).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ai.stigmer.agentic.agentexecution.v1 import api_pb2, enum_pb2, spec_pb2
from core.settings import Settings
from runner.engine import run_agent
from runner.mcp_config import (
    DockerServer,
    EnvValue,
    HttpServer,
    McpServerConfig,
    McpToolSelection,
    StdioServer,
)
from runner.mcp_tools import McpServerError
from runner.scripted_model import ScriptedChatModel
from runner.status_builder import StatusBuilder
from runner.types import AgentConfig, AgentRunRequest, SubAgentConfig
from tests.utils.mcp_policy import TEST_SANDBOX_MODE

PROBE = Path(__file__).with_name("mcp_probe_server.py")
TIME_COMMAND = str(Path(sys.executable).with_name("mcp-server-time"))
# The servers these tests start, allowed; stdio servers run sandboxed where the runner can
# (as root), as they would in production.
SETTINGS = Settings(
    scripted_token_delay_ms=0, scripted_step_delay_ms=0, mcp_tool_timeout_seconds=30,
    mcp_stdio_commands=f"{sys.executable},{TIME_COMMAND},no-such-mcp-server-4f2a",
    mcp_docker_images="mcp/time",
    mcp_http_hosts="127.0.0.1",
    mcp_stdio_sandbox=TEST_SANDBOX_MODE,
)

TIME_SERVER = McpServerConfig(
    "time",
    stdio=StdioServer(TIME_COMMAND, ["--local-timezone", "UTC"]),
)


def probe_stdio(name: str = "probe", **options: object) -> McpServerConfig:
    stdio = StdioServer(sys.executable, [str(PROBE), "stdio"], **options)  # type: ignore[arg-type]
    return McpServerConfig(name, stdio=stdio)


def request(
    message: str,
    servers: list[McpServerConfig],
    *,
    sub_agents: list[SubAgentConfig] | None = None,
    runtime_env: dict[str, EnvValue] | None = None,
) -> AgentRunRequest:
    agent = AgentConfig(
        name="helper", instructions="Be helpful.", sub_agents=sub_agents or [], mcp_servers=servers
    )
    return AgentRunRequest(
        execution_id="aex_mcp", session_id="ses_mcp", thread_id="thr_mcp",
        message=message, model_name="scripted", agent=agent, runtime_env=runtime_env or {},
    )


async def run(req: AgentRunRequest, builder: StatusBuilder | None = None) -> api_pb2.AgentExecutionStatus:
    builder = builder or StatusBuilder(req.message)
    builder.mark_in_progress()
    await run_agent(req, [], builder, settings=SETTINGS)
    builder.mark_completed()
    return builder.snapshot()


def tool_call(status: api_pb2.AgentExecutionStatus, name: str) -> spec_pb2.ToolCall:
    (call,) = [c for c in status.tool_calls if c.name == name]
    return call


def final_answer(status: api_pb2.AgentExecutionStatus) -> str:
    assert status.messages[-1].type == enum_pb2.MESSAGE_AI
    return status.messages[-1].content


def child_pids() -> set[int]:
    """Live (non-zombie) child processes of this test process, from /proc."""
    children = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == os.getpid() and state != "Z":
            children.add(int(entry.name))
    return children


def cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


async def eventually(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met before deadline"
        await asyncio.sleep(0.01)


def call_is_running(builder: StatusBuilder, name: str) -> Callable[[], bool]:
    def check() -> bool:
        return any(
            c.name == name and c.status == enum_pb2.TOOL_CALL_RUNNING for c in builder.snapshot().tool_calls
        )
    return check


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def probe_http_url() -> Iterator[str]:
    """The probe server over streamable HTTP, in its own process."""
    port = free_port()
    process = subprocess.Popen([sys.executable, str(PROBE), "http", str(port)])
    try:
        deadline = time.monotonic() + 60
        while True:  # poll until it listens
            assert process.poll() is None, "the probe HTTP server exited"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the probe HTTP server did not listen"
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def bound_tools(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The tool names the scripted model is bound with, one list per graph built (a spy:
    the real `bind_tools` still runs)."""
    bindings: list[list[str]] = []
    real = ScriptedChatModel.bind_tools

    def spy(self: ScriptedChatModel, tools, **kwargs):  # type: ignore[no-untyped-def]
        bindings.append([t.name for t in tools])
        return real(self, tools, **kwargs)

    monkeypatch.setattr(ScriptedChatModel, "bind_tools", spy)
    return bindings


async def test_stdio_time_server_tool_call_shows_its_lifecycle_result_and_server() -> None:
    req = request('What time is it?\ncall tool get_current_time {"timezone": "UTC"}', [TIME_SERVER])
    builder = StatusBuilder(req.message)
    seen: list[int] = []

    def record(structural: bool) -> None:
        calls = [c for c in builder.snapshot().tool_calls if c.name == "get_current_time"]
        if calls and (not seen or seen[-1] != calls[0].status):
            seen.append(calls[0].status)

    builder.on_change(record)
    status = await run(req, builder)

    assert seen == [enum_pb2.TOOL_CALL_PENDING, enum_pb2.TOOL_CALL_RUNNING, enum_pb2.TOOL_CALL_COMPLETED]
    call = tool_call(status, "get_current_time")
    assert dict(call.args) == {"timezone": "UTC"}
    result = json.loads(call.result)
    assert result["timezone"] == "UTC"
    moment = datetime.fromisoformat(result["datetime"])
    assert abs((datetime.now(UTC) - moment).total_seconds()) < 120
    assert (call.component_metadata.component_type, call.component_metadata.component_group) == ("mcp", "time")
    # The planning tool keeps its own component; the model quotes the real result.
    assert tool_call_groups(status)["write_todos"] == {"planning"}
    assert "get_current_time said:" in final_answer(status)
    assert result["datetime"][:10] in final_answer(status)


def tool_call_groups(status: api_pb2.AgentExecutionStatus) -> dict[str, set[str]]:
    groups: dict[str, set[str]] = {}
    for call in status.tool_calls:
        groups.setdefault(call.name, set()).add(call.component_metadata.component_group)
    return groups


async def test_http_server_tools_work_and_enabled_tools_hide_the_others(
    probe_http_url: str, bound_tools: list[list[str]]
) -> None:
    server = McpServerConfig("web", http=HttpServer(probe_http_url), enabled_tools=["echo", "add"])
    req = request('call tool echo {"text": "over http"}\ncall tool env_value {"name": "HOME"}', [server])
    status = await run(req)

    assert bound_tools == [["write_todos", "echo", "add"]]
    call = tool_call(status, "echo")
    assert call.status == enum_pb2.TOOL_CALL_COMPLETED
    assert call.result == "echo: over http"
    assert call.component_metadata.component_group == "web"
    # A told call of a hidden tool is never made.
    assert "env_value" not in {c.name for c in status.tool_calls}
    assert "echo said: echo: over http" in final_answer(status)


async def test_http_headers_and_query_are_filled_from_runtime_env(probe_http_url: str) -> None:
    http = HttpServer(probe_http_url, headers={"X-Api-Key": "key-${API_KEY}"}, query_params={"team": "${TEAM}"})
    server = McpServerConfig("web", http=http, enabled_tools=["request_header"])
    runtime_env = {"API_KEY": EnvValue("k-123", is_secret=True), "TEAM": EnvValue("blue")}
    status = await run(request('call tool request_header {"name": "x-api-key"}', [server], runtime_env=runtime_env))
    assert tool_call(status, "request_header").result == "key-k-123"

    with pytest.raises(McpServerError, match="MCP server 'web' needs TEAM in the execution's runtime_env"):
        await run(request("hi", [server], runtime_env={"API_KEY": EnvValue("k")}))


async def test_http_call_that_outlasts_the_server_timeout_fails_and_the_model_sees_why(
    probe_http_url: str,
) -> None:
    server = McpServerConfig("web", http=HttpServer(probe_http_url, timeout_seconds=1))
    status = await run(request('call tool wait {"seconds": 20}', [server]))

    call = tool_call(status, "wait")
    assert call.status == enum_pb2.TOOL_CALL_FAILED
    assert "MCP server 'web' did not answer wait within 1s" in call.error
    assert "wait said: Error" in final_answer(status)
    assert status.phase == enum_pb2.EXECUTION_COMPLETED


async def test_sub_agent_gets_only_the_servers_and_tools_selected_for_it(
    probe_http_url: str, bound_tools: list[list[str]]
) -> None:
    web = McpServerConfig("web", http=HttpServer(probe_http_url), enabled_tools=["echo"])
    clock = SubAgentConfig(
        "clock", "Tell the time.", mcp_servers=["time"],
        mcp_tool_selections={"time": McpToolSelection(["get_current_time"])},
    )
    message = 'call tool echo {"text": "parent"}\ncall tool get_current_time {"timezone": "UTC"}'
    status = await run(request(message, [TIME_SERVER, web], sub_agents=[clock]))

    agent_tools, sub_agent_tools = bound_tools
    assert agent_tools == ["write_todos", "get_current_time", "convert_time", "echo", "task"]
    assert sub_agent_tools == ["get_current_time"]
    (sub,) = status.sub_agent_executions
    assert sub.status == enum_pb2.SUB_AGENT_COMPLETED
    # The sub-agent called its own tool (and could not call the parent's echo).
    assert "get_current_time said:" in sub.output and '"timezone": "UTC"' in sub.output
    assert "echo said" not in sub.output


async def test_stdio_env_placeholders_are_filled_from_runtime_env_and_secrets_stay_out_of_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = "s3cret-value-7f1c"
    server = probe_stdio(env_placeholders={"API_TOKEN": "Bearer ${TOKEN}"})
    caplog.set_level(logging.DEBUG)
    message = 'call tool env_value {"name": "API_TOKEN"}\ncall tool fail_with_env {"name": "API_TOKEN"}'
    status = await run(
        request(message, [server], runtime_env={"TOKEN": EnvValue(secret, is_secret=True)})
    )
    assert tool_call(status, "env_value").result == f"Bearer {secret}"
    # A server that quotes the secret in an error has it masked.
    failed = tool_call(status, "fail_with_env")
    assert failed.status == enum_pb2.TOOL_CALL_FAILED
    assert "rejected credentials Bearer ***" in failed.error and secret not in failed.error
    assert "API_TOKEN" in caplog.text  # the variable is named when the server starts ...
    assert secret not in caplog.text  # ... its value never

    with pytest.raises(McpServerError, match="MCP server 'probe' needs TOKEN in the execution's runtime_env"):
        await run(request("hi", [server]))


@pytest.mark.parametrize(
    ("server", "reason"),
    [
        (
            McpServerConfig("missing", stdio=StdioServer("no-such-mcp-server-4f2a")),
            "MCP server 'missing' could not start: command 'no-such-mcp-server-4f2a' not found",
        ),
        (
            McpServerConfig("boxed", docker=DockerServer("mcp/time")),
            "MCP server 'boxed' runs in Docker, but no Docker engine is available",
        ),
        (
            McpServerConfig("gone", http=HttpServer(f"http://127.0.0.1:{free_port()}/mcp")),
            "MCP server 'gone' could not start",
        ),
    ],
    ids=["stdio-command-missing", "docker-without-engine", "http-unreachable"],
)
async def test_a_server_that_cannot_be_opened_fails_the_run_before_the_model_runs(
    server: McpServerConfig, reason: str, bound_tools: list[list[str]]
) -> None:
    before = child_pids()
    builder = StatusBuilder("hi")
    with pytest.raises(McpServerError) as raised:
        await asyncio.wait_for(run(request("hi", [server]), builder), timeout=20)
    assert str(raised.value).startswith(reason), str(raised.value)
    assert bound_tools == []  # no model was built
    assert not builder.snapshot().tool_calls
    assert child_pids() <= before


async def test_scripted_model_refuses_told_arguments_that_are_not_a_json_object() -> None:
    with pytest.raises(ValueError, match="call tool echo: the arguments '\\[1, 2\\]' are not a JSON object"):
        await run(request("call tool echo [1, 2]", []))


async def test_sub_agent_naming_an_undeclared_server_is_a_readable_error() -> None:
    helper = SubAgentConfig("helper", "Help.", mcp_servers=["nowhere"])
    with pytest.raises(McpServerError, match="sub-agent 'helper' names MCP server 'nowhere'"):
        await run(request("hi", [], sub_agents=[helper]))


async def test_server_killed_mid_call_fails_the_call_and_the_run_still_ends() -> None:
    req = request('call tool wait {"seconds": 60}\ncall tool echo {"text": "after"}', [probe_stdio()])
    builder = StatusBuilder(req.message)
    before = child_pids()
    task = asyncio.create_task(run(req, builder))
    await eventually(call_is_running(builder, "wait"))

    (server_pid,) = [p for p in child_pids() - before if "mcp_probe_server.py" in cmdline(p)]
    os.kill(server_pid, signal.SIGKILL)
    status = await asyncio.wait_for(task, timeout=10)

    call = tool_call(status, "wait")
    assert call.status == enum_pb2.TOOL_CALL_FAILED
    assert call.error.startswith("MCP server 'probe': wait failed:"), call.error
    # A later call to the dead server fails at once, saying why.
    later = tool_call(status, "echo")
    assert later.status == enum_pb2.TOOL_CALL_FAILED
    assert later.error == "MCP server 'probe': echo failed: the server is no longer connected"
    assert "wait said: Error" in final_answer(status)
    assert status.phase == enum_pb2.EXECUTION_COMPLETED
    assert child_pids() <= before


async def test_cancelling_during_an_mcp_call_ends_quickly_and_leaves_no_child_process() -> None:
    req = request('call tool wait {"seconds": 60}', [probe_stdio(), TIME_SERVER])
    builder = StatusBuilder(req.message)
    before = child_pids()
    task = asyncio.create_task(run(req, builder))
    await eventually(call_is_running(builder, "wait"))
    assert len(child_pids() - before) == 2  # both servers run as children

    loop = asyncio.get_running_loop()
    began = loop.time()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=5)
    elapsed = loop.time() - began
    assert elapsed < 2.0, f"cancel took {elapsed:.2f}s"
    assert child_pids() <= before

"""An execution's MCP servers: open one session per server, hand out their tools, close all.

`open_mcp_tools` is an async context manager. On entry it opens every server of the
agent (stdio servers as child processes of the runner, http servers over streamable
HTTP, docker servers as `docker run -i` children), lists their tools and keeps those
the agent enables; any server that cannot be opened fails the execution there, with
a reason naming the server, before the model runs. On exit (normal end, failure or
cancellation) every session is closed and every child process is gone.

Tools are converted by `langchain-mcp-adapters` on sessions of the official `mcp`
SDK. Each call gets a timeout (the server's `timeout_seconds`, else the
MCP_TOOL_TIMEOUT_SECONDS setting); a call that times out, or whose server crashed or
reported an error, raises an error naming the server, which the engine's tool node
turns into a failed tool call the model sees.

Policy: before anything is opened, every server is checked against the operator's allow
lists (core/mcp_policy.py: MCP_STDIO_COMMANDS, MCP_DOCKER_IMAGES, MCP_HTTP_HOSTS), and an
http server's host again against the addresses it resolves to; a refused server fails the
run, naming the server and the setting. Stdio servers start through `runner/sandbox.py`
(as an unprivileged user, with only the config's environment).

Secrets: `runtime_env` values fill `${NAME}` placeholders and reach only the child's
environment or the HTTP request; logs and errors name variables, never values.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import re
import shutil
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import httpx
from langchain_core.tools import BaseTool, StructuredTool, ToolException

from ai.stigmer.agentic.agentexecution.v1 import spec_pb2
from core.mcp_policy import McpPolicy, McpPolicyError
from runner.mcp_config import EnvValue, McpServerConfig
from runner.sandbox import SandboxUnavailable, StdioSandbox
from runner.types import SubAgentConfig

if TYPE_CHECKING:
    from mcp import ClientSession, McpError, StdioServerParameters

log = logging.getLogger(__name__)

COMPONENT_TYPE = "mcp"
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_DOCKER_PROBE_SECONDS = 10.0


def _stdio_client(params: StdioServerParameters) -> AbstractAsyncContextManager[tuple[Any, Any]]:
    """The SDK's stdio transport to a child process started with `params`.

    The `mcp` SDK (with the server side, Starlette and uvicorn that it imports) and
    `langchain-mcp-adapters` are imported by the first execution that opens a server, so a
    runner whose agents declare none never holds them (about 12 MiB)."""
    from mcp.client import stdio

    # The SDK reads this when it closes a stdio server: how long the server may take to
    # exit once its input is closed before it is terminated. Its 2 s default would make
    # every cancelled run wait that long for a busy server.
    stdio.PROCESS_TERMINATION_TIMEOUT = 0.5
    return stdio.stdio_client(params)


_SDK_MODULES = ("mcp", "mcp.client.stdio", "mcp.client.streamable_http", "langchain_mcp_adapters.tools")


async def _import_sdk() -> None:
    """The first execution with a server imports the SDK in a thread (about 0.4 s of
    imports), so the event loop keeps serving the runner's other executions."""
    if not all(name in sys.modules for name in _SDK_MODULES):
        await asyncio.to_thread(lambda: [importlib.import_module(name) for name in _SDK_MODULES])


class McpServerError(RuntimeError):
    """An MCP server could not be opened or is misconfigured; the message names it."""


class McpToolError(ToolException):
    """A call to an MCP tool failed (timeout, crashed server, error result)."""


@dataclass
class McpToolset:
    """The opened servers' enabled tools, by server name (in the agent's order)."""

    by_server: dict[str, list[BaseTool]] = field(default_factory=dict)

    def for_agent(self) -> list[BaseTool]:
        """Every enabled tool of every server: what the agent itself is given."""
        return [tool for tools in self.by_server.values() for tool in tools]

    def for_sub_agent(self, sub: SubAgentConfig) -> list[BaseTool]:
        """The tools of the servers named for `sub`, narrowed by its tool selections."""
        names = [*sub.mcp_servers, *(n for n in sub.mcp_tool_selections if n not in sub.mcp_servers)]
        tools: list[BaseTool] = []
        for server in names:
            if server not in self.by_server:
                raise McpServerError(
                    f"sub-agent {sub.name!r} names MCP server {server!r}, which the agent "
                    f"does not declare (it declares {sorted(self.by_server) or 'none'})"
                )
            offered = self.by_server[server]
            selection = sub.mcp_tool_selections.get(server)
            wanted = selection.enabled_tools if selection else []
            tools += _select(offered, wanted, f"sub-agent {sub.name!r} selects from MCP server {server!r}")
        return tools

    def components(self) -> dict[str, spec_pb2.ComponentMetadata]:
        """How the status shows each tool's calls: an `mcp` component of its server."""
        return {
            tool.name: spec_pb2.ComponentMetadata(component_type=COMPONENT_TYPE, component_group=server)
            for server, tools in self.by_server.items()
            for tool in tools
        }


@asynccontextmanager
async def open_mcp_tools(
    servers: list[McpServerConfig],
    runtime_env: Mapping[str, EnvValue],
    *,
    default_timeout_seconds: float,
    policy: McpPolicy,
    sandbox: StdioSandbox,
) -> AsyncIterator[McpToolset]:
    """Open `servers` (one session each, all at once) for one execution; close them all
    on exit. A server the policy does not allow fails before any is opened."""
    names = [server.name for server in servers]
    if twice := sorted({name for name in names if names.count(name) > 1}):
        raise McpServerError(f"MCP servers {twice} are declared twice")
    for server in servers:
        _check_policy(server, policy)
    secrets = [v.value for v in runtime_env.values() if v.is_secret and v.value]
    connections: list[_ServerConnection] = []
    if servers:
        await _import_sdk()
    try:
        try:
            toolset = await _open_all(
                servers, connections, runtime_env, default_timeout_seconds, secrets, policy, sandbox
            )
        except McpServerError as exc:
            if (told := _redact(str(exc), secrets)) != str(exc):
                raise McpServerError(told) from None
            raise
        yield toolset
    finally:
        # Shielded: a second cancel must not stop a child process from being reaped.
        await asyncio.shield(asyncio.gather(*(c.close() for c in connections)))


async def _open_all(
    servers: list[McpServerConfig],
    connections: list[_ServerConnection],
    runtime_env: Mapping[str, EnvValue],
    default_timeout_seconds: float,
    secrets: list[str],
    policy: McpPolicy,
    sandbox: StdioSandbox,
) -> McpToolset:
    """Open every server at once (adding each to `connections`); their enabled tools."""
    for server in servers:
        open_timeout, _ = _timeouts(server, default_timeout_seconds)
        transport = await _transport(server, runtime_env, open_timeout, policy, sandbox)
        connections.append(_ServerConnection(server.name, transport))

    async def tools_of(server: McpServerConfig, connection: _ServerConnection) -> list[BaseTool]:
        open_timeout, call_timeout = _timeouts(server, default_timeout_seconds)
        began = time.perf_counter()
        session = await connection.open(open_timeout)
        tools = await _load_tools(session, server, open_timeout, call_timeout, secrets)
        log.info("MCP server %r ready in %.0f ms (%d tools enabled)",
                 server.name, (time.perf_counter() - began) * 1000, len(tools))
        return tools

    opened = await asyncio.gather(
        *(tools_of(s, c) for s, c in zip(servers, connections, strict=True)), return_exceptions=True
    )
    toolset = McpToolset()
    for server, result in zip(servers, opened, strict=True):
        if isinstance(result, BaseException):
            raise result  # the first failure in the agent's order
        toolset.by_server[server.name] = result
    _refuse_shared_tool_names(toolset)
    return toolset


def _refuse_shared_tool_names(toolset: McpToolset) -> None:
    seen: dict[str, str] = {}
    for server, tools in toolset.by_server.items():
        for tool in tools:
            if tool.name in seen:
                raise McpServerError(
                    f"tool {tool.name!r} is offered by MCP servers {seen[tool.name]!r} and "
                    f"{server!r}: enable it on one of them only"
                )
            seen[tool.name] = server


class _ServerConnection:
    """One server's session, owned by a task of its own for the whole execution.

    The SDK's transports run in anyio task groups that cancel the task which opened
    them when one of their own tasks fails (a dead server, a dropped connection).
    Owning each session in its own task keeps such a failure from cancelling the run:
    only this task ends, and calls to the server fail readably.
    """

    def __init__(self, name: str, transport: AbstractAsyncContextManager[tuple[Any, Any]]) -> None:
        self.name = name
        self._transport = transport
        self._session: ClientSession | None = None
        self._error: BaseException | None = None
        self._settled = asyncio.Event()  # the session is ready, or opening failed
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def open(self, timeout: float) -> ClientSession:
        """Start the owner task and wait for MCP's handshake to complete."""
        self._task = asyncio.create_task(self._own(), name=f"mcp-server-{self.name}")
        try:
            async with asyncio.timeout(timeout):
                await self._settled.wait()
        except TimeoutError:
            raise McpServerError(f"MCP server {self.name!r} did not answer within {timeout:g}s") from None
        if self._session is None:
            reason = _reason(self._error) if self._error else "it stopped"
            raise McpServerError(f"MCP server {self.name!r} could not start: {reason}") from self._error
        return self._session

    async def close(self) -> None:
        """End the session (a stdio server's process exits or is terminated)."""
        self._stop.set()
        if self._task is None:
            return
        if not self._settled.is_set():
            self._task.cancel()  # still starting: give up on it
        await self._task

    async def _own(self) -> None:
        try:
            from mcp import ClientSession

            async with self._transport as (read, write), ClientSession(read, write) as session:
                await session.initialize()
                self._session = session
                self._settled.set()
                await self._stop.wait()
        except BaseException as exc:  # this task's own end; the run goes on
            if not self._settled.is_set():
                self._error = exc
            elif not self._stop.is_set():
                log.warning("MCP server %r stopped: %s", self.name, _reason(exc))
        finally:
            self._session = None
            self._settled.set()


def _check_policy(server: McpServerConfig, policy: McpPolicy) -> None:
    """Refuse a server the operator's allow lists do not allow (core/mcp_policy.py)."""
    try:
        if server.stdio is not None:
            policy.check_stdio(server.name, server.stdio.command)
        if server.docker is not None:
            policy.check_docker(server.name, server.docker.image, server.docker.network)
        if server.http is not None:
            policy.check_http(server.name, server.http.url)
    except McpPolicyError as exc:
        raise McpServerError(str(exc)) from None


async def _check_resolved_host(server: McpServerConfig, url: httpx.URL, policy: McpPolicy) -> None:
    """The addresses the URL's host resolves to must be allowed too: a public name may
    point at a private address."""
    host = url.host
    try:
        port = url.port or (443 if url.scheme == "https" else 80)
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise McpServerError(f"MCP server {server.name!r} could not start: cannot resolve {host!r}: {exc}") from None
    try:
        policy.check_resolved(server.name, host, [str(info[4][0]) for info in infos])
    except McpPolicyError as exc:
        raise McpServerError(str(exc)) from None


async def _transport(
    server: McpServerConfig,
    runtime_env: Mapping[str, EnvValue],
    timeout: float,
    policy: McpPolicy,
    sandbox: StdioSandbox,
) -> AbstractAsyncContextManager[tuple[Any, Any]]:
    """The (not yet entered) transport to `server`: a child process or an HTTP client."""
    if server.transport == "http":
        assert server.http is not None
        where = f"MCP server {server.name!r}"
        headers = {k: _fill(v, runtime_env, where) for k, v in server.http.headers.items()}
        query = {k: _fill(v, runtime_env, where) for k, v in server.http.query_params.items()}
        url = httpx.URL(server.http.url).copy_merge_params(query) if query else httpx.URL(server.http.url)
        await _check_resolved_host(server, url, policy)
        return _http_transport(url, headers, timeout)
    params = await _stdio_parameters(server, runtime_env, sandbox)
    log.info(
        "starting MCP server %r: %s %s (env: %s)",
        server.name, params.command, " ".join(params.args), sorted(params.env or {}),
    )
    return _stdio_client(params)


@asynccontextmanager
async def _http_transport(
    url: httpx.URL, headers: dict[str, str], timeout: float
) -> AsyncIterator[tuple[Any, Any]]:
    # A tool's result arrives on the response stream, so reads may take a whole call;
    # the runner's own, readable timeouts fire first. Redirects are not followed: the
    # policy allowed this URL's host, not wherever it points.
    from mcp.client.streamable_http import streamable_http_client

    client = httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(timeout + 5), follow_redirects=False)
    async with client, streamable_http_client(str(url), http_client=client) as (read, write, _):
        yield read, write


async def _stdio_parameters(
    server: McpServerConfig, runtime_env: Mapping[str, EnvValue], sandbox: StdioSandbox
) -> StdioServerParameters:
    """How to start a stdio or docker server as a child process (a stdio one sandboxed)."""
    from mcp import StdioServerParameters

    where = f"MCP server {server.name!r}"
    if server.stdio is not None:
        stdio = server.stdio
        env = {k: _fill(v, runtime_env, where) for k, v in stdio.env_placeholders.items()}
        params = StdioServerParameters(
            command=resolve_command(stdio.command), args=list(stdio.args), env=env,
            cwd=stdio.working_dir or None
        )
        try:
            return sandbox.wrap(params)
        except SandboxUnavailable as exc:
            raise McpServerError(f"{where} could not start: {exc}") from None
        except FileNotFoundError as exc:
            raise McpServerError(f"{where} could not start: {_reason(exc)}") from None
    assert server.docker is not None
    docker = server.docker
    await _require_docker_engine(server.name)
    env = {k: _fill(v, runtime_env, where) for k, v in docker.env_placeholders.items()}
    # `-e NAME` passes the value from docker's own environment, keeping it out of argv.
    args = ["run", "-i", "--rm", *(a for name in env for a in ("-e", name))]
    if docker.network:
        args += ["--network", docker.network]
    return StdioServerParameters(command="docker", args=[*args, docker.image, *docker.args], env=env)


async def _require_docker_engine(server_name: str) -> None:
    """Fail early and readably when there is no Docker engine to run the server in."""
    prefix = f"MCP server {server_name!r} runs in Docker, but no Docker engine is available"
    if shutil.which("docker") is None:
        raise McpServerError(f"{prefix}: the docker command is not installed")
    probe = await asyncio.create_subprocess_exec(
        "docker", "version", "--format", "{{.Server.Version}}",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(_DOCKER_PROBE_SECONDS):
            _, stderr = await probe.communicate()
    except TimeoutError:
        probe.kill()
        await probe.wait()
        raise McpServerError(f"{prefix}: the engine did not answer") from None
    if probe.returncode != 0:
        detail = stderr.decode(errors="replace").strip().splitlines()
        raise McpServerError(f"{prefix}: {detail[0] if detail else 'docker version failed'}")


async def _load_tools(
    session: ClientSession, server: McpServerConfig, timeout: float, call_timeout: float, secrets: list[str]
) -> list[BaseTool]:
    """The server's tools that the agent enables, each call bounded by `call_timeout`."""
    from langchain_mcp_adapters.tools import load_mcp_tools

    try:
        async with asyncio.timeout(timeout):
            # Error results raise, so the status shows them as failed calls.
            listed = await load_mcp_tools(session, server_name=server.name, handle_tool_errors=False)
    except TimeoutError as exc:
        raise McpServerError(f"MCP server {server.name!r} did not list its tools within {timeout:g}s") from exc
    except Exception as exc:
        raise McpServerError(f"MCP server {server.name!r} could not list its tools: {_reason(exc)}") from exc
    enabled = _select(listed, server.enabled_tools, f"MCP server {server.name!r} enables")
    return [_with_timeout(tool, server.name, call_timeout, secrets) for tool in enabled]


def _select(tools: list[BaseTool], wanted: list[str], where: str) -> list[BaseTool]:
    """`tools` narrowed to the `wanted` names (all when empty); unknown names are an error."""
    if not wanted:
        return list(tools)
    by_name = {tool.name: tool for tool in tools}
    unknown = [name for name in wanted if name not in by_name]
    if unknown:
        raise McpServerError(f"{where} unknown tools {unknown} (offered: {sorted(by_name)})")
    return [by_name[name] for name in wanted]


def _with_timeout(tool: BaseTool, server: str, timeout: float, secrets: list[str]) -> BaseTool:
    """The same tool, its calls bounded by `timeout` and failures told in the server's name."""
    assert isinstance(tool, StructuredTool) and tool.coroutine is not None
    call: Callable[..., Awaitable[Any]] = tool.coroutine
    name = tool.name

    async def bounded(**arguments: Any) -> Any:
        try:
            async with asyncio.timeout(timeout):
                return await call(**arguments)
        except TimeoutError:
            raise McpToolError(f"MCP server {server!r} did not answer {name} within {timeout:g}s") from None
        except Exception as exc:  # an error result (ToolException), a lost connection, …
            reason = str(exc) if isinstance(exc, ToolException) else _reason(exc)
            message = f"MCP server {server!r}: {name} failed: {reason}"
            told = _redact(message, secrets)
            # A cause that quoted a secret is dropped, so no traceback carries it.
            raise McpToolError(told) from (exc if told == message else None)

    return tool.model_copy(update={"coroutine": bounded})


def _fill(template: str, runtime_env: Mapping[str, EnvValue], where: str) -> str:
    """`template` with each `${NAME}` replaced by that runtime_env value."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in runtime_env:
            raise McpServerError(f"{where} needs {name} in the execution's runtime_env")
        return runtime_env[name].value

    return _PLACEHOLDER.sub(value, template)


def _redact(text: str, secrets: list[str]) -> str:
    """`text` with every secret value replaced by ***."""
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def _timeouts(server: McpServerConfig, default: float) -> tuple[float, float]:
    """(opening, each call): a call gets the server's own timeout, else `default`;
    opening may take as long as the longer of the two."""
    call = default
    if server.http is not None and server.http.timeout_seconds > 0:
        call = float(server.http.timeout_seconds)
    return max(call, default), call


def _reason(exc: BaseException) -> str:
    """A one-line reason from an error that may be wrapped in exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, _mcp_error()):
        return exc.error.message
    if isinstance(exc, anyio.ClosedResourceError | anyio.BrokenResourceError):
        return "the server is no longer connected"
    if isinstance(exc, FileNotFoundError) and exc.filename:
        return f"command {exc.filename!r} not found"
    if isinstance(exc, httpx.HTTPError):
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return str(exc) or type(exc).__name__


def _mcp_error() -> type[McpError] | tuple[()]:
    """The SDK's `McpError` once the SDK is imported (only it raises one); else no type."""
    sdk = sys.modules.get("mcp")
    if sdk is None:
        return ()
    error: type[McpError] = sdk.McpError
    return error


def resolve_command(command: str) -> str:
    """A bare command name is looked up on PATH, then beside the runner's own interpreter,
    so servers installed into the runner's environment (`pip install mcp-server-time`) are
    found even when that environment's bin directory is not on PATH."""
    if os.sep in command or shutil.which(command):
        return command
    beside = Path(sys.executable).with_name(command)
    return str(beside) if beside.exists() else command

"""How an agent's MCP servers are described to the runner (plain data, no I/O).

These mirror the agent spec's `McpServerDefinition` (one of `stdio`, `http`, `docker`,
plus `enabled_tools`) and a sub-agent's server selection, and travel through Temporal
inside `AgentConfig`, so they are frozen, JSON-friendly dataclasses. They are built
from the agent's proto where the agent is loaded; `runner/mcp_tools.py` opens them.

Placeholders: a value such as ``"${GITHUB_TOKEN}"`` in `env_placeholders`, `headers` or
`query_params` is filled from the execution's `runtime_env` when the server is opened.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class EnvValue:
    """One `runtime_env` entry; a secret value is never logged or shown in errors."""

    value: str
    is_secret: bool = False


@dataclass(frozen=True)
class StdioServer:
    """A server the runner starts as its own child process, speaking MCP on stdin/stdout."""

    command: str
    args: list[str] = field(default_factory=list)
    # Child environment variable -> template, e.g. {"TOKEN": "${GITHUB_TOKEN}"}.
    env_placeholders: dict[str, str] = field(default_factory=dict)
    working_dir: str = ""


@dataclass(frozen=True)
class HttpServer:
    """A server reached over MCP's streamable HTTP transport."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    query_params: dict[str, str] = field(default_factory=dict)
    # Per tool call; 0 means the MCP_TOOL_TIMEOUT_SECONDS setting.
    timeout_seconds: int = 0


@dataclass(frozen=True)
class DockerServer:
    """A server run as a container (`docker run -i`), speaking MCP on stdin/stdout."""

    image: str
    args: list[str] = field(default_factory=list)
    env_placeholders: dict[str, str] = field(default_factory=dict)
    network: str = ""


@dataclass(frozen=True)
class McpServerConfig:
    """One MCP server of an agent; exactly one of `stdio`, `http`, `docker` is set.

    `enabled_tools` limits what the model sees; empty means every tool the server lists.
    """

    name: str
    stdio: StdioServer | None = None
    http: HttpServer | None = None
    docker: DockerServer | None = None
    enabled_tools: list[str] = field(default_factory=list)

    @property
    def transport(self) -> str:
        kinds = [k for k in ("stdio", "http", "docker") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(
                f"MCP server {self.name!r} must set exactly one of stdio, http, docker "
                f"(it sets {kinds or 'none'})"
            )
        return kinds[0]


@dataclass(frozen=True)
class McpToolSelection:
    """A sub-agent's access to one of the parent's servers; empty tools = all enabled ones."""

    enabled_tools: list[str] = field(default_factory=list)

"""A small MCP server for the MCP tests: `python mcp_probe_server.py stdio|http <port>`.

Over http it serves MCP's streamable HTTP transport at http://127.0.0.1:<port>/mcp.
"""

from __future__ import annotations

import asyncio
import os
import sys

from mcp.server.fastmcp import Context, FastMCP

server = FastMCP("probe", host="127.0.0.1", log_level="WARNING")


@server.tool()
def echo(text: str) -> str:
    """Return the text unchanged."""
    return f"echo: {text}"


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def env_value(name: str) -> str:
    """The value of an environment variable of this server process."""
    return os.environ.get(name, "<unset>")


@server.tool()
async def wait(seconds: float) -> str:
    """Sleep, then answer (a slow call)."""
    await asyncio.sleep(seconds)
    return f"waited {seconds}s"


@server.tool()
def big_text(kb: int, tag: str = "") -> str:
    """A text of `kb` kilobytes (1000 bytes each) that starts with `tag`: a large result."""
    head = f"{tag}:" if tag else ""
    return head + "z" * max(0, kb * 1000 - len(head))


@server.tool()
def fail(reason: str) -> str:
    """Always fails with the given reason."""
    raise ValueError(reason)


@server.tool()
def request_header(name: str, ctx: Context) -> str:
    """A header of the HTTP request that carried this call."""
    request = ctx.request_context.request
    return request.headers.get(name, "<unset>") if request is not None else "<not over http>"


@server.tool()
def parent_environ() -> str:
    """What this server can read of its parent's (the runner's) environment."""
    try:
        with open(f"/proc/{os.getppid()}/environ", "rb") as file:
            return file.read().replace(b"\0", b"\n").decode(errors="replace")
    except OSError as exc:
        return f"refused: {type(exc).__name__}"


@server.tool()
def own_environ() -> str:
    """This server's own environment variable names, sorted."""
    return ",".join(sorted(os.environ))


@server.tool()
def fail_with_env(name: str) -> str:
    """Fails, quoting an environment variable (as careless servers do with tokens)."""
    raise PermissionError(f"rejected credentials {os.environ.get(name, '')}")


if __name__ == "__main__":
    if sys.argv[1] == "http":
        server.settings.port = int(sys.argv[2])
        server.run(transport="streamable-http")
    else:
        server.run(transport="stdio")

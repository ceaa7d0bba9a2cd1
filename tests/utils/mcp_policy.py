"""The MCP policy the suite runs with: the servers its agents name, allowed, and stdio
servers sandboxed wherever the sandbox can run them (as in production)."""

from __future__ import annotations

import os
import pwd
import sys

from runner.sandbox import can_run

# Named by the agents of the resource, REST and end-to-end tests (the third-party time
# server, the probe server run by this interpreter, a docker image, an example host).
TEST_MCP_POLICY = {
    "mcp_stdio_commands": f"mcp-server-time,{sys.executable}",
    "mcp_docker_images": "mcp/filesystem,mcp/time",
    "mcp_http_hosts": "mcp.example.com",
}


def sandbox_runs(executable: str = sys.executable, user: str = "nobody") -> bool:
    """Whether stdio servers run by `executable` can be started as `user` here: the
    runner must be root, and `user` must reach the interpreter (a Python under /root
    is closed to it)."""
    if os.geteuid() != 0:
        return False
    try:
        account = pwd.getpwnam(user)
    except KeyError:
        return False
    return can_run(executable, account.pw_uid, account.pw_gid)


# `auto` where the sandbox can start this interpreter's servers, else `none`.
TEST_SANDBOX_MODE = "auto" if sandbox_runs() else "none"

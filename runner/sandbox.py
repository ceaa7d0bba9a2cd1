"""How the runner starts a stdio MCP server so that it cannot reach the runner's secrets.

A stdio server is code the runner runs. Started as the runner's own user it could read
the runner's environment (`/proc/<runner>/environ`), its key file and everything else
the runner can. So, when the runner runs as root (`MCP_STDIO_SANDBOX=auto`, the
default, or `user`), every stdio server is started through `runner/sandbox_launch.py`,
which, before it executes the server:

* becomes `MCP_SANDBOX_USER` (default `nobody`): its own uid and gid, no supplementary
  groups, and `no_new_privs` (a setuid program cannot take it back to root). Another
  user's `/proc/<pid>/environ` and `mem` are closed to it, and so are files readable by
  their owner only (the runner's key file, `dev`'s data folder);
* gets an environment of only what the agent's MCP config gives it (`env_placeholders`,
  filled from the execution's `runtime_env`) plus `PATH`, and `HOME`, `USER` and
  `LOGNAME` of the sandbox user; nothing of the runner's;
* changes to the server's `working_dir` as that user (else the user's home, else `/`).

A runner that is not root cannot start processes as another user: with `auto` it refuses
to start stdio servers, saying why, unless the operator sets `MCP_STDIO_SANDBOX=none`
(servers then run as the runner's own user, with only the SDK's minimal environment plus
the config's). Docker servers are not wrapped: the container is their sandbox, and the
`docker` client needs the runner's access to the engine.

What this does not cover (README, "MCP servers: what may run"): the network (a server
reaches whatever the runner's host reaches), files readable by everyone, CPU and memory
limits, and what an allowed command does with the arguments an agent gives it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from mcp import StdioServerParameters

    from core.settings import Settings

LAUNCHER = Path(__file__).with_name("sandbox_launch.py")
SandboxMode = Literal["auto", "user", "none"]


class SandboxUnavailable(RuntimeError):
    """Stdio servers cannot be started as the settings ask; the message says why and what to set."""


@dataclass(frozen=True)
class StdioSandbox:
    """How stdio servers are started: `MCP_STDIO_SANDBOX` and `MCP_SANDBOX_USER`."""

    mode: SandboxMode = "auto"
    user: str = "nobody"

    @classmethod
    def from_settings(cls, settings: Settings) -> StdioSandbox:
        return cls(settings.mcp_stdio_sandbox, settings.mcp_sandbox_user)

    def wrap(self, params: StdioServerParameters) -> StdioServerParameters:
        """`params` as the runner should start them: through the launcher as the sandbox
        user, or unchanged when the mode is `none`."""
        if self.mode == "none":
            return params
        account, executable = self.check(params.command)
        env = dict(params.env or {})
        argv = [
            "-I", "-S", str(LAUNCHER),
            "--uid", str(account.pw_uid), "--gid", str(account.pw_gid),
            "--user", account.pw_name, "--home", account.pw_dir,
            "--keep", ",".join(env),  # names only: values stay out of argv
            "--cwd", str(params.cwd or ""),
            "--", executable, *params.args,
        ]
        return params.model_copy(update={"command": sys.executable, "args": argv, "env": env, "cwd": None})

    def check(self, command: str) -> tuple[pwd.struct_passwd, str]:
        """The sandbox user and the path of `command`, once it is sure that this runner
        can start `command` as that user (SandboxUnavailable says why not)."""
        if os.geteuid() != 0:
            raise SandboxUnavailable(
                f"stdio MCP servers are started as the user MCP_SANDBOX_USER ({self.user!r}) "
                f"only when the runner runs as root, and it runs as uid {os.geteuid()} "
                f"(MCP_STDIO_SANDBOX={self.mode}): run the runner as root, or set "
                "MCP_STDIO_SANDBOX=none to start them as the runner's own user, unsandboxed"
            )
        try:
            account = pwd.getpwnam(self.user)
        except KeyError:
            raise SandboxUnavailable(
                f"MCP_SANDBOX_USER {self.user!r} is not a user on the runner's machine"
            ) from None
        if account.pw_uid == 0 or account.pw_gid == 0:
            raise SandboxUnavailable(f"MCP_SANDBOX_USER {self.user!r} is root: name an unprivileged user")
        executable = _executable(command)
        for path in _needed(executable):
            if not can_run(path, account.pw_uid, account.pw_gid):
                raise SandboxUnavailable(
                    f"MCP_SANDBOX_USER {self.user!r} cannot run {path!r} (it or a folder above "
                    "it is closed to that user): install the server where that user can read "
                    "it, or name another MCP_SANDBOX_USER"
                )
        return account, executable


def can_run(path: str, uid: int, gid: int, *, bits: int = 0o5) -> bool:
    """Whether `uid:gid`, with no other groups, may search every folder above `path` (as
    it resolves) and read and execute it (`bits`: read only = 0o4): a check before
    starting, so a server the sandbox user cannot reach fails with that reason rather
    than a closed pipe."""
    target = Path(os.path.realpath(path))
    try:
        for folder in reversed(target.parents):
            if not _allows(folder.stat(), uid, gid, 0o1):
                return False
        return _allows(target.stat(), uid, gid, bits)
    except OSError:
        return False


def _allows(stat: os.stat_result, uid: int, gid: int, bits: int) -> bool:
    shift = 6 if stat.st_uid == uid else 3 if stat.st_gid == gid else 0
    return (stat.st_mode >> shift) & bits == bits


def _needed(executable: str) -> list[str]:
    """The executable and, for a script, the interpreter its `#!` line names."""
    try:
        with open(executable, "rb") as file:
            head = file.readline(256)
    except OSError:
        return [executable]
    if head.startswith(b"#!") and (words := head[2:].decode(errors="replace").split()):
        return [executable, words[0]]
    return [executable]


def _executable(command: str) -> str:
    """The path the launcher runs: the launcher starts with a clean PATH, so a bare name is
    found here, where the runner looks for it (runner/mcp_tools.py `resolve_command`)."""
    if os.sep in command:
        return command
    found = shutil.which(command)
    if found is None:
        raise FileNotFoundError(2, "No such file or directory", command)
    return found

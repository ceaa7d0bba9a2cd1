"""Start one stdio MCP server as an unprivileged user (runner/sandbox.py says why).

Run by the runner as root, with `python -I -S` (no site, no PYTHON* variables), and
only the standard library:

    sandbox_launch.py --uid U --gid G --user NAME --home DIR --keep A,B --cwd DIR -- COMMAND ARG…

It drops every group, becomes U:G, sets `no_new_privs`, checks that root cannot be
taken back, builds the server's environment from the variables named in `--keep`
(values come from its own environment, never from argv) plus PATH, HOME, USER and
LOGNAME, changes directory as that user and replaces itself with COMMAND, which keeps
this process id. Any failure exits 126 with one line on stderr (the runner's log).
"""

from __future__ import annotations

import ctypes
import os
import sys

_PR_SET_NO_NEW_PRIVS = 38
_OPTIONS = ("--uid", "--gid", "--user", "--home", "--keep", "--cwd")
_DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"


def _parse(argv: list[str]) -> tuple[dict[str, str], list[str]]:
    split = argv.index("--")
    options, command = argv[:split], argv[split + 1 :]
    values = dict(zip(options[::2], options[1::2], strict=True))
    if set(values) != set(_OPTIONS) or not command:
        raise ValueError(f"usage: {' '.join(o + ' …' for o in _OPTIONS)} -- COMMAND [ARG…]")
    return values, command


def _become(uid: int, gid: int) -> None:
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    try:
        os.setresuid(0, 0, 0)
    except PermissionError:
        return
    raise OSError("root could be taken back after dropping it")


def main(argv: list[str]) -> None:
    options, command = _parse(argv)
    uid, gid, home, user = int(options["--uid"]), int(options["--gid"]), options["--home"], options["--user"]
    env = {
        "PATH": os.environ.get("PATH") or _DEFAULT_PATH,
        "HOME": home,
        "USER": user,
        "LOGNAME": user,
    }
    env.update({name: os.environ[name] for name in options["--keep"].split(",") if name in os.environ})
    _become(uid, gid)
    os.umask(0o077)
    where = options["--cwd"] or (home if os.path.isdir(home) and os.access(home, os.X_OK) else "/")
    os.chdir(where)
    os.execve(command[0], command, env)


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except Exception as exc:
        print(f"MCP server sandbox: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        os._exit(126)

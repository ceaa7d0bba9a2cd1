"""The stack's own processes — `serve`, `worker`, `runner` — next to the backing services:
the one way `dev`, the benchmarks and the end-to-end tests start them.

`StackProcesses` runs them as child processes of this one (what `dev` and the benchmarks
do); on Linux each child dies with its parent, even when the parent is killed with
SIGKILL. (`stigmer_service/serve.py`'s `serve_in_process` runs the server as a task of the
running event loop instead, for the end-to-end tests.)
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from devtools.embedded import ServiceEndpoints, die_with_parent

if TYPE_CHECKING:
    pass

STACK_COMMANDS = ("serve", "worker", "runner")
# What `dev` runs: `serve` also runs the workflow worker (SERVE_RUNS_WORKER), one Python
# process fewer on a developer's machine; deployments run the three apart. The workflow
# runner runs workflow documents beside the agent runner.
DEV_COMMANDS = ("serve", "runner", "workflow-runner")


class StackError(RuntimeError):
    """A process of the stack failed to start (the message says which, and where its log is)."""


def backing_settings(endpoints: ServiceEndpoints) -> dict[str, str]:
    """Settings fields that point a process at the backing services."""
    return {
        "mongodb_uri": endpoints.mongodb_uri,
        "redis_url": endpoints.redis_url,
        "temporal_address": endpoints.temporal_address,
    }


def process_environment(endpoints: ServiceEndpoints, http_port: int, grpc_port: int,
                        *, key_dir: Path | None = None, **overrides: Any) -> dict[str, str]:
    """The environment the server, worker and runner child processes share: this
    process's, plus the backing services, the ports, and `overrides` (Settings field
    names, e.g. `mongodb_database="bench"`)."""
    values = {
        **backing_settings(endpoints),
        "http_port": http_port,
        "grpc_port": grpc_port,
        "server_grpc_target": f"127.0.0.1:{grpc_port}",
        **overrides,
    }
    env = {**os.environ, **{name.upper(): str(value) for name, value in values.items()}}
    runner_key_set = any(env.get(name) for name in ("RUNNER_API_KEY", "RUNNER_API_KEYS", "RUNNER_API_KEY_FILE"))
    if env.get("API_KEYS") and not runner_key_set:
        # Keys are on: the runner needs a runner key of its own (a user key may not send
        # status), so this stack makes one up, in a file only this user can read when
        # there is a folder for it (no process then holds it in its environment).
        key = secrets.token_urlsafe(24)
        if key_dir is None:
            env["RUNNER_API_KEY"] = key
        else:
            env["RUNNER_API_KEY_FILE"] = str(write_private(key_dir / "runner.key", key))
    return env


# What only the server and worker hold: a runner runs agents' tools, so it never gets the
# stores' addresses, the users' keys or the secrets key (it reaches the server over gRPC).
SERVER_ONLY_SETTINGS = ("MONGODB_URI", "REDIS_URL", "API_KEYS", "RUNNER_API_KEYS", "SECRETS_KEY")


def runner_environment(env: dict[str, str]) -> dict[str, str]:
    return {name: value for name, value in env.items() if name not in SERVER_ONLY_SETTINGS}


def write_private(path: Path, text: str) -> Path:
    """`text` in a file that only this user may read (created so, never widened)."""
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
    return path


def spawn(command: str, env: dict[str, str], log_path: Path, *, module: str = "") -> subprocess.Popen[bytes]:
    """`stigmer-service <command>` (or `python -m <module>`, e.g. an instrumented runner) as
    a child process that dies with this one, its output appended to `log_path`."""
    argv = [sys.executable, "-m", module] if module else [sys.executable, "-m", "stigmer_service.cli", command]
    with open(log_path, "ab") as log_file:
        return subprocess.Popen(
            argv,
            env=env, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent(),
        )


def stop_process(process: subprocess.Popen[bytes], grace: float = 15.0) -> None:
    """SIGTERM one child, wait up to `grace` seconds, then SIGKILL it."""
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def log_tail(path: Path, lines: int = 5) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class StackProcesses:
    """`serve`, `worker` and/or `runner` as child processes, logs in `log_dir/<name>.log`.

        with StackProcesses(env, log_dir) as stack:
            stack.wait_ready("http://127.0.0.1:8080")
    """

    def __init__(
        self, env: dict[str, str], log_dir: Path, commands: Iterable[str] = STACK_COMMANDS,
        *, modules: dict[str, str] | None = None,
    ) -> None:
        self.env = env
        self.modules = dict(modules or {})  # command -> module run in its place
        self.log_dir = Path(log_dir)
        self.commands = tuple(commands)
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def pids(self) -> dict[str, int]:
        return {name: process.pid for name, process in self.processes.items()}

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def start(self) -> StackProcesses:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for name in self.commands:
            env = runner_environment(self.env) if name == "runner" else self.env
            self.processes[name] = spawn(name, env, self.log_path(name), module=self.modules.get(name, ""))
        return self

    def exited(self) -> tuple[str, int] | None:
        """(name, exit code) of the first child that has stopped, if any."""
        for name, process in self.processes.items():
            if process.poll() is not None:
                return name, process.returncode
        return None

    def wait_ready(self, url: str, *, path: str = "/readyz", timeout: float = 60.0) -> None:
        """Until `url + path` answers 200; StackError if a child exits or time runs out."""
        deadline = time.monotonic() + timeout
        while True:
            if (stopped := self.exited()) is not None:
                name, code = stopped
                tail = log_tail(self.log_path(name), 1)
                raise StackError(f"{name} exited with code {code} while starting: {tail.strip()} "
                                 f"(log: {self.log_path(name)})")
            try:
                if httpx.get(f"{url}{path}", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise StackError(f"the server at {url} was not ready within {timeout:.0f}s "
                                 f"(log: {self.log_path('serve')})")
            time.sleep(0.1)

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM all (they stop cleanly on it), wait, then SIGKILL what is left."""
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def __enter__(self) -> StackProcesses:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


"""`stigmer-service dev` as a new user runs it: the stack comes up, the demo execution
completes in the terminal, and Ctrl-C leaves no process behind."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from devtools.ports import free_port
from tests.utils.processes import alive, descendants


def stack_command(pid: int) -> str:
    """`serve`, `worker` or `runner` for a process of the stack; "" for anything else."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return ""
    if b"stigmer_service.cli" in argv and len(argv) > argv.index(b"stigmer_service.cli") + 1:
        return argv[argv.index(b"stigmer_service.cli") + 1].decode()
    return ""


@contextlib.contextmanager
def running_dev(tmp_path: Path, env: dict[str, str], *options: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`stigmer-service dev` with `options`, once it says the stack is running: the
    process and its output so far. Killed at the end if it still runs."""
    log_path = tmp_path / "dev.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "stigmer_service.cli", "dev", *options], env=env,
                                   stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        while "stack is running" not in log_path.read_text():
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
        yield process, log_path.read_text()
    finally:
        if process.poll() is None:
            process.kill()


def test_dev_starts_everything_runs_the_demo_and_stops_cleanly(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DATA_DIR": str(tmp_path / "data"),
        "HTTP_PORT": str(free_port()),
        "GRPC_PORT": str(free_port()),
        "SCRIPTED_TOKEN_DELAY_MS": "2",
        "SCRIPTED_STEP_DELAY_MS": "5",
        "API_KEYS": "dev-user-key",
    }
    for name in ("MONGODB_URI", "REDIS_URL", "TEMPORAL_ADDRESS", "RUNNER_API_KEY", "RUNNER_API_KEYS",
                 "RUNNER_API_KEY_FILE", "MCP_STDIO_COMMANDS", "MCP_STDIO_SANDBOX"):
        env.pop(name, None)  # everything embedded, as on a fresh machine
    with running_dev(tmp_path, env) as (process, output):
        assert f"http://127.0.0.1:{env['HTTP_PORT']}/docs" in output
        assert "COMPLETED" in output and "Plan a short trip to Lisbon" in output
        children = descendants(process.pid)
        assert len(children) >= 6  # serve, runner, workflow-runner, mongo, redis, temporal
        # The workflow worker runs inside serve (SERVE_RUNS_WORKER); the demo completing
        # above shows it works there.
        assert sorted(filter(None, map(stack_command, children))) == ["runner", "serve", "workflow-runner"]
        # The runner key dev made up is in a file only this user reads, not in any environment;
        # the data folder (stores, logs, key) is closed to other users, such as MCP servers'.
        data = tmp_path / "data"
        assert (data.stat().st_mode & 0o777, (data / "runner.key").stat().st_mode & 0o777) == (0o700, 0o600)
        (runner,) = [pid for pid in children if stack_command(pid) == "runner"]
        environ = dict(item.split(b"=", 1) for item in Path(f"/proc/{runner}/environ").read_bytes().split(b"\0") if b"=" in item)
        assert b"RUNNER_API_KEY" not in environ and environ[b"RUNNER_API_KEY_FILE"] == str(data / "runner.key").encode()
        assert environ[b"MCP_STDIO_COMMANDS"] == b"mcp-server-time"  # the demo's server, and only it
        # Nor does it get the stores' addresses or the users' keys: it talks to serve over gRPC.
        assert not {b"REDIS_URL", b"MONGODB_URI", b"API_KEYS", b"SECRETS_KEY"} & environ.keys()
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
        deadline = time.monotonic() + 15
        while any(alive(pid) for pid in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in children if alive(pid)], "processes left behind"
        assert (tmp_path / "data" / "mongo").is_dir()  # data kept for the next start


def test_dev_without_our_runner_leaves_the_runner_queue_to_another(tmp_path: Path) -> None:
    """`dev --no-runner`: everything but our runner, so Stigmer's agent-runner (or any
    other) is the only one polling the runner queue; no demo execution waits for it."""
    env = {**os.environ, "DATA_DIR": str(tmp_path / "data"), "HTTP_PORT": str(free_port()),
           "GRPC_PORT": str(free_port())}
    for name in ("MONGODB_URI", "REDIS_URL", "TEMPORAL_ADDRESS"):
        env.pop(name, None)
    with running_dev(tmp_path, env, "--no-runner") as (process, output):
        assert "no runner started: run yours on Temporal" in output and "'agent_execution_runner'" in output
        assert f"sending status to 127.0.0.1:{env['GRPC_PORT']}" in output
        assert "running a demo execution" not in output
        assert sorted(filter(None, map(stack_command, descendants(process.pid)))) == ["serve"]
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0

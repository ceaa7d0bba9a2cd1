"""`stigmer-service dev` under the signals that end it: started in the background (SIGINT
ignored, as a shell does for `cmd &`) it still stops cleanly on SIGINT; a second `dev` on
the same data folder says in one line where the first one serves; and a `dev` killed
with SIGKILL takes every child with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from devtools.ports import free_port, port_is_free
from tests.utils.processes import alive, descendants

START_TIMEOUT = 90.0


def dev_environment(data_dir: Path) -> dict[str, str]:
    env = {**os.environ, "DATA_DIR": str(data_dir), "HTTP_PORT": str(free_port()), "GRPC_PORT": str(free_port())}
    for name in ("MONGODB_URI", "REDIS_URL", "TEMPORAL_ADDRESS"):
        env.pop(name, None)  # everything embedded
    return env


def start_dev(env: dict[str, str], log_path: Path, *, background: bool = False) -> subprocess.Popen:
    def ignore_sigint() -> None:  # what a non-interactive shell does to `cmd &`
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    with open(log_path, "wb") as log:
        return subprocess.Popen([sys.executable, "-m", "stigmer_service.cli", "dev", "--no-demo"], env=env,
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                preexec_fn=ignore_sigint if background else None)


def wait_until_running(process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while "stack is running" not in log_path.read_text():
        assert process.poll() is None, log_path.read_text()
        assert time.monotonic() < deadline, log_path.read_text()
        time.sleep(0.2)


def wait_all_gone(pids: set[int], timeout: float = 20.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return [pid for pid in pids if alive(pid)]


def test_background_dev_refuses_a_second_dev_and_stops_on_sigint(tmp_path: Path) -> None:
    env = dev_environment(tmp_path / "data")
    log_path = tmp_path / "dev.log"
    first = start_dev(env, log_path, background=True)
    try:
        wait_until_running(first, log_path)
        children = descendants(first.pid)
        assert len(children) >= 5  # serve (with the workflow worker), runner, mongo, redis, temporal

        second = subprocess.run([sys.executable, "-m", "stigmer_service.cli", "dev", "--no-demo"],
                                env={**env, "HTTP_PORT": str(free_port())}, capture_output=True, text=True,
                                stdin=subprocess.DEVNULL, timeout=60)
        lines = (second.stdout + second.stderr).strip().splitlines()
        assert second.returncode == 1
        assert len(lines) == 1, lines
        assert "a stack is already running on" in lines[0] and str(tmp_path / "data") in lines[0]
        assert f"http://127.0.0.1:{env['HTTP_PORT']}" in lines[0]
        assert descendants(first.pid) == children  # the first one is untouched

        first.send_signal(signal.SIGINT)
        assert first.wait(timeout=60) == 0, log_path.read_text()
        assert not wait_all_gone(children), "processes left behind"
        assert "stopped" in log_path.read_text()
        assert not (tmp_path / "data" / "dev.json").exists()
    finally:
        if first.poll() is None:
            first.kill()


def test_a_killed_dev_takes_every_child_with_it(tmp_path: Path) -> None:
    env = dev_environment(tmp_path / "data")
    log_path = tmp_path / "dev.log"
    process = start_dev(env, log_path)
    try:
        wait_until_running(process, log_path)
        children = descendants(process.pid)
        assert len(children) >= 5
        process.kill()  # SIGKILL: no clean-up code runs in dev
        process.wait(timeout=10)
        assert not wait_all_gone(children), "processes left behind, re-parented and still running"
        assert port_is_free(int(env["HTTP_PORT"])) and port_is_free(int(env["GRPC_PORT"]))
    finally:
        if process.poll() is None:
            process.kill()

"""The process commands' surface: `--help` lists the environment variables each reads
(generated from Settings), `--version`, logs without colour codes, and `dev` without the
`dev` extra says what to install."""

from __future__ import annotations

import os
import pty
import re
import signal
import subprocess
import sys

import pytest

from devtools import dev
from infra.settings import Settings
from stigmer_service import cli
from stigmer_service.settings_help import COMMAND_SETTINGS
from wfrunner.settings import WorkflowRunnerSettings


def help_text(command: str, capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit):
        cli.main([command, "--help"])
    return capsys.readouterr().out


def test_every_setting_is_listed_under_some_command() -> None:
    listed = {name for names in COMMAND_SETTINGS.values() for name in names}
    every = set(WorkflowRunnerSettings.model_fields)  # Settings' fields and the workflow runner's
    assert every <= listed, every - listed
    assert listed <= every


def test_serve_help_lists_its_variables_with_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    text = help_text("serve", capsys)
    assert "MONGODB_URI" in text and "API_KEYS" in text
    assert "HTTP_PORT" in text and "default: 8080" in text
    assert re.search(r"TEMPORAL_AGENT_EXECUTION_STIGMER_TASK_QUEUE +default: agent_execution_stigmer "
                     r"\(also read as WORKFLOW_TASK_QUEUE\)", text)
    assert "OPENAI_API_KEY" not in text  # the runner's, not the server's


def test_runner_and_worker_help_list_theirs(capsys: pytest.CaptureFixture[str]) -> None:
    runner = help_text("runner", capsys)
    assert "SERVER_GRPC_TARGET" in runner and "UPDATE_INTERVAL_MS" in runner and "default: 20" in runner
    assert "HTTP_PORT" not in runner
    worker = help_text("worker", capsys)
    assert "HEARTBEAT_TIMEOUT_SECONDS" in worker and "MONGODB_URI" in worker


def test_workflow_runner_help_lists_its_queues(capsys: pytest.CaptureFixture[str]) -> None:
    text = help_text("workflow-runner", capsys)
    assert re.search(r"TEMPORAL_WORKFLOW_EXECUTION_RUNNER_TASK_QUEUE +default: workflow_execution_runner", text)
    assert re.search(r"TEMPORAL_ZIGFLOW_EXECUTION_TASK_QUEUE +default: zigflow_execution", text)
    assert "SERVER_GRPC_TARGET" in text and "MONGODB_URI" not in text


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == "stigmer-service 0.1.0"


def test_server_logs_carry_no_colour_codes_when_stderr_is_a_file_and_stdout_a_terminal(tmp_path) -> None:
    # `stigmer-service serve 2>serve.log` in a terminal: uvicorn's own formatter would
    # colour its lines there (it looks at stdout). The process's logging, set up as
    # main() does, with the server's uvicorn config, writing an error to the file:
    code = (
        "import logging; from stigmer_service import cli; from stigmer_service.serve import http_config;"
        "from infra.settings import Settings; cli.configure_logging(False); http_config(None, Settings());"
        "logging.getLogger('uvicorn.error').error('Exception in ASGI application')"
    )
    leader, follower = pty.openpty()
    log_path = tmp_path / "serve.log"
    try:
        with open(log_path, "wb") as log:
            result = subprocess.run([sys.executable, "-c", code], stdout=follower, stderr=log, timeout=60)
    finally:
        os.close(leader)
        os.close(follower)
    text = log_path.read_text()
    assert result.returncode == 0, text
    assert "ERROR uvicorn.error: Exception in ASGI application" in text
    assert "\x1b[" not in text


def test_dev_without_the_extra_says_what_to_install(monkeypatch, capsys) -> None:
    monkeypatch.setattr(dev, "find_executable", lambda name: None)
    monkeypatch.setattr(dev.shutil, "which", lambda name: None)
    monkeypatch.setattr(dev, "find_spec", lambda name: None)
    assert dev.run_dev(Settings(data_dir="/nonexistent/never-created"), demo=False) == 1
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    assert "pip install 'stigmer-service[dev]'" in out[0] and "temporal" in out[0]


@pytest.mark.parametrize(("command", "on_uvloop"), [("serve", True), ("worker", True), ("runner", False)])
def test_the_runner_alone_runs_on_the_standard_event_loop(monkeypatch, command: str, on_uvloop: bool) -> None:
    """The runner spawns MCP servers: uvloop forks them from a multi-threaded process and
    gRPC's at-fork handlers crash some (ARCHITECTURE.md, "Processes")."""
    chosen: list[bool] = []

    def record(main, *, uvloop: bool) -> None:  # type: ignore[no-untyped-def]
        chosen.append(uvloop)

    monkeypatch.setattr(cli, "run_until_signalled", record)
    monkeypatch.setattr(cli, "get_settings", lambda: Settings(
        mongodb_uri="mongodb://127.0.0.1:1", redis_url="redis://127.0.0.1:1", temporal_address="127.0.0.1:1"))
    getattr(cli, f"cmd_{command}")(None)
    assert chosen == [on_uvloop]


STOPPABLE = """
import signal, sys, time
if sys.argv[1] == "background":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # what a shell does to `cmd &`
from devtools.dev import stop_on_signals
stop_on_signals()
try:
    print("waiting", flush=True)
    time.sleep(60)
except KeyboardInterrupt as stop:
    print(f"stopping on {stop}", flush=True)
    sys.exit(0)
sys.exit(3)
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
@pytest.mark.parametrize("mode", ["foreground", "background"])
def test_dev_turns_each_stop_signal_into_a_clean_stop(mode: str, sig: signal.Signals) -> None:
    process = subprocess.Popen([sys.executable, "-c", STOPPABLE, mode], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "waiting"  # handlers are in place
        process.send_signal(sig)
        out, _ = process.communicate(timeout=30)
        assert process.returncode == 0
        assert out.strip() == f"stopping on {sig.name}"
    finally:
        if process.poll() is None:
            process.kill()


# What each process may not hold (README, "Memory at idle"): the parser of every command
# imports no client; the runner no web server or MongoDB driver, no agent engine until
# its first execution and no MCP SDK until an agent declares a server; the server and
# the worker no agent engine.
PROCESS_IMPORTS = {
    "stigmer_service.cli": ("rich", "httpx", "client.commands", "fastapi", "temporalio"),
    "stigmer_service.serve": ("langchain_core", "langgraph", "mcp", "rich"),
    "stigmer_service.worker": ("fastapi", "uvicorn", "langchain_core", "langgraph", "mcp", "rich", "httpx"),
    "runner.worker": ("fastapi", "uvicorn", "starlette", "pymongo", "mcp", "langchain_mcp_adapters",
                      "langchain_core", "langgraph", "langsmith", "runner.engine", "httpx", "rich"),
    "wfrunner.worker": ("fastapi", "uvicorn", "starlette", "pymongo", "redis", "langgraph", "langchain_core",
                        "mcp", "persistence", "api"),
}


@pytest.mark.parametrize("module", PROCESS_IMPORTS)
def test_each_process_imports_only_what_it_uses(module: str) -> None:
    code = (f"import sys, stigmer_service.cli, {module}; "
            f"print(' '.join(m for m in {PROCESS_IMPORTS[module]!r} if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            timeout=60).stdout.split()
    assert loaded == [], f"{module} imports {loaded}"

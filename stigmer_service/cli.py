"""`stigmer-service`: run the processes (dev, serve, worker, runner) or talk to a server
(run, follow, get, list, cancel)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from importlib.metadata import PackageNotFoundError, version

from client.arguments import add_commands as add_client_commands
from infra.settings import Settings, get_settings
from stigmer_service.settings_help import settings_epilog


def run_until_signalled(main: Callable[[asyncio.Event], Awaitable[None]], *, uvloop: bool) -> None:
    """Run `main(stop)` and set `stop` on SIGINT/SIGTERM so it can shut down cleanly.

    `uvloop`: run on uvloop when it is installed — the server's hot path (gRPC, MongoDB,
    Redis, SSE) is event-loop bound, and uvloop cuts its CPU per status update by about
    a third (see bench/update_pipeline.py). The worker uses it too. The runner does not:
    see `cmd_runner`.
    """

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await main(stop)

    if uvloop:
        try:
            import uvloop as loop_module
        except ImportError:
            pass
        else:
            loop_module.run(runner())
            return
    asyncio.run(runner())


def require_backing_services(settings: Settings) -> None:
    missing = [
        name
        for name, value in (
            ("MONGODB_URI", settings.mongodb_uri),
            ("REDIS_URL", settings.redis_url),
            ("TEMPORAL_ADDRESS", settings.temporal_address),
        )
        if not value
    ]
    if missing:
        raise SystemExit(
            f"{', '.join(missing)} not set; use `stigmer-service dev` to run everything embedded"
        )


def cmd_serve(args: argparse.Namespace) -> None:
    from stigmer_service.serve import serve
    from stigmer_service.startup import ServeError

    settings = get_settings()
    require_backing_services(settings)
    try:
        run_until_signalled(lambda stop: serve(settings, stop=stop), uvloop=True)
    except ServeError as exc:
        raise SystemExit(f"stigmer-service serve: {exc}") from None


def cmd_worker(args: argparse.Namespace) -> None:
    from stigmer_service.worker import run_worker

    settings = get_settings()
    require_backing_services(settings)
    run_until_signalled(lambda stop: run_worker(settings, stop=stop), uvloop=True)


def cmd_runner(args: argparse.Namespace) -> None:
    from runner.worker import run_runner

    settings = get_settings()
    if not settings.temporal_address:
        raise SystemExit("TEMPORAL_ADDRESS not set; use `stigmer-service dev` to run everything")
    # The standard event loop, not uvloop: the runner starts MCP servers as child
    # processes, and uvloop spawns with fork() (libuv), which runs every at-fork handler
    # of this multi-threaded process in the child before it can exec — gRPC's among them,
    # which crashed about one child in ten (SIGSEGV in an `event_engine` thread), so the
    # server's stdin closed before the MCP handshake. The standard loop spawns through
    # CPython's subprocess (vfork + exec, no at-fork handlers). bench/mcp_starts.py.
    run_until_signalled(lambda stop: run_runner(settings, stop=stop), uvloop=False)


def cmd_workflow_runner(args: argparse.Namespace) -> None:
    from wfrunner.settings import WorkflowRunnerSettings
    from wfrunner.worker import run_workflow_runner

    settings = WorkflowRunnerSettings()
    if not settings.temporal_address:
        raise SystemExit("TEMPORAL_ADDRESS not set; use `stigmer-service dev` to run everything")
    run_until_signalled(lambda stop: run_workflow_runner(settings, stop=stop), uvloop=True)


def cmd_dev(args: argparse.Namespace) -> None:
    from devtools.dev import run_dev

    sys.exit(run_dev(get_settings(), demo=not args.no_demo, runner=not args.no_runner))


def package_version() -> str:
    try:
        return version("stigmer-service")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stigmer-service", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    def process_command(name: str, help: str, func: Callable[[argparse.Namespace], None]) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=help, description=help, epilog=settings_epilog(name),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
        command.set_defaults(func=func)
        return command

    dev = process_command("dev", "the whole stack, embedded (no Docker), with a demo", cmd_dev)
    dev.add_argument("--no-demo", action="store_true", help="don't run the demo execution")
    dev.add_argument("--no-runner", action="store_true",
                     help="start everything but our runners, agent and workflow (bring your own, e.g. Stigmer's); no demo")
    process_command("serve", "REST/SSE and gRPC server", cmd_serve)
    process_command("worker", "Temporal worker: workflow + service activities", cmd_worker)
    process_command("runner", "Temporal worker: agent activities", cmd_runner)
    process_command("workflow-runner", "Temporal worker: workflow documents and their tasks", cmd_workflow_runner)
    add_client_commands(sub)
    return parser


def configure_logging(verbose: bool) -> None:
    """One plain format for every log line of the process: no colour codes, so log files
    and pipes stay readable (and greppable)."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # One line per HTTP request drowns the interesting output.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def forward_temporal_core_logs() -> None:
    """Temporal's core (Rust) writes its own, coloured log lines to stderr; send them
    through Python logging instead, in the format above."""
    from temporalio.runtime import LogForwardingConfig, LoggingConfig, Runtime, TelemetryConfig

    logging_config = LoggingConfig(filter=LoggingConfig.default.filter,
                                   forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")))
    Runtime.set_default(Runtime(telemetry=TelemetryConfig(logging=logging_config)), error_if_already_set=False)


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose)
    if args.command in ("serve", "worker", "runner", "workflow-runner"):
        forward_temporal_core_logs()
    args.func(args)


if __name__ == "__main__":
    main()

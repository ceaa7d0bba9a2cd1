"""`stigmer-service`: run the processes (dev, serve, worker, runner) or talk to a server
(run, get, list, cancel)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable

from client import cli as client_cli
from core.settings import Settings, get_settings

PROCESS_COMMANDS = ("dev", "serve", "worker", "runner")
CLIENT_COMMANDS = ("run", "get", "list", "cancel")


def run_until_signalled(main: Callable[[asyncio.Event], Awaitable[None]], *, uvloop: bool = False) -> None:
    """Run `main(stop)` and set `stop` on SIGINT/SIGTERM so it can shut down cleanly.

    `uvloop`: run on uvloop when it is installed — the server's hot path (gRPC, MongoDB,
    Redis, SSE) is event-loop bound, and uvloop cuts its CPU per status update by about
    a third (see bench/update_pipeline.py).
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
            loop_module = None
        if loop_module is not None:
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
    from api.server import serve

    settings = get_settings()
    require_backing_services(settings)
    run_until_signalled(lambda stop: serve(settings, stop=stop), uvloop=True)


def cmd_worker(args: argparse.Namespace) -> None:
    from workflows.worker import run_worker

    settings = get_settings()
    require_backing_services(settings)
    run_until_signalled(lambda stop: run_worker(settings, stop=stop))


def cmd_runner(args: argparse.Namespace) -> None:
    from runner.worker import run_runner

    settings = get_settings()
    if not settings.temporal_address:
        raise SystemExit("TEMPORAL_ADDRESS not set; use `stigmer-service dev` to run everything")
    run_until_signalled(lambda stop: run_runner(settings, stop=stop))


def cmd_dev(args: argparse.Namespace) -> None:
    from devtools.dev import run_dev

    sys.exit(run_dev(get_settings(), demo=not args.no_demo))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stigmer-service", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    dev = sub.add_parser("dev", help="the whole stack, embedded (no Docker), with a demo")
    dev.add_argument("--no-demo", action="store_true", help="don't run the demo execution")
    dev.set_defaults(func=cmd_dev)
    sub.add_parser("serve", help="REST/SSE and gRPC server").set_defaults(func=cmd_serve)
    sub.add_parser("worker", help="Temporal worker: workflow + service activities").set_defaults(func=cmd_worker)
    sub.add_parser("runner", help="Temporal worker: agent activities").set_defaults(func=cmd_runner)
    client_cli.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # One line per HTTP request drowns the interesting output.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    args.func(args)


if __name__ == "__main__":
    main()

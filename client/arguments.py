"""The arguments of the client commands (`run`, `follow`, `get`, `list`, `cancel`).

Only argparse (and the client's settings) here: every `stigmer-service` process builds the whole parser, so the
client's own imports (httpx, rich, the renderers) wait in client/commands.py until a
client command runs.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from client.settings import DEFAULT_URL


def _command(name: str) -> Callable[[argparse.Namespace], None]:
    """The handler `client.commands.<name>`, imported when the command runs."""

    def command(args: argparse.Namespace) -> None:
        from client import commands

        commands.as_command(getattr(commands, name))(args)

    return command


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `run`, `follow`, `get`, `list` and `cancel` on the `stigmer-service` parser."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", help=f"server URL (default: $STIGMER_URL or {DEFAULT_URL})")
    common.add_argument("--api-key", help="API key (default: $STIGMER_API_KEY)")

    run = subparsers.add_parser("run", parents=[common], help="create an execution and watch it live")
    run.add_argument("message", help="the message to the agent (with --workflow: the trigger message)")
    run.add_argument("--agent", help="agent name or id (starts a new session)")
    run.add_argument("--workflow", help="workflow name or id: run it and follow its tasks live")
    run.add_argument("--session", help="session id (continues that conversation)")
    run.add_argument("--model", help="model for this execution, e.g. scripted, openai:gpt-4o-mini")
    run.add_argument("--no-follow", action="store_true", help="print the execution id and return")
    run.set_defaults(func=_command("cmd_run"))

    get = subparsers.add_parser("get", parents=[common], help="show an execution")
    get.add_argument("execution_id")
    get.add_argument("--json", action="store_true", help="print the raw JSON")
    get.set_defaults(func=_command("cmd_get"))

    list_ = subparsers.add_parser(
        "list", parents=[common], help="list executions, newest first",
        description="List executions, newest first. Piped or redirected, it prints one "
                    "tab-separated row per execution (id, phase, session, started, message).",
    )
    list_.add_argument("--session", help="only this session's executions")
    list_.add_argument("--phase", help="only this phase, e.g. completed, in_progress")
    list_.add_argument("--page-size", type=int, default=20)
    list_.add_argument("--page-token", help="next_page_token of the previous page")
    list_.add_argument("--json", action="store_true", help="print the raw JSON")
    list_.set_defaults(func=_command("cmd_list"))

    follow = subparsers.add_parser(
        "follow", parents=[common], help="watch an existing execution live",
        description="Watch an existing execution live until it ends, as `run` does (a "
                    "dropped stream resumes where it left off); exit 0 if it completed, 1 if not.",
    )
    follow.add_argument("execution_id")
    follow.set_defaults(func=_command("cmd_follow"))

    cancel = subparsers.add_parser("cancel", parents=[common], help="ask a running execution to stop")
    cancel.add_argument("execution_id")
    cancel.set_defaults(func=_command("cmd_cancel"))

"""The client commands of `stigmer-service`: `run` (create an execution and watch it
live), `follow` (watch an existing one), `get`, `list` and `cancel`, over the REST API (client/api.py), shown with
client/render.py. Their arguments are in client/arguments.py."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

from rich.console import Console
from rich.live import Live
from rich.text import Text

from client.api import ApiClient, ClientError, execution_path
from client.live import ExecutionBody
from client.render import (
    list_footer,
    list_width,
    live_view,
    plain_rows,
    render_execution,
    render_execution_list,
    short_name,
)
from client.settings import ClientSettings

EXIT_COMPLETED, EXIT_NOT_COMPLETED, EXIT_CLIENT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130


def exit_code(phase: str) -> int:
    return EXIT_COMPLETED if phase == "EXECUTION_COMPLETED" else EXIT_NOT_COMPLETED


# -- commands ---------------------------------------------------------------------------


def watch(client: ApiClient, execution: ExecutionBody, console: Console) -> int:
    """Render the execution live until it is final; the exit code of its phase.

    While live, only the newest lines that fit the screen are drawn (a live display
    cannot redraw what has scrolled away); the view is transient and the whole final
    state is printed once afterwards, so a terminal keeps one clean, complete copy and a
    pipe or log gets exactly one.
    """
    state = execution
    with Live(live_view(state), console=console, refresh_per_second=12, transient=True) as live:
        for state in client.follow(execution["metadata"]["id"]):
            live.update(live_view(state))
    console.print(render_execution(state))
    return exit_code(state.get("status", {}).get("phase", ""))


def follow_new_execution(
    url: str,
    headers: dict[str, str],
    message: str,
    agent: str | None = None,
    session: str | None = None,
    model: str | None = None,
    *,
    console: Console | None = None,
) -> int:
    """Create an execution and watch it live; 0 if it completed, 1 if it failed or was
    cancelled, 2 on a client error (already explained on stderr). Ctrl-C propagates, so
    callers such as `dev` decide what it means."""
    quiet_http_logs()
    console = console or Console()
    try:
        with ApiClient(url, headers) as client:
            execution = client.create_execution(message, agent=agent, session=session, model=model)
            return watch(client, execution, console)
    except ClientError as exc:
        print_error(exc)
        return EXIT_CLIENT_ERROR


def quiet_http_logs() -> None:
    """httpx logs every request at INFO, which would scribble over the live view."""
    logging.getLogger("httpx").setLevel(logging.WARNING)


def print_error(exc: Exception) -> None:
    Console(stderr=True, soft_wrap=True).print(Text.assemble(("error: ", "bold red"), str(exc)))


def connect(args: argparse.Namespace) -> ApiClient:
    """An ApiClient from --url/--api-key, falling back to STIGMER_URL/STIGMER_API_KEY."""
    settings = ClientSettings()
    key = args.api_key or settings.api_key.get_secret_value()
    return ApiClient(args.url or settings.url, {"Authorization": f"Bearer {key}"} if key else {})


def cmd_run(args: argparse.Namespace, client: ApiClient, console: Console) -> int:
    if args.workflow:
        from client.workflow_runs import run_and_follow

        if args.agent or args.session or args.model:
            raise ClientError("--workflow runs a workflow; --agent, --session and --model are for agents")
        try:
            phase = run_and_follow(client, args.workflow, args.message, console, follow_it=not args.no_follow)
        except KeyboardInterrupt:
            console.print("stopped watching; the workflow execution keeps running")
            return EXIT_INTERRUPTED
        return exit_code(phase) if phase else EXIT_COMPLETED
    execution = client.create_execution(args.message, agent=args.agent, session=args.session, model=args.model)
    execution_id = execution["metadata"]["id"]
    if args.no_follow:
        console.print(execution_id, highlight=False)
        return EXIT_COMPLETED
    try:
        return watch(client, execution, console)
    except KeyboardInterrupt:
        console.print(f"stopped watching; {execution_id} keeps running "
                      f"(`stigmer-service follow {execution_id}`, `stigmer-service cancel {execution_id}`)")
        return EXIT_INTERRUPTED


def cmd_follow(args: argparse.Namespace, client: ApiClient, console: Console) -> int:
    execution = client.get_execution(args.execution_id)
    try:
        return watch(client, execution, console)
    except KeyboardInterrupt:
        console.print(f"stopped watching; {args.execution_id} keeps running unless it ended")
        return EXIT_INTERRUPTED


def cmd_get(args: argparse.Namespace, client: ApiClient, console: Console) -> int:
    execution = client.get_execution(args.execution_id)
    if args.json:
        console.print_json(data=execution)
    else:
        console.print(render_execution(execution))
    return EXIT_COMPLETED


def cmd_list(args: argparse.Namespace, client: ApiClient, console: Console) -> int:
    params = {"session_id": args.session or "", "phase": args.phase or "",
              "page_size": args.page_size, "page_token": args.page_token or ""}
    page = client.request("GET", "/v1/agent-executions", params=params)
    if args.json:
        console.print_json(data=page)
    elif not console.is_terminal:
        # Pipes and scripts get whole, tab-separated rows and nothing else on stdout.
        for row in plain_rows(page):
            print(row, file=console.file)
        Console(stderr=True).print(list_footer(page), highlight=False)
    else:
        console.print(render_execution_list(page, console.width), width=list_width(page, console.width),
                      crop=False)
    return EXIT_COMPLETED


def cmd_cancel(args: argparse.Namespace, client: ApiClient, console: Console) -> int:
    execution = client.request("POST", execution_path(args.execution_id, "cancel"))
    phase = execution.get("status", {}).get("phase", "")
    console.print(f"cancel requested for {args.execution_id} (phase now {short_name(phase, 'EXECUTION_')})")
    return EXIT_COMPLETED


def as_command(handler: Callable[[argparse.Namespace, ApiClient, Console], int]) -> Callable[[argparse.Namespace], None]:
    """Wrap a handler: connect, run, turn ClientError into one line on stderr and exit 2."""

    def command(args: argparse.Namespace) -> None:
        quiet_http_logs()
        try:
            with connect(args) as client:
                code = handler(args, client, Console())
        except ClientError as exc:
            print_error(exc)
            code = EXIT_CLIENT_ERROR
        except KeyboardInterrupt:
            code = EXIT_INTERRUPTED
        sys.exit(code)

    return command

"""Client commands of `stigmer-service`: `run` (create an execution and watch it live),
`get`, `list` and `cancel`, all over the REST API.

Three layers, so each can be tested alone: `SSEParser` turns lines into events,
`ApiClient` does the HTTP (errors become one `ClientError`, dropped streams are resumed
with `Last-Event-ID`), and `render_execution` turns an execution body into a rich
renderable with no I/O at all.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from core import timestamps

DEFAULT_URL = "http://127.0.0.1:8080"
TERMINAL_PHASES = frozenset({"EXECUTION_COMPLETED", "EXECUTION_FAILED", "EXECUTION_CANCELLED"})
EXIT_COMPLETED, EXIT_NOT_COMPLETED, EXIT_CLIENT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130

ExecutionBody = dict[str, Any]


class ClientSettings(BaseSettings):
    """Where the client finds the server: `STIGMER_URL`, `STIGMER_API_KEY`."""

    model_config = SettingsConfigDict(env_prefix="STIGMER_", env_file=None, extra="ignore")

    url: str = DEFAULT_URL
    api_key: SecretStr = SecretStr("")


class ClientError(Exception):
    """A problem the user can fix (unreachable server, bad key, unknown agent, …): printed
    as one line, never as a traceback."""


# -- Server-Sent Events -------------------------------------------------------------------


@dataclass(frozen=True)
class SSEEvent:
    event: str
    data: str
    id: str | None = None


class SSEParser:
    """The WHATWG event-stream rules, fed one line (without its line break) at a time.

    `last_event_id` survives across events, as in a browser, so a reconnect can send it.
    """

    def __init__(self) -> None:
        self.last_event_id: str | None = None
        self._reset()

    def _reset(self) -> None:
        self._event = ""
        self._data: list[str] = []

    def feed(self, line: str) -> SSEEvent | None:
        """Consume one line; return the event a blank line completes, else None."""
        if not line:
            if not self._data:  # comments-only or id-only blocks dispatch nothing
                self._reset()
                return None
            event = SSEEvent(self._event or "message", "\n".join(self._data), self.last_event_id)
            self._reset()
            return event
        if line.startswith(":"):
            return None  # comment, e.g. a keep-alive
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self.last_event_id = value
        return None  # `retry` and unknown fields are ignored


def iter_sse(lines: Iterable[str], parser: SSEParser | None = None) -> Iterator[SSEEvent]:
    """The events in a sequence of lines."""
    parser = parser or SSEParser()
    for line in lines:
        event = parser.feed(line.rstrip("\r\n"))
        if event is not None:
            yield event


# -- HTTP -------------------------------------------------------------------------------


def execution_path(execution_id: str, action: str = "") -> str:
    """`/v1/agent-executions/{id}[/action]`, the id escaped (it is user input)."""
    path = f"/v1/agent-executions/{quote(execution_id, safe='')}"
    return f"{path}/{action}" if action else path


class StreamDropped(Exception):
    """The event stream ended or broke before its `end` event."""


class ApiClient:
    """The REST API, with errors turned into `ClientError` messages a person can act on."""

    def __init__(
        self,
        url: str,
        headers: dict[str, str] | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        reconnect_window: float = 60.0,
    ) -> None:
        self.url = url.rstrip("/")
        # Reads may be idle for a while on a stream: the server sends keep-alives every few
        # seconds, so a long read timeout still catches a dead connection.
        self._http = httpx.Client(
            base_url=self.url, headers=headers or {}, transport=transport,
            timeout=httpx.Timeout(10.0, read=30.0),
        )
        self._sleep = sleep
        self._reconnect_window = reconnect_window

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None
        self._raise_for_status(response)
        return response.json()

    def _unreachable(self, exc: Exception) -> ClientError:
        return ClientError(f"cannot reach the server at {self.url} ({str(exc) or type(exc).__name__}); "
                           "is it running? (`stigmer-service dev` starts one)")

    def _raise_for_status(self, response: httpx.Response) -> None:
        if response.is_success:
            return
        try:
            error = response.json()["error"]
            detail = f"{error['code']}: {error['message']}"
        except (ValueError, KeyError, TypeError):
            detail = response.reason_phrase
        hint = " (set STIGMER_API_KEY or pass --api-key)" if response.status_code == 401 else ""
        raise ClientError(f"{response.request.method} {response.request.url.path} failed: "
                          f"{response.status_code} {detail}{hint}")

    # -- resources --------------------------------------------------------------------

    def resolve_agent(self, name_or_id: str) -> str:
        """An agent id: `agt_…` as given, anything else looked up by (unique) name."""
        if name_or_id.startswith("agt_"):
            return name_or_id
        token, known = "", []
        while True:
            page = self.request("GET", "/v1/agents", params={"page_size": 100, "page_token": token})
            for agent in page["entries"]:
                if agent["metadata"]["name"] == name_or_id:
                    return agent["metadata"]["id"]
                known.append(agent["metadata"]["name"])
            token = page.get("next_page_token", "")
            if not token:
                break
        listed = ", ".join(known[:10]) or "none yet"
        raise ClientError(f"no agent named {name_or_id!r} (agents: {listed})")

    def create_execution(
        self, message: str, *, agent: str | None = None, session: str | None = None, model: str | None = None
    ) -> ExecutionBody:
        if not agent and not session:
            raise ClientError("give --agent NAME|ID (new session) or --session ID (continue one)")
        spec: dict[str, Any] = {"message": message}
        if agent:
            spec["agent_id"] = self.resolve_agent(agent)
        if session:
            spec["session_id"] = session
        if model:
            spec["execution_config"] = {"model_name": model}
        return self.request("POST", "/v1/agent-executions", json={"spec": spec})

    def get_execution(self, execution_id: str) -> ExecutionBody:
        return self.request("GET", execution_path(execution_id))

    # -- live -------------------------------------------------------------------------

    def follow(self, execution_id: str) -> Iterator[ExecutionBody]:
        """Each new state of the execution until it is final (the last one yielded).

        A dropped stream is reopened with `Last-Event-ID`, so the server sends only what
        is newer (DESIGN §4); after `reconnect_window` seconds without a working stream
        it gives up with a ClientError.
        """
        parser = SSEParser()
        last: ExecutionBody | None = None
        failing_since: float | None = None
        delay = 0.2
        while True:
            try:
                for event in self._stream(execution_id, parser):
                    failing_since, delay = None, 0.2
                    if event.event == "state":
                        last = json.loads(event.data)
                        yield last
                    elif event.event == "end":
                        if last is None or last["status"].get("phase") not in TERMINAL_PHASES:
                            yield self.get_execution(execution_id)  # resumed after the final state
                        return
                raise StreamDropped("stream closed before its end event")
            except (StreamDropped, httpx.TransportError) as exc:
                now = time.monotonic()
                failing_since = failing_since or now
                if now - failing_since > self._reconnect_window:
                    raise ClientError(f"lost the event stream of {execution_id} and could not "
                                      f"reconnect for {self._reconnect_window:.0f}s ({exc})") from None
                self._sleep(delay)
                delay = min(delay * 2, 5.0)

    def _stream(self, execution_id: str, parser: SSEParser) -> Iterator[SSEEvent]:
        headers = {"Accept": "text/event-stream"}
        if parser.last_event_id:
            headers["Last-Event-ID"] = parser.last_event_id
        path = execution_path(execution_id, "subscribe")
        with self._http.stream("GET", path, headers=headers) as response:
            if response.status_code >= 500:  # a restarting server or proxy: try again
                raise StreamDropped(f"server answered {response.status_code}")
            if not response.is_success:
                response.read()
                self._raise_for_status(response)
            yield from iter_sse(response.iter_lines(), parser)


# -- rendering (pure: state in, renderable out) --------------------------------------------

PHASE_STYLES = {
    "EXECUTION_PENDING": "bold yellow",
    "EXECUTION_IN_PROGRESS": "bold cyan",
    "EXECUTION_COMPLETED": "bold green",
    "EXECUTION_FAILED": "bold red",
    "EXECUTION_CANCELLED": "bold magenta",
}
# Tool calls and sub-agents share a lifecycle, so they share icons.
STEP_ICONS = {
    "PENDING": ("○", "dim"),
    "RUNNING": ("◌", "cyan"),
    "IN_PROGRESS": ("◌", "cyan"),
    "COMPLETED": ("✓", "green"),
    "FAILED": ("✗", "red"),
}
TODO_ICONS = {
    "TODO_PENDING": ("☐", "dim"),
    "TODO_IN_PROGRESS": ("◐", "cyan"),
    "TODO_COMPLETED": ("☑", "green"),
    "TODO_CANCELLED": ("☒", "dim strike"),
}


def short_name(enum_value: str, prefix: str) -> str:
    """`EXECUTION_IN_PROGRESS` → `IN_PROGRESS` (and `` → `UNSPECIFIED`)."""
    return enum_value.removeprefix(prefix) or "UNSPECIFIED"


def shorten(value: Any, width: int = 100) -> str:
    """One line of at most `width` characters, for args and results."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _natural_key(text: str) -> list[Any]:
    """`todo-2` before `todo-10`."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def _section(title: str, lines: list[Text]) -> list[RenderableType]:
    return [Text(title, style="bold")] + lines if lines else []


def _step_line(status: str, prefix: str, label: str, detail: str, error: str = "") -> Text:
    icon, style = STEP_ICONS.get(short_name(status, prefix), ("?", "dim"))
    line = Text.assemble("  ", (icon, style), " ", (label, "bold"), no_wrap=True, overflow="ellipsis")
    if error:
        line.append(f" ✗ {shorten(error)}", style="red")
    elif detail:
        line.append(f" → {shorten(detail)}", style="dim")
    return line


def render_execution(state: ExecutionBody) -> RenderableType:
    """What a person watching the execution should see, top to bottom: who and where, the
    phase, the plan, the tool calls, the sub-agents, the question and the streamed answer,
    and any error."""
    metadata, spec, status = state.get("metadata", {}), state.get("spec", {}), state.get("status", {})
    phase = status.get("phase", "")
    header = Text.assemble(
        (metadata.get("id", "?"), "bold"),
        (f"  session {spec.get('session_id', '?')}", "dim"),
        "  ",
        (f" {short_name(phase, 'EXECUTION_')} ", PHASE_STYLES.get(phase, "bold") + " reverse"),
    )
    parts: list[RenderableType] = [header]

    todos = sorted(
        status.get("todos", {}).values(),
        key=lambda t: (timestamps.sort_key(t.get("created_at", "")), _natural_key(t.get("id", ""))),
    )
    todo_lines = []
    for todo in todos:
        icon, style = TODO_ICONS.get(todo.get("status", ""), ("?", "dim"))
        todo_lines.append(Text.assemble("  ", (icon, style), " ", (todo.get("content", ""), style)))
    parts += _section("Plan", todo_lines)

    parts += _section("Tools", [
        _step_line(call.get("status", ""), "TOOL_CALL_",
                   f"{call.get('name', '?')}({shorten(call.get('args', {}), 60)})",
                   call.get("result", ""), call.get("error", ""))
        for call in status.get("tool_calls", [])
    ])
    parts += _section("Sub-agents", [
        _step_line(sub.get("status", ""), "SUB_AGENT_", sub.get("name", "?"),
                   sub.get("output", "") or sub.get("input", ""), sub.get("error", ""))
        for sub in status.get("sub_agent_executions", [])
    ])

    parts.append(Text.assemble(("You: ", "bold blue"), spec.get("message", "")))
    answer = "\n\n".join(
        m["content"] for m in status.get("messages", []) if m.get("type") == "MESSAGE_AI" and m.get("content")
    )
    if answer:
        parts.append(Text.assemble(("Agent: ", "bold green"), answer))
    elif phase not in TERMINAL_PHASES:
        parts.append(Text("Agent: …", style="dim"))
    if status.get("error"):
        parts.append(Text.assemble(("Error: ", "bold red"), (status["error"], "red")))
    return Group(*parts)


def render_execution_list(page: dict[str, Any]) -> RenderableType:
    rows = []
    for execution in page.get("entries", []):
        status, spec = execution.get("status", {}), execution.get("spec", {})
        phase = status.get("phase", "")
        rows.append((
            execution.get("metadata", {}).get("id", ""),
            Text(short_name(phase, "EXECUTION_"), style=PHASE_STYLES.get(phase, "")),
            spec.get("session_id", ""),
            Text(shorten(spec.get("message", ""), 80), no_wrap=True, overflow="ellipsis"),
            status.get("started_at", "")[:19].replace("T", " "),
        ))
    table = Table(box=None, pad_edge=False)
    for column in ("ID", "PHASE", "SESSION", "MESSAGE", "STARTED"):
        # Ids, phases and times stay whole; the message (one line) gets the width left.
        table.add_column(column, no_wrap=column != "MESSAGE")
    for row in rows:
        table.add_row(*row)
    footer = f"{len(rows)} of {page.get('total', '?')}"
    if page.get("next_page_token"):
        footer += f"; next page: --page-token {page['next_page_token']}"
    return Group(table, Text(footer, style="dim"))


def exit_code(phase: str) -> int:
    return EXIT_COMPLETED if phase == "EXECUTION_COMPLETED" else EXIT_NOT_COMPLETED


# -- commands ---------------------------------------------------------------------------


def watch(client: ApiClient, execution: ExecutionBody, console: Console) -> int:
    """Render the execution live until it is final; the exit code of its phase.

    The live view is transient and the final state is printed once afterwards, so a
    terminal keeps the whole final view (not cut to the screen height) and a pipe or log
    gets exactly one copy.
    """
    state = execution
    with Live(render_execution(state), console=console, refresh_per_second=12, transient=True) as live:
        for state in client.follow(execution["metadata"]["id"]):
            live.update(render_execution(state))
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
    execution = client.create_execution(args.message, agent=args.agent, session=args.session, model=args.model)
    execution_id = execution["metadata"]["id"]
    if args.no_follow:
        console.print(execution_id, highlight=False)
        return EXIT_COMPLETED
    try:
        return watch(client, execution, console)
    except KeyboardInterrupt:
        console.print(f"stopped watching; {execution_id} keeps running "
                      f"(`stigmer-service get {execution_id}`, `stigmer-service cancel {execution_id}`)")
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
    else:
        console.print(render_execution_list(page))
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


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register `run`, `get`, `list` and `cancel` on the `stigmer-service` parser."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", help=f"server URL (default: $STIGMER_URL or {DEFAULT_URL})")
    common.add_argument("--api-key", help="API key (default: $STIGMER_API_KEY)")

    run = subparsers.add_parser("run", parents=[common], help="create an execution and watch it live")
    run.add_argument("message", help="the message to the agent")
    run.add_argument("--agent", help="agent name or id (starts a new session)")
    run.add_argument("--session", help="session id (continues that conversation)")
    run.add_argument("--model", help="model for this execution, e.g. scripted, openai:gpt-4o-mini")
    run.add_argument("--no-follow", action="store_true", help="print the execution id and return")
    run.set_defaults(func=as_command(cmd_run))

    get = subparsers.add_parser("get", parents=[common], help="show an execution")
    get.add_argument("execution_id")
    get.add_argument("--json", action="store_true", help="print the raw JSON")
    get.set_defaults(func=as_command(cmd_get))

    list_ = subparsers.add_parser("list", parents=[common], help="list executions, newest first")
    list_.add_argument("--session", help="only this session's executions")
    list_.add_argument("--phase", help="only this phase, e.g. completed, in_progress")
    list_.add_argument("--page-size", type=int, default=20)
    list_.add_argument("--page-token", help="next_page_token of the previous page")
    list_.add_argument("--json", action="store_true", help="print the raw JSON")
    list_.set_defaults(func=as_command(cmd_list))

    cancel = subparsers.add_parser("cancel", parents=[common], help="ask a running execution to stop")
    cancel.add_argument("execution_id")
    cancel.set_defaults(func=as_command(cmd_cancel))

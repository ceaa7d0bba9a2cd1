"""The REST API as the terminal client uses it: errors become one `ClientError` a person
can act on, a dropped event stream is resumed with `Last-Event-ID`, and the stream's
`patch` events are applied to the held state (client/live.py)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Generator, Iterator
from typing import Any
from urllib.parse import quote

import httpx

from client.live import ExecutionBody, HeldExecution, OutOfStep
from client.sse import SSEEvent, SSEParser, iter_sse
from domain.status_rules import TERMINAL_PHASE_NAMES

TERMINAL_PHASES = TERMINAL_PHASE_NAMES  # the one set (domain/status_rules.py)
# Fresh states asked for in a row (patches that did not follow) before asking for whole
# states only: a server whose patches never fit still gets watched to the end.
MAX_RESYNCS = 3




class ClientError(Exception):
    """A problem the user can fix (unreachable server, bad key, unknown agent, …): printed
    as one line, never as a traceback."""


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
        """An agent id: `agt_…` as given, anything else looked up by (unique) name or slug."""
        if name_or_id.startswith("agt_"):
            return name_or_id
        token, known = "", []
        while True:
            page = self.request("GET", "/v1/agents", params={"page_size": 100, "page_token": token})
            for agent in page["entries"]:
                if name_or_id in (agent["metadata"]["name"], agent["metadata"].get("slug")):
                    agent_id: str = agent["metadata"]["id"]
                    return agent_id
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
        created: ExecutionBody = self.request("POST", "/v1/agent-executions", json={"spec": spec})
        return created

    def get_execution(self, execution_id: str) -> ExecutionBody:
        body: ExecutionBody = self.request("GET", execution_path(execution_id))
        return body

    # -- live -------------------------------------------------------------------------

    def follow(self, execution_id: str) -> Iterator[ExecutionBody]:
        """Each new state of the execution until it is final (the last one yielded).

        `state` events replace the held body and `patch` events change it (client/live.py).
        A dropped stream is reopened with `Last-Event-ID`, so the server sends only what
        is newer (ARCHITECTURE.md, "Watching"); after `reconnect_window` seconds without a working stream
        it gives up with a ClientError. A patch that does not follow the held state
        reopens the stream without `Last-Event-ID` for a fresh state; after
        MAX_RESYNCS of those in a row the stream is asked for whole states only.
        """
        parser = SSEParser()
        held = HeldExecution()
        failing_since: float | None = None
        delay = 0.2
        resyncs = 0
        while True:
            try:
                whole_states_only = resyncs >= MAX_RESYNCS
                with contextlib.closing(self._stream(execution_id, parser, whole_states_only)) as events:
                    for event in events:
                        failing_since, delay = None, 0.2
                        if event.event == "state":
                            yield held.take_state(event.data)
                        elif event.event == "patch":
                            try:
                                body = held.take_patch(event.data)
                            except OutOfStep:
                                if whole_states_only:
                                    continue  # the next state event brings the truth
                                raise
                            resyncs = 0
                            if body is not None:
                                yield body
                        elif event.event == "end":
                            if held.body is None or held.body.get("status", {}).get("phase") not in TERMINAL_PHASES:
                                yield self.get_execution(execution_id)  # resumed after the final state
                            return
                raise StreamDropped("stream closed before its end event")
            except OutOfStep:
                resyncs += 1
                parser.last_event_id = None  # reconnect at once, for a whole state
            except (StreamDropped, httpx.TransportError) as exc:
                now = time.monotonic()
                failing_since = failing_since or now
                if now - failing_since > self._reconnect_window:
                    raise ClientError(f"lost the event stream of {execution_id} and could not "
                                      f"reconnect for {self._reconnect_window:.0f}s ({exc})") from None
                self._sleep(delay)
                delay = min(delay * 2, 5.0)

    def _stream(
        self, execution_id: str, parser: SSEParser, whole_states_only: bool = False
    ) -> Generator[SSEEvent, None, None]:
        params = {"mode": "state"} if whole_states_only else None
        yield from self.stream_events(execution_path(execution_id, "subscribe"), parser, params)

    def stream_events(
        self, path: str, parser: SSEParser, params: dict[str, str] | None = None
    ) -> Generator[SSEEvent, None, None]:
        """The events of one SSE stream, resumed after `parser.last_event_id` when set."""
        headers = {"Accept": "text/event-stream"}
        if parser.last_event_id:
            headers["Last-Event-ID"] = parser.last_event_id
        with self._http.stream("GET", path, headers=headers, params=params) as response:
            if response.status_code >= 500:  # a restarting server or proxy: try again
                raise StreamDropped(f"server answered {response.status_code}")
            if not response.is_success:
                response.read()
                self._raise_for_status(response)
            yield from iter_sse(response.iter_lines(), parser)

"""The client's pieces without a server: the SSE parser, the renderer, and the HTTP
client (resume with Last-Event-ID, error messages, agent names) over a mock transport."""

from __future__ import annotations

import io
import json

import httpx
import pytest
from rich.console import Console

from client.api import ApiClient, ClientError
from client.commands import exit_code
from client.render import render_execution, render_execution_list
from client.sse import SSEEvent, SSEParser, iter_sse
from stigmer_service import cli

# -- SSE parser -----------------------------------------------------------------------


def test_parser_yields_events_with_type_data_and_id() -> None:
    lines = ["id: 2", "event: state", 'data: {"a":1}', "", "event: end", 'data: {"phase":"X"}', ""]
    assert list(iter_sse(lines)) == [
        SSEEvent("state", '{"a":1}', "2"),
        SSEEvent("end", '{"phase":"X"}', "2"),  # the last id carries over, as in browsers
    ]


def test_parser_joins_multiline_data_and_strips_one_space_only() -> None:
    assert list(iter_sse(["data:first", "data:  second", ""])) == [SSEEvent("message", "first\n second")]


def test_parser_ignores_comments_keepalives_and_events_without_data() -> None:
    lines = [": ping", "", "event: state", "", "retry: 100", "id: 7", "", "data: x", ""]
    parser = SSEParser()
    assert list(iter_sse(lines, parser)) == [SSEEvent("message", "x", "7")]
    assert parser.last_event_id == "7"


def test_parser_accepts_crlf_lines_and_refuses_ids_with_nul() -> None:
    assert list(iter_sse(["id: 3\r\n", "id: 4\0\r\n", "data: y\r\n", "\r\n"])) == [SSEEvent("message", "y", "3")]


def test_parser_keeps_a_partial_event_until_its_blank_line() -> None:
    parser = SSEParser()
    assert parser.feed("data: half") is None
    assert parser.feed("") == SSEEvent("message", "half")


# -- renderer -------------------------------------------------------------------------

FULL_STATE = {
    "metadata": {"id": "aex_1"},
    "spec": {"message": "hello [bold]there[/bold]", "session_id": "ses_1"},
    "status": {
        "phase": "EXECUTION_FAILED",
        "messages": [
            {"type": "MESSAGE_HUMAN", "content": "hello"},
            {"type": "MESSAGE_AI", "content": "", "tool_calls": [{"id": "c1"}]},
            {"type": "MESSAGE_TOOL", "content": "2 words"},
            {"type": "MESSAGE_AI", "content": "You asked: hello."},
        ],
        "tool_calls": [
            {"id": "c1", "name": "word_count", "args": {"text": "hello"}, "result": "2 words",
             "status": "TOOL_CALL_COMPLETED"},
            {"id": "c2", "name": "current_time", "args": {}, "status": "TOOL_CALL_RUNNING"},
            {"id": "c3", "name": "fetch", "args": {}, "status": "TOOL_CALL_FAILED", "error": "timed out"},
        ],
        "sub_agent_executions": [
            {"id": "c4", "name": "researcher", "input": "look", "output": "found it",
             "status": "SUB_AGENT_COMPLETED"},
        ],
        "todos": {
            "todo-10": {"id": "todo-10", "content": "Tenth", "status": "TODO_PENDING"},
            "todo-2": {"id": "todo-2", "content": "Second", "status": "TODO_IN_PROGRESS"},
            "todo-1": {"id": "todo-1", "content": "First", "status": "TODO_COMPLETED"},
        },
        "error": "model exploded",
    },
    "version": 9,
}


def as_text(renderable: object, width: int = 120) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None, record=True)
    console.print(renderable)
    return console.export_text()


def test_render_shows_phase_plan_tools_sub_agents_answer_and_error() -> None:
    text = as_text(render_execution(FULL_STATE))
    assert "aex_1" in text and "session ses_1" in text and " FAILED " in text
    assert text.index("☑ First") < text.index("◐ Second") < text.index("☐ Tenth")
    assert '✓ word_count({"text":"hello"}) → 2 words' in text
    assert "◌ current_time({})" in text
    assert "✗ fetch({}) ✗ timed out" in text
    assert "✓ researcher → found it" in text
    assert "You: hello [bold]there[/bold]" in text  # user text is shown literally, not as markup
    assert "Agent: You asked: hello." in text
    assert "Error: model exploded" in text


def test_render_of_a_fresh_execution_shows_a_waiting_answer() -> None:
    text = as_text(render_execution({"metadata": {"id": "aex_2"}, "spec": {"message": "hi"},
                                     "status": {"phase": "EXECUTION_PENDING"}}))
    assert "PENDING" in text and "Agent: …" in text
    assert "Plan" not in text and "Tools" not in text


def test_render_tolerates_an_empty_body() -> None:
    assert "UNSPECIFIED" in as_text(render_execution({}))


def test_render_list_shows_rows_and_the_next_page_hint() -> None:
    page = {"entries": [FULL_STATE], "total": 3, "next_page_token": "tok"}
    text = as_text(render_execution_list(page))
    assert "aex_1" in text and "FAILED" in text and "1 of 3; next page: --page-token tok" in text


def test_exit_code_is_zero_only_for_completed() -> None:
    assert exit_code("EXECUTION_COMPLETED") == 0
    assert exit_code("EXECUTION_FAILED") == exit_code("EXECUTION_CANCELLED") == 1


# -- HTTP client over a mock transport ------------------------------------------------


def state(version: int, phase: str) -> dict:
    return {"metadata": {"id": "aex_1"}, "spec": {}, "status": {"phase": phase}, "version": version}


def sse(*events: tuple[str, dict, int | None]) -> bytes:
    chunks = []
    for name, data, event_id in events:
        head = f"id: {event_id}\r\n" if event_id is not None else ""
        chunks.append(f"{head}event: {name}\r\ndata: {json.dumps(data)}\r\n\r\n")
    return ": ping\r\n\r\n".join(chunks).encode()


def client_for(handler, sleeps: list[float] | None = None) -> ApiClient:
    return ApiClient(
        "http://test", transport=httpx.MockTransport(handler),
        sleep=(sleeps if sleeps is not None else []).append,
    )


def test_follow_resumes_a_dropped_stream_with_last_event_id() -> None:
    seen_ids: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen_ids.append(request.headers.get("last-event-id"))
        if len(seen_ids) == 1:  # drops after v2, before any `end`
            return httpx.Response(200, content=sse(("state", state(2, "EXECUTION_IN_PROGRESS"), 2)))
        if len(seen_ids) == 2:
            return httpx.Response(503, json={"error": {"code": "unavailable", "message": "restarting"}})
        return httpx.Response(200, content=sse(("state", state(3, "EXECUTION_COMPLETED"), 3),
                                               ("end", {"phase": "EXECUTION_COMPLETED"}, None)))

    sleeps: list[float] = []
    states = list(client_for(handler, sleeps).follow("aex_1"))
    assert [s["version"] for s in states] == [2, 3]
    assert seen_ids == [None, "2", "2"]
    assert sleeps == [0.2, 0.4]  # backs off between attempts


def test_follow_fetches_the_final_state_when_resumed_after_it() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/subscribe"):
            return httpx.Response(200, content=sse(("end", {"phase": "EXECUTION_COMPLETED"}, None)))
        return httpx.Response(200, json=state(5, "EXECUTION_COMPLETED"))

    assert [s["version"] for s in client_for(handler).follow("aex_1")] == [5]


def test_follow_gives_up_after_the_reconnect_window() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client = ApiClient("http://test", transport=httpx.MockTransport(handler), sleep=lambda _: None,
                       reconnect_window=0.0)
    with pytest.raises(ClientError, match="could not reconnect"):
        list(client.follow("aex_1"))


def test_server_errors_become_one_readable_line() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"error": {"code": "not_found", "message": "execution 'x' not found"}})

    with pytest.raises(ClientError, match=r"404 not_found: execution 'x' not found"):
        client_for(handler).get_execution("x")


def test_unauthenticated_errors_say_how_to_pass_a_key() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": {"code": "unauthenticated", "message": "invalid API key"}})

    with pytest.raises(ClientError, match="STIGMER_API_KEY"):
        client_for(handler).get_execution("x")


def test_agent_names_are_resolved_across_pages() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.params["page_token"] == "":
            entries = [{"metadata": {"id": "agt_a", "name": "alpha"}}]
            return httpx.Response(200, json={"entries": entries, "next_page_token": "p2"})
        entries = [{"metadata": {"id": "agt_b", "name": "beta"}},
                   {"metadata": {"id": "agt_c", "name": "Gamma Ray", "slug": "gamma-ray"}}]
        return httpx.Response(200, json={"entries": entries, "next_page_token": ""})

    client = client_for(handler)
    assert client.resolve_agent("beta") == "agt_b"
    assert client.resolve_agent("gamma-ray") == "agt_c"  # by slug
    assert client.resolve_agent("agt_zzz") == "agt_zzz"  # ids are taken as given
    with pytest.raises(ClientError, match=r"no agent named 'gamma' \(agents: alpha, beta, Gamma Ray\)"):
        client.resolve_agent("gamma")


def test_create_sends_the_spec_the_api_expects() -> None:
    bodies: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(201, json=state(1, "EXECUTION_PENDING"))

    client_for(handler).create_execution("hi", session="ses_1", model="scripted")
    assert bodies == [{"spec": {"message": "hi", "session_id": "ses_1", "execution_config": {"model_name": "scripted"}}}]
    with pytest.raises(ClientError, match="--agent"):
        client_for(handler).create_execution("hi")


# -- the commands, end to end through argparse ----------------------------------------


def test_client_commands_are_registered() -> None:
    parser = cli.build_parser()
    args = parser.parse_args(["run", "hi", "--agent", "demo", "--no-follow"])
    assert (args.message, args.agent, args.no_follow) == ("hi", "demo", True)
    assert parser.parse_args(["list", "--phase", "completed"]).phase == "completed"


def test_unreachable_server_exits_2_with_a_message_and_no_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["get", "aex_1", "--url", "http://127.0.0.1:9"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "error: cannot reach the server at http://127.0.0.1:9" in err
    assert "Traceback" not in err

"""The committed stubs are exactly what `python proto/generate.py` produces."""

from __future__ import annotations

import importlib.util
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2] / "proto"


def test_generated_stubs_are_up_to_date(tmp_path: pathlib.Path) -> None:
    spec = importlib.util.spec_from_file_location("generate", ROOT / "generate.py")
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    generate.generate(tmp_path)
    fresh = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    committed = {
        p.relative_to(ROOT): p.read_bytes()
        for p in (ROOT / "ai").rglob("*")
        if p.is_file() and p.suffix in (".py", ".pyi") and "__pycache__" not in p.parts
    }
    assert fresh.keys() == committed.keys(), "run: python proto/generate.py"
    stale = [str(path) for path, content in fresh.items() if committed[path] != content]
    assert not stale, f"stale stubs {stale}; run: python proto/generate.py"


def test_contract_speaks_stigmers_names_and_numbers() -> None:
    from ai.stigmer.agentic.agentexecution.v1 import api_pb2, command_pb2, query_pb2

    commands = command_pb2.DESCRIPTOR.services_by_name["AgentExecutionCommandController"]
    assert [m.name for m in commands.methods] == [
        "create", "update", "updateStatus", "delete", "applyStatusPatch"  # the last: our addition
    ]
    queries = query_pb2.DESCRIPTOR.services_by_name["AgentExecutionQueryController"]
    assert [m.name for m in queries.methods] == ["get", "list", "listBySession", "subscribe"]
    assert queries.methods_by_name["subscribe"].server_streaming
    status = api_pb2.AgentExecutionStatus.DESCRIPTOR
    assert {f.name: f.number for f in status.fields} == {
        "messages": 1, "phase": 2, "tool_calls": 3, "sub_agent_executions": 4, "error": 6,
        "started_at": 7, "completed_at": 8, "todos": 9, "callback_token": 10, "audit": 99,
        "version": 100,
    }
    assert api_pb2.DESCRIPTOR.package == "ai.stigmer.agentic.agentexecution.v1"

"""The committed stubs are what `python proto/generate.py` produces from the .proto files.

The generators stamp their own release into the stubs (`GRPC_GENERATED_VERSION`, the
protobuf runtime check). Those stamps say which generator ran, not what the contract is,
so they are compared apart: a patch release of the generator changes nothing that matters.
"""

from __future__ import annotations

import importlib.util
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2] / "proto"

# The generator's version stamps: `GRPC_GENERATED_VERSION = '1.85.4'`, `# Protobuf Python
# Version: 7.35.1` and the numbers passed to `ValidateProtobufRuntimeVersion(...)`.
_STAMPS = re.compile(
    rb"GRPC_GENERATED_VERSION = '[^']*'|# Protobuf Python Version: \S+|"
    rb"(?<=_runtime_version\.Domain\.PUBLIC,\n)(?:\s*\d+,\n){3}"
)


def without_generator_stamps(code: bytes) -> bytes:
    return _STAMPS.sub(b"<stamp>", code)


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
    stale = [
        str(path)
        for path, content in fresh.items()
        if without_generator_stamps(committed[path]) != without_generator_stamps(content)
    ]
    assert not stale, f"stale stubs {stale}; run: python proto/generate.py"


def test_generator_stamps_are_ignored_and_nothing_else() -> None:
    grpc = b"GRPC_GENERATED_VERSION = '1.85.1'\n"
    assert without_generator_stamps(grpc) == without_generator_stamps(grpc.replace(b"1.85.1", b"1.85.4"))
    runtime = b"_runtime_version.Domain.PUBLIC,\n    7,\n    35,\n    1,\n    '',\n"
    assert without_generator_stamps(runtime) == without_generator_stamps(runtime.replace(b"35", b"36"))
    field = b"_globals['_X']._serialized_start=100\n"
    assert without_generator_stamps(field) != without_generator_stamps(field.replace(b"100", b"101"))


def test_contract_speaks_stigmers_names_and_numbers() -> None:
    from ai.stigmer.agentic.agentexecution.v1 import api_pb2, command_pb2, query_pb2

    commands = command_pb2.DESCRIPTOR.services_by_name["AgentExecutionCommandController"]
    assert [m.name for m in commands.methods] == [
        "create", "update", "updateStatus", "delete",
        "applyStatusPatch", "streamStatusPatches",  # our additions
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

"""What crosses Temporal carries Stigmer's fields only (DESIGN §10, "Drop-in rule"), and
the times the service adds to a status write."""

from __future__ import annotations

import pytest
from google.protobuf.json_format import MessageToJson, ParseError

from ai.stigmer.agentic.agentexecution.v1 import api_pb2, enum_pb2
from api.auth import ApiKeys
from domain.status_rules import phase_time_stamps
from domain.workflow_contract import FIRST_ADDED_FIELD_NUMBER, stigmer_fields_only
from tests.utils.stigmer_contract import STIGMER_FIELD_NUMBERS, decode_strictly, reachable_messages

NOW = "2026-12-07T13:00:00Z"


def test_our_fields_below_the_added_range_are_all_stigmers() -> None:
    """An addition numbered below FIRST_ADDED_FIELD_NUMBER would reach Stigmer's code."""
    for name, message in reachable_messages(api_pb2.AgentExecution.DESCRIPTOR).items():
        ours = sorted(f.number for f in message.fields if f.number < FIRST_ADDED_FIELD_NUMBER)
        assert ours == STIGMER_FIELD_NUMBERS.get(name), name


def test_stigmer_fields_only_drops_additions_at_any_depth_and_keeps_the_rest() -> None:
    execution = api_pb2.AgentExecution()
    execution.metadata.id = "aex_1"
    execution.spec.runtime_env["TOKEN"].value = "s3cret"
    execution.status.version = 7
    execution.status.phase = enum_pb2.EXECUTION_PENDING
    execution.status.messages.add(type=enum_pb2.MESSAGE_AI, content="hi")
    execution.status.todos["t1"].content = "plan"
    stripped = stigmer_fields_only(execution)
    assert execution.status.version == 7  # the original is left alone
    expected = api_pb2.AgentExecution()
    expected.CopyFrom(execution)
    expected.status.version = 0
    assert stripped == expected
    decode_strictly(api_pb2.AgentExecution.DESCRIPTOR.full_name, MessageToJson(stripped).encode())
    with pytest.raises(ParseError, match="version"):
        decode_strictly(api_pb2.AgentExecution.DESCRIPTOR.full_name, MessageToJson(execution).encode())


@pytest.mark.parametrize(
    ("changes", "stored", "stamps"),
    [
        ([{"set": {"phase": "EXECUTION_IN_PROGRESS"}}], {}, {"started_at": NOW}),
        ([{"set": {"phase": "EXECUTION_IN_PROGRESS"}}], {"started_at": "earlier"}, {}),
        ([{"set": {"phase": "EXECUTION_IN_PROGRESS", "started_at": "sent"}}], {}, {}),
        ([{"set": {"phase": "EXECUTION_COMPLETED"}}], {"started_at": "earlier"}, {"completed_at": NOW}),
        ([{"set": {"phase": "EXECUTION_FAILED", "completed_at": "2026-01-22T10:31:00"}}], {}, {}),
        ([{"set": {"phase": "EXECUTION_CANCELLED"}}], {}, {"completed_at": NOW}),
        ([{"set": {"error": "no phase"}}], {}, {}),
    ],
)
def test_phase_times_are_stamped_only_when_entering_a_phase_without_them(changes, stored, stamps) -> None:
    assert phase_time_stamps(changes, stored, NOW) == stamps


def test_with_no_keys_configured_any_bearer_token_is_accepted() -> None:
    """Stigmer's runner in local mode sends `dummy-local-key` when it has no key."""
    assert ApiKeys().authenticate("Bearer dummy-local-key") is None
    assert ApiKeys().authenticate(None) is None

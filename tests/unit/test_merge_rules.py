"""ARCHITECTURE.md, "Status merge" as pure functions: decide() and the fields an update sets."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from ai.stigmer.agentic.agentexecution.v1 import api_pb2, enum_pb2
from domain.convert import status_fields_to_set
from domain.status_changes import apply_changes, diff_status
from domain.status_rules import Decision, StoredState, decide

PENDING, RUNNING = "EXECUTION_PENDING", "EXECUTION_IN_PROGRESS"


def merge_status(stored: dict, fields: dict) -> dict:
    """The stored status after a whole-status update, as production computes it: the
    change against what is stored (`diff_status`), applied (`apply_changes`)."""
    return apply_changes(stored, diff_status(stored, fields))
COMPLETED, FAILED, CANCELLED = "EXECUTION_COMPLETED", "EXECUTION_FAILED", "EXECUTION_CANCELLED"


def test_empty_and_unset_fields_leave_stored_values_alone() -> None:
    status = api_pb2.AgentExecutionStatus(phase=enum_pb2.EXECUTION_IN_PROGRESS)
    assert status_fields_to_set(status) == {"phase": RUNNING}


def test_non_empty_lists_and_maps_replace_stored_ones() -> None:
    status = api_pb2.AgentExecutionStatus()
    status.messages.add(type=enum_pb2.MESSAGE_AI, content="hi")
    status.todos["t1"].content = "plan"
    stored = {"messages": [{"content": "old"}, {"content": "older"}], "error": "kept"}
    merged = merge_status(stored, status_fields_to_set(status))  # what production stores
    assert merged["messages"] == [{"type": "MESSAGE_AI", "content": "hi"}]
    assert merged["todos"] == {"t1": {"content": "plan"}}
    assert merged["error"] == "kept"


def test_version_field_is_never_written_from_input() -> None:
    assert "version" not in status_fields_to_set(api_pb2.AgentExecutionStatus(version=99))


def test_late_update_after_completed_is_refused() -> None:
    assert decide(StoredState(COMPLETED, 3), RUNNING, 4) is Decision.REFUSED
    assert decide(StoredState(COMPLETED, 3), None, 0) is Decision.REFUSED


def test_different_terminal_phase_after_terminal_is_refused() -> None:
    assert decide(StoredState(COMPLETED, 3), FAILED, 0) is Decision.REFUSED
    assert decide(StoredState(CANCELLED, 0), COMPLETED, 9) is Decision.REFUSED


def test_repeating_the_final_phase_is_acknowledged() -> None:
    assert decide(StoredState(FAILED, 3), FAILED, 0) is Decision.ALREADY_FINAL


def test_stale_or_duplicate_sequence_is_ignored() -> None:
    assert decide(StoredState(RUNNING, 5), RUNNING, 5) is Decision.STALE
    assert decide(StoredState(RUNNING, 5), RUNNING, 2) is Decision.STALE
    assert decide(StoredState(COMPLETED, 5), RUNNING, 4) is Decision.STALE


def test_newer_or_unordered_update_applies() -> None:
    assert decide(StoredState(PENDING, 0), RUNNING, 1) is Decision.APPLY
    assert decide(StoredState(RUNNING, 5), COMPLETED, 6) is Decision.APPLY
    assert decide(StoredState(RUNNING, 5), None, 0) is Decision.APPLY  # old runners


# -- property: delivery order and duplicates don't matter --------------------------

def apply(stored: dict, update: tuple[int, dict]) -> dict:
    """The repository's semantics, composed from the pure rules."""
    sequence, fields = update
    decision = decide(
        StoredState(stored["status"].get("phase", PENDING), stored["sequence"]),
        fields.get("phase"),
        sequence,
    )
    if decision is not Decision.APPLY:
        return stored
    return {
        "status": merge_status(stored["status"], fields),
        "sequence": max(stored["sequence"], sequence),
    }


@st.composite
def runner_snapshots(draw) -> list[tuple[int, dict]]:
    """A runner's whole-status snapshots: fields once set stay set, content grows."""
    count = draw(st.integers(min_value=1, max_value=12))
    ends_in = draw(st.sampled_from([None, COMPLETED, FAILED, CANCELLED]))
    snapshots, messages, todos = [], [], {}
    for seq in range(1, count + 1):
        if draw(st.booleans()):
            messages = [*messages, {"content": draw(st.text(max_size=5))}]
        if draw(st.booleans()):
            todos = {**todos, f"t{draw(st.integers(0, 3))}": {"status": draw(st.sampled_from(["TODO_PENDING", "TODO_COMPLETED"]))}}
        status = {"phase": RUNNING}
        if messages:
            status["messages"] = messages
        if todos:
            status["todos"] = todos
        if seq == count and ends_in:
            status["phase"] = ends_in
            if ends_in == FAILED:
                status["error"] = "boom"
        snapshots.append((seq, status))
    return snapshots


@settings(max_examples=300, deadline=None)
@given(data=st.data(), snapshots=runner_snapshots())
def test_any_delivery_order_with_duplicates_ends_in_the_in_order_state(data, snapshots) -> None:
    initial = {"status": {"phase": PENDING}, "sequence": 0}
    in_order = initial
    for update in snapshots:
        in_order = apply(in_order, update)

    deliveries = snapshots + data.draw(st.lists(st.sampled_from(snapshots), max_size=10))
    shuffled = data.draw(st.permutations(deliveries))
    state = initial
    terminal_seen = None
    for update in shuffled:
        state = apply(state, update)
        phase = state["status"]["phase"]
        if phase in (COMPLETED, FAILED, CANCELLED):
            terminal_seen = terminal_seen or state
            assert state == terminal_seen  # a terminal state is never overwritten
    assert state == in_order

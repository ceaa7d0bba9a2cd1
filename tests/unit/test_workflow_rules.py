"""The workflow domain's pure rules: what a valid workflow is, and the status merge."""

from __future__ import annotations

import pytest

from ai.stigmer.agentic.workflowexecution.v1 import api_pb2, enum_pb2
from ai.stigmer.commons.apiresource import enum_pb2 as resource_enum_pb2
from domain.errors import InvalidArgument
from domain.status_rules import Decision
from domain.workflow_execution_rules import decide_update, execution_for_runner, merge_status
from domain.workflow_rules import check_instance_scope, default_instance_of, validate_workflow
from tests.utils.workflow_docs import task, workflow

NOW = "2026-01-01T00:00:00Z"
LATER = "2026-01-01T00:00:05Z"


def refused(request, words: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        validate_workflow(request)
    assert words in caught.value.message, caught.value.message


def test_a_workflow_of_every_kind_with_flow_passes() -> None:
    validate_workflow(workflow(
        "all-kinds",
        task("init", "SET", {"variables": {"a": "1"}}, then="fetch"),
        task("fetch", "HTTP_CALL", {"method": "GET", "endpoint": {"uri": "https://example.com"}, "timeout_seconds": 5}),
        task("ask", "AGENT_CALL", {"agent": "helper", "message": "hi", "config": {"timeout": 60, "temperature": 0.5}}),
        task("route", "SWITCH", {"cases": [{"name": "done", "when": "${ .a }", "then": "end"},
                                           {"name": "more", "then": "loop"}]}),
        task("loop", "FOR", {"each": "item", "in": "${ .items }",
                             "do": [{"name": "inner", "kind": "WORKFLOW_TASK_KIND_WAIT", "task_config": {"seconds": 1}}]}),
        task("fail", "RAISE", {"error": "bad", "message": "went wrong"}),
    ))


def test_task_names_are_unique_at_each_level() -> None:
    refused(workflow("dup", task("a", "SET", {"variables": {"x": "1"}}), task("a", "SET", {"variables": {"y": "2"}})),
            "two tasks named 'a'")


def test_flow_then_must_name_a_sibling_or_a_directive() -> None:
    refused(workflow("flow", task("a", "SET", {"variables": {"x": "1"}}, then="nowhere")), "'nowhere'")
    validate_workflow(workflow("flow-end", task("a", "SET", {"variables": {"x": "1"}}, then="end")))


def test_a_config_is_decoded_strictly_into_its_kinds_message() -> None:
    refused(workflow("strict", task("a", "SET", {"variables": {"x": "1"}, "surprise": True})), "not a valid SET config")
    refused(workflow("wrong-kind", task("a", "WAIT", {"variables": {"x": "1"}})), "not a valid WAIT config")


def test_kind_rules_from_stigmers_protos_hold() -> None:
    refused(workflow("t", task("a", "AGENT_CALL", {"agent": "x", "message": "m", "config": {"timeout": 4000}})),
            "timeout must be 1 to 3600")
    refused(workflow("t", task("a", "AGENT_CALL", {"agent": "x", "message": "m", "config": {"temperature": 1.5}})),
            "temperature must be 0 to 1")
    refused(workflow("t", task("a", "HTTP_CALL", {"method": "TRACE", "endpoint": {"uri": "https://x"}})), "method")
    refused(workflow("t", task("a", "FORK", {"branches": [{"name": "one", "do": []}]})), "at least two branches")
    refused(workflow("t", task("a", "WAIT", {"seconds": 0})), "at least 1")


def test_nested_tasks_are_checked_like_top_level_ones() -> None:
    nested = [{"name": "x", "kind": "WORKFLOW_TASK_KIND_SET", "task_config": {"variables": {"a": "1"}}},
              {"name": "x", "kind": "WORKFLOW_TASK_KIND_SET", "task_config": {"variables": {"b": "2"}}}]
    refused(workflow("t", task("loop", "FOR", {"each": "i", "in": "${ .l }", "do": nested})), "two tasks named 'x'")


def test_an_unknown_kind_and_a_missing_document_are_refused() -> None:
    request = workflow("t")
    request.spec.tasks[0].kind = 99  # type: ignore[assignment]
    refused(request, "not a known task kind")
    request = workflow("t")
    request.spec.ClearField("document")
    refused(request, "spec.document is required")


def test_default_instance_and_org_scope() -> None:
    parent = workflow("Daily Report")
    parent.metadata.id, parent.metadata.slug = "wfl_1", "daily-report"
    parent.metadata.owner_scope, parent.metadata.org = resource_enum_pb2.organization, "acme"
    instance = default_instance_of(parent)
    assert instance.metadata.name == "daily-report-default" and instance.metadata.org == "acme"
    check_instance_scope(instance, parent)
    instance.metadata.org = "other"
    with pytest.raises(InvalidArgument):
        check_instance_scope(instance, parent)


def one_task(task_id: str, status: int, **fields) -> api_pb2.WorkflowExecutionStatus:
    return api_pb2.WorkflowExecutionStatus(tasks=[api_pb2.WorkflowTask(task_id=task_id, status=status, **fields)])


def test_tasks_merge_by_id_so_the_stored_status_is_the_whole_run() -> None:
    stored = merge_status(api_pb2.WorkflowExecutionStatus(), api_pb2.WorkflowExecutionStatus(
        phase=enum_pb2.EXECUTION_IN_PROGRESS), NOW)
    stored = merge_status(stored, one_task("t1", enum_pb2.WORKFLOW_TASK_IN_PROGRESS, task_name="first"), NOW)
    stored = merge_status(stored, one_task("t1", enum_pb2.WORKFLOW_TASK_COMPLETED), LATER)
    stored = merge_status(stored, one_task("t2", enum_pb2.WORKFLOW_TASK_IN_PROGRESS, task_name="second"), LATER)
    assert [(t.task_id, t.task_name, t.status) for t in stored.tasks] == [
        ("t1", "first", enum_pb2.WORKFLOW_TASK_COMPLETED), ("t2", "second", enum_pb2.WORKFLOW_TASK_IN_PROGRESS)]
    assert (stored.tasks[0].started_at, stored.tasks[0].completed_at) == (NOW, LATER)  # stamped
    assert stored.started_at == NOW and not stored.completed_at
    ended = merge_status(stored, api_pb2.WorkflowExecutionStatus(phase=enum_pb2.EXECUTION_COMPLETED), LATER)
    assert ended.completed_at == LATER and len(ended.tasks) == 2


def test_a_terminal_phase_is_final_and_ordered_updates_apply_once() -> None:
    update = api_pb2.WorkflowExecutionStatus(phase=enum_pb2.EXECUTION_IN_PROGRESS)
    assert decide_update(enum_pb2.EXECUTION_COMPLETED, 0, update, 0) is Decision.REFUSED
    final = api_pb2.WorkflowExecutionStatus(phase=enum_pb2.EXECUTION_COMPLETED)
    assert decide_update(enum_pb2.EXECUTION_COMPLETED, 0, final, 0) is Decision.ALREADY_FINAL
    assert decide_update(enum_pb2.EXECUTION_IN_PROGRESS, 5, update, 5) is Decision.STALE
    assert decide_update(enum_pb2.EXECUTION_IN_PROGRESS, 5, update, 6) is Decision.APPLY


def test_what_a_runner_receives_carries_only_stigmers_fields() -> None:
    execution = api_pb2.WorkflowExecution()
    execution.metadata.id = "wex_1"
    execution.status.version = 7
    assert not execution_for_runner(execution).status.version

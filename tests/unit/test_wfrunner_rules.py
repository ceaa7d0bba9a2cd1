"""The workflow runner's pure rules: runtime expressions (jq, with its impure builtins
replaced), secret redaction, and `validateWorkflow`'s checks."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import json_format

from ai.stigmer.agentic.workflow.v1 import spec_pb2
from wfrunner.expressions import ExpressionError, check, evaluate, evaluate_condition
from wfrunner.redaction import REDACTED, redact
from wfrunner.validation import validate_spec


def task(name: str, kind: str, config: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {"name": name, "kind": f"WORKFLOW_TASK_KIND_{kind}", "taskConfig": config or {}, **extra}


def errors_of(*tasks: dict[str, Any]) -> list[str]:
    spec = json_format.ParseDict({"document": {"dsl": "1.0.0", "name": "t"}, "tasks": list(tasks)},
                                 spec_pb2.WorkflowSpec())
    return validate_spec(spec).errors


# -- expressions -------------------------------------------------------------------------------


def test_a_whole_dollar_brace_string_is_jq_and_any_other_string_is_itself() -> None:
    assert evaluate("${ .a + 1 }", {"a": 1}, {}) == 2
    assert evaluate("a ${ .a } b", {"a": 1}, {}) == "a ${ .a } b"
    assert evaluate({"x": ["${ $input.a }", 3]}, {}, {"input": {"a": "v"}}) == {"x": ["v", 3]}


@pytest.mark.parametrize("program", ["env", "$ENV", "$ENV.PATH", "env.HOME"])
def test_the_runner_process_environment_is_not_readable(program: str) -> None:
    assert evaluate(f"${{ {program} }}", {}, {}) in ({}, None)


def test_now_is_the_workflow_clock() -> None:
    assert evaluate("${ now }", {}, {"__now": 1234.5}) == 1234.5


@pytest.mark.parametrize("program", ["input", "inputs", 'import "x" as x; 1', "halt_error"])
def test_impure_builtins_and_modules_are_refused(program: str) -> None:
    with pytest.raises(ExpressionError):
        evaluate(f"${{ {program} }}", {}, {})


def test_conditions_follow_jq_truth() -> None:
    assert evaluate_condition("${ 0 }", {}, {})
    assert not evaluate_condition("${ null }", {}, {})
    assert not evaluate_condition(".missing", {}, {})


def test_check_names_what_does_not_compile_without_positions() -> None:
    assert check("${ .a + }") == "syntax error, unexpected ')'"
    assert check("${ $nope }") == "$nope is not defined"
    assert check("${ $nope }", ("nope",)) is None


# -- redaction ---------------------------------------------------------------------------------


def test_secrets_are_redacted_wherever_they_appear() -> None:
    value = {"h": "Bearer s3cr3t", "list": ["s3cr3t", 1], "s3cr3t": None}
    assert redact(value, ["s3cr3t"]) == {"h": f"Bearer {REDACTED}", "list": [REDACTED, 1], REDACTED: None}
    assert redact(value, []) is value


# -- validation --------------------------------------------------------------------------------


def test_a_document_of_every_kind_is_valid() -> None:
    assert errors_of(
        task("set", "SET", {"variables": {"a": "${ .x }"}}),
        task("route", "SWITCH", {"cases": [{"name": "c", "when": ".a", "then": "loop"}, {"name": "d", "then": "end"}]}),
        task("loop", "FOR", {"each": "city", "in": ".cities", "do": [task("v", "SET", {"variables": {"c": "${ $city }"}})]}),
        task("fork", "FORK", {"compete": True, "branches": [{"name": "a", "do": [task("w", "WAIT", {"seconds": 1})]}]}),
        task("guard", "TRY", {"try": [task("r", "RAISE", {"error": "runtime"})],
                              "catch": {"as": "e", "do": [task("s", "SET", {"variables": {"m": "${ $e.detail }"}})]}}),
        task("hear", "LISTEN", {"to": {"mode": "one", "signals": [{"id": "go", "type": "signal"}]}}),
        task("http", "HTTP_CALL", {"method": "POST", "endpoint": {"uri": "http://x"}, "timeout_seconds": 5}),
        task("grpc", "GRPC_CALL", {"service": "h:1/p.S", "method": "m"}),
        task("run", "RUN", {"workflow": "other"}),
        task("act", "CALL_ACTIVITY", {"activity": "Greet"}),
        task("agent", "AGENT_CALL", {"agent": "helper", "message": "hi", "config": {"timeout": 60}},
             export={"as": "{answer: .}"}),
    ) == []


def test_unknown_then_targets_are_errors() -> None:
    errors = errors_of(
        task("a", "SET", {"variables": {"x": "1"}}, flow={"then": "nowhere"}),
        task("b", "SWITCH", {"cases": [{"name": "c", "then": "missing"}]}),
    )
    assert any("flow.then 'nowhere'" in e for e in errors)
    assert any("goes to 'missing'" in e for e in errors)


def test_expressions_that_do_not_parse_are_errors_with_their_place() -> None:
    (error,) = errors_of(task("a", "SET", {"variables": {"x": "${ .a + }"}}))
    assert error.startswith("do/a: expression '.a +' does not compile")


def test_a_variable_outside_its_scope_is_an_error() -> None:
    errors = errors_of(
        task("loop", "FOR", {"each": "city", "in": ".c", "do": [task("v", "SET", {"variables": {"c": "${ $city }"}})]}),
        task("after", "SET", {"variables": {"c": "${ $city }"}}),
    )
    assert errors == ["do/after: expression '$city' does not compile: $city is not defined"]


def test_configs_that_do_not_match_their_kind_are_errors() -> None:
    errors = errors_of(
        task("a", "WAIT", {"variables": {"x": "1"}}),
        task("b", "HTTP_CALL", {"method": "FETCH", "endpoint": {}}),
        task("c", "LISTEN", {"to": {"mode": "some", "signals": [{"id": "q", "type": "query"}]}}),
    )
    assert any(e.startswith("do/a: task_config is not a WaitTaskConfig") for e in errors)
    assert any("http method 'FETCH'" in e for e in errors)
    assert any("needs endpoint.uri" in e for e in errors)
    assert any("listen mode 'some'" in e for e in errors)
    assert any("only type signal" in e for e in errors)


def test_names_must_be_present_and_unique_in_each_list() -> None:
    errors = errors_of(task("a", "WAIT", {"seconds": 1}), task("a", "WAIT", {"seconds": 1}),
                       task("f", "FORK", {"branches": [{"name": "b", "do": []}]}))
    assert "do: task name 'a' is used twice" in errors
    assert "do/f/fork/b: at least one task is required" in errors


def test_catch_retry_is_accepted_with_a_warning() -> None:
    spec = json_format.ParseDict({"tasks": [task("t", "TRY", {
        "try": [task("w", "WAIT", {"seconds": 1})],
        "catch": {"retry": {"limit": {"attempt": {"count": 2}}}, "do": [task("s", "WAIT", {"seconds": 1})]},
    })]}, spec_pb2.WorkflowSpec())
    findings = validate_spec(spec)
    assert findings.errors == []
    assert findings.warnings == ["do/t: catch.retry is not part of Stigmer's TryTaskConfig"]


# -- the hosts documents may call --------------------------------------------------------------


async def test_any_public_host_by_default_but_not_this_machine() -> None:
    from wfrunner.hosts import HostPolicy, HostRefused

    policy = HostPolicy("*")
    await policy.check("http://93.184.215.14/x")
    for url in ("http://127.0.0.1:8080/", "http://169.254.169.254/latest/meta-data", "http://10.0.0.5/",
                "http://localhost:7233/", "grpc://[::1]:7234"):
        with pytest.raises(HostRefused, match="WORKFLOW_HTTP_HOSTS allows \\*"):
            await policy.check(url)


async def test_private_hosts_need_entries_of_their_own() -> None:
    from wfrunner.hosts import HostPolicy, HostRefused

    policy = HostPolicy("10.1.0.0/16, 127.0.0.1")
    await policy.check("http://10.1.2.3/")
    await policy.check("http://127.0.0.1:9000/")
    with pytest.raises(HostRefused):
        await policy.check("http://10.2.0.1/")
    with pytest.raises(HostRefused, match="allows nothing"):
        await HostPolicy("").check("http://93.184.215.14/")

"""`validateWorkflow`'s checks: what a document must be for the runner to run it.

Pure: a WorkflowSpec in, errors and warnings out. Checked, in every task list (nested ones
included): at least one task; names present and unique; a known kind; a config that
decodes as its kind's message (unknown fields refused) with the fields the kind needs;
`then` targets (flow and SWITCH cases) that name a task of the same list or `continue`,
`exit`, `end`; and every runtime expression compiles with the variables in scope there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from ai.stigmer.agentic.workflow.v1 import spec_pb2
from domain.workflow_rules import CONFIG_TYPES, FLOW_DIRECTIVES as DIRECTIVES, Kind
from wfrunner.document import task_fields
from wfrunner.expressions import NAME, as_expression, body, check, expressions_in

# Each kind's config message (domain/workflow_rules.py), by the kind's name as documents carry it.
CONFIGS: dict[str, type[Message]] = {Kind.Name(kind): message for kind, message in CONFIG_TYPES.items()}
# Variables every expression may use (document.py's `_variables`).
BASE_VARIABLES = ("input", "output", "context", "data", "env", "secrets", "workflow", "task", "runtime")
HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


@dataclass
class Findings:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def validate_spec(spec: spec_pb2.WorkflowSpec) -> Findings:
    findings = Findings()
    tasks = json_format.MessageToDict(spec).get("tasks", [])
    _check_list(tasks, "do", BASE_VARIABLES, findings)
    return findings


def document_text(spec: spec_pb2.WorkflowSpec) -> str:
    """The document as the runner reads it, in JSON (which is YAML too)."""
    as_dict = json_format.MessageToDict(spec)
    return json.dumps({"document": as_dict.get("document", {}), "do": as_dict.get("tasks", [])}, indent=2)


def _check_list(tasks: list[Any], where: str, names: tuple[str, ...], findings: Findings) -> None:
    if not tasks:
        findings.errors.append(f"{where}: at least one task is required")
        return
    seen: set[str] = set()
    for task in tasks:
        name = task_fields(task)[0] if isinstance(task, dict) else ""
        if not name:
            findings.errors.append(f"{where}: a task has no name")
        elif name in seen:
            findings.errors.append(f"{where}: task name {name!r} is used twice")
        seen.add(name)
    for task in tasks:
        if isinstance(task, dict):
            _check_task(task, f"{where}/{task_fields(task)[0]}", seen, names, findings)


def _check_task(task: dict[str, Any], where: str, siblings: set[str], names: tuple[str, ...],
                findings: Findings) -> None:
    _, kind, config, export_as, then = task_fields(task)
    errors = findings.errors
    if then and then not in DIRECTIVES and then not in siblings:
        errors.append(f"{where}: flow.then {then!r} names no task of this list")
    if export_as:
        _expression(as_expression(export_as), where, (*names, "output"), findings)
    message_type = CONFIGS.get(kind)
    if message_type is None:
        errors.append(f"{where}: unknown kind {kind or 'WORKFLOW_TASK_KIND_UNSPECIFIED'!r}")
        return
    strict = config
    if kind == "WORKFLOW_TASK_KIND_TRY" and isinstance(config.get("catch"), dict) and "retry" in config["catch"]:
        # Serverless Workflow's catch.retry, which the runner honours; Stigmer's CatchBlock
        # has no such field, so a server that decodes configs strictly refuses it.
        findings.warnings.append(f"{where}: catch.retry is not part of Stigmer's TryTaskConfig")
        strict = {**config, "catch": {k: v for k, v in config["catch"].items() if k != "retry"}}
    try:
        message = json_format.ParseDict(strict, message_type(), ignore_unknown_fields=False)
    except json_format.ParseError as exc:
        errors.append(f"{where}: task_config is not a {message_type.DESCRIPTOR.name}: {exc}")
        return
    for problem in _required(kind, message):
        errors.append(f"{where}: {problem}")
    inner = tuple(names)
    if kind == "WORKFLOW_TASK_KIND_SWITCH":
        for case in config.get("cases", []):
            target = case.get("then", "")
            if target and target not in DIRECTIVES and target not in siblings:
                errors.append(f"{where}: case {case.get('name', '')!r} goes to {target!r}, no task of this list")
            if case.get("when"):
                _expression(as_expression(case["when"]), where, names, findings)
        return
    if kind == "WORKFLOW_TASK_KIND_FOR":
        each = config.get("each") or "item"
        if not NAME.match(each):
            errors.append(f"{where}: each {each!r} is not a variable name")
        if config.get("in"):
            _expression(as_expression(config["in"]), where, names, findings)
        _check_list(config.get("do", []), f"{where}/for", (*names, each, "index"), findings)
        return
    if kind == "WORKFLOW_TASK_KIND_FORK":
        for branch in config.get("branches", []):
            _check_list(branch.get("do", []), f"{where}/fork/{branch.get('name', '')}", names, findings)
        return
    if kind == "WORKFLOW_TASK_KIND_TRY":
        _check_list(config.get("try", []), f"{where}/try", names, findings)
        catch = config.get("catch")
        if catch:
            as_name = catch.get("as") or "error"
            if not NAME.match(as_name):
                errors.append(f"{where}: catch.as {as_name!r} is not a variable name")
            _check_list(catch.get("do", []), f"{where}/catch", (*inner, as_name), findings)
        return
    for expression in expressions_in(config):
        _expression(expression, where, names, findings)


def _expression(expression: str, where: str, names: tuple[str, ...], findings: Findings) -> None:
    problem = check(expression, names)
    if problem:
        findings.errors.append(f"{where}: expression {body(expression)!r} does not compile: {problem}")


def _required(kind: str, config: Any) -> list[str]:
    """What each kind's proto comments call required."""
    missing: list[str] = []
    if kind == "WORKFLOW_TASK_KIND_SET" and not config.variables:
        missing.append("set needs variables")
    elif kind == "WORKFLOW_TASK_KIND_HTTP_CALL":
        if config.method.upper() not in HTTP_METHODS:
            missing.append(f"http method {config.method!r} is not one of {', '.join(sorted(HTTP_METHODS))}")
        if not config.endpoint.uri:
            missing.append("http call needs endpoint.uri")
        if config.timeout_seconds < 0:
            missing.append("timeout_seconds cannot be negative")
    elif kind == "WORKFLOW_TASK_KIND_GRPC_CALL":
        if "/" not in config.service or not config.method:
            missing.append("grpc call needs service (host:port/package.Service) and method")
    elif kind == "WORKFLOW_TASK_KIND_CALL_ACTIVITY" and not config.activity:
        missing.append("call activity needs activity")
    elif kind == "WORKFLOW_TASK_KIND_SWITCH":
        if not config.cases:
            missing.append("switch needs at least one case")
        missing.extend(f"case {c.name!r} needs then" for c in config.cases if not c.then)
    elif kind == "WORKFLOW_TASK_KIND_FOR" and not config.__getattribute__("in"):
        missing.append("for needs in")
    elif kind == "WORKFLOW_TASK_KIND_FORK" and not config.branches:
        missing.append("fork needs at least one branch")
    elif kind == "WORKFLOW_TASK_KIND_LISTEN":
        if config.to.mode not in ("one", "all", ""):
            missing.append(f"listen mode {config.to.mode!r} is not one or all")
        if not config.to.signals:
            missing.append("listen needs at least one signal")
        missing.extend(
            f"listen signal {s.id!r}: only type signal can be waited for"
            for s in config.to.signals if s.type not in ("", "signal")
        )
        missing.extend("listen signal needs id" for s in config.to.signals if not s.id)
    elif kind == "WORKFLOW_TASK_KIND_WAIT" and config.seconds < 1:
        missing.append("wait needs seconds ≥ 1")
    elif kind == "WORKFLOW_TASK_KIND_RAISE" and not config.error:
        missing.append("raise needs error")
    elif kind == "WORKFLOW_TASK_KIND_RUN" and not config.workflow:
        missing.append("run needs workflow")
    elif kind == "WORKFLOW_TASK_KIND_AGENT_CALL":
        if not config.agent or not config.message:
            missing.append("agent call needs agent and message")
        if config.HasField("config") and config.config.timeout and not 1 <= config.config.timeout <= 3600:
            missing.append("agent call timeout must be 1 to 3600 seconds")
    return missing

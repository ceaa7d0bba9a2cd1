"""Workflows as tests write them: proto messages built from plain task tuples."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format

from ai.stigmer.agentic.workflow.v1 import api_pb2 as workflow_pb2, spec_pb2


def task(name: str, kind: str, config: dict[str, Any], *, then: str = "") -> spec_pb2.WorkflowTask:
    """`kind` is the WorkflowTaskKind without its prefix, e.g. "SET", "AGENT_CALL"."""
    body: dict[str, Any] = {"name": name, "kind": f"WORKFLOW_TASK_KIND_{kind}", "task_config": config}
    if then:
        body["flow"] = {"then": then}
    return json_format.ParseDict(body, spec_pb2.WorkflowTask())


def workflow(name: str, *tasks: spec_pb2.WorkflowTask) -> workflow_pb2.Workflow:
    request = workflow_pb2.Workflow()
    request.metadata.name = name
    document = request.spec.document
    document.dsl, document.namespace, document.name, document.version = "1.0.0", "tests", name, "1.0.0"
    request.spec.tasks.extend(tasks or [task("greet", "SET", {"variables": {"greeting": "hello"}})])
    return request

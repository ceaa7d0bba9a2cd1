"""Stigmer's skill, environment, execution-context and workflow contracts, as descriptors.

The expectations below were read from Stigmer's `.proto` files (`apis/ai/stigmer/agentic/
{skill,environment,executioncontext,workflow,workflowinstance,workflowexecution}/v1` and
the `commons` messages they use) and are kept here as data: the project's stubs must name
the same services and methods with the same request and response types, and give every
message the same fields with the same numbers and types, and every enum the same values.
A field or method of our own is allowed only when `OURS` lists it, under a number Stigmer
does not use.

Type notation: a bare name is a type of the same package, `apiresource.` and `rpc.` stand
for `ai.stigmer.commons.apiresource.` and `ai.stigmer.commons.rpc.`, anything else is a
full name; `repeated T` and `map<K, V>` as in a `.proto` file; `stream T` a server stream.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterator

import pytest
from google.protobuf import descriptor, descriptor_pool

SERVICES: dict[str, dict[str, list[tuple[str, str, str]]]] = {
    "ai.stigmer.agentic.environment.v1": {
        "EnvironmentCommandController": [
            ("apply", "Environment", "Environment"),
            ("create", "Environment", "Environment"),
            ("update", "Environment", "Environment"),
            ("delete", "apiresource.ApiResourceDeleteInput", "Environment"),
        ],
        "EnvironmentQueryController": [
            ("get", "apiresource.ApiResourceId", "Environment"),
            ("getByReference", "apiresource.ApiResourceReference", "Environment"),
        ],
    },
    "ai.stigmer.agentic.executioncontext.v1": {
        "ExecutionContextCommandController": [
            ("apply", "ExecutionContext", "ExecutionContext"),
            ("create", "ExecutionContext", "ExecutionContext"),
            ("delete", "apiresource.ApiResourceDeleteInput", "ExecutionContext"),
        ],
        "ExecutionContextQueryController": [
            ("get", "ExecutionContextId", "ExecutionContext"),
            ("getByReference", "apiresource.ApiResourceReference", "ExecutionContext"),
        ],
    },
    "ai.stigmer.agentic.skill.v1": {
        "SkillCommandController": [
            ("push", "PushSkillRequest", "Skill"),
            ("delete", "SkillId", "Skill"),
        ],
        "SkillQueryController": [
            ("get", "SkillId", "Skill"),
            ("getByReference", "apiresource.ApiResourceReference", "Skill"),
            ("getArtifact", "GetArtifactRequest", "GetArtifactResponse"),
        ],
    },
    "ai.stigmer.agentic.workflow.v1": {
        "WorkflowCommandController": [
            ("apply", "Workflow", "Workflow"),
            ("create", "Workflow", "Workflow"),
            ("update", "Workflow", "Workflow"),
            ("delete", "WorkflowId", "Workflow"),
        ],
        "WorkflowQueryController": [
            ("get", "WorkflowId", "Workflow"),
            ("getByReference", "apiresource.ApiResourceReference", "Workflow"),
        ],
    },
    "ai.stigmer.agentic.workflowexecution.v1": {
        "WorkflowExecutionCommandController": [
            ("create", "WorkflowExecution", "WorkflowExecution"),
            ("update", "WorkflowExecution", "WorkflowExecution"),
            ("updateStatus", "WorkflowExecutionUpdateStatusInput", "WorkflowExecution"),
            ("delete", "apiresource.ApiResourceId", "WorkflowExecution"),
        ],
        "WorkflowExecutionQueryController": [
            ("get", "WorkflowExecutionId", "WorkflowExecution"),
            ("list", "ListWorkflowExecutionsRequest", "WorkflowExecutionList"),
            ("listByWorkflow", "ListWorkflowExecutionsByWorkflowRequest", "WorkflowExecutionList"),
            ("subscribe", "SubscribeWorkflowExecutionRequest", "stream WorkflowExecution"),
        ],
    },
    "ai.stigmer.agentic.workflowinstance.v1": {
        "WorkflowInstanceCommandController": [
            ("apply", "WorkflowInstance", "WorkflowInstance"),
            ("create", "WorkflowInstance", "WorkflowInstance"),
            ("update", "WorkflowInstance", "WorkflowInstance"),
            ("delete", "WorkflowInstanceId", "WorkflowInstance"),
        ],
        "WorkflowInstanceQueryController": [
            ("get", "WorkflowInstanceId", "WorkflowInstance"),
            ("getByWorkflow", "GetWorkflowInstancesByWorkflowRequest", "WorkflowInstanceList"),
            ("getByReference", "apiresource.ApiResourceReference", "WorkflowInstance"),
        ],
    },
}

MESSAGES: dict[str, dict[str, dict[str, tuple[int, str]]]] = {
    "ai.stigmer.agentic.environment.v1": {
        "Environment": {
            "api_version": (1, "string"),
            "kind": (2, "string"),
            "metadata": (3, "apiresource.ApiResourceMetadata"),
            "spec": (4, "EnvironmentSpec"),
            "status": (5, "apiresource.ApiResourceAuditStatus"),
        },
        "EnvironmentId": {"value": (1, "string")},
        "EnvironmentSpec": {"description": (1, "string"), "data": (2, "map<string, EnvironmentValue>")},
        "EnvironmentValue": {"value": (1, "string"), "is_secret": (2, "bool"), "description": (3, "string")},
    },
    "ai.stigmer.agentic.executioncontext.v1": {
        "ExecutionContext": {
            "api_version": (1, "string"),
            "kind": (2, "string"),
            "metadata": (3, "apiresource.ApiResourceMetadata"),
            "spec": (4, "ExecutionContextSpec"),
            "status": (5, "apiresource.ApiResourceAuditStatus"),
        },
        "ExecutionContextId": {"value": (1, "string")},
        "ExecutionContextSpec": {"execution_id": (1, "string"), "data": (2, "map<string, ExecutionValue>")},
        "ExecutionValue": {"value": (1, "string"), "is_secret": (2, "bool")},
    },
    "ai.stigmer.agentic.skill.v1": {
        "Skill": {
            "api_version": (1, "string"),
            "kind": (2, "string"),
            "metadata": (3, "apiresource.ApiResourceMetadata"),
            "spec": (4, "SkillSpec"),
            "status": (5, "SkillStatus"),
        },
        "SkillList": {"api_version": (1, "string"), "kind": (2, "string"), "items": (3, "repeated Skill")},
        "SkillId": {"value": (1, "string")},
        "PushSkillRequest": {
            "name": (1, "string"),
            "scope": (2, "apiresource.ApiResourceOwnerScope"),
            "org": (3, "string"),
            "artifact": (4, "bytes"),
            "tag": (5, "string"),
        },
        "PushSkillResponse": {
            "version_hash": (1, "string"),
            "artifact_storage_key": (2, "string"),
            "tag": (3, "string"),
        },
        "GetArtifactRequest": {"artifact_storage_key": (1, "string")},
        "GetArtifactResponse": {"artifact": (1, "bytes")},
        "SkillSpec": {"skill_md": (1, "string"), "tag": (2, "string")},
        "SkillStatus": {
            "audit": (99, "apiresource.ApiResourceAudit"),
            "version_hash": (1, "string"),
            "artifact_storage_key": (2, "string"),
            "state": (3, "SkillState"),
        },
    },
    "ai.stigmer.agentic.workflow.v1": {
        "Workflow": {
            "api_version": (1, "string"),
            "kind": (2, "string"),
            "metadata": (3, "apiresource.ApiResourceMetadata"),
            "spec": (4, "WorkflowSpec"),
            "status": (5, "WorkflowStatus"),
        },
        "WorkflowId": {"value": (1, "string")},
        "WorkflowSpec": {
            "description": (1, "string"),
            "document": (2, "WorkflowDocument"),
            "tasks": (3, "repeated WorkflowTask"),
            "env_spec": (4, "ai.stigmer.agentic.environment.v1.EnvironmentSpec"),
        },
        "WorkflowDocument": {
            "dsl": (1, "string"),
            "namespace": (2, "string"),
            "name": (3, "string"),
            "version": (4, "string"),
            "description": (5, "string"),
        },
        "WorkflowTask": {
            "name": (1, "string"),
            "kind": (2, "apiresource.WorkflowTaskKind"),
            "task_config": (3, "google.protobuf.Struct"),
            "export": (4, "Export"),
            "flow": (5, "FlowControl"),
        },
        "Export": {"as": (1, "string")},
        "FlowControl": {"then": (1, "string")},
        "WorkflowStatus": {
            "audit": (99, "apiresource.ApiResourceAudit"),
            "default_instance_id": (1, "string"),
            "serverless_workflow_validation": (
                2,
                "ai.stigmer.agentic.workflow.v1.serverless.ServerlessWorkflowValidation",
            ),
        },
    },
    "ai.stigmer.agentic.workflow.v1.serverless": {
        "ServerlessWorkflowValidation": {
            "state": (1, "ValidationState"),
            "yaml": (2, "string"),
            "errors": (3, "repeated string"),
            "warnings": (4, "repeated string"),
            "validated_at": (5, "google.protobuf.Timestamp"),
            "validation_workflow_id": (6, "string"),
        },
    },
    "ai.stigmer.agentic.workflow.v1.tasks": {
        "AgentCallTaskConfig": {
            "agent": (1, "string"),
            "scope": (2, "apiresource.ApiResourceOwnerScope"),
            "message": (3, "string"),
            "env": (4, "map<string, string>"),
            "config": (5, "AgentExecutionConfig"),
        },
        "AgentExecutionConfig": {
            "model": (1, "string"),
            "timeout": (2, "int32"),
            "temperature": (3, "float"),
        },
        "CallActivityTaskConfig": {"activity": (1, "string"), "input": (2, "google.protobuf.Struct")},
        "ForTaskConfig": {
            "each": (1, "string"),
            "in": (2, "string"),
            "do": (3, "repeated ai.stigmer.agentic.workflow.v1.WorkflowTask"),
        },
        "ForkTaskConfig": {"branches": (1, "repeated ForkBranch"), "compete": (2, "bool")},
        "ForkBranch": {
            "name": (1, "string"),
            "do": (2, "repeated ai.stigmer.agentic.workflow.v1.WorkflowTask"),
        },
        "GrpcCallTaskConfig": {
            "service": (1, "string"),
            "method": (2, "string"),
            "request": (3, "google.protobuf.Struct"),
        },
        "HttpCallTaskConfig": {
            "method": (1, "string"),
            "endpoint": (2, "HttpEndpoint"),
            "headers": (3, "map<string, string>"),
            "body": (4, "google.protobuf.Struct"),
            "timeout_seconds": (5, "int32"),
        },
        "HttpEndpoint": {"uri": (1, "string")},
        "ListenTaskConfig": {"to": (1, "ListenTo")},
        "ListenTo": {"mode": (1, "string"), "signals": (2, "repeated SignalSpec")},
        "SignalSpec": {"id": (1, "string"), "type": (2, "string")},
        "RaiseTaskConfig": {"error": (1, "string"), "message": (2, "string")},
        "RunTaskConfig": {"workflow": (1, "string"), "input": (2, "google.protobuf.Struct")},
        "SetTaskConfig": {"variables": (1, "map<string, string>")},
        "SwitchTaskConfig": {"cases": (1, "repeated SwitchCase")},
        "SwitchCase": {"name": (1, "string"), "when": (2, "string"), "then": (3, "string")},
        "TryTaskConfig": {
            "try": (1, "repeated ai.stigmer.agentic.workflow.v1.WorkflowTask"),
            "catch": (2, "CatchBlock"),
        },
        "CatchBlock": {
            "as": (1, "string"),
            "do": (2, "repeated ai.stigmer.agentic.workflow.v1.WorkflowTask"),
        },
        "WaitTaskConfig": {"seconds": (1, "int32")},
    },
    "ai.stigmer.agentic.workflowexecution.v1": {
        "WorkflowExecution": {
            "api_version": (1, "string"),
            "kind": (2, "string"),
            "metadata": (3, "apiresource.ApiResourceMetadata"),
            "spec": (4, "WorkflowExecutionSpec"),
            "status": (5, "WorkflowExecutionStatus"),
        },
        "WorkflowExecutionStatus": {
            "audit": (99, "apiresource.ApiResourceAudit"),
            "phase": (1, "ExecutionPhase"),
            "tasks": (2, "repeated WorkflowTask"),
            "output": (3, "google.protobuf.Struct"),
            "error": (4, "string"),
            "started_at": (5, "string"),
            "completed_at": (6, "string"),
            "temporal_workflow_id": (7, "string"),
        },
        "WorkflowTask": {
            "task_id": (1, "string"),
            "task_name": (2, "string"),
            "task_type": (3, "WorkflowTaskType"),
            "input": (4, "google.protobuf.Struct"),
            "output": (5, "google.protobuf.Struct"),
            "status": (6, "WorkflowTaskStatus"),
            "started_at": (7, "string"),
            "completed_at": (8, "string"),
            "error": (9, "string"),
            "metadata": (10, "google.protobuf.Struct"),
        },
        "WorkflowExecutionUpdateStatusInput": {
            "execution_id": (1, "string"),
            "status": (2, "WorkflowExecutionStatus"),
        },
        "WorkflowExecutionId": {"value": (1, "string")},
        "WorkflowId": {"value": (1, "string")},
        "WorkflowExecutionList": {"total_pages": (1, "int32"), "entries": (2, "repeated WorkflowExecution")},
        "ListWorkflowExecutionsRequest": {
            "page_size": (1, "int32"),
            "page_token": (2, "string"),
            "phase": (3, "ExecutionPhase"),
            "tags": (4, "repeated string"),
        },
        "ListWorkflowExecutionsByWorkflowRequest": {
            "workflow_id": (1, "string"),
            "page_size": (2, "int32"),
            "page_token": (3, "string"),
        },
        "SubscribeWorkflowExecutionRequest": {"execution_id": (1, "string")},
        "WorkflowExecutionUpdate": {
            "update_type": (1, "WorkflowUpdateType"),
            "execution": (2, "WorkflowExecution"),
            "task": (3, "WorkflowTask"),
        },
        "WorkflowExecutionSpec": {
            "workflow_instance_id": (1, "string"),
            "workflow_id": (6, "string"),
            "trigger_message": (3, "string"),
            "trigger_metadata": (4, "map<string, string>"),
            "runtime_env": (5, "map<string, ai.stigmer.agentic.executioncontext.v1.ExecutionValue>"),
            "callback_token": (7, "bytes"),
        },
    },
    "ai.stigmer.agentic.workflowinstance.v1": {
        "WorkflowInstance": {
            "api_version": (1, "string"),
            "kind": (2, "string"),
            "metadata": (3, "apiresource.ApiResourceMetadata"),
            "spec": (4, "WorkflowInstanceSpec"),
            "status": (5, "apiresource.ApiResourceAuditStatus"),
        },
        "WorkflowInstanceId": {"value": (1, "string")},
        "GetWorkflowInstancesByWorkflowRequest": {
            "workflow_id": (1, "string"),
            "page_info": (2, "rpc.PageInfo"),
        },
        "WorkflowInstanceList": {"total_pages": (1, "int32"), "entries": (2, "repeated WorkflowInstance")},
        "WorkflowInstanceSpec": {
            "workflow_id": (1, "string"),
            "description": (2, "string"),
            "env_refs": (3, "repeated apiresource.ApiResourceReference"),
        },
    },
    "ai.stigmer.commons.apiresource": {
        "ApiResourceId": {"value": (1, "string")},
        "ApiResourceDeleteInput": {
            "resource_id": (1, "string"),
            "version_message": (2, "string"),
            "force": (3, "bool"),
        },
        "ApiResourceReference": {
            "scope": (1, "ApiResourceOwnerScope"),
            "org": (2, "string"),
            "kind": (3, "apiresource.apiresourcekind.ApiResourceKind"),
            "slug": (4, "string"),
            "version": (5, "string"),
        },
        "ApiResourceMetadata": {
            "name": (1, "string"),
            "slug": (2, "string"),
            "id": (3, "string"),
            "org": (4, "string"),
            "owner_scope": (5, "ApiResourceOwnerScope"),
            "labels": (6, "map<string, string>"),
            "annotations": (7, "map<string, string>"),
            "tags": (8, "repeated string"),
            "version": (9, "ApiResourceMetadataVersion"),
        },
        "ApiResourceMetadataVersion": {
            "id": (1, "string"),
            "message": (2, "string"),
            "previous_version_id": (3, "string"),
        },
        "ApiResourceAuditStatus": {"audit": (99, "ApiResourceAudit")},
        "ApiResourceAudit": {
            "spec_audit": (1, "ApiResourceAuditInfo"),
            "status_audit": (2, "ApiResourceAuditInfo"),
        },
        "ApiResourceAuditInfo": {
            "created_by": (1, "ApiResourceAuditActor"),
            "created_at": (2, "google.protobuf.Timestamp"),
            "updated_by": (3, "ApiResourceAuditActor"),
            "updated_at": (4, "google.protobuf.Timestamp"),
            "event": (5, "string"),
        },
        "ApiResourceAuditActor": {"id": (1, "string"), "avatar": (2, "string")},
    },
    "ai.stigmer.commons.rpc": {
        "PageInfo": {"num": (1, "int32"), "size": (2, "int32")},
    },
}

ENUMS: dict[str, dict[str, dict[str, int]]] = {
    "ai.stigmer.agentic.skill.v1": {
        "SkillState": {
            "SKILL_STATE_UNSPECIFIED": 0,
            "SKILL_STATE_UPLOADING": 1,
            "SKILL_STATE_READY": 2,
            "SKILL_STATE_FAILED": 3,
        },
    },
    "ai.stigmer.agentic.workflow.v1.serverless": {
        "ValidationState": {
            "VALIDATION_STATE_UNSPECIFIED": 0,
            "PENDING": 1,
            "VALID": 2,
            "INVALID": 3,
            "FAILED": 4,
        },
    },
    "ai.stigmer.agentic.workflowexecution.v1": {
        "ExecutionPhase": {
            "EXECUTION_PHASE_UNSPECIFIED": 0,
            "EXECUTION_PENDING": 1,
            "EXECUTION_IN_PROGRESS": 2,
            "EXECUTION_COMPLETED": 3,
            "EXECUTION_FAILED": 4,
            "EXECUTION_CANCELLED": 5,
        },
        "WorkflowTaskType": {
            "WORKFLOW_TASK_TYPE_UNSPECIFIED": 0,
            "WORKFLOW_TASK_AGENT_INVOCATION": 1,
            "WORKFLOW_TASK_APPROVAL": 2,
            "WORKFLOW_TASK_API_CALL": 3,
            "WORKFLOW_TASK_CONDITIONAL": 4,
            "WORKFLOW_TASK_PARALLEL": 5,
            "WORKFLOW_TASK_TRANSFORM": 6,
            "WORKFLOW_TASK_CUSTOM": 7,
        },
        "WorkflowTaskStatus": {
            "WORKFLOW_TASK_STATUS_UNSPECIFIED": 0,
            "WORKFLOW_TASK_PENDING": 1,
            "WORKFLOW_TASK_IN_PROGRESS": 2,
            "WORKFLOW_TASK_COMPLETED": 3,
            "WORKFLOW_TASK_FAILED": 4,
            "WORKFLOW_TASK_SKIPPED": 5,
        },
        "WorkflowUpdateType": {
            "workflow_update_type_unspecified": 0,
            "wf_update_status_changed": 1,
            "wf_update_task_started": 2,
            "wf_update_task_completed": 3,
            "wf_update_task_failed": 4,
            "wf_update_execution_completed": 5,
            "wf_update_execution_cancelled": 6,
        },
    },
    "ai.stigmer.commons.apiresource": {
        "ApiResourceOwnerScope": {
            "api_resource_owner_scope_unspecified": 0,
            "platform": 1,
            "organization": 2,
            "identity_account": 3,
        },
        "WorkflowTaskKind": {
            "WORKFLOW_TASK_KIND_UNSPECIFIED": 0,
            "WORKFLOW_TASK_KIND_SET": 1,
            "WORKFLOW_TASK_KIND_HTTP_CALL": 2,
            "WORKFLOW_TASK_KIND_GRPC_CALL": 3,
            "WORKFLOW_TASK_KIND_CALL_ACTIVITY": 4,
            "WORKFLOW_TASK_KIND_SWITCH": 5,
            "WORKFLOW_TASK_KIND_FOR": 6,
            "WORKFLOW_TASK_KIND_FORK": 7,
            "WORKFLOW_TASK_KIND_TRY": 8,
            "WORKFLOW_TASK_KIND_LISTEN": 9,
            "WORKFLOW_TASK_KIND_WAIT": 10,
            "WORKFLOW_TASK_KIND_RAISE": 11,
            "WORKFLOW_TASK_KIND_RUN": 12,
            "WORKFLOW_TASK_KIND_AGENT_CALL": 13,
        },
    },
    "ai.stigmer.commons.apiresource.apiresourcekind": {
        "ApiResourceKind": {
            "api_resource_kind_unknown": 0,
            "api_resource_version": 1,
            "iam_policy": 10,
            "identity_account": 11,
            "api_key": 12,
            "credential": 20,
            "organization": 30,
            "platform": 31,
            "agent": 40,
            "agent_execution": 41,
            "session": 42,
            "skill": 43,
            "mcp_server": 44,
            "agent_instance": 45,
            "workflow": 50,
            "workflow_instance": 51,
            "workflow_execution": 52,
            "environment": 53,
            "execution_context": 54,
        },
    },
}

# Fields and methods of our own in these packages: {full message or service name: {name: …}}.
OURS: dict[str, dict[str, tuple[int, str]]] = {
    # The stored document's monotonic version, set on every read.
    "ai.stigmer.commons.apiresource.ApiResourceAuditStatus": {"version": (100, "int64")},
    "ai.stigmer.agentic.workflow.v1.WorkflowStatus": {"version": (100, "int64")},
    "ai.stigmer.agentic.workflowexecution.v1.WorkflowExecutionStatus": {"version": (100, "int64")},
    # The sender's ordering key of a status update (0 = unordered).
    "ai.stigmer.agentic.workflowexecution.v1.WorkflowExecutionUpdateStatusInput": {"sequence": (3, "int64")},
    # Lists page by token.
    "ai.stigmer.agentic.workflowexecution.v1.WorkflowExecutionList": {"next_page_token": (3, "string")},
}

ALIASES = {"apiresource.": "ai.stigmer.commons.apiresource.", "rpc.": "ai.stigmer.commons.rpc."}
SCALARS = {
    descriptor.FieldDescriptor.TYPE_STRING: "string",
    descriptor.FieldDescriptor.TYPE_BOOL: "bool",
    descriptor.FieldDescriptor.TYPE_BYTES: "bytes",
    descriptor.FieldDescriptor.TYPE_INT32: "int32",
    descriptor.FieldDescriptor.TYPE_INT64: "int64",
    descriptor.FieldDescriptor.TYPE_FLOAT: "float",
    descriptor.FieldDescriptor.TYPE_DOUBLE: "double",
}
PACKAGES = sorted(set(SERVICES) | set(MESSAGES) | set(ENUMS))


def full_name(package: str, name: str) -> str:
    """A type of the notation above as its full protobuf name."""
    if name in SCALARS.values():
        return name
    for alias, prefix in ALIASES.items():
        if name.startswith(alias):
            return prefix + name[len(alias) :]
    return name if "." in name else f"{package}.{name}"


def expected_type(package: str, notation: str) -> str:
    if match := re.fullmatch(r"map<(\w+), (\S+)>", notation):
        return f"map<{match[1]}, {full_name(package, match[2])}>"
    for prefix in ("repeated ", "stream "):
        if notation.startswith(prefix):
            return prefix + full_name(package, notation[len(prefix) :])
    return full_name(package, notation)


def field_type(field: descriptor.FieldDescriptor) -> str:
    """A field's type in the notation above, with full names."""

    def single(f: descriptor.FieldDescriptor) -> str:
        if f.type in SCALARS:
            return SCALARS[f.type]
        named = f.message_type or f.enum_type
        assert named is not None, f.full_name
        return named.full_name

    message = field.message_type
    if message is not None and message.GetOptions().map_entry:
        key, value = message.fields_by_name["key"], message.fields_by_name["value"]
        return f"map<{single(key)}, {single(value)}>"
    if field.is_repeated:
        return f"repeated {single(field)}"
    return single(field)


def package_files(package: str) -> Iterator[descriptor.FileDescriptor]:
    """Every generated module of one package (not of its sub-packages)."""
    module = importlib.import_module(package)
    for info in pkgutil.iter_modules(module.__path__):
        if info.name.endswith("_pb2"):
            yield importlib.import_module(f"{package}.{info.name}").DESCRIPTOR


Declared = tuple[
    dict[str, descriptor.ServiceDescriptor],
    dict[str, descriptor.Descriptor],
    dict[str, descriptor.EnumDescriptor],
]


def declared(package: str) -> Declared:
    """The services, messages and enums of one package, by short name."""
    services: dict[str, descriptor.ServiceDescriptor] = {}
    messages: dict[str, descriptor.Descriptor] = {}
    enums: dict[str, descriptor.EnumDescriptor] = {}
    for file in package_files(package):
        assert file.package == package, file.name
        services.update(file.services_by_name)
        messages.update(file.message_types_by_name)
        enums.update(file.enum_types_by_name)
    return services, messages, enums


@pytest.mark.parametrize("package", PACKAGES)
def test_services_have_stigmers_methods_with_stigmers_types(package: str) -> None:
    services, _, _ = declared(package)
    expected = SERVICES.get(package, {})
    assert sorted(services) == sorted(expected)
    for name, methods in expected.items():
        service = services[name]
        actual = [
            (
                m.name,
                m.input_type.full_name,
                ("stream " if m.server_streaming else "") + m.output_type.full_name,
            )
            for m in service.methods
        ]
        want = [(m, full_name(package, i), expected_type(package, o)) for m, i, o in methods]
        assert actual[: len(want)] == want, name
        assert not any(m.client_streaming for m in service.methods), name
        ours = OURS.get(service.full_name, {})
        assert [m[0] for m in actual[len(want) :]] == list(ours), f"{name}: methods Stigmer lacks"


@pytest.mark.parametrize("package", PACKAGES)
def test_messages_have_stigmers_fields_numbers_and_types(package: str) -> None:
    _, messages, _ = declared(package)
    expected = MESSAGES.get(package, {})
    if not package.startswith("ai.stigmer.commons."):
        # The domains' own packages hold exactly Stigmer's messages.
        assert sorted(messages) == sorted(expected)
    for name, fields in expected.items():
        message = messages[name]
        actual = {f.name: (f.number, field_type(f)) for f in message.fields}
        ours = OURS.get(message.full_name, {})
        want = {f: (n, expected_type(package, t)) for f, (n, t) in fields.items()}
        want |= {f: (n, expected_type(package, t)) for f, (n, t) in ours.items()}
        assert actual == want, name
        assert not {n for n, _ in ours.values()} & {n for n, _ in fields.values()}, name
        for field in message.fields:
            # protobuf JSON (Temporal's payloads) uses the default lowerCamel names.
            head, *rest = field.name.split("_")
            assert field.json_name == head + "".join(p[:1].upper() + p[1:] for p in rest)
            assert not field.has_presence or field.message_type is not None, (
                f"{name}.{field.name}: proto3 `optional` is not Stigmer's"
            )


@pytest.mark.parametrize("package", PACKAGES)
def test_enums_have_stigmers_values(package: str) -> None:
    _, _, enums = declared(package)
    expected = ENUMS.get(package, {})
    if not package.startswith("ai.stigmer.commons."):
        assert sorted(enums) == sorted(expected)
    for name, values in expected.items():
        assert {v.name: v.number for v in enums[name].values} == values, name


def test_every_referenced_type_resolves_in_one_pool() -> None:
    """The stubs load together (no missing import) and every type named above exists."""
    pool = descriptor_pool.Default()
    for package in PACKAGES:
        declared(package)
        for messages in MESSAGES.get(package, {}).values():
            for _, notation in messages.values():
                name = expected_type(package, notation).split()[-1].rstrip(">")
                if name not in SCALARS.values():
                    try:
                        pool.FindMessageTypeByName(name)
                    except KeyError:
                        pool.FindEnumTypeByName(name)


def test_a_stigmer_workflow_execution_spec_keeps_its_numbers_on_the_wire() -> None:
    """The spec the workflow runner reads: numbers 1, 6, 3, 4, 5, 7 as Stigmer's stubs write them."""
    from ai.stigmer.agentic.executioncontext.v1.spec_pb2 import ExecutionValue
    from ai.stigmer.agentic.workflowexecution.v1.spec_pb2 import WorkflowExecutionSpec

    spec = WorkflowExecutionSpec(
        workflow_instance_id="win_1",
        workflow_id="wfl_1",
        trigger_message="go",
        trigger_metadata={"source": "cli"},
        runtime_env={"K": ExecutionValue(value="v", is_secret=True)},
        callback_token=b"\x01\x02",
    )
    # Hand-written bytes: tag = number << 3 | wire type 2 (length-delimited).
    assert spec.SerializeToString(deterministic=True) == b"".join(
        [
            b"\x0a\x05win_1",  # 1 workflow_instance_id
            b"\x1a\x02go",  # 3 trigger_message
            b"\x22\x0d\x0a\x06source\x12\x03cli",  # 4 trigger_metadata entry
            b"\x2a\x0a\x0a\x01K\x12\x05\x0a\x01v\x10\x01",  # 5 runtime_env entry
            b"\x32\x05wfl_1",  # 6 workflow_id
            b"\x3a\x02\x01\x02",  # 7 callback_token
        ]
    )

"""Workflows and workflow instances: the use cases both transports call.

Creating a workflow checks it (domain/workflow_rules.py), has the workflow runner validate
it through Temporal (Stigmer's `ValidateWorkflow`), stores it with the validation's
result in `status.serverless_workflow_validation`, and makes its default instance
`<name>-default`. INVALID refuses the workflow (INVALID_ARGUMENT naming the first
error); a runner that does not answer in time leaves the workflow stored with
validation PENDING, and the validation workflow records the result when it comes.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import replace
from typing import Protocol, TypeVar

from google.protobuf import json_format

from ai.stigmer.agentic.workflow.v1 import api_pb2 as workflow_pb2, spec_pb2
from ai.stigmer.agentic.workflow.v1.serverless import validation_pb2
from ai.stigmer.agentic.workflowinstance.v1 import api_pb2 as instance_pb2, io_pb2 as instance_io_pb2
from ai.stigmer.commons.apiresource import io_pb2 as resource_io_pb2
from ai.stigmer.commons.apiresource.apiresourcekind import api_resource_kind_pb2 as kind_pb2
from application import resource_steps as steps
from domain.convert import keep_secrets, without_secrets
from domain.errors import AlreadyExists, InvalidArgument
from domain.ids import is_valid_id, require_id
from domain.pages import Page
from domain.resource_rules import slugify
from domain.workflow_rules import (
    INSTANCE_KIND,
    WORKFLOW_KIND,
    check_instance_scope,
    default_instance_of,
    reference_kind_ok,
    validate_instance,
    validate_workflow,
)
from persistence.agents import ResourceStore
from persistence.workflows import WorkflowInstanceStore, WorkflowStore

log = logging.getLogger(__name__)

Validation = validation_pb2.ServerlessWorkflowValidation
R = TypeVar("R", workflow_pb2.Workflow, instance_pb2.WorkflowInstance)


class WorkflowValidator(Protocol):
    """Asks the workflow runner to validate a spec (workflows/workflow_starters.py)."""

    async def validate(self, workflow_id: str, spec: spec_pb2.WorkflowSpec, spec_digest: str) -> Validation:
        """The runner's answer, or PENDING (with the validation workflow's id when one
        started) when it does not answer in time."""
        ...


def spec_digest(spec: spec_pb2.WorkflowSpec) -> str:
    return hashlib.sha256(spec.SerializeToString(deterministic=True)).hexdigest()


def pending_validation(workflow_id: str = "") -> Validation:
    return Validation(state=validation_pb2.PENDING, validation_workflow_id=workflow_id)


class WorkflowService:
    def __init__(
        self, workflows: WorkflowStore, instances: WorkflowInstanceStore, validator: WorkflowValidator | None = None
    ) -> None:
        self.workflows = workflows
        self.instances = instances
        self.validator = validator

    # -- workflows --------------------------------------------------------------------

    async def create_workflow(self, request: workflow_pb2.Workflow) -> workflow_pb2.Workflow:
        validate_workflow(request)
        workflow = steps.new_state(request, WORKFLOW_KIND, "wfl")
        digest = spec_digest(workflow.spec)
        await self._check_slug_free(self.workflows, workflow)
        workflow.status.serverless_workflow_validation.CopyFrom(
            await self._validate(workflow.metadata.id, workflow.spec, digest)
        )
        stored = await steps.insert(self.workflows, workflow)
        await self.workflows.set_spec_digest(stored.metadata.id, digest)
        try:
            instance = await self.create_instance(default_instance_of(stored))
        except Exception:
            await self.workflows.delete(stored.metadata.id)  # no workflow without its default instance
            raise
        stored.status.default_instance_id = instance.metadata.id
        return without_secrets(await self.workflows.replace(stored))

    async def update_workflow(self, request: workflow_pb2.Workflow) -> workflow_pb2.Workflow:
        validate_workflow(request)
        current = await self.workflows.get(require_id(request.metadata.id, "workflow"))
        workflow = steps.updated_state(current, request)
        keep_secrets(workflow, current)
        digest = spec_digest(workflow.spec)
        if digest != spec_digest(current.spec) or not current.status.HasField("serverless_workflow_validation"):
            workflow.status.serverless_workflow_validation.CopyFrom(
                await self._validate(workflow.metadata.id, workflow.spec, digest)
            )
        updated = await steps.replace(self.workflows, workflow)
        await self.workflows.set_spec_digest(updated.metadata.id, digest)
        return without_secrets(updated)

    async def apply_workflow(self, request: workflow_pb2.Workflow) -> workflow_pb2.Workflow:
        """Create, or update the workflow with this id or slug (like `kubectl apply`)."""
        validate_workflow(request)
        return await steps.apply(self.workflows, request, self.create_workflow, self.update_workflow)

    async def delete_workflow(self, workflow_id: str) -> workflow_pb2.Workflow:
        deleted = await self.workflows.delete(require_id(workflow_id, "workflow"))
        await self.instances.delete_of_workflow(deleted.metadata.id)
        return without_secrets(deleted)

    async def get_workflow(self, workflow_id: str) -> workflow_pb2.Workflow:
        return without_secrets(await self.workflows.get(require_id(workflow_id, "workflow")))

    async def get_workflow_by_reference(self, ref: resource_io_pb2.ApiResourceReference) -> workflow_pb2.Workflow:
        reference_kind_ok(ref, kind_pb2.workflow)
        return without_secrets(await steps.by_slug(self.workflows, ref.slug))

    async def find_workflow(self, id_or_name: str) -> workflow_pb2.Workflow:
        """By id (`wfl_…`), else by slug or name."""
        if not id_or_name:
            raise InvalidArgument("workflow id or name is required")
        if id_or_name.startswith("wfl_") and is_valid_id(id_or_name):
            return await self.get_workflow(id_or_name)
        return without_secrets(await steps.by_slug(self.workflows, id_or_name))

    async def list_workflows(
        self, page_size: int = 20, page_token: str = ""
    ) -> Page[workflow_pb2.Workflow]:
        if page_size < 0:
            raise InvalidArgument("page_size must not be negative")
        page = await self.workflows.page(page_size, page_token)
        return replace(page, entries=[without_secrets(w) for w in page.entries])

    async def record_validation(self, workflow_id: str, digest: str, validation: Validation) -> bool:
        """A validation that finished after its caller stopped waiting: stored while the
        workflow's spec is still the one validated. Whether it was stored."""
        body = json_format.MessageToDict(validation, preserving_proto_field_name=True)
        return await self.workflows.set_status_fields(
            workflow_id, {"serverless_workflow_validation": body}, spec_digest=digest
        )

    async def _validate(self, workflow_id: str, spec: spec_pb2.WorkflowSpec, digest: str) -> Validation:
        if self.validator is None:
            return pending_validation()
        sent = spec_pb2.WorkflowSpec()
        sent.CopyFrom(spec)
        for value in sent.env_spec.data.values():  # the runner checks shape, not secrets
            if value.is_secret:
                value.value = ""
        validation = await self.validator.validate(workflow_id, sent, digest)
        if validation.state == validation_pb2.INVALID:
            first = validation.errors[0] if validation.errors else "workflow structure validation failed"
            raise InvalidArgument(f"workflow validation failed: {first}")
        return validation

    # -- instances --------------------------------------------------------------------

    async def create_instance(self, request: instance_pb2.WorkflowInstance) -> instance_pb2.WorkflowInstance:
        validate_instance(request)
        workflow = await self.get_workflow(request.spec.workflow_id)
        check_instance_scope(request, workflow)
        instance = steps.new_state(request, INSTANCE_KIND, "win")
        return await steps.insert(self.instances, instance)

    async def update_instance(self, request: instance_pb2.WorkflowInstance) -> instance_pb2.WorkflowInstance:
        validate_instance(request)
        current = await self.get_instance(request.metadata.id)
        if request.spec.workflow_id != current.spec.workflow_id:
            raise InvalidArgument("spec.workflow_id of a workflow instance cannot change")
        check_instance_scope(request, await self.get_workflow(current.spec.workflow_id))
        instance = steps.updated_state(current, request)
        return await steps.replace(self.instances, instance)

    async def apply_instance(self, request: instance_pb2.WorkflowInstance) -> instance_pb2.WorkflowInstance:
        validate_instance(request)
        return await steps.apply(self.instances, request, self.create_instance, self.update_instance)

    async def delete_instance(self, instance_id: str) -> instance_pb2.WorkflowInstance:
        return await self.instances.delete(require_id(instance_id, "workflow instance"))

    async def get_instance(self, instance_id: str) -> instance_pb2.WorkflowInstance:
        return await self.instances.get(require_id(instance_id, "workflow instance"))

    async def get_instance_by_reference(
        self, ref: resource_io_pb2.ApiResourceReference
    ) -> instance_pb2.WorkflowInstance:
        reference_kind_ok(ref, kind_pb2.workflow_instance)
        return await steps.by_slug(self.instances, ref.slug)

    async def instances_of_workflow(
        self, request: instance_io_pb2.GetWorkflowInstancesByWorkflowRequest
    ) -> instance_io_pb2.WorkflowInstanceList:
        """A workflow's instances, oldest first; `page_info` (1-based `num`, `size`) pages them."""
        workflow = await self.get_workflow(request.workflow_id)
        page = request.page_info
        if page.num < 0 or page.size < 0:
            raise InvalidArgument("page_info.num and page_info.size must not be negative")
        items = await self.instances.of_workflow(workflow.metadata.id)
        size = page.size or len(items) or 1
        start = (max(page.num, 1) - 1) * size
        return instance_io_pb2.WorkflowInstanceList(
            total_pages=(len(items) + size - 1) // size, entries=items[start : start + size]
        )

    async def resolve_instance(
        self, workflow_id: str, instance_id: str
    ) -> tuple[instance_pb2.WorkflowInstance, workflow_pb2.Workflow]:
        """What an execution runs: the given instance (which must exist, and belong to
        `workflow_id` when both are given), else the workflow's default instance, made
        when missing."""
        if instance_id:
            instance = await self.get_instance(instance_id)
            if workflow_id and workflow_id != instance.spec.workflow_id:
                raise InvalidArgument(
                    f"workflow instance {instance_id!r} belongs to workflow {instance.spec.workflow_id!r}, "
                    f"not {workflow_id!r}"
                )
            return instance, await self.get_workflow(instance.spec.workflow_id)
        workflow = await self.get_workflow(workflow_id)
        if workflow.status.default_instance_id:
            found = await self.instances.find(workflow.status.default_instance_id)
            if found is not None:
                return found, workflow
        default = default_instance_of(workflow)
        found = await self.instances.find_by_slug(slugify(default.metadata.name))
        if found is None or found.spec.workflow_id != workflow.metadata.id:
            found = await self.create_instance(default)
        await self.workflows.set_status_fields(workflow.metadata.id, {"default_instance_id": found.metadata.id})
        return found, workflow

    # -- internals --------------------------------------------------------------------

    async def _check_slug_free(self, store: ResourceStore[R], resource: R) -> None:
        """Before asking the runner: a name that is taken fails fast."""
        if await store.find_by_slug(resource.metadata.slug) is not None:
            raise AlreadyExists(f"{store.what} {resource.metadata.slug!r} already exists")

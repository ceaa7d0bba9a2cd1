"""One whole stack per end-to-end module (tests/utils/stack.py); with a stand-in workflow
runner for the modules that take `wf` (tests/utils/workflow_stack.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from devtools.embedded import ServiceEndpoints
from tests.utils.stack import Stack, running_stack, stack_settings
from tests.utils.workflow_stack import WorkflowStack, running_workflow_stack


@pytest.fixture(scope="module")
async def stack(services: ServiceEndpoints) -> AsyncIterator[Stack]:
    async with running_stack(stack_settings(services)) as running:
        yield running


@pytest.fixture(scope="module")
async def wf(services: ServiceEndpoints) -> AsyncIterator[WorkflowStack]:
    async with running_workflow_stack(services) as running:
        yield running

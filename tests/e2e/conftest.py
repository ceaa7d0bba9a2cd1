"""One whole stack per end-to-end module (tests/utils/stack.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from devtools.embedded import ServiceEndpoints
from tests.utils.stack import Stack, running_stack, stack_settings


@pytest.fixture(scope="module")
async def stack(services: ServiceEndpoints) -> AsyncIterator[Stack]:
    async with running_stack(stack_settings(services)) as running:
        yield running

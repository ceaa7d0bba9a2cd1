"""Schema-driven fuzzing of the REST API (schemathesis): no request makes the server fail.

The generated requests go to the live uvicorn server from a worker thread (schemathesis
calls are synchronous; the server runs on this test's event loop).
"""

from __future__ import annotations

import asyncio
import os

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from ai.stigmer.agentic.agent.v1.api_pb2 import Agent
from tests.utils.http import EXECUTIONS, HttpApi

# Per operation and generation mode; ~11 operations × 2 modes. FUZZ_EXAMPLES raises it.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "40"))


def fuzz(openapi: dict, base_url: str, agent_id: str) -> list[str]:
    """Run every operation with positive and negative data; returns the failures."""
    schema = schemathesis.openapi.from_dict(openapi)
    session = requests.Session()
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            reach_the_service = (
                mode is GenerationMode.POSITIVE and operation.method.upper() == "POST" and operation.path == EXECUTIONS
            )

            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,  # the same cases every run: a failure reproduces
                phases=[Phase.explicit, Phase.generate],  # no shrinking: bounded time
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def check(case) -> None:
                if reach_the_service and isinstance(case.body, dict) and isinstance(case.body.get("spec"), dict):
                    # Random ids stop at "agent not found"; a real agent takes the body all the way.
                    case.body["spec"]["agent_id"] = agent_id
                    case.body["spec"].pop("session_id", None)
                response = case.call(base_url=base_url, session=session, timeout=10)
                case.validate_response(response, checks=[not_a_server_error])

            try:
                check()
            except Unsatisfiable:
                continue  # no parameters and no body: nothing to make negative
            except Exception as exc:  # collect every operation's failure, not just the first
                failures.append(f"{operation.label} [{mode.value}]: {exc}"[:2000])
    session.close()
    return failures


async def test_fuzzed_requests_never_get_a_server_error(http_api: HttpApi, agent: Agent) -> None:
    openapi = (await http_api.client.get("/openapi.json")).json()
    failures = await asyncio.to_thread(fuzz, openapi, http_api.base_url, agent.metadata.id)
    assert not failures, "\n\n".join(failures)
    # The fuzzing really reached the service: executions were created for the agent.
    listed = (await http_api.client.get(EXECUTIONS, params={"page_size": 1})).json()
    assert listed["total"] > 0

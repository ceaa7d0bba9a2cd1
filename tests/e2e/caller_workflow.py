"""A caller that waits for an agent execution through a callback token (kept in its own
module with few imports, as Temporal's workflow sandbox re-imports it)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow


@activity.defn(name="WaitForAgentExecution")
async def wait_for_agent_execution(token_path: str) -> object:
    """Writes its task token where the test picks it up, then waits to be completed."""
    with open(token_path, "wb") as handle:
        handle.write(activity.info().task_token)
    activity.raise_complete_async()


@workflow.defn(name="CallerWorkflow")
class CallerWorkflow:
    @workflow.run
    async def run(self, token_path: str) -> object:
        return await workflow.execute_activity(
            "WaitForAgentExecution", token_path, start_to_close_timeout=timedelta(seconds=60)
        )

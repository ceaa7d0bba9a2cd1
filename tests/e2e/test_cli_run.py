"""`stigmer-service run` as a user runs it: a separate process against the whole stack,
with no TTY (so the live view prints its final state once)."""

from __future__ import annotations

import uuid

from tests.utils.cli import stigmer_service
from tests.utils.stack import Stack, create_agent


async def test_run_follows_the_execution_to_completion_and_prints_the_answer(stack: Stack) -> None:
    agent_id = await create_agent(stack)
    message = f"hello {uuid.uuid4().hex[:6]}"
    result = await stigmer_service("run", message, "--agent", agent_id, "--url", stack.http_url)
    assert result.code == 0, result.stderr
    out = result.stdout
    assert " COMPLETED " in out
    assert f'Agent: You asked: "{message}"' in out
    assert "✓ get_current_time" in out and "✓ researcher" in out
    assert "Plan" in out and "☑ Understand the request" in out
    assert out.count("Agent: ") == 1  # no TTY: one final view, not a frame per update


async def test_run_resolves_an_agent_by_name(stack: Stack) -> None:
    name = f"cli-{uuid.uuid4().hex[:6]}"
    await create_agent(stack, name=name)
    result = await stigmer_service("run", "by name", "--agent", name, "--url", stack.http_url, "--no-follow")
    assert result.code == 0, result.stderr
    execution_id = result.stdout.strip()
    assert execution_id.startswith("aex_")
    shown = await stigmer_service("get", execution_id, "--url", stack.http_url)
    assert shown.code == 0 and execution_id in shown.stdout


async def test_a_failed_execution_exits_1(stack: Stack) -> None:
    agent_id = await create_agent(stack)
    result = await stigmer_service("run", "please [fail]", "--agent", agent_id, "--url", stack.http_url)
    assert result.code == 1, result.stdout + result.stderr
    assert " FAILED " in result.stdout and "Error: " in result.stdout


async def test_an_unknown_agent_exits_2_with_a_message(stack: Stack) -> None:
    result = await stigmer_service("run", "hi", "--agent", "no-such-agent", "--url", stack.http_url)
    assert result.code == 2
    assert "no agent named 'no-such-agent'" in result.stderr
    assert "Traceback" not in result.stderr


async def test_follow_watches_an_existing_execution_to_its_end(stack: Stack) -> None:
    agent_id = await create_agent(stack)
    message = f"follow me {uuid.uuid4().hex[:6]}"
    started = await stigmer_service("run", message, "--agent", agent_id, "--url", stack.http_url, "--no-follow")
    assert started.code == 0, started.stderr
    execution_id = started.stdout.strip()

    followed = await stigmer_service("follow", execution_id, "--url", stack.http_url)
    assert followed.code == 0, followed.stderr
    assert " COMPLETED " in followed.stdout
    assert f'Agent: You asked: "{message}"' in followed.stdout
    assert followed.stdout.count("Agent: ") == 1

    again = await stigmer_service("follow", execution_id, "--url", stack.http_url)  # already ended
    assert again.code == 0 and " COMPLETED " in again.stdout

    failed = await stigmer_service("run", "please [fail]", "--agent", agent_id, "--url", stack.http_url, "--no-follow")
    assert (await stigmer_service("follow", failed.stdout.strip(), "--url", stack.http_url)).code == 1


async def test_follow_of_an_unknown_execution_exits_2_with_a_message(stack: Stack) -> None:
    result = await stigmer_service("follow", "aex_nothere", "--url", stack.http_url)
    assert result.code == 2
    assert "404" in result.stderr and "Traceback" not in result.stderr

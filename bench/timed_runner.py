"""`stigmer-service runner` with the token-timed scripted model (see bench.timed_model).

The runner builds scripted models through `runner.models`; pointing that module's
ScriptedChatModel at the timed subclass changes nothing else about the runner.
"""

from __future__ import annotations

import runner.activities
import runner.models
from bench.timed_model import TimedScriptedChatModel
from runner.types import AgentConfig

_stored_agent_config = runner.activities.agent_config


def _with_fact_tool(agent):  # type: ignore[no-untyped-def]
    """The stored agent plus the built-in `word_count`, the tool the peer graph calls."""
    config: AgentConfig = _stored_agent_config(agent)
    config.tools = ["word_count"]
    return config

if __name__ == "__main__":
    runner.models.ScriptedChatModel = TimedScriptedChatModel  # type: ignore[misc]
    runner.activities.agent_config = _with_fact_tool
    from stigmer_service.cli import main

    main(["runner"])

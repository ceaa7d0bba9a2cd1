"""`stigmer-service runner` with the token-timed scripted model (see bench.timed_model).

The runner builds scripted models through `runner.models`; pointing that module's
ScriptedChatModel at the timed subclass changes nothing else about the runner. The
runner imports its engine (and `runner.models` with it) on the first execution, so the
model is swapped then, and the runner at idle holds what a plain runner holds.
"""

from __future__ import annotations

from types import ModuleType

import runner.activities
from runner.types import AgentConfig

_stored_agent_config = runner.activities.agent_config
_load_engine = runner.activities.load_engine


def _with_fact_tool(agent):  # type: ignore[no-untyped-def]
    """The stored agent plus the built-in `word_count`, the tool the peer graph calls."""
    config: AgentConfig = _stored_agent_config(agent)
    config.tools = ["word_count"]
    return config


def _load_timed_engine() -> ModuleType:
    """The runner's engine, its scripted model the timed one."""
    engine = _load_engine()
    import runner.models
    from bench.timed_model import TimedScriptedChatModel

    runner.models.ScriptedChatModel = TimedScriptedChatModel  # type: ignore[misc]
    return engine


if __name__ == "__main__":
    runner.activities.load_engine = _load_timed_engine
    runner.activities.agent_config = _with_fact_tool
    from stigmer_service.cli import main

    main(["runner"])

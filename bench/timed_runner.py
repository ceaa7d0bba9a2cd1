"""`stigmer-service runner` with the token-timed scripted model (see bench.timed_model).

The runner builds scripted models through `runner.models`; pointing that module's
ScriptedChatModel at the timed subclass changes nothing else about the runner.
"""

from __future__ import annotations

import runner.models
from bench.timed_model import TimedScriptedChatModel

if __name__ == "__main__":
    runner.models.ScriptedChatModel = TimedScriptedChatModel  # type: ignore[misc]
    from stigmer_service.cli import main

    main(["runner"])

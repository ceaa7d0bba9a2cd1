"""Run every benchmark, one after another; each prints one JSON document.

    python -m bench            # all
    python -m bench fanout     # one (status_streaming, status_patches, update_pipeline, fanout, end_to_end, burst, workflows)
    python -m bench peer [--quick] [options]   # against LangGraph's dev server (not in "all")
    python -m bench mcp_starts   # 300 executions starting a stdio MCP server (not in "all")
    python -m bench runner_status [options]   # the runner's CPU per run and its status part (not in "all")
    python -m bench floors [options]   # Temporal's CPU per workflow, gRPC's per status patch (not in "all")
"""

from __future__ import annotations

import asyncio
import importlib
import sys

ALL = ("status_streaming", "status_patches", "status_growth", "update_pipeline", "fanout", "end_to_end", "burst", "workflows")

if __name__ == "__main__":
    if sys.argv[1:2] == ["peer"]:
        from bench.peer import main

        main(sys.argv[2:])
        sys.exit()
    if sys.argv[1:2] == ["runner_status"]:
        from bench.runner_status import main as runner_status

        runner_status(sys.argv[2:])
        sys.exit()
    if sys.argv[1:2] == ["floors"]:
        from bench.floors import main as floors

        floors(sys.argv[2:])
        sys.exit()
    for name in sys.argv[1:] or ALL:
        asyncio.run(importlib.import_module(f"bench.{name}").main())

"""What ExecuteGraphton returns to the workflow: a status that fits a Temporal payload.

The workflow records the returned status through UpdateExecutionStatus, and Temporal
refuses payloads over 2 MB, so the content never travels whole:

* every change reached the server: only phase, error and timestamps (the content is in
  MongoDB already, and a status without content leaves the stored content alone);
* the last changes did not reach the server: the whole status when it fits `max_bytes`
  of proto JSON (it supersedes what is stored);
* too big, and the server never stored any of it: the newest messages, tool calls and
  sub-agents that fit (a text too long on its own is shortened), with a SYSTEM message
  saying what was cut;
* too big, and the server stored an earlier state: phase and times, with the error
  saying the newest changes are missing. A cut list would replace the stored one
  (ARCHITECTURE.md, "Status merge": non-empty lists replace) and lose the older content it already holds.
"""

from __future__ import annotations

from ai.stigmer.agentic.agentexecution.v1 import api_pb2
from domain.status_bounds import bounded_status, fits, summary_status

MAX_RETURNED_STATUS_BYTES = 200_000
UNDELIVERED = "the service could not be reached, so this status came back through the workflow"


def returned_status(
    status: api_pb2.AgentExecutionStatus,
    *,
    delivered: bool,
    partly_stored: bool = False,
    max_bytes: int = MAX_RETURNED_STATUS_BYTES,
) -> api_pb2.AgentExecutionStatus:
    """The status the activity returns (see the module docstring). `delivered`: every
    change was acknowledged; `partly_stored`: some earlier send was."""
    if delivered:
        return summary_status(status)
    if not partly_stored or fits(status, max_bytes):
        return bounded_status(status, max_bytes, UNDELIVERED)
    summary = summary_status(status)
    note = (
        "the newest status changes could not be delivered to the service; the stored "
        "content ends at the last change that was"
    )
    summary.error = f"{status.error}; {note}" if status.error else note
    return summary

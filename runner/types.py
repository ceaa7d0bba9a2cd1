"""What the engine runs: the agent definition and one execution of it (runner-internal;
the Temporal contract is core/workflow_contract.py)."""

from dataclasses import dataclass, field


@dataclass
class SubAgentConfig:
    """A helper agent the main agent can delegate to with the `task` tool."""

    name: str
    instructions: str


@dataclass
class AgentConfig:
    """The agent definition the run uses: its prompt, default model, tools, helpers."""

    name: str
    instructions: str
    model_name: str = ""
    tools: list[str] = field(default_factory=list)
    sub_agents: list[SubAgentConfig] = field(default_factory=list)


@dataclass
class AgentRunRequest:
    """One execution to run: the user's message in a session, for a given agent.

    `model_name` (from the execution's config) wins over `agent.model_name`; empty in
    both means the service default.
    """

    execution_id: str
    session_id: str
    thread_id: str
    message: str
    model_name: str
    agent: AgentConfig

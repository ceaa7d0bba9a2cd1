"""What the engine runs: the agent definition and one execution of it (runner-internal;
the Temporal contract is domain/workflow_contract.py)."""

from dataclasses import dataclass, field

from runner.mcp_config import EnvValue, McpServerConfig, McpToolSelection


@dataclass
class SubAgentConfig:
    """A helper agent the main agent can delegate to with the `task` tool."""

    name: str
    instructions: str
    # Names of the parent's MCP servers this sub-agent may use, and optional narrower
    # tool lists per server (a server named only here gets its enabled tools).
    mcp_servers: list[str] = field(default_factory=list)
    mcp_tool_selections: dict[str, McpToolSelection] = field(default_factory=dict)


@dataclass
class AgentConfig:
    """The agent definition the run uses: its prompt, default model, tools, helpers."""

    name: str
    instructions: str
    model_name: str = ""
    tools: list[str] = field(default_factory=list)
    sub_agents: list[SubAgentConfig] = field(default_factory=list)
    mcp_servers: list[McpServerConfig] = field(default_factory=list)


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
    # The execution's runtime_env: fills MCP servers' ${NAME} placeholders.
    runtime_env: dict[str, EnvValue] = field(default_factory=dict)

"""The operator's MCP allow lists (core/mcp_policy.py), as pure checks."""

from __future__ import annotations

import pytest

from core.mcp_policy import McpPolicy, McpPolicyError
from core.settings import Settings


def test_nothing_is_allowed_by_default() -> None:
    policy = McpPolicy.from_settings(Settings())
    with pytest.raises(McpPolicyError, match=r"command 'mcp-server-time' is not allowed.*MCP_STDIO_COMMANDS.*allows nothing"):
        policy.check_stdio("time", "mcp-server-time")
    with pytest.raises(McpPolicyError, match="MCP_DOCKER_IMAGES"):
        policy.check_docker("boxed", "mcp/time")
    with pytest.raises(McpPolicyError, match="MCP_HTTP_HOSTS"):
        policy.check_http("web", "https://mcp.example.com/mcp")


def test_stdio_commands_are_allowed_by_exact_name_or_exact_path() -> None:
    policy = McpPolicy(stdio_commands=("mcp-server-time", "/opt/mcp/bin/search"))
    policy.check_stdio("time", "mcp-server-time")
    policy.check_stdio("search", "/opt/mcp/bin/search")
    policy.check_stdio("search", "/opt/mcp/bin/../bin/search")
    for command in ("/bin/sh", "sh", "python", "/tmp/mcp-server-time", "search", "bin/search", "mcp-server-time "):
        with pytest.raises(McpPolicyError, match=f"server 's': command {command!r} is not allowed"):
            policy.check_stdio("s", command)


def test_docker_images_by_name_allow_every_tag_and_by_reference_only_that_one() -> None:
    policy = McpPolicy(docker_images=("mcp/time", "ghcr.io/acme/search:1.2"))
    for image in ("mcp/time", "mcp/time:latest", "mcp/time@sha256:abc", "ghcr.io/acme/search:1.2"):
        policy.check_docker("s", image)
    for image in ("mcp/timer", "mcp/time-evil", "ghcr.io/acme/search:1.3", "ghcr.io/acme/search", "alpine"):
        with pytest.raises(McpPolicyError, match="MCP_DOCKER_IMAGES"):
            policy.check_docker("s", image)
    policy.check_docker("s", "mcp/time", "tools-net")
    for network in ("host", "container:stigmer-runner-1"):
        with pytest.raises(McpPolicyError, match=f"docker network '{network}' is not allowed"):
            policy.check_docker("s", "mcp/time", network)


def test_http_loopback_link_local_and_private_hosts_are_refused_even_with_the_wildcard() -> None:
    policy = McpPolicy(http_hosts=("*",))
    policy.check_http("web", "https://mcp.example.com/mcp")
    policy.check_http("web", "http://93.184.216.34/mcp")
    for url in ("http://127.0.0.1:8080/mcp", "http://[::1]/mcp", "http://169.254.169.254/latest",
                "http://10.0.0.5/", "http://192.168.1.1/", "http://0.0.0.0:7233/", "http://[::ffff:127.0.0.1]/"):
        with pytest.raises(McpPolicyError, match="loopback, link-local and private addresses are refused"):
            policy.check_http("web", url)
    # A public name that resolves to a private address is refused where the runner connects.
    with pytest.raises(McpPolicyError, match=r"host 'evil.example.com' \(address 127.0.0.1\)"):
        policy.check_resolved("web", "evil.example.com", ["93.184.216.34", "127.0.0.1"])
    policy.check_resolved("web", "mcp.example.com", ["93.184.216.34"])


def test_http_hosts_by_name_wildcard_address_and_range() -> None:
    policy = McpPolicy(http_hosts=("mcp.internal", "*.example.com", "127.0.0.1", "10.1.0.0/16"))
    policy.check_http("a", "http://mcp.internal:9000/mcp")
    policy.check_resolved("a", "mcp.internal", ["10.9.9.9"])  # named exactly: the operator chose it
    policy.check_http("b", "https://tools.example.com/mcp")
    with pytest.raises(McpPolicyError):
        policy.check_resolved("b", "tools.example.com", ["192.168.0.7"])  # a wildcard is not that choice
    policy.check_http("c", "http://127.0.0.1:8000/mcp")
    policy.check_http("d", "http://10.1.2.3/mcp")
    for url in ("http://10.2.0.1/", "http://127.0.0.2/", "https://example.com.evil.net/", "https://other.org/",
                "http://93.184.216.34/"):
        with pytest.raises(McpPolicyError):
            policy.check_http("e", url)

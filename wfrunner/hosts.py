"""Which hosts a document's HTTP and gRPC calls may reach: the operator's allow list.

Whoever may write a workflow chooses URLs, and the runner calls them from inside the
deployment: without a list, a document could read the Temporal frontend, the server's
internal ports or a cloud metadata address. `WORKFLOW_HTTP_HOSTS` (comma-separated) has
the grammar of `MCP_HTTP_HOSTS` (domain/mcp_policy.py): names, `*.domain`, `*` (any public
host), addresses and ranges. Loopback, link-local and private addresses are refused
unless an address or range entry covers them or the URL names a host listed by its exact
name; the addresses a name resolves to are checked too, for every request, redirects
included. The default is `*`: any public host.
"""

from __future__ import annotations

import asyncio
import socket
from urllib.parse import urlsplit

import httpx

from domain.mcp_policy import McpPolicy, McpPolicyError

SETTING = "WORKFLOW_HTTP_HOSTS"


class HostRefused(Exception):
    """A call to a host the allow list does not allow; the message names the setting."""


class HostPolicy:
    def __init__(self, entries: str) -> None:
        self.entries = tuple(entry.strip() for entry in entries.split(",") if entry.strip())
        self._policy = McpPolicy(http_hosts=self.entries)

    async def check(self, url: str) -> None:
        """Refuse `url` unless its host, and every address it resolves to, is allowed."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        try:
            self._policy.check_http("", url)
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, parts.port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM
            )
            self._policy.check_resolved("", host, [str(info[4][0]) for info in infos])
        except McpPolicyError:
            allowed = ", ".join(self.entries) or "nothing"
            raise HostRefused(
                f"host {host!r} may not be called from workflows ({SETTING} allows {allowed}; loopback, "
                "link-local and private addresses need an entry of their own)"
            ) from None
        except OSError as exc:
            raise HostRefused(f"cannot resolve {host!r}: {exc}") from None

    async def check_request(self, request: httpx.Request) -> None:
        """An httpx request hook: every request, redirects included."""
        await self.check(str(request.url))


def http_client(policy: HostPolicy) -> httpx.AsyncClient:
    """The client of HTTP_CALL tasks: redirects followed, each hop checked."""
    return httpx.AsyncClient(follow_redirects=True, event_hooks={"request": [policy.check_request]})

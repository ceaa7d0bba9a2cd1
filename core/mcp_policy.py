"""What an agent's MCP servers may run and reach: the operator's allow lists.

An agent names its MCP servers, and the runner starts or calls them: a stdio server is a
command the runner runs, a docker server an image it runs, an http server a URL it
posts to. Whoever may define agents would otherwise choose code to run on the runner's
machine and addresses to reach from it. The operator decides instead, with three
settings (comma-separated):

* `MCP_STDIO_COMMANDS`: commands by name (`mcp-server-time`, found on the runner's PATH)
  or by absolute path (`/opt/tools/bin/search-mcp`). A name allows only that name, a path
  only that path. Arguments are the agent's: allowing a shell or an interpreter
  (`sh`, `python`, `node`, `npx`, `uvx`) allows any code.
* `MCP_DOCKER_IMAGES`: images by name (`mcp/time` allows every tag and digest of it) or by
  exact reference (`mcp/time:1.2`). The `host` network (or another container's) is
  refused whatever the image: it would reach the runner's loopback services.
* `MCP_HTTP_HOSTS`: hosts by name (`mcp.example.com`), by wildcard (`*.example.com`, or
  `*` for every public host), by IP address or by range (`10.1.0.0/16`). Loopback,
  link-local, private and other non-public addresses are refused unless an address or
  range entry covers them or the URL names a host listed by its exact name; the runner
  checks the addresses a name resolves to as well.

Empty means nothing is allowed. The server checks at create and update (INVALID_ARGUMENT
naming the server and the setting); the runner checks again before it opens a server,
since the agents it reads may predate the policy, or come from another server.
"""

from __future__ import annotations

import ipaddress
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class McpPolicyError(ValueError):
    """A server the policy does not allow; the message names the server and the setting."""


class _PolicySettings(Protocol):
    mcp_stdio_commands: str
    mcp_docker_images: str
    mcp_http_hosts: str


def _entries(value: str) -> tuple[str, ...]:
    return tuple(entry.strip() for entry in value.split(",") if entry.strip())


def _allowed(entries: Iterable[str]) -> str:
    listed = ", ".join(entries)
    return f"it allows {listed}" if listed else "it allows nothing"


def image_name(reference: str) -> str:
    """`registry/name` of an image reference, without its tag or digest."""
    name = reference.split("@", 1)[0]
    if ":" in name.rsplit("/", 1)[-1]:
        name = name.rsplit(":", 1)[0]
    return name


def is_public(address: IpAddress) -> bool:
    """An address anyone on the internet could own: not loopback, link-local, private,
    shared (CGNAT), multicast, reserved or unspecified (IPv4-mapped IPv6 as its IPv4)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


@dataclass(frozen=True)
class McpPolicy:
    stdio_commands: tuple[str, ...] = ()
    docker_images: tuple[str, ...] = ()
    http_hosts: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, settings: _PolicySettings) -> McpPolicy:
        return cls(
            _entries(settings.mcp_stdio_commands),
            _entries(settings.mcp_docker_images),
            _entries(settings.mcp_http_hosts),
        )

    # -- stdio ----------------------------------------------------------------------

    def check_stdio(self, server: str, command: str) -> None:
        """Refuse a command that `MCP_STDIO_COMMANDS` does not list (by name or path)."""
        if "/" in command:
            wanted = posixpath.normpath(command)
            ok = posixpath.isabs(command) and any(
                "/" in entry and posixpath.normpath(entry) == wanted for entry in self.stdio_commands
            )
        else:
            ok = command in self.stdio_commands
        if not ok:
            raise McpPolicyError(
                f"MCP server {server!r}: command {command!r} is not allowed on this service "
                f"(the MCP_STDIO_COMMANDS setting decides which commands may run; "
                f"{_allowed(self.stdio_commands)})"
            )

    # -- docker ---------------------------------------------------------------------

    def check_docker(self, server: str, image: str, network: str = "") -> None:
        """Refuse an image that `MCP_DOCKER_IMAGES` does not list, and a network that would
        put the container beside the runner's loopback services (`host`, `container:…`)."""
        if network == "host" or network.startswith("container:"):
            raise McpPolicyError(
                f"MCP server {server!r}: docker network {network!r} is not allowed: it would "
                "share the runner's network, loopback services included"
            )
        ok = any(
            image == entry or (entry == image_name(entry) and image_name(image) == entry)
            for entry in self.docker_images
        )
        if not ok:
            raise McpPolicyError(
                f"MCP server {server!r}: docker image {image!r} is not allowed on this service "
                f"(the MCP_DOCKER_IMAGES setting decides which images may run; "
                f"{_allowed(self.docker_images)})"
            )

    # -- http -----------------------------------------------------------------------

    def check_http(self, server: str, url: str) -> str:
        """Refuse a URL whose host `MCP_HTTP_HOSTS` does not allow; returns the host.

        A host given as an address is checked here in full; a name is checked here by
        name, and its addresses by `check_resolved` where the runner connects."""
        host = _host_of(url)
        if not host:
            raise McpPolicyError(f"MCP server {server!r}: URL {url!r} names no host")
        literal = _address(host)
        if literal is not None:
            if not self._address_allowed(literal):
                raise self._refused(server, host, literal)
        elif not self._name_allowed(host):
            raise self._refused(server, host, None)
        return host

    def check_resolved(self, server: str, host: str, addresses: Iterable[str]) -> None:
        """Refuse when `host` (allowed by name) resolved to a non-public address that no
        entry allows: one covered by an address or range entry, or any address of a host
        listed by its exact name."""
        exact = host.lower().rstrip(".") in self._names()
        for text in addresses:
            address = _address(text)
            if address is None:
                raise self._refused(server, host, None)
            if not (exact or is_public(address) or self._covered(address)):
                raise self._refused(server, host, address)

    def _address_allowed(self, address: IpAddress) -> bool:
        """A host given as an address: covered by an entry, or public and `*` is listed."""
        return self._covered(address) or (is_public(address) and "*" in self.http_hosts)

    def _covered(self, address: IpAddress) -> bool:
        return any(address in network for network in self._networks())

    def _name_allowed(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        for entry in self._names():
            if entry == "*" or entry == host:
                return True
            if entry.startswith("*.") and host.endswith(entry[1:]):
                return True
        return False

    def _names(self) -> set[str]:
        return {entry.lower().rstrip(".") for entry in self.http_hosts if _network(entry) is None}

    def _networks(self) -> list[IpNetwork]:
        return [network for entry in self.http_hosts if (network := _network(entry)) is not None]

    def _refused(self, server: str, host: str, address: IpAddress | None) -> McpPolicyError:
        where = f"host {host!r}"
        if address is not None and str(address) != host:
            where += f" (address {address})"
        private = address is not None and not is_public(address)
        why = (
            "loopback, link-local and private addresses are refused unless an entry names them"
            if private
            else "the MCP_HTTP_HOSTS setting decides which hosts may be called"
        )
        return McpPolicyError(
            f"MCP server {server!r}: {where} is not allowed on this service ({why}; "
            f"MCP_HTTP_HOSTS: {_allowed(self.http_hosts)})"
        )


def _host_of(url: str) -> str:
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return ""
    return host or ""


def _address(text: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None


def _network(entry: str) -> IpNetwork | None:
    try:
        return ipaddress.ip_network(entry.strip("[]"), strict=False)
    except ValueError:
        return None

"""Where a webhook may be sent: URLs checked when an endpoint is added, addresses at every delivery.

An endpoint URL must be ``https`` without credentials. At every delivery its host
is resolved again and *every* address it resolves to must be public
(:attr:`ipaddress.IPv4Address.is_global`): loopback, private, link-local (cloud
metadata services such as ``169.254.169.254`` included), carrier-grade NAT,
multicast, reserved and unspecified addresses are refused, and so are IPv4
addresses mapped into IPv6. The request then goes to the checked address (the
``Host`` header and TLS name stay the URL's host), so a DNS answer that changes
between the check and the connection cannot redirect it (DNS rebinding).
``allow_private=True`` lifts the address checks and allows plain ``http``: meant
for development and tests on a trusted network.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..errors import ConfigError, UnsafeDestination

__all__ = ["Resolver", "Target", "check_url", "public_address", "resolve_target", "system_resolver"]

Resolver = Callable[[str, int], Sequence[str]]
"""``resolver(host, port) -> addresses``: how hosts are resolved (default :func:`system_resolver`)."""

_LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa")


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (``socket.getaddrinfo``, TCP)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def public_address(address: str) -> bool:
    """Whether an IP address is a public (globally routable) unicast address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return bool(ip.is_global) and not ip.is_multicast


def check_url(url: str, *, allow_private: bool = False, flag: str = "allow_private=True") -> str:
    """Validate an endpoint URL when it is registered; returns it unchanged.

    Parameters
    ----------
    url : str
        ``https://host[:port]/path[?query]``.
    allow_private : bool
        Also accept ``http`` and loopback/private/link-local hosts (development, tests).
    flag : str
        How the caller spells ``allow_private`` (``--allow-private`` at the shell), for messages.

    Raises
    ------
    ConfigError
        Not http(s), no host, credentials or a fragment in the URL, plain http or a local
        address without ``allow_private``.
    """
    if not isinstance(url, str) or not url.strip() or any(c.isspace() for c in url):
        raise ConfigError(f"The webhook URL must be a non-empty string without spaces, got {url!r}.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"The webhook URL {url!r} cannot be parsed: {exc}.") from exc
    if parts.scheme not in ("https", "http"):
        raise ConfigError(f"The webhook URL {url!r} must start with https:// (got {parts.scheme or 'no'} scheme).")
    if parts.username is not None or parts.password is not None:
        shown = f"{parts.scheme}://{parts.hostname or ''}{parts.path}"
        raise ConfigError(f"The webhook URL {shown!r}... carries credentials (user:password@); they would be stored "
                          "and sent in clear. Remove them: deliveries are authenticated by their signature.")
    host = parts.hostname
    if not host:
        raise ConfigError(f"The webhook URL {url!r} has no host.")
    if parts.fragment:
        raise ConfigError(f"The webhook URL {url!r} has a #fragment, which is never sent; remove it.")
    if port == 0:
        raise ConfigError(f"The webhook URL {url!r} has port 0.")
    if allow_private:
        return url
    if parts.scheme == "http":
        raise ConfigError(f"The webhook URL {url!r} uses plain http: deliveries (and their signatures) would travel "
                          f"in clear. Use https://, or pass {flag} for a development receiver.")
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if (literal is not None and not public_address(host)) or host.lower().rstrip(".") in _LOCAL_NAMES \
            or host.lower().rstrip(".").endswith(_LOCAL_SUFFIXES):
        raise ConfigError(f"The webhook URL {url!r} points at a loopback, private or link-local host; pass {flag} "
                          "to send there (development and tests only).")
    return url


@dataclass(frozen=True)
class Target:
    """Where one attempt connects.

    Attributes
    ----------
    url : str
        The endpoint URL with its host replaced by the checked address.
    host : str
        The URL's host (``Host`` header, TLS server name).
    address : str
        The address connected to.
    """

    url: str
    host: str
    address: str


def resolve_target(url: str, *, allow_private: bool, resolver: Resolver | None = None) -> Target:
    """Resolve an endpoint's host now and pick the address to connect to.

    Raises
    ------
    UnsafeDestination
        When any address is not public and ``allow_private`` is false.
    OSError
        When the host does not resolve (``socket.gaierror``): a transient failure.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = list((resolver or system_resolver)(host, port))
    if not addresses:
        raise OSError(f"{host} resolved to no address")
    if not allow_private:
        refused = [a for a in addresses if not public_address(a)]
        if refused:
            raise UnsafeDestination(
                f"The webhook host {host} resolves to {', '.join(refused)}, a loopback, private, link-local or "
                "metadata address: refused (SSRF protection). If this receiver is meant to be on your network, "
                "remove the endpoint and add it again with allow_private=True (--allow-private).", host=host)
    address = addresses[0]
    shown = f"[{address}]" if ":" in address else address
    netloc = f"{shown}:{parts.port}" if parts.port else shown
    return Target(url=parts._replace(netloc=netloc).geturl(), host=host, address=address)

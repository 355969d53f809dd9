"""Where a webhook may point: an http(s) URL, and (unless PARLEY_WEBHOOK_ALLOW_PRIVATE is set) not at this
machine, the link-local network or a private one, so that a subscription cannot make Parley's workers
probe the internal network. Pure: the caller hands in how host names resolve.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from urllib.parse import SplitResult, urlsplit

from domain.errors import InvalidInput
from domain.plain_words import a_or_an

Resolver = Callable[[str], Iterable[str]]  # a host name's addresses (none when it does not resolve)
MAX_URL = 2000


def parse_url(url: str) -> SplitResult:
    """The URL split, or InvalidInput naming `url` when it is not an absolute http(s) URL."""
    if not re.match(r"[Hh][Tt][Tt][Pp][Ss]?://", url):  # as written: urlsplit would forgive leading control characters
        raise InvalidInput("must be an http:// or https:// URL", field="url")
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise InvalidInput("must not contain spaces or control characters", field="url")
    try:
        parts = urlsplit(url)
        port = parts.port  # (raises on a port out of range)
    except ValueError as exc:
        raise InvalidInput(f"is not a valid URL ({exc})", field="url") from exc
    if port == 0:
        raise InvalidInput("must not name port 0, which nothing can be reached on (leave the port out for the "
                           "scheme's own, or name one from 1 to 65535)", field="url")
    if not parts.hostname:
        raise InvalidInput("must name a host (http://host/path)", field="url")
    if parts.username is not None or parts.password is not None:
        raise InvalidInput("must not carry a user name or password", field="url")
    return parts


def check_target(url: str, *, allow_private: bool, resolve: Resolver) -> None:
    """Raise InvalidInput naming `url` when it is not an http(s) URL or, unless `allow_private`, when its
    host is (or resolves to) a loopback, link-local, private or otherwise non-public address."""
    host = parse_url(url).hostname or ""
    if allow_private:
        return
    why = private_reason(host)
    if why is None and not _is_address(host):
        why = next((r for r in map(address_reason, resolve(host)) if r is not None), None)
    if why is not None:
        raise InvalidInput(f"points at {a_or_an(why)} address ({host}); webhooks must reach a public host "
                           "(PARLEY_WEBHOOK_ALLOW_PRIVATE allows private targets)", field="url")


def private_reason(host: str) -> str | None:
    """Why `host` (a name or an address literal) is not public, or None when that takes a DNS look-up."""
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return "loopback"
    return address_reason(name) if _is_address(name) else None


def address_reason(address: str) -> str | None:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for why, flagged in (("loopback", ip.is_loopback), ("link-local", ip.is_link_local),
                         ("unspecified", ip.is_unspecified), ("multicast", ip.is_multicast),
                         ("private", ip.is_private), ("reserved", ip.is_reserved or not ip.is_global)):
        if flagged:
            return why
    return None


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True

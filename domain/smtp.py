"""Where e-mail goes: `PARLEY_SMTP_URL` read into an `SmtpTarget` (pure, no I/O).

    smtp://host[:25]                    plain SMTP (a relay on the local network)
    smtp+starttls://user:pass@host[:587] SMTP upgraded with STARTTLS, then AUTH
    smtps://user:pass@host[:465]        SMTP over TLS from the first byte

The user name and password are URL-encoded in the URL ("%40" for "@").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import unquote, urlsplit

Security = Literal["plain", "starttls", "tls"]
SCHEMES: dict[str, tuple[Security, int]] = {"smtp": ("plain", 25), "smtp+starttls": ("starttls", 587),
                                            "smtps": ("tls", 465)}


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    security: Security
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def __str__(self) -> str:
        return f"{self.host}:{self.port} ({self.security})"


def parse_smtp_url(url: str) -> SmtpTarget:
    """The SMTP server a URL names; ValueError saying what is wrong, in plain words."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise ValueError(f"the scheme must be one of {', '.join(s + '://' for s in SCHEMES)}, not {scheme or 'none'!r}")
    security, default_port = SCHEMES[scheme]
    try:
        port = parts.port or default_port
    except ValueError:
        raise ValueError("the port must be a number from 1 to 65535") from None
    if not parts.hostname:
        raise ValueError("the URL names no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("the URL takes no path, query or fragment")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if password is not None and not username:
        raise ValueError("a password needs a user name")
    return SmtpTarget(host=parts.hostname, port=port, security=security, username=username, password=password)

"""Fixtures of the e-mail tests: a real SMTP server in the test process (aiosmtpd) that accepts, refuses a
recipient (550), refuses everyone, answers "try later" (451), hangs, drops the connection, or is down; with
STARTTLS and log-in, or TLS from the first byte, on a self-signed certificate made for the test with the
`openssl` command (the `cryptography` package is not installed); the tests that need it skip without it.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from domain.smtp import SmtpTarget
from tests.harness.ports import free_port

Mode = Literal["accept", "refuse_all", "try_later", "hang", "drop"]
USER, PASSWORD = "parley", "s3cret pass"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    raw: bytes = b""  # as it came over the wire


@dataclass
class Mailbox:
    """The server's behaviour, switched by the tests, and what it received."""

    mode: Mode = "accept"
    refuse: set[str] = field(default_factory=set)  # addresses answered 550
    later: set[str] = field(default_factory=set)  # addresses answered 451 (try again later)
    received: list[Received] = field(default_factory=list)
    released: threading.Event = field(default_factory=threading.Event)  # ends a hang
    greetings: int = 0  # EHLOs: one per plain connection
    goodbyes: int = 0  # QUITs

    async def handle_EHLO(self, server: SMTP, session: Session, envelope: Envelope, hostname: str,
                          responses: list[str]) -> list[str]:
        self.greetings += 1
        session.host_name = hostname  # what aiosmtpd does itself when there is no hook
        return responses

    async def handle_QUIT(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.goodbyes += 1
        return "221 Bye"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if self.mode == "refuse_all" or address.lower() in self.refuse:
            return f"550 5.1.1 <{address}>: no such mailbox here"
        if self.mode == "try_later" or address.lower() in self.later:
            return "451 4.3.0 mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.mode == "hang":
            await asyncio.get_running_loop().run_in_executor(None, self.released.wait)
            return "451 4.3.0 too late"
        if self.mode == "drop":
            assert server.transport is not None
            server.transport.close()
            return "421 4.3.0 gone"
        content = envelope.original_content or b""
        message = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), message, content))
        return "250 2.0.0 accepted"

    def to(self, address: str) -> list[EmailMessage]:
        return [r.message for r in self.received if address in r.rcpt_tos]


def _authenticate(server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode() \
        and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 535 itself


@dataclass
class SmtpServer:
    """A running SMTP server; `stop()` and `start()` take it down and bring it back on the same port."""

    mailbox: Mailbox
    port: int
    security: Literal["plain", "starttls", "tls"] = "plain"
    tls: ssl.SSLContext | None = None
    controller: Controller | None = None

    def start(self) -> None:
        kwargs: dict[str, Any] = {}
        if self.security == "starttls":
            kwargs |= {"tls_context": self.tls, "require_starttls": True, "authenticator": _authenticate,
                       "auth_require_tls": True}
        elif self.security == "tls":
            kwargs |= {"ssl_context": self.tls, "authenticator": _authenticate,
                       "auth_require_tls": False}  # aiosmtpd sees only STARTTLS as TLS; this is TLS throughout
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port, ready_timeout=10,
                                     **kwargs)
        self.controller.start()

    def stop(self) -> None:
        self.mailbox.released.set()
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def target(self) -> SmtpTarget:
        login = {"username": USER, "password": PASSWORD} if self.security != "plain" else {}
        return SmtpTarget(host="127.0.0.1", port=self.port, security=self.security, **login)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A plain SMTP server on a free local port."""
    server = SmtpServer(Mailbox(), free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for 127.0.0.1, made now with the openssl command."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is not installed (and neither is the cryptography package)")
    where = tmp_path_factory.mktemp("tls")
    cert, key = where / "cert.pem", where / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    return Certificate(cert, key)


@pytest.fixture(params=["starttls", "tls"])
def secure_smtp(request: pytest.FixtureRequest, certificate: Certificate) -> Iterator[SmtpServer]:
    """An SMTP server that needs STARTTLS and a log-in, or speaks TLS from the first byte."""
    server = SmtpServer(Mailbox(), free_port(), security=request.param, tls=certificate.server_context())
    server.start()
    try:
        yield server
    finally:
        server.stop()

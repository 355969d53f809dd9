"""E-mail for `deliver_notices`: the SMTP client (`Mailer`) and the sending of an event's e-mails (`MailDelivery`).

Each outbox row carries its e-mail state apart from its Slack state (`email_status`, store.notifications), so
the two media are claimed and marked separately. An e-mail is marked sent right after the server took it, in
its own commit: a retried attempt never sends it again (a worker killed between the two sends it once more;
its Message-ID is the same, so mail clients show it once).

Faults, in SMTP's own terms: a 5xx answer to a recipient, the sender or the message is permanent, and that
e-mail is parked with the server's answer while the others go on; a 4xx answer, a refused, dropped or hung
connection, a TLS or log-in failure is transient: the row notes why and the activity fails, so Temporal
retries it with back-off until the server is back. The dispute's workflow never waits for it.

Each command may take up to `TIMEOUT_S`, so an event's e-mails together may take longer than the delivery
activity's heartbeat time-out: `MailDelivery.deliver` heartbeats before connecting, once connected and
after each e-mail (through the callback it is given; by default the running activity's heartbeat).
"""

from __future__ import annotations

import hashlib
import secrets
import smtplib
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from email.charset import QP, Charset
from email.header import Header
from email.headerregistry import Address
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.utils import formataddr, formatdate, parseaddr
from typing import Any

from sqlalchemy import Engine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.slack import heartbeat
from domain.smtp import SmtpTarget
from render.email import MailNotice, RenderedMail, render_notice
from store import notifications, projection, registrations
from store.charters import charter_by_version
from store.db import session
from store.group_commit import group_commit
from store.tables import utcnow

TIMEOUT_S = 10.0  # per connection and per SMTP command
UTF8_QP = Charset("utf-8")  # bodies in quoted-printable: readable as sent, lines short enough for any server
UTF8_QP.body_encoding = QP
KEEP = 4  # connections kept open between events
IDLE_S = 30.0  # how long one is kept unused: well inside the 5 minutes RFC 5321 lets a server wait for a command


class MailUnavailable(Exception):
    """The server cannot take mail right now: try again later."""


class MailRefused(Exception):
    """The server refused this e-mail for good (SMTP 5xx)."""


class Mailer:
    """An SMTP client for one server (`SmtpTarget`): plain, STARTTLS or TLS, with log-in when given."""

    def __init__(self, target: SmtpTarget, mail_from: str, *, timeout_s: float = TIMEOUT_S,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.target = target
        self.mail_from = mail_from
        self.timeout_s = timeout_s
        self.ssl_context = ssl_context or ssl.create_default_context()
        self.domain = parseaddr(mail_from)[1].rpartition("@")[2] or "parley.invalid"
        self._from = formataddr(parseaddr(mail_from), charset="utf-8")
        self._idle: list[tuple[float, smtplib.SMTP]] = []  # (last used, connection), the newest last
        self._lock = threading.Lock()

    @contextmanager
    def connection(self) -> Iterator[smtplib.SMTP]:
        """A connection, greeted, secured and logged in; MailUnavailable when that fails.

        A connection whose block ended normally is kept for the next one (at most `KEEP`, each for `IDLE_S`):
        connecting, greeting (and securing, logging in) and saying goodbye cost more than the e-mails of an
        event. A kept one is checked with NOOP before it is used again, so a message is never sent into a
        connection the server has dropped; one whose block raised is closed."""
        conn = self._reused() or self._connect()
        try:
            yield conn
        except BaseException:
            conn.close()  # no QUIT: the server may be what went wrong
            raise
        self._keep(conn)

    def close(self) -> None:
        """Say goodbye on the kept connections (the worker stops)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for _, conn in idle:
            _close(conn)

    def _reused(self) -> smtplib.SMTP | None:
        while True:
            with self._lock:
                if not self._idle:
                    return None
                used, conn = self._idle.pop()
            if time.monotonic() - used > IDLE_S:
                _close(conn)
                continue
            try:
                code, _ = conn.noop()
            except smtplib.SMTPServerDisconnected:  # dropped while idle: another one, or a new one
                conn.close()
                continue
            except (smtplib.SMTPException, OSError) as exc:  # there, but not answering: the server is in trouble
                conn.close()
                raise MailUnavailable(f"the SMTP server {self.target} did not answer: {describe(exc)}") from exc
            if code == 250:
                return conn
            _close(conn)

    def _keep(self, conn: smtplib.SMTP) -> None:
        with self._lock:
            if len(self._idle) < KEEP:
                self._idle.append((time.monotonic(), conn))
                return
        _close(conn)

    def _connect(self) -> smtplib.SMTP:
        t = self.target
        try:
            if t.security == "tls":
                conn: smtplib.SMTP = smtplib.SMTP_SSL(t.host, t.port, timeout=self.timeout_s,
                                                      context=self.ssl_context)
            else:
                conn = smtplib.SMTP(t.host, t.port, timeout=self.timeout_s)
        except (smtplib.SMTPException, OSError) as exc:
            raise MailUnavailable(f"could not reach the SMTP server {t}: {describe(exc)}") from exc
        try:
            if t.security == "starttls":
                conn.starttls(context=self.ssl_context)
            if t.username:
                conn.login(t.username, t.password or "")
        except (smtplib.SMTPException, OSError) as exc:
            conn.close()
            raise MailUnavailable(f"the SMTP server {t} did not let Parley in: {describe(exc)}") from exc
        return conn

    def message(self, mail: RenderedMail, to: str, name: str | None, key: str) -> Message:
        """The MIME message: the plain-text part, then the HTML part. `key` makes its stable Message-ID.

        Built with the email package's compat32 classes, whose headers are kept as the strings given: the
        default policy's `EmailMessage` parses every header into objects and folds them back out, which made
        building and sending one e-mail cost three times the CPU (`tests/email/test_delivery.py` reads the result
        back with the default policy, non-ASCII names and subjects included). The parts' boundary is 128 random
        bits: the generator's own would be checked against the text with a regular expression compiled anew for
        every message, a sixth of the CPU of building and flattening it."""
        try:
            address = Address(display_name=name or "", addr_spec=to)  # refuses what no server could take
        except (ValueError, IndexError) as exc:
            raise MailRefused(f"{to!r} is not an e-mail address Parley can send to") from exc
        message = MIMEMultipart("alternative", boundary=f"=_parley_{secrets.token_hex(16)}")  # not the generator's
        message["Subject"] = _header("Subject", mail.subject)  # type: ignore[assignment]  # a Header, as documented
        message["From"] = self._from
        message["To"] = formataddr((address.display_name, address.addr_spec), charset="utf-8")
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{self.domain}>"
        message["Auto-Submitted"] = "auto-generated"
        message.attach(_part(mail.text, "plain"))
        message.attach(_part(mail.html, "html"))
        return message

    def send(self, conn: smtplib.SMTP, message: Message) -> None:
        """Hand one message to the server: MailRefused for a 5xx answer, MailUnavailable for the rest."""
        try:
            conn.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            code, answer = next(iter(exc.recipients.values()))
            raise (MailRefused if code >= 500 else MailUnavailable)(
                f"the server refused {parseaddr(str(message['To']))[1]}: {code} {_text(answer)}") from exc
        except smtplib.SMTPAuthenticationError as exc:
            raise MailUnavailable(describe(exc)) from exc
        except smtplib.SMTPResponseException as exc:
            raise (MailRefused if exc.smtp_code >= 500 else MailUnavailable)(describe(exc)) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise MailUnavailable(describe(exc)) from exc


def _part(text: str, subtype: str) -> MIMENonMultipart:
    part = MIMENonMultipart("text", subtype)
    part.set_payload(text, UTF8_QP)
    return part


def _header(name: str, text: str) -> str | Header:
    """A header value as compat32 sends it: ASCII as it is, anything else encoded (RFC 2047), folded to fit."""
    return text if text.isascii() else Header(text, "utf-8", header_name=name)


def _close(conn: smtplib.SMTP) -> None:
    try:
        conn.quit()
    except (smtplib.SMTPException, OSError):
        conn.close()


def describe(exc: BaseException) -> str:
    """What went wrong, in the server's words or in plain ones."""
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_text(exc.smtp_error)}"
    if isinstance(exc, smtplib.SMTPServerDisconnected):  # smtplib reports a read that timed out as this too
        return "no answer in time (time-out)" if "timed out" in str(exc) else "the server closed the connection"
    if isinstance(exc, TimeoutError):
        return "no answer in time (time-out)"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return str(exc) or type(exc).__name__


def _text(answer: bytes | str) -> str:
    return answer.decode("utf-8", "replace") if isinstance(answer, bytes) else str(answer)


class MailDelivery:
    """Sends the e-mails an event's outbox rows still owe, through the mailer's kept connections."""

    def __init__(self, engine: Engine, mailer: Mailer, *, public_url: str,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.engine = engine
        self.marks = group_commit(engine)  # each e-mail's mark, committed with those sent beside it
        self.mailer = mailer
        self.public_url = public_url.rstrip("/")
        self.clock = clock

    def deliver(self, dispute_id: str, seq: int, *, beat: Callable[[], None] = heartbeat) -> None:
        """Send what is pending; ApplicationError (retried) when the server cannot take mail now. `beat` is
        called before connecting, once connected and after each e-mail."""
        with session(self.engine) as s:
            rows = notifications.mail_pending(s, dispute_id, seq)
            if not rows:
                return
            view = projection.stored_view(s, dispute_id)
            charter = charter_by_version(s, view.charter_version) if view is not None else None
            people = notifications.reach(s, {r.recipient for r in rows})
            of_registration = view is None and registrations.known(s, dispute_id)  # (a REG-… has no view)
        calendar = charter.business_calendar() if charter is not None else None
        link = f"{self.public_url}/{'registrations' if of_registration else 'disputes'}/{dispute_id}"
        try:
            beat()
            with self.mailer.connection() as conn:
                beat()
                for row in rows:
                    person = people.get(row.recipient)
                    name = person.name if person else None
                    notice = MailNotice(dispute_id=dispute_id, kind=row.kind, text=row.text, recipient=row.recipient,
                                        name=name, view=view, calendar=calendar, link=link, now=self.clock())
                    self._send_one(conn, row, notice, f"{dispute_id}/{seq}/{row.recipient.lower()}")
                    beat()
        except MailUnavailable as exc:
            self._note_failure([r.id for r in rows], f"smtp: {exc}")
            raise ApplicationError(f"e-mail for {dispute_id} event {seq} waits: {exc}", type="MailUnavailable") \
                from exc

    def _send_one(self, conn: smtplib.SMTP, row: Any, notice: MailNotice, key: str) -> None:
        try:
            self.mailer.send(conn, self.mailer.message(render_notice(notice), row.recipient, notice.name, key))
        except MailRefused as exc:
            activity.logger.warning("e-mail %s to %s parked: %s", row.id, row.recipient, exc)
            error = f"smtp: {exc}"
            self.marks.run(lambda s: notifications.mark_mail(s, row.id, sent=False, error=error))
            return
        self.marks.run(lambda s: notifications.mark_mail(s, row.id, sent=True))

    def _note_failure(self, row_ids: list[int], error: str) -> None:
        try:
            with session(self.engine, write=True) as s:
                for row_id in row_ids:
                    notifications.note_mail_failure(s, row_id, error)
        except Exception:  # bookkeeping only: never hide the SMTP fault behind a store error
            activity.logger.exception("could not record the failed e-mail attempt of %s", row_ids)


"""An event's e-mails go out on one connection, each command with its own time-out, so a slow SMTP server
can take longer for the batch than the delivery's heartbeat time-out (20 s): `MailDelivery.deliver`
heartbeats before connecting, once connected and after each e-mail, so the attempt stays alive while it
is still sending. Against the real local SMTP server (aiosmtpd), slowed down, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import Engine
from temporalio.testing import ActivityEnvironment

from activities.media import choose_media
from activities.notify import NotifyActivities
from domain.charter import Charter
from domain.model import Event
from tests.email.conftest import Mailbox, SmtpServer
from tests.email.test_delivery import PUBLIC_URL, mail, prefer, record, rows, to
from tests.email.test_delivery import charter as charter  # noqa: F401  (fixtures)
from tests.email.test_delivery import people as people  # noqa: F401
from tests.harness.ports import free_port
from tests.store.samples import COUNTERPARTY, FILER, MEDIATOR

PER_MAIL_S = 0.3  # how long the slow server takes over each message


@dataclass
class SlowMailbox(Mailbox):
    """A mailbox that takes PER_MAIL_S over each message, and notes when it had each one."""

    taken_at: list[float] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        await asyncio.sleep(PER_MAIL_S)
        answer = await super().handle_DATA(server, session, envelope)
        self.taken_at.append(time.monotonic())
        return answer


@pytest.fixture
def slow_smtp() -> Iterator[SmtpServer]:
    server = SmtpServer(SlowMailbox(), free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


def everyone_by_mail(engine: Engine, charter: Charter) -> Event:
    """An event with three e-mails due."""
    for person in (FILER, MEDIATOR, COUNTERPARTY):
        prefer(engine, person, "email")
    return record(engine, charter, to(COUNTERPARTY, MEDIATOR, FILER))


def assert_a_beat_per_mail(beats: list[float], taken_at: list[float]) -> None:
    assert len(taken_at) == 3
    assert beats[0] < taken_at[0]  # before connecting
    for earlier, later in zip(taken_at, taken_at[1:], strict=False):
        assert any(earlier < beat < later for beat in beats), (beats, taken_at)  # after each e-mail
    assert beats[-1] > taken_at[-1]


def test_deliver_calls_its_heartbeat_before_connecting_and_after_each_email(
        people: Engine, charter: Charter, slow_smtp: SmtpServer) -> None:
    beats: list[float] = []
    mailbox = slow_smtp.mailbox
    assert isinstance(mailbox, SlowMailbox)
    event = everyone_by_mail(people, charter)
    choose_media(people, event.dispute_id, event.seq, slack_on=False, email_on=True)  # as deliver_notices does
    mail(people, slow_smtp).deliver(event.dispute_id, event.seq, beat=lambda: beats.append(time.monotonic()))
    assert_a_beat_per_mail(beats, mailbox.taken_at)
    assert len(beats) == 2 + 3  # before connecting, once connected, after each of the three
    assert {r.email_status for r in rows(people).values() if r.recipient != "channel"} == {"sent"}


def test_deliver_notices_heartbeats_between_emails(people: Engine, charter: Charter, slow_smtp: SmtpServer) -> None:
    beats: list[float] = []
    mailbox = slow_smtp.mailbox
    assert isinstance(mailbox, SlowMailbox)
    event = everyone_by_mail(people, charter)
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(time.monotonic())
    env.run(NotifyActivities(people, None, mail=mail(people, slow_smtp), public_url=PUBLIC_URL).deliver_notices,
            event)
    assert_a_beat_per_mail(beats, mailbox.taken_at)
    assert all(len(mailbox.to(person)) == 1 for person in (COUNTERPARTY, MEDIATOR, FILER))

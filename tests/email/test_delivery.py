"""deliver_notices with e-mail, against a real local SMTP server, on SQLite and PostgreSQL: each person by
their preference, each (event, person, medium) once, whatever retries, outages and refusals happen."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from sqlalchemy import Engine, select, update
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities import email as email_module
from activities.email import MailDelivery, Mailer
from activities.notify import NotifyActivities
from activities.record import StoreActivities
from activities.slack import make_slack_client
from domain.calendar import BusinessCalendar
from domain.charter import Charter
from domain.durations import format_business_time, format_due
from domain.model import Event, Notice, Recorded, Sla
from ops.metrics import exposition
from render.email import RenderedMail
from store import charters
from store.db import session
from store.tables import NOTIFICATIONS, USERS, User
from tests.email.conftest import Certificate, SmtpServer
from tests.fakes.slack import FakeSlack
from tests.harness.paths import DEFAULT_CHARTER
from tests.harness.waiting import eventually_blocking
from tests.ops.conftest import samples
from tests.reference_times import REFERENCE_TIMES
from tests.store.samples import CHANNEL, COUNTERPARTY, FILER, MEDIATOR, recorded, view

MAIL_FROM = "Parley <parley@corp.example>"
PUBLIC_URL = "https://parley.example"
NOW = REFERENCE_TIMES["wednesday-noon"]
PAT, MEDI = "U0PAT", "U0MEDI"


@pytest.fixture
def charter(engine: Engine) -> Charter:
    """The default charter (business days in New York), stored as a dispute's pinned version."""
    found, text = charters.load_charter_file(DEFAULT_CHARTER)
    with session(engine, write=True) as s:
        charters.register(s, found, text, by="test", reason="test")
    return found


@pytest.fixture
def people(engine: Engine) -> Engine:
    with session(engine, write=True) as s:
        s.add(User(email=FILER, name="Dana Direct", role="rep", channel="direct"))
        s.add(User(email=COUNTERPARTY, name="Pat Partner", role="rep", channel="partner", partner_org="Acme",
                   notify="email"))
        s.add(User(email=MEDIATOR, name="Mo Mediator", role="mediator", slack_user_id=MEDI))
    return engine


def prefer(engine: Engine, email: str, notify: str | None) -> None:
    with session(engine, write=True) as s:
        s.execute(update(USERS).where(USERS.c.email == email).values(notify=notify))


def mail(engine: Engine, server: SmtpServer, **kwargs: Any) -> MailDelivery:
    return MailDelivery(engine, Mailer(server.target, MAIL_FROM, timeout_s=kwargs.pop("timeout_s", 5), **kwargs),
                        public_url=PUBLIC_URL, clock=lambda: NOW)


def recorded_to(charter: Charter, notices: list[Notice], seq: int = 1) -> Recorded:
    """The filing of PRL-1 under `charter`, due in a business day and a half, with these notices."""
    cal = charter.business_calendar()
    due = cal.add(NOW, 1.5 * cal.day_seconds)
    the_view = view(charter_version=charter.version_id, waiting_on=[COUNTERPARTY],
                    sla=Sla(due_at=due, remaining_s=1.5 * cal.day_seconds, paused=False, breached=False))
    return recorded(seq=seq, the_view=the_view, notices=notices)


def record(engine: Engine, charter: Charter, notices: list[Notice], seq: int = 1) -> Event:
    item = recorded_to(charter, notices, seq)
    ActivityEnvironment().run(StoreActivities(engine).record_event, item)
    return item.event


def deliver(engine: Engine, event: Event, mailer: MailDelivery | None, slack: WebClient | None = None) -> None:
    ActivityEnvironment().run(NotifyActivities(engine, slack, mail=mailer, public_url=PUBLIC_URL).deliver_notices,
                              event)


def rows(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        return {r.recipient: r for r in conn.execute(select(NOTIFICATIONS).order_by(NOTIFICATIONS.c.id))}


def to(*emails: str) -> list[Notice]:
    return [Notice(recipient="channel", kind="case_update", text="Dana Direct filed PRL-1")] + [
        Notice(recipient=e, kind="action_required", text="Dana Direct filed PRL-1: Overlap on Globex renewal. "
                                                         "Your move.") for e in emails]


def deadline(cal: BusinessCalendar, due: datetime) -> str:
    return f"Due {format_due(due, cal)} (business time left: {format_business_time(cal.between(NOW, due), cal)})."


def test_an_email_preference_gets_html_and_text_with_name_deadline_and_link(
        people: Engine, charter: Charter, smtp: SmtpServer) -> None:
    event = record(people, charter, to(COUNTERPARTY))
    deliver(people, event, mail(people, smtp))

    [message] = smtp.mailbox.to(COUNTERPARTY)
    cal = charter.business_calendar()
    due = cal.add(NOW, 1.5 * cal.day_seconds)
    expected = deadline(cal, due)
    assert "1 business day 4 h" in expected and "EDT" in expected
    assert message["From"] == MAIL_FROM and message["To"] == f"Pat Partner <{COUNTERPARTY}>"
    assert message["Subject"] == "[Parley] Your move: PRL-1 Overlap on Globex renewal"
    assert message["Message-ID"].endswith("@corp.example>") and message["Auto-Submitted"] == "auto-generated"
    assert message.get_content_type() == "multipart/alternative"
    text, html = (message.get_body(preferencelist=(kind,)) for kind in ("plain", "html"))
    assert text is not None and html is not None
    for part in (text.get_content(), html.get_content()):
        assert "Hello Pat Partner," in part
        assert "Dana Direct filed PRL-1: Overlap on Globex renewal. Your move." in part
        assert expected in part
        assert f"{PUBLIC_URL}/disputes/PRL-1" in part
    assert '<a href="https://parley.example/disputes/PRL-1"' in html.get_content()

    stored = rows(people)
    assert (stored[COUNTERPARTY].status, stored[COUNTERPARTY].email_status) == ("email", "sent")
    assert stored[COUNTERPARTY].email_sent_at is not None and stored[COUNTERPARTY].email_error is None
    assert (stored["channel"].status, stored["channel"].email_status) == ("outbox", "none")  # no Slack here


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        fake.users[PAT] = {"email": COUNTERPARTY, "real_name": "Pat Partner"}
        fake.users[MEDI] = {"email": MEDIATOR, "real_name": "Mo Mediator"}
        yield fake


def test_both_gets_slack_and_email_and_the_default_follows_the_slack_id(
        people: Engine, charter: Charter, smtp: SmtpServer, fake: FakeSlack) -> None:
    prefer(people, COUNTERPARTY, "both")
    slack = make_slack_client(fake.token, fake.base_url, interval=FixedValueRetryIntervalCalculator(0.05))
    event = record(people, charter, to(COUNTERPARTY, MEDIATOR, FILER))
    deliver(people, event, mail(people, smtp), slack)
    deliver(people, event, mail(people, smtp), slack)  # a retry sends nothing more

    assert len(fake.messages(PAT)) == 1 and len(smtp.mailbox.to(COUNTERPARTY)) == 1  # both
    assert len(fake.messages(MEDI)) == 1 and smtp.mailbox.to(MEDIATOR) == []  # default, with a Slack id: Slack
    assert len(smtp.mailbox.to(FILER)) == 1  # default, no Slack id while SMTP is set: e-mail
    assert [c.args["email"] for c in fake.calls_to("users.lookupByEmail")] == [COUNTERPARTY]  # Dana: not in Slack
    assert len(fake.messages(CHANNEL)) == 1
    stored = rows(people)
    assert [(stored[e].status, stored[e].email_status) for e in ("channel", COUNTERPARTY, MEDIATOR, FILER)] == [
        ("sent", "none"), ("sent", "sent"), ("sent", "none"), ("email", "sent")]


def test_a_retried_activity_sends_each_email_once(people: Engine, charter: Charter, smtp: SmtpServer) -> None:
    prefer(people, FILER, "email")
    smtp.mailbox.later = {FILER}  # the server takes Pat's mail, then asks Parley to try Dana's later
    event = record(people, charter, to(COUNTERPARTY, FILER))
    with pytest.raises(ApplicationError) as info:
        deliver(people, event, mail(people, smtp))
    assert info.value.type == "MailUnavailable" and not info.value.non_retryable
    stored = rows(people)
    assert stored[COUNTERPARTY].email_status == "sent"
    assert stored[FILER].email_status == "pending" and "451" in stored[FILER].email_error

    smtp.mailbox.later = set()
    deliver(people, event, mail(people, smtp))  # Temporal's retry
    deliver(people, event, mail(people, smtp))  # and once more
    assert len(smtp.mailbox.to(COUNTERPARTY)) == 1 and len(smtp.mailbox.to(FILER)) == 1
    assert {r.email_status for r in rows(people).values() if r.recipient != "channel"} == {"sent"}


def test_an_outage_delays_mail_until_the_server_is_back(people: Engine, charter: Charter, smtp: SmtpServer) -> None:
    event = record(people, charter, to(COUNTERPARTY))
    smtp.stop()
    for _ in range(2):  # every retry during the outage fails, and says why
        with pytest.raises(ApplicationError, match="could not reach the SMTP server"):
            deliver(people, event, mail(people, smtp))
    waiting = rows(people)[COUNTERPARTY]
    assert waiting.email_status == "pending" and "connection refused" in waiting.email_error

    smtp.start()
    deliver(people, event, mail(people, smtp))
    deliver(people, event, mail(people, smtp))
    assert len(smtp.mailbox.to(COUNTERPARTY)) == 1
    assert rows(people)[COUNTERPARTY].email_status == "sent"


def emails_by_result(engine: Engine) -> dict[str, float]:
    return {dict(k)["result"]: v for k, v in samples(exposition(engine).decode(), "parley_emails").items()}


def test_an_outage_and_a_refusal_show_in_the_metrics(people: Engine, charter: Charter, smtp: SmtpServer) -> None:
    """`/metrics` tells e-mails waiting out an outage (retrying) and refused ones (failed) from sent ones."""
    prefer(people, FILER, "email")
    event = record(people, charter, to(COUNTERPARTY, FILER))
    assert emails_by_result(people) == {"sent": 0, "pending": 0, "retrying": 0, "failed": 0}  # media not chosen yet
    smtp.stop()
    with pytest.raises(ApplicationError):
        deliver(people, event, mail(people, smtp))
    assert emails_by_result(people) == {"sent": 0, "pending": 0, "retrying": 2, "failed": 0}

    smtp.start()
    smtp.mailbox.refuse = {FILER}
    deliver(people, event, mail(people, smtp))
    assert emails_by_result(people) == {"sent": 1, "pending": 0, "retrying": 0, "failed": 1}


def test_a_refused_recipient_is_parked_with_the_reason_and_the_others_get_theirs(
        people: Engine, charter: Charter, smtp: SmtpServer) -> None:
    prefer(people, FILER, "email")
    prefer(people, MEDIATOR, "email")
    smtp.mailbox.refuse = {COUNTERPARTY}
    event = record(people, charter, to(COUNTERPARTY, FILER, MEDIATOR))
    deliver(people, event, mail(people, smtp))  # nothing to retry: a refusal is final
    refused = rows(people)[COUNTERPARTY]
    assert (refused.status, refused.email_status) == ("outbox", "outbox")
    assert f"smtp: the server refused {COUNTERPARTY}: 550" in refused.email_error
    assert refused.error == f"e-mail: {refused.email_error}"  # what the outbox page shows
    assert smtp.mailbox.to(COUNTERPARTY) == []
    assert len(smtp.mailbox.to(FILER)) == 1 and len(smtp.mailbox.to(MEDIATOR)) == 1


def test_a_server_that_refuses_everyone_parks_every_mail(people: Engine, charter: Charter, smtp: SmtpServer) -> None:
    prefer(people, FILER, "email")
    smtp.mailbox.mode = "refuse_all"
    event = record(people, charter, to(COUNTERPARTY, FILER))
    deliver(people, event, mail(people, smtp))
    stored = rows(people)
    assert [stored[e].email_status for e in (COUNTERPARTY, FILER)] == ["outbox", "outbox"]
    assert smtp.mailbox.received == []


@pytest.mark.parametrize("mode", ["hang", "drop", "try_later"])
def test_a_hung_or_dropped_connection_is_retried(people: Engine, charter: Charter, smtp: SmtpServer,
                                                 mode: str) -> None:
    smtp.mailbox.mode = mode  # type: ignore[assignment]
    event = record(people, charter, to(COUNTERPARTY))
    with pytest.raises(ApplicationError) as info:
        deliver(people, event, mail(people, smtp, timeout_s=0.5))
    assert info.value.type == "MailUnavailable"
    reason = rows(people)[COUNTERPARTY].email_error
    assert {"hang": "time-out", "drop": "closed the connection", "try_later": "451"}[mode] in reason
    smtp.mailbox.released.set()
    smtp.mailbox.mode = "accept"
    deliver(people, event, mail(people, smtp))
    assert len(smtp.mailbox.to(COUNTERPARTY)) == 1 and rows(people)[COUNTERPARTY].email_status == "sent"


def test_starttls_and_tls_with_a_log_in(people: Engine, charter: Charter, secure_smtp: SmtpServer,
                                        certificate: Certificate) -> None:
    event = record(people, charter, to(COUNTERPARTY))
    deliver(people, event, mail(people, secure_smtp, ssl_context=certificate.client_context()))
    [message] = secure_smtp.mailbox.to(COUNTERPARTY)
    assert message["Subject"].startswith("[Parley]")


def test_an_untrusted_certificate_or_a_wrong_password_waits(people: Engine, charter: Charter,
                                                             secure_smtp: SmtpServer, certificate: Certificate) -> None:
    event = record(people, charter, to(COUNTERPARTY))
    with pytest.raises(ApplicationError):  # the system's trust store does not know the test's certificate
        deliver(people, event, mail(people, secure_smtp))
    wrong = Mailer(secure_smtp.target.__class__(**{**secure_smtp.target.__dict__, "password": "wrong"}), MAIL_FROM,
                   ssl_context=certificate.client_context())
    with pytest.raises(ApplicationError, match="did not let Parley in: 535 5.7.8"):
        deliver(people, event, MailDelivery(people, wrong, public_url=PUBLIC_URL, clock=lambda: NOW))
    assert rows(people)[COUNTERPARTY].email_status == "pending" and secure_smtp.mailbox.received == []


def test_one_connection_carries_the_emails_of_many_events(people: Engine, charter: Charter, smtp: SmtpServer) -> None:
    prefer(people, FILER, "email")
    delivery = mail(people, smtp)
    for seq in (1, 2, 3):
        deliver(people, record(people, charter, to(COUNTERPARTY, FILER), seq=seq), delivery)
    assert len(smtp.mailbox.to(COUNTERPARTY)) == 3 and len(smtp.mailbox.to(FILER)) == 3
    assert (smtp.mailbox.greetings, smtp.mailbox.goodbyes) == (1, 0)  # kept open between events
    delivery.mailer.close()
    eventually_blocking(lambda: smtp.mailbox.goodbyes == 1, what="the QUIT at the server")


def test_a_kept_connection_the_server_dropped_is_replaced_before_anything_is_sent(
        people: Engine, charter: Charter, smtp: SmtpServer) -> None:
    delivery = mail(people, smtp)
    deliver(people, record(people, charter, to(COUNTERPARTY), seq=1), delivery)
    smtp.stop()  # the server restarts: the kept connection is gone
    smtp.start()
    deliver(people, record(people, charter, to(COUNTERPARTY), seq=2), delivery)
    assert len(smtp.mailbox.to(COUNTERPARTY)) == 2 and smtp.mailbox.greetings == 2
    assert [r.email_status for r in rows_of(people, COUNTERPARTY)] == ["sent", "sent"]


def test_a_connection_idle_too_long_is_closed_not_reused(people: Engine, charter: Charter, smtp: SmtpServer,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(email_module, "IDLE_S", 0.0)
    delivery = mail(people, smtp)
    deliver(people, record(people, charter, to(COUNTERPARTY), seq=1), delivery)
    deliver(people, record(people, charter, to(COUNTERPARTY), seq=2), delivery)
    assert smtp.mailbox.greetings == 2
    eventually_blocking(lambda: smtp.mailbox.goodbyes == 1, what="the QUIT of the expired connection")


def test_a_connection_whose_server_failed_is_not_kept(people: Engine, charter: Charter, smtp: SmtpServer) -> None:
    delivery = mail(people, smtp)
    smtp.mailbox.mode = "try_later"
    with pytest.raises(ApplicationError):
        deliver(people, record(people, charter, to(COUNTERPARTY), seq=1), delivery)
    smtp.mailbox.mode = "accept"
    deliver(people, record(people, charter, to(COUNTERPARTY), seq=2), delivery)
    assert smtp.mailbox.greetings == 2 and len(smtp.mailbox.to(COUNTERPARTY)) == 1  # the first waits for its retry


def rows_of(engine: Engine, recipient: str) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(NOTIFICATIONS).where(NOTIFICATIONS.c.recipient == recipient)
                                 .order_by(NOTIFICATIONS.c.seq)))



def test_names_subjects_and_bodies_beyond_ascii_arrive_as_written(smtp: SmtpServer) -> None:
    """The message is built with compat32's classes (cheaper than EmailMessage): headers outside ASCII are
    encoded (RFC 2047), bodies go as quoted-printable, and a reader with the default policy gets them back."""
    mailer = Mailer(smtp.target, "Équipe Parley <parley@corp.example>", timeout_s=5)
    long_subject = "[Parley] Décision rendue : PRL-1 Überlappung bei Müller & Søn — " + "très long " * 8
    html = '<p>Bonjour Zoë, <a href="https://parley.example/disputes/PRL-1">PRL-1</a> — 60 000 €</p>' * 20
    rendered = RenderedMail(subject=long_subject, text="Bonjour Zoë,\n\nPRL-1 — 60 000 € " + "x" * 200, html=html)
    with mailer.connection() as conn:
        mailer.send(conn, mailer.message(rendered, "zoe@partner.example", "Zoë Ørsted-Müller", "PRL-1/1/zoe"))
    [message] = smtp.mailbox.to("zoe@partner.example")
    assert message["Subject"] == long_subject
    assert message["From"] == "Équipe Parley <parley@corp.example>"
    assert message["To"] == "Zoë Ørsted-Müller <zoe@partner.example>"
    assert message.get_content_type() == "multipart/alternative"
    text, body = (message.get_body(preferencelist=(kind,)) for kind in ("plain", "html"))
    assert text is not None and body is not None
    assert text["Content-Transfer-Encoding"] == body["Content-Transfer-Encoding"] == "quoted-printable"
    assert text.get_content().replace("\r\n", "\n") == rendered.text  # the wire's line ends are CRLF
    assert body.get_content().replace("\r\n", "\n") == html
    raw = smtp.mailbox.received[-1].raw
    assert max(len(line) for line in raw.splitlines()) <= 78  # no line a server could refuse


def test_an_address_no_server_could_take_is_refused_before_sending(smtp: SmtpServer) -> None:
    mailer = Mailer(smtp.target, MAIL_FROM, timeout_s=5)
    with pytest.raises(email_module.MailRefused, match="is not an e-mail address"):
        mailer.message(RenderedMail(subject="s", text="t", html="h"), "not an address", None, "k")

"""DigestWorkflow on the time-skipping server with its real activities, a real SMTP server and a fake Slack over
HTTP, on SQLite and PostgreSQL: each person's digest by their medium, once per (digest, person, medium),
whatever the retries."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import Engine, select
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from domain.digest_runs import DigestRequest
from store.tables import NOTIFICATIONS
from tests.digest.conftest import MAIL_FROM, PUBLIC_URL, FlakyMailbox, rig
from tests.digest.samples import ADA, AT, BOB, DANA, EVE, MAX, MIA, PAT, fill
from tests.email.conftest import SmtpServer
from tests.fakes.slack import FakeSlack

EVERYONE = [ADA, BOB, DANA.email, EVE, MAX, MIA, PAT.email]  # by e-mail; the auditor gets none
BY_MAIL = [ADA, BOB, DANA.email, EVE, MAX, PAT.email]  # their preference, or no Slack id while mail is on


def mail_counts(smtp: SmtpServer) -> Counter[str]:
    return Counter(to for received in smtp.mailbox.received for to in received.rcpt_tos)


def slack_counts(slack: FakeSlack) -> Counter[str]:
    return Counter(c.args["channel"] for c in slack.calls_to("chat.postMessage") if c.ok)


async def attempts(handle: WorkflowHandle[Any, Any]) -> list[int]:
    """The attempt number of every activity the workflow's history shows started."""
    history = await handle.fetch_history()
    return [e.activity_task_started_event_attributes.attempt for e in history.events
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED]


async def test_each_person_gets_their_digest_once_by_their_medium(
        skipping: WorkflowEnvironment, engine: Engine, smtp: SmtpServer, slack: FakeSlack) -> None:
    fill(engine)
    async with rig(skipping, engine, smtp, slack) as r:
        report, _ = await r.run("digest")
        assert report.key == "digest:2026-03-16" and report.at == AT
        assert [s.recipient for s in report.sent] == EVERYONE
        assert report.by_medium() == {"email": BY_MAIL, "slack": [MAX, MIA]}

        assert mail_counts(smtp) == Counter(BY_MAIL)
        assert slack_counts(slack) == Counter({slack.dm_channel("U0MIA"): 1, slack.dm_channel("U0MAX"): 1})
        [mail] = smtp.mailbox.to(PAT.email)
        assert mail["From"] == MAIL_FROM and mail["To"] == f"Pat Partner <{PAT.email}>"
        assert mail["Subject"].strip() == "[Parley] Your digest of Mon 16 Mar 2026: 2 price protections ending soon"
        text, html = (mail.get_body(preferencelist=(kind,)) for kind in ("plain", "html"))
        assert text is not None and html is not None
        for part in (text.get_content(), html.get_content()):
            assert "Hello Pat Partner," in part and "Price protection ending soon" in part
            assert "PRL-PP Deal PRL-PP (Globex): price protection for the partner ends Thu 26 Mar 2026" in part
        assert f'<a href="{PUBLIC_URL}/disputes/PRL-COSELL"' in html.get_content()
        [dm] = slack.messages("U0MIA")
        assert dm["text"].startswith("Your Parley digest: 4 open disputes (1 past the deadline)")
        assert any("PRL-LATE" in str(block) for block in dm["blocks"])

        again, _ = await r.run("digest-again")  # the schedule's action taken twice: nothing goes twice
        assert again.by_medium() == report.by_medium()
        assert mail_counts(smtp) == Counter(BY_MAIL) and sum(slack_counts(slack).values()) == 2


async def test_a_retried_delivery_sends_only_what_did_not_go(
        skipping: WorkflowEnvironment, engine: Engine, smtp: SmtpServer, slack: FakeSlack) -> None:
    fill(engine)
    assert isinstance(smtp.mailbox, FlakyMailbox)
    smtp.mailbox.busy_once |= {MAX, EVE}  # their first e-mail is answered "try later"
    slack.fail_next(1, "500", method="chat.postMessage")  # and one Slack message fails
    async with rig(skipping, engine, smtp, slack) as r:
        report, handle = await r.run("digest-retried")
    assert report.by_medium() == {"email": BY_MAIL, "slack": [MAX, MIA]}
    assert mail_counts(smtp) == Counter(BY_MAIL)  # Max's e-mail once, though his Slack message failed once
    assert sorted(slack_counts(slack).values()) == [1, 1] and len(slack.calls_to("chat.postMessage")) == 3
    assert max(await attempts(handle)) >= 2  # some deliveries were retried by Temporal
    with engine.connect() as conn:
        found = conn.execute(select(NOTIFICATIONS).where(NOTIFICATIONS.c.dispute_id == report.key))
        rows = {r.recipient: r for r in found}
    assert rows[EVE].email_status == rows[MAX].email_status == "sent"
    assert sorted(r.attempts for r in rows.values() if r.status == "sent") == [1, 2]  # one Slack message failed once


async def test_without_slack_or_mail_the_digests_wait_in_the_outbox(
        skipping: WorkflowEnvironment, engine: Engine) -> None:
    fill(engine)
    async with rig(skipping, engine, None, None) as r:
        report, _ = await r.run("digest-outbox", DigestRequest(time_zone="America/New_York", at=AT, key="digest:now"))
    assert report.by_medium() == {"outbox": EVERYONE}
    with engine.connect() as conn:
        texts = {r.recipient: r.text for r in conn.execute(select(NOTIFICATIONS).where(
            NOTIFICATIONS.c.dispute_id == "digest:now", NOTIFICATIONS.c.kind == "digest"))}
    assert texts[EVE].startswith("Parley digest for Eve Executive, Mon 16 Mar 2026, 00:30 EDT: 1 open dispute; "
                                 "1 deadline missed this week.")
    assert "Registrations whose protection ends within two weeks:\n- REG-EXP Initech" in texts[ADA]

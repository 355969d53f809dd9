"""The domain's series as the store holds them, on SQLite and PostgreSQL: how notices, their e-mails and webhook
deliveries are told apart by result, and what a scrape says while the store is down."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, insert

from ops.metrics import exposition
from store.db import make_engine
from store.tables import NOTIFICATIONS
from store.webhook_tables import WEBHOOK_DELIVERIES, WEBHOOKS
from tests.harness.ports import closed_port
from tests.ops.conftest import samples, value

NOW = datetime(2030, 1, 7, 9, 30, tzinfo=UTC)


def _notice(seq: int, status: str, error: str | None = None, *, email: str | None = None,
            email_error: str | None = None) -> dict[str, object]:
    return {"dispute_id": "D-METRICS", "seq": seq, "recipient": "channel", "kind": "filed", "text": "…",
            "created_at": NOW, "status": status, "attempts": 1 if error else 0, "error": error,
            "email_status": email, "email_error": email_error}


def _delivery(n: int, attempts: int, *, delivered: bool = False, failed: bool = False) -> dict[str, object]:
    return {"id": f"WHD-{n}", "webhook_id": "WH-metrics", "event_id": f"EV-{n}", "type": "dispute.filed",
            "body": "{}", "created_at": NOW, "attempts": attempts, "delivered_at": NOW if delivered else None,
            "failed_at": NOW if failed else None}


def test_notices_and_deliveries_by_result(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(insert(NOTIFICATIONS), [
            _notice(1, "sent"), _notice(2, "sent"), _notice(3, "pending"),
            _notice(4, "pending", "connection: refused"), _notice(5, "outbox"),
            _notice(6, "outbox", "slack: channel_not_found"),
        ])
        conn.execute(insert(WEBHOOKS).values(id="WH-metrics", url="https://crm.example/hook", events='["*"]',
                                             secret="s", created_by="admin@example.com", created_at=NOW,
                                             active=True))
        conn.execute(insert(WEBHOOK_DELIVERIES), [
            _delivery(1, 1, delivered=True), _delivery(2, 3, delivered=True), _delivery(3, 0),
            _delivery(4, 2), _delivery(5, 40, failed=True),
        ])
    page = exposition(engine).decode()
    assert {dict(k)["result"]: v for k, v in samples(page, "parley_notifications").items()} == {
        "sent": 2, "pending": 1, "retrying": 1, "outbox": 1, "failed": 1, "email": 0}
    assert {dict(k)["result"]: v for k, v in samples(page, "parley_emails").items()} == {
        "sent": 0, "pending": 0, "retrying": 0, "failed": 0}
    assert {dict(k)["result"]: v for k, v in samples(page, "parley_webhook_deliveries").items()} == {
        "delivered": 2, "pending": 1, "retrying": 1, "failed": 1}
    assert value(page, "parley_disputes_filed_total") == 0
    assert {dict(k)["tier"]: v for k, v in samples(page, "parley_sla_breaches_total").items()} == {
        "1": 0, "2": 0, "3": 0}
    assert value(page, "parley_store_up") == 1


def test_emails_by_result_apart_from_slack(engine: Engine) -> None:
    """An e-mail waiting out an SMTP outage is `retrying`, one refused for good `failed`, in `parley_emails`;
    a notice that goes by e-mail alone is `email` in `parley_notifications`, whatever became of its e-mail."""
    smtp_down = "smtp: could not reach the SMTP server smtp://127.0.0.1:25: connection refused"
    refused = "smtp: the server refused pat@partner.example: 550 5.1.1 no such mailbox"
    with engine.begin() as conn:
        conn.execute(insert(NOTIFICATIONS), [
            _notice(1, "email", email="sent"), _notice(2, "email", email="pending"),
            _notice(3, "email", email="pending", email_error=smtp_down),
            _notice(4, "outbox", f"e-mail: {refused}", email="outbox", email_error=refused),  # parked: e-mail only
            _notice(5, "sent", email="pending", email_error=smtp_down),  # both: Slack took it, e-mail waits
            _notice(6, "pending", email="sent"),  # both: e-mail took it, Slack waits
            _notice(7, "sent", email="none"), _notice(8, "outbox", email="none"),  # no e-mail due
            _notice(9, "pending"),  # media not chosen yet
        ])
    page = exposition(engine).decode()
    assert {dict(k)["result"]: v for k, v in samples(page, "parley_emails").items()} == {
        "sent": 2, "pending": 1, "retrying": 2, "failed": 1}
    assert {dict(k)["result"]: v for k, v in samples(page, "parley_notifications").items()} == {
        "sent": 2, "pending": 2, "retrying": 0, "outbox": 1, "failed": 0, "email": 4}
    assert "# HELP parley_emails E-mails of notices and digests, by result" in page


def test_a_scrape_while_the_store_is_down_says_so() -> None:
    engine = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/parley")
    try:
        page = exposition(engine).decode()
    finally:
        engine.dispose()
    assert value(page, "parley_store_up") == 0
    assert not samples(page, "parley_disputes_filed_total")
    assert "python_info" in page  # the process's own series are still there


def test_this_processs_connections_in_use_idle_and_opened(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        page = exposition(engine).decode()  # the domain's queries opened the first connection
        assert {dict(k)["state"]: v for k, v in samples(page, "parley_db_connections").items()} == {
            "in_use": 0, "idle": 1}
        assert value(page, "parley_db_connections_opened_total") == 1
        with engine.connect(), engine.connect():  # two held: the scrape needs a third
            page = exposition(engine).decode()
            assert {dict(k)["state"]: v for k, v in samples(page, "parley_db_connections").items()} == {
                "in_use": 2, "idle": 1}
            assert value(page, "parley_db_connections_opened_total") == 3
        page = exposition(engine).decode()  # all three pooled now: none opened
        assert value(page, "parley_db_connections_opened_total") == 3
        assert dict((dict(k)["state"], v) for k, v in samples(page, "parley_db_connections").items())["idle"] == 3
    finally:
        engine.dispose()

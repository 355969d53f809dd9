"""record_event writes an event, the projection and the outbox exactly once, whatever the retries."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.record import StoreActivities
from domain.model import Notice, Recorded, Status
from store import audit, projection
from store.db import session
from store.tables import AUDIT_EVENTS, DISPUTE_WAITING, NOTIFICATIONS, DisputeRow
from tests.store.samples import CHANNEL, COUNTERPARTY, FILER, MEDIATOR, recorded, resolved_view, view


def run(engine: Engine, item: Recorded) -> None:
    ActivityEnvironment().run(StoreActivities(engine).record_event, item)


def count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def dispute(engine: Engine, dispute_id: str = "PRL-1") -> DisputeRow:
    with session(engine) as s:
        row = s.get(DisputeRow, dispute_id)
        assert row is not None
        return row


def test_recording_twice_writes_once(engine: Engine) -> None:
    item = recorded()
    run(engine, item)
    run(engine, item)  # the retried activity
    assert count(engine, AUDIT_EVENTS) == 1
    assert count(engine, NOTIFICATIONS) == 2
    with engine.connect() as conn:
        rows = conn.execute(select(NOTIFICATIONS).order_by(NOTIFICATIONS.c.id)).all()
    assert [(r.recipient, r.status, r.slack_channel, r.seq) for r in rows] == [
        ("channel", "pending", CHANNEL, 1), (COUNTERPARTY, "pending", None, 1)]
    row = dispute(engine)
    assert (row.status, row.tier, row.last_seq, row.filed_by, row.counterparty) == (
        "frontline", 1, 1, FILER, COUNTERPARTY)
    assert row.partner_org == "Acme" and row.due_at is not None and row.due_at.tzinfo is not None
    with session(engine) as s:
        assert audit.verify(s).ok


def test_concurrent_attempts_write_once(engine: Engine) -> None:
    item = recorded()
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def attempt() -> None:
        barrier.wait()
        try:
            run(engine, item)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert count(engine, AUDIT_EVENTS) == 1 and count(engine, NOTIFICATIONS) == 2


def test_projection_never_goes_backwards(engine: Engine) -> None:
    first, second = recorded(seq=1), recorded(seq=2, the_view=view(last_seq=2, status=Status.mediation, tier=2))
    run(engine, first)
    run(engine, second)
    run(engine, first)  # a late retry of the first event
    row = dispute(engine)
    assert (row.status, row.tier, row.last_seq) == ("mediation", 2, 2)
    with session(engine, write=True) as s:
        assert projection.upsert_dispute(s, view(last_seq=1)) is False
        assert projection.upsert_dispute(s, view(last_seq=2, status=Status.mediation, tier=2)) is True
    assert dispute(engine).status == "mediation"


def waiting(engine: Engine) -> set[tuple[str, str]]:
    with engine.connect() as conn:
        return {(r.dispute_id, r.email) for r in conn.execute(select(DISPUTE_WAITING))}


def test_whom_a_dispute_waits_on_moves_with_its_row(engine: Engine) -> None:
    run(engine, recorded(seq=1, the_view=view(last_seq=1, waiting_on=[FILER, COUNTERPARTY])))
    assert waiting(engine) == {("PRL-1", FILER), ("PRL-1", COUNTERPARTY)}
    second = view(last_seq=2, status=Status.mediation, tier=2, waiting_on=[MEDIATOR])
    run(engine, recorded(seq=2, the_view=second))
    assert waiting(engine) == {("PRL-1", MEDIATOR)}
    with session(engine, write=True) as s:  # an older view writes nothing, the waiting rows included
        assert projection.upsert_dispute(s, view(last_seq=1, waiting_on=[FILER])) is False
    assert waiting(engine) == {("PRL-1", MEDIATOR)}
    run(engine, recorded(seq=3, the_view=resolved_view(last_seq=3)))
    assert waiting(engine) == set()
    assert projection.waiting_rows(view(waiting_on=["a@x.example", "b@x.example", "a@x.example"])) == [
        {"dispute_id": "PRL-1", "email": "a@x.example"}, {"dispute_id": "PRL-1", "email": "b@x.example"}]


def test_closed_dispute_projection(engine: Engine) -> None:
    run(engine, recorded(seq=1, the_view=resolved_view(last_seq=1)))
    row = dispute(engine)
    assert (row.status, row.outcome_owner) == ("resolved", "partner")
    assert row.closed_at is not None and row.closed_at.tzinfo is not None
    assert '"status":"resolved"' in row.view_json


def test_events_out_of_order_fail_for_good(engine: Engine) -> None:
    with pytest.raises(ApplicationError) as info:
        run(engine, recorded(seq=3))
    assert info.value.non_retryable and info.value.type == "AuditChainError"
    assert count(engine, AUDIT_EVENTS) == 0 and count(engine, NOTIFICATIONS) == 0  # nothing half-written


def test_same_seq_with_other_content_fails_for_good(engine: Engine) -> None:
    run(engine, recorded())
    other = recorded(notices=[Notice(recipient="channel", kind="info", text="x")])
    other = other.model_copy(update={"event": other.event.model_copy(update={"actor": "mallory@example.com"})})
    with pytest.raises(ApplicationError) as info:
        run(engine, other)
    assert info.value.non_retryable and "different content" in str(info.value)


def test_mismatched_view_fails_for_good(engine: Engine) -> None:
    with pytest.raises(ApplicationError) as info:
        run(engine, recorded(the_view=view("PRL-OTHER")))
    assert info.value.non_retryable


def test_without_slack_the_notices_go_straight_to_the_outbox(engine: Engine) -> None:
    with_slack = ActivityEnvironment().run(StoreActivities(engine).record_event, recorded())
    assert with_slack is True  # the workflow schedules deliver_notices
    other = recorded().model_copy(deep=True)
    other.event.dispute_id = other.view.id = "PRL-2"
    without = ActivityEnvironment().run(StoreActivities(engine, slack_enabled=False).record_event, other)
    assert without is False  # nothing to deliver: the workflow skips the delivery activity
    with engine.connect() as conn:
        statuses = conn.execute(select(NOTIFICATIONS.c.status).where(NOTIFICATIONS.c.dispute_id == "PRL-2")).scalars()
        assert set(statuses) == {"outbox"}

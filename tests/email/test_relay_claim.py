"""A relay chooses the media of an event's rows in the transaction that claims the event: on SQLite, whose one
writer the filings share, a claimed event costs the deliveries one write transaction, not two. The rows it
leaves are what `deliver_notices` would have chosen, and its own choice then finds nothing left to decide.
On SQLite and PostgreSQL."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any, cast

import pytest
from sqlalchemy import Engine, event
from temporalio.testing import ActivityEnvironment

from activities.notify import NotifyActivities
from activities.record import StoreActivities
from activities.relay import OutboxRelay
from domain.charter import Charter
from tests.email.conftest import SmtpServer
from tests.email.test_delivery import PUBLIC_URL, mail, prefer, recorded_to, rows, to
from tests.email.test_delivery import charter as charter  # noqa: F401  (fixtures)
from tests.email.test_delivery import people as people  # noqa: F401
from tests.store.samples import COUNTERPARTY, MEDIATOR


class Writes:
    """The transactions an engine begins on SQLite: `begun` the write transactions (`session(write=True)`: BEGIN
    IMMEDIATE), `all` every one."""

    def __init__(self, engine: Engine) -> None:
        self.begun = self.all = 0
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.begun += statement.startswith("BEGIN IMMEDIATE")
        self.all += statement.startswith("BEGIN")


@pytest.fixture
def executor() -> Iterator[concurrent.futures.ThreadPoolExecutor]:
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        yield pool


def relay_of(engine: Engine, notify: NotifyActivities, executor: concurrent.futures.Executor) -> OutboxRelay:
    no_webhooks = cast(Any, SimpleNamespace(start_claimed=lambda taken: None))  # none are subscribed here
    return OutboxRelay(engine, notify, no_webhooks, cast(Any, None), "unused", executor)


def test_the_claim_chooses_the_media_of_the_event_it_takes(
        people: Engine, charter: Charter, smtp: SmtpServer, executor: concurrent.futures.Executor) -> None:
    prefer(people, MEDIATOR, "slack")
    item = recorded_to(charter, to(COUNTERPARTY, MEDIATOR))
    ActivityEnvironment().run(StoreActivities(people, relayed=True).record_event, item)
    assert {(r.status, r.email_status) for r in rows(people).values()} == {("pending", None)}
    notify = NotifyActivities(people, None, mail=mail(people, smtp), public_url=PUBLIC_URL)
    writes = Writes(people)

    relay = relay_of(people, notify, executor)
    hooks, claimed = relay._exchange([], room=8)

    assert (hooks, claimed) == (0, [item.event])  # and the event as recorded, read with the others claimed
    stored = rows(people)
    assert (stored[COUNTERPARTY].status, stored[COUNTERPARTY].email_status) == ("email", "pending")  # prefers e-mail
    assert (stored[MEDIATOR].status, stored[MEDIATOR].email_status) == ("outbox", "none")  # Slack only, and no Slack
    assert (stored["channel"].status, stored["channel"].email_status) == ("outbox", "none")
    assert all(r.relay_until is not None for r in stored.values())  # held for the lease
    if people.dialect.name == "sqlite":
        assert writes.begun == 1

    writes.all = 0
    assert relay._attempt(claimed[0]) is False  # nothing left for Temporal
    if people.dialect.name == "sqlite":  # the e-mails due read at once, and the one sent marked sent
        assert writes.all == 2
    assert len(smtp.mailbox.to(COUNTERPARTY)) == 1 and not smtp.mailbox.to(MEDIATOR)
    after = rows(people)
    assert (after[COUNTERPARTY].status, after[COUNTERPARTY].email_status) == ("email", "sent")
    assert (after[MEDIATOR].status, after[MEDIATOR].email_status) == ("outbox", "none")

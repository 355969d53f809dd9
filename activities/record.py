"""record_event: write one workflow event to the store, exactly once whatever the retries.

In one transaction: the audit event joins its dispute's hash chain, the read projection moves
forward to the view after the event, each notice becomes a pending row of the outbox that
`deliver_notices` works through, and an event that receivers subscribe to (domain.webhook_events) becomes
a delivery row per subscription. A retried attempt finds everything in place and changes nothing.
Once the transaction has committed, each delivery still due gets its first try (`DeliveryStarter`); should
handing them over fail, the activity fails and its retry hands over what is missing. When deliveries run on
workers of their own (`relayed`, PARLEY_WORKER_ROLE=workflows), the rows are written left to their relay
instead (store.relay: `relay_until` set as they are inserted, so a retried attempt, which inserts nothing,
never hands back rows a relay holds), and the activity answers that the workflow has nothing to deliver.
"""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.exc import DataError, IntegrityError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.names import RECORD_EVENT
from activities.webhooks import DeliveryStarter
from domain.model import Recorded
from domain.webhook_events import dispute_event
from store import audit, dispute_links, projection, webhooks
from store.db import insert_all_or_ignore, session
from store.tables import NOTIFICATIONS, utcnow


class StoreActivities:
    def __init__(self, engine: Engine, *, slack_enabled: bool = True, starter: DeliveryStarter | None = None,
                 relayed: bool = False) -> None:
        self.engine = engine
        self.starter = starter  # starts the webhook deliveries an event queues (none in unit tests)
        self.relayed = relayed  # deliveries are left to a deliveries worker's relay
        # Without Slack the notices go straight to the outbox and no delivery needs to run.
        self.first_status = "pending" if slack_enabled else "outbox"

    @activity.defn(name=RECORD_EVENT)
    def record_event(self, item: Recorded) -> bool:
        """Returns whether `deliver_notices` has anything to send for this event."""
        event = item.event
        if item.view.id != event.dispute_id:
            raise ApplicationError(
                f"event of {event.dispute_id} carries the view of {item.view.id}",
                type="StoreRejected", non_retryable=True,
            )
        try:
            with session(self.engine, write=True) as s:
                audit.append(s, event)
                projection.upsert_dispute(s, item.view)
                dispute_links.link_filed(s, event)  # a filing's registrations, with its dispute row
                now = utcnow()
                # Left to the relay as they are written: a retried attempt never hands it rows it is delivering.
                relay_from = now if self.relayed else None
                insert_all_or_ignore(s, NOTIFICATIONS, [{
                    "dispute_id": event.dispute_id,
                    "seq": event.seq,
                    "recipient": notice.recipient,
                    "kind": notice.kind,
                    "text": notice.text,
                    "created_at": now,
                    "status": self.first_status,
                    "attempts": 0,
                    "slack_channel": item.channel if notice.recipient == "channel" else None,
                    "relay_until": relay_from if self.first_status == "pending" else None,
                } for notice in item.notices], ["dispute_id", "seq", "recipient"])
                hook = dispute_event(event, item.view)
                due = webhooks.enqueue_event(s, hook, relay_from=relay_from) if hook is not None else []
        except audit.ChainError as exc:
            raise ApplicationError(str(exc), type="AuditChainError", non_retryable=True) from exc
        except (IntegrityError, DataError) as exc:  # the store refuses these values: retrying won't help
            raise ApplicationError(
                f"the store rejected event {event.seq} of {event.dispute_id}: {exc.orig}",
                type="StoreRejected", non_retryable=True,
            ) from exc
        # anything else (a lost connection, a locked database) is transient: Temporal retries
        if self.relayed:
            return False
        if due and self.starter is not None:
            self.starter.start(due)
        return self.first_status == "pending" and bool(item.notices)

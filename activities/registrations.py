"""record_registration_event: write one RegistrationWorkflow event to the store, exactly once.

In one transaction (store.registration_trail.record): the audit event joins the registration's hash
chain, the registrations row moves forward to the registration after the event, and each notice
becomes an outbox row that `deliver_notices` works through (as for disputes), and an event receivers
subscribe to becomes a webhook delivery per subscription. A retried attempt finds everything in place
and changes nothing. Once the transaction has committed, the deliveries still due are started (as
`record_event` does); should that fail, the activity fails and its retry starts what is missing. With
`relayed`, they are left to a deliveries worker's relay instead, as `record_event` leaves them.
"""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.exc import DataError, IntegrityError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.names import RECORD_REGISTRATION_EVENT
from activities.webhooks import DeliveryStarter
from domain.errors import NotFound
from domain.registration_lifecycle import RegistrationRecorded
from store import audit, registration_trail
from store.db import session
from store.tables import utcnow


class RegistrationActivities:
    def __init__(self, engine: Engine, *, slack_enabled: bool = True, starter: DeliveryStarter | None = None,
                 relayed: bool = False) -> None:
        self.engine = engine
        self.starter = starter  # starts the webhook deliveries an event queues (none in unit tests)
        self.relayed = relayed  # deliveries are left to a deliveries worker's relay
        # Without Slack the notices go straight to the outbox and no delivery needs to run.
        self.first_status = "pending" if slack_enabled else "outbox"

    @activity.defn(name=RECORD_REGISTRATION_EVENT)
    def record_registration_event(self, item: RegistrationRecorded) -> bool:
        """Returns whether `deliver_notices` has anything to send for this event."""
        event = item.event
        try:
            with session(self.engine, write=True) as s:
                written = registration_trail.record(s, item, self.first_status,
                                                    relay_from=utcnow() if self.relayed else None)
        except (audit.ChainError, NotFound, ValueError) as exc:
            raise ApplicationError(str(exc), type="StoreRejected", non_retryable=True) from exc
        except (IntegrityError, DataError) as exc:  # the store refuses these values: retrying won't help
            raise ApplicationError(f"the store rejected event {event.seq} of {event.dispute_id}: {exc.orig}",
                                   type="StoreRejected", non_retryable=True) from exc
        # anything else (a lost connection, a locked database) is transient: Temporal retries
        if self.relayed:
            return False
        if written.deliveries and self.starter is not None:
            self.starter.start(written.deliveries)
        return written.notices_due

"""The domain's series, read from the store when Prometheus scrapes (a few GROUP BY counts).

The store is shared by every process, so these figures are exact however many workers and API
processes run, survive restarts, and count each event once whatever Temporal retried. Every API process
reports the same values: aggregate them with max(), not sum().

- `parley_disputes_filed_total`, `parley_disputes_closed_total{status}` (resolved, withdrawn);
- `parley_disputes_open{status,tier}`, `parley_disputes_overdue{tier}` (open and past their deadline);
- `parley_sla_breaches_total{tier}`: the tier whose deadline passed (an escalation by `system:sla` out of
  tiers 1 and 2, an `sla_breached` event at tier 3), as in the dashboard;
- `parley_notifications{result}`: each notice once, by its Slack state: sent, pending, retrying (an attempt
  failed, more will follow), failed (Slack refused it: parked in the outbox with the error), outbox (neither
  Slack nor e-mail reaches its reader), email (no Slack: it goes by e-mail alone);
- `parley_emails{result}`: the e-mails of notices and digests: sent, pending, retrying (the server was down or
  answered "later": more tries follow), failed (the server refused it for good: parked with its answer);
- `parley_webhook_deliveries{result}`: delivered, pending, retrying, failed (given up after 24 hours);
- `parley_store_up`: 0 when the store could not be read (the series above are then left out).

`PoolCollector` is this process's own, summed across processes: `parley_db_connections{state}` (in_use, idle)
and `parley_db_connections_opened_total` (a steady climb means the pool is too small for the process's
concurrency: each opened connection is a PostgreSQL server process started; see PARLEY_DB_POOL_SIZE).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, case, func, select
from sqlalchemy.exc import SQLAlchemyError

from domain.model import CLOSED
from store.db import pool_state
from store.tables import AUDIT_EVENTS, DISPUTES, NOTIFICATIONS
from store.webhook_tables import WEBHOOK_DELIVERIES

log = logging.getLogger(__name__)
TIERS = ("1", "2", "3")
D, E, N, W = DISPUTES.c, AUDIT_EVENTS.c, NOTIFICATIONS.c, WEBHOOK_DELIVERIES.c


class PoolCollector(Collector):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        opened, in_use, idle = pool_state(self.engine)
        connections = GaugeMetricFamily("parley_db_connections", "This process's store connections, by state",
                                        labels=["state"])
        connections.add_metric(["in_use"], in_use)
        connections.add_metric(["idle"], idle)
        yield connections
        yield CounterMetricFamily("parley_db_connections_opened", "Store connections this process has opened",
                                  value=opened)


class StoreCollector(Collector):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("parley_store_up", "Whether the store answered this scrape's queries")
        try:
            found = list(self._read())
        except SQLAlchemyError as exc:
            log.warning("metrics: the store could not be read (%s)", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from found

    def _read(self) -> Iterator[Metric]:
        with self.engine.connect() as conn:
            disputes = conn.execute(select(D.status, D.tier, func.count()).group_by(D.status, D.tier)).all()
            overdue = conn.execute(select(D.tier, func.count()).where(D.breached, D.status.not_in(CLOSED))
                                   .group_by(D.tier)).all()
            breaches = conn.execute(
                select(E.action, E.tier, func.count())
                .where(E.actor == "system:sla", E.action.in_(("escalated", "sla_breached")))
                .group_by(E.action, E.tier)).all()
            # a row's Slack error (1), or the refusal of its only medium, e-mail (2): `notifications.mark_mail`
            failed = case((N.error.is_(None), 0), (N.error.like("e-mail:%"), 2), else_=1)
            mail_failed = case((N.email_error.is_(None), 0), else_=1)
            notices = conn.execute(select(N.status, failed, N.email_status, mail_failed, func.count())
                                   .group_by(N.status, failed, N.email_status, mail_failed)).all()
            result = case((W.delivered_at.is_not(None), "delivered"), (W.failed_at.is_not(None), "failed"),
                          (W.attempts > 0, "retrying"), else_="pending")
            deliveries = conn.execute(select(result, func.count()).group_by(result)).all()

        filed = CounterMetricFamily("parley_disputes_filed", "Disputes filed")
        filed.add_metric([], sum(int(n) for _, _, n in disputes))
        closed = CounterMetricFamily("parley_disputes_closed", "Disputes closed, by final status", labels=["status"])
        open_now = GaugeMetricFamily("parley_disputes_open", "Open disputes, by status and tier",
                                     labels=["status", "tier"])
        closed_counts = dict.fromkeys(CLOSED, 0)
        for status, tier, n in disputes:
            if status in closed_counts:
                closed_counts[status] += int(n)
            else:
                open_now.add_metric([str(status), str(tier)], int(n))
        for status, n in closed_counts.items():
            closed.add_metric([str(status)], n)
        yield from (filed, closed, open_now)

        late = GaugeMetricFamily("parley_disputes_overdue", "Open disputes past their SLA deadline, by tier",
                                 labels=["tier"])
        late_counts = dict.fromkeys(TIERS, 0) | {str(tier): int(n) for tier, n in overdue}
        for tier_label, n in late_counts.items():
            late.add_metric([tier_label], n)
        yield late

        breached = CounterMetricFamily("parley_sla_breaches", "SLA deadlines missed, by the tier that missed it",
                                       labels=["tier"])
        breach_counts = dict.fromkeys(TIERS, 0)
        for action, tier, n in breaches:
            missed = int(tier) - 1 if action == "escalated" else int(tier)  # an escalation breached the tier below
            breach_counts[str(missed)] = breach_counts.get(str(missed), 0) + int(n)
        for tier_label, n in breach_counts.items():
            breached.add_metric([tier_label], n)
        yield breached

        notifications = GaugeMetricFamily(
            "parley_notifications", "Notices, by their Slack result (outbox: no medium reaches the reader; email: "
            "by e-mail alone, see parley_emails)", labels=["result"])
        emails = GaugeMetricFamily("parley_emails", "E-mails of notices and digests, by result", labels=["result"])
        notice_counts = dict.fromkeys(("sent", "pending", "retrying", "outbox", "failed", "email"), 0)
        mail_counts = dict.fromkeys(("sent", "pending", "retrying", "failed"), 0)
        for status, with_error, email_status, mail_error, n in notices:
            result_name = "email" if with_error == 2 else _notice_result(str(status), bool(with_error))
            notice_counts[result_name] = notice_counts.get(result_name, 0) + int(n)
            if (mail_result := _mail_result(email_status, bool(mail_error))) is not None:
                mail_counts[mail_result] += int(n)
        for name, n in notice_counts.items():
            notifications.add_metric([name], n)
        for name, n in mail_counts.items():
            emails.add_metric([name], n)
        yield notifications
        yield emails

        hooks = GaugeMetricFamily("parley_webhook_deliveries", "Webhook deliveries, by result", labels=["result"])
        hook_counts = dict.fromkeys(("delivered", "pending", "retrying", "failed"), 0)
        hook_counts.update({str(name): int(n) for name, n in deliveries})
        for name, n in hook_counts.items():
            hooks.add_metric([name], n)
        yield hooks


def _notice_result(status: str, with_error: bool) -> str:
    """The row's Slack status, told apart by whether an attempt failed (statuses are a few fixed words)."""
    if with_error and status in ("pending", "outbox"):
        return "retrying" if status == "pending" else "failed"
    return status


def _mail_result(email_status: str | None, with_error: bool) -> str | None:
    """The row's e-mail state as a result; None when no e-mail is due (`none`) or not decided yet (NULL)."""
    match email_status:
        case "pending":
            return "retrying" if with_error else "pending"
        case "sent":
            return "sent"
        case "outbox":
            return "failed"
    return None

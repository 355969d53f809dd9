"""The outbox (`notifications`) and the Slack case messages (`slack_messages`): what the outbox page
lists, and the reads and writes `deliver_notices` (activities.notify) makes as it works through the
rows of an event, with the lookups it needs to reach people (their role, their Slack id, their `notify`
preference). A row's Slack state (`status`) and e-mail state (`email_status`) are kept apart, so each
medium is claimed and marked on its own. The activity decides what to send and when; these say how it
is stored.

Every function takes the caller's session, so the caller chooses what one transaction holds.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, and_, bindparam, delete, func, or_, select, update
from sqlmodel import Session

from domain.model import Role
from store.db import insert_or_ignore, rowcount
from store.queries import PAGE_SIZE
from store.tables import AUDIT_EVENTS, DISPUTES, NOTIFICATIONS, SLACK_MESSAGES, USERS, User, utcnow
from store.visibility import visible_to

N = NOTIFICATIONS.c
DIGEST_KIND = "digest"  # store.digest_outbox's rows
_M = SLACK_MESSAGES.c
_E = AUDIT_EVENTS.c
_U = USERS.c


# --- the outbox page -----------------------------------------------------------------------------

@dataclass(frozen=True)
class OutboxRow:
    id: int
    dispute_id: str
    seq: int
    recipient: str
    kind: str
    text: str
    created_at: datetime
    status: str
    error: str | None


def outbox(session: Session, user: User, recipient: str | None, page: int) -> tuple[list[OutboxRow], bool]:
    """Notifications, newest first: auditors and admins see everyone's; others see their own direct
    messages and the case updates of the disputes they may see."""
    columns = (N.id, N.dispute_id, N.seq, N.recipient, N.kind, N.text, N.created_at, N.status, N.error)
    query = select(*columns)
    if Role(user.role) not in (Role.auditor, Role.admin):  # a digest (`digest:<date>`) has no dispute row
        query = (query.join(DISPUTES, DISPUTES.c.id == N.dispute_id, isouter=True)
                 .where(or_(and_(visible_to(user), or_(N.recipient == user.email, N.recipient == "channel")),
                            and_(N.kind == DIGEST_KIND, N.recipient == user.email))))
    if recipient:
        query = query.where(N.recipient == recipient)
    query = query.order_by(N.id.desc()).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)
    rows = [OutboxRow(**row._mapping) for row in session.execute(query)]
    return rows[:PAGE_SIZE], len(rows) > PAGE_SIZE


def outbox_recipients(session: Session, user: User) -> list[str]:
    """Whom notifications go to, for the per-recipient links (auditors and admins: everyone).

    Taken from the users table (small) rather than grouping the whole outbox, which grows by several
    rows per event."""
    if Role(user.role) not in (Role.auditor, Role.admin):
        return []
    emails = session.execute(select(_U.email).order_by(_U.email)).scalars()
    return ["channel", *emails]


# --- delivery: the rows of an event ----------------------------------------------------------------

# The statements every delivered event runs are built once, their values bound at execution (store.db).
_OF_EVENT = (N.dispute_id == bindparam("of_dispute"), N.seq == bindparam("of_seq"))
_PENDING = select(N.id, N.dispute_id, N.seq, N.recipient, N.kind, N.text, N.slack_channel, N.slack_posting_at,
                  N.attempts).where(*_OF_EVENT, N.status == "pending").order_by(N.id)
_UNDECIDED = (select(N.id, N.recipient).where(*_OF_EVENT, N.status == "pending", N.email_status.is_(None))
              .order_by(N.id))
_DECIDE = update(NOTIFICATIONS).where(
    N.id == bindparam("of_id"), N.status == "pending", N.email_status.is_(None),
).values(status=bindparam("to_status"), email_status=bindparam("to_email_status"))
_MAIL_PENDING = select(N.id, N.recipient, N.kind, N.text).where(*_OF_EVENT, N.email_status == "pending").order_by(N.id)
_MARK_MAIL = update(NOTIFICATIONS).where(N.id == bindparam("of_id")).values(
    email_status=bindparam("to_email_status"), email_error=bindparam("b_error"), email_sent_at=bindparam("b_sent_at"))
_PARK_MAIL_ONLY = update(NOTIFICATIONS).where(N.id == bindparam("of_id"), N.status == "email").values(
    status="outbox", error=bindparam("why"))
_REACH = select(_U.email, _U.name, _U.notify, _U.slack_user_id).where(
    func.lower(_U.email).in_(bindparam("emails", expanding=True)))


def pending(session: Session, dispute_id: str, seq: int) -> Sequence[Row[Any]]:
    """The event's rows still to deliver, in order: `id, dispute_id, seq, recipient, kind, text, slack_channel,
    slack_posting_at` (set: an earlier attempt began posting the row, see `posting`), `attempts` (failed so far)."""
    return session.execute(_PENDING, {"of_dispute": dispute_id, "of_seq": seq}).all()


_PARK_EVENT = update(NOTIFICATIONS).where(*_OF_EVENT, N.status == "pending").values(status="outbox")


def park_event(session: Session, dispute_id: str, seq: int) -> None:
    """`park` every row of the event still due in Slack (no Slack here)."""
    session.execute(_PARK_EVENT, {"of_dispute": dispute_id, "of_seq": seq})


def park(session: Session, ids: Collection[int]) -> None:
    """Leave these rows in the outbox (no Slack), unless another delivery took them meanwhile."""
    session.execute(update(NOTIFICATIONS).where(N.id.in_(list(ids)), N.status == "pending")
                    .values(status="outbox"))


def mark(session: Session, row_id: int, *, status: str, channel: str | None = None, ts: str | None = None,
         error: str | None = None) -> None:
    """Record an attempt's result: "sent" (with the message's channel and ts) or "outbox" (parked)."""
    values: dict[str, Any] = {"status": status, "attempts": N.attempts + 1, "error": error}
    if status == "sent":
        values.update(sent_at=utcnow(), slack_channel=channel, slack_ts=ts)
    session.execute(update(NOTIFICATIONS).where(N.id == row_id).values(**values))


def posting(session: Session, row_id: int, *, under_way: bool) -> None:
    """Record that a post of the row to Slack begins now (`under_way`), or that Slack refused it (nothing
    was posted). Committed before the post: a row still pending with `slack_posting_at` set may be in Slack
    already, if the attempt died before `mark`."""
    session.execute(update(NOTIFICATIONS).where(N.id == row_id, N.status == "pending")
                    .values(slack_posting_at=utcnow() if under_way else None))


def note_failure(session: Session, row_id: int, error: str) -> None:
    """Count a failed attempt that will be retried."""
    session.execute(update(NOTIFICATIONS).where(N.id == row_id).values(attempts=N.attempts + 1, error=error))


def sent_since_last_change(session: Session, dispute_id: str, seq: int, *, unchanged_by: Collection[str],
                           kinds: Collection[str]) -> Sequence[Row[Any]]:
    """The direct messages of `kinds` sent to Slack for the events before `seq`, back to the latest
    one whose action is not in `unchanged_by`: `id, text, slack_channel, slack_ts`."""
    since = session.execute(select(func.max(_E.seq)).where(
        _E.dispute_id == dispute_id, _E.seq < seq, _E.action.not_in(list(unchanged_by)))).scalar() or 0
    return session.execute(select(N.id, N.text, N.slack_channel, N.slack_ts).where(
        N.dispute_id == dispute_id, N.seq >= since, N.seq < seq, N.recipient != "channel",
        N.status == "sent", N.slack_ts.is_not(None), N.kind.in_(list(kinds)))).all()


# --- the case message in the conflicts channel -------------------------------------------------------

def case_message(session: Session, dispute_id: str) -> Row[Any] | None:
    """The dispute's posted case message (`channel, ts`), if there is one."""
    return session.execute(select(_M.channel, _M.ts).where(_M.dispute_id == dispute_id, _M.ts.is_not(None))
                           ).first()


def claim_case_message(session: Session, dispute_id: str, channel: str, ttl: timedelta) -> bool:
    """Become the one delivery that posts the dispute's case message: True when this caller got the
    claim, or took over one older than `ttl` whose message never came (that delivery died)."""
    now = utcnow()
    if insert_or_ignore(session, SLACK_MESSAGES, {
        "dispute_id": dispute_id, "channel": channel, "ts": None, "claimed_at": now,
    }, ["dispute_id"]):
        return True
    taken = session.execute(select(_M.ts, _M.claimed_at).where(_M.dispute_id == dispute_id)).one()
    if taken.ts is None and taken.claimed_at < now - ttl:
        stolen = session.execute(update(SLACK_MESSAGES).where(
            _M.dispute_id == dispute_id, _M.claimed_at == taken.claimed_at).values(claimed_at=now))
        return rowcount(stolen) > 0
    return False


def posted_case_message(session: Session, dispute_id: str, channel: str, ts: str) -> None:
    """The claimed case message is posted: remember where (also when the claim was given up meanwhile, as
    after a failed attempt whose post reached Slack all the same)."""
    if not insert_or_ignore(session, SLACK_MESSAGES, {
        "dispute_id": dispute_id, "channel": channel, "ts": ts, "claimed_at": utcnow(),
    }, ["dispute_id"]):
        session.execute(update(SLACK_MESSAGES).where(_M.dispute_id == dispute_id).values(channel=channel, ts=ts))


def release_claim(session: Session, dispute_id: str) -> None:
    """Give up a claim whose message could not be posted, so that a retry may claim it."""
    session.execute(delete(SLACK_MESSAGES).where(_M.dispute_id == dispute_id, _M.ts.is_(None)))


def forget_case_message(session: Session, dispute_id: str) -> None:
    """The case message is gone from Slack (deleted there): the next delivery posts a new one."""
    session.execute(delete(SLACK_MESSAGES).where(_M.dispute_id == dispute_id))


# --- delivery: whom to reach ---------------------------------------------------------------------

def slack_ids(session: Session, emails: Collection[str]) -> dict[str, str]:
    """The Slack user ids of those of `emails` who have one."""
    if not emails:
        return {}
    rows = session.execute(select(_U.email, _U.slack_user_id).where(
        _U.email.in_(list(emails)), _U.slack_user_id.is_not(None)))
    return {email: user_id for email, user_id in rows}


def role_of(session: Session, email: str) -> str | None:
    """The role of the user with this e-mail (any case), if there is one."""
    role = session.execute(select(_U.role).where(func.lower(_U.email) == email.lower())).scalar()
    return None if role is None else str(role)


def slack_link(session: Session, email: str) -> Row[Any] | None:
    """The user with this e-mail (any case) as `id, slack_user_id`, if there is one."""
    return session.execute(select(_U.id, _U.slack_user_id).where(func.lower(_U.email) == email.lower())).first()


def link_slack_user(session: Session, user_id: int, slack_user_id: str) -> None:
    """Remember a user's Slack id, unless they have one already. IntegrityError when that Slack
    account is linked to another user."""
    session.execute(update(USERS).where(_U.id == user_id, _U.slack_user_id.is_(None))
                    .values(slack_user_id=slack_user_id))


# --- delivery by medium: each row's Slack state (`status`) and e-mail state (`email_status`) --------------

@dataclass(frozen=True)
class Reach:
    """What delivery needs to know of a person: their name, preference and stored Slack id."""
    name: str | None
    notify: str | None
    slack_user_id: str | None


def undecided(session: Session, dispute_id: str, seq: int) -> Sequence[Row[Any]]:
    """The event's rows whose media are not chosen yet: `id, recipient`."""
    return session.execute(_UNDECIDED, {"of_dispute": dispute_id, "of_seq": seq}).all()


def decide(session: Session, choices: Sequence[tuple[int, str, str]]) -> None:
    """Choose rows' media once, each `(row id, status, email_status)`: `status` "pending" (Slack due), "email"
    (e-mail only) or "outbox" (neither); `email_status` "pending" or "none". A row another delivery decided
    meanwhile is left alone. One statement for them all (an executemany)."""
    if choices:
        session.execute(_DECIDE, [{"of_id": row_id, "to_status": status, "to_email_status": email_status}
                                  for row_id, status, email_status in choices])


def mail_pending(session: Session, dispute_id: str, seq: int) -> Sequence[Row[Any]]:
    """The event's e-mails still to send, in order: `id, recipient, kind, text`."""
    return session.execute(_MAIL_PENDING, {"of_dispute": dispute_id, "of_seq": seq}).all()


def mark_mail(session: Session, row_id: int, *, sent: bool, error: str | None = None) -> None:
    """Record an e-mail's result: sent, or refused for good (parked with the reason). A row that went by
    e-mail only is parked in the outbox as a whole, so the outbox page shows why."""
    session.execute(_MARK_MAIL, {"of_id": row_id, "to_email_status": "sent" if sent else "outbox", "b_error": error,
                                 "b_sent_at": utcnow() if sent else None})
    if not sent:
        session.execute(_PARK_MAIL_ONLY, {"of_id": row_id, "why": f"e-mail: {error}"})


def note_mail_failure(session: Session, row_id: int, error: str) -> None:
    """An e-mail that will be tried again: why this attempt failed (rows already sent are left alone)."""
    session.execute(update(NOTIFICATIONS).where(N.id == row_id, N.email_status == "pending").values(email_error=error))


def reach(session: Session, emails: Collection[str]) -> dict[str, Reach]:
    """The users among `emails` (any case), keyed by the address as given."""
    wanted = {e.lower(): e for e in emails}
    if not wanted:
        return {}
    rows = session.execute(_REACH, {"emails": sorted(wanted)})
    return {wanted[r.email.lower()]: Reach(r.name, r.notify, r.slack_user_id) for r in rows}

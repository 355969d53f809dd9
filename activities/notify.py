"""deliver_notices: work through the outbox rows of one event, at most once each.

Without a Slack client the rows are parked in the outbox (status "outbox"), where the web UI
shows them. With one, the "channel" row refreshes the dispute's case message in the conflicts
channel and adds the event to its thread (the first event posts the case message), and each
e-mail row becomes a direct message.

Every row is marked "sent" right after its Slack call succeeds, in its own commit, so a retried
attempt never sends a row twice. Transient Slack trouble (rate limits past the client's own
retries, server and connection errors) propagates and Temporal retries the activity; a permanent
one (unknown channel, bad token, no such Slack user) parks that row with the error and the others
go on.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.names import DELIVER_NOTICES
from activities.slack import case_blocks, case_text
from domain.model import DisputeView, Event
from store.db import insert_or_ignore, rowcount, session
from store.tables import DISPUTES, NOTIFICATIONS, SLACK_MESSAGES, USERS, utcnow

# Slack errors that no retry will fix: the row is parked in the outbox with the error.
PERMANENT = frozenset({
    "account_inactive", "cannot_dm_bot", "channel_not_found", "ekm_access_denied", "invalid_arguments",
    "invalid_auth", "invalid_blocks", "is_archived", "missing_scope", "msg_too_long", "no_permission",
    "no_text", "not_allowed_token_type", "not_authed", "not_in_channel", "restricted_action",
    "team_access_not_granted", "token_expired", "token_revoked", "user_disabled", "user_not_found",
    "users_not_found",
})
CLAIM_TTL = timedelta(minutes=2)  # how long a delivery may take to post a case message

_N = NOTIFICATIONS.c
_M = SLACK_MESSAGES.c
_U = USERS.c


class _Deferred(Exception):
    """This row must wait (another delivery is posting the case message)."""


class NotifyActivities:
    def __init__(self, engine: Engine, slack: WebClient | None, *,
                 channel_override: str | None = None) -> None:
        self.engine = engine
        self.slack = slack
        self.channel_override = channel_override

    @activity.defn(name=DELIVER_NOTICES)
    def deliver_notices(self, event: Event) -> None:
        with session(self.engine) as s:
            rows = s.execute(
                select(_N.id, _N.recipient, _N.text, _N.slack_channel)
                .where(_N.dispute_id == event.dispute_id, _N.seq == event.seq, _N.status == "pending")
                .order_by(_N.id)
            ).all()
        if not rows:
            return
        if self.slack is None:
            with session(self.engine, write=True) as s:
                s.execute(update(NOTIFICATIONS).where(
                    _N.id.in_([r.id for r in rows]), _N.status == "pending").values(status="outbox"))
            return
        deferred: list[str] = []
        for row in rows:
            try:
                self._deliver(self.slack, event.dispute_id, row)
            except _Deferred as exc:
                deferred.append(str(exc))
        if deferred:
            raise ApplicationError("; ".join(deferred), type="CaseMessagePending")  # retried shortly

    # --- one row -----------------------------------------------------------------------------------

    def _deliver(self, slack: WebClient, dispute_id: str, row: Any) -> None:
        try:
            if row.recipient == "channel":
                self._to_channel(slack, dispute_id, row)
            else:
                self._to_person(slack, row)
        except SlackApiError as exc:
            error = str(exc.response.get("error") or f"HTTP {exc.response.status_code}")
            if error in PERMANENT:
                activity.logger.warning("notice %s to %s parked: %s", row.id, row.recipient, error)
                self._finish(row.id, status="outbox", error=f"slack: {error}")
                return
            self._note_failure(row.id, f"slack: {error}")
            raise
        except (URLError, OSError) as exc:  # connection trouble past the client's retries
            self._note_failure(row.id, f"connection: {exc}")
            raise

    def _to_channel(self, slack: WebClient, dispute_id: str, row: Any) -> None:
        view = self._view(dispute_id)
        text, blocks = (case_text(view), case_blocks(view, row.text, self._mentions(view))) if view else \
            (row.text, None)
        message = self._case_message(dispute_id)
        if message is not None:
            try:
                if view is not None:
                    slack.chat_update(channel=message.channel, ts=message.ts, text=text, blocks=blocks)
                reply = slack.chat_postMessage(channel=message.channel, thread_ts=message.ts, text=row.text)
            except SlackApiError as exc:
                if exc.response.get("error") != "message_not_found":
                    raise
                self._forget_case_message(dispute_id)  # someone deleted it: post a new one below
            else:
                self._finish(row.id, status="sent", channel=message.channel, ts=reply["ts"])
                return
        target = self.channel_override or row.slack_channel
        if not target:
            self._finish(row.id, status="outbox", error="no conflicts channel configured")
            return
        self._claim(dispute_id, target)
        try:
            posted = slack.chat_postMessage(channel=target, text=text, blocks=blocks)
        except BaseException:
            self._release(dispute_id)
            raise
        channel, ts = str(posted["channel"]), str(posted["ts"])
        with session(self.engine, write=True) as s:
            s.execute(update(SLACK_MESSAGES).where(_M.dispute_id == dispute_id)
                      .values(channel=channel, ts=ts))
            self._mark(s, row.id, status="sent", channel=channel, ts=ts)

    def _to_person(self, slack: WebClient, row: Any) -> None:
        user_id = self._slack_user_id(slack, row.recipient)
        if user_id is None:
            self._finish(row.id, status="outbox", error=f"no Slack user with e-mail {row.recipient}")
            return
        opened = slack.conversations_open(users=user_id)
        channel = str(opened["channel"]["id"])
        sent = slack.chat_postMessage(channel=channel, text=row.text)
        self._finish(row.id, status="sent", channel=channel, ts=str(sent["ts"]))

    # --- lookups -----------------------------------------------------------------------------------

    def _view(self, dispute_id: str) -> DisputeView | None:
        with session(self.engine) as s:
            view_json = s.execute(
                select(DISPUTES.c.view_json).where(DISPUTES.c.id == dispute_id)
            ).scalar()
        return DisputeView.model_validate_json(view_json) if view_json else None

    def _mentions(self, view: DisputeView) -> dict[str, str]:
        if not view.waiting_on:
            return {}
        with session(self.engine) as s:
            found = s.execute(select(_U.email, _U.slack_user_id).where(
                _U.email.in_(view.waiting_on), _U.slack_user_id.is_not(None))).all()
        return {email: user_id for email, user_id in found}

    def _slack_user_id(self, slack: WebClient, email: str) -> str | None:
        with session(self.engine) as s:
            user = s.execute(select(_U.id, _U.slack_user_id).where(func.lower(_U.email) == email.lower())
                             ).first()
        if user is not None and user.slack_user_id:
            return str(user.slack_user_id)
        try:
            found = slack.users_lookupByEmail(email=email)
        except SlackApiError as exc:
            if exc.response.get("error") in ("users_not_found", "user_not_found"):
                return None
            raise
        member = found["user"]
        if member.get("deleted"):
            return None
        user_id = str(member["id"])
        if user is not None:
            try:
                with session(self.engine, write=True) as s:
                    s.execute(update(USERS).where(_U.id == user.id, _U.slack_user_id.is_(None))
                              .values(slack_user_id=user_id))
            except IntegrityError:  # that Slack account is linked to another user: DM it, remember nothing
                activity.logger.warning("Slack user %s of %s is linked to another user", user_id, email)
        return user_id

    # --- the case message claim --------------------------------------------------------------------

    def _case_message(self, dispute_id: str) -> Any:
        with session(self.engine) as s:
            return s.execute(select(_M.channel, _M.ts).where(_M.dispute_id == dispute_id, _M.ts.is_not(None))
                             ).first()

    def _claim(self, dispute_id: str, channel: str) -> None:
        """Become the one delivery that posts the dispute's case message, or raise _Deferred."""
        now = utcnow()
        with session(self.engine, write=True) as s:
            if insert_or_ignore(s, SLACK_MESSAGES, {
                "dispute_id": dispute_id, "channel": channel, "ts": None, "claimed_at": now,
            }, ["dispute_id"]):
                return
            taken = s.execute(select(_M.ts, _M.claimed_at).where(_M.dispute_id == dispute_id)).one()
            if taken.ts is None and taken.claimed_at < now - CLAIM_TTL:  # that delivery died: take over
                stolen = s.execute(update(SLACK_MESSAGES).where(
                    _M.dispute_id == dispute_id, _M.claimed_at == taken.claimed_at).values(claimed_at=now))
                if rowcount(stolen):
                    return
        raise _Deferred(f"the case message of {dispute_id} is being posted by another delivery")

    def _release(self, dispute_id: str) -> None:
        with session(self.engine, write=True) as s:
            s.execute(delete(SLACK_MESSAGES).where(
                _M.dispute_id == dispute_id, _M.ts.is_(None)))

    def _forget_case_message(self, dispute_id: str) -> None:
        with session(self.engine, write=True) as s:
            s.execute(delete(SLACK_MESSAGES).where(_M.dispute_id == dispute_id))

    # --- row state ---------------------------------------------------------------------------------

    def _finish(self, row_id: int, *, status: str, channel: str | None = None, ts: str | None = None,
                error: str | None = None) -> None:
        with session(self.engine, write=True) as s:
            self._mark(s, row_id, status=status, channel=channel, ts=ts, error=error)

    @staticmethod
    def _mark(s: Any, row_id: int, *, status: str, channel: str | None = None, ts: str | None = None,
              error: str | None = None) -> None:
        values: dict[str, Any] = {"status": status, "attempts": _N.attempts + 1, "error": error}
        if status == "sent":
            values.update(sent_at=utcnow(), slack_channel=channel, slack_ts=ts)
        s.execute(update(NOTIFICATIONS).where(_N.id == row_id).values(**values))

    def _note_failure(self, row_id: int, error: str) -> None:
        try:
            with session(self.engine, write=True) as s:
                s.execute(update(NOTIFICATIONS).where(_N.id == row_id)
                          .values(attempts=_N.attempts + 1, error=error))
        except Exception:  # bookkeeping only: never hide the Slack error behind a store error
            activity.logger.exception("could not record the failed attempt of notice %s", row_id)

"""deliver_notices: work through the outbox rows of one event, at most once each per medium.

First each row's media are chosen by its reader's `notify` preference (activities.media); the e-mails
then go out through activities.email, each marked apart from Slack, and a fault of either medium never
holds up the other. Rows that neither medium reaches are parked in the outbox (status "outbox"), where
the web UI shows them. With a Slack client, the "channel" row refreshes the dispute's case message in
the conflicts channel and adds the event to its thread (the first event posts the case message), and
each person's row due in Slack becomes a direct message.

A direct message carries buttons for exactly the actions open to its reader on the dispute as it
stands when the message goes out (`render.slack_offers`). Once the event after it is delivered, the
earlier direct messages of the dispute lose their buttons and say what happened instead ("pat
accepted the proposal on PRL-…"), whether that was done in Slack, on the web or through the API.

Posts are paced per channel (one a second, `ChannelPacer`): a row whose channel is busy for
longer than a moment is retried later (`next_retry_delay`) instead of holding a worker thread, and
the direct messages of an event go before a paced channel update, since they ask people to act.

Every row is marked "sent" right after its Slack call succeeds, in its own commit, so a retried
attempt never sends a row twice. chat.postMessage has no idempotency key, so for the moment between
Slack's answer and that commit (a worker killed there) each post carries the row's id in its message
metadata (`activities.slack.notice_metadata`) and the row is marked as being posted, with the time,
in its channel's turn just before the call (and unmarked when Slack refuses it). A later attempt that
finds a row so marked first looks for its message where it would be (conversations.history, or
.replies for the case message's thread, from shortly before that time; it joins a public channel it
posts to without being in it) and, when it is there, marks the row sent with it instead of posting
again. Where it cannot look (the app lacks the history or join scopes, or the channel has no ID it can
find), it posts again: at least once, as before. When Slack's answer to a post is a 5xx or never comes
(a time-out, a connection dropped after the request went out), Slack may have taken the post, so the
client does not send it again (`activities.slack.NOT_REPEATABLE`): the attempt itself looks for the
message a moment later, in the same way (`activities.slack.post_or_find`), marks the row sent with it when
it is there and posts again when it is not. Only when that look fails too (Slack still in trouble), or
the post's outcome stays unknown a few times over, does the attempt fail, the row still marked, and
Temporal's retry looks first.

Transient Slack trouble (server errors, connection errors and time-outs past the client's own retries of
everything but a post) propagates and Temporal retries the activity; a rate limit longer than the client
waits out itself (`RATE_LIMIT_WAIT_MAX_S`) defers its row like a busy channel, by Slack's Retry-After; a
permanent fault (unknown channel, bad token, no such Slack user) parks that row with the error and the
others go on.

The activity heartbeats before each row, before each post, between the client's retries and around the
e-mails, and the workflows give it a heartbeat time-out (20 s, twice the Slack client's time-out per
request): a worker that died mid-delivery is noticed then, not after the start-to-close time-out, and an
attempt that outlived its time-out learns it at its next heartbeat and stops (Temporal cancels it), so it
does not race the retry.

The activity decides what to send and when; the store says how rows are picked and kept
(`store.notifications`, `store.projection`, `store.queries`). It is one module of some 400
lines on purpose: one activity whose ordering, pacing, claim and retry rules above depend on each other.
The Slack plumbing it uses (retries, pacing, finding a posted notice) is in `activities.slack`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.email import MailDelivery
from activities.media import choose_media, decide_media
from activities.names import DELIVER_NOTICES
from activities.registration_notices import notice_blocks
from activities.slack import (
    ChannelBusy,
    ChannelPacer,
    channel_id,
    failure,
    find_notice,
    heartbeat,
    notice_metadata,
    post_or_find,
    posted_nothing,
    retry_after,
)
from domain.claims import Claim
from domain.model import DisputeView, Event, Role
from domain.notices import headline
from render.slack_blocks import dm_blocks, dm_text, done_blocks, head_text
from render.slack_claims import claims_blocks
from render.slack_offers import open_actions
from render.slack_text import case_blocks, case_text
from store import dispute_links, notifications, projection, queries
from store.db import session

# Slack errors that no retry will fix: the row is parked in the outbox with the error.
PERMANENT = frozenset({
    "account_inactive", "cannot_dm_bot", "channel_not_found", "ekm_access_denied", "invalid_arguments",
    "invalid_auth", "invalid_blocks", "is_archived", "missing_scope", "msg_too_long", "no_permission",
    "no_text", "not_allowed_token_type", "not_authed", "not_in_channel", "restricted_action",
    "team_access_not_granted", "token_expired", "token_revoked", "user_disabled", "user_not_found",
    "users_not_found",
})
# Another delivery is posting the case message this notice threads under: look again this soon.
PENDING_RECHECK_S = 1.0
# A notice Slack failed (past the client's retries) is tried again after 1, 2, 4 … 60 s, by its own failures.
FAILURE_BACKOFF_S, FAILURE_BACKOFF_MAX_S = 1.0, 60.0
CLAIM_TTL = timedelta(minutes=2)  # how long a delivery may take to post a case message
# How long before a post's recorded start its message is looked for: the worker's clock and Slack's may differ.
LOOK_BACK = timedelta(minutes=1)
# Events after which earlier direct messages keep their buttons (nothing changed who may do what).
KEEPS_BUTTONS = frozenset({"commented", "sla_reminder", "sla_breached"})
# Direct messages that may carry buttons ("resolved" ones never do).
WITH_BUTTONS = ("action_required", "reminder", "escalated", "paged")


def _first_attempt() -> bool:
    """Whether this is the first attempt: an activity's first, or a relay's (activities.relay), outside one."""
    return not activity.in_activity() or activity.info().attempt == 1


def _retry_later(row: Any, error: str) -> ApplicationError:
    """A failure Temporal retries after a back-off counted by this notice's own failures: the activity's
    attempt number also counts every paced turn, which would soon stretch Temporal's back-off to its maximum."""
    delay = min(FAILURE_BACKOFF_MAX_S, FAILURE_BACKOFF_S * 2 ** min(int(row.attempts or 0), 10))
    return ApplicationError(f"notice {row.id} to {row.recipient}: {error}", type="SlackUnavailable",
                            next_retry_delay=timedelta(seconds=delay))


class _Deferred(Exception):
    """This row must wait (another delivery is posting the case message)."""


class _Paced(_Deferred):
    """This row's channel has no free posting slot for a while (or Slack rate-limits it)."""

    def __init__(self, message: str, wait: float) -> None:
        super().__init__(message)
        self.wait = wait


class _Postponed(Exception):
    """The channel is busy right now: deliver this row after the direct messages of the event."""


class NotifyActivities:
    def __init__(self, engine: Engine, slack: WebClient | None, *,
                 channel_override: str | None = None, public_url: str | None = None,
                 pacer: ChannelPacer | None = None, mail: MailDelivery | None = None) -> None:
        self.engine = engine
        self.slack = slack
        self.mail = mail  # e-mail, when SMTP is set up
        self.channel_override = channel_override
        self.public_url = public_url  # links in direct messages; none when unset
        self.pacer = pacer or ChannelPacer()
        self._dm_channels: dict[str, str] = {}  # Slack user id -> the bot's DM channel with them
        self._channel_ids: dict[str, str] = {}  # a channel as configured ("#conflicts") -> its ID

    def decide_media(self, s: Session, dispute_id: str, seq: int) -> None:
        """Choose the media of the event's rows in the caller's write transaction (a relay's claim); without
        Slack, rows another process left due there are parked, as `deliver_notices` would park them."""
        decide_media(s, dispute_id, seq, slack_on=self.slack is not None, email_on=self.mail is not None)
        if self.slack is None:
            notifications.park_event(s, dispute_id, seq)

    @activity.defn(name=DELIVER_NOTICES)
    def deliver_notices(self, event: Event) -> None:
        choose_media(self.engine, event.dispute_id, event.seq, slack_on=self.slack is not None,
                     email_on=self.mail is not None)
        self.deliver_decided(event)

    def deliver_decided(self, event: Event) -> None:
        """`deliver_notices` once the rows' media are chosen by this process (`decide_media`, a relay's claim):
        without Slack none of them is due there, so only the e-mails are looked for."""
        if self.slack is None:
            self._deliver_mail(event)
            return
        try:
            self._deliver_slack(event)
        except Exception:
            self._deliver_mail(event, quietly=True)  # Slack's trouble (retried) never holds up the e-mails
            raise
        self._deliver_mail(event)

    def _deliver_mail(self, event: Event, *, quietly: bool = False) -> None:
        if self.mail is None:
            return
        heartbeat()
        try:
            self.mail.deliver(event.dispute_id, event.seq)
        except ApplicationError:  # the rows say why; the activity is retried for Slack's sake anyway
            if not quietly:
                raise
        finally:
            heartbeat()

    def _deliver_slack(self, event: Event) -> None:
        with session(self.engine) as s:
            rows = notifications.pending(s, event.dispute_id, event.seq)
        if self.slack is None:
            if rows:
                with session(self.engine, write=True) as s:
                    notifications.park(s, [r.id for r in rows])
            return
        deferred: list[_Deferred] = []
        postponed: list[Any] = []
        for row in rows:  # in order, except that a channel update waiting for its turn goes last
            try:
                self._deliver(self.slack, event, row, patient=False)
            except _Postponed:
                postponed.append(row)
            except _Deferred as exc:
                deferred.append(exc)
        for row in postponed:
            try:
                self._deliver(self.slack, event, row, patient=True)
            except _Deferred as exc:
                deferred.append(exc)
        if len(deferred) < len(rows) or _first_attempt():  # not again on every paced retry
            self._close_earlier_messages(self.slack, event)
        if deferred:
            paced = [d.wait for d in deferred if isinstance(d, _Paced)]
            raise ApplicationError(  # retried shortly, or once the channel has a free slot
                "; ".join(str(d) for d in deferred),
                type="ChannelPaced" if len(paced) == len(deferred) else "CaseMessagePending",
                next_retry_delay=timedelta(seconds=max(paced) if paced else PENDING_RECHECK_S),
            )

    def _post(self, slack: WebClient, channel: str, row: Any, **kwargs: Any) -> Any:
        """chat.postMessage of the row (see `_post_once`); when Slack's answer leaves its outcome unknown,
        the message found where it was posted (`{"channel": ID, "ts": ...}`), or else Slack's answer to
        posting it again (`post_or_find`)."""
        thread_ts = kwargs.get("thread_ts")
        oldest = (datetime.now(UTC) - LOOK_BACK).timestamp()

        def find() -> Any:
            where = self._channel_id(slack, channel)
            ts = self._look(slack, row, where, thread_ts, oldest)
            if ts is None or where is None:
                activity.logger.warning("notice %s is not in Slack after all: posting it again", row.id)
                return None
            activity.logger.info("notice %s is in Slack after all: %s %s", row.id, where, ts)
            return {"channel": where, "ts": ts}

        def unknown(exc: Exception) -> None:
            activity.logger.warning("notice %s: Slack may have taken its post (%s); looking for it", row.id,
                                    failure(exc))
            self._note_failure(row.id, failure(exc))

        return post_or_find(lambda: self._post_once(slack, channel, row, **kwargs), find, unknown=unknown)

    def _post_once(self, slack: WebClient, channel: str, row: Any, **kwargs: Any) -> Any:
        """chat.postMessage of the row in the channel's turn (see ChannelPacer), with the row's id in the
        message metadata; _Paced when no turn is near. The row is marked as being posted just before the
        call, and unmarked when Slack answers that it posted nothing (a 5xx or no answer leaves it marked:
        the client does not repeat the post, and whoever posts it next looks for it first)."""
        try:
            with self.pacer.turn(channel):
                heartbeat()  # after the turn's wait
                self._posting(row.id, under_way=True)
                try:
                    return slack.chat_postMessage(channel=channel, metadata=notice_metadata(row.id, row.dispute_id,
                                                                                            row.seq), **kwargs)
                except SlackApiError as exc:
                    if posted_nothing(exc.response.status_code):  # refused, or rate limited
                        self._posting(row.id, under_way=False)
                    raise
        except ChannelBusy as exc:
            raise _Paced(str(exc), exc.wait) from None

    # --- one row -----------------------------------------------------------------------------------

    def _deliver(self, slack: WebClient, event: Event, row: Any, *, patient: bool) -> None:
        dispute_id = event.dispute_id
        heartbeat()
        try:
            if row.slack_posting_at is not None and self._found(slack, row):
                return
            if row.recipient == "channel":
                self._to_channel(slack, dispute_id, row, patient=patient)
            else:
                self._to_person(slack, event, row)
        except SlackApiError as exc:
            if exc.response.status_code == 429:  # longer than the client waits: back when Slack says
                wait = retry_after(exc.response.headers)
                raise _Paced(f"Slack rate-limits notice {row.id} for {wait:.0f}s", wait) from None
            error = str(exc.response.get("error") or f"HTTP {exc.response.status_code}")
            if error in PERMANENT:
                activity.logger.warning("notice %s to %s parked: %s", row.id, row.recipient, error)
                self._finish(row.id, status="outbox", error=f"slack: {error}")
                return
            self._note_failure(row.id, f"slack: {error}")
            raise _retry_later(row, f"slack: {error}") from exc
        except (URLError, OSError) as exc:  # connection trouble past the client's retries
            self._note_failure(row.id, f"connection: {exc}")
            raise _retry_later(row, f"connection: {exc}") from exc

    def _to_channel(self, slack: WebClient, dispute_id: str, row: Any, *, patient: bool) -> None:
        message = self._case_message(dispute_id)
        target = message.channel if message is not None else (self.channel_override or row.slack_channel)
        if not patient and target and self.pacer.wait_for(target) > 0:
            raise _Postponed()  # people who must act hear first; the channel's log can wait a moment
        view = self._view(dispute_id)
        text, blocks = (case_text(view), [*case_blocks(view, row.text, self._mentions(view)),
                                          *claims_blocks(self._claims(view))]) if view else (row.text, None)
        if message is not None:
            try:
                if view is not None:
                    slack.chat_update(channel=message.channel, ts=message.ts, text=text, blocks=blocks)
                reply = self._post(slack, message.channel, row, thread_ts=message.ts, text=row.text)
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
            posted = self._post(slack, target, row, text=text, blocks=blocks)
        except BaseException:
            self._release(dispute_id)
            raise
        channel, ts = str(posted["channel"]), str(posted["ts"])
        self.pacer.alias(target, channel)
        self._channel_ids[target] = channel
        with session(self.engine, write=True) as s:
            notifications.posted_case_message(s, dispute_id, channel, ts)
            notifications.mark(s, row.id, status="sent", channel=channel, ts=ts)

    def _to_person(self, slack: WebClient, event: Event, row: Any) -> None:
        dispute_id = event.dispute_id
        user_id = self._slack_user_id(slack, row.recipient)
        if user_id is None:
            self._finish(row.id, status="outbox", error=f"no Slack user with e-mail {row.recipient}")
            return
        channel = self._dm_channel(slack, user_id)
        view = self._view(dispute_id)
        if view is None:  # a registration's notice (with its buttons, if any), or a dispute not yet projected
            blocks = notice_blocks(self.engine, event, row.recipient, row.kind, row.text)
            sent = self._post(slack, channel, row, text=row.text, blocks=blocks)
        else:
            offers = open_actions(view, row.recipient, self._role(row.recipient)) if row.kind in WITH_BUTTONS else []
            sent = self._post(slack, channel, row, text=dm_text(view, row.text),
                              blocks=dm_blocks(view, row.text, offers, self.public_url, claims=self._claims(view)))
        self._finish(row.id, status="sent", channel=channel, ts=str(sent["ts"]))

    # --- a row an earlier attempt began posting ------------------------------------------------------

    def _found(self, slack: WebClient, row: Any) -> bool:
        """An earlier attempt began posting this row and died before recording it: if its message is in
        Slack, mark the row sent with it (True); otherwise it is posted as usual (False)."""
        oldest = (row.slack_posting_at - LOOK_BACK).timestamp()
        where: list[tuple[str | None, str | None]] = []  # (channel ID, thread ts) to look in, in turn
        message = None
        if row.recipient == "channel":
            message = self._case_message(row.dispute_id)
            if message is not None:  # a reply in its thread (or a case message another delivery replaced)
                where += [(message.channel, message.ts), (message.channel, None)]
            else:
                where.append((self._channel_id(slack, self.channel_override or row.slack_channel or ""), None))
        else:
            user_id = self._slack_user_id(slack, row.recipient)
            if user_id is None:
                return False
            where.append((self._dm_channel(slack, user_id), None))
        for channel, thread_ts in where:
            ts = self._look(slack, row, channel, thread_ts, oldest)
            if ts is None or channel is None:
                continue
            activity.logger.info("notice %s was posted before its attempt ended: %s %s", row.id, channel, ts)
            with session(self.engine, write=True) as s:
                if row.recipient == "channel" and message is None:  # the case message itself
                    notifications.posted_case_message(s, row.dispute_id, channel, ts)
                notifications.mark(s, row.id, status="sent", channel=channel, ts=ts)
            return True
        return False

    def _look(self, slack: WebClient, row: Any, channel: str | None, thread_ts: str | None,
              oldest: float) -> str | None:
        """The ts of the row's message in the channel (or thread), if it is there. A bot reads only the
        channels it is in, and posts to a public one without joining it (`chat:write.public`): it joins
        to look. A look Slack refuses (no history scope, cannot join, no such channel) finds nothing;
        other trouble is retried."""
        if channel is None:
            activity.logger.warning("notice %s: no channel ID to look in; posting it again", row.id)
            return None
        metadata = notice_metadata(row.id, row.dispute_id, row.seq)
        for tries_left in (1, 0):
            try:
                return find_notice(slack, channel, metadata, oldest=oldest, thread_ts=thread_ts)
            except SlackApiError as exc:
                if exc.response.status_code != 200:
                    raise
                error = exc.response.get("error")
                if error == "not_in_channel" and tries_left and self._join(slack, channel):
                    continue
                activity.logger.warning("notice %s: cannot look in %s (%s); posting it again", row.id, channel, error)
                return None
        return None

    def _join(self, slack: WebClient, channel: str) -> bool:
        try:
            slack.conversations_join(channel=channel)
        except SlackApiError as exc:
            if exc.response.status_code != 200:
                raise
            activity.logger.warning("cannot join %s to look for a post: %s", channel, exc.response.get("error"))
            return False
        return True

    def _close_earlier_messages(self, slack: WebClient, event: Event) -> None:
        """The direct messages sent since the last change of who may do what lose their buttons and
        say what happened. Best effort: a failure leaves a stale button, which the workflow refuses."""
        if event.action in KEEPS_BUTTONS:
            return
        with session(self.engine) as s:
            rows = notifications.sent_since_last_change(s, event.dispute_id, event.seq,
                                                        unchanged_by=KEEPS_BUTTONS, kinds=WITH_BUTTONS)
        if not rows:
            return
        view = self._view(event.dispute_id)
        if view is None:
            return
        line = f":arrow_right_hook: {headline(event, view, self._names(event))}"
        for row in rows:
            heartbeat()
            try:
                slack.chat_update(channel=row.slack_channel, ts=row.slack_ts, text=line,
                                  blocks=done_blocks(head_text(view, row.text, self.public_url), line))
            except (SlackApiError, URLError, OSError) as exc:
                activity.logger.warning("could not take the buttons off notice %s: %s", row.id, exc)

    # --- lookups -----------------------------------------------------------------------------------

    def _view(self, dispute_id: str) -> DisputeView | None:
        with session(self.engine) as s:
            return projection.stored_view(s, dispute_id)

    def _claims(self, view: DisputeView) -> list[Claim]:
        """The registrations the dispute is about; everyone it tells is involved in it (DESIGN §6)."""
        with session(self.engine) as s:
            return dispute_links.claims(s, view.id, view.created_at, datetime.now(UTC))

    def _names(self, event: Event) -> dict[str, str]:
        """The names of the people an event's headline mentions (its actor, whom it was reassigned to)."""
        emails = {event.actor, str(event.payload.get("to") or "")} - {""}
        with session(self.engine) as s:
            found = queries.names_of(s, emails)
        return {email: name for email, name in found.items() if name}

    def _mentions(self, view: DisputeView) -> dict[str, str]:
        if not view.waiting_on:
            return {}
        with session(self.engine) as s:
            return notifications.slack_ids(s, view.waiting_on)

    def _role(self, email: str) -> Role:
        with session(self.engine) as s:
            role = notifications.role_of(s, email)
        return Role(str(role)) if role in Role.__members__ else Role.auditor  # unknown: offer nothing

    def _dm_channel(self, slack: WebClient, user_id: str) -> str:
        channel = self._dm_channels.get(user_id)
        if channel is None:
            opened = slack.conversations_open(users=user_id)
            channel = self._dm_channels[user_id] = str(opened["channel"]["id"])
        return channel

    def _channel_id(self, slack: WebClient, channel: str) -> str | None:
        """The ID of a channel as configured (an ID already, or a "#name" Parley posted to or can find)."""
        if channel not in self._channel_ids:
            try:
                found = channel_id(slack, channel) if channel else None
            except SlackApiError as exc:
                if exc.response.status_code != 200:
                    raise
                found = None  # no channels:read scope: nothing to look in
            if found is None:
                return None
            self._channel_ids[channel] = found
        return self._channel_ids[channel]

    def _slack_user_id(self, slack: WebClient, email: str) -> str | None:
        with session(self.engine) as s:
            user = notifications.slack_link(s, email)
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
                    notifications.link_slack_user(s, user.id, user_id)
            except IntegrityError:  # that Slack account is linked to another user: DM it, remember nothing
                activity.logger.warning("Slack user %s of %s is linked to another user", user_id, email)
        return user_id

    # --- the case message claim --------------------------------------------------------------------

    def _case_message(self, dispute_id: str) -> Any:
        with session(self.engine) as s:
            return notifications.case_message(s, dispute_id)

    def _claim(self, dispute_id: str, channel: str) -> None:
        """Become the one delivery that posts the dispute's case message (or take over the claim of
        one that died, after CLAIM_TTL), or raise _Deferred."""
        with session(self.engine, write=True) as s:
            if notifications.claim_case_message(s, dispute_id, channel, CLAIM_TTL):
                return
        raise _Deferred(f"the case message of {dispute_id} is being posted by another delivery")

    def _release(self, dispute_id: str) -> None:
        with session(self.engine, write=True) as s:
            notifications.release_claim(s, dispute_id)

    def _forget_case_message(self, dispute_id: str) -> None:
        with session(self.engine, write=True) as s:
            notifications.forget_case_message(s, dispute_id)

    # --- row state ---------------------------------------------------------------------------------

    def _finish(self, row_id: int, *, status: str, channel: str | None = None, ts: str | None = None,
                error: str | None = None) -> None:
        with session(self.engine, write=True) as s:
            notifications.mark(s, row_id, status=status, channel=channel, ts=ts, error=error)

    def _posting(self, row_id: int, *, under_way: bool) -> None:
        with session(self.engine, write=True) as s:
            notifications.posting(s, row_id, under_way=under_way)

    def _note_failure(self, row_id: int, error: str) -> None:
        try:
            with session(self.engine, write=True) as s:
                notifications.note_failure(s, row_id, error)
        except Exception:  # bookkeeping only: never hide the Slack error behind a store error
            activity.logger.exception("could not record the failed attempt of notice %s", row_id)

"""The digest's activities: `plan_digests` queues one outbox row per person, `deliver_digest` sends one person's.

`plan_digests` reads who gets a digest and what each reads as of the run's moment (service.digest), writes
each as a row of the digest's outbox event (its text is what the outbox shows) and chooses each row's
media by the person's preference (activities.media), all of it idempotent: a retried plan finds the rows.

`deliver_digest` builds the person's digest again as of the same moment and sends it by the media still
pending on the row: a Slack direct message (Block Kit, render.slack_digest) and/or an e-mail (HTML and
text, render.digest_mail). Each medium is marked right after it went, in its own commit, so a retried
attempt sends only what did not go. As for notices (activities.notify), the direct message carries the row's
id in its metadata and the row is marked as being posted just before the post. When Slack's answer is a
5xx or never comes (which the client does not repeat), the attempt looks for the message in the person's
DM a moment later and marks the row sent with it, posting again only when it is not there
(`activities.slack.post_or_find`); a later attempt that finds the row so marked (the worker died before
the commit, or that look failed too) looks first in the same way. Also as for notices, a permanent
refusal (an unknown Slack user, an SMTP 5xx) parks that medium with the reason; transient trouble is noted
on the row and the activity fails, so Temporal retries it later; a fault of one medium never holds up the
other. The activity heartbeats before each post, during each look, and before and after connecting to the
SMTP server and sending (the workflow gives it a heartbeat time-out).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.metadata import Metadata
from sqlalchemy import Engine, Row
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.email import Mailer, MailRefused, MailUnavailable
from activities.media import choose_media
from activities.notify import LOOK_BACK, PERMANENT
from activities.slack import failure, find_notice, heartbeat, notice_metadata, post_or_find, posted_nothing
from domain.calendar import BusinessCalendar
from domain.charter import Charter
from domain.digest import Digest
from domain.digest_runs import DELIVER_DIGEST, PLAN_DIGESTS, DigestDelivery, DigestRun, DigestSent
from render.digest_mail import render_digest_mail
from render.digest_text import digest_text
from render.slack_digest import digest_blocks, digest_fallback
from service.digest import charter_in_force, digest_for, digest_of, recipients
from store import digest_outbox, notifications
from store.db import session


class DigestActivities:
    def __init__(self, engine: Engine, charter: Charter, *, slack: WebClient | None = None,
                 mailer: Mailer | None = None, public_url: str = "") -> None:
        self.engine = engine
        self.charter = charter  # until a charter is adopted in the store
        self.slack = slack
        self.mailer = mailer
        self.public_url = public_url.rstrip("/")

    @activity.defn(name=PLAN_DIGESTS)
    def plan_digests(self, run: DigestRun) -> list[str]:
        """Queue the digest of everyone who gets one; the recipients, in order."""
        with session(self.engine) as s:
            charter = charter_in_force(s, self.charter)
            digests = [digest_for(s, person, charter, run.at) for person in recipients(s, run.at)]
        cal = charter.business_calendar()
        texts = {d.recipient.email: digest_text(d, cal, self.public_url) for d in digests if d.worth_sending}
        with session(self.engine, write=True) as s:
            new = digest_outbox.queue(s, run.key, texts)
        choose_media(self.engine, run.key, digest_outbox.SEQ, slack_on=self.slack is not None,
                     email_on=self.mailer is not None)
        with session(self.engine) as s:
            queued = digest_outbox.queued(s, run.key)
        activity.logger.info("digest %s: %d people, %d new", run.key, len(queued), new)
        return queued

    @activity.defn(name=DELIVER_DIGEST)
    def deliver_digest(self, job: DigestDelivery) -> DigestSent:
        """Send one person's digest by the media still pending; how it went."""
        with session(self.engine) as s:
            row = digest_outbox.state(s, job.key, job.recipient)
            if row is None:
                return DigestSent(recipient=job.recipient, error="no digest was queued for this person")
            charter = charter_in_force(s, self.charter)
            wanted = row.status == "pending" or row.email_status == "pending"
            digest = digest_of(s, job.recipient, charter, job.at) if wanted else None
        if wanted and digest is None:
            self._drop(row, "no longer a Parley user")
        elif digest is not None:
            self._send(row, digest, charter, job)
        return self._outcome(job)

    def _send(self, row: Row[Any], digest: Digest, charter: Charter, job: DigestDelivery) -> None:
        cal = charter.business_calendar()
        slack_trouble: Exception | None = None
        if row.status == "pending":
            if self.slack is None:  # (this worker has no bot token, the one that planned it had)
                self._finish(row.id, status="outbox", error="Slack is not set up")
            else:
                try:
                    self._to_slack(self.slack, row, job.key, digest, cal)
                except (SlackApiError, URLError, OSError) as exc:  # transient: raised after the e-mail went
                    slack_trouble = exc
        if row.email_status == "pending" and self.mailer is not None:
            self._by_mail(self.mailer, row.id, digest, cal, f"{job.key}/{job.recipient.lower()}")
        if slack_trouble is not None:
            raise slack_trouble

    # --- Slack -------------------------------------------------------------------------------------

    def _to_slack(self, slack: WebClient, row: Row[Any], key: str, digest: Digest, cal: BusinessCalendar) -> None:
        email, row_id = digest.recipient.email, int(row.id)
        metadata = notice_metadata(row_id, key, digest_outbox.SEQ)
        try:
            user_id = self._slack_user(slack, email)
            if user_id is None:
                self._finish(row_id, status="outbox", error=f"no Slack user with e-mail {email}")
                return
            channel = str(slack.conversations_open(users=user_id)["channel"]["id"])
            if row.slack_posting_at is not None:  # an earlier attempt began posting it: is it there?
                found = self._look(slack, row_id, channel, metadata, row.slack_posting_at)
                if found is not None:
                    activity.logger.info("digest %s to %s was posted before its attempt ended", key, email)
                    self._finish(row_id, status="sent", channel=channel, ts=found)
                    return
            since = datetime.now(UTC)

            def post() -> str:
                heartbeat()
                self._posting(row_id, under_way=True)
                try:
                    return str(slack.chat_postMessage(channel=channel, text=digest_fallback(digest), metadata=metadata,
                                                      blocks=digest_blocks(digest, cal, self.public_url))["ts"])
                except SlackApiError as exc:
                    if posted_nothing(exc.response.status_code):  # refused, or rate limited
                        self._posting(row_id, under_way=False)
                    raise

            def unknown(exc: Exception) -> None:
                activity.logger.warning("digest %s to %s: Slack may have taken it (%s); looking for it", key, email,
                                        failure(exc))
                self._note(row_id, failure(exc))

            ts = post_or_find(post, lambda: self._look(slack, row_id, channel, metadata, since), unknown=unknown)
        except SlackApiError as exc:
            error = str(exc.response.get("error") or f"HTTP {exc.response.status_code}")
            if error in PERMANENT:
                activity.logger.warning("digest to %s parked: %s", email, error)
                self._finish(row_id, status="outbox", error=f"slack: {error}")
                return
            self._note(row_id, f"slack: {error}")
            raise
        except (URLError, OSError) as exc:
            self._note(row_id, f"connection: {exc}")
            raise
        self._finish(row_id, status="sent", channel=channel, ts=ts)

    def _look(self, slack: WebClient, row_id: int, channel: str, metadata: Metadata, since: datetime) -> str | None:
        """The ts of the row's direct message in `channel` (the bot's DM with its reader), if Slack has it from
        a post that began at `since`. A look Slack refuses (no history scope) finds nothing, and the digest is
        posted again."""
        try:
            return find_notice(slack, channel, metadata, oldest=(since - LOOK_BACK).timestamp())
        except SlackApiError as exc:
            if exc.response.status_code != 200:
                raise
            activity.logger.warning("digest %s: cannot look in %s (%s); posting it again", row_id, channel,
                                    exc.response.get("error"))
            return None

    def _slack_user(self, slack: WebClient, email: str) -> str | None:
        with session(self.engine) as s:
            user = notifications.slack_link(s, email)
        if user is not None and user.slack_user_id:
            return str(user.slack_user_id)
        try:
            member = slack.users_lookupByEmail(email=email)["user"]
        except SlackApiError as exc:
            if exc.response.get("error") in ("users_not_found", "user_not_found"):
                return None
            raise
        return None if member.get("deleted") else str(member["id"])

    # --- e-mail ------------------------------------------------------------------------------------

    def _by_mail(self, mailer: Mailer, row_id: int, digest: Digest, cal: BusinessCalendar, key: str) -> None:
        mail = render_digest_mail(digest, cal, self.public_url)
        try:
            heartbeat()
            with mailer.connection() as conn:
                heartbeat()
                mailer.send(conn, mailer.message(mail, digest.recipient.email, digest.recipient.name, key))
                heartbeat()
        except MailRefused as exc:
            activity.logger.warning("digest e-mail to %s parked: %s", digest.recipient.email, exc)
            with session(self.engine, write=True) as s:
                notifications.mark_mail(s, row_id, sent=False, error=f"smtp: {exc}")
            return
        except MailUnavailable as exc:
            with session(self.engine, write=True) as s:
                notifications.note_mail_failure(s, row_id, f"smtp: {exc}")
            raise ApplicationError(f"the digest e-mail to {digest.recipient.email} waits: {exc}",
                                   type="MailUnavailable") from exc
        with session(self.engine, write=True) as s:
            notifications.mark_mail(s, row_id, sent=True)

    # --- the row -----------------------------------------------------------------------------------

    def _outcome(self, job: DigestDelivery) -> DigestSent:
        with session(self.engine) as s:
            row = digest_outbox.state(s, job.key, job.recipient)
        assert row is not None
        media = [m for m, went in (("slack", row.status == "sent"), ("email", row.email_status == "sent")) if went]
        if not media and row.status == "outbox":
            media = ["outbox"]  # no medium reached them: the outbox page shows it, with why
        return DigestSent(recipient=job.recipient, media=media, error=row.error or row.email_error)

    def _drop(self, row: Row[Any], why: str) -> None:
        """Nothing will go to this person: park the row, and its e-mail if one was due."""
        with session(self.engine, write=True) as s:
            if row.email_status == "pending":
                notifications.mark_mail(s, row.id, sent=False, error=why)
            notifications.mark(s, row.id, status="outbox", error=why)

    def _finish(self, row_id: int, *, status: str, channel: str | None = None, ts: str | None = None,
                error: str | None = None) -> None:
        with session(self.engine, write=True) as s:
            notifications.mark(s, row_id, status=status, channel=channel, ts=ts, error=error)

    def _posting(self, row_id: int, *, under_way: bool) -> None:
        with session(self.engine, write=True) as s:
            notifications.posting(s, row_id, under_way=under_way)

    def _note(self, row_id: int, error: str) -> None:
        with session(self.engine, write=True) as s:
            notifications.note_failure(s, row_id, error)

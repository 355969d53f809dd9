"""What crosses Temporal for the digest (DigestWorkflow and its activities), and the outbox key of a digest.

Each digest is one outbox event, `digest:<YYYY-MM-DD>` (the date of the schedule's action time in the
charter calendar's zone), with one row per person: a retried activity, a re-run workflow or a second
action the same day finds the rows and sends nothing twice. `parley digest send --now` makes a digest of
its own moment, `digest:<YYYY-MM-DD>T<HH:MM:SS>Z`. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

# Activity names shared by the workflow and the worker (the workflow never imports I/O code).
PLAN_DIGESTS = "plan_digests"
DELIVER_DIGEST = "deliver_digest"
KEY_PREFIX = "digest:"


@dataclass
class DigestRequest:
    """The workflow's input: the schedule's (its zone) or `parley digest send --now`'s (a moment and a key)."""

    time_zone: str = "UTC"  # the charter calendar's zone, where the digest's date is read
    at: datetime | None = None  # the digest's moment; None: the schedule's action time
    key: str | None = None  # the outbox event; None: `digest_key(at, time_zone)`


@dataclass
class DigestRun:
    """One digest: its outbox event and the moment its contents are as of."""

    key: str
    at: datetime


@dataclass
class DigestDelivery:
    """One person's digest of a run."""

    key: str
    at: datetime
    recipient: str


@dataclass
class DigestSent:
    """How one person's digest went: "slack", "email", and/or "outbox" (parked: no medium reached them)."""

    recipient: str
    media: list[str] = field(default_factory=list)
    error: str | None = None  # why it did not go (yet), when it did not


@dataclass
class DigestReport:
    key: str
    at: datetime
    sent: list[DigestSent] = field(default_factory=list)

    def by_medium(self) -> dict[str, list[str]]:
        """The recipients by medium ("slack", "email", "outbox", "not sent"), in order."""
        out: dict[str, list[str]] = {}
        for item in self.sent:
            for medium in item.media or ["not sent"]:
                out.setdefault(medium, []).append(item.recipient)
        return out


def digest_key(at: datetime, time_zone: str) -> str:
    """The scheduled digest's outbox event: the date of `at` in the charter calendar's zone."""
    return f"{KEY_PREFIX}{at.astimezone(ZoneInfo(time_zone)).date().isoformat()}"


def manual_key(at: datetime) -> str:
    """A digest sent on demand: its own moment, to the second (UTC)."""
    return f"{KEY_PREFIX}{at.astimezone(UTC):%Y-%m-%dT%H:%M:%S}Z"


def is_digest(event_id: str) -> bool:
    return event_id.startswith(KEY_PREFIX)

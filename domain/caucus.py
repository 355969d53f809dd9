"""Caucus notes: comments only the adjudicators read (`{"action": "comment", "visibility": "mediators"}`).

Who may write one and who may read one is decided here and nowhere else; the rules (`domain.rules`), the
notices (`domain.notices`), the service's reads of the audit trail and every surface ask these functions.

- **Writing**: the mediator assigned, the executive sponsor or the backup once the dispute has reached
  tier 3, and admins. A party, or any rep, is refused (403: who they are, not what they typed).
- **Reading**: mediators, executives, auditors and admins, on the disputes they may see at all
  (`store.visibility`). Reps, parties or not, never see one: not in `GET /api/disputes/{id}/audit`, the
  dispute page and its live timeline, Slack, e-mail, the outbox or webhooks.
- **Telling**: never the conflicts channel (parties read its threads). The mediator and, once it reached
  tier 3, the executive get a direct message (or an e-mail, by their preference) that a note was added,
  without its text, whoever else the charter DMs; the writer is not told of their own note.
- **Keeping**: a caucus note is an audit event like any other, in its dispute's hash chain, its payload
  `{"text": …, "visibility": "mediators"}`; the auditor's export and pages show it. A party's view of
  the trail skips its sequence number (the chain's numbering is not rewritten per reader), and the note
  leaves the dispute's `updated_at` ("latest activity", what lists sort by) and the live page alone.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol, TypeVar

from domain.errors import Forbidden
from domain.model import Actor, Comment, Role

CAUCUS = "mediators"  # the `visibility` of a caucus note
COMMENTED = "commented"  # the audit action of every comment
READERS = frozenset({Role.mediator, Role.executive, Role.auditor, Role.admin})
REFUSED = ("a caucus note (visibility \"mediators\") is written by the mediator, the executive or an admin, "
           "never by a party; leave visibility out, or send \"all\", to comment for everyone")

E = TypeVar("E", bound=Mapping[str, Any])


class Adjudicated(Protocol):
    """What the rule reads of a dispute (`domain.rules.DisputeState` and `DisputeView` both have it)."""

    @property
    def mediator(self) -> str: ...
    @property
    def executive(self) -> str: ...
    @property
    def executives(self) -> tuple[str, ...]: ...
    @property
    def reached_executive(self) -> bool: ...


def is_caucus(act: Comment) -> bool:
    return act.visibility == CAUCUS


def may_write(d: Adjudicated, actor: Actor) -> bool:
    """Whether `actor` may write a caucus note on `d` now."""
    if actor.role == Role.admin:
        return True
    if actor.role == Role.mediator:
        return actor.email == d.mediator
    if actor.role == Role.executive:
        return d.reached_executive and actor.email in d.executives
    return False  # reps (parties or not) and auditors


def check_write(d: Adjudicated, actor: Actor) -> None:
    if not may_write(d, actor):
        raise Forbidden(REFUSED)


def may_read(role: Role | str) -> bool:
    """Whether someone with `role`, who may see a dispute, may read its caucus notes."""
    return str(role) in {r.value for r in READERS}


def payload(act: Comment) -> dict[str, Any]:
    """The audit payload of a comment: the text, and the visibility of a caucus note (an ordinary comment's
    payload is what it always was, so older trails and newer ones read alike)."""
    return {"text": act.text, "visibility": CAUCUS} if is_caucus(act) else {"text": act.text}


def is_caucus_event(action: object, payload: object) -> bool:
    """Whether a recorded event is a caucus note. A comment whose payload cannot be read (damaged in the
    store) counts as one: its text is shown only to those who may read caucus notes."""
    if action != COMMENTED:
        return False
    return not isinstance(payload, Mapping) or payload.get("visibility") == CAUCUS


def readable(events: Iterable[E], role: Role | str) -> list[E]:
    """The events (as `store.audit.events_for` shows them) that someone with `role` may read."""
    if may_read(role):
        return list(events)
    return [e for e in events if not is_caucus_event(e.get("action"), e.get("payload"))]


def last_readable(events: Iterable[Mapping[str, Any]], role: Role | str, last_seq: int) -> int:
    """The number of the last of a dispute's events someone with `role` may read (`last_seq`: its last
    event's): what the dispute page follows, so that a caucus note is no "new activity" to a party."""
    if may_read(role):
        return last_seq
    seqs = [e.get("seq") for e in readable(events, role)]
    return max((s for s in seqs if isinstance(s, int) and not isinstance(s, bool) and s <= last_seq), default=0)


def told(d: Adjudicated, writer: str) -> list[str]:
    """Who is told that a caucus note was added: the mediator and, once it reached tier 3, the executive;
    never the writer."""
    people = [d.mediator, *((d.executive,) if d.reached_executive else ())]
    return [email for email in dict.fromkeys(people) if email != writer]

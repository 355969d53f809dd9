"""The digest for the activities and the command line (DESIGN §7): who gets one, and what each person reads.

Both read the store as of a moment (store.digest) and leave the rules to `domain.digest.build_digest`:
mediators, executives and admins always get a digest; anyone else when price protection their channel
won ends within four weeks. The routing of overlaps and the calendar deadlines are read on are the
charter in force's (the process's own charter file until one is adopted).
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from domain.charter import Charter
from domain.digest import BREACH_WINDOW, Digest, DigestRows, Recipient, build_digest
from store import charters
from store import digest as rows


def charter_in_force(session: Session, fallback: Charter) -> Charter:
    return charters.in_force(session) or fallback


def recipients(session: Session, at: datetime) -> list[Recipient]:
    """Everyone who gets a digest as of `at`, by e-mail: mediators, executives, admins, and the owners of
    price protection that ends soon."""
    people = {p.email.lower(): p for p in rows.people_with_a_digest(session)}
    owners = {o for p in rows.price_protections(session, at.date()) for o in p.owners}
    for person in rows.people(session, sorted(owners)):
        people.setdefault(person.email.lower(), person)
    return [people[email] for email in sorted(people)]


def digest_for(session: Session, recipient: Recipient, charter: Charter, at: datetime) -> Digest:
    """What `recipient` reads in the digest as of `at`."""
    role = recipient.role
    gathered = DigestRows(
        open_disputes=tuple(rows.open_disputes(session, recipient)),
        breaches=tuple(rows.breaches(session, recipient, at - BREACH_WINDOW, at)),
        overlaps=tuple(rows.overlaps_awaiting(session, charter.routing, at)) if role == "mediator" else (),
        price_protections=tuple(rows.price_protections(session, at.date(), recipient.email)),
        governance=rows.governance(session, at) if role == "admin" else None,
    )
    return build_digest(recipient, gathered, at)


def digest_of(session: Session, email: str, charter: Charter, at: datetime) -> Digest | None:
    """What the user with this e-mail would read as of `at` (None: no such user)."""
    recipient = rows.person(session, email)
    return None if recipient is None else digest_for(session, recipient, charter, at)

"""Charter versions and their change log (who, when, why); the version in force is the one adopted last.

Every adoption is a row of the change log and an event of the audit chain `CHAIN` ("charter"), in the
same `audit_events` table and hash chain as the disputes, so `parley audit verify` covers it. A version
adopted again (going back to an earlier text) gets a new change-log row and event; its text is stored
once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from domain.charter import Charter, parse_charter
from domain.model import Event
from store import audit
from store.tables import AUDIT_EVENTS, CharterChange, CharterVersion

CHAIN = "charter"  # the audit chain of adoptions
ADOPTED = "charter_adopted"
_SEQ_ATTEMPTS = 5


class AdoptionRace(Exception):
    """Another adoption took the next place in the audit chain at the same moment, every time we tried."""


def load_charter_file(path: Path) -> tuple[Charter, str]:
    text = path.read_text(encoding="utf-8")
    return parse_charter(text), text


def register(session: Session, charter: Charter, text: str, by: str, reason: str) -> bool:
    """Adopt a charter version the first time it is seen (the API's own file at start-up); True when
    it is new. A version seen before is left as it is, so a restart never undoes a later adoption."""
    if session.get(CharterVersion, charter.version_id) is not None:
        return False
    record_adoption(session, charter, text, by, reason)
    return True


def record_adoption(session: Session, charter: Charter, text: str, by: str, reason: str,
                    at: datetime | None = None) -> CharterChange:
    """Make `charter` the version in force: its text (once), a change-log row and an audit event."""
    now = at or datetime.now(UTC)
    if session.get(CharterVersion, charter.version_id) is None:
        session.add(CharterVersion(version_id=charter.version_id, name=charter.name, version=charter.version,
                                   sha256=charter.sha256, text=text, first_used_at=now))
        session.flush()  # the change log row refers to the version row
    change = CharterChange(version_id=charter.version_id, changed_by=by, reason=reason, at=now)
    session.add(change)
    session.flush()
    _append_event(session, change, charter)
    return change


def _append_event(session: Session, change: CharterChange, charter: Charter) -> None:
    payload = {"change_id": change.id, "version_id": charter.version_id, "name": charter.name,
               "version": charter.version, "sha256": charter.sha256, "reason": change.reason}
    for _ in range(_SEQ_ATTEMPTS):
        last = session.execute(sa_select(func.max(AUDIT_EVENTS.c.seq)).where(AUDIT_EVENTS.c.dispute_id == CHAIN))
        event = Event(dispute_id=CHAIN, seq=(last.scalar() or 0) + 1, at=change.at, actor=change.changed_by,
                      action=ADOPTED, tier=0, payload=payload, charter_version=charter.version_id)
        try:
            if audit.append(session, event):
                return
        except audit.ChainError:  # that place was taken (and committed) since we looked
            continue
    raise AdoptionRace("other charter adoptions kept taking the next place in the audit chain; try again")


def history(session: Session) -> list[CharterChange]:
    """The change log, oldest first."""
    return list(session.exec(select(CharterChange).order_by(col(CharterChange.id))))


def log(session: Session) -> list[tuple[CharterChange, CharterVersion]]:
    """The change log with each version, newest first."""
    rows = session.exec(select(CharterChange, CharterVersion)
                        .join(CharterVersion, col(CharterChange.version_id) == col(CharterVersion.version_id))
                        .order_by(col(CharterChange.id).desc()))
    return [(change, version) for change, version in rows]


def latest(session: Session) -> tuple[CharterChange, CharterVersion] | None:
    """The last adoption and its version: the charter in force."""
    row = session.exec(select(CharterChange, CharterVersion)
                       .join(CharterVersion, col(CharterChange.version_id) == col(CharterVersion.version_id))
                       .order_by(col(CharterChange.id).desc()).limit(1)).first()
    return None if row is None else (row[0], row[1])


_LAST_ADOPTED = select(CharterChange.version_id).order_by(col(CharterChange.id).desc()).limit(1)  # built once


def in_force(session: Session) -> Charter | None:
    """The charter new disputes pin: the version adopted last (None before any adoption). Asked of the store
    every time (an adoption by any process counts at once), but only for the version's id: the text of each
    version is parsed once (`charter_by_version`)."""
    change = session.exec(_LAST_ADOPTED).first()
    return None if change is None else charter_by_version(session, change)


def version_row(session: Session, version_id: str) -> CharterVersion | None:
    return session.get(CharterVersion, version_id)


_by_version: dict[str, Charter] = {}  # versions never change once stored


def charter_by_version(session: Session, version_id: str) -> Charter | None:
    if (known := _by_version.get(version_id)) is not None:
        return known
    row = session.get(CharterVersion, version_id)
    if row is None:
        return None
    charter = _by_version[version_id] = parse_charter(row.text)
    return charter

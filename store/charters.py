"""Charter versions as first used, with their change log (who, when, why)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlmodel import Session, select

from domain.charter import Charter, parse_charter
from store.tables import CharterChange, CharterVersion


def load_charter_file(path: Path) -> tuple[Charter, str]:
    text = path.read_text(encoding="utf-8")
    return parse_charter(text), text


def register(session: Session, charter: Charter, text: str, by: str, reason: str) -> bool:
    """Store a charter version the first time it is used; returns True when it is new."""
    if session.get(CharterVersion, charter.version_id) is not None:
        return False
    now = datetime.now(UTC)
    session.add(CharterVersion(version_id=charter.version_id, name=charter.name, version=charter.version,
                               sha256=charter.sha256, text=text, first_used_at=now))
    session.flush()  # the change log row refers to the version row
    session.add(CharterChange(version_id=charter.version_id, changed_by=by, reason=reason, at=now))
    return True


def history(session: Session) -> list[CharterChange]:
    return list(session.exec(select(CharterChange).order_by(CharterChange.at)))  # type: ignore[arg-type]


_by_version: dict[str, Charter] = {}  # versions never change once stored


def charter_by_version(session: Session, version_id: str) -> Charter | None:
    if (known := _by_version.get(version_id)) is not None:
        return known
    row = session.get(CharterVersion, version_id)
    if row is None:
        return None
    charter = _by_version[version_id] = parse_charter(row.text)
    return charter

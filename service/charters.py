"""The charter as a living document (DESIGN §8): adopting a version, the version in force, the change
log, a diff between two versions and the holidays a charter applies in a year.

The one place `POST /api/charter`, the charter page's form and `parley charter adopt` go through, so
all three refuse the same charters in the same words. Adopting takes effect at once for every API
process: each one reads the version in force from the store when a dispute is filed
(`api.deps.charter_in_force`), and the charter travels with each dispute into its workflow, so a
running dispute keeps the version it was filed under.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session

from domain import public_holidays
from domain.charter import Charter, CharterError, Routing, parse_charter
from domain.errors import InvalidInput, NotFound, WrongState
from domain.model import Role
from store import charters
from store.tables import CharterChange, CharterVersion
from store.users import user_by_email

Problem = tuple[str, str]  # (field of the request: "toml" or "reason", what is wrong in plain words)
MAX_REASON = 1000


class CharterRefused(InvalidInput):
    """A charter that cannot be adopted, with every problem found (each names its key or person)."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in problems), problems[0][0])
        self.problems = problems


@dataclass(frozen=True)
class Adoption:
    """One row of the change log: a version, and when, by whom and why it was adopted."""

    version_id: str
    version: str
    name: str
    sha256: str
    adopted_at: datetime
    adopted_by: str
    reason: str
    text: str
    in_force: bool = False

    @classmethod
    def of(cls, change: CharterChange, row: CharterVersion, in_force: bool = False) -> Adoption:
        return cls(version_id=row.version_id, version=row.version, name=row.name, sha256=row.sha256,
                   adopted_at=change.at, adopted_by=change.changed_by, reason=change.reason, text=row.text,
                   in_force=in_force)


@dataclass(frozen=True)
class Holiday:
    day: date
    names: tuple[str, ...]  # "Thanksgiving Day (US)", "the charter's own date"


# --- adopting ----------------------------------------------------------------------------------------

def adopt(session: Session, text: str, by: str, reason: str) -> tuple[Adoption, bool]:
    """Make `text` the charter in force; (the adoption, whether it is new). The text of the version
    already in force changes nothing (not new); an earlier version's text is adopted again."""
    charter = check(session, text, reason)
    latest = charters.latest(session)
    if latest is not None and latest[0].version_id == charter.version_id:
        return Adoption.of(*latest, in_force=True), False
    stored = charters.version_row(session, charter.version_id)
    if stored is not None and stored.sha256 != charter.sha256:
        raise WrongState(f"version id {charter.version_id} is taken by another text: change `version`")
    try:
        change = charters.record_adoption(session, charter, text, by, reason.strip())
    except charters.AdoptionRace as exc:
        raise WrongState(str(exc)) from exc
    row = charters.version_row(session, charter.version_id)
    assert row is not None
    adoption = Adoption.of(change, row, in_force=True)
    session.commit()
    return adoption, True


def check(session: Session, text: str, reason: str) -> Charter:
    """The charter in `text`, if it may be adopted: valid, and routing only to people with the role."""
    problems: list[Problem] = []
    if not reason.strip():
        problems.append(("reason", "must say why the charter changes"))
    elif len(reason.strip()) > MAX_REASON:
        problems.append(("reason", f"must be at most {MAX_REASON:,} characters long"))
    if "\x00" in text:
        raise CharterRefused([*problems, ("toml", "must not contain the NUL character")])
    try:
        charter = parse_charter(text)
    except CharterError as exc:
        raise CharterRefused([*problems, *(("toml", f"{key}: {message}" if key else message)
                                           for key, message in exc.problems)]) from exc
    problems += [("toml", f"{key}: {message}") for key, message in people_problems(session, charter.routing)]
    if problems:
        raise CharterRefused(problems)
    return charter


def routed_people(routing: Routing) -> list[tuple[str, str, Role]]:
    """(charter key, e-mail, the role they need) for everyone the routing sends work to."""
    people = [("routing.default_mediator", routing.default_mediator, Role.mediator)]
    if isinstance(routing.mediators, dict):  # DESIGN §8's lists: region -> mediators in order
        people += [(f"routing.mediators.{region}.{i}", email, Role.mediator)
                   for region, emails in routing.mediators.items() for i, email in enumerate(emails)]
    else:
        people += [(f"routing.mediators.{i}.mediator", route.mediator, Role.mediator)
                   for i, route in enumerate(routing.mediators)]
    people.append(("routing.executive", routing.executive, Role.executive))
    if routing.backup_executive is not None:
        people.append(("routing.backup_executive", routing.backup_executive, Role.executive))
    return people


def people_problems(session: Session, routing: Routing) -> list[tuple[str, str]]:
    """Each routed person who is not a Parley user with the role the routing gives them."""
    problems: list[tuple[str, str]] = []
    for key, email, role in routed_people(routing):
        if not email.strip():
            problems.append((key, f"names nobody: give the e-mail of {_a(role.value)}"))
            continue
        user = user_by_email(session, email.strip())
        if user is None:
            problems.append((key, f"{email} is not a Parley user; add them as {_a(role.value)} first"))
        elif user.role != role.value:
            problems.append((key, f"{email} is {_a(user.role)}, not {_a(role.value)}"))
    return problems


def _a(role: str) -> str:
    return f"{'an' if role[:1] in 'aeiou' else 'a'} {role}"


# --- reading -----------------------------------------------------------------------------------------

def current(session: Session) -> Adoption:
    latest = charters.latest(session)
    if latest is None:
        raise NotFound("no charter has been adopted yet")
    return Adoption.of(*latest, in_force=True)


def change_log(session: Session) -> list[Adoption]:
    """Every adoption, newest first; the first is the version in force."""
    return [Adoption.of(change, row, in_force=i == 0) for i, (change, row) in enumerate(charters.log(session))]


def diff(session: Session, old: str, new: str) -> list[tuple[str, str]]:
    """The unified diff from version `old` to version `new`, as (kind, line) with kind one of "file",
    "hunk", "add", "del" and "same"; the lines are text, for the page to escape."""
    texts = []
    for version_id in (old, new):
        row = charters.version_row(session, version_id)
        if row is None:
            raise NotFound(f"no charter version {version_id!r}")
        texts.append(row.text.splitlines())
    lines = difflib.unified_diff(texts[0], texts[1], fromfile=old, tofile=new, lineterm="")
    return [(_kind(line), line) for line in lines]


def _kind(line: str) -> str:
    if line.startswith(("---", "+++")):
        return "file"
    return {"@": "hunk", "+": "add", "-": "del"}.get(line[:1], "same")


def holidays_in(charter: Charter, year: int) -> list[Holiday]:
    """The days off a charter's calendar has in `year`: its public holidays (named) and its own dates."""
    prefix = f"{year:04d}-"
    public = {date.fromisoformat(d) for d in charter.calendar.public_holidays if d.startswith(prefix)}
    own = {date.fromisoformat(d.strip()) for d in charter.calendar.holidays if d.strip().startswith(prefix)}
    names = public_holidays.names_in_year(charter.calendar.holidays_from, year) if public else {}
    return [Holiday(day, (*(names.get(day, []) if day in public else []),
                          *(["the charter's own date"] if day in own else [])))
            for day in sorted(public | own)]

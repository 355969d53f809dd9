"""No conflict of interest (DESIGN §8): who may adjudicate a dispute, and who routing picks. Pure: no I/O.

A mediator or an executive is conflicted on a dispute when they are one of its parties, belong to the
partner organisation involved, or manage a party; the executive who decides an appeal is also not the
mediator who ruled. `conflicts` says which of these holds, in plain words ("dana@x manages a party,
sam@y"), for the routing note, the audit trail and the 409 of a `reassign`.

Routing tries the charter's list in order: for the mediator, the mediators listed for the region and then
the default mediator; for the executive, the sponsor and then the backup. A candidate who is away now is
replaced by their stand-in (`away`: the e-mail of someone away → their stand-in's), if the stand-in is
eligible. A dispute with no eligible mediator goes to an eligible executive (the sponsor first) as its
adjudicator; the executive who hears its appeal is then another one. The note says why, whenever anyone
on the list was passed over.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Person:
    """What the conflict rules need to know of someone (a stored user, or only an e-mail)."""

    email: str
    partner_org: str | None = None
    manager_email: str | None = None


@dataclass(frozen=True)
class Case:
    """What the conflict rules read of a dispute: its parties, the partner organisation involved and,
    for the executive who hears an appeal, the mediator who ruled."""

    parties: tuple[Person, ...]
    partner_org: str | None = None
    ruled_by: str | None = None

    @property
    def partner_orgs(self) -> set[str]:
        """The partner organisation involved: the dispute's, and the partner party's own."""
        orgs = {p.partner_org for p in self.parties if p.partner_org}
        return {_fold(o) for o in orgs | ({self.partner_org} if self.partner_org else set())}

    def with_ruler(self, ruled_by: str) -> Case:
        """The case as the executive who hears an appeal sees it: `ruled_by` adjudicated it first."""
        return replace(self, ruled_by=ruled_by)


def conflicts(person: Person, case: Case, *, adjudicating_appeal: bool = False) -> list[str]:
    """Why `person` may not adjudicate `case`, in plain words; empty when they may. With
    `adjudicating_appeal`, the mediator who ruled is conflicted too (the executive hears the appeal)."""
    me = _fold(person.email)
    why: list[str] = []
    if any(_fold(p.email) == me for p in case.parties):
        why.append(f"{person.email} is a party to the dispute")
    if person.partner_org and _fold(person.partner_org) in case.partner_orgs:
        why.append(f"{person.email} belongs to {person.partner_org}, the partner organisation involved")
    managed = [p.email for p in case.parties if p.manager_email and _fold(p.manager_email) == me]
    if managed:
        why.append(f"{person.email} manages a party, {', '.join(managed)}")
    if adjudicating_appeal and case.ruled_by and _fold(case.ruled_by) == me:
        why.append(f"{person.email} ruled on the dispute as its mediator, so cannot hear the appeal")
    return why


@dataclass(frozen=True)
class Pick:
    """Who routing chose (None: nobody on the list was eligible), and the notes on who was passed over."""

    email: str | None
    notes: tuple[str, ...] = ()


def pick(candidates: Sequence[str], case: Case, people: Mapping[str, Person], *,
         away: Mapping[str, str] | None = None, excluded: Sequence[str] = (),
         adjudicating_appeal: bool = False) -> Pick:
    """The first eligible candidate, in order. `people` holds what is known of each person by e-mail
    (someone not in it is judged on their e-mail alone); a candidate who is away is replaced by their
    stand-in when the stand-in is eligible; `excluded` are passed over without a word (already chosen)."""
    away = away or {}
    notes: list[str] = []
    skip = {_fold(e) for e in excluded}
    for email in candidates:
        if _fold(email) in skip:
            continue
        if (why := conflicts(_known(people, email), case, adjudicating_appeal=adjudicating_appeal)):
            notes.append(f"{email} was passed over: {'; '.join(_after(why, email))}")
            continue
        stand_in = away.get(email) or away.get(_fold(email))
        if stand_in is None:
            return Pick(email, tuple(notes))
        if not stand_in.strip() or _fold(stand_in) in skip or stand_in in away:
            notes.append(f"{email} is away, with no stand-in free to take it")
            continue
        if (why := conflicts(_known(people, stand_in), case, adjudicating_appeal=adjudicating_appeal)):
            notes.append(f"{email} is away and their stand-in {stand_in} is conflicted: "
                         f"{'; '.join(_after(why, stand_in))}")
            continue
        notes.append(f"{email} is away: their stand-in {stand_in} takes it")
        return Pick(stand_in, tuple(notes))
    return Pick(None, tuple(notes))


@dataclass(frozen=True)
class Assignment:
    """A dispute's adjudicators at filing, and the routing note when the charter's first choices were
    passed over (None when they were not)."""

    mediator: str
    executive: str
    backup_executive: str | None
    note: str | None = None


def assign(mediators: Sequence[str], executives: Sequence[str], case: Case, people: Mapping[str, Person], *,
           away: Mapping[str, str] | None = None) -> Assignment:
    """The mediator (the first eligible of `mediators`: the region's list, then the default mediator) and
    the executives (of `executives`: the sponsor, then the backup). With no eligible mediator, the first
    eligible executive adjudicates as the mediator, and the appeal goes to the next eligible executive."""
    mediator = pick(mediators, case, people, away=away)
    notes = list(mediator.notes)
    if mediator.email is not None:
        first = pick(executives, case, people, away=away, excluded=[mediator.email], adjudicating_appeal=True)
        notes += first.notes
        chosen_mediator = mediator.email
    else:
        sponsor = pick(executives, case, people, away=away)
        notes += sponsor.notes
        chosen_mediator = sponsor.email or executives[0]
        notes.append(f"No eligible mediator for this dispute: the executive {chosen_mediator} adjudicates it")
        first = pick(executives, case.with_ruler(chosen_mediator), people, away=away, excluded=[chosen_mediator],
                     adjudicating_appeal=True)
    executive = first.email
    if executive is None:
        executive = executives[0]
        notes.append(f"No eligible executive for this dispute: it stays with the executive sponsor {executive}; "
                     "an admin should reassign it")
    backup = pick(executives, case.with_ruler(chosen_mediator), people, away=away,
                  excluded=[executive, chosen_mediator], adjudicating_appeal=True).email
    shown = list(dict.fromkeys(notes))  # (the executive lists are tried more than once: say each thing once)
    return Assignment(chosen_mediator, executive, backup, ". ".join(shown) + "." if shown else None)


def _known(people: Mapping[str, Person], email: str) -> Person:
    return people.get(email) or people.get(_fold(email)) or Person(email=email)


def _after(why: list[str], email: str) -> list[str]:
    """The reasons without the leading e-mail, for a note that names the person once."""
    return [w.removeprefix(f"{email} ") for w in why]


def _fold(text: str) -> str:
    return text.strip().casefold()


"""The demo people every surface's tests act as, and what they decide with.

`Person` is one person for every surface: the web's region, the Slack user id (and whether Parley
stores it, or finds it through `users.info`) and the `Party` it files as. `PEOPLE` is the cast of
the API and web tests: two direct reps, two partner reps of one organisation and one of another,
two mediators, two executives, an auditor and an admin. A folder with a different cast (Slack ids,
say) builds its own dict of `Person` and seeds it with `seed_people(engine, people)`.
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from domain.model import Party, Role
from store.users import create_user


@dataclass(frozen=True)
class Person:
    email: str
    name: str
    role: Role
    channel: str | None = None
    partner_org: str | None = None
    region: str | None = None
    _: KW_ONLY
    slack_id: str | None = None
    linked: bool = True  # slack_id stored in Parley; otherwise found through users.info

    def party(self) -> Party:
        channel = "partner" if self.channel == "partner" else "direct"
        return Party(email=self.email, name=self.name, channel=channel, partner_org=self.partner_org)


ORG_A = "Resellers Inc"
ORG_B = "Other Partners Ltd"
PEOPLE: dict[str, Person] = {
    "dana": Person("dana@corp.example", "Dana Direct", Role.rep, "direct", region="EMEA"),
    "drew": Person("drew@corp.example", "Drew Direct", Role.rep, "direct", region="AMER"),
    "pat": Person("pat@resellers.example", "Pat Partner", Role.rep, "partner", ORG_A, "EMEA"),
    "pia": Person("pia@resellers.example", "Pia Partner", Role.rep, "partner", ORG_A),  # pat's colleague
    "quinn": Person("quinn@other-partners.example", "Quinn Other", Role.rep, "partner", ORG_B),
    "mediator": Person("mediator@example.com", "Mia Mediator", Role.mediator),
    "mediator2": Person("mediator2@example.com", "Max Mediator", Role.mediator),
    "exec": Person("exec@example.com", "Eve Executive", Role.executive),
    "backup": Person("exec.backup@example.com", "Bob Backup", Role.executive),
    "auditor": Person("audrey@corp.example", "Audrey Auditor", Role.auditor),
    "admin": Person("root@corp.example", "Ada Admin", Role.admin),
}

OUTCOME: dict[str, Any] = {"owner": "co_sell", "credit_split": {"direct": 60, "partner": 40}}
CRITERIA: dict[str, dict[str, float]] = {  # recommends the partner
    "win_probability": {"direct": 0.4, "partner": 0.7},
    "lifetime_value": {"direct": 120000, "partner": 90000},
    "strategic_fit": {"direct": 3, "partner": 4},
}
RATIONALE = "The partner registered first and carries the stronger relationship."


def seed_people(engine: Engine, people: dict[str, Person] | None = None) -> tuple[dict[str, str], dict[str, int]]:
    """Create `people` (default `PEOPLE`) as users; their API tokens and user ids, by key."""
    tokens: dict[str, str] = {}
    ids: dict[str, int] = {}
    with Session(engine) as session:
        for key, p in (PEOPLE if people is None else people).items():
            user, token = create_user(session, email=p.email, name=p.name, role=p.role, channel=p.channel,
                                      partner_org=p.partner_org, region=p.region,
                                      slack_user_id=p.slack_id if p.linked else None)
            assert user.id is not None
            tokens[key], ids[key] = token.secret, user.id
        session.commit()
    return tokens, ids


def seed_store(url: str) -> dict[str, str]:
    """The store at `url` migrated, with `PEOPLE` as users (for a process of its own to serve); their tokens."""
    from store.db import make_engine, migrate

    migrate(url)
    engine = make_engine(url)
    try:
        return seed_people(engine)[0]
    finally:
        engine.dispose()

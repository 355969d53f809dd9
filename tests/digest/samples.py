"""What the digest tests share: the moment they are pinned to, the people, and a store filled with disputes,
breaches, overlapping registrations and decisions as of that moment."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session

from domain.charter import Charter, parse_charter
from domain.model import (
    CreditSplit,
    Decision,
    DisputeView,
    Event,
    Outcome,
    Party,
    Recommendation,
    Sla,
    Status,
)
from store import audit, charters, projection
from store.db import session
from store.overlaps import Found, record
from store.registrations import insert
from store.tables import RegistrationRow, User
from tests.harness.paths import DEFAULT_CHARTER
from tests.reference_times import REFERENCE_TIMES
from tests.store.samples import view

AT = REFERENCE_TIMES["monday-00:30"]  # a digest's moment: the first minutes of a week, New York
DANA = Party(email="dana@corp.example", name="Dana Direct", channel="direct")
PAT = Party(email="pat@resellers.example", name="Pat Partner", channel="partner", partner_org="Resellers Inc")
MIA, MAX = "mia@example.com", "max@example.com"  # mediators
EVE, BOB = "eve@example.com", "bob@example.com"  # the executive and the backup
ADA = "ada@example.com"  # admin
USERS = [
    User(email=DANA.email, name="Dana Direct", role="rep", channel="direct"),
    User(email=PAT.email, name="Pat Partner", role="rep", channel="partner", partner_org="Resellers Inc",
         notify="email"),
    User(email=MIA, name="Mia Mediator", role="mediator", slack_user_id="U0MIA"),
    User(email=MAX, name="Max Mediator", role="mediator", notify="both", slack_user_id="U0MAX"),
    User(email=EVE, name="Eve Executive", role="executive", notify="email"),
    User(email=BOB, name="Bob Backup", role="executive"),
    User(email=ADA, name="Ada Admin", role="admin", notify="email"),
    User(email="audrey@example.com", name="Audrey Auditor", role="auditor"),
]
CHARTER_TEXT = DEFAULT_CHARTER.read_text() \
    .replace('default_mediator = "mediator@example.com"', f'default_mediator = "{MIA}"') \
    .replace('{ region = "EMEA", mediator = "mediator@example.com" }', f'{{ region = "EMEA", mediator = "{MIA}" }}') \
    .replace('{ region = "AMER", mediator = "mediator@example.com" }', f'{{ region = "AMER", mediator = "{MAX}" }}') \
    .replace('executive = "exec@example.com"', f'executive = "{EVE}"') \
    .replace('backup_executive = "exec.backup@example.com"', f'backup_executive = "{BOB}"')
CHARTER: Charter = parse_charter(CHARTER_TEXT)  # the default charter (New York business days), routed to them


def dispute(dispute_id: str, *, status: Status = Status.mediation, tier: int = 2, due: timedelta | None = None,
            paused: bool = False, mediator: str = MIA, created: timedelta = timedelta(days=3),
            decision: Decision | None = None, waiting_on: tuple[str, ...] = ()) -> DisputeView:
    due_at = AT + due if due is not None else None
    return view(dispute_id, 3, title=f"Deal {dispute_id}", status=status, tier=tier, parties=[DANA, PAT],
                filed_by=DANA.email, mediator=mediator, executive=EVE, backup_executive=BOB,
                reached_executive=tier == 3, decision=decision, waiting_on=list(waiting_on),
                sla=Sla(due_at=None if paused else due_at, remaining_s=None, paused=paused, breached=False),
                created_at=AT - created, updated_at=AT - timedelta(hours=1),
                closed_at=AT - timedelta(days=1) if status in (Status.resolved, Status.withdrawn) else None)


def decision(owner: str, recommended: str, *, until: date | None = None, follows: bool | None = None) -> Decision:
    split = {"direct": CreditSplit(direct=70, partner=30), "partner": CreditSplit(direct=30, partner=70),
             "co_sell": CreditSplit(direct=50, partner=50)}
    return Decision(kind="ruling", outcome=Outcome(owner=owner, credit_split=split[owner],
                                                   price_protection_until=until),
                    recommendation=Recommendation(owner=recommended, credit_split=split[recommended],
                                                  scores={"direct": 0.4, "partner": 0.6}),
                    follows_recommendation=owner == recommended if follows is None else follows,
                    rationale="The partner registered first and ran the evaluation.", actor=MIA,
                    at=AT - timedelta(days=1), tier=2, charter_version="fast@1:abc123", final=True)


def fill(engine: Engine) -> None:
    """People, disputes (open, breached, resolved with and without price protection), registrations."""
    views = [
        dispute("PRL-LATE", due=-timedelta(hours=5), waiting_on=(MIA,)),  # past its deadline
        dispute("PRL-SOON", due=timedelta(hours=2)),
        dispute("PRL-LATER", status=Status.frontline, tier=1, due=timedelta(days=2)),
        dispute("PRL-PAUSED", paused=True),
        dispute("PRL-OTHER", mediator=MAX, due=timedelta(hours=1)),
        dispute("PRL-EXEC", status=Status.executive, tier=3, due=timedelta(hours=8), waiting_on=(EVE,)),
        dispute("PRL-PP", status=Status.resolved, decision=decision("partner", "partner",
                                                                     until=AT.date() + timedelta(days=10))),
        dispute("PRL-PPFAR", status=Status.resolved, decision=decision("co_sell", "partner",
                                                                        until=AT.date() + timedelta(days=90))),
        dispute("PRL-COSELL", status=Status.resolved, decision=decision("co_sell", "direct",
                                                                         until=AT.date() + timedelta(days=27))),
    ]
    with session(engine, write=True) as s:
        s.add_all([User(**u.model_dump(exclude={"id"})) for u in USERS])
        charters.register(s, CHARTER, CHARTER_TEXT, by="test", reason="test")
        for v in views:
            projection.upsert_dispute(s, v)
            audit.append(s, _event(v.id, 1, "filed", v.created_at, tier=1))
        audit.append(s, _event("PRL-LATE", 2, "escalated", AT - timedelta(days=2), tier=2, actor="system:sla"))
        audit.append(s, _event("PRL-EXEC", 2, "escalated", AT - timedelta(days=10), tier=2, actor="system:sla"))
        audit.append(s, _event("PRL-EXEC", 3, "escalated", AT - timedelta(days=1), tier=3, actor="system:sla"))
        audit.append(s, _event("PRL-EXEC", 4, "sla_breached", AT - timedelta(hours=3), tier=3))
        _registrations(s)


def _event(dispute_id: str, seq: int, action: str, at: datetime, *, tier: int,
           actor: str = "dana@corp.example") -> Event:
    return Event(dispute_id=dispute_id, seq=seq, at=at, actor=actor, action=action, tier=tier, payload={},
                 charter_version="fast@1:abc123")


def _registrations(s: Session) -> None:
    rows = [
        _registration("REG-A", "Globex Corporation", "partner", "Resellers Inc", PAT.email, "EMEA"),
        _registration("REG-B", "Globex Corp", "direct", None, DANA.email, "EMEA"),
        _registration("REG-EXP", "Initech", "partner", "Resellers Inc", PAT.email, "AMER",
                      protected_until=AT + timedelta(days=5)),
    ]
    for row in rows:
        insert(s, row)
    record(s, rows[1], [_found(rows[0])], at=AT - timedelta(days=2))


def _registration(reg_id: str, account: str, channel: str, org: str | None, owner: str, region: str,
                  protected_until: datetime | None = None) -> RegistrationRow:
    return RegistrationRow(id=reg_id, channel=channel, partner_org=org, owner_email=owner, account=account,
                           title=f"{account} deal", deal_value=50000, currency="USD", region=region,
                           status="approved", submitted_at=AT - timedelta(days=20), approved_at=AT - timedelta(days=19),
                           protected_until=protected_until, charter_version="fast@1:abc123")


def _found(row: RegistrationRow) -> Found:
    return Found(row.id, row.account, row.channel, row.partner_org, row.owner_email, row.status, 92, "name")

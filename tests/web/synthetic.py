"""Disputes written straight into a store, for page tests that need no workflow and for the page bench.

Each dispute runs through the real pure lifecycle (`domain.lifecycle.Dispute`) at simulated times,
SLA timers included, and every event is written exactly as the `record_event` activity writes it:
the audit chain, the projection row (with whom the dispute waits on) and the notification rows
(parked in the outbox, as without Slack). So the pages read what they would read in production,
hash chains included.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import Engine, insert

from domain.charter import Charter
from domain.errors import ParleyError
from domain.lifecycle import Dispute
from domain.model import Action, Actor, Command, DisputeStart, Filing, Party, Role
from domain.model.inputs import PrecedentRef
from domain.notices import notices_for
from store import audit, charters, projection
from store.db import session
from store.tables import AUDIT_EVENTS, DISPUTE_WAITING, DISPUTES, NOTIFICATIONS

ACTION: TypeAdapter[Any] = TypeAdapter(Action)
OUTCOME: dict[str, Any] = {"owner": "co_sell", "credit_split": {"direct": 60, "partner": 40}}
CRITERIA: dict[str, dict[str, float]] = {"win_probability": {"direct": 0.4, "partner": 0.7},
            "lifetime_value": {"direct": 120000, "partner": 90000},
            "strategic_fit": {"direct": 3, "partner": 4}}
RATIONALE = "The partner registered first and carries the stronger relationship."


@dataclass
class Sim:
    """One dispute being simulated: the pure lifecycle and the clock of the simulation."""

    dispute: Dispute
    now: datetime
    limit: datetime | None = None  # lenient mode: never act after this, skip what the rules refuse

    def act(self, actor: Actor, action: str, after: timedelta = timedelta(minutes=5),
            precedents: list[PrecedentRef] | None = None, **fields: Any) -> bool:
        if self.limit is not None and self.now + after > self.limit:
            return False
        self.advance(after)
        cmd = Command(actor=actor, act=ACTION.validate_python({"action": action, **fields}), precedents=precedents)
        try:
            self.dispute.apply(cmd, self.now)
        except ParleyError:
            if self.limit is None:
                raise
            return False
        return True

    def advance(self, span: timedelta) -> None:
        """Let time pass, firing the SLA milestones due meanwhile."""
        until = self.now + span
        while (at := self.dispute.next_timer()) is not None and at <= until:
            self.now = max(self.now, at)
            self.dispute.on_timer(self.now)
        self.now = until


def start(dispute_id: str, charter: Charter, filer: Party, counterparty: Party, **filing: Any) -> DisputeStart:
    values: dict[str, Any] = {
        "title": "Acme renewal claimed twice", "conflict_type": "account_ownership", "account": "Acme GmbH",
        "deal_value": 250_000, "currency": "EUR", "region": "EMEA",
        "description": "Both teams are working the Acme renewal.", "counterparty_email": counterparty.email,
    }
    values.update(filing)
    f = Filing.model_validate(values)
    partner = filer if filer.channel == "partner" else counterparty
    f = f.model_copy(update={"partner_org": partner.partner_org})
    return DisputeStart(
        id=dispute_id, filing=f, filer=filer, counterparty=counterparty,
        mediator=charter.routing.mediator_for(f.region, f.segment), executive=charter.routing.executive,
        backup_executive=charter.routing.backup_executive, charter=charter,
    )


def begin(dispute_start: DisputeStart, at: datetime) -> Sim:
    return Sim(Dispute(dispute_start, at), at)


def write(engine: Engine, sims: list[Sim], charter: Charter, charter_text: str) -> None:
    """Record the events of new disputes as the record activity would: the hash chain (computed with
    `store.audit`'s own functions), the projection rows and whom each waits on
    (`store.projection.row_values`, `waiting_rows`) and the notification rows, in bulk inserts."""
    with session(engine, write=True) as s:
        charters.register(s, charter, charter_text, by="tests", reason="synthetic disputes")
    events: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    waiting: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    for sim in sims:
        view = sim.dispute.view(sim.now)
        rows.append(projection.row_values(view))
        waiting += projection.waiting_rows(view)
        prev = audit.GENESIS
        for event in sim.dispute.events:
            fields = audit.event_fields(event)
            digest = audit.chain_hash(prev, audit.canonical(fields))
            events.append({**fields, "at": event.at, "payload": audit.canonical(fields["payload"]),
                           "prev_hash": prev, "hash": digest})
            prev = digest
            for notice in notices_for(event, view, charter.notifications.dm_on):  # the latest view: close enough
                notes.append({"dispute_id": event.dispute_id, "seq": event.seq, "recipient": notice.recipient,
                              "kind": notice.kind, "text": notice.text, "created_at": event.at,
                              "status": "outbox", "attempts": 0, "slack_channel": None})
    with session(engine, write=True) as s:
        s.execute(insert(AUDIT_EVENTS), events)
        s.execute(insert(DISPUTES), rows)
        if waiting:
            s.execute(insert(DISPUTE_WAITING), waiting)
        if notes:
            s.execute(insert(NOTIFICATIONS), notes)


# --- a realistic mix, for the bench --------------------------------------------------------------

REGIONS = ("EMEA", "AMER", "APAC", "LATAM")
TYPES = ("account_ownership", "registration_overlap", "discount_undercut", "credit_attribution", "other")


def people(direct: int = 30, partners_per_org: int = 6, orgs: int = 8) -> tuple[list[Party], list[Party]]:
    d = [Party(email=f"direct{i}@corp.example", name=f"Direct Rep {i}", channel="direct") for i in range(direct)]
    p = [Party(email=f"partner{o}.{i}@org{o}.example", name=f"Partner {o}.{i}", channel="partner",
               partner_org=f"Partner Org {o}") for o in range(orgs) for i in range(partners_per_org)]
    return d, p


def mix(count: int, charter: Charter, now: datetime, seed: int = 7) -> Iterator[Sim]:
    """`count` disputes filed over the last 400 days: the older ones mostly closed (agreed, withdrawn,
    ruled, appealed and decided), the recent ones in every open state, SLA breaches included."""
    rnd = random.Random(seed)
    directs, partners = people()
    mediator = Actor(email=charter.routing.default_mediator, role=Role.mediator)
    executive = Actor(email=charter.routing.executive, role=Role.executive)
    wide = {"owner": "direct", "credit_split": {"direct": 80, "partner": 20}}  # needs the mediator's approval
    for n in range(count):
        d, p = rnd.choice(directs), rnd.choice(partners)
        filer, other = (d, p) if rnd.random() < 0.6 else (p, d)
        filing: dict[str, Any] = {
            "title": f"Conflict {n} over account {n % 977}", "conflict_type": rnd.choice(TYPES),
            "account": f"Account {n % 977}", "region": rnd.choice(REGIONS), "currency": rnd.choice(("USD", "EUR")),
            "deal_value": float(rnd.choice((40_000, 120_000, 250_000, 400_000, 900_000))),
            "opportunity_ref": f"OPP-{n}", "registration_ref": f"REG-{n}",
        }
        age = timedelta(days=rnd.uniform(0, 400) if rnd.random() < 0.85 else rnd.uniform(0, 14))
        sim = begin(start(f"PRL-S{n:07d}", charter, filer, other, **filing), now - age)
        sim.limit = now
        by, to = Actor(email=filer.email, role=Role.rep), Actor(email=other.email, role=Role.rep)
        quick = timedelta(hours=rnd.uniform(0.5, 6))
        path = rnd.choice(("agree", "agree", "withdraw", "rule", "rule", "appeal", "pause", "approval",
                           "stuck", "open"))
        if path == "agree":
            sim.act(by, "propose", quick, outcome=OUTCOME, note="Split it")
            sim.act(to, "accept", quick)
        elif path == "withdraw":
            sim.act(by, "withdraw", quick, reason="Sorted out between us")
        elif path == "approval":
            sim.act(by, "propose", quick, outcome=wide)
            sim.act(to, "accept", quick)
            if rnd.random() < 0.7:
                sim.act(mediator, "approve", quick)
        elif path in ("rule", "appeal", "pause"):
            sim.act(to, "escalate", quick, reason="We cannot agree")
            if path == "pause":
                sim.act(mediator, "request_info", quick, question="Who registered first?")
                sim.act(by, "comment", quick, text="We registered on the 3rd.")
                if rnd.random() < 0.6:
                    sim.act(mediator, "resume", quick)
            if sim.act(mediator, "rule", quick, outcome=OUTCOME, criteria=CRITERIA, rationale=RATIONALE) \
                    and path == "appeal":
                sim.act(to, "appeal", timedelta(minutes=30), reason="The ruling ignores our registration")
                if rnd.random() < 0.7:
                    sim.act(executive, "decide", quick, outcome=OUTCOME, criteria=CRITERIA, rationale=RATIONALE)
        elif path == "stuck":  # left alone: the SLA timers escalate it
            pass
        sim.advance(max(timedelta(0), min(now - sim.now, timedelta(days=30))))
        if sim.dispute.status.value == "executive" and age > timedelta(days=45) and rnd.random() < 0.85:
            sim.act(executive, "decide", quick, outcome=OUTCOME, criteria=CRITERIA, rationale=RATIONALE)
        yield sim

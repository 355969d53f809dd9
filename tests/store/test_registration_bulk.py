"""The import's bulk writes (store/registration_bulk.py) against the one-at-a-time ones they stand in
for, on SQLite and PostgreSQL: the same rows and keys as `registrations.insert`, the same overlaps as
`overlaps.find`, the same first audit link as `audit.append`."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select

from bench.company_names import company_name, domain_of, typo
from domain.matching import normalise_name
from domain.model import Event
from store import audit, overlaps, registration_bulk
from store import registrations as regs
from store.db import session
from store.tables import AUDIT_EVENTS, REGISTRATION_KEYS, RegistrationRow

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
ORGS = ("Northwind", "Contoso", "Fabrikam")


def values(n: int, account: str, rng: random.Random, prefix: str = "REG-A") -> dict[str, Any]:
    partner = rng.random() < 0.6
    at = T0 + timedelta(minutes=n)
    return {
        "id": f"{prefix}{n:04d}", "external_ref": None, "channel": "partner" if partner else "direct",
        "partner_org": rng.choice(ORGS) if partner else None, "owner_email": f"rep{n % 7}@example.com",
        "account": account, "account_norm": normalise_name(account), "account_domain": domain_of(account, rng),
        "title": f"{account} renewal", "deal_value": 1000.0 + n, "currency": "EUR", "region": "EMEA", "segment": None,
        "expected_close": None, "products": "[]", "status": rng.choice(("pending", "approved", "approved", "closed")),
        "submitted_at": at, "approved_at": None, "protected_until": None, "decided_by": None, "reason": None,
        "won": None, "charter_version": "test", "last_seq": 1, "created_at": at, "updated_at": at,
    }


def event(row: dict[str, Any]) -> Event:
    return Event(dispute_id=row["id"], seq=1, at=row["created_at"], actor="root@corp.example", action="imported",
                 tier=0, payload={"account": row["account"], "deal_value": row["deal_value"], "line": 2,
                                  "products": ["Platform", "Süpport"], "segment": None,
                                  "title": 'Acme "big" \\ deal\n\u2028', "zz": {"b": 1, "a": [0.5, True]}},
                 charter_version="test")


def test_bulk_rows_keys_and_overlaps_are_what_one_at_a_time_gives(engine: Engine) -> None:
    rng = random.Random(7)
    names = [company_name(rng) for _ in range(120)]
    names += [typo(rng.choice(names), rng) for _ in range(60)] + [rng.choice(names).upper() for _ in range(30)]
    existing = [values(n, name, rng, "REG-E") for n, name in enumerate(names[:100])]
    batch = [values(n, name, rng) for n, name in enumerate(names[100:])]
    with session(engine, write=True) as s:
        for row in existing:
            regs.insert(s, RegistrationRow(**row))
    with session(engine, write=True) as s:
        registration_bulk.insert_new(s, batch, [event(row) for row in batch])
        bulk = registration_bulk.find_many(s, batch, 85)
    with session(engine) as s:
        one_by_one = {row["id"]: found for row in batch if row["status"] != "closed"  # only live ones overlap
                      and (found := overlaps.find(s, regs.require(s, row["id"]), 85))}
        k = REGISTRATION_KEYS.c
        for row in batch:
            stored = set(s.execute(select(k.key).where(k.registration_id == row["id"])).scalars())
            assert stored == (set(registration_bulk.keys_of(row["account_norm"])) if row["status"] != "closed"
                              else set())
    assert bulk == one_by_one
    assert sum(len(found) for found in bulk.values()) > 20  # the names were made to overlap


def test_a_bulk_first_link_is_the_link_append_writes(engine: Engine) -> None:
    rng = random.Random(3)
    row = values(1, "Zentrix Labs GmbH", rng)
    with session(engine, write=True) as s:
        registration_bulk.insert_new(s, [row], [event(row)])
        bulk = s.execute(select(AUDIT_EVENTS.c.payload, AUDIT_EVENTS.c.hash)).one()
    with session(engine, write=True) as s:
        s.execute(AUDIT_EVENTS.delete())
        assert audit.append(s, event(row))
        appended = s.execute(select(AUDIT_EVENTS.c.payload, AUDIT_EVENTS.c.hash)).one()
    assert tuple(bulk) == tuple(appended)
    with session(engine) as s:
        assert audit.verify(s).ok

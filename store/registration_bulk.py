"""Many new registrations at once (a CRM import): the rows, their name keys, their first audit event and
their overlaps, each with a statement per batch instead of round trips per row.

The same rows, keys and events as `store.registrations.insert` and `store.audit.append` write one at a
time: the keys come from `domain.matching`, and the event is link 1 of the registration's chain (its
`prev_hash` the genesis hash), hashed by `store.audit`'s own functions. `find_many` finds what
`store.overlaps.find` finds for each row (tests/store/test_registration_bulk.py holds them to it),
reading the candidates of the whole batch in two queries.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import and_, insert, or_, select
from sqlmodel import Session, col

from domain.matching import match_keys, similarity
from domain.model import Event
from domain.registrations import LIVE, RegistrationIn
from store.audit import GENESIS, canonical, chain_hash, iso
from store.overlaps import Found
from store.tables import AUDIT_EVENTS, REGISTRATION_KEYS, REGISTRATIONS, RegistrationRow

R = REGISTRATIONS.c
K = REGISTRATION_KEYS.c
DESCRIPTIVE = ("account", "account_domain", "title", "deal_value", "currency", "region", "segment",
               "expected_close", "products")
IN_LIST = 900  # values per IN (...): well within every backend's limit on bound parameters


def make_room(session: Session) -> None:
    """On SQLite, a page cache of 64 MiB for this connection: a bulk insert into the name index and the
    audit trail touches pages all over both, and the default 2 MiB makes it read them again and again."""
    if session.get_bind().dialect.name == "sqlite":
        session.connection().exec_driver_sql("PRAGMA cache_size = -65536")


def insert_new(session: Session, rows: Sequence[dict[str, Any]], events: Sequence[Event]) -> None:
    """Insert registrations (their columns, `account_norm` included) that are not in the store yet,
    each with its first event (seq 1)."""
    if not rows:
        return
    keys = [{"key": key, "registration_id": row["id"]} for row in rows if row["status"] in LIVE
            for key in keys_of(row["account_norm"])]
    session.execute(insert(REGISTRATIONS), list(rows))
    if keys:
        session.execute(insert(REGISTRATION_KEYS), keys)
    session.execute(insert(AUDIT_EVENTS), [_first_link(event) for event in events])


@lru_cache(maxsize=1 << 16)
def keys_of(account_norm: str) -> tuple[str, ...]:
    """A name's index keys (an import looks them up twice: to index the row, to find its overlaps)."""
    return tuple(sorted(match_keys(account_norm)))


def _first_link(event: Event) -> dict[str, Any]:
    """The stored columns of link 1 of a chain: what `store.audit.append` writes for it. The payload (JSON
    already: a registration dumped in JSON mode) is serialised once, and the hashed text assembled around
    it in canonical order (tests/store/test_registration_bulk.py holds it to `append`'s)."""
    if event.seq != 1:
        raise ValueError(f"{event.dispute_id}: a bulk insert writes event 1 only (got {event.seq})")
    payload = canonical(event.payload)
    fields = {"action": event.action, "actor": event.actor, "at": iso(event.at),
              "charter_version": event.charter_version, "dispute_id": event.dispute_id}
    head = canonical(fields)[:-1]  # sorted keys: those before "payload"
    hashed = f'{head},"payload":{payload},"seq":1,"tier":{int(event.tier)}}}'
    return {**fields, "seq": 1, "tier": event.tier, "at": event.at, "payload": payload, "prev_hash": GENESIS,
            "hash": chain_hash(GENESIS, hashed)}


def find_many(session: Session, rows: Sequence[dict[str, Any]], threshold: int) -> dict[str, list[Found]]:
    """The live registrations overlapping each of `rows` (stored already), by row id, as `overlaps.find`
    would return them one by one. Who conflicts with a row depends on its channel and partner
    organisation only, so the candidates are read per (channel, organisation) of the batch, filtered
    as `overlaps.OTHER_PARTY` filters them (whether they are live is checked on the rows read, as there)."""
    groups: dict[tuple[str, str | None], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if row["status"] in LIVE:
            groups[(row["channel"], row["partner_org"])].append(row)
    out: dict[str, list[Found]] = {}
    columns = (R.id, R.account, R.account_norm, R.channel, R.partner_org, R.owner_email, R.status)
    for (channel, org), members in groups.items():
        others = or_(R.channel != channel, and_(R.channel == "partner", R.partner_org.is_distinct_from(org)))
        row_keys = {row["id"]: keys_of(row["account_norm"]) for row in members}
        holders: dict[str, list[Any]] = defaultdict(list)
        for chunk in _chunks(sorted({k for keys in row_keys.values() for k in keys})):
            query = select(K.key, *columns).join(REGISTRATIONS, R.id == K.registration_id).where(K.key.in_(chunk),
                                                                                                 others)
            for found in session.execute(query).all():
                if found.status in LIVE:
                    holders[found.key].append(found)
        by_domain: dict[str, list[Any]] = defaultdict(list)
        for chunk in _chunks(sorted({row["account_domain"] for row in members if row["account_domain"]})):
            query = select(R.account_domain, *columns).where(R.account_domain.in_(chunk), R.status.in_(sorted(LIVE)),
                                                            others)
            for found in session.execute(query).all():
                by_domain[found.account_domain].append(found)
        for row in members:
            if found_here := _matches(row, row_keys[row["id"]], holders, by_domain, threshold):
                out[row["id"]] = found_here
    return out


def _matches(row: dict[str, Any], keys: tuple[str, ...], holders: dict[str, list[Any]],
             by_domain: dict[str, list[Any]], threshold: int) -> list[Found]:
    """`overlaps.find`'s scoring for one row, over candidates already read."""
    found: dict[str, Found] = {}
    for c in by_domain.get(row["account_domain"] or "", ()):
        if c.id != row["id"]:
            found[c.id] = Found(c.id, c.account, c.channel, c.partner_org, c.owner_email, c.status, 100, "domain")
    seen = {row["id"], *found}
    for key in keys:
        for c in holders.get(key, ()):
            if c.id not in seen:
                seen.add(c.id)
                if (score := similarity(row["account_norm"], c.account_norm)) >= threshold:
                    found[c.id] = Found(c.id, c.account, c.channel, c.partner_org, c.owner_email, c.status, score,
                                        "name")
    return sorted(found.values(), key=lambda f: (f.reason != "domain", -f.score, f.registration_id))


def _chunks(values: Sequence[str]) -> Iterator[list[str]]:
    for start in range(0, len(values), IN_LIST):
        yield list(values[start:start + IN_LIST])


def by_external_refs(session: Session, refs: Sequence[str]) -> dict[str, RegistrationRow]:
    out: dict[str, RegistrationRow] = {}
    for chunk in _chunks(refs):
        query = select(RegistrationRow).where(col(RegistrationRow.external_ref).in_(chunk))
        out.update((row.external_ref or "", row) for row in session.scalars(query))
    return out


def changes(row: RegistrationRow, body: RegistrationIn) -> dict[str, Any]:
    """The descriptive fields `body` changes, as JSON values (they travel to the workflow)."""
    wanted = body.model_dump(mode="json", include=set(DESCRIPTIVE))
    stored = {name: getattr(row, name) for name in DESCRIPTIVE}
    stored["products"] = json.loads(row.products or "[]")
    stored["expected_close"] = row.expected_close.isoformat() if row.expected_close else None
    return {name: value for name, value in wanted.items() if value != stored[name]}

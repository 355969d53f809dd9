"""Registrations in the store, on SQLite and PostgreSQL: rows and their name index, the overlap rules
(DESIGN §6), recording overlaps once, and who sees which registrations and overlaps."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import IntegrityError

from domain.matching import match_keys, normalise_name
from store import overlaps
from store import registrations as regs
from store.db import session
from store.tables import REGISTRATION_KEYS, RegistrationRow, User

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
THRESHOLD = 85

DIRECT_REP = User(email="dana.direct@example.com", name="Dana", role="rep", channel="direct")
OTHER_DIRECT = User(email="dev.direct@example.com", name="Dev", role="rep", channel="direct")
NORTHWIND_REP = User(email="pat@northwind.example", name="Pat", role="rep", channel="partner", partner_org="Northwind")
CONTOSO_REP = User(email="chris@contoso.example", name="Chris", role="rep", channel="partner", partner_org="Contoso")
MEDIATOR = User(email="mediator@example.com", name="Mo", role="mediator")
AUDITOR = User(email="audit@example.com", name="Au", role="auditor")


def row(id_: str, account: str, owner: User, *, status: str = "pending", domain: str | None = None,
        minutes: int = 0, ref: str | None = None) -> RegistrationRow:
    at = T0 + timedelta(minutes=minutes)
    return RegistrationRow(id=id_, external_ref=ref, channel=owner.channel or "direct", partner_org=owner.partner_org,
                           owner_email=owner.email, account=account, account_domain=domain, title=f"{account} renewal",
                           deal_value=50_000.0, currency="EUR", region="EMEA", status=status, submitted_at=at,
                           charter_version="fast-1+test", created_at=at, updated_at=at)


def add(engine: Engine, *rows: RegistrationRow) -> None:
    with session(engine) as s:
        for r in rows:
            regs.insert(s, r)


def found_ids(engine: Engine, registration_id: str, threshold: int = THRESHOLD) -> dict[str, tuple[int, str]]:
    with session(engine) as s:
        target = regs.require(s, registration_id)
        return {f.registration_id: (f.score, f.reason) for f in overlaps.find(s, target, threshold)}


def keys_of(engine: Engine, registration_id: str) -> set[str]:
    with session(engine) as s:
        k = REGISTRATION_KEYS.c
        return set(s.execute(select(k.key).where(k.registration_id == registration_id)).scalars())


# --- rows and keys ---------------------------------------------------------------------------------

def test_insert_keeps_the_row_its_normalised_name_and_keys(engine: Engine) -> None:
    add(engine, row("REG-00000001", "Globex Corporation", NORTHWIND_REP, ref="CRM-1", domain="globex.com"))
    with session(engine) as s:
        got = regs.get(s, "REG-00000001")
        assert got is not None and got.account_norm == "globex" and got.submitted_at == T0
        assert regs.by_external_ref(s, "CRM-1") == got
        assert regs.by_external_ref(s, "CRM-2") is None and regs.get(s, "REG-FFFFFFFF") is None
    assert keys_of(engine, "REG-00000001") == match_keys("globex")


def test_external_ref_is_unique_but_may_be_missing(engine: Engine) -> None:
    add(engine, row("REG-00000001", "Globex", NORTHWIND_REP, ref="CRM-1"),
        row("REG-00000002", "Initech", NORTHWIND_REP), row("REG-00000003", "Hooli", NORTHWIND_REP))
    with pytest.raises(IntegrityError), session(engine) as s:
        regs.insert(s, row("REG-00000004", "Umbrella", NORTHWIND_REP, ref="CRM-1"))


def test_a_new_account_rekeys_and_a_closed_registration_leaves_the_index(engine: Engine) -> None:
    add(engine, row("REG-00000001", "Globex", NORTHWIND_REP), row("REG-00000002", "Initech", DIRECT_REP))
    with session(engine) as s:
        updated = regs.update(s, "REG-00000001", account="Initech LLC", updated_at=T0 + timedelta(hours=1))
        assert updated.account_norm == "initech" and updated.updated_at == T0 + timedelta(hours=1)
    assert keys_of(engine, "REG-00000001") == match_keys("initech")
    assert found_ids(engine, "REG-00000002") == {"REG-00000001": (100, "name")}
    with session(engine) as s:
        regs.update(s, "REG-00000001", status="withdrawn", reason="lost interest")
    assert keys_of(engine, "REG-00000001") == set()
    assert found_ids(engine, "REG-00000002") == {}


def test_update_refuses_unknown_registrations_and_columns(engine: Engine) -> None:
    from domain.errors import NotFound

    add(engine, row("REG-00000001", "Globex", NORTHWIND_REP))
    with pytest.raises(NotFound), session(engine) as s:
        regs.update(s, "REG-FFFFFFFF", status="approved")
    with pytest.raises(ValueError, match="colour"), session(engine) as s:
        regs.update(s, "REG-00000001", colour="red")


# --- the overlap rules -----------------------------------------------------------------------------

def test_a_direct_and_a_partner_registration_of_one_account_overlap(engine: Engine) -> None:
    add(engine, row("REG-00000001", "Globex Corp", DIRECT_REP, status="approved"),
        row("REG-00000002", "GLOBEX Corporation", NORTHWIND_REP),
        row("REG-00000003", "Globex, Inc.", NORTHWIND_REP),
        row("REG-00000004", "Global Exchange Partners", CONTOSO_REP))
    assert found_ids(engine, "REG-00000001") == {"REG-00000002": (100, "name"), "REG-00000003": (100, "name")}


def test_one_partner_organisations_registrations_do_not_conflict_two_organisations_do(engine: Engine) -> None:
    add(engine, row("REG-00000001", "Globex", NORTHWIND_REP), row("REG-00000002", "Globex Ltd", NORTHWIND_REP),
        row("REG-00000003", "Globx GmbH", CONTOSO_REP))
    assert found_ids(engine, "REG-00000001") == {"REG-00000003": (91, "name")}
    assert found_ids(engine, "REG-00000003") == {"REG-00000001": (91, "name"), "REG-00000002": (91, "name")}


def test_two_direct_registrations_do_not_conflict(engine: Engine) -> None:
    add(engine, row("REG-00000001", "Globex", DIRECT_REP), row("REG-00000002", "Globex", OTHER_DIRECT))
    assert found_ids(engine, "REG-00000001") == {}


@pytest.mark.parametrize("status", ["rejected", "expired", "withdrawn", "closed"])
def test_only_live_registrations_overlap(engine: Engine, status: str) -> None:
    add(engine, row("REG-00000001", "Globex", DIRECT_REP, status="approved", domain="globex.com"),
        row("REG-00000002", "Globex", NORTHWIND_REP, status=status, domain="globex.com"))
    assert found_ids(engine, "REG-00000001") == {}
    assert keys_of(engine, "REG-00000002") == set()


def test_the_same_domain_overlaps_whatever_the_names(engine: Engine) -> None:
    add(engine, row("REG-00000001", "Globex", DIRECT_REP, domain="globex.com"),
        row("REG-00000002", "Hank Scorpio Enterprises", NORTHWIND_REP, domain="globex.com"),
        row("REG-00000003", "Globex Corp", CONTOSO_REP, domain="globex.com"),
        row("REG-00000004", "Globex Corp", CONTOSO_REP, domain="globex.co.uk"))
    assert found_ids(engine, "REG-00000001") == {"REG-00000002": (100, "domain"), "REG-00000003": (100, "domain"),
                                                 "REG-00000004": (100, "name")}


def test_the_threshold_decides_and_different_names_never_match(engine: Engine) -> None:
    add(engine, row("REG-00000001", "Globex", DIRECT_REP), row("REG-00000002", "Glbex Holdings", NORTHWIND_REP),
        row("REG-00000003", "Global Exchange Partners", CONTOSO_REP))
    assert found_ids(engine, "REG-00000001") == {"REG-00000002": (91, "name")}
    assert found_ids(engine, "REG-00000001", threshold=95) == {}
    with session(engine) as s:
        globex = regs.require(s, "REG-00000001")
        assert all(f.registration_id != "REG-00000003" for f in overlaps.find(s, globex, 0))  # no shared key


def test_a_registration_never_overlaps_itself(engine: Engine) -> None:
    add(engine, row("REG-00000001", "Globex", NORTHWIND_REP, domain="globex.com"))
    assert found_ids(engine, "REG-00000001", threshold=0) == {}


# --- recording and reading overlaps ----------------------------------------------------------------

def detect(engine: Engine, registration_id: str, at: datetime) -> list[str]:
    with session(engine) as s:
        target = regs.require(s, registration_id)
        new = overlaps.record(s, target, overlaps.find(s, target, THRESHOLD), at)
        return [f.registration_id for f in new]


def test_an_overlap_is_recorded_once_per_pair(engine: Engine) -> None:
    add(engine, row("REG-00000002", "Globex", DIRECT_REP), row("REG-00000001", "Globex Inc", NORTHWIND_REP))
    assert detect(engine, "REG-00000002", T0) == ["REG-00000001"]
    assert detect(engine, "REG-00000002", T0 + timedelta(minutes=1)) == []
    assert detect(engine, "REG-00000001", T0 + timedelta(minutes=2)) == []  # the same pair, seen from the other side
    with session(engine) as s:
        for side in ("REG-00000001", "REG-00000002"):
            [pair] = overlaps.for_registration(s, side)
            assert (pair.a.registration_id, pair.b.registration_id) == ("REG-00000001", "REG-00000002")
            assert (pair.score, pair.reason, pair.found_at, pair.disputed) == (100, "name", T0, False)
            assert pair.other(side).registration_id != side


def test_live_pairs_newest_first_with_their_disputes_and_per_person(engine: Engine) -> None:
    add(engine, row("REG-00000001", "Globex", DIRECT_REP), row("REG-00000002", "Globex", NORTHWIND_REP),
        row("REG-00000003", "Initech", OTHER_DIRECT), row("REG-00000004", "Initech", CONTOSO_REP),
        row("REG-00000005", "Hooli", OTHER_DIRECT), row("REG-00000006", "Hooli", CONTOSO_REP))
    detect(engine, "REG-00000002", T0)
    detect(engine, "REG-00000004", T0 + timedelta(hours=1))
    detect(engine, "REG-00000006", T0 + timedelta(hours=2))
    with session(engine) as s:
        regs.link_dispute(s, "PRL-0000000A", ["REG-00000001", "REG-00000002"])
        regs.link_dispute(s, "PRL-0000000A", ["REG-00000001"])  # again: no change
        regs.link_dispute(s, "PRL-0000000B", ["REG-00000003"])  # names one side only
        regs.update(s, "REG-00000005", status="closed", won=False)
    with session(engine) as s:
        everyone = overlaps.live_pairs(s, MEDIATOR)
        assert [(p.a.registration_id, p.b.registration_id, p.dispute_ids) for p in everyone] == [
            ("REG-00000003", "REG-00000004", ()), ("REG-00000001", "REG-00000002", ("PRL-0000000A",))]
        assert [p.disputed for p in everyone] == [False, True]
        assert [p.a.registration_id for p in overlaps.live_pairs(s, DIRECT_REP)] == ["REG-00000001"]
        assert [p.b.registration_id for p in overlaps.live_pairs(s, CONTOSO_REP)] == ["REG-00000004"]
        assert overlaps.live_pairs(s, AUDITOR) == everyone
        assert regs.disputes_about(s, "REG-00000001") == ["PRL-0000000A"]
        assert regs.disputes_linking(s, "REG-00000002", "REG-00000001") == ["PRL-0000000A"]
        assert regs.disputes_linking(s, "REG-00000003", "REG-00000004") == []


# --- who sees which registrations ------------------------------------------------------------------

def visible(engine: Engine, user: User, **filters: object) -> list[str]:
    with session(engine) as s:
        return [r.id for r in regs.listing(s, user, **filters)]  # type: ignore[arg-type]


def test_visibility_follows_the_channel(engine: Engine) -> None:
    add(engine, row("REG-00000001", "Globex", DIRECT_REP, minutes=1),
        row("REG-00000002", "Globex", NORTHWIND_REP, minutes=2),
        row("REG-00000003", "Initech", NORTHWIND_REP, minutes=3),
        row("REG-00000004", "Hooli", CONTOSO_REP, minutes=4),
        row("REG-00000005", "Umbrella", OTHER_DIRECT, minutes=5))
    detect(engine, "REG-00000001", T0)
    everything = ["REG-00000005", "REG-00000004", "REG-00000003", "REG-00000002", "REG-00000001"]
    assert visible(engine, MEDIATOR) == visible(engine, AUDITOR) == everything
    assert visible(engine, NORTHWIND_REP) == ["REG-00000003", "REG-00000002"]
    assert visible(engine, CONTOSO_REP) == ["REG-00000004"]
    # a direct rep: every direct registration, and the partner ones overlapping their own
    assert visible(engine, DIRECT_REP) == ["REG-00000005", "REG-00000002", "REG-00000001"]
    assert visible(engine, OTHER_DIRECT) == ["REG-00000005", "REG-00000001"]
    with session(engine) as s:
        assert regs.may_see(s, DIRECT_REP, "REG-00000002") and not regs.may_see(s, OTHER_DIRECT, "REG-00000002")


def test_listing_filters(engine: Engine) -> None:
    add(engine, row("REG-00000001", "Globex Corp", DIRECT_REP, minutes=1, status="approved"),
        row("REG-00000002", "Société Générale", NORTHWIND_REP, minutes=2),
        row("REG-00000003", "100% Pure_Foods", NORTHWIND_REP, minutes=3, status="withdrawn"))
    assert visible(engine, MEDIATOR, status="pending") == ["REG-00000002"]
    assert visible(engine, MEDIATOR, status=["pending", "approved"]) == ["REG-00000002", "REG-00000001"]
    assert visible(engine, MEDIATOR, account="GLOBEX") == ["REG-00000001"]
    assert visible(engine, MEDIATOR, account="societe gen") == ["REG-00000002"]
    assert visible(engine, MEDIATOR, account="%") == visible(engine, MEDIATOR, account="_") == ["REG-00000003"]
    assert visible(engine, MEDIATOR, account="  ") == visible(engine, MEDIATOR)
    assert visible(engine, MEDIATOR, channel="partner") == ["REG-00000003", "REG-00000002"]
    assert visible(engine, DIRECT_REP, mine=True) == ["REG-00000001"]
    assert visible(engine, MEDIATOR, limit=1, offset=1) == ["REG-00000002"]
    assert normalise_name("100% Pure_Foods") == "100 pure foods"


# --- two writers at once ---------------------------------------------------------------------------

def test_concurrent_registrations_of_one_account_see_each_other(engine: Engine) -> None:
    """A registration added while another transaction adds a matching one waits for it (PostgreSQL's
    advisory locks; SQLite has one writer at a time), so its overlap check finds it."""
    first = session(engine, write=True)
    s1 = first.__enter__()
    regs.insert(s1, row("REG-00000001", "Globex", NORTHWIND_REP))
    results: list[list[str]] = []

    def second() -> None:
        with session(engine, write=True) as s2:
            late = regs.insert(s2, row("REG-00000002", "Globex Corp", DIRECT_REP))
            results.append([f.registration_id for f in overlaps.find(s2, late, THRESHOLD)])

    worker = threading.Thread(target=second)
    worker.start()
    waiting_for_the_first(engine, worker)
    first.__exit__(None, None, None)  # commit
    worker.join(timeout=30)
    assert results == [["REG-00000001"]]


def waiting_for_the_first(engine: Engine, worker: threading.Thread) -> None:
    """Until the second writer waits for the first (on PostgreSQL its lock request shows in pg_locks;
    SQLite shows nothing of its busy wait, and lets one writer in at a time whatever the order)."""
    if engine.dialect.name != "postgresql":
        return
    deadline = time.monotonic() + 30
    with engine.connect() as conn:
        while not conn.execute(text("SELECT count(*) FROM pg_locks WHERE NOT granted")).scalar_one():
            assert worker.is_alive() and time.monotonic() < deadline, "the second writer never waited"
            conn.rollback()

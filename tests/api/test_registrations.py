"""Registrations over real HTTP (DESIGN §6): registering, deciding, extending, withdrawing, overlaps and
their early warnings, who sees what, the CRM import; on SQLite and PostgreSQL, with the real worker.

The module's stack runs the fast charter with `auto_file = true` (seconds-long approval SLA and a
12 s protection window on a 24x7 calendar), so that an overlap with a protected partner registration
files its dispute. Tests share the module's store: each uses account names of its own (`fresh`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import func, select
from temporalio.testing import WorkflowEnvironment

from store.tables import AUDIT_EVENTS, NOTIFICATIONS, REGISTRATIONS
from tests.api.conftest import Api, eventually, message_for, problems
from tests.harness.paths import FAST_CHARTER
from tests.harness.stack import Stack, make_settings, running_stack
from tests.harness.temporal import target_of, terminate

CSV = {"Content-Type": "text/csv"}
JSONL = {"Content-Type": "application/x-ndjson"}


def fresh(kind: str = "Corp") -> str:
    """An account name no other test uses ("Zyqbrx Corp"): a distinctive word of random letters."""
    word = "".join(chr(ord("a") + int(c, 16) % 26) for c in uuid.uuid4().hex[:8]).capitalize()
    return f"{word} {kind}"


def registration(account: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"account": account, "title": f"{account} data platform", "deal_value": 120_000,
                            "currency": "EUR", "region": "EMEA", "segment": "enterprise",
                            "expected_close": "2027-06-30", "products": ["Platform", "Support"]}
    body.update(overrides)
    return body


@dataclass
class Reg:
    """The module's stack, with helpers for registrations; their workflows end with the test."""

    api: Api
    ids: list[str] = field(default_factory=list)

    async def register(self, who: str, account: str, **overrides: Any) -> dict[str, Any]:
        response = await self.post(who, registration(account, **overrides))
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def post(self, who: str, body: dict[str, Any]) -> httpx.Response:
        response = await self.api.post("/api/registrations", who, body)
        if response.status_code == 201:
            self.ids.append(response.json()["id"])
        return response

    async def act(self, registration_id: str, who: str, action: str, **fields: Any) -> httpx.Response:
        return await self.api.post(f"/api/registrations/{registration_id}/actions", who, {"action": action, **fields})

    async def read(self, registration_id: str, who: str = "auditor") -> dict[str, Any]:
        response = await self.api.get(f"/api/registrations/{registration_id}", who)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def listed(self, who: str, **params: Any) -> set[str]:
        response = await self.api.get("/api/registrations", who, params=params)
        assert response.status_code == 200, response.text
        return {r["id"] for r in response.json()}

    async def upload(self, text: str | bytes, headers: dict[str, str] = CSV, who: str = "admin") -> httpx.Response:
        content = text if isinstance(text, bytes) else text.encode()
        response = await self.api.http.post("/api/registrations/import", content=content,
                                            headers={**self.api.auth(who), **headers})
        if response.status_code == 200:
            with self.api.engine.connect() as conn:
                self.ids += list(conn.execute(select(REGISTRATIONS.c.id)).scalars())
        return response

    def trail(self, registration_id: str) -> list[tuple[int, str, str]]:
        return self.api.events(registration_id)

    def told(self, registration_id: str) -> set[tuple[str, str]]:
        """(recipient, kind) of the outbox rows of the registration's events."""
        with self.api.engine.connect() as conn:
            rows = conn.execute(select(NOTIFICATIONS.c.recipient, NOTIFICATIONS.c.kind)
                                .where(NOTIFICATIONS.c.dispute_id == registration_id)).all()
        return {(r.recipient, r.kind) for r in rows}

    def count(self) -> tuple[int, int]:
        """(registrations, audit events) in the store."""
        with self.api.engine.connect() as conn:
            return (int(conn.execute(select(func.count()).select_from(REGISTRATIONS)).scalar_one()),
                    int(conn.execute(select(func.count()).select_from(AUDIT_EVENTS)).scalar_one()))


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(stack_db_url: str, tmp_path_factory: pytest.TempPathFactory,
                temporal_env: WorkflowEnvironment) -> AsyncIterator[Stack]:
    """The conftest's stack, on the fast charter with `auto_file = true`."""
    folder = tmp_path_factory.mktemp("charter")
    charter = folder / "fast-auto-file.toml"
    charter.write_text(FAST_CHARTER.read_text().replace("auto_file = false", "auto_file = true"))
    settings = make_settings(stack_db_url, tmp_path_factory.mktemp("api-data"), target_of(temporal_env),
                             charter=charter)
    async with running_stack(temporal_env.client, settings) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="session")
async def reg(api: Api) -> AsyncIterator[Reg]:
    each = Reg(api)
    try:
        yield each
    finally:
        await terminate(api.temporal, list(dict.fromkeys(each.ids)))


# --- registering ---------------------------------------------------------------------------------

async def test_a_partner_registration_awaits_the_routed_mediator(reg: Reg) -> None:
    body = await reg.register("pat", fresh(), account_domain="https://www.Example-Deals.com/x")
    assert (body["status"], body["channel"], body["partner_org"], body["owner"]) == (
        "pending", "partner", "Resellers Inc", reg.api.email("pat"))
    assert body["account_domain"] == "example-deals.com"
    assert body["protected_until"] is None and body["approved_at"] is None
    assert body["overlaps"] == [] and body["disputes"] == []
    assert reg.trail(body["id"])[0] == (1, reg.api.email("pat"), "submitted")
    assert reg.told(body["id"]) == {(reg.api.email("mediator"), "action_required")}


async def test_a_direct_opportunity_is_approved_with_no_window(reg: Reg) -> None:
    body = await reg.register("dana", fresh())
    assert (body["status"], body["channel"], body["partner_org"]) == ("approved", "direct", None)
    assert body["approved_at"] is not None and body["protected_until"] is None
    assert reg.told(body["id"]) == set()


async def test_an_admin_registers_on_behalf_of_a_rep(reg: Reg) -> None:
    body = await reg.register("admin", fresh(), owner_email=reg.api.email("quinn"))
    assert (body["owner"], body["partner_org"], body["status"]) == (reg.api.email("quinn"), "Other Partners Ltd",
                                                                   "pending")
    assert reg.trail(body["id"])[0][1] == reg.api.email("admin")
    assert message_for(await reg.post("admin", registration(fresh())), "owner_email").startswith("an admin registers")
    assert "not a rep" in message_for(await reg.post("admin", registration(fresh(), owner_email=reg.api.email(
        "mediator"))), "owner_email")
    assert (await reg.post("pat", registration(fresh(), owner_email=reg.api.email("pia")))).status_code == 403
    assert (await reg.post("mediator", registration(fresh()))).status_code == 403
    assert (await reg.post("auditor", registration(fresh()))).status_code == 403


@pytest.mark.parametrize("changes, field", [
    ({"currency": "XYZ"}, "currency"),
    ({"deal_value": -5}, "deal_value"),
    ({"deal_value": 0}, "deal_value"),
    ({"deal_value": 1e13}, "deal_value"),
    ({"deal_value": "100"}, "deal_value"),
    ({"account_domain": "not a domain"}, "account_domain"),
    ({"account_domain": "globex"}, "account_domain"),
    ({"account_domain": "sales@globex.com"}, "account_domain"),
    ({"account_domain": "10.0.0.1"}, "account_domain"),
    ({"account": "   "}, "account"),
    ({"expected_close": "next quarter"}, "expected_close"),
    ({"products": ["x" * 101]}, "products.0"),
    ({"colour": "red"}, "colour"),
], ids=lambda v: json.dumps(v)[:40] if isinstance(v, dict) else v)
async def test_bad_input_is_refused_naming_the_field_and_nothing_is_recorded(
        reg: Reg, changes: dict[str, Any], field: str) -> None:
    before = reg.count()
    response = await reg.post("pat", {**registration(fresh()), **changes})
    assert any(p["field"] == field for p in problems(response)), response.text
    assert reg.count() == before


async def test_an_external_ref_is_registered_once(reg: Reg) -> None:
    ref = f"CRM-{uuid.uuid4().hex[:8]}"
    first = await reg.register("dana", fresh(), external_ref=ref)
    again = await reg.post("dana", registration(fresh(), external_ref=ref))
    assert again.status_code == 409 and first["id"] in again.json()["detail"]


async def test_a_taken_external_ref_names_its_registration_only_to_whoever_may_see_it(reg: Reg) -> None:
    """DESIGN §6: a partner never learns which other partner organisation claims the same deal."""
    ref = f"IMP-{uuid.uuid4().hex[:8]}"
    first = await reg.register("pat", fresh(), external_ref=ref)
    other_org = await reg.post("quinn", registration(fresh(), external_ref=ref))
    assert other_org.status_code == 409
    detail = other_org.json()["detail"]
    assert first["id"] not in detail and "REG-" not in detail
    assert detail == f"external_ref {ref!r} is already used by a registration you cannot see"
    assert (await reg.api.get(f"/api/registrations/{first['id']}", "quinn")).status_code == 404  # as before
    for who, body in (("pia", registration(fresh(), external_ref=ref)),  # pat's colleague
                      ("admin", registration(fresh(), external_ref=ref, owner_email=reg.api.email("quinn")))):
        seen = await reg.post(who, body)
        assert seen.status_code == 409 and first["id"] in seen.json()["detail"], (who, seen.text)


# --- acting --------------------------------------------------------------------------------------

async def test_approval_by_a_mediator_not_routed_for_the_region_is_403(reg: Reg) -> None:
    body = await reg.register("pat", fresh())
    before = reg.trail(body["id"])
    refused = await reg.act(body["id"], "mediator2", "approve")
    assert refused.status_code == 403 and "routed for EMEA" in refused.json()["detail"]
    assert (await reg.act(body["id"], "pat", "approve")).status_code == 403
    assert reg.trail(body["id"]) == before
    approved = await reg.act(body["id"], "mediator", "approve", note="Registered first")
    assert approved.status_code == 200, approved.text
    view = approved.json()
    assert view["status"] == "approved" and view["decided_by"] == reg.api.email("mediator")
    approved_at, until = (datetime.fromisoformat(view[k]) for k in ("approved_at", "protected_until"))
    assert until - approved_at == timedelta(seconds=12)
    assert (await reg.act(body["id"], "mediator", "approve")).status_code == 409
    assert (await reg.act(body["id"], "mediator", "reject", reason="Too late")).status_code == 409


async def test_extend_moves_the_end_and_extending_an_expired_registration_is_409(reg: Reg) -> None:
    body = await reg.register("pat", fresh())
    view = (await reg.act(body["id"], "mediator", "approve")).json()
    end = datetime.fromisoformat(view["protected_until"])
    assert message_for(await reg.act(body["id"], "mediator", "extend", until=(end - timedelta(seconds=1)).isoformat()),
                       "until").startswith("must be later than")
    assert message_for(await reg.act(body["id"], "mediator", "extend", until="2027-06-30T17:00:00"), "until")
    extended = await reg.act(body["id"], "mediator", "extend", until=(end + timedelta(seconds=3)).isoformat())
    assert extended.status_code == 200, extended.text
    assert datetime.fromisoformat(extended.json()["protected_until"]) == end + timedelta(seconds=3)

    async def expired() -> dict[str, Any] | None:
        current = await reg.read(body["id"])
        return current if current["status"] == "expired" else None

    await eventually(expired, timeout=30, what=f"{body['id']} to expire")
    refused = await reg.act(body["id"], "mediator", "extend", until=(end + timedelta(days=9)).isoformat())
    assert refused.status_code == 409, refused.text
    assert [a for _, _, a in reg.trail(body["id"])][-1] == "expired"
    assert (reg.api.email("pat"), "reminder") in reg.told(body["id"])


async def test_the_owner_withdraws_or_closes_and_nobody_else(reg: Reg) -> None:
    pending = await reg.register("pat", fresh())
    assert (await reg.act(pending["id"], "pia", "withdraw", reason="Not ours")).status_code == 403
    assert (await reg.act(pending["id"], "dana", "withdraw", reason="Not ours")).status_code == 404
    withdrawn = await reg.act(pending["id"], "pat", "withdraw", reason="The customer postponed")
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"
    assert (await reg.act(pending["id"], "pat", "withdraw", reason="Again")).status_code == 409
    direct = await reg.register("dana", fresh())
    closed = await reg.act(direct["id"], "admin", "close", won=True)
    assert (closed.json()["status"], closed.json()["won"]) == ("closed", True)
    assert message_for(await reg.act(direct["id"], "dana", "close", won="yes"), "won")
    assert (await reg.act("REG-00000000", "dana", "close", won=True)).status_code == 404


# --- overlaps and the early warning ---------------------------------------------------------------

async def test_an_overlap_warns_both_owners_and_the_mediator(reg: Reg) -> None:
    word = fresh("").strip()
    partner = await reg.register("pat", f"{word} Corp")
    colleague = await reg.register("pia", f"{word}, Inc.")  # the same organisation: no conflict
    unrelated = await reg.register("dana", f"{word[:3]}bal Exchange Partners")
    direct = await reg.register("dana", f"{word.upper()} Corporation")
    assert sorted(o["registration_id"] for o in direct["overlaps"]) == sorted([partner["id"], colleague["id"]])
    assert {o["score"] for o in direct["overlaps"]} == {100} and unrelated["overlaps"] == []
    mediator = reg.api.email("mediator")
    assert reg.told(direct["id"]) == {(reg.api.email("dana"), "action_required"), (mediator, "action_required")}
    await eventually(lambda: _trail_has(reg, partner["id"], "overlap_found"), what="the partner's trail")
    assert (reg.api.email("pat"), "action_required") in reg.told(partner["id"])
    seen = await reg.read(partner["id"], "pat")
    assert [(o["registration_id"], o["channel"], o["partner_org"]) for o in seen["overlaps"]] == [
        (direct["id"], "direct", None)]

    other_org = await reg.register("quinn", f"{word} GmbH")  # two partner organisations: a conflict
    assert {o["registration_id"] for o in other_org["overlaps"]} == {partner["id"], colleague["id"], direct["id"]}
    shown = {o["registration_id"]: o["partner_org"] for o in (await reg.read(partner["id"], "pat"))["overlaps"]}
    assert shown[other_org["id"]] is None  # pat does not learn which other partner claims it

    queue = await reg.api.get("/api/overlaps", "mediator")
    pairs = {(p["a"]["registration_id"], p["b"]["registration_id"]) for p in queue.json()}
    assert tuple(sorted((partner["id"], direct["id"]))) in pairs
    for who, mine in (("pat", partner["id"]), ("dana", direct["id"])):
        theirs = (await reg.api.get("/api/overlaps", who)).json()
        assert theirs and all(mine in (p["a"]["registration_id"], p["b"]["registration_id"])
                              or reg.api.email(who) in (p["a"]["owner"], p["b"]["owner"]) for p in theirs)


async def test_auto_file_files_the_dispute_once_a_partner_registration_is_protected(reg: Reg) -> None:
    word = fresh("").strip()
    partner = await reg.register("pat", f"{word} Ltd")
    direct = await reg.register("dana", f"{word} Limited")
    assert direct["disputes"] == []  # the partner registration is not approved yet
    await reg.act(partner["id"], "mediator", "approve")
    linked = await reg.read(partner["id"])
    assert len(linked["disputes"]) == 1
    dispute_id = linked["disputes"][0]["id"]
    reg.api.filed.append(dispute_id)
    assert (await reg.read(direct["id"]))["disputes"] == linked["disputes"]
    dispute = await reg.api.dispute(dispute_id)
    assert (dispute["filed_by"], dispute["conflict_type"], dispute["registration_ref"]) == (
        reg.api.email("pat"), "registration_overlap", partner["id"])
    assert any(p["email"] == reg.api.email("dana") for p in dispute["parties"])
    for registration_id in (partner["id"], direct["id"]):
        assert ("system:overlap", "dispute_filed") in [(actor, a) for _, actor, a in reg.trail(registration_id)]
    overlap = (await reg.read(direct["id"]))["overlaps"][0]
    assert overlap["disputed"] is True


# --- who sees what --------------------------------------------------------------------------------

async def test_partners_see_their_organisation_and_direct_reps_what_overlaps_theirs(reg: Reg) -> None:
    word = fresh("").strip()
    pats = await reg.register("pat", f"{word} Systems AG")
    quinns = await reg.register("quinn", fresh())
    danas = await reg.register("dana", fresh())
    assert {pats["id"]} <= await reg.listed("pia") and quinns["id"] not in await reg.listed("pia")
    assert (await reg.api.get(f"/api/registrations/{quinns['id']}", "pat")).status_code == 404
    assert pats["id"] not in await reg.listed("drew") and danas["id"] in await reg.listed("drew")
    drews = await reg.register("drew", f"{word} Systems")
    assert pats["id"] in await reg.listed("drew") and pats["id"] not in await reg.listed("dana")
    assert {pats["id"], quinns["id"], danas["id"], drews["id"]} <= await reg.listed("auditor")
    assert await reg.listed("drew", mine="true") >= {drews["id"]}
    assert danas["id"] not in await reg.listed("drew", mine="true")
    assert pats["id"] in await reg.listed("mediator", status="pending", channel="partner", account=word)


# --- the import -----------------------------------------------------------------------------------

def export(accounts: list[str], owner: str, *, refs: list[str], bad_middle: bool = True, value: int = 50_000) -> str:
    lines = ["external_ref,account,account_domain,title,deal_value,currency,region,owner_email,status,products,"
             "crm_stage"]
    for i, (account, ref) in enumerate(zip(accounts, refs, strict=True)):
        lines.append(f'{ref},"{account}",,"{account} renewal",{value + i},USD,AMER,{owner},,Platform;Support,Won')
        if bad_middle and i == 0:
            lines.append(f"{ref}-bad,Bad Row Inc,,Bad row,-12,USD,AMER,{owner},,,Lost")
    return "\n".join(lines) + "\n"


async def test_an_import_keeps_the_good_rows_and_is_idempotent(reg: Reg) -> None:
    accounts = [fresh(), fresh(), fresh()]
    refs = [f"OPP-{uuid.uuid4().hex[:8]}" for _ in accounts]
    text = export(accounts, reg.api.email("dana"), refs=refs)
    first = await reg.upload(text)
    assert first.status_code == 200, first.text
    result = first.json()
    assert (result["created"], result["updated"], result["unchanged"]) == (3, 0, 0)
    assert {"line": 1, "field": "crm_stage", "message": "is not a column Parley imports; its values were ignored"} \
        in result["errors"]
    assert {"line": 3, "field": "deal_value", "message": "must be greater than 0"} in result["errors"]
    assert result["error_count"] == 2

    again = (await reg.upload(text)).json()
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 3)
    changed = (await reg.upload(export(accounts, reg.api.email("dana"), refs=refs, value=60_000))).json()
    assert (changed["created"], changed["updated"], changed["unchanged"]) == (0, 3, 0)

    listed = {r["ref"]: r for r in (await reg.api.get("/api/registrations", "dana", params={"mine": "true"})).json()}
    imported = listed[refs[1]]
    assert (imported["status"], imported["deal_value"], imported["products"]) == ("approved", 60_001, ["Platform",
                                                                                                      "Support"])
    assert [a for _, _, a in reg.trail(imported["id"])] == ["imported", "amended"]
    withdrawn = await reg.act(imported["id"], "dana", "withdraw", reason="Lost to a competitor")
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"


async def test_jsonl_imports_and_names_each_bad_row(reg: Reg) -> None:
    ok = {"external_ref": f"P-{uuid.uuid4().hex[:8]}", "account": fresh(), "title": "Renewal", "deal_value": 9000,
          "region": "EMEA", "owner_email": reg.api.email("pat"), "status": "approved",
          "submitted_at": (datetime.now(UTC) - timedelta(days=30)).isoformat()}
    rows = [ok, {**ok, "external_ref": "P-x1", "currency": "ABC"}, "not json", {**ok, "external_ref": "P-x2",
            "owner_email": "nobody@example.com"}, {**ok, "external_ref": "P-x3", "channel": "direct"},
            {**ok, "external_ref": "P-x4", "submitted_at": "2999-01-01"}, {**ok, "external_ref": "P-x5",
                                                                            "account_domain": "not a domain"}]
    text = "\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows)
    result = (await reg.upload(text, JSONL)).json()
    assert result["created"] == 1
    assert [(e["line"], e["field"]) for e in result["errors"]] == [
        (2, "currency"), (3, "row"), (4, "owner_email"), (5, "channel"), (6, "submitted_at"), (7, "account_domain")]
    imported = next(r for r in (await reg.api.get("/api/registrations", "auditor", params={"account": ok["account"]})
                                ).json())

    async def expired() -> bool:  # approved 30 days ago: its 12 s of protection are long over
        return (await reg.read(imported["id"]))["status"] == "expired"

    await eventually(expired, what="the imported registration to expire")
    assert (await reg.act(imported["id"], "mediator", "extend",
                          until=(datetime.now(UTC) + timedelta(days=1)).isoformat())).status_code == 409


async def test_only_an_admin_imports_csv_or_jsonl(reg: Reg) -> None:
    text = export([fresh()], reg.api.email("dana"), refs=[f"X-{uuid.uuid4().hex[:8]}"], bad_middle=False)
    assert (await reg.upload(text, who="dana")).status_code == 403
    assert (await reg.upload(text, who="auditor")).status_code == 403
    assert message_for(await reg.upload(text, {"Content-Type": "application/pdf"}), "Content-Type")
    # a file that cannot be read as one is refused as a whole, its problem naming its line
    assert message_for(await reg.upload("account,title\n"), "header").startswith("line 1: the header lacks")
    assert message_for(await reg.upload(""), "header").startswith("line 1: the file is empty")
    assert message_for(await reg.upload(b"\xff\n"), "row") == "line 1: is not UTF-8 text"  # no header to read
    assert (await reg.api.http.get("/api/registrations/import", headers=reg.api.auth("admin"))).status_code == 405


@pytest.mark.parametrize("good_before", [2, 1500], ids=["small", "past-the-first-chunk"])
async def test_a_line_that_is_not_utf8_is_its_own_error_and_every_other_row_is_imported(reg: Reg,
                                                                                       good_before: int) -> None:
    """A stray byte in a CRM export costs its row, not the rows after it (however the body was chunked)."""
    dana = reg.api.email("dana")
    batch = uuid.uuid4().hex[:8]
    rows = [f"U-{batch}-{i},Acct {batch} {i},Renewal {i},{1000 + i},AMER,{dana}".encode() for i in range(good_before)]
    rows.append(f"U-{batch}-bad,Bad\xffco {batch},Bad row,5,AMER,{dana}".encode().replace(b"\xc3\xbf", b"\xff"))
    rows.append(f"U-{batch}-last,Acct {batch} last,Renewal last,5,AMER,{dana}".encode())
    body = b"external_ref,account,title,deal_value,region,owner_email\n" + b"\n".join(rows) + b"\n"
    result = (await reg.upload(body)).json()
    bad_line = good_before + 2  # after the header and the good rows
    assert (result["created"], result["errors"]) == (good_before + 1, [
        {"line": bad_line, "field": "row", "message": "is not UTF-8 text"}]), result
    jsonl = b"\n".join([b'{"account": "\xff"}', json.dumps({
        "external_ref": f"U-{batch}-j", "account": f"Acct {batch} j", "title": "Renewal j", "deal_value": 5,
        "region": "AMER", "owner_email": dana}).encode()])
    result = (await reg.upload(jsonl, JSONL)).json()
    assert (result["created"], result["errors"]) == (1, [{"line": 1, "field": "row", "message": "is not UTF-8 text"}])


async def test_a_time_with_no_utc_equivalent_is_its_rows_error(reg: Reg) -> None:
    """Year 1 at +14:00 is before year 1 in UTC: the row is refused like any time out of range, not a 500."""
    dana = reg.api.email("dana")
    rows = [{"external_ref": f"T-{uuid.uuid4().hex[:8]}", "account": fresh(), "title": "Far past", "deal_value": 5,
             "region": "AMER", "owner_email": dana, "submitted_at": at}
            for at in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "2020-01-01T00:00:00Z")]
    response = await reg.upload("\n".join(json.dumps(r) for r in rows), JSONL)
    assert response.status_code == 200, response.text
    assert (response.json()["created"], response.json()["errors"]) == (1, [
        {"line": 1, "field": "submitted_at", "message": "must lie between 1990 and today"},
        {"line": 2, "field": "submitted_at", "message": "must lie between 1990 and today"}])


async def test_a_file_whose_every_row_is_bad_is_answered_like_any_other(reg: Reg) -> None:
    """DESIGN §6: 200 `{created, updated, errors}` whatever its rows hold; none imported is no reason for a 422."""
    before = reg.count()[0]
    dana = reg.api.email("dana")
    csv = ("external_ref,account,title,deal_value,region,owner_email\n"
           f"B-{uuid.uuid4().hex[:8]},{fresh()},ab,1000,AMER,{dana}\n"
           f"B-{uuid.uuid4().hex[:8]},{fresh()},A fine title,-5,AMER,{dana}\n"
           f"B-{uuid.uuid4().hex[:8]},{fresh()},A fine title,1000,AMER,nobody@example.com\n")
    answer = await reg.upload(csv)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"created": 0, "updated": 0, "unchanged": 0, "error_count": 3, "errors": [
        {"line": 2, "field": "title", "message": "must be at least 3 characters long"},
        {"line": 3, "field": "deal_value", "message": "must be greater than 0"},
        {"line": 4, "field": "owner_email", "message": "no Parley user nobody@example.com"}]}
    jsonl = "[]\nnot json\n" + json.dumps({"account": fresh(), "title": "Renewal", "deal_value": 9000,
                                             "region": "EMEA"}) + "\n"
    answer = await reg.upload(jsonl, JSONL)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["created"], answer.json()["updated"]) == (0, 0)
    assert [(e["line"], e["field"]) for e in answer.json()["errors"]] == [(1, "row"), (2, "row"), (3, "owner_email")]
    assert reg.count()[0] == before  # nothing written


async def test_the_audit_trail_verifies_with_the_registrations(reg: Reg) -> None:
    await reg.register("pat", fresh())
    verified = await reg.api.get("/api/audit/verify", "auditor")
    assert verified.status_code == 200 and verified.json()["ok"] is True, verified.text


async def _trail_has(reg: Reg, registration_id: str, action: str) -> bool:
    return action in [a for _, _, a in reg.trail(registration_id)]

"""Disputes that name the two registrations they are about (DESIGN §6 "Linking"), over real HTTP on
SQLite and PostgreSQL with the real worker: the links written with the filing, both claims side by
side in `GET /api/disputes/{id}`, the 422s naming `registration_ids`, one open dispute per pair (409
`existing`, also between two API processes and for auto_file), and `Idempotency-Key` retries.

The module's stack runs the fast charter with a 30-day protection window (no protection ends during
a test, whatever the clock says) and `auto_file = true`: a direct opportunity overlapping an
*approved* partner registration files its dispute by itself, through the same path. Tests that link
by hand file while the partner registration is still pending. Each test uses account names of its own.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import insert, select, update
from temporalio.testing import WorkflowEnvironment

from service.dispute_claims import STALE_AFTER
from store.dispute_links import pair_key
from store.tables import DISPUTE_REGISTRATIONS, ONCE_KEYS
from tests.api.conftest import Api, eventually, filing, message_for, problems
from tests.harness.paths import FAST_CHARTER
from tests.harness.stack import Stack, make_settings, running_stack, serve
from tests.harness.temporal import target_of, terminate

CLAIM_FIELDS = {"id", "ref", "channel", "partner_org", "owner", "account", "title", "deal_value", "currency",
                "status", "submitted_at", "approved_at", "protected_until", "first", "protected_when_filed",
                "protected_now"}


def fresh() -> str:
    """A distinctive account word no other test uses ("Zyqbrx")."""
    return "".join(chr(ord("a") + int(c, 16) % 26) for c in uuid.uuid4().hex[:9]).capitalize()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(stack_db_url: str, tmp_path_factory: pytest.TempPathFactory,
                temporal_env: WorkflowEnvironment) -> AsyncIterator[Stack]:
    """The conftest's stack on the fast charter with a 30-day protection window and `auto_file = true`."""
    charter = tmp_path_factory.mktemp("charter") / "fast-links.toml"
    charter.write_text(FAST_CHARTER.read_text().replace('protection = "12s"', 'protection = "30d"')
                       .replace("auto_file = false", "auto_file = true"))
    settings = make_settings(stack_db_url, tmp_path_factory.mktemp("api-data"), target_of(temporal_env),
                             charter=charter)
    async with running_stack(temporal_env.client, settings) as running:
        yield running


@dataclass
class Links:
    api: Api
    registrations: list[str] = field(default_factory=list)

    async def register(self, who: str, account: str, **overrides: Any) -> str:
        body = {"account": account, "title": f"{account} platform", "deal_value": 120_000, "currency": "EUR",
                "region": "EMEA", "segment": "enterprise", **overrides}
        response = await self.api.post("/api/registrations", who, body)
        assert response.status_code == 201, response.text
        self.registrations.append(response.json()["id"])
        return str(response.json()["id"])

    async def pair(self) -> tuple[str, str, str]:
        """pat's partner registration (pending) and dana's direct opportunity overlapping it, pat's first."""
        word = fresh()
        pats = await self.register("pat", f"{word} GmbH")
        danas = await self.register("dana", f"{word} Gmbh.")
        return pats, danas, word

    async def file(self, who: str = "dana", ids: list[str] | None = None, *, http: httpx.AsyncClient | None = None,
                   key: str | None = None, **overrides: Any) -> httpx.Response:
        body = filing(**overrides) | ({"registration_ids": ids} if ids is not None else {})
        headers = self.api.auth(who) | ({"Idempotency-Key": key} if key else {})
        response = await (http or self.api.http).post("/api/disputes", json=body, headers=headers)
        if response.status_code == 201:
            self.api.filed.append(response.json()["id"])
        return response

    def linked(self, dispute_id: str) -> set[str]:
        with self.api.engine.connect() as conn:
            return set(conn.execute(select(DISPUTE_REGISTRATIONS.c.registration_id)
                                    .where(DISPUTE_REGISTRATIONS.c.dispute_id == dispute_id)).scalars())


@pytest_asyncio.fixture(loop_scope="session")
async def links(api: Api) -> AsyncIterator[Links]:
    each = Links(api)
    try:
        yield each
    finally:
        await terminate(api.temporal, list(dict.fromkeys(each.registrations)))


def existing(response: httpx.Response) -> str:
    assert response.status_code == 409, response.text
    body = response.json()
    assert set(body) == {"detail", "existing"} and isinstance(body["detail"], str), body
    return str(body["existing"])


# --- linking and reading -------------------------------------------------------------------------------

async def test_filing_links_both_and_shows_the_claims_side_by_side(links: Links) -> None:
    pats, danas, word = await links.pair()
    response = await links.file("dana", [danas, pats], account=f"{word} GmbH", conflict_type="registration_overlap")
    assert response.status_code == 201, response.text
    dispute = response.json()
    assert links.linked(dispute["id"]) == {pats, danas}  # written with the dispute row itself
    assert dispute["registration_ref"] == pats and dispute["opportunity_ref"] == "OPP-1001"  # taken from the pair

    shown = await links.api.dispute(dispute["id"], "dana")
    claims = shown["registrations"]
    assert dispute["registrations"] == claims  # the filing's answer shows the dispute as GET does
    assert [c["id"] for c in claims] == [pats, danas]  # pat registered first: on the left
    assert all(set(c) == CLAIM_FIELDS for c in claims)
    assert [c["first"] for c in claims] == [True, False]
    assert (claims[0]["channel"], claims[0]["partner_org"], claims[0]["owner"], claims[0]["status"]) == (
        "partner", "Resellers Inc", links.api.email("pat"), "pending")
    assert (claims[1]["channel"], claims[1]["owner"], claims[1]["status"]) == ("direct", links.api.email("dana"),
                                                                               "approved")
    assert claims[0]["submitted_at"] <= claims[1]["submitted_at"]
    assert not any(c["protected_when_filed"] or c["protected_now"] for c in claims)

    # approved after the filing: protected now, not when the dispute was filed (and auto_file keeps away)
    assert (await links.api.post(f"/api/registrations/{pats}/actions", "mediator", {"action": "approve"})
            ).status_code == 200
    claims = (await links.api.dispute(dispute["id"], "pat"))["registrations"]
    assert (claims[0]["status"], claims[0]["protected_now"], claims[0]["protected_when_filed"]) == (
        "approved", True, False)
    assert claims[0]["approved_at"] and claims[0]["protected_until"] > claims[0]["approved_at"]
    for registration_id in (pats, danas):
        named = (await links.api.get(f"/api/registrations/{registration_id}", "dana")).json()["disputes"]
        assert [d["id"] for d in named] == [dispute["id"]]
    assert (await links.api.dispute(dispute["id"], "mediator"))["registrations"] == claims

    # a colleague of pat's sees the dispute and pat's claim, not dana's; a dispute with no links shows none
    assert [c["id"] for c in (await links.api.dispute(dispute["id"], "pia"))["registrations"]] == [pats]
    plain = await links.file("dana")
    assert plain.json()["registrations"] == []
    assert (await links.api.dispute(plain.json()["id"], "dana"))["registrations"] == []
    assert (await links.api.get("/api/disputes", "dana")).status_code == 200  # the lists are unchanged


async def test_a_partner_rep_links_their_registration_and_the_direct_one(links: Links) -> None:
    word = fresh()
    danas = await links.register("dana", f"{word} Corp")
    pats = await links.register("pat", f"{word} Corporation")
    response = await links.file("pat", [pats, danas], counterparty_email=links.api.email("dana"),
                                conflict_type="registration_overlap")
    assert response.status_code == 201, response.text
    claims = (await links.api.dispute(response.json()["id"], "pat"))["registrations"]
    assert [(c["id"], c["first"]) for c in claims] == [(danas, True), (pats, False)]  # dana registered first


# --- refusals ------------------------------------------------------------------------------------------

async def test_bad_pairs_are_422_naming_registration_ids_and_nothing_is_filed(links: Links) -> None:
    pats, danas, word = await links.pair()
    drews = await links.register("drew", f"{fresh()} Inc")
    quinns = await links.register("quinn", f"{fresh()} Ltd")
    before = links.api.counts()
    cases: list[tuple[list[Any], dict[str, Any], str]] = [
        ([danas], {}, "exactly two"),
        ([danas, pats, drews], {}, "exactly two"),
        ([danas, danas], {}, "two different"),
        ([danas, "REG-NOSUCH0"], {}, "no registration REG-NOSUCH0 that you can see"),
        ([danas, quinns], {}, f"no registration {quinns} that you can see"),  # another org's, not overlapping
        ([drews, pats], {}, "must be your own registration"),
        ([danas, drews], {}, "both claims of direct sales"),
        ([danas, pats], {"counterparty_email": links.api.email("pia")}, "not a registration of the counterparty"),
    ]
    for ids, overrides, words in cases:
        response = await links.file("dana", ids, **overrides)
        assert words in message_for(response, "registration_ids"), (ids, response.text)
        assert [p["field"] for p in problems(response)] == ["registration_ids"]
    assert links.api.counts() == before


# --- one open dispute per pair --------------------------------------------------------------------------

async def test_a_second_open_dispute_about_the_pair_is_409_until_the_first_closes(links: Links) -> None:
    pats, danas, _ = await links.pair()
    first = (await links.file("dana", [danas, pats])).json()["id"]
    again = await links.file("dana", [pats, danas], title="The same pair, the other way round")
    assert existing(again) == first and first in again.json()["detail"]
    by_pat = await links.file("pat", [pats, danas], counterparty_email=links.api.email("dana"))
    assert existing(by_pat) == first  # whoever files

    assert (await links.api.act(first, "dana", "withdraw", reason="Filed too early")).status_code == 200
    second = await links.file("dana", [danas, pats])
    assert second.status_code == 201, second.text
    assert existing(await links.file("dana", [danas, pats])) == second.json()["id"]


async def test_two_api_processes_filing_the_same_pair_at_once_file_one(links: Links) -> None:
    pats, danas, _ = await links.pair()
    async with serve(links.api.settings) as other:  # a second API process on the same store and Temporal
        answers = await asyncio.gather(*(links.file("dana", [danas, pats], http=http, title=f"Race {i}")
                                         for i, http in enumerate([links.api.http, other] * 2)))
    created = [r for r in answers if r.status_code == 201]
    assert len(created) == 1, [r.text for r in answers]
    assert {existing(r) for r in answers if r is not created[0]} == {created[0].json()["id"]}
    assert links.linked(created[0].json()["id"]) == {pats, danas}


async def test_an_idempotency_key_retry_returns_the_first_answer(links: Links) -> None:
    pats, danas, _ = await links.pair()
    key, refused_key = str(uuid.uuid4()), str(uuid.uuid4())
    first = await links.file("dana", [danas, pats], key=key)
    assert first.status_code == 201, first.text
    retry = await links.file("dana", [danas, pats], key=key)
    assert (retry.status_code, retry.json()["id"], retry.headers["Idempotent-Replayed"]) == (
        201, first.json()["id"], "true")
    assert retry.json() == first.json() and [c["id"] for c in first.json()["registrations"]] == [pats, danas]
    refused = await links.file("dana", [danas, pats], key=refused_key, title="A second one")
    again = await links.file("dana", [danas, pats], key=refused_key, title="A second one")
    assert existing(refused) == existing(again) == first.json()["id"]
    assert refused.json() == again.json()


async def test_auto_file_takes_the_same_path_and_a_filing_by_hand_gets_409(links: Links) -> None:
    word = fresh()
    pats = await links.register("pat", f"{word} AG")
    assert (await links.api.post(f"/api/registrations/{pats}/actions", "mediator", {"action": "approve"})
            ).status_code == 200
    danas = await links.register("dana", f"{word} Ltd")  # overlaps a protected registration

    async def auto_filed() -> str | None:
        disputes = (await links.api.get(f"/api/registrations/{danas}", "dana")).json()["disputes"]
        return str(disputes[0]["id"]) if disputes else None

    dispute_id = await eventually(auto_filed, what="the automatic dispute")
    links.api.filed.append(dispute_id)
    assert links.linked(dispute_id) == {pats, danas}
    # Parley filed it (DESIGN §6: actor system:overlap), for the partner registration's owner
    trail = (await links.api.get(f"/api/disputes/{dispute_id}/audit", "auditor")).json()
    assert (trail[0]["action"], trail[0]["actor"]) == ("filed", "system:overlap")
    assert (await links.api.dispute(dispute_id, "dana"))["filed_by"] == links.api.email("pat")
    claims = (await links.api.dispute(dispute_id, "dana"))["registrations"]
    assert [(c["id"], c["first"], c["protected_when_filed"], c["protected_now"]) for c in claims] == [
        (pats, True, True, True), (danas, False, False, False)]
    assert existing(await links.file("dana", [danas, pats])) == dispute_id


async def test_a_claim_whose_filing_never_started_frees_itself(links: Links) -> None:
    pats, danas, _ = await links.pair()
    key, now = pair_key([pats, danas]), datetime.now(UTC)
    with links.api.engine.begin() as conn:  # a process that claimed the pair and died before Temporal heard of it
        conn.execute(insert(ONCE_KEYS).values(key=key, scope="dispute_pair", fingerprint="PRL-00DEAD00",
                                              created_at=now, expires_at=now + timedelta(days=1)))
    assert existing(await links.file("dana", [danas, pats])) == "PRL-00DEAD00"  # it may still be starting
    with links.api.engine.begin() as conn:
        conn.execute(update(ONCE_KEYS).where(ONCE_KEYS.c.key == key).values(created_at=now - STALE_AFTER * 2))
    taken_over = await links.file("dana", [danas, pats])
    assert taken_over.status_code == 201, taken_over.text
    assert links.linked(taken_over.json()["id"]) == {pats, danas}

"""/api/webhooks and the admin page over real HTTP: the real worker on the Temporal dev server, the real
store (SQLite and PostgreSQL), real receivers; disputes filed and settled through the API reach them signed.

The module's stack is shared by its tests, so each test removes the subscriptions it made (`hooks`), and
the deliveries still retrying end with it.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import AsyncIterator
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from store.db import session
from store.webhooks import deliveries as stored_deliveries
from tests.api.conftest import CRITERIA, OUTCOME, RATIONALE, Api, problems, serve
from tests.harness.temporal import terminate
from tests.harness.waiting import eventually
from tests.webhooks.receiver import Receiver, verifies

README = Path(__file__).resolve().parents[2] / "README.md"
# a date still to come whenever the suite runs: price protection that has already ended is refused
PROTECTED_UNTIL = (date.today() + timedelta(days=120)).isoformat()
RICH_OUTCOME = {**OUTCOME, "co_sell_stipend": 5000, "renewal_bonus_pct": 5, "price_protection_until": PROTECTED_UNTIL,
                "discount_cap_pct": 15, "terms": "Partner leads; direct supports"}


class Hooks:
    """The subscriptions a test makes through the API, removed when it ends."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.made: list[str] = []

    async def subscribe(self, url: str, events: list[str] | None = None, **more: Any) -> dict[str, Any]:
        response = await self.api.post("/api/webhooks", "admin", {"url": url, "events": events or ["*"], **more})
        assert response.status_code == 201, response.text
        made: dict[str, Any] = response.json()
        self.made.append(made["id"])
        return made

    async def deliveries(self, webhook_id: str) -> list[dict[str, Any]]:
        response = await self.api.get(f"/api/webhooks/{webhook_id}/deliveries", "admin")
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()
        return found

    async def delivered(self, webhook_id: str, count: int) -> list[dict[str, Any]]:
        async def probe() -> list[dict[str, Any]] | None:
            found = await self.deliveries(webhook_id)
            done = [d for d in found if d["status"] == "delivered"]
            return found if len(done) >= count else None

        return await eventually(probe, timeout=20, what=f"{count} deliveries to {webhook_id}")

    async def close(self) -> None:
        for webhook_id in self.made:
            with session(self.api.engine) as s:
                ids = [d.id for d in stored_deliveries(s, webhook_id, limit=1000)]
            await self.api.delete(f"/api/webhooks/{webhook_id}", "admin")
            await terminate(self.api.temporal, ids)


@pytest_asyncio.fixture(loop_scope="session")
async def hooks(api: Api) -> AsyncIterator[Hooks]:
    each = Hooks(api)
    try:
        yield each
    finally:
        await each.close()


# --- subscriptions -----------------------------------------------------------------------------------

async def test_a_subscription_answers_its_secret_once(api: Api, hooks: Hooks) -> None:
    made = await hooks.subscribe("http://127.0.0.1:9/hook", ["dispute.resolved", "dispute.filed", "dispute.filed"],
                                 description="CRM sync")
    assert made["id"].startswith("WH-") and made["secret"].startswith("whsec_") and len(made["secret"]) > 30
    assert (made["url"], made["events"], made["description"], made["created_by"]) == (
        "http://127.0.0.1:9/hook", ["dispute.resolved", "dispute.filed"], "CRM sync", api.email("admin"))
    listed = (await api.get("/api/webhooks", "admin")).json()
    mine = [w for w in listed if w["id"] == made["id"]]
    assert mine == [{k: v for k, v in made.items() if k != "secret"}]
    one = await api.get(f"/api/webhooks/{made['id']}", "admin")
    assert one.status_code == 200 and "secret" not in one.json() and made["secret"] not in one.text
    assert made["secret"] not in (await api.get("/api/webhooks", "admin")).text
    by_bootstrap = await api.post("/api/webhooks", "bootstrap", {"url": "https://hooks.example.com/", "events": ["*"]})
    assert by_bootstrap.status_code == 201 and by_bootstrap.json()["secret"] != made["secret"]
    hooks.made.append(by_bootstrap.json()["id"])

    assert (await api.delete(f"/api/webhooks/{made['id']}", "admin")).status_code == 204
    assert made["id"] not in {w["id"] for w in (await api.get("/api/webhooks", "admin")).json()}
    for response in (await api.get(f"/api/webhooks/{made['id']}", "admin"),
                     await api.delete(f"/api/webhooks/{made['id']}", "admin"),
                     await api.get(f"/api/webhooks/{made['id']}/deliveries", "admin")):
        assert response.status_code == 404 and made["id"] in response.json()["detail"]


@pytest.mark.parametrize(("body", "field"), [
    ({"url": "ftp://hooks.example.com/", "events": ["*"]}, "url"),
    ({"url": "hooks.example.com/in", "events": ["*"]}, "url"),
    ({"url": "https://user:pw@hooks.example.com/", "events": ["*"]}, "url"),
    ({"url": "http://", "events": ["*"]}, "url"),
    ({"url": "https://x.example.com:0/", "events": ["*"]}, "url"),  # nothing is ever reached on port 0
    ({"url": "http://127.0.0.1:00/hook", "events": ["*"]}, "url"),  # private targets allowed here, port 0 is not
    ({"events": ["*"]}, "url"),
    ({"url": "https://hooks.example.com/", "events": ["dispute.filed", "dispute.nope"]}, "events.1"),
    ({"url": "https://hooks.example.com/", "events": []}, "events"),
    ({"url": "https://hooks.example.com/", "events": "*"}, "events"),
    ({"url": "https://hooks.example.com/", "events": ["*"], "secret": "mine"}, "secret"),
])
async def test_bad_subscriptions_are_refused_naming_the_field(api: Api, body: dict[str, Any], field: str) -> None:
    response = await api.post("/api/webhooks", "admin", body)
    assert field in {p["field"] for p in problems(response)}, response.text


async def test_private_targets_are_refused_unless_allowed(api: Api, hooks: Hooks) -> None:
    assert (await hooks.subscribe("http://127.0.0.1:9/allowed-here"))["url"].startswith("http://127.0.0.1")
    strict = api.settings.model_copy(update={"webhook_allow_private": False})
    async with serve(strict) as http:  # the same store, without PARLEY_WEBHOOK_ALLOW_PRIVATE
        for url, why in (("http://127.0.0.1:8080/", "loopback"), ("http://localhost/", "loopback"),
                         ("http://169.254.169.254/latest/", "link-local"), ("http://10.1.2.3/", "private"),
                         ("http://[::1]/", "a loopback"), ("http://0.0.0.0/", "points at an unspecified address")):
            response = await http.post("/api/webhooks", json={"url": url, "events": ["*"]}, headers=api.auth("admin"))
            (problem,) = problems(response)
            assert problem["field"] == "url" and why in problem["message"], response.text


async def test_only_admins_manage_webhooks(api: Api, hooks: Hooks) -> None:
    made = await hooks.subscribe("http://127.0.0.1:9/hook")
    calls = [("post", "/api/webhooks", {"url": "https://hooks.example.com/", "events": ["*"]}),
             ("get", "/api/webhooks", None), ("get", f"/api/webhooks/{made['id']}", None),
             ("get", f"/api/webhooks/{made['id']}/deliveries", None),
             ("post", f"/api/webhooks/{made['id']}/deliveries/WHD-x/redeliver", None),
             ("delete", f"/api/webhooks/{made['id']}", None)]
    for who in ("dana", "pat", "mediator", "exec", "auditor"):
        for method, path, body in calls:
            kwargs = {"json": body} if body is not None else {}
            response = await api.http.request(method, path, headers=api.auth(who), **kwargs)
            assert response.status_code == 403, (who, method, path, response.text)
            assert "admin" in response.json()["detail"]
    assert (await api.http.get("/api/webhooks")).status_code == 401
    assert made["id"] in {w["id"] for w in (await api.get("/api/webhooks", "admin")).json()}


# --- deliveries of real disputes ---------------------------------------------------------------------

async def test_a_decided_dispute_reaches_every_subscription_with_its_outcome(api: Api, hooks: Hooks) -> None:
    async with Receiver() as everything, Receiver() as outcomes:
        every = await hooks.subscribe(everything.url, ["*"])
        resolved = await hooks.subscribe(outcomes.url, ["dispute.resolved"])
        dispute_id = await api.in_state("executive")  # filed straight to tier 3
        await api.ok(dispute_id, "exec", "decide", outcome=RICH_OUTCOME, criteria=CRITERIA, rationale=RATIONALE)
        await hooks.delivered(every["id"], 2)
        (delivery,) = await hooks.delivered(resolved["id"], 1)
    assert [r.json()["type"] for r in everything.requests] == ["dispute.filed", "dispute.resolved"]
    assert [r.json()["type"] for r in outcomes.requests] == ["dispute.resolved"]
    assert everything.requests[1].body == outcomes.requests[0].body  # one body for every subscription
    assert verifies(every["secret"], everything.requests[0].headers, everything.requests[0].body)
    assert verifies(resolved["secret"], outcomes.requests[0].headers, outcomes.requests[0].body)
    assert not verifies(every["secret"], outcomes.requests[0].headers, outcomes.requests[0].body)

    body = outcomes.requests[0].json()
    seq = api.events(dispute_id)[-1][0]
    assert body["id"] == f"evt_{dispute_id}_{seq}" == outcomes.requests[0].headers["parley-event-id"]
    assert set(body) == {"id", "type", "created_at", "data"} and body["created_at"].endswith("Z")
    data = body["data"]
    assert data["outcome"] == {"owner": "co_sell", "credit_split": {"direct": 60, "partner": 40},
                               "co_sell_stipend": 5000.0, "renewal_bonus_pct": 5.0,
                               "price_protection_until": PROTECTED_UNTIL, "discount_cap_pct": 15.0,
                               "terms": "Partner leads; direct supports"}
    assert data["criteria"] == {"win_probability": {"direct": 0.4, "partner": 0.7},
                                "lifetime_value": {"direct": 120000.0, "partner": 90000.0},
                                "strategic_fit": {"direct": 3, "partner": 4}}
    view = await api.dispute(dispute_id)
    assert data["recommendation"] == view["decision"]["recommendation"] and data["recommendation"]["owner"] == "partner"
    assert data["follows_recommendation"] is False and data["kind"] == "decision" and data["final"] is True
    assert (data["tier"], data["charter_version"]) == (3, view["charter_version"])
    assert data["decided_by"] == api.email("exec") and data["rationale"] == RATIONALE
    assert data["dispute"]["id"] == dispute_id and data["dispute"]["status"] == "resolved"
    assert (delivery["event_id"], delivery["type"], delivery["attempts"], delivery["last_status"]) == (
        body["id"], "dispute.resolved", 1, 200)
    assert delivery["last_error"] is None and delivery["next_try_at"] is None and delivery["delivered_at"]


async def test_escalations_and_withdrawals_are_sent_in_order(api: Api, hooks: Hooks) -> None:
    async with Receiver() as receiver:
        made = await hooks.subscribe(receiver.url, ["dispute.escalated", "dispute.withdrawn", "dispute.filed"])
        dispute_id = await api.in_state("mediation")
        await api.ok(dispute_id, "dana", "withdraw", reason="Settled it over the phone")
        await hooks.delivered(made["id"], 3)
    bodies = [r.json() for r in receiver.requests]
    assert [b["type"] for b in bodies] == ["dispute.filed", "dispute.escalated", "dispute.withdrawn"]
    assert {k: bodies[1]["data"][k] for k in ("from_tier", "to_tier", "by", "reason")} == {
        "from_tier": 1, "to_tier": 2, "by": api.email("pat"), "reason": "We cannot agree"}
    assert bodies[2]["data"]["reason"] == "Settled it over the phone"
    assert len({b["id"] for b in bodies}) == 3


async def test_redelivery_sends_the_same_event_again(api: Api, hooks: Hooks) -> None:
    async with Receiver() as receiver:
        made = await hooks.subscribe(receiver.url, ["dispute.filed"])
        await api.in_state("frontline")
        (delivery,) = await hooks.delivered(made["id"], 1)
        path = f"/api/webhooks/{made['id']}/deliveries/{delivery['id']}/redeliver"
        again = await api.post(path, "admin")
        assert again.status_code == 202 and again.json()["id"] == delivery["id"], again.text
        await eventually(lambda: len(receiver.requests) == 2, timeout=20, what="the redelivery")
        (after,) = await hooks.delivered(made["id"], 1)
    first, second = receiver.requests
    assert first.body == second.body and second.headers["parley-event-id"] == delivery["event_id"]
    assert verifies(made["secret"], second.headers, second.body)
    assert (after["attempts"], after["status"], after["last_status"]) == (2, "delivered", 200)
    for wrong in (f"/api/webhooks/{made['id']}/deliveries/WHD-nope/redeliver",
                  f"/api/webhooks/WH-nope/deliveries/{delivery['id']}/redeliver"):
        assert (await api.post(wrong, "admin")).status_code == 404


async def test_the_readme_receiver_verifies_a_real_delivery(api: Api, hooks: Hooks) -> None:
    code = readme_receiver()
    server_line = next(line for line in code.splitlines() if line.startswith("HTTPServer("))
    events: list[dict[str, Any]] = []
    namespace: dict[str, Any] = {"handle": events.append, "__name__": "readme_receiver"}
    server = HTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)  # given the README's handler below
    made = await hooks.subscribe(f"http://127.0.0.1:{server.server_port}/", ["dispute.filed"])
    exec(compile(code.replace(server_line, "").replace('b"whsec_..."', repr(made["secret"].encode())),
                 "README.md", "exec"), namespace)
    server.RequestHandlerClass = namespace["Receiver"]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        dispute_id = await api.in_state("frontline")
        (delivery,) = await hooks.delivered(made["id"], 1)
        forged = await asyncio.to_thread(httpx.post, f"http://127.0.0.1:{server.server_port}/",
                                         content=b'{"id":"evt_forged"}',
                                         headers={"Parley-Signature": "t=1700000000,v1=00"})
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
    assert [e["type"] for e in events] == ["dispute.filed"] and events[0]["data"]["dispute"]["id"] == dispute_id
    assert delivery["last_status"] == 200 and forged.status_code == 400 and len(events) == 1


def readme_receiver() -> str:
    section = README.read_text(encoding="utf-8").split("\n## Webhooks\n", 1)[1].split("\n## ", 1)[0]
    found = re.search(r"^```python\n(.*?)^```", section, re.MULTILINE | re.DOTALL)
    assert found, "the README's Webhooks section has no Python receiver"
    code = found.group(1)
    assert 'SECRET = b"whsec_..."' in code and "HTTPServer(" in code
    return code

"""The admin's webhooks page (/admin/webhooks) on the real stack: subscribe (the secret shown once), see the
deliveries and how they stand, redeliver (CSRF-checked like every form), remove; only admins get it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest_asyncio

from tests.api.conftest import Api
from tests.harness.temporal import terminate
from tests.harness.waiting import eventually
from tests.webhooks.receiver import Receiver, verifies


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


async def signed_in(api: Api, who: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=api.http.base_url, timeout=30)
    page = await client.get("/sign-in")
    response = await client.post("/sign-in", data={"token": api.tokens[who], "csrf": csrf_of(page.text)})
    assert response.status_code == 303, response.text
    return client


@pytest_asyncio.fixture(loop_scope="session")
async def admin(api: Api) -> AsyncIterator[httpx.AsyncClient]:
    client = await signed_in(api, "admin")
    try:
        yield client
    finally:
        await client.aclose()
        for hook in (await api.get("/api/webhooks", "admin")).json():
            ids = [d["id"] for d in (await api.get(f"/api/webhooks/{hook['id']}/deliveries", "admin")).json()]
            await api.delete(f"/api/webhooks/{hook['id']}", "admin")
            await terminate(api.temporal, ids)


async def test_an_admin_subscribes_sees_deliveries_redelivers_and_removes(api: Api, admin: httpx.AsyncClient) -> None:
    page = await admin.get("/admin/webhooks")
    assert page.status_code == 200 and '<a href="/admin/webhooks" aria-current="page">Webhooks</a>' in page.text
    csrf = csrf_of(page.text)
    async with Receiver() as receiver:
        made = await admin.post("/admin/webhooks", data={"csrf": csrf, "url": receiver.url, "events": "dispute.filed",
                                                         "description": "CRM sync"})
        assert made.status_code == 201, made.text
        secret = re.search(r"data-secret>([^<]+)<", made.text)
        assert secret is not None and secret.group(1).startswith("whsec_")
        (hook,) = [h for h in (await api.get("/api/webhooks", "admin")).json() if h["url"] == receiver.url]
        assert secret.group(1) not in (await admin.get("/admin/webhooks")).text  # shown once

        dispute_id = await api.in_state("frontline")
        await eventually(lambda: len(receiver.requests) == 1, timeout=20, what="the delivery")
        assert verifies(secret.group(1), receiver.requests[0].headers, receiver.requests[0].body)

        async def listed() -> str | None:
            text = (await admin.get("/admin/webhooks")).text
            return text if "Delivered" in text else None

        text = await eventually(listed, timeout=20, what="the delivery on the page")
        (delivery,) = (await api.get(f"/api/webhooks/{hook['id']}/deliveries", "admin")).json()
        assert delivery["event_id"] in text and f"evt_{dispute_id}_1" == delivery["event_id"] and "HTTP 200" in text
        redeliver = f"/admin/webhooks/{hook['id']}/deliveries/{delivery['id']}/redeliver"
        assert (await admin.post(redeliver, data={"csrf": "forged"})).status_code == 403
        assert len(receiver.requests) == 1
        again = await admin.post(redeliver, data={"csrf": csrf})
        assert again.status_code == 303 and again.headers["location"] == f"/admin/webhooks#{delivery['id']}"
        await eventually(lambda: len(receiver.requests) == 2, timeout=20, what="the redelivery")
        assert receiver.requests[1].body == receiver.requests[0].body

    removed = await admin.post(f"/admin/webhooks/{hook['id']}/remove", data={"csrf": csrf})
    assert removed.status_code == 303
    assert hook["id"] not in {h["id"] for h in (await api.get("/api/webhooks", "admin")).json()}
    assert f"Removed webhook {hook['id']}" in (await admin.get("/admin/webhooks")).text


async def test_the_form_names_what_is_wrong(admin: httpx.AsyncClient) -> None:
    csrf = csrf_of((await admin.get("/admin/webhooks")).text)
    bad_url = await admin.post("/admin/webhooks", data={"csrf": csrf, "url": "ftp://x.example/", "events": "*"})
    assert bad_url.status_code == 422 and "Must be an http:// or https:// URL." in bad_url.text
    no_events = await admin.post("/admin/webhooks", data={"csrf": csrf, "url": "https://hooks.example.com/"})
    assert no_events.status_code == 422 and 'id="new-events-error"' in no_events.text
    assert 'value="https://hooks.example.com/"' in no_events.text  # what was typed is kept


async def test_only_admins_get_the_page(api: Api) -> None:
    for who in ("dana", "mediator", "auditor"):
        client = await signed_in(api, who)
        try:
            page = await client.get("/admin/webhooks")
            assert page.status_code == 403 and "webhooks are managed by admins" in page.text
            assert 'href="/admin/webhooks"' not in (await client.get("/outbox")).text
            refused = await client.post("/admin/webhooks", data={"csrf": csrf_of(page.text), "url": "https://x.example/",
                                                                 "events": "*"})
            assert refused.status_code == 403
        finally:
            await client.aclose()

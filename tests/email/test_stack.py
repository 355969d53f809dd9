"""The whole stack with e-mail on (the real worker and workflow, the app over HTTP, a local SMTP server, no
Slack), on SQLite and PostgreSQL: the `notify` preference through the API and the settings page, a
filing that reaches the partner by e-mail, and a registration's e-mails from submission to expiry."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Iterator
from email.message import EmailMessage

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from store.tables import NOTIFICATIONS, USERS
from tests.api.conftest import Api, filing
from tests.email.conftest import Mailbox, SmtpServer
from tests.harness.people import PEOPLE
from tests.harness.ports import free_port
from tests.harness.stack import Stack, make_settings, running_stack
from tests.harness.temporal import target_of, terminate
from tests.harness.waiting import eventually
from tests.pg import migrated_database

PAT, DANA, MEDIATOR = PEOPLE["pat"].email, PEOPLE["dana"].email, PEOPLE["mediator"].email


@pytest.fixture(scope="module")
def module_smtp() -> Iterator[SmtpServer]:
    server = SmtpServer(Mailbox(), free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def stack_db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with migrated_database(request, tmp_path_factory, "email") as url:
        yield url


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(stack_db_url: str, tmp_path_factory: pytest.TempPathFactory, temporal_env: WorkflowEnvironment,
                module_smtp: SmtpServer) -> AsyncIterator[Stack]:
    settings = make_settings(stack_db_url, tmp_path_factory.mktemp("email-data"), target_of(temporal_env),
                             smtp_url=f"smtp://127.0.0.1:{module_smtp.port}", mail_from="parley@corp.example",
                             public_url="http://parley.example")  # http: the session cookie is not Secure
    async with running_stack(temporal_env.client, settings) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="session")
async def api(stack: Stack) -> AsyncIterator[Api]:
    each = Api(http=stack.http, engine=stack.engine, temporal=stack.temporal, settings=stack.settings,
               tokens=stack.tokens, user_ids=stack.user_ids)
    try:
        yield each
    finally:
        await each.http.put(f"/api/users/{PAT}/notify", headers=each.auth("admin"), json={"notify": None})
        await terminate(stack.temporal, each.filed)


async def put_notify(api: Api, who: str, email: str, notify: object) -> httpx.Response:
    return await api.http.put(f"/api/users/{email}/notify", headers=api.auth(who), json={"notify": notify})


async def test_the_notify_preference_through_the_api(api: Api) -> None:
    me = (await api.get("/api/users/me", "pat")).json()
    assert (me["email"], me["notify"], me["notify_effective"]) == (PAT, None, "email")  # SMTP set, no Slack

    changed = await put_notify(api, "pat", PAT, "both")
    assert changed.status_code == 200 and changed.json()["notify"] == "both"
    assert changed.json()["notify_effective"] == "email"  # Slack is not set up here
    assert (await api.get("/api/users/me", "pat")).json()["notify"] == "both"

    other = await put_notify(api, "pat", DANA, "email")
    assert other.status_code == 403 and isinstance(other.json()["detail"], str)
    bad = await put_notify(api, "pat", PAT, "pigeon")
    assert bad.status_code == 422 and [p["field"] for p in bad.json()["detail"]] == ["notify"]
    assert (await put_notify(api, "admin", "nobody@corp.example", "email")).status_code == 404
    by_admin = await put_notify(api, "admin", DANA, "slack")
    assert by_admin.status_code == 200 and by_admin.json()["notify_effective"] == "outbox"
    assert (await put_notify(api, "bootstrap", DANA, None)).json()["notify"] is None
    with api.engine.connect() as conn:
        stored = dict(conn.execute(select(USERS.c.email, USERS.c.notify).where(USERS.c.email.in_([PAT, DANA]))).all())
    assert stored == {PAT: "both", DANA: None}

    created = await api.post("/api/users", "admin", {"email": "new.partner@resellers.example", "name": "New Partner",
                                                     "role": "rep", "channel": "partner",
                                                     "partner_org": PEOPLE["pat"].partner_org, "notify": "email"})
    assert created.status_code == 201
    token = created.json()["token"]
    mine = await api.http.get("/api/users/me", headers={"Authorization": f"Bearer {token}"})
    assert mine.json()["notify"] == "email"


async def test_a_partner_who_prefers_email_hears_of_a_filing_by_email(api: Api, module_smtp: SmtpServer) -> None:
    assert (await put_notify(api, "admin", PAT, "email")).status_code == 200
    dispute = await api.file("dana", **filing())
    link = f"http://parley.example/disputes/{dispute['id']}"

    def arrived() -> list[object]:  # the filing's mail (on the fast charter, reminders follow within seconds)
        return [m for m in module_smtp.mailbox.to(PAT) if link in str(m.get_body(preferencelist=("plain",)))
                and f"filed {dispute['id']}" in str(m.get_body(preferencelist=("plain",)))]

    [message] = await eventually(arrived, timeout=30, what=f"an e-mail to {PAT} about {dispute['id']}")
    text = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[attr-defined]
    assert "Hello Pat Partner," in text and "business time left:" in text and dispute["id"] in text

    def marked() -> tuple[str, str]:  # the filing's row, marked sent once the server has taken the mail
        with api.engine.connect() as conn:
            n = NOTIFICATIONS.c
            row = conn.execute(select(NOTIFICATIONS).where(n.dispute_id == dispute["id"], n.recipient == PAT,
                                                           n.seq == 1)).one()
        return row.status, row.email_status

    await eventually(lambda: marked() == ("email", "sent"), timeout=10, what=lambda: f"the row marked: {marked()}")
    assert len(arrived()) == 1  # once


async def test_a_registrations_emails_link_to_its_page_and_name_people(api: Api, module_smtp: SmtpServer) -> None:
    """Every e-mail about a registration (on the fast charter: a 2 s approval reminder, 12 s of protection with
    a reminder 4 s before its end) links to the registration's page, not to the site's root; its subject says
    "Reminder:" once, and it names whoever acted as the dispute mails do."""
    account = f"{uuid.uuid4().hex[:10]} Mailworks Corp"
    body = {"account": account, "title": "Data platform", "deal_value": 120_000, "currency": "EUR", "region": "EMEA"}
    registered = await api.post("/api/registrations", "pat", body)
    assert registered.status_code == 201, registered.text
    reg_id = registered.json()["id"]
    opportunity = await api.post("/api/registrations", "dana", body)  # the same account: an early warning
    assert opportunity.status_code == 201, opportunity.text
    try:
        async def mail(to: str, subject: str) -> EmailMessage:
            def found() -> EmailMessage | None:
                return next((m for m in module_smtp.mailbox.to(to) if m["Subject"].startswith(subject)), None)

            return await eventually(found, timeout=30, what=lambda: f"an e-mail to {to}: {subject!r} among "
                                    f"{[m['Subject'] for m in module_smtp.mailbox.to(to)]}")

        name = f"{reg_id} ({account}: Data platform)"
        mails = [
            await mail(MEDIATOR, f"[Parley] Your move: Pat Partner registered {name}; it awaits approval"),
            await mail(PAT, f"[Parley] Your move: Early warning: {name} overlaps {opportunity.json()['id']}, "
                            "a direct opportunity"),
            await mail(MEDIATOR, f"[Parley] Reminder: {name} awaits approval, due "),
        ]
        approved = await api.post(f"/api/registrations/{reg_id}/actions", "mediator", {"action": "approve"})
        assert approved.status_code == 200, approved.text
        mails += [
            await mail(PAT, f"[Parley] Update: Mia Mediator approved {name}; protected until "),
            await mail(PAT, f"[Parley] Reminder: the protection of {name} ends "),
            await mail(PAT, f"[Parley] Update: The protection of {name} has ended: it expired"),
        ]
        page = f"http://parley.example/registrations/{reg_id}"
        for message in mails:
            text = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
            html = message.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
            assert f"Open it in Parley: {page}" in text.splitlines(), text
            assert f'<a href="{page}"' in html and f"Open {reg_id} in Parley" in html, html
            assert "Reminder: Reminder" not in message["Subject"]
            assert "@" not in message["Subject"], message["Subject"]  # people by name, not by address
    finally:
        await terminate(api.temporal, [reg_id, opportunity.json()["id"]])


async def test_the_settings_page(api: Api, stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.url) as web:
        async def sign_in(who: str) -> str:
            web.cookies.clear()
            page = await web.get("/sign-in")
            signed = await web.post("/sign-in", data={"token": api.tokens[who], "csrf": csrf_of(page.text)})
            assert signed.status_code == 303
            return csrf_of((await web.get("/settings")).text)

        csrf = await sign_in("pat")
        page = await web.get("/settings")
        assert page.status_code == 200 and 'href="/settings" aria-current="page"' in page.text
        assert "Everyone's notifications" not in page.text and "by e-mail" in page.text
        saved = await web.post("/settings", data={"csrf": csrf, "notify": "both"})
        assert saved.status_code == 303
        assert "Saved: Parley now reaches you" in (await web.get("/settings")).text
        assert (await api.get("/api/users/me", "pat")).json()["notify"] == "both"
        assert (await web.post("/settings", data={"csrf": "forged", "notify": "slack"})).status_code == 403
        assert (await web.post("/settings", data={"csrf": csrf, "email": DANA, "notify": "slack"})).status_code == 403

        csrf = await sign_in("admin")
        page = await web.get("/settings")
        assert "Everyone's notifications" in page.text and DANA in page.text
        assert (await web.post("/settings", data={"csrf": csrf, "email": PAT, "notify": ""})).status_code == 303
        assert (await api.get("/api/users/me", "pat")).json()["notify"] is None


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has no CSRF field"
    return found[1]

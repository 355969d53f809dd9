"""Signing in with a token, the session cookie, signing out, CSRF on every form, the SSO header."""

from __future__ import annotations

import re

import pytest
from sqlmodel import Session, select

from api.app import create_app
from store.tables import ApiToken, User
from store.users import issue_token, revoke_token
from tests.web.conftest import ADMIN_TOKEN, PEOPLE, Seeded, TestClient, csrf_of, filing_form


def test_a_page_sends_you_to_sign_in_and_back(seeded: Seeded) -> None:
    web = seeded.web
    web.sign_out()
    response = web.get("/disputes?status=frontline", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/sign-in?next=/disputes%3Fstatus%3Dfrontline"
    page = web.get(response.headers["location"])
    assert 'name="next" value="/disputes?status=frontline"' in page.text
    signed = web.client.post("/sign-in", data={"token": web.tokens["dana"], "csrf": csrf_of(page.text),
                                               "next": "/disputes?status=frontline"}, follow_redirects=False)
    assert (signed.status_code, signed.headers["location"]) == (303, "/disputes?status=frontline")
    assert "Dana Direct" in web.get("/disputes?status=frontline").text


def test_the_sign_in_form_is_labelled(seeded: Seeded) -> None:
    seeded.web.sign_out()
    page = seeded.web.get("/sign-in").text
    assert '<label for="signin-token">Your Parley token' in page
    assert 'id="signin-token" name="token" type="password"' in page
    assert 'aria-describedby="signin-token-help"' in page


@pytest.mark.parametrize(("token", "status", "message"), [
    ("", 422, "Enter your Parley token."),
    ("prl_not-a-token", 401, "That token is unknown or has been revoked."),
])
def test_a_bad_token_is_refused_next_to_the_field(seeded: Seeded, token: str, status: int, message: str) -> None:
    web = seeded.web
    web.sign_out()
    response = web.client.post("/sign-in", data={"token": token, "csrf": csrf_of(web.get("/sign-in").text)})
    assert response.status_code == status
    assert f'id="signin-token-error"><span class="sr-only">Error: </span>{message}' in response.text
    assert 'aria-invalid="true"' in response.text
    assert web.get("/", follow_redirects=False).status_code == 303  # still signed out


def test_sign_in_never_redirects_off_site(seeded: Seeded) -> None:
    web = seeded.web
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        web.sign_out()
        response = web.client.post("/sign-in", data={"token": web.tokens["dana"], "next": target,
                                                     "csrf": csrf_of(web.get("/sign-in").text)},
                                   follow_redirects=False)
        assert response.headers["location"] == "/"


def test_the_session_cookie_is_signed_and_http_only(seeded: Seeded) -> None:
    web = seeded.web
    web.sign_out()
    page = web.get("/sign-in")
    cookie = page.headers["set-cookie"]
    assert cookie.startswith("parley_session=") and "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    web.sign_in("dana")
    value = web.client.cookies["parley_session"]
    web.client.cookies.clear()
    web.client.cookies.set("parley_session", value[:-2] + ("AA" if not value.endswith("AA") else "BB"))
    assert web.get("/", follow_redirects=False).status_code == 303  # a tampered cookie is no session


def test_sign_out_ends_the_session(seeded: Seeded) -> None:
    web = seeded.web.sign_in("dana")
    response = web.post("/sign-out", {})
    assert (response.status_code, response.headers["location"]) == (303, "/sign-in")
    assert "Signed out." in web.get("/sign-in").text
    assert web.get("/", follow_redirects=False).status_code == 303


def test_revoking_the_token_ends_its_sessions(seeded: Seeded) -> None:
    with Session(seeded.engine) as session:
        user = session.exec(select(User).where(User.email == PEOPLE["drew"].email)).one()
        token = issue_token(session, user, label="web test")
        session.commit()
    web = seeded.web
    web.tokens["drew-temp"] = token.secret
    web.sign_in("drew-temp")
    assert web.get("/", follow_redirects=False).status_code == 200
    with Session(seeded.engine) as session:
        owner = session.exec(select(User).where(User.email == PEOPLE["drew"].email)).one()
        revoke_token(session, token.id, by=owner)
        session.commit()
    assert web.get("/", follow_redirects=False).status_code == 303
    web.sign_out()
    page = web.get("/sign-in")
    refused = web.client.post("/sign-in", data={"token": token.secret, "csrf": csrf_of(page.text)})
    assert refused.status_code == 401


def test_the_bootstrap_admin_token_signs_in(seeded: Seeded) -> None:
    web = seeded.web.sign_in("bootstrap")
    page = web.get("/audit")
    assert page.status_code == 200 and "Bootstrap admin" in page.text


@pytest.mark.parametrize("where", ["sign-in", "sign-out", "file", "act"])
@pytest.mark.parametrize("csrf", ["", "wrong-token"])
def test_a_post_without_the_session_csrf_token_is_refused(seeded: Seeded, where: str, csrf: str) -> None:
    web = seeded.web.sign_in("dana")
    path, data = {
        "sign-in": ("/sign-in", {"token": web.tokens["pat"]}),
        "sign-out": ("/sign-out", {}),
        "file": ("/disputes/new", filing_form()),
        "act": (f"/disputes/{seeded.ids['frontline']}/act", {"action": "comment", "text": "hello"}),
    }[where]
    response = web.post(path, data, csrf=csrf)
    assert response.status_code == 403
    assert "This form has expired or did not come from Parley" in response.text
    page = web.get("/outbox")
    assert "Dana Direct" in page.text  # still dana: neither signed out nor signed in as pat


def test_every_form_carries_the_csrf_token(seeded: Seeded) -> None:
    web = seeded.web.sign_in("mediator")
    for path in ("/", f"/disputes/{seeded.ids['mediation']}"):
        html = web.get(path).text
        forms = re.findall(r"<form[^>]*method=\"post\".*?</form>", html, re.S)
        assert forms
        assert all(f'name="csrf" value="{web.csrf}"' in form for form in forms)


def test_pages_carry_security_headers(seeded: Seeded) -> None:
    response = seeded.web.sign_in("dana").get("/")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"


def test_the_sso_header_signs_in_only_when_configured(seeded: Seeded) -> None:
    # Off by default: the header is ignored.
    seeded.web.sign_out()
    assert seeded.web.get("/", headers={"X-Forwarded-Email": PEOPLE["pat"].email},
                          follow_redirects=False).status_code == 303
    settings = seeded.settings.model_copy(update={"sso_header": "X-Forwarded-Email"})
    with TestClient(create_app(settings)) as client:
        page = client.get("/", headers={"X-Forwarded-Email": PEOPLE["pat"].email})
        assert page.status_code == 200
        assert "Pat Partner" in page.text and "(single sign-on)" in page.text and "Sign out" not in page.text
        unknown = client.get("/", headers={"X-Forwarded-Email": "stranger@example.com"})
        assert unknown.status_code == 403 and "not a Parley user" in unknown.text
        assert client.get("/", follow_redirects=False).status_code == 303  # no header: sign in as usual
        # forms still need the CSRF token of the session
        csrf = csrf_of(client.get(f"/disputes/{seeded.ids['proposed']}",
                                  headers={"X-Forwarded-Email": PEOPLE["pat"].email}).text)
        refused = client.post(f"/disputes/{seeded.ids['proposed']}/act", data={"action": "comment", "text": "x"},
                              headers={"X-Forwarded-Email": PEOPLE["pat"].email})
        assert refused.status_code == 403
        accepted = client.post(f"/disputes/{seeded.ids['proposed']}/act", data={"action": "nonsense", "csrf": csrf},
                               headers={"X-Forwarded-Email": PEOPLE["pat"].email})
        assert accepted.status_code == 422  # past the CSRF check: the action itself is refused


def test_tokens_are_never_stored(seeded: Seeded) -> None:
    with Session(seeded.engine) as session:
        hashes = session.exec(select(ApiToken.token_hash)).all()
    assert ADMIN_TOKEN not in hashes and not any(h.startswith("prl_") for h in hashes)

"""Authentication (401), user management (admin only) and token rotation and revocation."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.api.conftest import Api, filing, names_field


def new_email() -> str:
    return f"user-{uuid.uuid4().hex[:8]}@corp.example"


def new_rep(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"email": new_email(), "name": "New Rep", "role": "rep", "channel": "direct",
                            "region": "EMEA"}
    body.update(overrides)
    return body


async def works(api: Api, token: str) -> int:
    response = await api.http.get("/api/disputes", headers={"Authorization": f"Bearer {token}"})
    return response.status_code


# --- 401 -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": "Basic ZGFuYTpzZWNyZXQ="},
    {"Authorization": "Bearer"},
    {"Authorization": "Bearer two words"},
    {"Authorization": "Bearer prl_not-a-real-token"},
    {"Authorization": "admin-secret"},  # the right secret without the scheme
], ids=["none", "basic", "scheme-only", "two-words", "unknown", "no-scheme"])
async def test_requests_without_valid_credentials_get_401(api: Api, headers: dict[str, str]) -> None:
    before = api.counts()
    for method, path in [("GET", "/api/disputes"), ("POST", "/api/disputes"), ("GET", "/api/disputes/PRL-0"),
                         ("POST", "/api/disputes/PRL-0/actions"), ("GET", "/api/disputes/PRL-0/audit"),
                         ("GET", "/api/audit/verify"), ("GET", "/api/audit/export"), ("POST", "/api/users"),
                         ("POST", "/api/users/dana@corp.example/tokens"), ("DELETE", "/api/tokens/tok_1")]:
        response = await api.http.request(method, path, headers=headers,
                                          json={} if method == "POST" else None)
        assert response.status_code == 401, (method, path, response.text)
        assert isinstance(response.json()["detail"], str)
        assert response.headers["www-authenticate"] == "Bearer"  # how to authenticate (RFC 9110)
    assert api.counts() == before


# --- creating users --------------------------------------------------------------------------------

@pytest.mark.parametrize("admin", ["bootstrap", "admin"])
async def test_an_admin_creates_a_user_whose_token_works(api: Api, admin: str) -> None:
    body = new_rep()
    response = await api.post("/api/users", admin, body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert isinstance(created["id"], int) and created["token"].startswith("prl_")
    assert await works(api, created["token"]) == 200
    # the new rep can file at once
    filed = await api.http.post("/api/disputes", json=filing(title="Filed by a new rep"),
                                headers={"Authorization": f"Bearer {created['token']}"})
    assert filed.status_code == 201, filed.text
    api.filed.append(filed.json()["id"])
    assert filed.json()["filed_by"] == body["email"]


@pytest.mark.parametrize("who", ["dana", "pat", "mediator", "exec", "auditor"])
async def test_only_admins_create_users(api: Api, who: str) -> None:
    body = new_rep()
    response = await api.post("/api/users", who, body)
    assert response.status_code == 403, response.text
    role = {"dana": "a rep", "pat": "a rep", "mediator": "a mediator", "exec": "an executive", "auditor": "an auditor"}
    assert response.json()["detail"] == f"this needs the admin role; {api.email(who)} is {role[who]}"
    # the user was not created: the admin can still create it
    assert (await api.post("/api/users", "admin", body)).status_code == 201


async def test_a_duplicate_email_is_a_conflict(api: Api) -> None:
    body = new_rep()
    assert (await api.post("/api/users", "admin", body)).status_code == 201
    again = await api.post("/api/users", "admin", {**body, "email": body["email"].upper(), "name": "Twin"})
    assert again.status_code == 409, again.text
    existing = await api.post("/api/users", "admin", new_rep(email=api.email("dana")))
    assert existing.status_code == 409


@pytest.mark.parametrize("change, field", [
    ({"email": "not-an-email"}, "email"),
    ({"email": "two@@corp.example"}, "email"),
    ({"role": "overlord"}, "role"),
    ({"role": None}, "role"),
    ({"name": ""}, "name"),
    ({"channel": "reseller"}, "channel"),
    ({"channel": None}, "channel"),  # a rep needs a channel
    ({"channel": "partner"}, "partner_org"),  # a partner user needs their organisation
    ({"favourite_colour": "teal"}, "favourite_colour"),
], ids=["email", "email-twice-at", "role", "role-null", "name", "channel", "rep-without-channel",
        "partner-without-org", "unknown-field"])
async def test_invalid_users_are_rejected_naming_the_field(api: Api, change: dict[str, Any], field: str) -> None:
    body = new_rep(**change)
    response = await api.post("/api/users", "admin", body)
    assert response.status_code == 422, response.text
    assert names_field(response, field), response.text
    if "@" in str(body["email"]) and body["email"].count("@") == 1:
        retry = {**new_rep(), "email": body["email"]}  # nothing was stored under that e-mail
        assert (await api.post("/api/users", "admin", retry)).status_code == 201


# --- tokens ----------------------------------------------------------------------------------------

async def test_rotation_keeps_old_tokens_until_each_is_revoked(api: Api) -> None:
    body = new_rep()
    created = (await api.post("/api/users", "admin", body)).json()
    old, old_id = created["token"], created["token_id"]

    response = await api.post(f"/api/users/{body['email']}/tokens", "admin")
    assert response.status_code == 201, response.text
    issued = response.json()
    new, new_id = issued["token"], issued["token_id"]
    assert new != old and new_id != old_id
    assert await works(api, old) == 200 and await works(api, new) == 200

    # the owner revokes the old one with the new one
    revoked = await api.http.delete(f"/api/tokens/{old_id}", headers={"Authorization": f"Bearer {new}"})
    assert revoked.status_code == 204
    assert await works(api, old) == 401
    assert await works(api, new) == 200
    again = await api.http.delete(f"/api/tokens/{old_id}", headers={"Authorization": f"Bearer {new}"})
    assert again.status_code == 409

    # an admin revokes the other
    assert (await api.delete(f"/api/tokens/{new_id}", "admin")).status_code == 204
    assert await works(api, new) == 401


async def test_an_owner_finds_their_token_ids_and_revokes_the_other_one(api: Api) -> None:
    """Tokens are listed by id (never a secret), the one this request used marked: what DELETE takes."""
    body = new_rep()
    created = (await api.post("/api/users", "admin", body)).json()
    mine = {"Authorization": f"Bearer {created['token']}"}
    issued = (await api.post(f"/api/users/{body['email']}/tokens", "admin")).json()
    listed = await api.http.get(f"/api/users/{body['email']}/tokens", headers=mine)
    assert listed.status_code == 200, listed.text
    tokens = listed.json()
    assert [(t["id"], t["current"], t["revoked_at"]) for t in tokens] == [
        (created["token_id"], True, None), (issued["token_id"], False, None)]
    assert all(set(t) == {"id", "label", "created_at", "revoked_at", "current"} for t in tokens)
    assert created["token"] not in listed.text and issued["token"] not in listed.text
    other = next(t["id"] for t in tokens if not t["current"])
    assert (await api.http.delete(f"/api/tokens/{other}", headers=mine)).status_code == 204
    after = (await api.http.get(f"/api/users/{body['email']}/tokens", headers=mine)).json()
    assert [t["revoked_at"] is not None for t in after] == [False, True]
    by_admin = (await api.get(f"/api/users/{body['email']}/tokens", "admin")).json()
    assert [t["current"] for t in by_admin] == [False, False] and len(by_admin) == 2
    refused = await api.get(f"/api/users/{body['email']}/tokens", "dana")
    assert refused.status_code == 403 and "is a rep" in refused.json()["detail"]
    assert (await api.get("/api/users/nobody@example.com/tokens", "admin")).status_code == 404


async def test_the_bootstrap_admin_rotates_and_revokes(api: Api) -> None:
    body = new_rep()
    assert (await api.post("/api/users", "bootstrap", body)).status_code == 201
    issued = (await api.post(f"/api/users/{body['email']}/tokens", "bootstrap")).json()
    assert await works(api, issued["token"]) == 200
    assert (await api.delete(f"/api/tokens/{issued['token_id']}", "bootstrap")).status_code == 204
    assert await works(api, issued["token"]) == 401


async def test_someone_elses_token_cannot_be_revoked(api: Api) -> None:
    body = new_rep()
    created = (await api.post("/api/users", "admin", body)).json()
    for who in ("dana", "mediator", "auditor"):
        response = await api.delete(f"/api/tokens/{created['token_id']}", who)
        assert response.status_code == 404, (who, response.text)
    assert await works(api, created["token"]) == 200
    assert (await api.delete("/api/tokens/tok_000000000000", "admin")).status_code == 404


async def test_rotation_is_for_admins_and_known_users(api: Api) -> None:
    assert (await api.post(f"/api/users/{api.email('dana')}/tokens", "dana")).status_code == 403
    assert (await api.post(f"/api/users/{api.email('pat')}/tokens", "auditor")).status_code == 403
    unknown = await api.post("/api/users/nobody-here@corp.example/tokens", "admin")
    assert unknown.status_code == 404, unknown.text

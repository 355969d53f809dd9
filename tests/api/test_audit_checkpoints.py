"""Signed audit checkpoints through the API: `POST /api/audit/checkpoints` (admin) and what
`GET /api/audit/verify` says about them, on SQLite and PostgreSQL. Only the store is needed (no worker)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, text

from api.app import create_app
from store import audit
from store.audit import signing
from store.db import session
from tests.harness.stack import ADMIN_TOKEN, make_settings, seed_people
from tests.store.samples import event

with warnings.catch_warnings():  # starlette would rather have httpx2; with httpx it works the same
    warnings.filterwarnings("ignore", message=".*install `httpx2` instead")
    from fastapi.testclient import TestClient

KEY_PEM = signing.generate_pem()


@dataclass
class Client:
    http: TestClient
    tokens: dict[str, str]
    engine: Engine

    def call(self, method: str, path: str, who: str, **kwargs: Any) -> Any:
        token = ADMIN_TOKEN if who == "bootstrap" else self.tokens[who]
        return self.http.request(method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs)


def _client(db_url: str, engine: Engine, tmp_path: Path, **settings: Any) -> Iterator[Client]:
    tokens, _ = seed_people(engine)
    app = create_app(make_settings(db_url, tmp_path / "data", "127.0.0.1:9", **settings))  # Temporal: never reached
    with TestClient(app) as http:
        yield Client(http, tokens, engine)


@pytest.fixture
def api(db_url: str, engine: Engine, tmp_path: Path) -> Iterator[Client]:
    with session(engine, write=True) as s:
        for seq in range(1, 4):
            audit.append(s, event("PRL-A", seq))
    yield from _client(db_url, engine, tmp_path, audit_signing_key=KEY_PEM)


def test_an_admin_signs_a_checkpoint_and_verification_reports_it(api: Client) -> None:
    before = api.call("GET", "/api/audit/verify", "auditor").json()
    assert before["ok"] and before["signed_through"] is None and before["unsigned_events"] == before["events"]
    made = api.call("POST", "/api/audit/checkpoints", "admin")
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["checkpoint"]["checkpoint"] == 1 and body["left_out"] == []
    assert body["checkpoint"]["key"] == signing.public_b64(signing.load_private_key(KEY_PEM).public_key())
    again = api.call("POST", "/api/audit/checkpoints", "bootstrap")
    assert again.status_code == 200 and again.json()["checkpoint"] is None, again.text
    after = api.call("GET", "/api/audit/verify", "auditor").json()
    assert after["ok"] and after["unsigned_events"] == 0 and after["signed_through"] == body["checkpoint"]
    assert set(after) >= {"ok", "events", "disputes", "digest", "first_bad"}  # the contract's fields stay
    with session(api.engine, write=True) as s:
        audit.append(s, event("PRL-A", 4))
    assert api.call("GET", "/api/audit/verify", "admin").json()["unsigned_events"] == 1


def test_a_signed_event_changed_in_the_store_fails_verification(api: Client) -> None:
    assert api.call("POST", "/api/audit/checkpoints", "admin").status_code == 201
    with api.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET actor = 'mallory@example.com' WHERE seq = 2"))
    result = api.call("GET", "/api/audit/verify", "auditor").json()
    assert result["ok"] is False
    assert (result["first_bad"]["dispute_id"], result["first_bad"]["seq"]) == ("PRL-A", 2)


def test_a_checkpoint_signed_with_another_key_fails_and_blocks_signing(api: Client) -> None:
    other = Ed25519PrivateKey.generate()
    from store.audit import checkpoints

    assert checkpoints.create(api.engine, other).checkpoint is not None  # a forger's own key
    result = api.call("GET", "/api/audit/verify", "auditor").json()
    assert result["ok"] is False and "is not signed by the audit key" in result["first_bad"]["problem"]
    assert result["first_bad"]["dispute_id"] == "PRL-A" and result["signed_through"] is None
    refused = api.call("POST", "/api/audit/checkpoints", "admin")
    assert refused.status_code == 409 and "do not verify with this key" in refused.json()["detail"]


@pytest.mark.parametrize("who", ["auditor", "mediator", "dana"])
def test_only_admins_sign(api: Client, who: str) -> None:
    assert api.call("POST", "/api/audit/checkpoints", who).status_code == 403


def test_without_a_key_there_is_nothing_to_sign_with(db_url: str, engine: Engine, tmp_path: Path) -> None:
    for client in _client(db_url, engine, tmp_path):
        refused = client.call("POST", "/api/audit/checkpoints", "admin")
        assert refused.status_code == 409 and "PARLEY_AUDIT_SIGNING_KEY" in refused.json()["detail"]
        assert client.call("GET", "/api/audit/verify", "auditor").json()["signed_through"] is None

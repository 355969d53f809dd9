"""The audit page shows the signature status: how far the trail is signed and when, the latest checkpoint,
how many events came after it, and that no key is configured when none is."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine

from api.app import create_app
from store import audit
from store.audit import checkpoints, signing
from store.db import make_engine, migrate, session
from tests.harness.ports import closed_port
from tests.harness.stack import make_settings
from tests.store.samples import event
from tests.web.conftest import DEFAULT_CHARTER, TestClient, Web, seed_people

PEM = signing.generate_pem()
KEY = signing.load_private_key(PEM)


def record(engine: Engine, dispute_id: str, first: int, last: int) -> None:
    with session(engine, write=True) as s:
        for seq in range(first, last + 1):
            assert audit.append(s, event(dispute_id, seq))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[Engine, str, dict[str, str]]]:
    url = f"sqlite:///{tmp_path / 'parley.db'}"
    migrate(url)
    engine = make_engine(url)
    tokens, _ = seed_people(engine)
    try:
        yield engine, url, tokens
    finally:
        engine.dispose()


def page(store: tuple[Engine, str, dict[str, str]], tmp_path: Path, path: str, key: str | None) -> str:
    _, url, tokens = store
    settings = make_settings(url, tmp_path, f"127.0.0.1:{closed_port()}", charter=DEFAULT_CHARTER,
                             audit_signing_key=key)
    with TestClient(create_app(settings)) as client:
        response = Web(client, tokens).sign_in("auditor").get(path)
    assert response.status_code == 200, response.text
    card = re.search(r'<section class="card signing".*?</section>', response.text, re.S)
    assert card, response.text
    return " ".join(re.sub(r"<[^>]+>", "", card[0]).split())


def test_without_a_key_the_page_says_none_is_configured(store: tuple[Engine, str, dict[str, str]],
                                                         tmp_path: Path) -> None:
    record(store[0], "PRL-A", 1, 3)
    for path in ("/audit", "/audit/verify"):
        text = page(store, tmp_path, path, None)
        assert "No signing key configured." in text and "PARLEY_AUDIT_SIGNING_KEY" in text


def test_the_page_shows_the_latest_checkpoint_and_the_events_after_it(store: tuple[Engine, str, dict[str, str]],
                                                                     tmp_path: Path) -> None:
    engine = store[0]
    # the app's start records the charter's adoption: one event of the chain "charter"
    assert "No checkpoint signed yet: 1 event unsigned." in page(store, tmp_path, "/audit", PEM)
    record(engine, "PRL-A", 1, 3)
    assert "No checkpoint signed yet: 4 events unsigned." in page(store, tmp_path, "/audit", PEM)
    made = checkpoints.create(engine, KEY)
    assert made.checkpoint is not None
    record(engine, "PRL-A", 4, 5)
    record(engine, "PRL-B", 1, 1)
    text = page(store, tmp_path, "/audit", PEM)
    assert "Latest checkpoint: 1, made" in text and "signing 4 events in 2 chains through event id 4" in text
    assert "3 events after it are not signed yet. Verify to check the signatures." in text
    assert signing.public_b64(KEY.public_key()) in text
    verified = page(store, tmp_path, "/audit/verify", PEM)
    assert "Signed through event id 4, by checkpoint 1 made" in verified
    assert "4 events in 2 chains, every one checked against its signature." in verified
    assert "3 events after it are not signed yet." in verified


def test_checkpoints_of_another_key_do_not_verify_on_the_page(store: tuple[Engine, str, dict[str, str]],
                                                              tmp_path: Path) -> None:
    engine = store[0]
    page(store, tmp_path, "/audit", PEM)  # the charter's adoption: 1 event
    record(engine, "PRL-A", 1, 2)
    assert checkpoints.create(engine, Ed25519PrivateKey.generate()).checkpoint is not None
    text = page(store, tmp_path, "/audit/verify", PEM)
    assert "No checkpoint verified with the key." in text and "3 events are unsigned." in text

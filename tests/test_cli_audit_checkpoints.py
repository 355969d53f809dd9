"""`parley audit pubkey | checkpoint | verify --export --pubkey | keygen`, run as processes."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.harness.paths import ROOT


def parley(tmp_path: Path, *args: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PARLEY_DATA_DIR=str(tmp_path), PARLEY_CHARTER=str(ROOT / "charters/fast.toml"))
    env.pop("PARLEY_DATABASE_URL", None)
    env.pop("PARLEY_AUDIT_SIGNING_KEY", None)
    if key is not None:
        env["PARLEY_AUDIT_SIGNING_KEY"] = key
    return subprocess.run([sys.executable, "-m", "cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


@pytest.fixture
def trail(tmp_path: Path) -> Path:
    """A store with three events of PRL-1, written by the code the worker uses."""
    from sqlmodel import Session

    from domain.model import Event
    from store import audit
    from store.db import make_engine, migrate

    url = f"sqlite:///{tmp_path / 'parley.db'}"
    migrate(url)
    engine = make_engine(url)
    with Session(engine) as session:
        for seq, action in enumerate(["filed", "proposed", "accepted"], start=1):
            audit.append(session, Event(dispute_id="PRL-1", seq=seq, at=datetime(2026, 1, 1, 12, seq, tzinfo=UTC),
                                        actor="dana@example.com", action=action, tier=1, payload={"n": seq},
                                        charter_version="fast-1+x"))
        session.commit()
    engine.dispose()
    return tmp_path / "parley.db"


@pytest.fixture
def key(tmp_path: Path) -> Path:
    made = parley(tmp_path, "audit", "keygen", "-o", str(tmp_path / "audit.pem"))
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "audit.pem").stat().st_mode & 0o777 == 0o600
    return tmp_path / "audit.pem"


def test_sign_export_and_verify_offline_with_the_public_key_alone(tmp_path: Path, trail: Path, key: Path) -> None:
    pub = parley(tmp_path, "audit", "pubkey", key=str(key))
    assert pub.returncode == 0 and pub.stdout.startswith("-----BEGIN PUBLIC KEY-----"), pub.stderr
    (tmp_path / "audit.pub").write_text(pub.stdout)
    raw = parley(tmp_path, "audit", "pubkey", "--format", "base64", key=key.read_text()).stdout.strip()  # PEM text
    assert len(raw) == 44

    made = parley(tmp_path, "audit", "checkpoint", key=str(key))
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["checkpoint"]["events"] == 3
    again = parley(tmp_path, "audit", "checkpoint", key=str(key))
    assert again.returncode == 0 and json.loads(again.stdout)["checkpoint"] is None
    assert "nothing changed since checkpoint 1" in again.stderr

    verified = parley(tmp_path, "audit", "verify", key=str(key))
    assert verified.returncode == 0, verified.stderr
    result = json.loads(verified.stdout)
    assert result["ok"] and result["signed_through"]["checkpoint"] == 1 and result["unsigned_events"] == 0

    exported = parley(tmp_path, "audit", "export", "-o", str(tmp_path / "trail.jsonl"))
    assert exported.returncode == 0, exported.stderr
    (tmp_path / "parley.db").unlink()  # the auditor has the file and the public key, nothing else
    for pubkey in (str(tmp_path / "audit.pub"), raw):
        offline = parley(tmp_path, "audit", "verify", "--export", str(tmp_path / "trail.jsonl"), "--pubkey", pubkey)
        assert offline.returncode == 0, offline.stderr
        assert json.loads(offline.stdout)["signed_through"]["checkpoint"] == 1
    assert json.loads(offline.stdout) == result

    lines = (tmp_path / "trail.jsonl").read_text().splitlines()
    forged = json.loads(lines[1])
    forged["actor"] = "mallory@example.com"
    (tmp_path / "forged.jsonl").write_text("\n".join([lines[0], json.dumps(forged), *lines[2:]]) + "\n")
    bad = parley(tmp_path, "audit", "verify", "--export", str(tmp_path / "forged.jsonl"), "--pubkey", raw)
    assert bad.returncode == 1
    assert json.loads(bad.stdout)["first_bad"]["dispute_id"] == "PRL-1"
    assert "(dispute PRL-1, event 2)" in bad.stderr


def test_a_forged_event_after_the_checkpoint_is_reported_unsigned(tmp_path: Path, trail: Path, key: Path) -> None:
    assert parley(tmp_path, "audit", "checkpoint", key=str(key)).returncode == 0
    with sqlite3.connect(trail) as db:  # an insider appends an event with a correct hash
        last = db.execute("SELECT hash FROM audit_events WHERE seq = 3").fetchone()[0]
    from store import audit

    fields = {"dispute_id": "PRL-1", "seq": 4, "at": "2026-01-01T12:04:00.000000Z", "actor": "mallory@example.com",
              "action": "decided", "tier": 3, "payload": {}, "charter_version": "fast-1+x"}
    with sqlite3.connect(trail) as db:
        db.execute("INSERT INTO audit_events (dispute_id, seq, at, actor, action, tier, payload, charter_version, "
                   "prev_hash, hash) VALUES ('PRL-1', 4, '2026-01-01 12:04:00.000000', 'mallory@example.com', "
                   "'decided', 3, '{}', 'fast-1+x', ?, ?)", (last, audit.chain_hash(last, audit.canonical(fields))))
    done = parley(tmp_path, "audit", "verify", key=str(key))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["unsigned_events"] == 1
    assert "1 event(s) after the latest checkpoint are not signed yet" in done.stderr
    unchecked = parley(tmp_path, "audit", "verify")
    assert unchecked.returncode == 0 and "signatures not checked" in unchecked.stderr


def test_the_wrong_public_key_fails(tmp_path: Path, trail: Path, key: Path) -> None:
    assert parley(tmp_path, "audit", "checkpoint", key=str(key)).returncode == 0
    other = tmp_path / "other.pem"
    assert parley(tmp_path, "audit", "keygen", "-o", str(other)).returncode == 0
    wrong = parley(tmp_path, "audit", "verify", "--pubkey", str(other))  # a private key file names its public key
    assert wrong.returncode == 1
    assert "is not signed by the audit key" in json.loads(wrong.stdout)["first_bad"]["problem"]


def test_bad_key_input_is_named(tmp_path: Path, trail: Path, key: Path) -> None:
    missing = parley(tmp_path, "audit", "pubkey")
    assert missing.returncode == 2 and "PARLEY_AUDIT_SIGNING_KEY is not set" in missing.stderr
    assert parley(tmp_path, "audit", "checkpoint").returncode == 2
    for value, words in [(str(tmp_path / "nowhere.pem"), "names no file"),
                         ("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----", "found a public key")]:
        done = parley(tmp_path, "audit", "verify", key=value)
        assert done.returncode != 0
        assert "PARLEY_AUDIT_SIGNING_KEY is not usable" in done.stderr and words in done.stderr, done.stderr
    bad_pub = parley(tmp_path, "audit", "verify", "--pubkey", "bm90IGEga2V5")
    assert bad_pub.returncode == 2 and "error: --pubkey:" in bad_pub.stderr
    again = parley(tmp_path, "audit", "keygen", "-o", str(key))
    assert again.returncode == 1 and "never overwritten" in again.stderr
    not_export = tmp_path / "x.jsonl"
    not_export.write_text('{"a": 1}\n')
    done = parley(tmp_path, "audit", "verify", "--export", str(not_export), "--allow-empty")
    assert done.returncode == 2 and "is not a Parley audit export" in done.stderr

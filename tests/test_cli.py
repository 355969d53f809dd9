"""The `parley` command, run as a process the way an operator runs it."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def parley(tmp_path: Path, *args: str, charter: str = "charters/fast.toml") -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PARLEY_DATA_DIR=str(tmp_path), PARLEY_CHARTER=str(ROOT / charter))
    env.pop("PARLEY_DATABASE_URL", None)
    return subprocess.run([sys.executable, "-m", "cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


def test_charter_validate_accepts_the_shipped_charters(tmp_path: Path) -> None:
    for name in ("default", "fast"):
        done = parley(tmp_path, "charter", "validate", str(ROOT / "charters" / f"{name}.toml"))
        assert done.returncode == 0, done.stderr
        assert "ok" in done.stdout


def test_charter_validate_names_the_bad_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    text = (ROOT / "charters" / "fast.toml").read_text().replace('timezone = "UTC"', 'timezone = "Mars/Base"')
    bad.write_text(text)
    done = parley(tmp_path, "charter", "validate", str(bad))
    assert done.returncode == 1
    assert "timezone" in done.stderr


def test_users_add_prints_a_token_and_refuses_a_duplicate(tmp_path: Path) -> None:
    args = ("users", "add", "--email", "rita@example.com", "--name", "Rita", "--role", "rep", "--channel", "direct")
    done = parley(tmp_path, *args)
    assert done.returncode == 0, done.stderr
    created = json.loads(done.stdout)
    assert created["email"] == "rita@example.com" and created["token"].startswith("prl_")
    again = parley(tmp_path, *args)
    assert again.returncode == 1
    assert "already exists" in again.stderr


def test_charter_adopt_records_who_and_why_in_the_change_log(tmp_path: Path) -> None:
    adopted = parley(tmp_path, "charter", "adopt", "--by", "ada@example.com", "--reason", "Q1 SLA review")
    assert adopted.returncode == 0, adopted.stderr
    again = parley(tmp_path, "charter", "adopt", "--by", "ada@example.com", "--reason", "again")
    assert "already recorded" in again.stdout
    done = parley(tmp_path, "charter", "show")
    assert done.returncode == 0, done.stderr
    assert '"version": "fast-1"' in done.stdout
    assert "by ada@example.com: Q1 SLA review" in done.stdout
    assert "again" not in done.stdout


@pytest.fixture
def recorded_trail(tmp_path: Path) -> Path:
    """A store with a few audit events, written through the same code the worker uses."""
    from datetime import UTC, datetime

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


def test_audit_verify_digest_and_export(tmp_path: Path, recorded_trail: Path) -> None:
    digest = parley(tmp_path, "audit", "digest")
    assert digest.returncode == 0, digest.stderr
    saved = digest.stdout.strip()
    verify = parley(tmp_path, "audit", "verify", "--digest", saved)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert json.loads(verify.stdout)["ok"] is True
    exported = parley(tmp_path, "audit", "export", "--format", "jsonl")
    assert [json.loads(line)["action"] for line in exported.stdout.splitlines()] == ["filed", "proposed", "accepted"]
    csv_out = parley(tmp_path, "audit", "export", "--format", "csv")
    assert len(csv_out.stdout.strip().splitlines()) == 4  # header + three events

    with sqlite3.connect(recorded_trail) as db:  # an insider deletes the newest event
        db.execute("DELETE FROM audit_events WHERE seq = 3")
    assert parley(tmp_path, "audit", "verify").returncode == 0  # the chain alone cannot tell …
    truncated = parley(tmp_path, "audit", "verify", "--digest", saved)
    assert truncated.returncode == 1  # … the saved digest can
    assert json.loads(truncated.stdout)["ok"] is False
    malformed = parley(tmp_path, "audit", "verify", "--digest", "nonsense")
    assert malformed.returncode == 2

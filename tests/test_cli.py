"""The `parley` command, run as a process the way an operator runs it."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness.paths import ROOT


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
    assert parley(tmp_path, "seed").returncode == 0  # the people the charter routes to
    adopted = parley(tmp_path, "charter", "adopt", "--by", "ada@example.com", "--reason", "Q1 SLA review")
    assert adopted.returncode == 0, adopted.stderr
    again = parley(tmp_path, "charter", "adopt", "--by", "ada@example.com", "--reason", "again")
    assert "already recorded" in again.stdout
    done = parley(tmp_path, "charter", "show")
    assert done.returncode == 0, done.stderr
    assert '"version": "fast-1"' in done.stdout
    assert "by ada@example.com: Q1 SLA review" in done.stdout
    assert "again" not in done.stdout



def test_charter_adopt_refuses_routing_to_people_who_are_not_there(tmp_path: Path) -> None:
    refused = parley(tmp_path, "charter", "adopt", "--by", "ada@example.com", "--reason", "Q1 SLA review")
    assert refused.returncode == 1
    assert "routing.default_mediator: mediator@example.com is not a Parley user" in refused.stderr
    assert "routing.executive: exec@example.com is not a Parley user" in refused.stderr
    shown = parley(tmp_path, "charter", "show").stdout
    assert "# in force" not in shown and "ada@example.com" not in shown  # nothing was adopted

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


# --- `parley audit` on a missing, empty or damaged store -------------------------------------------------

def parley_on(url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`parley` with PARLEY_DATABASE_URL pointing at `url` (SQLite or PostgreSQL)."""
    env = dict(os.environ, PARLEY_DATA_DIR=str(tmp_path / "data"), PARLEY_DATABASE_URL=url,
               PARLEY_CHARTER=str(ROOT / "charters/fast.toml"))
    return subprocess.run([sys.executable, "-m", "cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


@pytest.mark.parametrize("command", [("verify",), ("verify", "--allow-empty"), ("digest",), ("export",),
                                     ("export", "--format", "csv", "-o", "out.csv")])
def test_audit_commands_refuse_a_missing_store_and_create_none(tmp_path: Path, command: tuple[str, ...]) -> None:
    done = parley(tmp_path, "audit", *command)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"no Parley store at {tmp_path / 'parley.db'}" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no database, no output file


def test_audit_verify_refuses_a_file_that_holds_no_trail(tmp_path: Path) -> None:
    (tmp_path / "parley.db").write_bytes(b"")
    done = parley(tmp_path, "audit", "verify", "--allow-empty")
    assert done.returncode == 2 and "no Parley store at" in done.stderr and "no audit_events table" in done.stderr
    assert (tmp_path / "parley.db").read_bytes() == b""  # looked at, not turned into a database
    (tmp_path / "parley.db").write_text("not a database at all " * 100)
    done = parley(tmp_path, "audit", "verify")
    assert done.returncode == 2 and "no Parley store at" in done.stderr and "Traceback" not in done.stderr


def test_audit_verify_refuses_a_database_without_the_trail(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "parley.db") as db:
        db.execute("CREATE TABLE something_else (x)")
    done = parley(tmp_path, "audit", "verify")
    assert done.returncode == 2 and "no Parley store at" in done.stderr
    with sqlite3.connect(tmp_path / "parley.db") as db:  # no migration ran
        assert [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")] == ["something_else"]


def test_audit_verify_refuses_an_unreachable_postgresql_store(tmp_path: Path, pg_server: str) -> None:
    from sqlalchemy.engine import make_url

    url = make_url(pg_server).set(database="parley_no_such_database").render_as_string(hide_password=False)
    done = parley_on(url, tmp_path, "audit", "verify")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "no Parley store at" in done.stderr and "Traceback" not in done.stderr


def test_audit_verify_refuses_an_empty_trail_unless_allowed(tmp_path: Path, db_url: str) -> None:
    done = parley_on(db_url, tmp_path, "audit", "verify")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "is empty" in done.stderr and "--allow-empty" in done.stderr and done.stdout == ""
    allowed = parley_on(db_url, tmp_path, "audit", "verify", "--allow-empty")
    assert allowed.returncode == 0, allowed.stderr
    result = json.loads(allowed.stdout)
    assert (result["ok"], result["events"], result["disputes"], result["first_bad"]) == (True, 0, 0, None)
    assert parley_on(db_url, tmp_path, "audit", "digest").returncode == 0
    exported = parley_on(db_url, tmp_path, "audit", "export", "--format", "csv")
    assert exported.returncode == 0 and len(exported.stdout.splitlines()) == 1  # the header alone


@pytest.fixture
def trail_url(db_url: str) -> str:
    """A store (SQLite and PostgreSQL) with three events of PRL-1."""
    from datetime import UTC, datetime

    from sqlmodel import Session

    from domain.model import Event
    from store import audit
    from store.db import make_engine

    engine = make_engine(db_url)
    with Session(engine) as session:
        for seq, action in enumerate(["filed", "proposed", "accepted"], start=1):
            audit.append(session, Event(dispute_id="PRL-1", seq=seq, at=datetime(2026, 1, 1, 12, seq, tzinfo=UTC),
                                        actor="dana@example.com", action=action, tier=1, payload={"n": seq, "a": 1},
                                        charter_version="fast-1+x"))
        session.commit()
    engine.dispose()
    return db_url


def _tamper(url: str, sql: str) -> None:
    from store.db import make_engine

    engine = make_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(sql)
    engine.dispose()


@pytest.mark.parametrize(("sql", "words", "stored"), [
    ("UPDATE audit_events SET at = 'infinity' WHERE seq = 2", "the time (at) is not a time", "infinity"),
    ("UPDATE audit_events SET payload = '{\"a\":1,\"n\":2,\"n\":2}' WHERE seq = 2",
     "the key 'n' appears more than once", None),
], ids=["a time that is no time", "a repeated payload key"])
def test_audit_commands_report_damage_without_a_traceback(tmp_path: Path, trail_url: str, sql: str, words: str,
                                                         stored: str | None) -> None:
    saved = parley_on(trail_url, tmp_path, "audit", "digest").stdout.strip()
    _tamper(trail_url, sql)
    for args in (("audit", "verify"), ("audit", "verify", "--digest", saved)):
        done = parley_on(trail_url, tmp_path, *args)
        assert done.returncode == 1, done.stdout + done.stderr
        assert "Traceback" not in done.stderr
        result = json.loads(done.stdout)
        assert result["ok"] is False and result["events"] == 3
        assert (result["first_bad"]["dispute_id"], result["first_bad"]["seq"]) == ("PRL-1", 2)
        assert words in result["first_bad"]["problem"], result
        assert words in done.stderr  # said in plain words, not only in the JSON
    exported = parley_on(trail_url, tmp_path, "audit", "export")
    assert exported.returncode == 0, exported.stderr
    records = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [r["seq"] for r in records] == [1, 2, 3]
    if stored is not None:
        assert records[1]["at"] == stored
    csv_out = parley_on(trail_url, tmp_path, "audit", "export", "--format", "csv", "-o", str(tmp_path / "out.csv"))
    assert csv_out.returncode == 0, csv_out.stderr
    assert len((tmp_path / "out.csv").read_text().splitlines()) == 4


def test_audit_verify_reports_text_in_a_number_column(tmp_path: Path, recorded_trail: Path) -> None:
    with sqlite3.connect(recorded_trail) as db:  # SQLite keeps any value in any column
        db.execute("UPDATE audit_events SET seq = 'two' WHERE seq = 2")
        db.execute("UPDATE audit_events SET at = 'yesterday' WHERE seq = 3")
    done = parley(tmp_path, "audit", "verify")
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    first_bad = json.loads(done.stdout)["first_bad"]
    assert first_bad["dispute_id"] == "PRL-1" and first_bad["seq"] is None
    assert "the sequence number (seq) is not a whole number (stored: 'two')" in first_bad["problem"]
    exported = parley(tmp_path, "audit", "export")
    assert [json.loads(line)["seq"] for line in exported.stdout.splitlines()] == [1, 3, "two"]
    assert json.loads(exported.stdout.splitlines()[1])["at"] == "yesterday"

"""The migrations build the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import insert, inspect, select
from sqlmodel import SQLModel

from store import projection
from store.db import alembic_config, make_engine, migrate, session
from store.tables import DISPUTE_WAITING, DISPUTES, USERS, User
from tests.store.samples import COUNTERPARTY, FILER, MEDIATOR, resolved_view, view

TABLES = {"users", "api_tokens", "charter_versions", "charter_changes", "disputes", "dispute_waiting",
          "audit_events", "notifications", "slack_messages", "once_keys", "registrations", "registration_keys",
          "registration_overlaps", "dispute_registrations", "webhooks", "webhook_deliveries", "audit_checkpoints",
          "absences", "alembic_version"}


def test_upgrade_creates_every_table_and_matches_the_models(blank_db_url: str) -> None:
    migrate(blank_db_url)
    migrate(blank_db_url)  # a second run is a no-op
    engine = make_engine(blank_db_url)
    try:
        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) == TABLES
            assert compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                    SQLModel.metadata) == []
            head = ScriptDirectory.from_config(alembic_config(blank_db_url)).get_current_head()
            assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == head
    finally:
        engine.dispose()


def test_0004_fills_whom_each_dispute_waits_on_from_the_stored_views(blank_db_url: str) -> None:
    migrate(blank_db_url, "0003")
    views = [view("PRL-1", waiting_on=[FILER, COUNTERPARTY]), view("PRL-2", waiting_on=[MEDIATOR]),
             resolved_view("PRL-3")]
    engine = make_engine(blank_db_url)
    try:
        with engine.begin() as conn:
            conn.execute(insert(DISPUTES), [projection.row_values(v) for v in views])
        migrate(blank_db_url)
        with engine.connect() as conn:
            rows = {(r.dispute_id, r.email) for r in conn.execute(select(DISPUTE_WAITING))}
        assert rows == {("PRL-1", FILER), ("PRL-1", COUNTERPARTY), ("PRL-2", MEDIATOR)}
        assert rows == {(r["dispute_id"], r["email"]) for v in views for r in projection.waiting_rows(v)}
    finally:
        engine.dispose()


def test_times_read_back_as_aware_utc(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        with session(engine) as s:
            s.add(User(email="a@example.com", name="A", role="rep", channel="direct",
                       created_at=datetime(2025, 1, 2, 3, 4, 5, 6, tzinfo=UTC)))
        with session(engine) as s:
            at = s.execute(select(USERS.c.created_at)).scalar_one()
            user = s.execute(select(User)).scalar_one()
        assert at == datetime(2025, 1, 2, 3, 4, 5, 6, tzinfo=UTC) and at.tzinfo is UTC
        assert user.created_at.tzinfo is UTC
    finally:
        engine.dispose()


def test_sqlite_engine_settings(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/deep/er/parley.db"
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
    finally:
        engine.dispose()


def test_postgresql_urls_use_psycopg3() -> None:
    from store.db import normalize_url

    assert normalize_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("sqlite:///x.db").drivername == "sqlite"


def test_0005_registrations_go_down_and_up_again(blank_db_url: str) -> None:
    from alembic import command

    registration_tables = {"registrations", "registration_keys", "registration_overlaps", "dispute_registrations"}
    migrate(blank_db_url)
    command.downgrade(alembic_config(blank_db_url), "0004")
    engine = make_engine(blank_db_url)
    try:
        with engine.connect() as conn:
            assert not registration_tables & set(inspect(conn).get_table_names())
        migrate(blank_db_url)
        with engine.connect() as conn:
            assert registration_tables <= set(inspect(conn).get_table_names())
            keys = inspect(conn).get_pk_constraint("registration_keys")["constrained_columns"]
            assert keys == ["key", "registration_id"]  # the primary key is the index a lookup by key reads
    finally:
        engine.dispose()


def test_0007_adds_the_notify_preference_and_the_email_state_and_keeps_the_rows(blank_db_url: str) -> None:
    from alembic import command

    def columns(conn: object, table: str) -> set[str]:
        return {c["name"] for c in inspect(conn).get_columns(table)}

    email_columns = {"email_status", "email_sent_at", "email_error"}
    migrate(blank_db_url, "0006")
    engine = make_engine(blank_db_url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO users (email, name, role, created_at) "
                                 "VALUES ('a@example.com', 'A', 'auditor', '2025-01-02 03:04:05')")
            assert "notify" not in columns(conn, "users") and not email_columns & columns(conn, "notifications")
        migrate(blank_db_url)
        with engine.connect() as conn:
            assert "notify" in columns(conn, "users") and email_columns <= columns(conn, "notifications")
            assert conn.execute(select(USERS.c.email, USERS.c.notify)).all() == [("a@example.com", None)]
        command.downgrade(alembic_config(blank_db_url), "0006")
        with engine.connect() as conn:
            assert "notify" not in columns(conn, "users") and not email_columns & columns(conn, "notifications")
            assert conn.exec_driver_sql("SELECT email FROM users").scalar() == "a@example.com"
        migrate(blank_db_url)
    finally:
        engine.dispose()

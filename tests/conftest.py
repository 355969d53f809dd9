"""Fixtures shared by the whole suite.

`db_url` is a migrated, empty database, once on SQLite (a file under tmp_path) and once on a fresh
PostgreSQL database created for the test and dropped after it. The PostgreSQL server is
postgresql://postgres@127.0.0.1:5432/postgres unless PARLEY_TEST_PG_URL says otherwise; when it
cannot be reached the PostgreSQL cases are skipped, or fail when CI is set.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from store.db import make_engine, migrate
from tests.harness.temporal import temporal_env
from tests.pg import fresh_database

__all__ = ["temporal_env"]  # one Temporal dev server for the session, for every folder that needs one

PG_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def _libpq(url: str) -> str:
    """The URL psycopg understands (no SQLAlchemy driver suffix)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The PostgreSQL server URL (an admin database), after checking that it answers."""
    url = _libpq(os.environ.get("PARLEY_TEST_PG_URL") or PG_SERVER_URL)
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=3):
            pass
    except psycopg.OperationalError as exc:
        message = f"PostgreSQL is not reachable at {make_url(url).render_as_string()}: {exc}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def blank_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database (no tables yet) on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'var' / 'parley.db'}"
        return
    with fresh_database(request.getfixturevalue("pg_server"), "parley_test") as url:
        yield url


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file with every migration applied, once per session: `db_url` copies it."""
    path = tmp_path_factory.mktemp("migrated") / "parley.db"
    migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def migrated_postgresql(pg_server: str) -> Iterator[str]:
    """The name of a PostgreSQL database with every migration applied, once per session: `db_url`
    creates its databases from it (CREATE DATABASE … TEMPLATE, a file copy). Nothing stays connected
    to it (`migrate` disposes its engine), as a template requires."""
    with fresh_database(pg_server, "parley_migrated") as url:
        migrate(url)
        name = make_url(url).database
        assert name is not None
        yield name


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with every migration applied, on SQLite and on PostgreSQL.

    Running the migrations for each test cost about 0.5 s on SQLite and 2 s on PostgreSQL, over a
    thousand times a run; the database is instead a copy of one migrated once per session (the same
    schema, the same rows: `alembic_version` and whatever the migrations insert). tests/store/
    test_migrations.py runs the migrations themselves, on `blank_db_url`."""
    if request.param == "sqlite":
        target = tmp_path / "var" / "parley.db"
        target.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(request.getfixturevalue("migrated_sqlite"))) as source, \
                closing(sqlite3.connect(target)) as copy:
            source.backup(copy)  # consistent whatever sits in the source's write-ahead log
        yield f"sqlite:///{target}"
        return
    template = request.getfixturevalue("migrated_postgresql")
    with fresh_database(request.getfixturevalue("pg_server"), "parley_test", template=template) as url:
        yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


# --- the order of the files ------------------------------------------------------------------------
# `make test` runs the files on xdist workers, one file to a worker at a time, in the order collected
# (`--dist loadfile --no-loadscope-reorder`). A file that holds a worker for minutes must start first:
# started last, it alone would run on after the other workers have finished. These do, longest first
# (each mostly waits: on SIGKILLed processes, Temporal's retries, the charter's timers, a browser);
# the other files follow, those with more tests first, so that the run ends on short ones.
LONG_FILES = (
    "tests/e2e/test_many_processes.py",  # two minutes of chaos, its start and its settling
    "tests/api/test_fuzz.py",  # Schemathesis, every role
    "tests/slack/test_faults.py",
    "tests/e2e/test_stack.py",
    "tests/slack/test_worker_killed_mid_post.py",
    "tests/webhooks/test_worker_kill.py",
    "tests/relay/test_deliveries_apart.py",  # worker processes started, SIGKILLed, waited on
    "tests/web/test_browser.py",
    "tests/test_cli.py",
    "tests/test_cli_audit_checkpoints.py",
    "tests/e2e/test_demo.py",
    "tests/webhooks/test_delivery.py",
    "tests/webhooks/test_registration_events.py",
    "tests/api/test_registrations.py",
    "tests/ops/test_metrics.py",
    "tests/digest/test_cli.py",
)


@pytest.hookimpl(trylast=True)  # after pytest has grouped each file's tests by their fixtures' parameters
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The long files first (in LONG_FILES' order), then the others by their number of tests; a file's
    tests stay together and in their order (module-scoped fixtures and their parameters rely on it)."""
    def file_of(item: pytest.Item) -> str:
        return item.nodeid.split("::", 1)[0]

    sizes: dict[str, int] = {}
    for item in items:
        sizes[file_of(item)] = sizes.get(file_of(item), 0) + 1
    rank = {name: i for i, name in enumerate(LONG_FILES)}
    order = {name: i for i, name in enumerate(sizes)}  # as collected
    items.sort(key=lambda item: (rank.get(file_of(item), len(rank)), -sizes[file_of(item)], order[file_of(item)]))


# --- leaving the process ------------------------------------------------------------------------
# The Temporal SDK's Rust threads can abort the interpreter while it finalizes, after every test
# has passed ("PyGILState_Release", exit 134; sdk-python issue #300, open). Once pytest has
# reported, leave with its own exit status without finalizing.
_exit_status = 0


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    global _exit_status
    _exit_status = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    if os.environ.get("PARLEY_TEST_NO_FAST_EXIT"):
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_exit_status)

"""Throw-away PostgreSQL databases for the tests that run the store on PostgreSQL too."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url


@contextmanager
def fresh_database(server: str, prefix: str, template: str | None = None) -> Iterator[str]:
    """Create a database on `server` (a libpq URL): empty, or a copy of `template`; yield its URL, and drop it
    afterwards. A copy is made file by file (STRATEGY FILE_COPY): about 50 ms, against 300-400 ms for
    PostgreSQL 15's default, which writes every block of the template to the write-ahead log."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    with psycopg.connect(server, autocommit=True) as conn:
        if template is not None:
            create += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
            if conn.info.server_version >= 150000:  # before 15 a copy is always file by file
                create += sql.SQL(" STRATEGY FILE_COPY")
        conn.execute(create)
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextmanager
def migrated_database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                      prefix: str) -> Iterator[str]:
    """A migrated database for `request.param` ("sqlite" or "postgresql"), dropped afterwards: what the
    module-scoped `stack_db_url` fixtures of the whole-stack folders yield (on PostgreSQL a copy of the
    session's migrated template, tests/conftest.py `migrated_postgresql`)."""
    from store.db import migrate

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp(f'{prefix}-db') / 'parley.db'}"
        migrate(url)
        yield url
        return
    template = request.getfixturevalue("migrated_postgresql")
    with fresh_database(request.getfixturevalue("pg_server"), f"parley_{prefix}", template=template) as url:
        yield url

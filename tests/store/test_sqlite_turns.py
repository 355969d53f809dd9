"""SQLite writers take turns (store.sqlite_turns): across threads and processes, every write lands, a writer
kept waiting beyond the busy time-out is told so, and a writer that dies holding the turn does not keep it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from store.db import make_engine, session

ROOT = Path(__file__).resolve().parents[2]

# A writer in a process of its own: takes the write turn, says so on stdout, and holds it until stdin closes.
HOLDER = textwrap.dedent("""
    import sys
    from sqlalchemy import text
    from store.db import make_engine, session
    engine = make_engine(sys.argv[1])
    with session(engine, write=True) as s:
        s.execute(text("INSERT INTO counter VALUES (-1)"))
        print("holding", flush=True)
        sys.stdin.read()
""")

# Writers in a process of their own: THREADS threads, each adding ROWS rows, one write session each.
ADDER = textwrap.dedent("""
    import sys, threading
    from sqlalchemy import text
    from store.db import make_engine, session
    engine = make_engine(sys.argv[1])
    rows, threads = int(sys.argv[2]), int(sys.argv[3])
    def add(t):
        for i in range(rows):
            with session(engine, write=True) as s:
                n = s.execute(text("SELECT count(*) FROM counter")).scalar_one()
                s.execute(text("INSERT INTO counter VALUES (:n)"), {"n": n})
    workers = [threading.Thread(target=add, args=(t,)) for t in range(threads)]
    for w in workers: w.start()
    for w in workers: w.join()
""")


@pytest.fixture
def db(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'turns.db'}"
    engine = make_engine(url)
    with session(engine, write=True) as s:
        s.execute(text("CREATE TABLE counter (n INTEGER)"))
    engine.dispose()
    yield url


def python(script: str, *args: str, **kwargs: object) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", script, *args], env=env, text=True, **kwargs)  # type: ignore[call-overload]


def rows(engine: Engine) -> list[int]:
    with session(engine) as s:
        return [n for (n,) in s.execute(text("SELECT n FROM counter ORDER BY rowid"))]


def test_writers_in_threads_and_processes_each_read_the_last_commit(db: str) -> None:
    """Each writer reads the count and inserts it: with one writer at a time the rows are 0, 1, 2 … in order."""
    adders = [python(ADDER, db, "25", "4") for _ in range(2)]
    engine = make_engine(db)
    mine = [threading.Thread(target=lambda: [_add(engine) for _ in range(25)]) for _ in range(4)]
    for t in mine:
        t.start()
    for t in mine:
        t.join()
    assert [a.wait(timeout=120) for a in adders] == [0, 0]
    assert rows(engine) == list(range(3 * 4 * 25))


def _add(engine: Engine) -> None:
    with session(engine, write=True) as s:
        n = s.execute(text("SELECT count(*) FROM counter")).scalar_one()
        s.execute(text("INSERT INTO counter VALUES (:n)"), {"n": n})


def test_a_writer_kept_waiting_by_another_process_is_told_and_goes_ahead_once_it_is_done(db: str) -> None:
    holder = python(HOLDER, db, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert holder.stdout is not None and holder.stdin is not None
    assert holder.stdout.readline().strip() == "holding"
    impatient = make_engine(db, sqlite_busy_s=0.3)
    with pytest.raises(OperationalError, match="database is locked: another process kept the write turn"):
        _add(impatient)
    holder.stdin.close()
    assert holder.wait(timeout=30) == 0
    _add(impatient)
    assert rows(impatient) == [-1, 1]


def test_a_writer_killed_holding_the_turn_does_not_keep_it(db: str) -> None:
    holder = python(HOLDER, db, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "holding"
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    engine = make_engine(db, sqlite_busy_s=2)
    _add(engine)
    assert rows(engine) == [0]  # the killed writer's row never committed


def test_a_deferred_writer_waits_for_its_turn_at_its_first_write_and_gives_it_back_after_a_rollback(
        db: str) -> None:
    engine = make_engine(db, sqlite_busy_s=0.3)
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with session(engine, write=True) as s:
            s.execute(text("INSERT INTO counter VALUES (7)"))
            holding.set()
            release.wait(timeout=30)

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(timeout=30)
    with session(engine) as s:  # reading needs no turn
        assert s.execute(text("SELECT count(*) FROM counter")).scalar_one() == 0
    with pytest.raises(OperationalError, match="this process's other writers kept the write turn"):
        with session(engine) as s:  # a transaction that writes without saying so up front
            s.execute(text("DELETE FROM counter"))
    release.set()
    holder.join(timeout=30)
    with pytest.raises(ZeroDivisionError):
        with session(engine) as s:
            s.execute(text("INSERT INTO counter VALUES (8)"))
            raise ZeroDivisionError  # rolled back: the turn is given back all the same
    _add(engine)
    assert rows(engine) == [7, 1]


def test_a_writer_whose_connection_is_lost_gives_the_turn_back(db: str) -> None:
    engine = make_engine(db, sqlite_busy_s=0.3)
    with pytest.raises(Exception):  # noqa: B017 - whatever the session makes of a connection gone mid-transaction
        with session(engine, write=True) as s:
            s.execute(text("INSERT INTO counter VALUES (9)"))
            s.connection().invalidate()
    _add(engine)
    assert rows(engine) == [0]

"""Writes from many threads committed together (store.group_commit), on SQLite and PostgreSQL: every caller's
work is committed when its call returns, work that arrives during a commit shares the next one, and one
caller's failure is no other caller's."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, event, text
from sqlmodel import Session

from store.db import session
from store.group_commit import GroupCommit, group_commit

CALLERS = 12


@pytest.fixture
def probe(engine: Engine) -> Iterator[Engine]:
    with session(engine) as s:
        s.execute(text("CREATE TABLE gc_probe (id INTEGER PRIMARY KEY, caller INTEGER NOT NULL)"))
    yield engine


def commits(engine: Engine) -> list[int]:
    seen: list[int] = []
    event.listen(engine, "commit", lambda _conn: seen.append(1))
    return seen


def insert(caller: int) -> Callable[[Session], int]:
    def work(s: Session) -> int:
        s.execute(text("INSERT INTO gc_probe (id, caller) VALUES (:id, :caller)"), {"id": caller, "caller": caller})
        return caller * 10
    return work


def stored(engine: Engine) -> list[int]:
    with session(engine) as s:
        return [row[0] for row in s.execute(text("SELECT caller FROM gc_probe ORDER BY caller"))]


def wait_for(condition: Callable[[], bool], within_s: float = 30.0) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < deadline, "the callers never all arrived"
        time.sleep(0.01)


def test_callers_that_arrive_during_a_commit_share_the_next_one(probe: Engine) -> None:
    group = GroupCommit(probe)
    seen = commits(probe)
    first_in = threading.Event()
    others_waiting = threading.Event()

    def first(s: Session) -> int:
        first_in.set()
        others_waiting.wait(30)  # the others arrive while this transaction is open
        return insert(0)(s)

    with ThreadPoolExecutor(CALLERS) as pool:
        results = [pool.submit(group.run, first)]
        assert first_in.wait(30)
        results += [pool.submit(group.run, insert(caller)) for caller in range(1, CALLERS)]
        wait_for(lambda: len(group._pending) == CALLERS - 1)
        others_waiting.set()
        answers = [r.result(timeout=30) for r in results]
    assert len(seen) == 2  # the first alone, the eleven others together
    assert answers == [caller * 10 for caller in range(CALLERS)]
    assert stored(probe) == list(range(CALLERS))


def test_a_failing_work_fails_only_its_caller(probe: Engine) -> None:
    group = group_commit(probe)
    assert group_commit(probe) is group  # one per engine
    first_in, go = threading.Event(), threading.Event()

    def first(s: Session) -> int:
        first_in.set()
        go.wait(30)
        return insert(0)(s)

    def duplicate(s: Session) -> None:  # the row caller 0 wrote: the shared transaction fails on it
        s.execute(text("INSERT INTO gc_probe (id, caller) VALUES (0, 99)"))

    with ThreadPoolExecutor(4) as pool:
        head = pool.submit(group.run, first)
        assert first_in.wait(30)
        good = [pool.submit(group.run, insert(caller)) for caller in (1, 2)]
        bad = pool.submit(group.run, duplicate)
        wait_for(lambda: len(group._pending) == 3)
        go.set()
        assert head.result(timeout=30) == 0
        assert [g.result(timeout=30) for g in good] == [10, 20]
        with pytest.raises(Exception, match="(?i)unique|duplicate"):
            bad.result(timeout=30)
    assert stored(probe) == [0, 1, 2]


def test_many_threads_at_once_each_return_once_committed(probe: Engine) -> None:
    group = GroupCommit(probe)
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda caller: group.run(insert(caller)), range(200)))
    assert answers == [caller * 10 for caller in range(200)]
    assert stored(probe) == list(range(200))

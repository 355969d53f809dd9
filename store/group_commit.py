"""Small write transactions from many threads, committed together (`GroupCommit`).

A deliveries worker marks every e-mail sent and every webhook attempt begun and made, each as soon as it
happens, from as many threads as it has deliveries in flight: one transaction each is a commit each (a WAL
flush on PostgreSQL, the writer's turn on SQLite) for a one-row UPDATE. Here a caller whose work arrives
while another caller's transaction is being written waits for it and joins the next one, which one of the
waiting callers writes for all of them. Each caller returns once its own work has committed,
so what it marks is as durable when it returns as it was with a transaction of its own.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlmodel import Session

from store.db import session

T = TypeVar("T")
Work = Callable[[Session], Any]


class GroupCommit:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._turn = threading.Condition()
        self._pending: list[tuple[Work, Future[Any]]] = []
        self._writing = False  # a caller is writing a batch

    def run(self, work: Callable[[Session], T]) -> T:
        """`work(session)` in a write transaction, perhaps with other callers' work; its result once committed.
        Should the shared transaction fail, each work in it is tried again alone, so that one caller's failure
        (its exception raised here) is no other caller's."""
        done: Future[T] = Future()
        with self._turn:
            self._pending.append((work, done))
            while self._writing and not done.done():
                self._turn.wait()
            if done.done():  # written in another caller's batch
                return done.result()
            self._writing = True  # this caller writes what is pending, its own work with it
            batch, self._pending = self._pending, []
        try:
            self._write(batch)
        finally:
            with self._turn:
                self._writing = False
                self._turn.notify_all()  # the callers written for return; of the others, one writes next
        return done.result()

    def _write(self, batch: list[tuple[Work, Future[Any]]]) -> None:
        try:
            with session(self.engine, write=True) as s:
                results = [work(s) for work, _ in batch]
        except BaseException as exc:
            if len(batch) == 1:
                batch[0][1].set_exception(exc)
                return
            for one in batch:
                self._write([one])
            return
        for (_, done), result in zip(batch, results, strict=True):
            done.set_result(result)


_BY_ENGINE: weakref.WeakKeyDictionary[Engine, GroupCommit] = weakref.WeakKeyDictionary()
_BY_ENGINE_LOCK = threading.Lock()


def group_commit(engine: Engine) -> GroupCommit:
    """The engine's `GroupCommit`, shared by everything in this process that writes through it."""
    with _BY_ENGINE_LOCK:
        if (found := _BY_ENGINE.get(engine)) is None:
            found = _BY_ENGINE[engine] = GroupCommit(engine)
        return found

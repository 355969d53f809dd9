"""Waiting on a condition with a deadline: the tests poll, they never sleep for a guessed time.

`eventually` polls a probe (sync or async) until it returns something truthy and returns that; when
time runs out it raises `TimedOut` (an AssertionError) naming what it waited for. An exception the
probe raises ends the wait at once. `eventually_blocking` is the same for code outside an event loop.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")
What = str | Callable[[], str]  # or a description made when time runs out (with what was seen last)


class TimedOut(AssertionError):
    """The condition did not hold before the deadline."""

    def __init__(self, timeout: float, what: What) -> None:
        super().__init__(f"timed out after {timeout}s waiting for {what() if callable(what) else what}")


@overload
async def eventually(probe: Callable[[], Awaitable[T | None]], *, timeout: float = ..., interval: float = ...,
                     what: What = ...) -> T: ...


@overload
async def eventually(probe: Callable[[], T | None], *, timeout: float = ..., interval: float = ...,
                     what: What = ...) -> T: ...


async def eventually(probe: Callable[[], Any], *, timeout: float = 15.0, interval: float = 0.05,
                     what: What = "the condition") -> Any:
    """Poll `probe` (sync or async) until it returns something truthy, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimedOut(timeout, what)
        await asyncio.sleep(interval)


def eventually_blocking(probe: Callable[[], T | None], *, timeout: float = 15.0, interval: float = 0.05,
                        what: What = "the condition") -> T:
    """`eventually` for a caller outside an event loop: blocks between polls."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimedOut(timeout, what)
        time.sleep(interval)

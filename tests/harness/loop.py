"""An event loop on a thread of its own, for a stack that synchronous tests share.

A session's worker and uvicorn must keep running while a synchronous test (FastAPI's TestClient)
blocks the main thread and while an asynchronous one (Playwright) runs its own loop. `LoopThread`
runs them on a loop in a daemon thread: `run` waits for a coroutine there, `enter` enters an async
context (a `running_stack`, say) there and keeps it open, and `close` leaves every entered context
in reverse order, on that loop, before stopping it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import Any, TypeVar

T = TypeVar("T")


class LoopThread:
    def __init__(self, name: str = "stack-loop") -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self.thread.start()
        self._contexts = AsyncExitStack()

    def run(self, coro: Awaitable[T], timeout: float = 120) -> T:
        async def wrapped() -> T:
            return await coro

        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result(timeout)

    def enter(self, context: AbstractAsyncContextManager[T]) -> T:
        return self.run(self._contexts.enter_async_context(context))

    def on_close(self, callback: Callable[..., Awaitable[Any]], *args: Any) -> None:
        """Await `callback(*args)` on closing, before leaving the contexts entered so far."""
        self._contexts.push_async_callback(callback, *args)

    def close(self) -> None:
        try:
            self.run(self._contexts.aclose())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(30)
            self.loop.close()

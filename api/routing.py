"""The route class of every API route and page: a synchronous endpoint's store sessions give their connections
back as it returns, in the thread it ran in.

FastAPI closes a `SessionDep` session only after validating the response, and it validates a synchronous
endpoint's response in the thread pool. Under load the pool's threads can all be taken by requests waiting
for a store connection while the sessions holding every connection wait for a thread to validate their
responses: nothing moves until the waiters give up (503s, for minutes, in the many-process test). Closed as the
endpoint returns, a session holds its connection only while the endpoint runs."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from fastapi.routing import APIRoute
from sqlalchemy.orm import Session


class StoreRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, releasing(endpoint), **kwargs)


def releasing(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """`endpoint`, closing the sessions passed to it as it returns, when it is synchronous (FastAPI reads the
    signature through the wrapper)."""
    if inspect.iscoroutinefunction(endpoint) or inspect.isgeneratorfunction(endpoint):
        return endpoint

    @functools.wraps(endpoint)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return endpoint(*args, **kwargs)
        finally:
            for value in kwargs.values():
                if isinstance(value, Session):
                    value.close()  # uncommitted work is rolled back, as the dependency's own close would

    return run

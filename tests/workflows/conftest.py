from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from tests.harness.temporal import time_skipping_server
from tests.reference_times import REFERENCE_TIMES, upcoming
from tests.workflows.harness import Harness, harness


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    """One time-skipping test server for the session (the installed binary, never a download)."""
    async with time_skipping_server() as environment:
        yield environment


@pytest_asyncio.fixture(loop_scope="session")
async def h(env: WorkflowEnvironment) -> AsyncIterator[Harness]:
    """A worker on a fresh task queue with stand-in activities; terminates what the test leaves running."""
    async with harness(env) as each:
        yield each


@pytest_asyncio.fixture(loop_scope="session", params=list(REFERENCE_TIMES), ids=list(REFERENCE_TIMES))
async def at_reference_time(h: Harness, request: pytest.FixtureRequest) -> datetime:
    """Moves the server's clock to the next instant like each reference time (a Saturday, a Monday
    00:30, a Friday 23:59, a daylight-saving change, New Year's Eve …) before the test files anything:
    the expected instants come from the calendar, so the test must pass at every one of them."""
    at = upcoming(await h.now())[request.param]
    await h.sleep_until(at)
    return at

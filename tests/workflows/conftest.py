from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from tests.workflows.harness import Harness, harness, start_environment


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    """One time-skipping test server for the session (the installed binary, never a download)."""
    environment = await start_environment()
    yield environment
    await environment.shutdown()


@pytest_asyncio.fixture(loop_scope="session")
async def h(env: WorkflowEnvironment) -> AsyncIterator[Harness]:
    """A worker on a fresh task queue with stand-in activities; terminates what the test leaves running."""
    async with harness(env) as each:
        yield each

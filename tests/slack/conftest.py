"""Fixtures of the Slack app tests: the suite's Temporal dev server (`temporal_env`), one stack per module."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from tests.slack.harness import SlackDriver, Stack, slack_stack, terminate


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(temporal_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    async with slack_stack(temporal_env, tmp_path_factory.mktemp("slack")) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="session")
async def slack(stack: Stack) -> AsyncIterator[SlackDriver]:
    stack.clock.offset = 0
    yield SlackDriver(stack)
    stack.fake.fail_rate(0)
    await terminate(stack.temporal, stack.filed)  # no timers of this test's disputes outlive it
    stack.filed.clear()

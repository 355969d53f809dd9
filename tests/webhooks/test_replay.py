"""Replay the stored webhook workflows' histories (tests/histories/webhooks/, made by
`python -m tests.webhooks.make_histories`) against today's WebhookDeliveryWorkflow, WebhookRetryWorkflow and
WebhookSweepWorkflow: a change to the order or number of their commands that is not behind `workflow.patched`
fails here before it breaks a delivery still retrying (they run for up to 24 hours; the sweep forever)."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from tests.webhooks.altered import NoWaitWebhookRetryWorkflow
from tests.webhooks.make_histories import HISTORIES, PATHS
from tests.workflows.harness import RUNNER
from workflows.webhook_retries import WebhookRetryWorkflow, WebhookSweepWorkflow
from workflows.webhooks import WebhookDeliveryWorkflow

FILES = sorted(HISTORIES.glob("*.json"))


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text())


def replayer(retry: type = WebhookRetryWorkflow) -> Replayer:
    return Replayer(workflows=[WebhookDeliveryWorkflow, retry, WebhookSweepWorkflow],
                    data_converter=pydantic_data_converter, workflow_runner=RUNNER)


def test_there_is_a_history_for_every_path() -> None:
    assert {path.stem for path in FILES} >= set(PATHS), "run `python -m tests.webhooks.make_histories`"


@pytest.mark.parametrize("path", FILES, ids=[path.stem for path in FILES])
async def test_history_replays(path: Path) -> None:
    result = await replayer().replay_workflow(load(path), raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"


async def test_an_unguarded_change_fails_replay() -> None:
    with pytest.raises(NondeterminismError, match="(?i)nondetermin"):
        await replayer(NoWaitWebhookRetryWorkflow).replay_workflow(load(HISTORIES / "retry_delivered.json"))

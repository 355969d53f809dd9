"""Replay the stored DigestWorkflow histories (tests/histories/digest/, made by `python -m tests.digest.make_histories`)
against today's DigestWorkflow with the production sandbox: a change to the order or number of its commands
that is not behind `workflow.patched` fails here before it breaks a digest in flight."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from tests.digest.altered import PlanTwiceDigestWorkflow
from tests.digest.conftest import RUNNER
from tests.digest.make_histories import HISTORIES, PATHS
from workflows.digest import DigestWorkflow

FILES = sorted(HISTORIES.glob("*.json"))


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text())


def replayer(workflow_class: type = DigestWorkflow) -> Replayer:
    return Replayer(workflows=[workflow_class], data_converter=pydantic_data_converter, workflow_runner=RUNNER)


def test_there_is_a_history_for_every_path() -> None:
    assert {path.stem for path in FILES} >= set(PATHS), "run `python -m tests.digest.make_histories`"


@pytest.mark.parametrize("path", FILES, ids=[path.stem for path in FILES])
async def test_history_replays(path: Path) -> None:
    result = await replayer().replay_workflow(load(path), raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"


async def test_an_unguarded_change_fails_replay() -> None:
    with pytest.raises(NondeterminismError, match="(?i)nondetermin"):
        await replayer(PlanTwiceDigestWorkflow).replay_workflow(load(HISTORIES / "digest_outbox.json"))

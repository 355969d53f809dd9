"""Replay every stored history (tests/histories/, made by `python -m tests.workflows.make_histories`, and
`make_registration_histories` for registration_*.json) against today's DisputeWorkflow and
RegistrationWorkflow with the production sandbox: a change to the order or number of the
workflow's commands that is not behind `workflow.patched` fails here before it breaks running disputes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, WorkflowRunner
from temporalio.workflow import NondeterminismError

from tests.workflows.altered import AlteredDisputeWorkflow
from tests.workflows.harness import HISTORIES, RUNNER
from tests.workflows.make_histories import paths
from worker import workflow_runner
from workflows.dispute import DisputeWorkflow
from workflows.registration import RegistrationWorkflow

FILES = sorted(HISTORIES.glob("*.json"))


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text())


def replayer(workflow: type = DisputeWorkflow, runner: WorkflowRunner = RUNNER) -> Replayer:
    return Replayer(workflows=[workflow, RegistrationWorkflow], data_converter=pydantic_data_converter,
                    workflow_runner=runner)


def test_there_are_histories_for_every_path() -> None:
    stems = {path.stem for path in FILES}
    missing = [name for name in paths() if name not in stems and not any(s.startswith(f"{name}-") for s in stems)]
    assert not missing, f"run `python -m tests.workflows.make_histories {' '.join(missing)}`"


@pytest.mark.parametrize("path", FILES, ids=[path.stem for path in FILES])
async def test_history_replays(path: Path) -> None:
    history = load(path)
    result = await replayer().replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"


@pytest.mark.parametrize("sandboxed", [True, False], ids=["sandbox", "production-runner"])
async def test_all_histories_replay_in_one_pass(sandboxed: bool) -> None:
    """In the tests' sandbox, and with the runner production uses (worker.workflow_runner: no sandbox)."""
    async def histories() -> AsyncIterator[WorkflowHistory]:
        for path in FILES:
            yield load(path)

    runner = RUNNER if sandboxed else workflow_runner(sandboxed=False)
    results = await replayer(runner=runner).replay_workflows(histories(), raise_on_replay_failure=False)
    assert results.replay_failures == {}


@pytest.mark.parametrize("name", ["agreement_auto_approved", "executive_breach"])
async def test_an_unguarded_change_fails_replay(name: str) -> None:
    with pytest.raises(NondeterminismError, match="(?i)nondetermin"):
        await replayer(AlteredDisputeWorkflow).replay_workflow(load(HISTORIES / f"{name}.json"))

"""Worker tuning (README "Running in production"): the sticky cache of workflow runs and the task slots are
settings (PARLEY_WORKER_MAX_CACHED_WORKFLOWS, PARLEY_WORKER_MAX_CONCURRENT_WORKFLOW_TASKS,
PARLEY_WORKER_MAX_CONCURRENT_ACTIVITIES), unset a cache of 500 runs and the SDK's slots, and the worker is built
with them."""

from __future__ import annotations

import concurrent.futures
import uuid
from pathlib import Path

import pytest
from pydantic import ValidationError
from temporalio.testing import WorkflowEnvironment

from settings import Settings
from store.db import make_engine
from tests.harness.paths import DEFAULT_CHARTER
from worker import build_worker

TUNING = ("PARLEY_WORKER_MAX_CACHED_WORKFLOWS", "PARLEY_WORKER_MAX_CONCURRENT_WORKFLOW_TASKS",
          "PARLEY_WORKER_MAX_CONCURRENT_ACTIVITIES")


@pytest.fixture(autouse=True)
def _no_tuning_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in TUNING:
        monkeypatch.delenv(name, raising=False)


def test_unset_the_cache_holds_500_runs_and_the_slots_are_the_sdks(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path)
    assert s.worker_max_cached_workflows == 500  # not the SDK's 1000: a worker stays well under 400 MB
    assert s.worker_max_concurrent_workflow_tasks is None and s.worker_max_concurrent_activities is None


def test_they_are_read_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in zip(TUNING, ("250", "40", "16"), strict=True):
        monkeypatch.setenv(name, value)
    s = Settings(data_dir=tmp_path)
    assert (s.worker_max_cached_workflows, s.worker_max_concurrent_workflow_tasks,
            s.worker_max_concurrent_activities) == (250, 40, 16)


@pytest.mark.parametrize(("name", "value"), [
    ("PARLEY_WORKER_MAX_CACHED_WORKFLOWS", "-1"),
    ("PARLEY_WORKER_MAX_CONCURRENT_WORKFLOW_TASKS", "1"),  # the SDK needs two with a cache
    ("PARLEY_WORKER_MAX_CONCURRENT_ACTIVITIES", "0"),
    ("PARLEY_WORKER_MAX_CACHED_WORKFLOWS", "many"),
])
def test_a_value_the_worker_cannot_use_is_refused_naming_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as refused:
        Settings(data_dir=tmp_path)
    assert name.removeprefix("PARLEY_").lower() in str(refused.value)


@pytest.mark.parametrize("tuned", [False, True])
async def test_the_worker_is_built_with_them(tmp_path: Path, temporal_env: WorkflowEnvironment, tuned: bool) -> None:
    # a task queue of its own: the SDK refuses a second worker for a queue on the same client
    fields: dict[str, object] = {"data_dir": tmp_path, "charter": DEFAULT_CHARTER,
                                 "task_queue": f"tuning-{uuid.uuid4().hex[:8]}"}
    if tuned:
        fields |= {"worker_max_cached_workflows": 250, "worker_max_concurrent_workflow_tasks": 40,
                   "worker_max_concurrent_activities": 16}
    settings = Settings(**fields)  # type: ignore[arg-type]
    engine = make_engine(f"sqlite:///{tmp_path / 'parley.db'}")
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=16) as executor:
            config = build_worker(temporal_env.client, settings, engine, executor).config()
    finally:
        engine.dispose()
    expected = (250, 40, 16) if tuned else (500, None, None)
    assert (config.get("max_cached_workflows"), config.get("max_concurrent_workflow_tasks"),
            config.get("max_concurrent_activities")) == expected

"""Worker tuning (README "Running in production"): the sticky cache of workflow runs and the task slots are
settings (PARLEY_WORKER_MAX_CACHED_WORKFLOWS, PARLEY_WORKER_MAX_CONCURRENT_WORKFLOW_TASKS,
PARLEY_WORKER_MAX_CONCURRENT_ACTIVITIES), unset a cache of 500 runs and the SDK's slots, and the worker is built
with them. So is where the deliveries run (PARLEY_WORKER_ROLE, PARLEY_WORKER_NICE, PARLEY_WORKER_RELAY_LEASE_S):
unset one worker does everything; a value a worker cannot take is refused naming it; with the role "workflows"
the record activities leave the deliveries to a relay, and the deliveries' worker serves `<queue>-deliveries`."""

from __future__ import annotations

import concurrent.futures
import uuid
from pathlib import Path

import pytest
from pydantic import ValidationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import PollerBehaviorAutoscaling, PollerBehaviorSimpleMaximum

from settings import Settings
from store.db import make_engine
from tests.harness.paths import DEFAULT_CHARTER
from worker import build_delivery_worker, build_worker
from workflows.notice_retries import NoticeDeliveryWorkflow

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
    ("PARLEY_WORKER_TASK_POLLERS", "0"),
    ("PARLEY_WORKER_TASK_POLLERS", "many"),
    ("PARLEY_WORKER_TASK_POLLERS", "-3"),
    ("PARLEY_WORKER_ROLE", "bogus"),
    ("PARLEY_WORKER_ROLE", "ALL"),
    ("PARLEY_WORKER_NICE", "20"),  # os.nice goes no further than 19
    ("PARLEY_WORKER_NICE", "-1"),  # a worker may not raise its own priority
    ("PARLEY_WORKER_RELAY_LEASE_S", "0"),
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


@pytest.mark.parametrize(("pollers", "expected"), [
    ("auto", PollerBehaviorAutoscaling()), ("12", PollerBehaviorSimpleMaximum(12)),
    ("5", PollerBehaviorSimpleMaximum(5))])
async def test_task_polls_are_a_number_or_scale_with_the_backlog(
        tmp_path: Path, temporal_env: WorkflowEnvironment, pollers: str, expected: object) -> None:
    settings = Settings(data_dir=tmp_path, charter=DEFAULT_CHARTER, task_queue=f"polls-{uuid.uuid4().hex[:8]}",
                        worker_task_pollers=pollers)
    engine = make_engine(f"sqlite:///{tmp_path / 'parley.db'}")
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as executor:
            config = build_worker(temporal_env.client, settings, engine, executor).config()
    finally:
        engine.dispose()
    assert config.get("workflow_task_poller_behavior") == expected
    assert config.get("activity_task_poller_behavior") == expected


def test_unset_a_worker_keeps_the_sdks_five_task_polls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PARLEY_WORKER_TASK_POLLERS", raising=False)
    assert Settings(data_dir=tmp_path).worker_task_pollers == "5"


# --- where the deliveries run (PARLEY_WORKER_ROLE, PARLEY_WORKER_NICE, PARLEY_WORKER_RELAY_LEASE_S) ---------------
ROLE_SETTINGS = ("PARLEY_WORKER_ROLE", "PARLEY_WORKER_NICE", "PARLEY_WORKER_RELAY_LEASE_S")


def test_unset_one_worker_does_everything(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ROLE_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    s = Settings(data_dir=tmp_path, task_queue="disputes")
    assert (s.worker_role, s.worker_nice, s.worker_relay_lease_s) == ("all", 0, 300.0)
    assert s.delivery_task_queue == "disputes-deliveries"


def test_the_role_is_read_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in zip(ROLE_SETTINGS, ("deliveries", "19", "3"), strict=True):
        monkeypatch.setenv(name, value)
    s = Settings(data_dir=tmp_path)
    assert (s.worker_role, s.worker_nice, s.worker_relay_lease_s) == ("deliveries", 19, 3.0)


@pytest.mark.parametrize("role", ["all", "workflows"])
async def test_the_workers_are_built_for_their_role(tmp_path: Path, temporal_env: WorkflowEnvironment,
                                                    role: str) -> None:
    settings = Settings(data_dir=tmp_path, charter=DEFAULT_CHARTER, task_queue=f"role-{uuid.uuid4().hex[:8]}",
                        worker_role=role)
    engine = make_engine(f"sqlite:///{tmp_path / 'parley.db'}")
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as executor:
            main = build_worker(temporal_env.client, settings, engine, executor).config()
            deliveries, relay = build_delivery_worker(temporal_env.client, settings, engine, executor)
            apart = deliveries.config()
    finally:
        engine.dispose()
    recorders = {getattr(a, "__name__", ""): getattr(a, "__self__", None) for a in main.get("activities", [])}
    assert all(recorders[name].relayed is (role == "workflows")  # type: ignore[union-attr]
               for name in ("record_event", "record_registration_event"))
    assert apart.get("task_queue") == settings.delivery_task_queue == relay.task_queue
    assert NoticeDeliveryWorkflow in apart.get("workflows", [])
    assert {getattr(a, "__name__", "") for a in apart.get("activities", [])} >= {"deliver_notices", "deliver_webhook"}
    assert relay.lease.total_seconds() == settings.worker_relay_lease_s

"""PARLEY_LOG_FORMAT=json: one JSON object a line with time, level, logger, message and process, and the
request, dispute, workflow and run they were logged for, from inside a request, a workflow and an activity."""

from __future__ import annotations

import concurrent.futures
import uuid
from pathlib import Path

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.api.conftest import filing
from tests.harness.ports import closed_port
from tests.harness.stack import make_settings, running_stack, serve
from tests.harness.temporal import target_of, terminate
from tests.ops.conftest import JsonLines
from tests.ops.stand_ins import PLAIN, LoggingDisputeWorkflow, log_from_activity

BASICS = {"time", "level", "logger", "message", "process"}


async def test_workflow_and_activity_lines_carry_the_dispute_workflow_and_run(
        temporal_env: WorkflowEnvironment, json_lines: JsonLines) -> None:
    client = temporal_env.client
    task_queue = f"logs-{uuid.uuid4().hex[:8]}"
    dispute_id = f"D-{uuid.uuid4().hex[:8].upper()}"
    note = uuid.uuid4().hex
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as executor:
        async with Worker(client, task_queue=task_queue, workflows=[LoggingDisputeWorkflow],
                          activities=[log_from_activity], activity_executor=executor):
            handle = await client.start_workflow(LoggingDisputeWorkflow.run, note, id=dispute_id,
                                                 task_queue=task_queue)
            await handle.result()
    lines = json_lines.with_message(note)
    assert {line["logger"] for line in lines} == {"temporalio.workflow", "temporalio.activity", PLAIN}, lines
    for line in lines:
        assert BASICS <= set(line)
        assert line["level"] == "WARNING"
        assert (line["dispute_id"], line["workflow_id"], line["run_id"]) == (
            dispute_id, dispute_id, handle.result_run_id), line


async def test_request_lines_carry_the_request_and_dispute_id(db_url: str, tmp_path: Path,
                                                              temporal_env: WorkflowEnvironment,
                                                              json_lines: JsonLines) -> None:
    """An action on a filed dispute through an API whose Temporal is unreachable: the warning it logs names
    the request (the id the client sent, also answered in X-Request-ID) and the dispute."""
    settings = make_settings(db_url, tmp_path, target_of(temporal_env))
    async with running_stack(temporal_env.client, settings) as stack:
        dana = {"Authorization": f"Bearer {stack.tokens['dana']}"}
        filed = await stack.http.post("/api/disputes", json=filing(), headers=dana)
        assert filed.status_code == 201, filed.text
        dispute_id = filed.json()["id"]
        try:
            cut_off = settings.model_copy(update={"temporal_address": f"127.0.0.1:{closed_port()}",
                                                  "answer_within_s": 3.0})
            async with serve(cut_off) as http:
                answer = await http.post(f"/api/disputes/{dispute_id}/actions", headers={**dana, "X-Request-ID":
                                         "req-logs-1"}, json={"action": "withdraw", "reason": "Settled"})
            assert answer.status_code == 503, answer.text
            assert answer.headers["X-Request-ID"] == "req-logs-1"
        finally:
            await terminate(stack.temporal, [dispute_id])
    [line] = json_lines.with_message("is not reachable")
    assert BASICS <= set(line)
    assert (line["request_id"], line["dispute_id"], line["logger"]) == ("req-logs-1", dispute_id, "api.deps")
    assert "workflow_id" not in line

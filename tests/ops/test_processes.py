"""`parley worker` and `parley api` as an operator runs them, with PARLEY_LOG_FORMAT=json: every line they
write is a JSON object with the basic fields; the worker serves the Temporal SDK's metrics on
PARLEY_WORKER_METRICS_PORT, the workflow task failures an operator alerts on among them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
from temporalio.testing import WorkflowEnvironment

from store.db import migrate
from tests.api.conftest import filing
from tests.harness.paths import FAST_CHARTER, ROOT
from tests.harness.people import seed_store
from tests.harness.ports import closed_port, free_port
from tests.harness.temporal import target_of, terminate
from tests.harness.waiting import eventually
from tests.ops.conftest import samples

BASICS = {"time", "level", "logger", "message", "process"}


@contextmanager
def parley(command: str, tmp_path: Path, **env: str) -> Iterator[subprocess.Popen[bytes]]:
    """`parley <command>` with JSON logs, its output (stdout and stderr) in tmp_path/<command>.log;
    stopped with SIGTERM on leaving."""
    url = f"sqlite:///{tmp_path / 'parley.db'}"
    variables = dict(os.environ, PARLEY_DATA_DIR=str(tmp_path), PARLEY_DATABASE_URL=url,
                     PARLEY_CHARTER=str(FAST_CHARTER), PARLEY_LOG_FORMAT="json", PARLEY_LOG_LEVEL="INFO", **env)
    with (tmp_path / f"{command}.log").open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "cli", command], cwd=ROOT, env=variables, stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def json_lines(tmp_path: Path, command: str, pid: int) -> list[dict[str, Any]]:
    text = (tmp_path / f"{command}.log").read_text()
    lines = [json.loads(line) for line in text.splitlines()]  # every line: a JSON object, or this fails
    for line in lines:
        assert BASICS <= set(line), line
        assert line["process"] == pid
    return lines


async def test_the_worker_logs_json_and_serves_the_sdk_metrics(tmp_path: Path,
                                                               temporal_env: WorkflowEnvironment) -> None:
    migrate(f"sqlite:///{tmp_path / 'parley.db'}")
    task_queue, port = f"ops-{uuid.uuid4().hex[:8]}", free_port()
    stray = f"stray-{uuid.uuid4().hex[:8]}"
    with parley("worker", tmp_path, PARLEY_TEMPORAL_ADDRESS=target_of(temporal_env), PARLEY_TASK_QUEUE=task_queue,
                PARLEY_WORKER_METRICS_PORT=str(port)) as worker:
        # a workflow type no worker knows: its workflow task fails, as after a bad deploy
        handle = await temporal_env.client.start_workflow("NoSuchWorkflow", id=stray, task_queue=task_queue)
        try:
            async def failed_task_counted() -> str | None:
                assert worker.poll() is None, "the worker exited"
                try:
                    async with httpx.AsyncClient(timeout=5) as http:
                        page = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
                except httpx.TransportError:
                    return None  # not listening yet
                return page if samples(page, "temporal_workflow_task_execution_failed_total") else None

            page = await eventually(failed_task_counted, timeout=30, what="a failed workflow task in the metrics")
        finally:
            await terminate(temporal_env.client, [stray])
        assert any(dict(k).get("task_queue") == task_queue
                   for k in samples(page, "temporal_worker_task_slots_available")), page[:2000]
    assert worker.returncode == 0
    lines = json_lines(tmp_path, "worker", worker.pid)
    # the SDK's Core says so too, through Python's logging: a JSON line with the run's id
    assert [line for line in lines if line.get("run_id") == handle.result_run_id
            and line["logger"].startswith("temporalio.core")], lines


class Collector(BaseHTTPRequestHandler):
    """An OTLP/HTTP receiver that keeps what it is sent."""

    received: ClassVar[list[tuple[str, str, bytes]]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.received.append((self.path, self.headers.get("Content-Type", ""), body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def otlp_collector() -> Iterator[tuple[str, list[tuple[str, str, bytes]]]]:
    received: list[tuple[str, str, bytes]] = []
    handler = type("Receiver", (Collector,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def test_the_api_logs_json_and_exports_traces(tmp_path: Path) -> None:
    """JSON lines carrying the request id; spans sent by OTLP/HTTP to OTEL_EXPORTER_OTLP_ENDPOINT (at the
    latest when the process stops)."""
    url = f"sqlite:///{tmp_path / 'parley.db'}"
    tokens = seed_store(url)
    port = free_port()
    with otlp_collector() as (endpoint, received), parley(
            "api", tmp_path, PARLEY_TEMPORAL_ADDRESS=f"127.0.0.1:{closed_port()}", PARLEY_HTTP_PORT=str(port),
            PARLEY_ANSWER_WITHIN_S="2", OTEL_EXPORTER_OTLP_ENDPOINT=endpoint) as api:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            async def answering() -> bool:
                assert api.poll() is None, "the API exited"
                try:
                    return (await http.get("/healthz")).status_code in (200, 503)
                except httpx.TransportError:
                    return False

            await eventually(answering, timeout=30, what="the API to answer")
            answer = await http.post("/api/disputes", json=filing(), headers={
                "Authorization": f"Bearer {tokens['dana']}", "X-Request-ID": "req-process-1"})
            assert answer.status_code == 503, answer.text
    assert api.returncode in (0, -signal.SIGTERM)  # uvicorn shuts down, then raises the signal it caught again
    lines = json_lines(tmp_path, "api", api.pid)
    assert [line for line in lines if line.get("request_id") == "req-process-1" and line["level"] == "WARNING"], lines
    traces = [body for path, kind, body in received if path == "/v1/traces" and kind == "application/x-protobuf"]
    assert any(b"POST /api/disputes" in body and b"parley-api" in body for body in traces), received
    assert not any(b"/healthz" in body for body in traces)

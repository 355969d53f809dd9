"""One trace follows a filing: the API's server span for POST /api/disputes, the client's
update-with-start, the workflow run and its activities, all with the same trace id (in-memory exporter,
the real worker and app on a Temporal dev server)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from ops import tracing
from temporal_client import connect
from tests.api.conftest import filing
from tests.harness.stack import make_settings, running_stack
from tests.harness.temporal import target_of, terminate
from tests.harness.waiting import eventually


@pytest.fixture
def exported() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use_provider(provider)
    try:
        yield exporter
    finally:
        tracing.use_provider(None)
        provider.shutdown()


async def test_a_filing_is_one_trace_from_the_request_to_the_activities(
        db_url: str, tmp_path: Path, temporal_env: WorkflowEnvironment, exported: InMemorySpanExporter) -> None:
    settings = make_settings(db_url, tmp_path, target_of(temporal_env))
    client = await connect(settings)  # traced: the worker built on it is traced as well
    async with running_stack(client, settings, app=create_app(settings)) as stack:
        dana = {"Authorization": f"Bearer {stack.tokens['dana']}"}
        filed = await stack.http.post("/api/disputes", json=filing(), headers=dana)
        assert filed.status_code == 201, filed.text
        dispute_id = filed.json()["id"]
        assert (await stack.http.get("/metrics")).status_code == 200  # scrapes are not traced
        try:
            def filing_trace() -> list[ReadableSpan] | None:
                spans = exported.get_finished_spans()
                server = [s for s in spans if s.kind == SpanKind.SERVER and s.name == "POST /api/disputes"]
                if not server or server[0].context is None:
                    return None
                trace_id = server[0].context.trace_id
                same = [s for s in spans if s.context is not None and s.context.trace_id == trace_id]
                return same if any(s.name.startswith("RunActivity:") for s in same) else None

            spans = await eventually(filing_trace, timeout=20, what="the filing's activity span")
            names = {s.name for s in spans}
            assert "StartUpdateWithStartWorkflow:DisputeWorkflow" in names, names
            assert "RunWorkflow:DisputeWorkflow" in names, names
            assert "StartActivity:record_event" in names, names
            assert "RunActivity:record_event" in names, names
            run = next(s for s in spans if s.name == "RunWorkflow:DisputeWorkflow")
            assert run.attributes is not None and run.attributes.get("temporalWorkflowID") == dispute_id
            assert not [s for s in exported.get_finished_spans() if "/metrics" in s.name]
        finally:
            await terminate(stack.temporal, [dispute_id])


def test_without_an_endpoint_nothing_is_traced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(tracing.ENDPOINT_VARIABLE, raising=False)
    tracing.configure_tracing("parley-api")
    app = create_app(make_settings(f"sqlite:///{tmp_path / 'parley.db'}", tmp_path, "127.0.0.1:1"))
    assert tracing.temporal_interceptors() == []
    assert not getattr(app, "_is_instrumented_by_opentelemetry", False)

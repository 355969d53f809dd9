"""OpenTelemetry traces: a filing's HTTP request, its workflow and its activities in one trace.

Off unless OTEL_EXPORTER_OTLP_ENDPOINT is set (then spans go out by OTLP/HTTP, batched; the exporter reads
the other OTEL_* variables itself). While off, no interceptor and no instrumentation is installed: no cost.
The API's server spans come from the FastAPI instrumentation; Temporal's TracingInterceptor, on every client
(`temporal_client.connect`) and so on the worker built on it, carries the context through the workflow's
headers to the RunWorkflow and RunActivity spans.
"""

from __future__ import annotations

import os

from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from temporalio.client import Interceptor

ENDPOINT_VARIABLE = "OTEL_EXPORTER_OTLP_ENDPOINT"
NOT_TRACED = "/metrics,/healthz"  # scrapes and probes would be most of the spans

_provider: TracerProvider | None = None


def configure_tracing(service: str) -> None:
    """Export to OTLP/HTTP when the endpoint is configured (once per process; later calls change nothing)."""
    if _provider is not None or not os.environ.get(ENDPOINT_VARIABLE):
        return
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    name = os.environ.get("OTEL_SERVICE_NAME") or service
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    use_provider(provider)


def use_provider(provider: TracerProvider | None) -> None:
    """Trace through this provider from now on (None: stop tracing new clients and apps). Tests pass one
    with an in-memory exporter."""
    global _provider
    _provider = provider


def temporal_interceptors() -> list[Interceptor]:
    if _provider is None:
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor(_provider.get_tracer("parley.temporal"))]


def instrument(app: FastAPI) -> None:
    if _provider is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, tracer_provider=_provider, excluded_urls=NOT_TRACED)


def flush() -> None:
    """Send the spans still batched (before a process leaves with os._exit)."""
    if _provider is not None:
        _provider.force_flush(timeout_millis=5000)

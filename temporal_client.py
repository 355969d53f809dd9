"""Connecting to Temporal the same way from the worker, the API and the tools."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime

from ops.tracing import temporal_interceptors
from settings import Settings


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    """A client; its interceptors (tracing, when on) apply to the workers built on it as well.
    `runtime`: the worker's, which serves the SDK's metrics (ops.temporal_runtime)."""
    return await Client.connect(
        settings.temporal_target,
        namespace=settings.temporal_namespace,
        api_key=settings.temporal_api_key,
        tls=settings.temporal_tls,
        data_converter=pydantic_data_converter,
        interceptors=temporal_interceptors(),
        runtime=runtime,
    )

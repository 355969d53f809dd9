"""Connecting to Temporal the same way from the worker, the API and the tools."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime
from temporalio.service import TLSConfig

from ops.tracing import temporal_interceptors
from settings import Settings


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    """A client; its interceptors (tracing, when on) apply to the workers built on it as well.
    `runtime`: the worker's, which serves the SDK's metrics (ops.temporal_runtime)."""
    return await Client.connect(
        settings.temporal_target,
        namespace=settings.temporal_namespace,
        api_key=settings.temporal_api_key,
        tls=tls_config(settings),
        data_converter=pydantic_data_converter,
        interceptors=temporal_interceptors(),
        runtime=runtime,
    )


def tls_config(settings: Settings) -> bool | TLSConfig | None:
    """None lets the SDK decide (TLS when an API key is set); client certificates or a private CA make a
    TLSConfig (mTLS), which implies TLS."""
    cert, key, ca = settings.temporal_tls_cert, settings.temporal_tls_key, settings.temporal_tls_ca
    if cert is None and ca is None:
        return settings.temporal_tls
    if settings.temporal_tls is False:
        raise ValueError("PARLEY_TEMPORAL_TLS=false contradicts PARLEY_TEMPORAL_TLS_CERT / _CA: unset one of them")
    return TLSConfig(
        client_cert=cert.read_bytes() if cert else None,
        client_private_key=key.read_bytes() if key else None,
        server_root_ca_cert=ca.read_bytes() if ca else None,
    )

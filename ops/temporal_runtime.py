"""The Temporal SDK's runtime in Parley's processes.

Core (the SDK's Rust part) logs through Python's logging (logger `temporalio.core`), so that its lines
have the process's format, JSON included, instead of going straight to stderr. The worker's runtime
also serves the SDK's own metrics (pollers, task slots, schedule-to-start latency, workflow task
failures, activity failures …) for Prometheus at http://<PARLEY_HTTP_HOST>:<PARLEY_WORKER_METRICS_PORT>/metrics
when that port is set.
"""

from __future__ import annotations

import logging

from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)

from settings import Settings

CORE_LOGGER = "temporalio.core"


def core_logging() -> LoggingConfig:
    return LoggingConfig(filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
                         forwarding=LogForwardingConfig(logger=logging.getLogger(CORE_LOGGER)))


def forward_core_logs() -> None:
    """Make the process's default runtime (the one every client uses unless told otherwise) forward Core's
    logs. Call it before the first client connects."""
    Runtime.set_default(Runtime(telemetry=TelemetryConfig(logging=core_logging())), error_if_already_set=False)


def worker_runtime(settings: Settings) -> Runtime | None:
    """The worker's runtime when it serves metrics; None (the default runtime) otherwise."""
    if settings.worker_metrics_port is None:
        return None
    address = f"{settings.http_host}:{settings.worker_metrics_port}"
    return Runtime(telemetry=TelemetryConfig(logging=core_logging(), metrics=PrometheusConfig(bind_address=address)))

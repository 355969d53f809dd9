"""`GET /metrics`'s text: this process's series (HTTP requests by route template, its store connections, the
Python process) and the domain's, read from the store (`ops.store_metrics`).

Each API process keeps its own HTTP counters (`parley api` is one uvicorn process): Prometheus scrapes
every process at its own address and sums them. The worker's Temporal SDK metrics are served by the
worker itself (`ops.temporal_runtime`).
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from sqlalchemy import Engine

from ops.store_metrics import PoolCollector, StoreCollector

__all__ = ["CONTENT_TYPE", "exposition"]


def exposition(engine: Engine) -> bytes:
    domain = CollectorRegistry(auto_describe=False)
    domain.register(StoreCollector(engine))
    domain.register(PoolCollector(engine))
    return generate_latest(REGISTRY) + generate_latest(domain)

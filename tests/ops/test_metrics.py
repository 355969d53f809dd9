"""GET /metrics over real HTTP with the real worker on a Temporal dev server: HTTP series by route template
(never a raw path or id), the domain's series read from the store, and the page kept out of the OpenAPI
document."""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from store.tables import AUDIT_EVENTS
from tests.api.conftest import filing
from tests.harness.stack import make_settings, running_stack
from tests.harness.temporal import target_of, terminate
from tests.harness.waiting import eventually
from tests.ops.conftest import samples, value

DISPUTE_ROUTE = "/api/disputes/{dispute_id}"


async def test_requests_are_counted_and_timed_by_route_template(db_url: str, tmp_path: Path,
                                                                temporal_env: WorkflowEnvironment) -> None:
    settings = make_settings(db_url, tmp_path, target_of(temporal_env))
    async with running_stack(temporal_env.client, settings) as stack:
        dana = {"Authorization": f"Bearer {stack.tokens['dana']}"}
        filed = await stack.http.post("/api/disputes", json=filing(), headers=dana)
        assert filed.status_code == 201, filed.text
        dispute_id = filed.json()["id"]
        try:
            read = await stack.http.get(f"/api/disputes/{dispute_id}", headers={**dana, "X-Request-ID": "probe-1"})
            assert read.status_code == 200
            assert read.headers["X-Request-ID"] == "probe-1"  # a client's id is kept, and answered
            missing = await stack.http.get("/api/disputes/D-NOSUCH1", headers=dana)
            assert missing.status_code == 404
            assert len(missing.headers["X-Request-ID"]) >= 8  # a new one otherwise
            stray = f"/no-such-page-{uuid.uuid4().hex}"
            assert (await stack.http.get(stray)).status_code == 404
            assert (await stack.http.get("/static/no-such-file.css")).status_code == 404

            page = await stack.http.get("/metrics")
            assert page.status_code == 200
            assert page.headers["content-type"].startswith("text/plain")
            requests = samples(page.text, "parley_http_requests_total")
            assert value(page.text, "parley_http_requests_total", method="POST", route="/api/disputes",
                         status="201") is not None
            assert (value(page.text, "parley_http_requests_total", method="GET", route=DISPUTE_ROUTE,
                          status="200") or 0) >= 1
            assert (value(page.text, "parley_http_requests_total", method="GET", route=DISPUTE_ROUTE,
                          status="404") or 0) >= 1
            assert (value(page.text, "parley_http_requests_total", method="GET", route="unmatched",
                          status="404") or 0) >= 1
            assert value(page.text, "parley_http_requests_total", method="GET", route="/static/{path}",
                         status="404") is not None
            assert (value(page.text, "parley_http_request_duration_seconds_count", method="GET",
                          route=DISPUTE_ROUTE) or 0) >= 2
            latency = samples(page.text, "parley_http_request_duration_seconds_bucket")
            labels = {v for key in [*requests, *latency] for _, v in key}
            assert not any(dispute_id in v or "NOSUCH" in v or "no-such" in v for v in labels), labels

            schema = (await stack.http.get("/openapi.json")).json()
            assert "/metrics" not in schema["paths"]
        finally:
            await terminate(stack.temporal, [dispute_id])


async def test_domain_series_are_read_from_the_store(db_url: str, tmp_path: Path,
                                                     temporal_env: WorkflowEnvironment) -> None:
    """Filed, closed, open by status and tier, SLA breaches by the tier that missed its deadline (the fast
    charter's frontline SLA is 4 s), and notifications (no Slack: the outbox)."""
    settings = make_settings(db_url, tmp_path, target_of(temporal_env))
    async with running_stack(temporal_env.client, settings) as stack:
        dana = {"Authorization": f"Bearer {stack.tokens['dana']}"}
        ids = []
        for title in ("Left to breach its SLA", "Withdrawn at once"):
            filed = await stack.http.post("/api/disputes", json=filing(title=title), headers=dana)
            assert filed.status_code == 201, filed.text
            ids.append(filed.json()["id"])
        late, withdrawn = ids
        try:
            answer = await stack.http.post(f"/api/disputes/{withdrawn}/actions", headers=dana,
                                           json={"action": "withdraw", "reason": "Settled between us"})
            assert answer.status_code == 200, answer.text

            async def breached() -> str | None:
                page = (await stack.http.get("/metrics")).text
                return page if (value(page, "parley_sla_breaches_total", tier="1") or 0) >= 1 else None

            page = await eventually(breached, timeout=30, what="the frontline SLA breach to be counted")
            with stack.engine.connect() as conn:
                escalated_by_sla = conn.execute(select(AUDIT_EVENTS.c.dispute_id).where(
                    AUDIT_EVENTS.c.actor == "system:sla", AUDIT_EVENTS.c.action == "escalated",
                    AUDIT_EVENTS.c.tier == 2)).scalars().all()
            assert late in escalated_by_sla
            assert value(page, "parley_sla_breaches_total", tier="1") == len(escalated_by_sla)
            assert value(page, "parley_store_up") == 1
            assert value(page, "parley_disputes_filed_total") == 2
            assert value(page, "parley_disputes_closed_total", status="withdrawn") == 1
            assert value(page, "parley_disputes_closed_total", status="resolved") == 0
            open_now = samples(page, "parley_disputes_open")
            assert sum(open_now.values()) == 1
            assert all(dict(key)["tier"] in ("1", "2", "3") for key in open_now)
            assert (value(page, "parley_notifications", result="outbox") or 0) >= 1
            assert value(page, "parley_webhook_deliveries", result="failed") == 0
        finally:
            await terminate(stack.temporal, ids)

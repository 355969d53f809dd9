"""The dispute workflows in Temporal's own tools: typed search attributes upserted on every state change
(an operator's `temporal workflow list --query …` finds them), a memo with the title, and the worker
registering the attributes a namespace lacks (real worker and app on a Temporal dev server)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from service.search_attributes import dev_server_flags, ensure_registered, missing
from temporal_client import connect
from tests.api.conftest import filing
from tests.harness.paths import DEFAULT_CHARTER
from tests.harness.stack import make_settings, running_stack
from tests.harness.temporal import TEST_SERVER, installed, target_of, terminate
from tests.harness.waiting import eventually
from workflows.search import ACCOUNT, DEAL_VALUE, DUE_AT, KEYS, MEDIATOR, REGION, STATUS, TIER

MINUTE = timedelta(minutes=1)


async def _listed(client: Client, query: str) -> list[str]:
    return [execution.id async for execution in client.list_workflows(query)]


async def test_an_operator_finds_a_dispute_by_its_state_in_temporal(
        db_url: str, tmp_path: Path, temporal_env: WorkflowEnvironment) -> None:
    # the realistic charter: days of SLA, so each state lasts while the test looks (a deal this size starts
    # in frontline)
    settings = make_settings(db_url, tmp_path, target_of(temporal_env), charter=DEFAULT_CHARTER)
    client = await connect(settings)
    async with running_stack(client, settings, app=create_app(settings)) as stack:
        dana = {"Authorization": f"Bearer {stack.tokens['dana']}"}
        body = filing(title="Hooli renewal", account="Hooli", deal_value=40_000)
        filed = await stack.http.post("/api/disputes", json=body, headers=dana)
        assert filed.status_code == 201, filed.text
        dispute = filed.json()
        try:
            frontline = f"WorkflowId='{dispute['id']}' AND ParleyStatus='frontline' AND ParleyTier=1"

            async def found(query: str) -> bool:
                return await _listed(client, query) == [dispute["id"]]

            await eventually(lambda: found(frontline), timeout=20, what="the frontline dispute in the list")
            escalated = await stack.http.post(f"/api/disputes/{dispute['id']}/actions", headers=dana,
                                              json={"action": "escalate", "reason": "We cannot agree"})
            assert escalated.status_code == 200, escalated.text
            view = escalated.json()
            due = datetime.fromisoformat(view["sla"]["due_at"])
            mediation = (f"WorkflowId='{dispute['id']}' AND ParleyStatus='mediation' AND ParleyTier=2 "
                         f"AND ParleyMediator='{view['mediator']}' AND ParleyRegion='{view['region']}' "
                         f"AND ParleyDueAt BETWEEN '{(due - MINUTE).isoformat()}' AND '{(due + MINUTE).isoformat()}' "
                         f"AND ParleyDealValue >= {view['deal_value']}")
            await eventually(lambda: found(mediation), timeout=20, what="the escalated dispute in the list")
            assert not await _listed(client, frontline)

            described = await client.get_workflow_handle(dispute["id"]).describe()
            attributes = described.typed_search_attributes
            assert attributes.get(STATUS) == "mediation" and attributes.get(TIER) == 2
            assert attributes.get(ACCOUNT) == "Hooli" and attributes.get(REGION) == view["region"]
            assert attributes.get(MEDIATOR) == view["mediator"]
            assert attributes.get(DEAL_VALUE) == pytest.approx(view["deal_value"])
            assert attributes.get(DUE_AT) == due
            memo = dict(await described.memo())
            assert memo == {"title": "Hooli renewal", "account": "Hooli"}
        finally:
            await terminate(stack.temporal, [dispute["id"]])


async def test_the_worker_registers_what_a_namespace_lacks(temporal_env: WorkflowEnvironment) -> None:
    assert await missing(temporal_env.client, temporal_env.client.namespace) == []  # started with them
    assert await ensure_registered(temporal_env.client, temporal_env.client.namespace) == []
    bare = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=installed(TEST_SERVER, "dev"))
    try:
        added = await ensure_registered(bare.client, bare.client.namespace)
        assert added == [key.name for key in KEYS]
    finally:
        await bare.shutdown()


def test_parley_up_starts_its_server_with_every_attribute() -> None:
    flags = dev_server_flags()
    assert flags[1::2] == ["ParleyStatus=Keyword", "ParleyTier=Int", "ParleyAccount=Keyword",
                           "ParleyRegion=Keyword", "ParleyDealValue=Double", "ParleyDueAt=Datetime",
                           "ParleyMediator=Keyword"]
    assert set(flags[::2]) == {"--search-attribute"}

"""The response models describe what the API answers, exactly: same fields as the domain's models,
the stored views passed through unchanged, and an OpenAPI document that declares every answer."""

from __future__ import annotations

import functools
import json
import re
from typing import Any

import pytest
from pydantic import BaseModel
from sqlmodel import Session

from api.app import create_app
from api.schemas import (
    AuditEventPublic,
    CreditSplitPublic,
    CriteriaPublic,
    DecisionPublic,
    DisputeDetailPublic,
    DisputePublic,
    FirstBadPublic,
    OutcomePublic,
    PartyPublic,
    PrecedentRefPublic,
    ProposalPublic,
    RecommendationPublic,
    SlaPublic,
    VerifyPublic,
)
from domain import model
from store import audit
from store.tables import DisputeRow
from tests.api.conftest import CRITERIA, OUTCOME, RATIONALE, Api, filing

PAIRS: list[tuple[type[BaseModel], type[BaseModel]]] = [
    (DisputePublic, model.DisputeView), (PartyPublic, model.Party), (SlaPublic, model.Sla),
    (ProposalPublic, model.Proposal), (DecisionPublic, model.Decision), (OutcomePublic, model.Outcome),
    (CreditSplitPublic, model.CreditSplit), (CriteriaPublic, model.Criteria),
    (RecommendationPublic, model.Recommendation), (PrecedentRefPublic, model.PrecedentRef),
    (VerifyPublic, audit.VerifyResult),
    (FirstBadPublic, audit.FirstBad),
]


@pytest.mark.parametrize(("public", "inner"), PAIRS, ids=[p.__name__ for p, _ in PAIRS])
def test_public_models_have_the_fields_of_what_they_describe(public: type[BaseModel], inner: type[BaseModel]) -> None:
    # a field added to the view must be added to its description too, or the API would drop it
    assert set(public.model_fields) == set(inner.model_fields)


def test_audit_events_are_described_field_for_field() -> None:
    assert list(AuditEventPublic.model_fields) == list(audit.RECORD_FIELDS)


@functools.cache
def _document() -> dict[str, Any]:
    document: dict[str, Any] = create_app().openapi()
    return document


def test_the_openapi_document_declares_every_answer() -> None:
    document = _document()
    paths = {path: ops for path, ops in document["paths"].items() if not path.startswith("/slack/")}
    assert paths
    for path, operations in paths.items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            responses = operation["responses"]
            for status, response in responses.items():
                for media, content in response.get("content", {}).items():
                    if media == "application/json":  # a real schema, not FastAPI's "anything"
                        assert content["schema"], f"{where} {status}: no schema"
            if path.startswith("/api/"):
                assert "401" in responses, where
                if operation.get("parameters") or "requestBody" in operation:
                    assert responses["422"]["content"]["application/json"]["schema"] == {
                        "$ref": "#/components/schemas/Invalid"}, where
                if "requestBody" in operation:
                    assert "413" in responses, where
    export = paths["/api/audit/export"]["get"]["responses"]["200"]["content"]
    assert set(export) == {"application/x-ndjson", "text/csv"}
    assert "503" in paths["/healthz"]["get"]["responses"]
    for path in ("/api/disputes", "/api/disputes/{dispute_id}/actions"):
        assert "503" in paths[path]["post"]["responses"]
    assert "HTTPValidationError" not in document["components"]["schemas"]  # every 422 is ours
    # pydantic writes a bound it cannot place (one after a validator) as `ge`/`le`: no reader knows those
    assert not set(_keys(document)) & {"ge", "gt", "le", "lt"}


def _keys(value: Any) -> Any:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from _keys(item)


FILING = filing()
TRICKY = ["", " ", "a", " a ", "\x85", "\x1d", "\ufeff", "\u3000a\u3000", "ab", "a b", "  a\x1cb  ",
          "a b c", "The partner registered first.", "a\x1db c dddddddddddddd", "a\ufeffb c ddddddddddddd",
          "   a b cccccccccccccccc   ", "aaaaaaaaaaaaa b c", "  a  b  c            ", "\x85x y zzzzzzzzzzzzzz\x85"]


def _accepted(adapter: Any, body: Any) -> bool:
    try:
        adapter.model_validate(body)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("text", TRICKY)
def test_text_patterns_say_what_validation_does(text: str) -> None:
    """The patterns of the OpenAPI document accept exactly the text the models accept (trimmed, then
    counted; a rationale of three words and 15 characters)."""
    schemas = _document()["components"]["schemas"]
    cases = [(model.Comment, {"action": "comment", "text": text}, schemas["Comment"]["properties"]["text"]),
             (model.Filing, {**FILING, "title": text}, schemas["Filing"]["properties"]["title"]),
             (model.Rule, {"action": "rule", "outcome": OUTCOME, "criteria": CRITERIA, "rationale": text},
              schemas["Rule"]["properties"]["rationale"])]
    for adapter, body, schema in cases:
        by_schema = schema["minLength"] <= len(text) if "minLength" in schema else True
        by_schema = by_schema and re.search(schema["pattern"], text) is not None
        assert by_schema == _accepted(adapter, body), (adapter.__name__, text)


def _round_trip(public: type[BaseModel], body: Any) -> Any:
    """The body as the route's response model serializes it."""
    return public.model_validate(body).model_dump(mode="json", exclude_unset=True)


def _stored(api: Api, dispute_id: str) -> dict[str, Any]:
    with Session(api.engine) as session:
        row = session.get(DisputeRow, dispute_id)
        assert row is not None
        view: dict[str, Any] = json.loads(row.view_json)
        return view


async def _read(api: Api, dispute_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The API's answer and the stored view it was made of (the fast charter's timers may change the
    dispute meanwhile: read again until the store did not change around the request)."""
    for _ in range(10):
        before = _stored(api, dispute_id)
        body = await api.dispute(dispute_id)
        if _stored(api, dispute_id) == before:
            return body, before
    raise AssertionError(f"{dispute_id} kept changing")


@pytest.mark.parametrize("stack_db_url", ["sqlite"], indirect=True)
async def test_answers_are_the_stored_views_unchanged(api: Api) -> None:
    ids = [await api.in_state(state) for state in
           ("frontline", "proposed", "mediation", "paused", "appeal_window", "executive", "resolved")]
    await api.ok(ids[3], "pat", "answer", text="We registered it on 1 May.")  # info_request with answers
    await api.ok(ids[4], "dana", "appeal", reason="The ruling ignores our registration")
    await api.ok(ids[5], "exec", "decide", outcome=OUTCOME, criteria=CRITERIA, rationale=RATIONALE)
    listed = {d["id"]: d for d in (await api.get("/api/disputes", "auditor", params={"limit": 1000})).json()}
    for dispute_id in ids:
        body, stored = await _read(api, dispute_id)
        assert _round_trip(DisputeDetailPublic, body) == body
        assert listed[dispute_id].keys() | {"registrations"} == body.keys()  # the claims: GET of one dispute only
        # the stored view, with only the SLA brought up to the moment of the request (and no registrations named)
        assert body == {**stored, "sla": body["sla"], "registrations": []}
        assert body["sla"].keys() == stored["sla"].keys()
        events = (await api.get(f"/api/disputes/{dispute_id}/audit", "auditor")).json()
        assert events and [_round_trip(AuditEventPublic, e) for e in events] == events
    assert (await api.dispute(ids[3]))["info_request"]["answers"]
    assert (await api.dispute(ids[4]))["appeal"]["reason"]
    verified = (await api.get("/api/audit/verify", "auditor")).json()
    assert _round_trip(VerifyPublic, verified) == verified

"""Input at the edges, over real HTTP on both stores: every 422 has one shape in plain words, no input
gives a 500 (integers past 64 bits, NUL and lone surrogates, %-escapes that are not UTF-8, booleans and
numeric strings where a number belongs, numbers where a date belongs, infinities), currencies must exist,
and a body over the limit is answered with 413 rather than a reset connection."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from api.app import create_app
from tests.api.conftest import CRITERIA, OUTCOME, RATIONALE, Api, filing, message_for, names_field, problems

BIG = "99999999999999999999999"  # past 64 bits


async def post_json(api: Api, path: str, who: str, body: Any) -> httpx.Response:
    """POST `body` as JSON written by Python's encoder: escapes for lone surrogates, NaN and Infinity
    as Python writes them (httpx's own encoder refuses both)."""
    headers = api.auth(who) | {"Content-Type": "application/json"}
    response = await api.http.post(path, content=json.dumps(body).encode(), headers=headers)
    if path == "/api/disputes" and response.status_code == 201:
        api.filed.append(response.json()["id"])
    return response


# --- one shape for every 422 ---------------------------------------------------------------------------

async def test_every_422_is_a_list_of_field_and_plain_message(api: Api) -> None:
    dispute_id = await api.in_state("frontline")
    cases: list[tuple[str, str, str, Any, str, str]] = [
        # (method, path, who, body or params, field, message) — pydantic's refusals first
        ("POST", "/api/disputes", "dana", filing(title="ab"), "title", "must be at least 3 characters long"),
        ("POST", "/api/disputes", "dana", filing(counterparty_email="pat at resellers"), "counterparty_email",
         "is not a valid e-mail address"),
        ("POST", "/api/disputes", "dana", {k: v for k, v in filing().items() if k != "title"}, "title",
         "is required"),
        ("POST", "/api/disputes", "dana", filing(deal_value=1e13), "deal_value", "must be at most 100,000,000,000"),
        ("POST", "/api/disputes", "dana", filing(priority="urgent"), "priority", "is not an accepted field"),
        ("GET", "/api/disputes", "dana", {"tier": 4}, "query.tier", "must be at most 3"),
        ("POST", f"/api/disputes/{dispute_id}/actions", "dana",
         {"action": "propose", "outcome": {**OUTCOME, "credit_split": {"direct": 60, "partner": 30}}},
         "outcome.credit_split", "must add up to 100 (got 60 + 30)"),
        ("POST", f"/api/disputes/{dispute_id}/actions", "mediator",
         {"action": "rule", "outcome": OUTCOME, "criteria": CRITERIA, "rationale": "Because"},
         "rationale", "must explain the decision: at least three words and 15 characters"),
        # then the domain's: in the API, in the store, and in the workflow's validator
        ("POST", "/api/disputes", "dana", filing(counterparty_email="ghost@corp.example"), "counterparty_email",
         "no Parley user ghost@corp.example"),
        ("POST", "/api/disputes", "dana", filing(conflict_type="registration_overlap"), "registration_ref",
         "required for registration_overlap conflicts"),
        ("POST", "/api/users", "admin", {"email": f"u-{uuid.uuid4().hex[:8]}@corp.example", "name": "P",
                                         "role": "rep", "channel": "partner"},
         "partner_org", "a partner user needs partner_org"),
        ("GET", "/api/audit/verify", "auditor", {"digest": "abc"}, "digest", "malformed digest 'abc'"),
        ("POST", f"/api/disputes/{dispute_id}/actions", "mediator", {"action": "reassign", "to": "exec@example.com"},
         "to", "exec@example.com is not a mediator"),
    ]
    failures = []
    for method, path, who, payload, field, message in cases:
        if method == "GET":
            response = await api.get(path, who, params=payload)
        else:
            response = await api.post(path, who, payload)
        if response.status_code != 422:
            failures.append(f"{path} {payload}: {response.status_code} {response.text}")
            continue
        found = message_for(response, field)  # checks the shape too: exactly {field, message}
        if not found.startswith(message):
            failures.append(f"{field}: {found!r} instead of {message!r}")
        for problem in problems(response):
            text = problem["message"]
            if "should" in text or "^" in text or "[A-Z" in text or text.startswith(field.capitalize()):
                failures.append(f"{field}: not plain words: {text!r}")
    assert not failures, "\n".join(failures)


async def test_a_body_that_is_not_utf8_is_a_422_too(api: Api) -> None:
    before = api.counts()
    headers = api.auth("dana") | {"Content-Type": "application/json"}
    for content in (b"\xff\xfe{}", '{"title": "caf\u00e9"}'.encode("latin-1"), b"\x80"):
        response = await api.http.post("/api/disputes", content=content, headers=headers)
        assert [p["field"] for p in problems(response)] == ["body"], (content, response.text)
    assert api.counts() == before
    assert (await api.get("/api/no-such-thing", "dana")).json() == {"detail": "Not Found"}  # other errors as before


@pytest.mark.parametrize("content_type", ["text/plain", None])
async def test_json_not_labelled_as_json_is_told_so(api: Api, content_type: str | None) -> None:
    before = api.counts()
    headers = api.auth("dana") | ({"Content-Type": content_type} if content_type else {})
    response = await api.http.post("/api/disputes", content=json.dumps(filing()).encode(), headers=headers)
    said = f"this request said {content_type!r}" if content_type else "this request had no Content-Type"
    assert problems(response) == [{"field": "body", "message": "must be a JSON object sent with Content-Type: "
                                                              f"application/json ({said})"}], response.text
    assert api.counts() == before


@pytest.mark.parametrize("text", ['{"deal_value": 1' + "0" * 5000 + "}", "[" * 100_000 + "]" * 100_000],
                         ids=["5000-digit number", "nested 100,000 deep"])
async def test_json_past_what_the_reader_takes_is_422_saying_why(api: Api, text: str) -> None:
    headers = api.auth("dana") | {"Content-Type": "application/json"}
    response = await api.http.post("/api/disputes", content=text.encode(), headers=headers)
    assert problems(response) == [{"field": "body", "message": "could not be read as JSON: it must be UTF-8 text, "
                                   "with no number longer than 4,300 digits and no nesting deeper than about 1,000 "
                                   "levels"}], response.text


async def test_other_errors_keep_a_sentence(api: Api) -> None:
    for response, status in [
        (await api.get("/api/disputes", None), 401),
        (await api.post("/api/disputes", "mediator", filing()), 403),
        (await api.get("/api/disputes/PRL-DEADBEEF", "dana"), 404),
        (await api.post("/api/users", "admin", {"email": api.email("dana"), "name": "Twin", "role": "rep",
                                                "channel": "direct"}), 409),
    ]:
        assert response.status_code == status, response.text
        assert isinstance(response.json()["detail"], str) and response.json()["detail"], response.text


# --- integers past 64 bits ---------------------------------------------------------------------------

@pytest.mark.parametrize(("params", "field"), [
    ({"offset": BIG}, "query.offset"),
    ({"offset": str(2**63)}, "query.offset"),
    ({"offset": "1000000001"}, "query.offset"),
    ({"limit": BIG}, "query.limit"),
    ({"tier": BIG}, "query.tier"),
    ({"offset": "9" * 5000}, "query.offset"),
])
async def test_an_integer_query_parameter_out_of_range_is_422(api: Api, params: dict[str, str], field: str) -> None:
    response = await api.get("/api/disputes", "dana", params=params)
    assert response.status_code == 422, response.text
    assert names_field(response, field), response.text


async def test_the_largest_offset_allowed_answers(api: Api) -> None:
    response = await api.get("/api/disputes", "dana", params={"offset": "1000000000"})
    assert response.status_code == 200 and response.json() == []


@pytest.mark.parametrize("digest", [
    f"v1:{BIG}:1:abc",
    f"v1:{BIG}:1:{'0' * 64}",
    f"v1:1:{BIG}:{'0' * 64}",
    f"v1:{2**63}:0:{'0' * 64}",
    f"v1:666549774582321:4:{'3e' * 32}",  # past PostgreSQL's 32-bit INTEGER ids (found by Schemathesis)
    f"v1:{2**31}:1:{'0' * 64}",
    f"v1:{'9' * 5000}:1:{'0' * 64}",
])
async def test_a_digest_with_numbers_past_64_bits_is_422(api: Api, digest: str) -> None:
    response = await api.get("/api/audit/verify", "auditor", params={"digest": digest})
    assert response.status_code == 422, response.text
    assert names_field(response, "digest"), response.text


# --- text no store can hold -------------------------------------------------------------------------

BAD_TEXT = {"nul": "\x00", "surrogate": "\ud800"}


@pytest.mark.parametrize("bad", BAD_TEXT)
async def test_a_filing_with_text_no_store_can_hold_is_422_and_starts_nothing(api: Api, bad: str) -> None:
    char = BAD_TEXT[bad]
    before = api.counts()
    failures = []
    for field in ("title", "account", "description", "region", "segment", "opportunity_ref", "registration_ref",
                  "partner_org", "counterparty_email", "currency", "evidence"):
        body = filing()
        body[field] = [f"CRM{char}note"] if field == "evidence" else f"{str(body.get(field) or 'x')[:2]}{char}x"
        response = await post_json(api, "/api/disputes", "dana", body)
        if response.status_code != 422 or not any(p["field"] in (field, f"{field}.0") for p in problems(response)):
            failures.append(f"{field}: {response.status_code} {response.text}")
    assert not failures, "\n".join(failures)
    assert api.counts() == before


@pytest.mark.parametrize("bad", BAD_TEXT)
async def test_an_action_with_text_no_store_can_hold_is_422(api: Api, bad: str) -> None:
    char = BAD_TEXT[bad]
    dispute_id = await api.in_state("frontline")
    before = api.people_events(dispute_id)
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("dana", {"action": "comment", "text": f"Hi{char}"}, "text"),
        ("dana", {"action": "propose", "outcome": OUTCOME, "note": f"Split{char}"}, "note"),
        ("dana", {"action": "propose", "outcome": {**OUTCOME, "terms": f"T{char}"}}, "outcome.terms"),
        ("dana", {"action": "escalate", "reason": f"Stuck{char}"}, "reason"),
        ("dana", {"action": "withdraw", "reason": f"Done{char}"}, "reason"),
        ("mediator", {"action": "reassign", "to": f"mediator2{char}@example.com"}, "to"),
        ("mediator", {"action": "rule", "outcome": OUTCOME, "criteria": CRITERIA, "rationale": f"{RATIONALE}{char}"},
         "rationale"),
    ]
    failures = []
    for who, body, field in cases:
        response = await post_json(api, f"/api/disputes/{dispute_id}/actions", who, body)
        if response.status_code != 422 or not names_field(response, field):
            failures.append(f"{field}: {response.status_code} {response.text}")
    assert not failures, "\n".join(failures)
    assert api.people_events(dispute_id) == before


@pytest.mark.parametrize("bad", BAD_TEXT)
async def test_a_user_with_text_no_store_can_hold_is_422(api: Api, bad: str) -> None:
    char = BAD_TEXT[bad]
    failures = []
    for field in ("email", "name", "partner_org", "region", "segment", "slack_user_id"):
        email = f"u-{uuid.uuid4().hex[:8]}@corp.example"
        body = {"email": email, "name": "New Rep", "role": "rep", "channel": "partner",
                "partner_org": "Resellers Inc", "region": "EMEA", "segment": "smb", "slack_user_id": "U0X"}
        body[field] = f"{body[field][:2]}{char}{body[field][2:]}"
        response = await post_json(api, "/api/users", "admin", body)
        if response.status_code != 422 or not names_field(response, field):
            failures.append(f"{field}: {response.status_code} {response.text}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize(("method", "path", "who", "field"), [
    ("GET", "/api/registrations/REG-%ED%A0%80", "pat", "path"),  # a lone surrogate, encoded as UTF-8
    ("GET", "/api/disputes/PRL-%FF", "dana", "path"),
    ("GET", "/api/disputes/PRL-%C3", "dana", "path"),  # cut short
    ("POST", "/api/disputes/PRL-%C0%80/actions", "dana", "path"),  # NUL spelt long: not UTF-8 either
    ("GET", "/api/registrations?account=%FF", "pat", "query"),
    ("GET", "/api/disputes?status=%ED%BF%BF", "dana", "query"),
    ("GET", "/api/disputes/PRL-%00", "dana", "path"),
    ("GET", "/api/disputes/PRL-%00/audit", "auditor", "path"),
    ("POST", "/api/disputes/PRL-%00/actions", "dana", "path"),
    ("POST", "/api/users/x%00@corp.example/tokens", "admin", "path"),
    ("DELETE", "/api/tokens/tok_%00", "admin", "path"),
    ("GET", "/api/disputes?status=%00", "dana", "query"),
    ("GET", "/api/audit/verify?digest=v1%00", "auditor", "query"),
])
async def test_a_path_or_query_no_store_can_hold_is_422(api: Api, method: str, path: str, who: str,
                                                        field: str) -> None:
    """A NUL, or %-escapes that do not decode to UTF-8 (the server would read each bad byte as U+FFFD)."""
    response = await api.http.request(method, path, headers=api.auth(who),
                                      json={"action": "comment", "text": "x"} if method == "POST" else None)
    assert response.status_code == 422, response.text
    assert names_field(response, field), response.text
    if "%00" not in path:
        assert message_for(response, field) == "must be UTF-8 text (its %-escapes decode to bytes that are not)"


async def test_utf_8_escapes_in_the_path_and_query_are_read_as_sent(api: Api) -> None:
    for path in ("/api/registrations/REG-%C3%A9t%C3%A9", "/api/registrations/REG-%EF%BF%BD",  # é, U+FFFD itself
                 "/api/disputes/PRL-%F0%9F%98%80"):
        response = await api.get(path, "pat")
        assert response.status_code == 404, (path, response.text)
    listed = await api.get("/api/registrations?account=%C3%A9t%C3%A9", "pat")
    assert listed.status_code == 200 and listed.json() == [], listed.text


# --- numbers are numbers ----------------------------------------------------------------------------

async def test_a_boolean_or_a_numeric_string_is_not_a_number(api: Api) -> None:
    before = api.counts()
    not_bool, not_text = "must be a number, not true or false", "must be a number, not text"
    for value, message in [(True, not_bool), (False, not_bool), ("1000", not_text), ("1e3", not_text)]:
        response = await api.post("/api/disputes", "dana", filing(deal_value=value))
        assert message_for(response, "deal_value") == message, response.text
    assert api.counts() == before
    dispute_id = await api.in_state("frontline")
    events = api.people_events(dispute_id)
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("dana", {"action": "propose", "outcome": {**OUTCOME, "credit_split": {"direct": True, "partner": 0}}},
         "outcome.credit_split.direct"),
        ("dana", {"action": "propose", "outcome": {**OUTCOME, "co_sell_stipend": True}}, "outcome.co_sell_stipend"),
        ("dana", {"action": "propose", "outcome": {**OUTCOME, "renewal_bonus_pct": "5"}},
         "outcome.renewal_bonus_pct"),
        ("dana", {"action": "propose", "outcome": {**OUTCOME, "discount_cap_pct": False}}, "outcome.discount_cap_pct"),
        ("mediator", {"action": "rule", "outcome": OUTCOME, "rationale": RATIONALE,
                      "criteria": {**CRITERIA, "strategic_fit": {"direct": True, "partner": 4}}},
         "criteria.strategic_fit.direct"),
        ("mediator", {"action": "rule", "outcome": OUTCOME, "rationale": RATIONALE,
                      "criteria": {**CRITERIA, "win_probability": {"direct": True, "partner": 0.5}}},
         "criteria.win_probability.direct"),
    ]
    failures = []
    for who, body, field in cases:
        response = await api.act(dispute_id, who, **body)
        if response.status_code != 422 or not names_field(response, field):
            failures.append(f"{field}: {response.status_code} {response.text}")
    assert not failures, "\n".join(failures)
    assert api.people_events(dispute_id) == events


@pytest.mark.parametrize("raw", ["NaN", "Infinity", "-Infinity", "1e400"])
async def test_a_number_that_is_not_finite_is_422(api: Api, raw: str) -> None:
    before = api.counts()
    headers = api.auth("dana") | {"Content-Type": "application/json"}
    text = json.dumps(filing(deal_value=12345)).replace("12345", raw)
    response = await api.http.post("/api/disputes", content=text.encode(), headers=headers)
    assert response.status_code == 422 and names_field(response, "deal_value"), response.text
    assert api.counts() == before
    dispute_id = await api.in_state("frontline")
    for field in ("co_sell_stipend", "renewal_bonus_pct", "discount_cap_pct"):
        text = json.dumps({"action": "propose", "outcome": {**OUTCOME, field: 12345}}).replace("12345", raw)
        response = await api.http.post(f"/api/disputes/{dispute_id}/actions", content=text.encode(), headers=headers)
        assert response.status_code == 422 and names_field(response, f"outcome.{field}"), response.text


# --- outcomes that contradict themselves -----------------------------------------------------------

async def test_an_outcome_giving_its_owner_no_credit_or_a_lapsed_protection_is_422(api: Api) -> None:
    frontline = await api.in_state("frontline")
    before = api.people_events(frontline)
    lapsed = (datetime.now(UTC).date() - timedelta(days=2)).isoformat()  # past in every time zone
    for outcome, field in [({"owner": "direct", "credit_split": {"direct": 0, "partner": 100}}, "outcome.credit_split"),
                           ({**OUTCOME, "price_protection_until": lapsed}, "outcome.price_protection_until")]:
        response = await api.act(frontline, "dana", "propose", outcome=outcome)
        assert names_field(response, field), response.text
    assert api.people_events(frontline) == before
    mediation = await api.in_state("mediation")
    response = await api.act(mediation, "mediator", "rule", outcome={**OUTCOME, "price_protection_until": lapsed},
                             criteria=CRITERIA, rationale=RATIONALE)
    assert names_field(response, "outcome.price_protection_until"), response.text
    assert (await api.dispute(mediation))["status"] == "mediation"


# --- dates are dates --------------------------------------------------------------------------------

DATE_FIELDS = {  # every date and date-time of a request body, as the OpenAPI document declares them
    ("POST /api/disputes/{dispute_id}/actions", "outcome.price_protection_until", "date"),
    ("POST /api/registrations", "expected_close", "date"),
    ("POST /api/registrations/{registration_id}/actions", "until", "date-time"),
    ("PUT /api/users/{email}/away", "from", "date"),
    ("PUT /api/users/{email}/away", "until", "date"),
}
NOT_A_DATE = "must be a date (YYYY-MM-DD), not a number"
NOT_A_MOMENT = "must be a date and time with its UTC offset (YYYY-MM-DDTHH:MM:SSZ or +02:00), not a number"


def test_every_date_a_request_takes_is_listed_here() -> None:
    """A date field added to a request body is added to DATE_FIELDS, and so to the test below."""
    document = create_app().openapi()
    schemas = document["components"]["schemas"]

    def dates(schema: dict[str, Any], path: tuple[str, ...], seen: frozenset[str]) -> Iterator[tuple[str, str]]:
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[1]
            if name not in seen:
                yield from dates(schemas[name], path, seen | {name})
            return
        if schema.get("format") in ("date", "date-time"):
            yield ".".join(path), schema["format"]
        for part in (*schema.get("anyOf", ()), *schema.get("oneOf", ()), *schema.get("allOf", ())):
            yield from dates(part, path, seen)
        for name, part in schema.get("properties", {}).items():
            yield from dates(part, (*path, name), seen)
        if "items" in schema:
            yield from dates(schema["items"], (*path, "0"), seen)

    found = {(f"{method.upper()} {path}", field, kind)
             for path, operations in document["paths"].items() for method, operation in operations.items()
             for content in operation.get("requestBody", {}).get("content", {}).values()
             for field, kind in dates(content["schema"], (), frozenset())}
    assert found == DATE_FIELDS


@pytest.mark.parametrize("number", [0, 12345, 1.5e9, "0", "12345"])
async def test_a_number_is_not_a_date(api: Api, number: Any) -> None:
    """pydantic would read 0 as 1970-01-01 and 12345 as a moment of that day (Unix time), "0" too."""
    before = api.counts()
    dispute_id = await api.in_state("frontline")
    events = api.people_events(dispute_id)
    proposed = await api.act(dispute_id, "dana", "propose", outcome={**OUTCOME, "price_protection_until": number})
    assert message_for(proposed, "outcome.price_protection_until") == NOT_A_DATE
    assert api.people_events(dispute_id) == events
    registration = {"account": f"Acme {uuid.uuid4().hex[:6]}", "title": "Renewal", "deal_value": 9000,
                    "region": "EMEA"}
    refused = await api.post("/api/registrations", "pat", {**registration, "expected_close": number})
    assert message_for(refused, "expected_close") == NOT_A_DATE
    # (the body is read before the registration is looked up: none is needed, and none is left running)
    extended = await api.post("/api/registrations/REG-00000000/actions", "mediator",
                              {"action": "extend", "until": number})
    assert message_for(extended, "until") == NOT_A_MOMENT
    mediator = api.email("mediator")
    for field in ("from", "until"):
        away = {"from": "2099-01-01", "until": "2099-01-02", "delegate": api.email("mediator2"), field: number}
        response = await api.http.put(f"/api/users/{mediator}/away", headers=api.auth("admin"), json=away)
        assert message_for(response, field) == NOT_A_DATE
    assert (await api.get("/api/users/me", "mediator")).json()["away"] is None
    assert api.counts()[0] == before[0] + 1  # the frontline dispute only


# --- currency ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("code", ["ZZZ", "XXX", "ABC"])
async def test_a_currency_that_does_not_exist_is_422(api: Api, code: str) -> None:
    before = api.counts()
    response = await api.post("/api/disputes", "dana", filing(currency=code))
    assert message_for(response, "currency") == f"{code} is not an ISO 4217 currency code"
    assert api.counts() == before


async def test_an_existing_currency_is_kept(api: Api) -> None:
    dispute = await api.file(currency="JPY")
    assert dispute["currency"] == "JPY"


@pytest.mark.parametrize(("code", "name"), [("DEM", "German Mark"), ("BGN", "Bulgarian Lev"),
                                            ("CNH", "Chinese Yuan (offshore)")])
async def test_a_currency_no_longer_in_use_is_422_for_a_filing_and_a_registration(api: Api, code: str,
                                                                                   name: str) -> None:
    """Withdrawn from ISO 4217 (DEM in 2002, BGN when Bulgaria took the euro in 2026), or never in it (CNH)."""
    before = api.counts()
    response = await api.post("/api/disputes", "dana", filing(currency=code))
    assert message_for(response, "currency") == f"{code} ({name}) is not an ISO 4217 currency in use"
    assert api.counts() == before
    registration = {"account": f"Acme {uuid.uuid4().hex[:6]}", "title": "Renewal", "deal_value": 9000,
                    "currency": code, "region": "EMEA"}
    response = await api.post("/api/registrations", "pat", registration)
    assert message_for(response, "currency") == f"{code} ({name}) is not an ISO 4217 currency in use"
    schema = (await api.http.get("/openapi.json")).json()["components"]["schemas"]
    for model in ("Filing", "RegistrationIn"):
        codes = schema[model]["properties"]["currency"]["enum"]
        assert code not in codes and {"EUR", "USD", "JPY", "XCG"} <= set(codes), model


# --- 413, answered ----------------------------------------------------------------------------------

THREE_MB = 3 * 1024 * 1024


async def raw_post(api: Api, *, chunked: bool, close: bool) -> tuple[int, dict[str, Any]]:
    """POST 3 MB over a plain socket, all of it, then read the answer: (status, JSON body).
    With `Connection: close` (as urllib sends) the server closes once it has answered: unless it has
    read the whole body by then, the client's writes meet a reset and the answer is lost."""
    url = httpx.URL(str(api.http.base_url))
    reader, writer = await asyncio.open_connection(url.host, url.port)
    try:
        head = (f"POST /api/disputes HTTP/1.1\r\nHost: {url.host}\r\nContent-Type: application/json\r\n"
                f"Authorization: Bearer {api.tokens['dana']}\r\n" + ("Connection: close\r\n" if close else ""))
        piece = b"x" * (64 * 1024)
        if chunked:
            writer.write((head + "Transfer-Encoding: chunked\r\n\r\n").encode())
            for _ in range(THREE_MB // len(piece)):
                writer.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                await writer.drain()
            writer.write(b"0\r\n\r\n")
        else:
            writer.write((head + f"Content-Length: {THREE_MB}\r\n\r\n").encode())
            for _ in range(THREE_MB // len(piece)):
                writer.write(piece)
                await writer.drain()
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 20)
        headers: dict[str, str] = {}
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers["content-length"]))
        return int(status_line.split()[1]), json.loads(body)
    finally:
        writer.close()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_3mb_body_is_answered_413_every_time(api: Api, chunked: bool) -> None:
    before = api.counts()
    for attempt in range(6):
        status, body = await raw_post(api, chunked=chunked, close=attempt % 2 == 0)
        assert status == 413, (attempt, status, body)
        assert "larger than" in body["detail"], body

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(48):
            yield b"y" * (64 * 1024)

    headers = api.auth("dana") | {"Content-Type": "application/json"}
    for attempt in range(3):
        content: bytes | AsyncIterator[bytes] = chunks() if chunked else b"y" * THREE_MB
        response = await api.http.post("/api/disputes", content=content, headers=headers)
        assert response.status_code == 413, (attempt, response.text)
        assert "larger than" in response.json()["detail"]
    # the connection is still good for the next request
    assert (await api.get("/api/disputes", "dana")).status_code == 200
    assert api.counts() == before

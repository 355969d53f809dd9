"""The auditor's pages on a damaged trail: verification says what is wrong (never a 422 or a 500),
and the exports still hold every event (no Temporal: these pages only read)."""

from __future__ import annotations

import csv
import html as html_lib
import io
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select, text, update

from store.tables import AUDIT_EVENTS
from tests.web.conftest import Seeded

E = AUDIT_EVENTS.c


@pytest.fixture
def damaged(seeded: Seeded) -> Iterator[Any]:
    """Damages (through `apply(column, sql_value)`) event 2 of the ruled dispute; undone afterwards."""
    dispute_id = seeded.ids["ruled"]
    where = (E.dispute_id == dispute_id) & (E.seq == 2)
    with seeded.engine.connect() as conn:
        original = conn.execute(select(AUDIT_EVENTS).where(where)).one()

    def apply(column: str, value: str) -> Any:
        with seeded.engine.begin() as conn:
            conn.execute(text(f"UPDATE audit_events SET {column} = {value} WHERE id = :id"), {"id": original.id})
        return original

    try:
        yield apply
    finally:
        with seeded.engine.begin() as conn:
            conn.execute(update(AUDIT_EVENTS).where(E.id == original.id).values(
                {name: getattr(original, name) for name in original._fields if name != "id"}))


def verdict(html: str) -> str:
    found = re.search(r'<div class="verify-result[^"]*"[^>]*>\s*<p>(.*?)</p>', html, re.S)
    assert found, "no verification result on the page"
    return html_lib.unescape(re.sub(r"<[^>]+>", "", found[1])).strip()


def total_events(seeded: Seeded) -> int:
    with seeded.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(AUDIT_EVENTS)).scalar_one())


@pytest.mark.parametrize(("column", "value", "words", "place"), [
    ("at", "'infinity'", "the time (at) is not a time in the form Parley stores (stored: 'infinity')", " event 2"),
    ("at", "'not a time'", "the time (at) is not a time", " event 2"),
    ("tier", "'two'", "the tier is not a whole number (stored: 'two')", " event 2"),
    ("payload", "'{\"text\": \"x\"}'", "hash mismatch", " event 2"),
    ("seq", "'two'", "the sequence number (seq) is not a whole number (stored: 'two')", "."),
])
def test_verify_page_reports_damage(seeded: Seeded, damaged: Any, column: str, value: str, words: str,
                                    place: str) -> None:
    web = seeded.web.sign_in("auditor")
    saved = re.search(r'id="digest-now" class="mono" readonly value="([^"]+)"', web.get("/audit/verify").text)
    assert saved, "no digest offered"
    original = damaged(column, value)
    for params in ({}, {"digest": saved[1]}):
        response = web.get("/audit/verify", params=params)
        assert response.status_code == 200, response.text[:2000]
        said = verdict(response.text)
        assert said.startswith("The trail does not verify."), said
        assert words in said and f"event id {original.id}" in said, said
        assert f"first at {original.dispute_id}{place}" in said, said  # "event None" is never shown


def test_exports_stay_whole_on_a_damaged_trail(seeded: Seeded, damaged: Any) -> None:
    original = damaged("at", "'yesterday'")
    damaged("tier", "'two'")
    total = total_events(seeded)
    web = seeded.web.sign_in("auditor")
    response = web.get("/audit/export.jsonl")
    assert response.status_code == 200
    records = [json.loads(line) for line in response.text.splitlines()]
    assert len(records) == total
    mine = next(r for r in records if r["id"] == original.id)
    assert (mine["at"], mine["tier"]) == ("yesterday", "two")  # as stored
    response = web.get("/audit/export.csv")
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == total
    mine_csv = next(r for r in rows if r["id"] == str(original.id))
    assert (mine_csv["at"], mine_csv["tier"]) == ("yesterday", "two")


def test_a_malformed_digest_is_still_the_auditors_422(seeded: Seeded, damaged: Any) -> None:
    damaged("at", "'infinity'")
    response = seeded.web.sign_in("auditor").get("/audit/verify", params={"digest": "v1:nonsense"})
    assert response.status_code == 422
    assert "malformed digest" in response.text


@pytest.mark.parametrize("value", ["'infinity'", "'not a time'"])
def test_the_dispute_page_shows_a_damaged_event_as_stored(damaged: Any, seeded: Seeded, value: str) -> None:
    damaged("at", value)
    page = seeded.web.sign_in("auditor").get(f"/disputes/{seeded.ids['ruled']}")
    assert page.status_code == 200
    assert html_lib.escape(value.strip("'")) in page.text

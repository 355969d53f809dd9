"""The partner review page (`/partners/{org}`), its CSV, `GET /api/partners/{org}/review` and the
dashboard's additions, with FastAPI's TestClient over the known disputes of tests/store/partner_samples.py
on each store, the app's clock pinned to `NOW` (15 April 2026, New York): no Temporal, no today."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from xml.etree import ElementTree

import httpx
import pytest

from api.app import create_app
from store.db import make_engine
from tests.harness.paths import DEFAULT_CHARTER
from tests.harness.people import seed_people
from tests.harness.ports import closed_port
from tests.harness.stack import make_settings
from tests.pg import migrated_database
from tests.store.partner_samples import NOW, ORG_A, Samples, seed
from tests.web.conftest import TestClient, Web

PAGE = "/partners/Resellers%20Inc"
API = "/api/partners/Resellers%20Inc/review"


@dataclass
class Site:
    web: Web
    client: TestClient
    tokens: dict[str, str]
    samples: Samples

    def api(self, path: str, who: str | None, **params: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        answer: httpx.Response = self.client.get(path, params=params, headers=headers)
        return answer


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with migrated_database(request, tmp_path_factory, "partners") as url:
        engine = make_engine(url)
        try:
            tokens, _ = seed_people(engine)
            samples = seed(engine, people=False)
            settings = make_settings(url, tmp_path_factory.mktemp("partners-var"), f"127.0.0.1:{closed_port()}",
                                     charter=DEFAULT_CHARTER)
            with TestClient(create_app(settings, clock=lambda: NOW)) as client:
                yield Site(web=Web(client, tokens), client=client, tokens=tokens, samples=samples)
        finally:
            engine.dispose()


# --- the page ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("who", "status"), [("mediator", 200), ("exec", 200), ("auditor", 200), ("admin", 200),
                                             ("dana", 403), ("pat", 403)])
def test_the_review_page_is_for_leaders(site: Site, who: str, status: int) -> None:
    assert site.web.sign_in(who).get(PAGE).status_code == status


def test_an_unknown_organisation_is_a_404_page_and_a_rep_learns_nothing(site: Site) -> None:
    assert site.web.sign_in("auditor").get("/partners/Nobody%20Ltd").status_code == 404
    assert site.web.sign_in("pat").get("/partners/Nobody%20Ltd").status_code == 403


def test_the_review_page_shows_the_last_full_quarter(site: Site) -> None:
    html = site.web.sign_in("auditor").get("/partners/resellers%20INC").text
    assert "<h1>Partner review: Resellers Inc</h1>" in html
    assert "filed 2026-01-01 – 2026-03-31" in html and "Q1 2026, the last full quarter" in html
    assert 'name="from" value="2026-01-01"' in html and 'name="to" value="2026-03-31"' in html
    kpis = {label: int(n) for n, label in re.findall(r'<span class="n">(\d+)</span> ([a-z ]+)</li>', html)}
    assert kpis == {"filed": 5, "still open": 1, "resolved": 3, "withdrawn": 1}
    credit = re.search(r'<table id="partner-credit">.*?</table>', html, re.S)
    assert credit and "<td>1.3</td><td>1.7</td>" in credit[0] and "EUR 130,000" in credit[0]
    assert "EUR 270,000" in credit[0] and "USD 80,000" in credit[0]
    assert re.search(r'id="partner-deviation">2 of 3 rulings and decisions \(67%\)', html)
    assert "3 registrations submitted" in html and "Closed: 1 won, 1 lost." in html
    assert "2 overlaps found" in html and "1 of them named by a dispute" in html
    listed = re.findall(r'<a href="/disputes/(PRL-[A-Z0-9]+)">', html)
    assert listed == [site.samples.ids[k] for k in ("a1", "a2", "a3", "a4", "a5")]
    verdicts = re.findall(r'<td data-label="Recommendation">([^<]+)</td>', html)
    assert verdicts == ["departed", "–", "departed", "–", "–"]  # a3's final word is the executive's
    assert 'href="/partners/Resellers%20Inc.csv?from=2026-01-01&amp;to=2026-03-31"' in html
    assert 'href="/api/partners/Resellers%20Inc/review?from=2026-01-01&amp;to=2026-03-31"' in html


def test_the_review_page_lists_only_what_the_viewer_may_open(site: Site) -> None:
    html = site.web.sign_in("exec").get(PAGE).text
    assert set(re.findall(r'<a href="/disputes/(PRL-[A-Z0-9]+)">', html)) == {site.samples.ids["a3"],
                                                                             site.samples.ids["a4"]}
    assert "3 disputes of the period are counted above but not listed" in html


def test_a_chosen_period(site: Site) -> None:
    html = site.web.sign_in("mediator").get(PAGE, params={"from": "2026-04-01", "to": "2026-04-30"}).text
    assert "filed 2026-04-01 – 2026-04-30" in html and "the last full quarter" not in html
    assert re.findall(r'<a href="/disputes/(PRL-[A-Z0-9]+)">', html) == [site.samples.ids["late"]]


@pytest.mark.parametrize(("params", "field", "words"), [
    ({"from": "2026-02-30"}, "from", "Is not a date; write it as YYYY-MM-DD"),
    ({"from": "2026-03-01", "to": "2026-01-31"}, "to", "2026-01-31 is before from (2026-03-01)"),
])
def test_bad_dates_are_shown_next_to_their_field(site: Site, params: dict[str, str], field: str, words: str) -> None:
    answer = site.web.sign_in("auditor").get(PAGE, params=params)
    assert answer.status_code == 422
    error = re.search(rf'<p class="error" id="period-{field}-error"><span class="sr-only">Error: </span>([^<]+)</p>',
                      answer.text)
    assert error and words in error[1]
    assert f'aria-describedby="period-{field}-error"' in answer.text
    assert 'id="partner-disputes"' not in answer.text


# --- the CSV ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", [f"{PAGE}.csv", f"{PAGE}?format=csv"])
def test_the_csv(site: Site, path: str) -> None:
    answer = site.web.sign_in("admin").get(path)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"] == (
        'attachment; filename="parley-partner-resellers-inc-2026-01-01-2026-03-31.csv"')
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [r["dispute_id"] for r in rows] == [site.samples.ids[k] for k in ("a1", "a2", "a3", "a4", "a5")]
    a3 = rows[2]
    assert (a3["owner"], a3["direct_pct"], a3["partner_credit"], a3["follows_recommendation"]) == (
        "direct", "80", "60000", "no")
    later = site.web.get(f"{PAGE}.csv", params={"from": "2026-04-01", "to": "2026-04-30"})
    assert [r["dispute_id"] for r in csv.DictReader(io.StringIO(later.text))] == [site.samples.ids["late"]]


def test_the_csv_refuses_whom_the_page_refuses(site: Site) -> None:
    assert site.web.sign_in("dana").get(f"{PAGE}.csv").status_code == 403
    web = site.web.sign_in("auditor")
    assert web.get("/partners/Nobody.csv").status_code == 404
    assert web.get(f"{PAGE}.csv", params={"to": "soon"}).status_code == 422
    assert web.get(PAGE, params={"format": "xml"}).status_code == 404


# --- the JSON endpoint ----------------------------------------------------------------------------------

@pytest.mark.parametrize("who", ["mediator", "exec", "auditor", "admin"])
def test_the_json_review(site: Site, who: str) -> None:
    answer = site.api(API, who)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["org"], body["from"], body["to"], body["timezone"]) == (
        ORG_A, "2026-01-01", "2026-03-31", "America/New_York")
    assert body["disputes"] == {"filed": 5, "open": 1, "resolved": 3, "withdrawn": 1}
    assert body["outcomes"] == {"direct": 1, "partner": 1, "co_sell": 1}
    assert body["credit"]["deals"] == {"partner": 1.3, "direct": 1.7}
    assert body["credit"]["by_currency"] == [{"currency": "EUR", "partner": 130000.0, "direct": 270000.0},
                                             {"currency": "USD", "partner": 80000.0, "direct": 120000.0}]
    assert body["time_to_resolution"]["resolved"] == 3
    assert body["time_to_resolution"]["median_s"] == pytest.approx(
        site.samples.median_resolution("a1", "a2", "a3"), abs=0.01)
    assert body["recommendations"] == {"decisions": 3, "departed": 2, "deviation_rate": 0.6667}
    assert body["registrations"] == {"submitted": 3, "by_status": {"approved": 1, "closed": 2}, "won": 1, "lost": 1}
    assert body["overlaps"] == {"found": 2, "disputed": 1}
    listed = {d["id"]: d for d in body["listed"]}
    assert len(listed) + body["not_visible"] == 5
    if who == "auditor":
        a1 = listed[site.samples.ids["a1"]]
        assert (a1["owner"], a1["credit_split"], a1["follows_recommendation"]) == (
            "partner", {"direct": 30.0, "partner": 70.0}, False)


def test_the_json_review_of_a_chosen_period(site: Site) -> None:
    body = site.api(API, "auditor", **{"from": "2026-03-01", "to": "2026-04-30"}).json()
    assert (body["from"], body["to"], body["disputes"]["filed"]) == ("2026-03-01", "2026-04-30", 4)


@pytest.mark.parametrize(("who", "path", "params", "status", "field"), [
    (None, API, {}, 401, None),
    ("dana", API, {}, 403, None),
    ("pat", API, {}, 403, None),
    ("auditor", "/api/partners/Nobody%20Ltd/review", {}, 404, None),
    ("auditor", API, {"from": "01/02/2026"}, 422, "from"),
    ("auditor", API, {"to": "2026-02-30"}, 422, "to"),
    ("auditor", API, {"from": "2026-03-01", "to": "2026-02-01"}, 422, "to"),
])
def test_the_json_review_refuses(site: Site, who: str | None, path: str, params: dict[str, str], status: int,
                                 field: str | None) -> None:
    answer = site.api(path, who, **params)
    assert answer.status_code == status, answer.text
    detail = answer.json()["detail"]
    if field:
        assert [problem["field"] for problem in detail] == [field] and detail[0]["message"]
    else:
        assert isinstance(detail, str) and detail


# --- the dashboard's additions ---------------------------------------------------------------------------

def test_the_dashboard_adds_deviation_partners_and_resolution(site: Site) -> None:
    html = site.web.sign_in("exec").get("/dashboard?period=all").text
    charts = re.findall(r'<svg class="chart".*?</svg>', html, re.S)
    assert len(charts) == 9
    for chart in charts:
        ElementTree.fromstring(chart)
    assert 'id="chart-deviation"' in html and 'id="chart-resolution"' in html
    deviation = re.search(r'<table id="deviation-data">.*?</table>', html, re.S)
    assert deviation
    rows = re.findall(r'<th scope="row">([^<]+) <span class="muted">([^<]+)</span></th><td>(\w+)</td>'
                      r'<td>(\d+)</td><td>(\d+)</td><td>(\d+)%</td>', deviation[0])
    assert rows == [("Mia Mediator", "mediator@example.com", "mediator", "1", "3", "33"),
                    ("Eve Executive", "exec@example.com", "executive", "1", "1", "100")]
    partners = re.search(r'<table id="partner-data">.*?</table>', html, re.S)
    assert partners
    assert re.findall(r'<a href="/partners/([^"]+)">', partners[0]) == ["Resellers%20Inc", "Other%20Partners%20Ltd"]
    assert "<td>7</td><td>3</td>" in partners[0] and "EUR 130,000; USD 80,000" in partners[0]
    resolution = re.search(r'<table id="resolution-data">.*?</table>', html, re.S)
    assert resolution
    assert re.findall(r'<th scope="row">([a-z ]+)</th><td>[^<]+</td><td>(\d+)</td>', resolution[0]) == [
        ("account ownership", "3"), ("discount undercut", "1")]
    consistency = re.search(r'<table id="precedent-consistency">.*?</table>', html, re.S)
    assert consistency
    rows = re.findall(r'<th scope="row">([^<]+) <span class="muted">([^<]+)</span></th><td>(\w+)</td>'
                      r'<td>(\d+)</td><td>(\d+)</td><td>(\d+)%</td>', consistency[0])
    assert rows == [("Mia Mediator", "mediator@example.com", "mediator", "0", "1", "100"),  # the rulings
                    ("Eve Executive", "exec@example.com", "executive", "1", "1", "0")]  # without precedents: none


def test_the_dashboard_says_when_a_period_has_none(site: Site) -> None:
    html = site.web.sign_in("auditor").get("/dashboard?period=7d").text  # since 8 April: nothing filed
    assert "No ruling or decision with a recommendation in the period." in html
    assert "No ruling or decision consulted precedents in the period." in html
    assert "No dispute resolved in the period." in html
    assert "No dispute with a partner organisation in the period." in html

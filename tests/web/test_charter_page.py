"""The charter page (`/charter`): the version in force and its text, the days off it gives this year
(public holidays by name and the charter's own dates), the change log, a diff between versions, and the
admin's form to adopt a version. Only the store is needed (no Temporal); the app's clock is pinned."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from api.app import create_app
from store.db import make_engine, migrate
from tests.harness.paths import ROOT
from tests.harness.ports import closed_port
from tests.harness.stack import make_settings
from tests.reference_times import REFERENCE_TIMES
from tests.web.conftest import TestClient, Web, csrf_of, seed_people

US_CHARTER = ROOT / "charters" / "us_holidays.toml"
US_TEXT = US_CHARTER.read_text()


@dataclass
class Clock:
    now: datetime


@dataclass
class Page:
    web: Web
    clock: Clock


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    data: Path = tmp_path_factory.mktemp("charter-page")
    url = f"sqlite:///{data / 'parley.db'}"
    migrate(url)
    engine = make_engine(url)
    tokens, _ = seed_people(engine)
    engine.dispose()
    clock = Clock(REFERENCE_TIMES["wednesday-noon"])
    settings = make_settings(url, data, f"127.0.0.1:{closed_port()}", charter=US_CHARTER)  # no Temporal needed
    with TestClient(create_app(settings, clock=lambda: clock.now)) as client:
        yield Page(Web(client, tokens), clock)


def section(text: str, section_id: str) -> str:
    found = re.search(rf'<section[^>]*id="{section_id}".*?</section>', text, re.S)
    assert found, f"no section #{section_id}"
    return found[0]


def days_off(text: str) -> dict[str, str]:
    rows = re.findall(r'<td data-label="Date" class="mono">([\d-]+)</td>.*?<td data-label="What">(.*?)</td>',
                      section(text, "holidays"), re.S)
    return {day: html.unescape(what) for day, what in rows}


def test_everyone_signed_in_sees_the_charter_in_force_and_this_years_days_off(page: Page) -> None:
    page.clock.now = REFERENCE_TIMES["wednesday-noon"]
    for who in ("dana", "pat", "auditor"):
        response = page.web.sign_in(who).get("/charter")
        assert response.status_code == 200, response.text
        text = response.text
        assert "Example Corp channel charter (US public holidays)" in text and "2026.1-us+" in text
        assert 'name="toml"' not in text and 'action="/charter"' not in text.replace('action="/charter#diff"', "")
    off = days_off(text)
    assert off["2026-11-26"] == "Thanksgiving Day (US)"
    assert off["2026-07-03"] == "Independence Day (observed) (US)"
    assert off["2026-12-24"] == "the charter's own date"
    assert off["2026-12-25"] == "Christmas Day (US)"
    assert all(day.startswith("2026-") for day in off) and "2027-01-01" not in off
    assert "Days off in 2026" in text and "Public holidays of US" in text
    assert html.escape('holidays_from = ["US"]', quote=False) in section(text, "text").replace("&#34;", '"')
    assert "Only one version has been adopted so far." in section(text, "diff")
    assert '<span class="badge st-resolved">in force</span>' in section(text, "log")
    assert 'href="/charter" aria-current="page">Charter</a>' in text


def test_the_year_is_the_charters_own(page: Page) -> None:
    page.clock.now = REFERENCE_TIMES["new-years-eve-23:59"]  # already 2027 in UTC, still 2026 in New York
    text = page.web.sign_in("dana").get("/charter").text
    assert "Days off in 2026" in text and "2026-12-31" in days_off(text)
    page.clock.now = REFERENCE_TIMES["wednesday-noon"]


def test_an_admin_adopts_a_version_and_the_page_shows_the_log_and_the_diff(page: Page) -> None:
    web = page.web.sign_in("admin")
    form = web.get("/charter").text
    textarea = re.search(r'<textarea[^>]*name="toml"[^>]*>(.*?)</textarea>', form, re.S)
    assert textarea and html.unescape(textarea[1]) == US_TEXT  # the text in force, to edit
    new_text = US_TEXT.replace('version = "2026.1-us"', 'version = "2026.2-us"').replace(
        'holidays_from = ["US"]', 'holidays_from = ["US", "GB-ENG"]  # <script>alert(1)</script> & London')
    response = web.post("/charter", {"toml": new_text.replace("\n", "\r\n"), "reason": "London joins <the> team"})
    assert response.status_code == 303 and response.headers["location"] == "/charter", response.text
    text = web.get("/charter").text
    assert "Adopted 2026.2-us+" in text and "new disputes pin it" in text
    assert "<script>alert" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text  # escaped, in text and diff
    log = section(text, "log")
    assert log.index("2026.2-us+") < log.index("2026.1-us+") and "London joins &lt;the&gt; team" in log
    assert "root@corp.example" in log and "system:api" in log
    diff = section(text, "diff")
    assert re.search(r"<del>-holidays_from = \[&#34;US&#34;\]\s+# federal holidays", diff)
    assert "<ins>+holidays_from = [&#34;US&#34;, &#34;GB-ENG&#34;]" in diff
    assert '<del>-version = &#34;2026.1-us&#34;</del>' in diff and '<ins>+version = &#34;2026.2-us&#34;</ins>' in diff
    assert days_off(text)["2026-12-28"] == "Boxing Day (observed) (GB-ENG)"
    assert "Christmas Day (US); Christmas Day (GB-ENG)" in days_off(text)["2026-12-25"]

    again = web.post("/charter", {"toml": new_text, "reason": "Once more"})
    assert again.status_code == 303
    assert "is the charter in force already: nothing changed" in web.get("/charter").text

    versions = re.findall(r'<option value="([^"]+)"', section(text, "diff"))
    old, new = versions[-1], versions[0]
    swapped = web.get("/charter", params={"old": new, "new": old}).text
    assert '<ins>+version = &#34;2026.1-us&#34;</ins>' in section(swapped, "diff")
    assert web.get("/charter", params={"old": "no-such-version"}).status_code == 404


def test_a_refused_charter_shows_each_problem_on_the_form(page: Page) -> None:
    web = page.web.sign_in("admin")
    before = section(web.get("/charter").text, "log")
    bad = US_TEXT.replace('holidays_from = ["US"]', 'holidays_from = ["XX"]').replace(
        'executive = "exec@example.com"', 'executive = "nobody@example.com"')
    response = web.post("/charter", {"toml": bad, "reason": ""})
    assert response.status_code == 422
    text = html.unescape(response.text)
    assert "calendar.holidays_from: 'XX' is not a country the holidays package knows" in text
    assert "reason: must say why the charter changes" in text
    assert 'holidays_from = ["XX"]' in text  # what was typed, to correct
    people = web.post("/charter", {"toml": US_TEXT.replace('executive = "exec@example.com"',
                                                           'executive = "nobody@example.com"'), "reason": "New exec"})
    assert people.status_code == 422
    assert "routing.executive: nobody@example.com is not a Parley user" in html.unescape(people.text)
    assert section(web.get("/charter").text, "log") == before


def test_only_admins_adopt_and_only_with_the_forms_token(page: Page) -> None:
    web = page.web.sign_in("mediator")
    before = section(web.get("/charter").text, "log")
    assert web.post("/charter", {"toml": US_TEXT, "reason": "Mine now"}).status_code == 403
    admin = page.web.sign_in("admin")
    assert admin.post("/charter", {"toml": US_TEXT, "reason": "No token"}, csrf="forged").status_code == 403
    assert section(admin.get("/charter").text, "log") == before
    assert csrf_of(admin.get("/charter").text)

"""The pages in a real browser: Debian's Chromium driven by Playwright (async API) against the app
served by uvicorn, with a Temporal dev server and the real worker behind it (the `stack` fixture).

Each test saves screenshots under test-artifacts/screenshots/; the dispute page and the dashboard
are copied to docs/screenshots/ for the README. Without /usr/bin/chromium these tests fail under CI
(`make test` installs it) and are skipped elsewhere.
"""

from __future__ import annotations

import csv
import io
import json
import random
import re
from typing import Any

from playwright.async_api import Browser, BrowserContext, Page, expect

from domain.charter import Weights
from domain.model import Criteria
from domain.scoring import recommend
from tests.web.conftest import (
    PEOPLE,
    RATIONALE,
    Stack,
    publish_screenshot,
    screenshot_path,
)

TIMEOUT_MS = 15_000



async def signed_in(browser: Browser, stack: Stack, who: str, **options: Any) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(base_url=stack.url, **options)
    context.set_default_timeout(TIMEOUT_MS)
    page = await context.new_page()
    await page.goto("/sign-in")
    await page.get_by_label("Your Parley token").fill(stack.tokens[who])
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("status").first).to_contain_text(f"Signed in as {PEOPLE[who].name}")
    return context, page


def file_quickly(stack: Stack, **overrides: Any) -> str:
    """A dispute filed by dana through the form, with the TestClient (the browser test is about what follows)."""
    return stack.web.sign_in("dana").file(**overrides)


async def test_sign_in_and_file_a_dispute_through_the_form(browser: Browser, stack: Stack) -> None:
    context = await browser.new_context(base_url=stack.url)
    page = await context.new_page()
    await page.goto("/")
    await expect(page).to_have_url(re.compile(r"/sign-in\?next=/$"))
    await page.keyboard.press("Tab")  # the skip link comes first
    assert await page.evaluate("document.activeElement.className") == "skip-link"
    await page.get_by_label("Your Parley token").fill("prl_wrong")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#signin-token-error")).to_contain_text("unknown or has been revoked")
    await page.get_by_label("Your Parley token").fill(stack.tokens["dana"])
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Waiting on me")

    await page.get_by_role("navigation", name="Main").get_by_role("link", name="File a dispute").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("File a channel conflict")
    await page.get_by_label("Conflict type").select_option("registration_overlap")
    await page.get_by_label("Description").fill("Pat's team registered the Initrode expansion we sourced.")
    await page.get_by_label("Customer account").fill("Initrode")
    await page.get_by_label("Deal value").fill("480000")
    await page.get_by_label("Currency").fill("usd")
    await page.get_by_label("Counterparty").select_option(PEOPLE["pat"].email)
    await page.get_by_role("button", name="File the dispute").click()
    # no title, no registration reference: the errors are next to their fields, the summary has the focus
    await expect(page.locator(".error-summary")).to_be_focused()
    await expect(page.locator("#file-title-error")).to_have_text("Error: Required.")
    await expect(page.locator("#file-registration-ref-error")).to_contain_text("Required for registration_overlap")
    await expect(page.get_by_label("Customer account")).to_have_value("Initrode")  # kept
    await page.screenshot(path=screenshot_path("file-form-errors"), full_page=True)
    await page.locator(".error-summary a[href='#file-title']").click()
    await expect(page.get_by_label("Title")).to_be_focused()
    await page.get_by_label("Title").fill("Initrode expansion registered twice")
    await page.get_by_label("Deal registration reference").fill("REG-2207")
    await page.get_by_role("button", name="File the dispute").click()

    await expect(page).to_have_url(re.compile(r"/disputes/PRL-[0-9A-F]{8}$"))
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Initrode expansion registered twice")
    await expect(page.locator(".flash").first).to_contain_text("It is at frontline now")
    await expect(page.locator("#timeline li")).to_have_count(1)
    await page.screenshot(path=screenshot_path("dispute-filed"), full_page=True)
    await context.close()


async def test_the_other_party_and_the_mediator_act_while_the_timeline_grows(browser: Browser, stack: Stack) -> None:
    dispute_id = file_quickly(stack, title="Umbrella Corp renewal quoted by both teams", account="Umbrella Corp")
    # dana watches her dispute from New York
    dana_ctx, dana = await signed_in(browser, stack, "dana", timezone_id="America/New_York")
    await dana.goto(f"/disputes/{dispute_id}")
    await expect(dana.locator("[data-timezone]")).to_have_text("America/New_York")
    await expect(dana.locator("time.due")).to_contain_text(re.compile(r"E[SD]T"))
    await expect(dana.locator("[data-countdown]")).to_contain_text("from now")
    await expect(dana.locator("#timeline li")).to_have_count(1)

    # pat proposes: the split's second half fills itself in
    pat_ctx, pat = await signed_in(browser, stack, "pat")
    await pat.goto(f"/disputes/{dispute_id}")
    await pat.locator("#action-propose > summary").click()
    propose = pat.locator("form[data-action-form=propose]")
    await propose.get_by_role("radio", name="Co-sell").check()
    await propose.get_by_label("Direct sales %").fill("55")
    await expect(propose.get_by_label("Partner %")).to_have_value("45")
    await propose.get_by_role("button", name="Propose").click()
    await expect(pat.locator(".flash").first).to_have_text("Your proposal is recorded.")

    # dana's page picks it up by itself
    await expect(dana.locator("#timeline li")).to_have_count(2)
    await expect(dana.locator("#timeline li").last).to_contain_text("Proposed a resolution")
    await expect(dana.locator("#live-note")).to_have_text("New activity in the timeline.")

    # dana will not have it: she escalates; pat's page learns that the dispute moved on
    await dana.goto(f"/disputes/{dispute_id}")
    await dana.locator("#action-escalate > summary").click()
    await dana.locator("form[data-action-form=escalate]").get_by_label("Why it needs to go up a tier").fill(
        "Fifty-five percent ignores our sourcing")
    await dana.get_by_role("button", name="Escalate to tier 2").click()
    await expect(dana.locator(".badge.st-mediation")).to_be_visible()
    await expect(pat.locator("#live-note")).to_contain_text("This dispute moved on (now mediation)")

    # the mediator rules; the recommendation shows as the criteria are typed
    med_ctx, mediator = await signed_in(browser, stack, "mediator")
    await mediator.goto("/")
    await mediator.get_by_role("link", name=re.compile(dispute_id)).click()
    await mediator.locator("#action-rule > summary").click()
    rule = mediator.locator("form[data-action-form=rule]")
    output = rule.locator("[data-recommendation]")
    await expect(output).to_contain_text("Enter all six criteria")
    values = {"win_probability": (0.35, 0.8), "lifetime_value": (200000, 150000), "strategic_fit": (2, 5)}
    for key, (direct, partner) in values.items():
        await rule.locator(f"[name='criteria.{key}.direct']").fill(str(direct))
        await rule.locator(f"[name='criteria.{key}.partner']").fill(str(partner))
    expected = recommend(Criteria.model_validate({k: {"direct": d, "partner": p} for k, (d, p) in values.items()}),
                         Weights())
    await expect(output).to_contain_text(
        f"Recommendation: Partner, credit direct {expected.credit_split.direct}% / partner "
        f"{expected.credit_split.partner}%")
    await rule.get_by_role("radio", name="Partner").check()
    await expect(output).to_contain_text("Your outcome follows it if the credit split stays within 10 points")
    await rule.get_by_label("Direct sales %").fill("25")  # 15 points from the recommended 40/60
    await expect(output).to_contain_text("is more than 10 points from it: your outcome departs from it.")
    await rule.get_by_label("Direct sales %").fill("35")
    await expect(output).to_contain_text("Your outcome follows it.")
    await rule.get_by_label("Rationale").fill(RATIONALE)
    await rule.get_by_role("button", name="Rule").click()
    await expect(mediator.locator(".flash").first).to_contain_text("Your ruling is recorded")
    await expect(mediator.locator("#decision")).to_contain_text("follows the recommendation")

    # dana sees the ruling arrive, and then, once the appeal window has closed, become final
    await expect(dana.locator("#timeline li", has_text="Ruled")).to_have_count(1)
    await expect(dana.locator("#live-note")).to_contain_text("This dispute moved on")
    await expect(dana.locator("#timeline li").last).to_contain_text("Ruling became final", timeout=20_000)
    await dana.goto(f"/disputes/{dispute_id}")
    await expect(dana.locator("#decision")).to_contain_text("final")
    await dana.set_viewport_size({"width": 1200, "height": 900})
    await dana.screenshot(path=screenshot_path("dispute-page"), full_page=True)
    publish_screenshot("dispute-page")
    for ctx in (dana_ctx, pat_ctx, med_ctx):
        await ctx.close()


async def test_the_auditor_verifies_and_exports(browser: Browser, stack: Stack) -> None:
    context, page = await signed_in(browser, stack, "auditor", accept_downloads=True)
    await expect(page).to_have_url(re.compile(r"/audit$"))
    await expect(page.get_by_role("heading", level=1)).to_have_text("All disputes")
    await expect(page.locator("form[action$='/act']")).to_have_count(0)
    await page.get_by_role("button", name="Verify").click()
    result = page.locator("#verify-result")
    await expect(result).to_contain_text("The trail verifies.")
    await expect(result).to_be_focused()
    digest = await page.get_by_label("Digest to save now").input_value()
    assert re.fullmatch(r"v1:\d+:\d+:[0-9a-f]{64}", digest)
    await page.get_by_label("Digest saved earlier (optional)").fill(digest)
    await page.get_by_role("button", name="Verify").click()
    await expect(result).to_contain_text("still there, unchanged")
    await page.screenshot(path=screenshot_path("audit"), full_page=True)

    async with page.expect_download() as csv_download:
        await page.get_by_role("link", name="Download CSV").click()
    rows = list(csv.DictReader(io.StringIO((await (await csv_download.value).path()).read_text())))
    assert rows and rows[0]["seq"] == "1" and len(rows[0]["hash"]) == 64
    async with page.expect_download() as jsonl_download:
        await page.get_by_role("link", name="Download JSONL").click()
    lines = (await (await jsonl_download.value).path()).read_text().splitlines()
    assert len(lines) == len(rows) and json.loads(lines[0])["prev_hash"] == "0" * 64

    # the filters narrow the list; a dispute opens read-only with its trail
    await page.get_by_label("Region").fill("EMEA")
    await page.get_by_label("Outcome").select_option("open")
    await page.get_by_role("button", name="Apply filters").click()
    await expect(page).to_have_url(re.compile(r"region=EMEA.*outcome=open|outcome=open.*region=EMEA"))
    await page.locator("table.disputes a").first.click()
    await expect(page.locator(".hash").first).to_contain_text("prev 000000000000")
    await expect(page.locator("details.action")).to_have_count(0)
    await context.close()


async def test_the_dashboard(browser: Browser, stack: Stack) -> None:
    context, page = await signed_in(browser, stack, "exec", viewport={"width": 1280, "height": 900})
    await page.goto("/dashboard")
    await page.get_by_label("Disputes filed in").select_option("all")
    await page.get_by_role("button", name="Show").click()
    await expect(page).to_have_url(re.compile(r"period=all"))
    await expect(page.locator("svg.chart")).to_have_count(9)
    assert int(await page.locator(".kpis .n").first.inner_text()) >= 300
    await expect(page.get_by_role("img", name="SLA breach rate per tier")).to_be_visible()
    await page.screenshot(path=screenshot_path("dashboard"), full_page=True)
    publish_screenshot("dashboard")
    await context.close()


async def test_phone_width_and_keyboard(browser: Browser, stack: Stack) -> None:
    dispute_id = file_quickly(stack)
    context, page = await signed_in(browser, stack, "dana", viewport={"width": 390, "height": 844},
                                    is_mobile=True, has_touch=True)
    for path in ("/", "/disputes?scope=all", f"/disputes/{dispute_id}", "/disputes/new", "/outbox"):
        await page.goto(path)
        overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at phone width"
    await page.goto("/disputes?scope=all")
    await page.screenshot(path=screenshot_path("phone-my-disputes"), full_page=True)
    # the skip link leads past the navigation to the main content
    await page.keyboard.press("Tab")
    await expect(page.locator(".skip-link")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.locator("#main")).to_be_focused()
    await page.keyboard.press("Tab")
    focused = await page.evaluate("document.activeElement.closest('main') !== null")
    assert focused, "the next tab stop after the skip link is inside the main content"
    await context.close()


async def test_the_page_recommends_exactly_as_the_server(browser: Browser, stack: Stack) -> None:
    dispute_id = file_quickly(stack)
    stack.web.sign_in("pat").ok(dispute_id, "escalate", reason="Stuck")
    context, page = await signed_in(browser, stack, "mediator")
    await page.goto(f"/disputes/{dispute_id}")
    weights = json.loads(await page.locator("#charter-weights").inner_text())
    rnd = random.Random(42)
    cases = [
        {"win_probability": {"direct": 0.5, "partner": 0.5}, "lifetime_value": {"direct": 0, "partner": 0},
         "strategic_fit": {"direct": 1, "partner": 1}},
        {"win_probability": {"direct": 0.25, "partner": 0.75}, "lifetime_value": {"direct": 100, "partner": 300},
         "strategic_fit": {"direct": 2, "partner": 4}},
    ]
    for _ in range(300):
        cases.append({
            "win_probability": {c: round(rnd.random(), rnd.choice((1, 2, 3))) for c in ("direct", "partner")},
            "lifetime_value": {c: rnd.choice((0, 1000, 50000, rnd.randint(0, 10**6))) for c in ("direct", "partner")},
            "strategic_fit": {c: rnd.randint(1, 5) for c in ("direct", "partner")},
        })
    in_page = await page.evaluate("([cases, w]) => cases.map(c => window.Parley.recommend(c, w))", [cases, weights])
    for case, got in zip(cases, in_page, strict=True):
        want = recommend(Criteria.model_validate(case), Weights.model_validate(weights)).model_dump()
        assert got == want, case
    await context.close()



async def test_the_api_docs_render_offline_under_their_csp(browser: Browser, stack: Stack) -> None:
    """/docs: Swagger UI's assets come from Parley (no CDN: this machine has no internet), and its
    Content-Security-Policy lets the page's own start-up script run."""
    context = await browser.new_context(base_url=stack.url)
    context.set_default_timeout(TIMEOUT_MS)
    page = await context.new_page()
    requests: list[str] = []
    problems: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    await page.goto("/docs")
    operation = page.locator(".opblock-post .opblock-summary-path[data-path='/api/disputes']")
    await expect(operation).to_have_text("/api/disputes", timeout=TIMEOUT_MS)  # a 1.5 MB script to parse
    await operation.click()
    await expect(page.locator(".opblock-post.is-open h4", has_text="Request body")).to_be_visible()
    await page.screenshot(path=screenshot_path("api-docs"), full_page=False)
    off_site = [url for url in requests if not url.startswith(stack.url)]
    assert not off_site, off_site
    assert any(url.endswith("/static-docs/swagger-ui-bundle.js") for url in requests), requests
    assert not problems, problems  # a blocked script or style would show as a console error
    await context.close()

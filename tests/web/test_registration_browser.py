"""Registrations in a real browser (Debian's Chromium through Playwright, as tests/web/test_browser.py): a
partner registers a deal through the form, the mediator approves it from its page while the partner's
page follows, and a direct rep's overlapping opportunity shows the pair in /overlaps. Screenshots go to
test-artifacts/screenshots/."""

from __future__ import annotations

import re
import uuid

from playwright.async_api import Browser, Page, expect

from tests.web.conftest import Stack, screenshot_path
from tests.web.test_browser import signed_in


def fresh() -> str:
    return "".join(chr(ord("a") + int(c, 16) % 26) for c in uuid.uuid4().hex[:8]).capitalize()


async def no_sideways_scroll(page: Page, path: str) -> None:
    await page.goto(path)
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at phone width"


async def test_register_approve_and_see_the_overlap(browser: Browser, stack: Stack) -> None:
    name = fresh()
    domain = f"{name.lower()}.example"

    # pat registers a deal through the form; a missing title is named next to its field
    pat_ctx, pat = await signed_in(browser, stack, "pat")
    await pat.get_by_role("navigation", name="Main").get_by_role("link", name="Registrations").click()
    await expect(pat.get_by_role("heading", level=1)).to_have_text("Registrations")
    await pat.get_by_role("link", name="Register a deal").click()
    await expect(pat.get_by_role("heading", level=1)).to_have_text("Register a deal")
    await pat.get_by_label("Customer account").fill(f"{name} GmbH")
    await pat.get_by_label("Account web domain (optional)").fill(f"https://www.{domain}/")
    await pat.get_by_label("Deal value").fill("340000")
    await pat.get_by_label("Currency").fill("eur")
    await expect(pat.get_by_label("Region")).to_have_value("EMEA")  # pat's own region, from the charter's list
    await pat.get_by_label("Segment (optional)").select_option("enterprise")
    await pat.get_by_label("Products (optional)").fill("Platform, Support")
    await pat.get_by_role("button", name="Register the deal").click()
    await expect(pat.locator(".error-summary")).to_be_focused()
    await expect(pat.locator("#reg-title-error")).to_have_text("Error: Required.")
    await expect(pat.get_by_label("Customer account")).to_have_value(f"{name} GmbH")  # kept
    await pat.locator(".error-summary a[href='#reg-title']").click()
    await expect(pat.get_by_label("Title")).to_be_focused()
    await pat.get_by_label("Title").fill(f"{name} analytics rollout")
    await pat.get_by_role("button", name="Register the deal").click()

    await expect(pat).to_have_url(re.compile(r"/registrations/REG-[0-9A-F]{8}$"))
    registration_id = pat.url.rsplit("/", 1)[1]
    await expect(pat.locator(".flash").first).to_contain_text("It awaits a mediator's approval.")
    await expect(pat.locator("#live-status .badge.rs-pending")).to_have_text("Pending approval")
    await expect(pat.locator("#deal")).to_contain_text("EUR 340,000")
    await expect(pat.locator("#timeline li")).to_have_count(1)
    await pat.screenshot(path=screenshot_path("registration-pending"), full_page=True)

    # the mediator approves it from its page; pat's open page follows by itself
    med_ctx, mediator = await signed_in(browser, stack, "mediator")
    await mediator.goto("/registrations?status=pending")
    await mediator.get_by_role("link", name=re.compile(registration_id)).click()
    await expect(mediator.locator("#action-approve")).to_have_attribute("open", "")
    await mediator.get_by_label("Note (optional)").fill("First to register; approved.")
    await mediator.get_by_role("button", name="Approve the registration").click()
    await expect(mediator.locator(".flash").first).to_have_text("You approved the registration.")
    await expect(mediator.locator("#live-status .badge.rs-approved")).to_have_text("Approved")
    await expect(mediator.locator("[data-countdown]")).to_contain_text("from now")
    await expect(mediator.locator("details.action > summary")).to_have_text(["Extend the protection window"])

    await expect(pat.locator("#live-status .badge.rs-approved")).to_have_text("Approved")
    await expect(pat.locator("#live-status")).to_contain_text("This registration moved on (now approved)")
    await expect(pat.locator("#timeline li").last).to_contain_text("Approved")

    # dana's direct opportunity for the same account: the early warning, and the pair in /overlaps
    dana_ctx, dana = await signed_in(browser, stack, "dana")
    await dana.goto("/registrations/new")
    await dana.get_by_label("Customer account").fill(f"{name.upper()} Inc.")
    await dana.get_by_label("Account web domain (optional)").fill(domain)
    await dana.get_by_label("Title").fill(f"{name} renewal")
    await dana.get_by_label("Deal value").fill("290000")
    await dana.get_by_label("Region").select_option("EMEA")
    await dana.get_by_role("button", name="Register the deal").click()
    await expect(dana.locator(".flash").first).to_contain_text("Early warning: it overlaps 1 other registration")
    await expect(dana.locator("#overlaps").get_by_role("link", name=registration_id)).to_be_visible()
    await expect(dana.get_by_role("link", name="File a conflict about this overlap")).to_have_attribute(
        "href", re.compile(rf"^/disputes/new\?registration_ids=REG-[0-9A-F]{{8}},{registration_id}$"))
    await dana.screenshot(path=screenshot_path("registration-overlap"), full_page=True)

    await dana.get_by_role("navigation", name="Main").get_by_role("link", name="Overlaps").click()
    await expect(dana.get_by_role("heading", level=1)).to_have_text("Overlaps")
    pair = dana.locator("ol.overlap-pairs > li").filter(has_text=registration_id)
    await expect(pair).to_have_count(1)
    await expect(pair.locator(".claim")).to_have_count(2)
    await expect(pair).to_contain_text("match 100/100 (same web domain)")
    await expect(pair.locator(".claim", has_text=registration_id)).to_contain_text("first")
    await expect(pair.locator(".claim", has_text="Direct sales")).to_contain_text("Dana Direct (you)")
    await expect(pair).to_contain_text("No dispute yet")
    await dana.screenshot(path=screenshot_path("overlaps"), full_page=True)

    await mediator.goto("/registrations")
    await expect(mediator.locator("table.registrations tr", has_text=registration_id).locator(".badge.overlap")
                 ).to_have_text(re.compile("Overlap"))
    await mediator.screenshot(path=screenshot_path("registrations"), full_page=False)
    await mediator.goto("/overlaps")
    await expect(mediator.locator("ol.overlap-pairs > li").filter(has_text=registration_id)).to_contain_text(
        "Pat Partner")
    for ctx in (pat_ctx, med_ctx, dana_ctx):
        await ctx.close()


async def test_registration_pages_at_phone_width(browser: Browser, stack: Stack) -> None:
    form = {"account": f"{fresh()} Holdings", "title": "A deal with a rather long title to wrap at phone width",
            "deal_value": "125000", "currency": "GBP", "region": "EMEA", "products": "Platform, Support, Training"}
    response = stack.web.sign_in("pat").post("/registrations/new", form)
    assert response.status_code == 303, response.text[:2000]
    context, page = await signed_in(browser, stack, "pat", viewport={"width": 390, "height": 844},
                                    is_mobile=True, has_touch=True)
    for path in ("/registrations", "/registrations/new", "/overlaps", response.headers["location"]):
        await no_sideways_scroll(page, path)
    await expect(page.get_by_role("heading", level=1)).to_contain_text(form["title"])
    await page.screenshot(path=screenshot_path("phone-registration"), full_page=True)
    await context.close()

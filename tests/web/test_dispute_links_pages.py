"""The pages of disputes about registrations (DESIGN §6 "Linking"): the filing form offers the rep's
registrations and those overlapping them and fills itself in from a pair, the dispute page and the
ruling form show both claims side by side, and a second open dispute about the pair is refused next to
the field. Through the real workflow (the `stack` fixture), and once in a real browser."""

from __future__ import annotations

import html
import re
import uuid

from playwright.async_api import Browser, expect

from tests.web.conftest import PEOPLE, Stack, Web, screenshot_path

TIMEOUT_MS = 15_000


def fresh() -> str:
    return "".join(chr(ord("a") + int(c, 16) % 26) for c in uuid.uuid4().hex[:9]).capitalize()


def register(stack: Stack, who: str, account: str) -> str:
    """A registration through the JSON API of the stack's app (the same store and Temporal)."""
    body = {"account": account, "title": f"{account} platform", "deal_value": 90_000, "currency": "EUR",
            "region": "EMEA", "segment": "enterprise"}
    response = stack.web.client.post("/api/registrations", json=body,
                                     headers={"Authorization": f"Bearer {stack.tokens[who]}"})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def overlapping_pair(stack: Stack) -> tuple[str, str, str]:
    """pat's partner registration, then dana's direct opportunity for the same account."""
    word = fresh()
    return register(stack, "pat", f"{word} GmbH"), register(stack, "dana", f"{word} Ltd"), word


def section(page: str, element_id: str) -> str:
    found = re.search(rf'<(section|details)[^>]*id="{element_id}".*?</\1>', page, re.S)
    assert found, f"no #{element_id} on the page"
    return found[0]


def test_the_form_offers_the_pair_fills_itself_in_and_files_it_linked(web: Web, stack: Stack) -> None:
    pats, danas, word = overlapping_pair(stack)
    web.sign_in("dana")
    form = web.get("/disputes/new").text
    assert f'<option value="{danas},{pats}">' in form and "Fill in the form from" in form

    filled = web.get(f"/disputes/new?registration_ids={danas},{pats}").text
    assert f'<option value="{danas},{pats}" selected>' in filled
    assert f'value="{word} Ltd"' in filled and f'value="Registration overlap: {word} Ltd"' in filled
    assert f'<option value="{PEOPLE["pat"].email}" selected>' in filled
    assert f'value="{pats}"' in filled  # the registration reference, from pat's registration

    dispute_id = web.file(registration_ids=f"{danas},{pats}", account=f"{word} Ltd",
                          conflict_type="registration_overlap")
    claims = section(web.get(f"/disputes/{dispute_id}").text, "claims")
    assert claims.index(pats) < claims.index(danas)  # pat registered first: on the left
    assert "registered first" in claims and "Resellers Inc" in claims and "Direct sales" in claims
    assert "Protected when filed" in claims and ">pending<" in claims

    again = web.post("/disputes/new", {**_form(danas, pats, word), "title": "The same two, again"})
    assert again.status_code == 409
    error = re.search(r'id="file-registration-ids-error">(.*?)</p>', again.text, re.S)
    assert error and f"open dispute, {dispute_id}" in html.unescape(error[1])


def test_a_pair_not_on_offer_is_named_next_to_the_field(web: Web, stack: Stack) -> None:
    pats, _, _ = overlapping_pair(stack)
    page = web.sign_in("drew").get(f"/disputes/new?registration_ids={pats},REG-NOSUCH0").text
    assert re.search(r'id="file-registration-ids-error">.*Choose one of your registrations', page, re.S)


def test_the_ruling_form_shows_both_claims(web: Web, stack: Stack) -> None:
    pats, danas, word = overlapping_pair(stack)
    dispute_id = web.sign_in("dana").file(**_form(danas, pats, word))
    web.ok(dispute_id, "escalate", reason="We cannot agree on who registered first")
    ruling = section(web.sign_in("mediator").get(f"/disputes/{dispute_id}").text, "action-rule")
    assert "claims-table" in ruling and pats in ruling and danas in ruling and "registered first" in ruling
    plain = web.sign_in("dana").file()
    assert 'id="claims"' not in web.get(f"/disputes/{plain}").text  # no links, no claims section


def _form(danas: str, pats: str, word: str) -> dict[str, str]:
    return {"registration_ids": f"{danas},{pats}", "account": f"{word} Ltd", "conflict_type": "registration_overlap",
            "title": f"Registration overlap: {word}", "deal_value": "90000", "currency": "EUR", "region": "EMEA",
            "segment": "enterprise", "description": "Both claim the account.",
            "counterparty_email": PEOPLE["pat"].email}


# --- in a browser --------------------------------------------------------------------------------------


async def test_a_rep_files_about_a_pair_in_the_browser_and_sees_both_claims(browser: Browser, stack: Stack) -> None:
    pats, danas, word = overlapping_pair(stack)
    context = await browser.new_context(base_url=stack.url)
    context.set_default_timeout(TIMEOUT_MS)
    page = await context.new_page()
    await page.goto("/sign-in")
    await page.get_by_label("Your Parley token").fill(stack.tokens["dana"])
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Waiting on me")

    await page.goto("/disputes/new")
    await page.get_by_role("link", name=f"Fill in the form from {danas} and {pats}").click()
    await expect(page.get_by_label("Customer account")).to_have_value(f"{word} Ltd")
    await expect(page.get_by_label("Counterparty")).to_have_value(PEOPLE["pat"].email)
    await expect(page.get_by_label("Your registration and the one overlapping it")).to_have_value(f"{danas},{pats}")
    await expect(page.get_by_label("Conflict type")).to_have_value("registration_overlap")
    await page.get_by_label("Description").fill("Pat registered the deal; we have worked the account for a year.")
    await page.screenshot(path=screenshot_path("file-form-registrations"), full_page=True)
    await page.get_by_role("button", name="File the dispute").click()

    await expect(page).to_have_url(re.compile(r"/disputes/PRL-[0-9A-F]{8}$"))
    claims = page.locator("#claims table")
    await expect(page.get_by_role("heading", name="Claims")).to_be_visible()
    await expect(claims.locator("thead th").nth(1)).to_contain_text(pats)
    await expect(claims.locator("thead th").nth(1)).to_contain_text("registered first")
    await expect(claims.locator("thead th").nth(2)).to_contain_text(danas)
    await page.screenshot(path=screenshot_path("dispute-claims"), full_page=True)
    await context.close()

"""Block Kit within Slack's limits, forms read back into the API's models, and the app manifest."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from api.app import create_app
from api.slack.actions import SHORTCUT
from api.slack.forms import ACTION_MODELS, check_filing, metadata, parse_action
from domain.charter import Weights, parse_charter
from domain.model import Decision, Outcome, Status
from render import slack_blocks as kit
from render.slack_modals import action_modal, criteria_from, filing_modal, recommendation_text, ruling_of, summary_of
from settings import Settings
from tests.store.samples import T0, view

ROOT = Path(__file__).resolve().parents[2]
CHARTERS = [parse_charter((ROOT / "charters" / name).read_text()) for name in ("default.toml", "fast.toml")]
LONG = "Ünïcødé <b>&</b> " * 400
CRITERIA = {"win_direct": "0.4", "win_partner": "0.7", "ltv_direct": "120000", "ltv_partner": "90000",
            "fit_direct": "3", "fit_partner": "4"}


@pytest.mark.parametrize("charter", CHARTERS, ids=["default", "fast"])
def test_the_filing_form_offers_the_charter_s_choices(charter: object) -> None:
    modal = filing_modal(charter, initial={"title": LONG[:200], "region": "EMEA"}, problem=LONG).to_dict()  # type: ignore[arg-type]
    blocks = {b.get("block_id"): b for b in modal["blocks"]}
    assert blocks["counterparty"]["element"]["type"] == "users_select"
    assert blocks["deal_value"]["element"]["type"] == "number_input"
    assert {o["value"] for o in blocks["conflict_type"]["element"]["options"]} == {
        "registration_overlap", "discount_undercut", "account_ownership", "credit_attribution", "other"}
    routed = [r.region for r in charter.routing.mediators]  # type: ignore[attr-defined]
    assert [o["value"] for o in blocks["region"]["element"]["options"]] == list(dict.fromkeys(
        [*routed, "AMER", "EMEA", "APAC", "LATAM"]))
    assert blocks["region"]["element"]["initial_option"]["value"] == "EMEA"
    assert "Required for" in blocks["opportunity_ref"]["hint"]["text"]


def test_a_filing_form_is_checked_before_anything_is_looked_up() -> None:
    values = {"title": "Globex", "counterparty": "U1", "conflict_type": "other", "account": "Globex",
              "deal_value": "-5", "currency": "EUR", "region": "EMEA", "description": "x"}
    assert set(check_filing(values)) == {"deal_value"}
    assert set(check_filing({})) >= {"title", "counterparty", "conflict_type", "account", "deal_value", "region",
                                     "description"}


@pytest.mark.parametrize("action", sorted(ACTION_MODELS))
def test_every_action_form_fits_and_reads_back(action: str) -> None:
    outcome = Outcome.model_validate({"owner": "partner", "credit_split": {"direct": 30, "partner": 70},
                                      "terms": LONG[:3000]})
    decided = view(status=Status.appeal_window, decision=Decision(
        kind="ruling", outcome=outcome,
        rationale=LONG[:4000], actor="m@example.com", at=T0, tier=2, charter_version="v"), title=LONG[:200])
    meta = metadata(decided.id, action, summary=summary_of(decided), ruling=ruling_of(decided), channel="D1",
                    ts="1.2", original=LONG, weights=Weights(), question=LONG[:2000])
    modal = action_modal(meta, initial=CRITERIA).to_dict()
    assert len(modal["private_metadata"]) <= 3000 and len(modal["title"]["text"]) <= 24
    values = {"owner": "co_sell", "credit_direct": "55", "note": "n", "reason": "Because we must",
              "question": "Who registered first?", "rationale": "Registered first, stronger relationship.",
              "text": "We registered on 3 May.",
              "price_protection_until": "2027-03-31", **CRITERIA}
    parsed, errors = parse_action(action, values)
    assert errors == {} and parsed is not None and parsed.model_dump()["action"] == action


def test_the_recommendation_follows_the_criteria() -> None:
    assert criteria_from({**CRITERIA, "fit_partner": "7"}) is None
    text = recommendation_text(CRITERIA, Weights())
    assert text.startswith("*Charter recommendation:* partner, direct 45% / partner 55%")
    assert "scores: direct 0.60, partner 0.72" in text
    assert "fill in the six criteria" in recommendation_text({}, Weights())


def test_messages_and_home_stay_within_slack_limits() -> None:
    long_view = view(title=LONG[:200], account=LONG[:200], description=LONG, waiting_on=["a@x.example"] * 30)
    dm = [b.to_dict() for b in kit.dm_blocks(long_view, LONG, ["propose", "escalate", "withdraw"], "https://p.example",
                                             footer=LONG)]
    assert all(len(f["text"]) <= 2000 for b in dm if b["type"] == "section" for f in b.get("fields", []))
    assert "&lt;b&gt;&amp;&lt;/b&gt;" in dm[0]["text"]["text"]  # what people typed is escaped
    assert [b.to_dict() for b in kit.status_blocks(long_view, None, ["decide"])]
    queue = [(view(dispute_id=f"PRL-{i:08X}", title=LONG[:200]), ["decide"]) for i in range(40)]
    home = kit.home_view("Eve", queue, [v for v, _ in queue], "https://p.example", can_file=True, notice=LONG).to_dict()
    assert len(home["blocks"]) <= 100
    assert len(kit.done_blocks(LONG, LONG)[0].to_dict()["text"]["text"]) <= 3000


def test_the_manifest_matches_the_app() -> None:
    manifest = (ROOT / "slack" / "manifest.yml").read_text()
    urls = set(re.findall(r"https://parley\.example\.com(/\S+)", manifest))
    routes = set(create_app(Settings()).openapi()["paths"])
    assert urls == {"/slack/commands", "/slack/interactions", "/slack/events"} and urls <= routes
    assert re.search(r"command: /conflict\b", manifest) and f"callback_id: {SHORTCUT}" in manifest
    assert re.search(r"bot_events:\s+- app_home_opened", manifest)
    assert re.search(r"home_tab_enabled: true", manifest) and re.search(r"is_enabled: true", manifest)
    scopes = set(re.findall(r"^\s+- ([a-z.:]+)\s", manifest.split("scopes:")[1].split("settings:")[0], re.M))
    # what the Web API methods Parley calls need (views.* and response_url need no scope)
    assert scopes >= {"commands", "chat:write", "im:write", "users:read", "users:read.email",
                      "channels:history", "groups:history", "im:history", "channels:read", "groups:read",
                      "channels:join"}

"""The charter as a living document over the API (DESIGN §8): the version in force and its change log
for everyone, adoption by an admin without a restart (new disputes pin it, running ones keep theirs,
in every API process), refusals naming each key and person, and each adoption in the audit chain."""

from __future__ import annotations

import hashlib
from typing import Any

from store.charters import CHAIN
from tests.api.conftest import FAST_CHARTER, OUTCOME, Api, problems, serve

FAST = FAST_CHARTER.read_text()
FAST_ID = f"fast-1+{hashlib.sha256(FAST.encode()).hexdigest()[:8]}"


def variant(version: str, *replacements: tuple[str, str]) -> str:
    text = FAST.replace('version = "fast-1"', f'version = "{version}"')
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    return text


# the next version: agreements need a mediator beyond 55/45, and frontline waits an hour (no timer races a test)
STRICTER = variant("fast-2", ("max_share_pct = 70", "max_share_pct = 55"), ('frontline = { sla = "4s" }',
                                                                           'frontline = { sla = "1h" }'))


async def adopt(api: Api, text: str, reason: str = "Quarterly review of the charter", who: str = "admin",
                expected: int | tuple[int, ...] = 201) -> dict[str, Any]:
    response = await api.post("/api/charter", who, {"toml": text, "reason": reason})
    allowed = expected if isinstance(expected, tuple) else (expected,)
    assert response.status_code in allowed, response.text
    body: dict[str, Any] = response.json()
    return body


async def in_force(api: Api, who: str = "dana") -> dict[str, Any]:
    response = await api.get("/api/charter", who)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def versions(api: Api, who: str = "pat") -> list[dict[str, Any]]:
    response = await api.get("/api/charter/versions", who)
    assert response.status_code == 200, response.text
    body: list[dict[str, Any]] = response.json()
    return body


async def test_everyone_signed_in_reads_the_charter_and_its_change_log(api: Api) -> None:
    await adopt(api, FAST, expected=(200, 201))  # whatever an earlier test of this module left in force
    for who in ("dana", "pat", "mediator", "exec", "auditor", "admin"):
        current = await in_force(api, who)
        assert (current["id"], current["version"], current["name"]) == (FAST_ID, "fast-1", "Fast demo charter")
        assert current["hash"] == hashlib.sha256(FAST.encode()).hexdigest() and current["text"] == FAST
        assert current["in_force"] is True and current["adopted_at"]
    log = await versions(api)
    assert log[0]["id"] == FAST_ID and log[0]["in_force"] and not any(v["in_force"] for v in log[1:])
    assert log[-1]["adopted_by"] == "system:api" and log[-1]["reason"].startswith("loaded from")  # at start-up
    assert "text" not in log[0]
    assert (await api.get("/api/charter", None)).status_code == 401
    assert (await api.get("/api/charter/versions", None)).status_code == 401


async def test_an_adopted_version_is_pinned_by_new_disputes_while_running_ones_keep_theirs(api: Api) -> None:
    await adopt(api, FAST, expected=(200, 201))
    running = await api.in_state("executive")  # tier 3: no timer moves it on meanwhile
    adopted = await adopt(api, STRICTER, reason="Agreements beyond 55/45 need a mediator")
    assert adopted["id"].startswith("fast-2+") and adopted["in_force"] is True
    assert (adopted["adopted_by"], adopted["reason"]) == (api.email("admin"), "Agreements beyond 55/45 need a mediator")
    assert (await in_force(api))["id"] == adopted["id"]
    log = await versions(api)
    assert [v["id"] for v in log[:2]] == [adopted["id"], FAST_ID]
    assert log[0]["adopted_at"] >= log[1]["adopted_at"]

    new = str((await api.file())["id"])
    assert (await api.dispute(new))["charter_version"] == adopted["id"]
    assert (await api.dispute(running))["charter_version"] == FAST_ID
    # the worker runs both, each on its own charter: 60/40 is outside the new version's bounds
    await api.ok(new, "dana", "propose", outcome=OUTCOME)
    assert (await api.ok(new, "pat", "accept"))["status"] == "awaiting_approval"
    decided = await api.ok(running, "exec", "decide", outcome=OUTCOME, rationale="Both teams contributed to the deal.",
                           criteria={"win_probability": {"direct": 0.5, "partner": 0.5},
                                     "lifetime_value": {"direct": 1000, "partner": 1000},
                                     "strategic_fit": {"direct": 3, "partner": 3}})
    assert (decided["status"], decided["charter_version"]) == ("resolved", FAST_ID)


async def test_another_api_process_picks_the_adoption_up_without_a_restart(api: Api) -> None:
    await adopt(api, FAST, expected=(200, 201))
    async with serve(api.settings) as other:  # a second API process on the same store
        adopted = await adopt(api, STRICTER)
        response = await other.get("/api/charter", headers=api.auth("dana"))
        assert response.status_code == 200 and response.json()["id"] == adopted["id"]
        filed = await other.post("/api/disputes", headers=api.auth("dana"), json=_filing())
        assert filed.status_code == 201, filed.text
        api.filed.append(filed.json()["id"])
        assert filed.json()["charter_version"] == adopted["id"]


def _filing() -> dict[str, Any]:
    from tests.api.conftest import filing

    return filing(title="Filed through the other API process")


async def test_the_same_text_again_is_not_a_new_version_but_an_earlier_one_may_come_back(api: Api) -> None:
    await adopt(api, STRICTER, expected=(200, 201))
    before, events = await versions(api), api.events(CHAIN)
    again = await adopt(api, STRICTER, reason="Clicked twice", expected=200)
    assert again["id"] == before[0]["id"] and again["reason"] != "Clicked twice"
    assert await versions(api) == before and api.events(CHAIN) == events
    back = await adopt(api, FAST, reason="Back to the fast charter")  # an earlier version, adopted again
    assert back["id"] == FAST_ID and (await in_force(api))["id"] == FAST_ID
    log = await versions(api)
    assert len(log) == len(before) + 1 and log[0]["reason"] == "Back to the fast charter"
    assert (await api.file())["charter_version"] == FAST_ID


async def test_each_adoption_is_an_audit_event_and_the_trail_verifies(api: Api) -> None:
    await adopt(api, FAST, expected=(200, 201))
    adopted = await adopt(api, variant("fast-audit"), reason="A version for the auditors")
    events = api.events(CHAIN)
    assert [seq for seq, _, _ in events] == list(range(1, len(events) + 1))
    assert events[0][1:] == ("system:api", "charter_adopted")  # the API's own file, at start-up
    assert events[-1][1:] == (api.email("admin"), "charter_adopted")
    assert len(events) == len(await versions(api))
    response = await api.get("/api/audit/verify", "auditor")
    assert response.status_code == 200 and response.json()["ok"] is True, response.text
    exported = await api.get("/api/audit/export", "auditor")
    assert adopted["id"] in exported.text and "A version for the auditors" in exported.text


async def test_only_an_admin_adopts(api: Api) -> None:
    before = await versions(api)
    for who in ("dana", "pat", "mediator", "exec", "auditor"):
        response = await api.post("/api/charter", who, {"toml": variant("fast-x"), "reason": "Let me try"})
        assert response.status_code == 403, response.text
    assert (await api.post("/api/charter", None, {"toml": FAST, "reason": "Let me try"})).status_code == 401
    assert await versions(api) == before


async def test_a_broken_charter_is_refused_naming_the_key(api: Api) -> None:
    before = await versions(api)
    cases = [
        ("name = [", "is not valid TOML"),
        (variant("fast-3", ('kind = "24x7"', 'kind = "24x7"\nholidays_from = ["XX"]')), "calendar.holidays_from: 'XX'"),
        (variant("fast-3", ('frontline = { sla = "4s" }', 'frontline = { sla = "soon" }')), "tiers.frontline.sla"),
        (variant("fast-3", ('timezone = "UTC"', 'timezone = "Mars/Base"')), "calendar.timezone"),
        (variant("fast-3", ("max_share_pct = 70", "max_share_pct = 40")), "auto_approval.max_share_pct"),
    ]
    for text, words in cases:
        response = await api.post("/api/charter", "admin", {"toml": text, "reason": "Broken on purpose"})
        found = problems(response)
        assert [p["field"] for p in found] == ["toml"] * len(found)
        assert any(words in p["message"] for p in found), (words, found)
    response = await api.post("/api/charter", "admin", {"toml": FAST, "reason": "   "})
    assert [p["field"] for p in problems(response)] == ["reason"]
    response = await api.post("/api/charter", "admin", {"toml": FAST})
    assert [p["field"] for p in problems(response)] == ["reason"]
    assert await versions(api) == before


async def test_a_charter_routing_to_missing_people_or_the_wrong_role_is_refused_naming_each(api: Api) -> None:
    before = await versions(api)
    text = variant("fast-4", ('default_mediator = "mediator@example.com"', 'default_mediator = "nobody@example.com"'),
                   ('executive = "exec@example.com"', f'executive = "{api.email("dana")}"'),
                   ('backup_executive = "exec.backup@example.com"', f'backup_executive = "{api.email("auditor")}"'),
                   ("[routing]", '[routing]\nmediators = [{ region = "EMEA", mediator = "exec@example.com" }]'))
    response = await api.post("/api/charter", "admin", {"toml": text, "reason": "Reorganisation"})
    messages = [p["message"] for p in problems(response)]
    assert messages == [
        "routing.default_mediator: nobody@example.com is not a Parley user; add them as a mediator first",
        "routing.mediators.0.mediator: exec@example.com is an executive, not a mediator",
        f"routing.executive: {api.email('dana')} is a rep, not an executive",
        f"routing.backup_executive: {api.email('auditor')} is an auditor, not an executive",
    ]
    assert await versions(api) == before

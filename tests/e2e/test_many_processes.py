"""Many processes under fire (DESIGN §10): `parley up --workers 2 --apis 2` on PostgreSQL, fast charter.

Drivers walk random lifecycle paths through the front while `Chaos` SIGKILLs a random worker and a
random API process every few seconds, and the Temporal dev server once, for PARLEY_CHAOS_S seconds
(default 120). Each request has its own Idempotency-Key and is sent again with it after a connection
error or a 503 (tests/e2e/chaos.py). The drivers file their last dispute 20 s before the chaos ends; then,
still under fire, the disputes still open are brought to their end as the charter does it (its timers
take them to the executive, who decides; an appeal window closes by itself), and once the chaos is over
and every dispute has ended:
- every dispute is withdrawn when a withdrawal was applied, resolved otherwise;
- its trail is seq 1..n, hash-linked, and each event is legal in the state the ones before it left,
  so no state change is recorded twice or out of turn; its people's events are exactly the requests
  answered 200/201, once each, those retried after a 503 included; no filing made two disputes;
- the chain verifies, and no client got an answer outside 200/201/4xx/503;
- each Slack message was posted once: the workers post to the local fake Slack (tests/fakes/slack.py, the
  channel paced at PARLEY_SLACK_CHANNEL_INTERVAL_S = 0.02 s instead of Slack's second, so a run's notices
  leave no backlog), and once every notice is delivered each outbox row has exactly one message in Slack
  (by the row id its message metadata carries) and every message is some row's. A worker SIGKILLed between
  Slack's answer and the commit that marks the row leaves it "being posted"; the retry finds the message
  (activities/notify.py; tests/slack/test_worker_killed_mid_post.py does it on purpose).
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from activities.slack import NOTICE_EVENT
from ops.seed import DEMO_USERS
from store.db import make_engine
from store.tables import NOTIFICATIONS
from tests.e2e.chaos import Chaos, Persistent, Tally
from tests.e2e.harness import Stack
from tests.fakes.slack import FakeSlack
from tests.harness.waiting import eventually
from tests.pg import fresh_database

CHAOS_S = float(os.environ.get("PARLEY_CHAOS_S", "120"))
KILL_EVERY_S = float(os.environ.get("PARLEY_CHAOS_KILL_EVERY_S", "5"))
DRIVERS = 6
# The drivers file their last dispute this long before the chaos ends, then bring every dispute to its end
# while the chaos goes on: the charter's timers (frontline 4 s + mediation 8 s) and the last decisions run under
# fire instead of after it, and the test waits afterwards only for what the last kills cut short.
LAST_FILING_BEFORE_END_S = 20.0
SETTLE_S = 150.0  # timers (frontline 4 s + mediation 8 s), a killed activity's retry (30 s), the last decisions
# every notice delivered: a killed delivery's retry (60 s), and a case message claim it held (2 min)
NOTICES_S = 180.0
GENESIS = "0" * 64

DANA, PAT = "dana.direct@example.com", "pat.partner@example.com"
MEDIATOR, EXEC, AUDITOR = "mediator@example.com", "exec@example.com", "auditor@example.com"
CRITERIA = {"win_probability": {"direct": 0.4, "partner": 0.7}, "lifetime_value": {"direct": 120000, "partner": 90000},
            "strategic_fit": {"direct": 3, "partner": 4}}
RATIONALE = "The partner sourced the deal and has the stronger relationship with the buyer."


def outcome(direct: int, owner: str = "co_sell") -> dict[str, Any]:
    return {"owner": owner, "credit_split": {"direct": direct, "partner": 100 - direct}}


RULING = {"outcome": outcome(40, "partner"), "criteria": CRITERIA, "rationale": RATIONALE}
Step = tuple[str, str, dict[str, Any]]  # action, by whom, its fields
PATHS: dict[str, list[Step]] = {
    "agree": [("propose", DANA, {"outcome": outcome(50)}), ("accept", PAT, {})],
    "approval": [("propose", DANA, {"outcome": outcome(80, "direct")}), ("accept", PAT, {}),
                 ("approve", MEDIATOR, {"note": "Fair given the sourcing history."})],
    "ruling": [("escalate", DANA, {"reason": "We need the mediator."}), ("rule", MEDIATOR, RULING)],
    "appeal": [("escalate", PAT, {"reason": "We need the mediator."}), ("rule", MEDIATOR, RULING),
               ("appeal", DANA, {"reason": "It ignores our registration."}), ("decide", EXEC, RULING)],
    "executive": [("escalate", DANA, {"reason": "We need the mediator."}),
                  ("escalate", MEDIATOR, {"reason": "For the sponsor."}), ("decide", EXEC, RULING)],
    "paused": [("escalate", DANA, {"reason": "We need the mediator."}),
               ("request_info", MEDIATOR, {"question": "Who registered first?"}),
               ("resume", MEDIATOR, {"note": "Answered."}), ("rule", MEDIATOR, RULING)],
    "withdraw": [("propose", PAT, {"outcome": outcome(50)}), ("withdraw", DANA, {"reason": "Settled offline."})],
    "timers": [],  # nobody acts: the charter's timers take it to the executive
}
PAST = {"file": "filed", "propose": "proposed", "accept": "accepted", "approve": "approved", "escalate": "escalated",
        "request_info": "info_requested", "resume": "resumed", "rule": "ruled", "appeal": "appealed",
        "decide": "decided", "withdraw": "withdrawn"}
REFUSALS = (403, 404, 409)  # the charter's timers got there first (404: an update racing the workflow's close)

# --- the lifecycle as the trail must tell it --------------------------------------------------------------

OPEN = {"frontline": 1, "awaiting_approval": 1, "mediation": 2, "appeal_window": 2, "executive": 3}  # and tier
LEGAL_IN = {"proposed": {"frontline"}, "accepted": {"frontline"}, "approved": {"awaiting_approval"},
            "escalated": {"frontline", "awaiting_approval", "mediation"}, "info_requested": {"mediation"},
            "resumed": {"mediation"}, "ruled": {"mediation"}, "appealed": {"appeal_window"},
            "ruling_final": {"appeal_window"}, "decided": {"executive"}, "sla_breached": {"executive"}}
STATUS_AFTER = {"approved": "resolved", "ruled": "appeal_window", "appealed": "executive", "ruling_final": "resolved",
                "decided": "resolved", "withdrawn": "withdrawn"}
BY_TIER = {1: "frontline", 2: "mediation", 3: "executive"}


def replay(events: list[dict[str, Any]]) -> str:
    """The status the trail leads to; fails on an event the state before it does not allow."""
    status = ""
    for event in events:
        action, payload, where = event["action"], event["payload"], f"seq {event['seq']} {event['action']}"
        if action == "filed":
            assert not status, f"{where}: filed twice"
            status = BY_TIER[payload["start_tier"]]
            continue
        assert status in OPEN, f"{where} by {event['actor']} after the dispute was {status or 'never filed'}"
        assert status in LEGAL_IN.get(action, OPEN), f"{where} by {event['actor']} while {status}"
        if action == "escalated":
            assert payload["from_tier"] == OPEN[status], f"{where} from tier {payload['from_tier']} while {status}"
            status = BY_TIER[payload["to_tier"]]
        elif action == "accepted":
            status = "resolved" if payload["auto_approved"] else "awaiting_approval"
        else:
            status = STATUS_AFTER.get(action, status)
    return status


@dataclass
class Walk:
    """One dispute and the requests of it that were answered."""

    id: str
    path: str
    applied: list[tuple[str, str]] = field(default_factory=list)  # (event, actor) each 200/201 must have left
    refused: list[tuple[str, int]] = field(default_factory=list)

    def expected_status(self) -> str:
        return "withdrawn" if ("withdrawn", DANA) in self.applied else "resolved"


def problems_of(walk: Walk, events: list[dict[str, Any]], view: dict[str, Any]) -> list[str]:
    where = f"{walk.id} ({walk.path}; refused {walk.refused}): {[(e['seq'], e['action'], e['actor']) for e in events]}"
    found = []
    if [e["seq"] for e in events] != list(range(1, len(events) + 1)):
        found.append(f"seq not 1..n: {where}")
    if any(after["prev_hash"] != before["hash"]
           for before, after in zip([{"hash": GENESIS}, *events], events, strict=False)):
        found.append(f"broken chain: {where}")
    try:
        status = replay(events)
    except AssertionError as exc:
        found.append(f"{exc}: {where}")
    else:
        expected = walk.expected_status()
        if not status == view["status"] == expected:
            found.append(f"trail ends {status}, dispute is {view['status']}, expected {expected}: {where}")
    by_people = Counter((e["action"], e["actor"]) for e in events if not e["actor"].startswith("system:"))
    if by_people != Counter(walk.applied):
        found.append(f"people's events {dict(by_people)} are not the answered requests {walk.applied}: {where}")
    if view["last_seq"] != len(events):
        found.append(f"projection at seq {view['last_seq']} of {len(events)}: {where}")
    return found


# --- driving ------------------------------------------------------------------------------------------

async def walk_a_path(client: Persistent, path: str, tag: str, walks: list[Walk]) -> None:
    filing = {"title": f"{tag} {path} {uuid.uuid4().hex[:8]}", "conflict_type": "account_ownership",
              "account": f"Globex {uuid.uuid4().hex[:6]}", "deal_value": 120_000, "region": "AMER",
              "description": "Who owns the account?", "counterparty_email": PAT}
    filed = await client.send("POST", "/api/disputes", DANA, filing)
    assert filed.status == 201, f"filing: {filed.status} {filed.body}"
    walk = Walk(filed.body["id"], path, [("filed", DANA)])
    walks.append(walk)
    for action, by, fields in PATHS[path]:
        answer = await client.send("POST", f"/api/disputes/{walk.id}/actions", by, {"action": action, **fields})
        if answer.status == 200:
            walk.applied.append((PAST[action], by))
        else:
            assert answer.status in REFUSALS, f"{action} by {by} on {walk.id}: {answer.status} {answer.body}"
            walk.refused.append((action, answer.status))


async def drive(client: Persistent, rng: random.Random, tag: str, until: float, walks: list[Walk]) -> None:
    while time.monotonic() < until:
        await walk_a_path(client, rng.choice(sorted(PATHS)), tag, walks)


async def bring_to_its_end(client: Persistent, walk: Walk, deadline: float) -> None:
    """Wait until the timers leave it at the executive or closed, have the executive decide, and wait
    until the dispute and its trail are complete."""
    path = f"/api/disputes/{walk.id}"

    async def reaches(statuses: tuple[str, ...]) -> dict[str, Any] | None:
        view: dict[str, Any] = await client.get(path, AUDITOR)
        return view if view["status"] in statuses and view["last_seq"] == len(await client.get(
            f"{path}/audit", AUDITOR)) else None

    timeout = max(1.0, deadline - time.monotonic())
    view = await eventually(lambda: reaches(("executive", "resolved", "withdrawn")), timeout=timeout, interval=0.5,
                            what=f"{walk.id} to reach the executive or close")
    if view["status"] == "executive":
        answer = await client.send("POST", f"{path}/actions", EXEC, {"action": "decide", **RULING})
        assert answer.status == 200, f"the last decision on {walk.id}: {answer.status} {answer.body}"
        walk.applied.append(("decided", EXEC))
    timeout = max(1.0, deadline - time.monotonic())
    await eventually(lambda: reaches((walk.expected_status(),)), timeout=timeout, interval=0.5,
                     what=f"{walk.id} to be {walk.expected_status()} with its whole trail")


def slack_problems(engine: Engine, fake: FakeSlack) -> list[str]:
    """Each outbox row sent to Slack has exactly one message there, the one it names; no message twice."""
    posted: dict[int, list[tuple[str, str]]] = {}
    for m in fake.messages():
        metadata = m.get("metadata") or {}
        if metadata.get("event_type") != NOTICE_EVENT:
            return [f"a message without its notice's metadata: {m['channel']} {m['ts']}"]
        posted.setdefault(int(metadata["event_payload"]["notice_id"]), []).append((m["channel"], m["ts"]))
    with engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(select(NOTIFICATIONS.c.id, NOTIFICATIONS.c.status,
                                                     NOTIFICATIONS.c.slack_channel, NOTIFICATIONS.c.slack_ts))}
    problems = [f"notice {i} posted {len(where)} times: {where}" for i, where in posted.items() if len(where) > 1]
    problems += [f"notice {i} is in Slack but its row is {rows[i].status if i in rows else 'missing'}"
                 for i in posted if i not in rows or rows[i].status != "sent"]
    problems += [f"notice {r.id} is marked sent as {r.slack_channel} {r.slack_ts}, Slack has {posted.get(r.id)}"
                 for r in rows.values() if r.status == "sent" and posted.get(r.id) != [(r.slack_channel, r.slack_ts)]]
    return problems


def pending_notices(engine: Engine) -> int:
    with engine.connect() as conn:
        return len(conn.execute(select(NOTIFICATIONS.c.id).where(NOTIFICATIONS.c.status == "pending")).all())


def summary(seed: int, chaos: Chaos, tally: Tally, walks: list[Walk], settled_in: float) -> str:
    retried = Counter(status for _, status in tally.retried_after_503)
    return "\n".join([
        f"\nchaos (seed {seed}): {CHAOS_S:.0f}s; killed {dict(chaos.kills)}, spared while restarting "
        f"{dict(chaos.skipped)}",
        f"  {len(walks)} disputes by path {dict(Counter(w.path for w in walks))}; "
        f"{sum(len(w.refused) for w in walks)} actions refused (the timers got there first)",
        f"  answers {dict(tally.answers)}; 503s from {dict(tally.unavailable)}; connection errors {dict(tally.errors)}",
        f"  requests retried after a 503: {len(tally.retried_after_503)}, answered {dict(retried)} in the end",
        f"  settled {settled_in:.0f}s after the chaos",
    ])


async def test_two_workers_and_two_apis_under_fire_lose_and_repeat_nothing(pg_server: str, tmp_path: Path) -> None:
    seed = int(os.environ.get("PARLEY_CHAOS_SEED", str(random.randrange(1 << 30))))
    rng, tally, tag = random.Random(seed), Tally(), f"chaos-{uuid.uuid4().hex[:6]}"
    walks: list[Walk] = []
    with fresh_database(pg_server, "parley_chaos") as url, FakeSlack() as fake:
        fake.joined = set()  # the bot posts to the conflicts channel without joining it (chat:write.public)
        for i, person in enumerate(DEMO_USERS):
            fake.users[f"U0DEMO{i}"] = {"email": person["email"], "real_name": person["name"]}
        stack = Stack(tmp_path, url, workers=2, apis=2)
        stack.env["PARLEY_ANSWER_WITHIN_S"] = "5"  # a worker down answers 503 soon: the retry path gets exercised
        stack.env.update(PARLEY_SLACK_BOT_TOKEN=fake.token, PARLEY_SLACK_API_URL=fake.base_url,
                         PARLEY_SLACK_CHANNEL="C0CONFLICTS", PARLEY_SLACK_CHANNEL_INTERVAL_S="0.02")
        engine = make_engine(url)
        client = None
        try:
            await asyncio.to_thread(stack.start)
            assert set(stack.state()["pids"]) == {"temporal", "worker-1", "worker-2", "api-1", "api-2", "front"}
            client = Persistent(stack.base_url, stack.tokens(), tally)
            chaos = Chaos(stack, rng, KILL_EVERY_S)
            drivers = [random.Random(rng.random()) for _ in range(DRIVERS)]
            chaos_ends = time.monotonic() + CHAOS_S
            chaos_done = chaos_ends

            async def drive_then_settle(client: Persistent) -> None:
                until = chaos_ends - min(LAST_FILING_BEFORE_END_S, CHAOS_S / 2)
                await asyncio.gather(*(drive(client, driver, tag, until, walks) for driver in drivers))
                await asyncio.gather(*(bring_to_its_end(client, walk, chaos_ends + SETTLE_S) for walk in walks))

            async def chaos_then_note_its_end() -> None:
                nonlocal chaos_done
                await chaos.run(CHAOS_S)
                chaos_done = time.monotonic()

            await asyncio.gather(chaos_then_note_its_end(), drive_then_settle(client))
            settled_in = max(0.0, time.monotonic() - chaos_done)

            problems = []
            for walk in walks:
                events = await client.get(f"/api/disputes/{walk.id}/audit", AUDITOR)
                problems += problems_of(walk, events, await client.get(f"/api/disputes/{walk.id}", AUDITOR))
            assert not problems, "\n".join(problems)
            listed = [row for row in await client.get("/api/disputes?limit=1000", AUDITOR)
                      if row["title"].startswith(tag)]
            assert sorted(row["id"] for row in listed) == sorted(w.id for w in walks), "a filing made two disputes"
            verified = await client.get("/api/audit/verify", AUDITOR)
            assert verified["ok"] is True and verified["first_bad"] is None, verified
            assert not tally.outside_contract, "\n".join(tally.outside_contract)
            assert chaos.kills["temporal"] == 1 and chaos.kills["worker"] >= 3 and chaos.kills["api"] >= 3, chaos.kills
            assert tally.retried_after_503, "no request was retried after a 503: the retry path went untested"
            settled = time.monotonic()
            await eventually(lambda: pending_notices(engine) == 0, timeout=NOTICES_S, interval=1.0,
                             what=lambda: f"every notice to be delivered ({pending_notices(engine)} left)")
            delivered_in = time.monotonic() - settled
            assert not (problems := slack_problems(engine, fake)), "\n".join(problems[:20])
            print(summary(seed, chaos, tally, walks, settled_in))
            looks = len(fake.calls_to("conversations.history")) + len(fake.calls_to("conversations.replies"))
            print(f"  Slack: {len(fake.messages())} messages, each posted once, the last {delivered_in:.0f}s after "
                  f"the disputes settled; {looks} looks for a post an attempt cut short may have made")
        except BaseException:
            print(f"\n----- logs of `parley up` in {stack.data_dir} (seed {seed}) -----\n{stack.log_dump()}",
                  file=sys.stderr)
            raise
        finally:
            if client is not None:
                await client.aclose()
            await asyncio.to_thread(stack.stop)
            engine.dispose()

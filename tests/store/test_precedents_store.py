"""The fast precedent query (`store.precedents`) answers exactly what scoring every resolved dispute by hand
answers, on SQLite and PostgreSQL: the same ids in the same order with the same scores, with and without
criteria, for every viewer, over a store crowded with near ties."""

from __future__ import annotations

import json
import random
from typing import Any

from sqlalchemy import Engine, insert
from sqlmodel import Session

from bench.precedents import MEDIATORS, rows
from domain import precedents as rules
from domain.model import Criteria
from store import precedents
from store.tables import DISPUTES, User
from store.visibility import visible_to

AUDITOR = User(id=1, email="audrey@corp.example", name="Audrey", role="auditor")


def _load(engine: Engine, count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    loaded = list(rows(rng, count))
    for row in loaded[: count // 3]:  # near ties: many disputes alike in everything but the criteria
        row.update(region="EMEA", segment="enterprise", currency="EUR", conflict_type="account_ownership",
                   deal_value=250_000.0)
    with engine.begin() as conn:
        conn.execute(insert(DISPUTES), loaded)
    return loaded


def _by_hand(loaded: list[dict[str, Any]], target: rules.Features, exclude: str, viewer: User,
             limit: int) -> list[tuple[str, float]]:
    seen = [r for r in loaded if r["id"] != exclude and (viewer.role == "auditor" or r["mediator"] == viewer.email)]
    scored = []
    for r in seen:
        view = json.loads(r["view_json"])
        given = view["decision"]["criteria"]
        vector = rules.criteria_vector(Criteria.model_validate(given)) if given else None
        found = rules.similarity(target, rules.Features(r["conflict_type"], r["region"], r["segment"],
                                                        r["deal_value"], r["currency"], vector))
        scored.append((rules.rank_key(found, r["closed_at"], r["id"]), r["id"], found.score))
    scored.sort()
    return [(i, s) for _, i, s in scored[:limit]]


def test_the_fast_query_is_the_exhaustive_answer(engine: Engine) -> None:
    loaded = _load(engine, 1500, seed=5)
    rng = random.Random(9)
    mediator = User(id=2, email=MEDIATORS[3], name="M", role="mediator")
    with Session(engine) as session:
        for case in range(40):
            source = rng.choice(loaded)
            view = json.loads(source["view_json"])
            given = view["decision"]["criteria"] if case % 2 else None
            target = rules.Features(source["conflict_type"], source["region"], source["segment"] if case % 3 else None,
                                    source["deal_value"], source["currency"],
                                    rules.criteria_vector(Criteria.model_validate(given)) if given else None)
            viewer = mediator if case % 4 == 0 else AUDITOR
            limit = rng.choice([1, 5, 20])
            found = precedents.find(session, target, source["id"], visible_to(viewer), limit)
            assert [(f.id, f.similarity.score) for f in found] == _by_hand(loaded, target, source["id"], viewer,
                                                                           limit), case

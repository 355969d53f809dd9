"""The candidates for a dispute's precedents, read from the projection fast (DESIGN §9).

Everything is read from two covering indexes (migration 0011: `status, conflict_type, region, segment,
currency, deal_value, …`, and the same after `mediator` for a mediator, who sees only their own), never from
the rows and their stored views, except for the criteria of the candidates that need them and the views of
the few chosen. Three steps, each exact:

1. seed: the closest deal values of the same type, region, segment and currency (two short index ranges,
   up and down from the value; when too few are alike in all that, the best of the same region instead);
2. bound: the last of the seed's top scores says what a candidate must reach, so only those that can are
   read: the same region when no other region could reach it, then the same segment, the same currency and
   a range of deal values, each when what is left without it could not (`_reaching`);
3. rank: those are read in the order of the score's part the index holds (`domain.precedents.partial_sum`,
   the same arithmetic in SQL), a batch at a time; with criteria, the criteria of each batch come from its
   stored views, and reading stops when none of the rest could beat the last of the top even with the whole
   criteria weight.

Other conflict types are read (step 3 alone) only when the dispute's own type has fewer resolved disputes than
asked for. tests/store/test_precedents_store.py checks on both stores that the answer is exactly that of
scoring every resolved dispute by hand. The SQL is text with bound parameters: building it as expressions
cost more than running it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session

from domain import precedents as rules
from domain.model import Decision
from domain.precedents import Features, Similarity, Vector
from store.columns import UTCDateTime

EPSILON = 1e-4  # scores are rounded to 4 places: a margin of two roundings keeps every tie in
COLUMNS = "id, region, segment, deal_value, currency, closed_at, conflict_type"
# `domain.precedents.partial_sum` in SQL (the same arithmetic, in double precision); :w_segment is 0 when the
# dispute has no segment
PARTIAL = """(:w_type * CASE WHEN conflict_type = :conflict_type THEN 1.0 ELSE 0.0 END
 + :w_region * CASE WHEN region = :region THEN 1.0 ELSE 0.0 END
 + :w_segment * CASE WHEN segment = :segment THEN 1.0 ELSE 0.0 END
 + :w_value * CASE WHEN currency = :currency AND deal_value > 0
     THEN 2.0 * (CASE WHEN deal_value < :deal_value THEN deal_value ELSE :deal_value END) / (deal_value + :deal_value)
     ELSE 0.0 END)"""
CRITERIA_SQL = {
    "sqlite": "json_extract(view_json, '$.decision.criteria')",
    "postgresql": "CAST(view_json AS json) #>> '{decision,criteria}'",
}
Chosen = tuple[str, Similarity, datetime | None]


@dataclass(frozen=True)
class Found:
    """A precedent: the resolved dispute as its view says, and how similar it is."""

    id: str
    title: str
    conflict_type: str
    region: str
    segment: str | None
    deal_value: float
    currency: str
    closed_at: datetime | None
    decision: Decision
    similarity: Similarity


def _criteria_of(raw: Any) -> Vector | None:
    """A decision's criteria as stored (JSON text, or a whole view) as the similarity's vector; None when the
    decision has none (an agreement) or they cannot be read."""
    if raw is None:
        return None
    data = json.loads(raw) if isinstance(raw, str) else raw
    if isinstance(data, dict) and "decision" in data:  # a whole view
        data = (data.get("decision") or {}).get("criteria")
    try:
        win, ltv, fit = data["win_probability"], data["lifetime_value"], data["strategic_fit"]
        return rules.vector_of(win["direct"], win["partner"], ltv["direct"], ltv["partner"], fit["direct"],
                               fit["partner"])
    except (KeyError, TypeError):
        return None


@dataclass(frozen=True)
class _Query:
    """The statements' shared parts: the candidates' filter (as SQL and its parameters) and the target."""

    session: Session
    target: Features
    where: str
    params: dict[str, Any]
    source: str = "disputes"  # the table, with the index SQLite is to read it by

    def rows(self, sql: str, **params: Any) -> list[Any]:
        sql = sql.replace("FROM disputes WHERE", f"FROM {self.source} WHERE")
        statement = text(sql).columns(closed_at=UTCDateTime)
        return list(self.session.execute(statement, {**self.params, **params}).all())


def find(session: Session, target: Features, exclude_id: str, visible: ColumnElement[bool] | None,
         limit: int, *, mediators_own: bool = False) -> list[Found]:
    """The `limit` resolved disputes most similar to `target` among those `visible` selects (None: all),
    the same conflict type first, best first; never `exclude_id` (the dispute itself). `mediators_own`: `visible`
    selects one mediator's disputes (their own index serves them)."""
    dialect = session.get_bind().dialect
    seen = "" if visible is None else \
        " AND (" + str(visible.compile(dialect=dialect, compile_kwargs={"literal_binds": True})) + ")"
    params = {"conflict_type": target.conflict_type, "region": target.region, "segment": target.segment,
              "currency": target.currency, "deal_value": float(target.deal_value), "exclude": exclude_id,
              "w_type": rules.W_TYPE, "w_region": rules.W_REGION, "w_value": rules.W_VALUE,
              "w_segment": rules.W_SEGMENT if target.segment else 0.0}
    base = "status = 'resolved' AND id != :exclude" + seen
    # SQLite would rather read a one-column index (mediator, executive) and then the wide rows, views and all
    source = "disputes" if dialect.name != "sqlite" else \
        f"disputes INDEXED BY ix_disputes_precedents{'_mediator' if mediators_own else ''}"
    chosen = _best(_Query(session, target, base + " AND conflict_type = :conflict_type", params, source), limit,
                   seed=True)
    if len(chosen) < limit:
        others = _Query(session, target, base + " AND conflict_type != :conflict_type", params, source)
        chosen += _best(others, limit - len(chosen), seed=False)
    return _details(session, chosen)


def _best(q: _Query, limit: int, *, seed: bool) -> list[Chosen]:
    if seed:
        seeded = _seed(q, limit)
        if len(seeded) < limit or not _reaching(q.target, _needed(q.target, seeded, limit))[0]:
            # too few alike in everything to bound the rest: the best of the same region bound it instead
            seeded = _ranked(_Query(q.session, q.target, q.where + " AND region = :region", q.params, q.source),
                             limit)
        if len(seeded) >= limit:  # only candidates that can reach the seed's last score are read
            more, params = _reaching(q.target, _needed(q.target, seeded, limit))
            q = _Query(q.session, q.target, q.where + more, {**q.params, **params}, q.source)
    return _ranked(q, limit)


def _needed(target: Features, seeded: list[Chosen], limit: int) -> float:
    """The weighted sum a candidate must reach to be among the top `limit`, given candidates known to be."""
    return (seeded[limit - 1][1].score - EPSILON) * rules.weights_for(target) if len(seeded) >= limit else 0.0


def _seed(q: _Query, limit: int) -> list[Chosen]:
    """The closest candidates in deal value among those of the same region, segment and currency: two short
    index ranges (up and down from the deal value), whose scores bound what the whole query must read."""
    same = f"{q.where} AND region = :region AND currency = :currency" + \
        (" AND segment = :segment" if q.target.segment else "")
    both = (f"SELECT * FROM (SELECT {COLUMNS} FROM disputes WHERE {same} AND deal_value >= :deal_value "
            "ORDER BY deal_value LIMIT :n) AS up UNION ALL "
            f"SELECT * FROM (SELECT {COLUMNS} FROM disputes WHERE {same} AND deal_value < :deal_value "
            "ORDER BY deal_value DESC LIMIT :n) AS down")
    return _scored(q, q.rows(_with_criteria(q, both), n=limit * 4))


def _with_criteria(q: _Query, sql: str) -> str:
    """`sql` with each candidate's criteria beside it (read from its stored view) when they count."""
    if q.target.criteria is None:
        return sql
    extract = CRITERIA_SQL.get(q.session.get_bind().dialect.name, "view_json")  # another database: the whole view
    return f"SELECT c.*, {extract.replace('view_json', 'd.view_json')} AS criteria FROM ({sql}) AS c " \
        "JOIN disputes AS d ON d.id = c.id"


def _reaching(target: Features, needed: float) -> tuple[str, dict[str, Any]]:
    """Conditions every candidate of the same type whose weighted sum can reach `needed` meets (so adding them
    changes no answer): the same region when no other region can reach it, then the same segment, the same
    currency and a deal value close enough, each when what is left without it cannot."""
    spare = rules.W_CRITERIA if target.criteria is not None else 0.0
    segment = rules.W_SEGMENT if target.segment else 0.0
    if rules.W_TYPE + segment + rules.W_VALUE + spare >= needed:
        return "", {}
    sql, params = " AND region = :region", {}
    if target.segment and rules.W_TYPE + rules.W_REGION + rules.W_VALUE + spare < needed:
        sql += " AND segment = :segment"
    if rules.W_TYPE + rules.W_REGION + segment + spare < needed:
        sql += " AND currency = :currency"
        closeness = (needed - rules.W_TYPE - rules.W_REGION - segment - spare) / rules.W_VALUE
        if 0 < closeness <= 1:  # 2·min/(a+b) >= c  <=>  the ratio of the values is at most 2/c − 1
            ratio = 2 / closeness - 1
            sql += " AND deal_value BETWEEN :low AND :high"
            params = {"low": target.deal_value / ratio * (1 - 1e-9), "high": target.deal_value * ratio * (1 + 1e-9)}
    return sql, params


def _ranked(q: _Query, limit: int) -> list[Chosen]:
    """The best `limit` of the candidates `q` selects, by the whole score: read in the order of the partial sum,
    a batch at a time, until none of those not read yet can still beat the last of the top."""
    total, spare = rules.weights_for(q.target), rules.W_CRITERIA if q.target.criteria is not None else 0.0
    batch = max(16, limit * 4) if q.target.criteria is not None else limit + 8
    scored: list[Chosen] = []
    read = 0
    while True:
        rows = q.rows(_with_criteria(q, f"SELECT {COLUMNS}, {PARTIAL} AS partial FROM disputes WHERE {q.where} "
                                        "ORDER BY partial DESC, closed_at DESC, id LIMIT :n OFFSET :skip"),
                      n=batch, skip=read)
        read += len(rows)
        scored = sorted([*scored, *_scored(q, rows)], key=lambda s: rules.rank_key(s[1], s[2], s[0]))[:limit]
        if len(rows) < batch or not scored:
            return scored
        # a candidate not read yet scores at most the last one read's partial sum (plus the whole criteria weight)
        bound = (min(r.partial for r in rows) + spare) / total
        if len(scored) == limit and scored[-1][1].score > bound + EPSILON:
            return scored
        batch *= 4


def _scored(q: _Query, rows: list[Any]) -> list[Chosen]:
    given = q.target.criteria is not None
    scored = [(r.id, rules.similarity(q.target, _features(r, _criteria_of(r.criteria) if given else None)),
               r.closed_at) for r in rows]
    scored.sort(key=lambda s: rules.rank_key(s[1], s[2], s[0]))
    return scored


def _features(row: Any, criteria: Vector | None = None) -> Features:
    return Features(conflict_type=row.conflict_type, region=row.region, segment=row.segment,
                    deal_value=float(row.deal_value), currency=row.currency, criteria=criteria)


def _details(session: Session, chosen: list[Chosen]) -> list[Found]:
    if not chosen:
        return []
    statement = text("SELECT id, view_json FROM disputes WHERE id IN :ids").bindparams(
        bindparam("ids", expanding=True))
    views = {r.id: r.view_json for r in session.execute(statement, {"ids": [c[0] for c in chosen]})}
    found: list[Found] = []
    for dispute_id, similarity, closed_at in chosen:
        view = json.loads(views[dispute_id])
        decision = Decision.model_validate(view["decision"])
        found.append(Found(id=dispute_id, title=view["title"], conflict_type=view["conflict_type"],
                           region=view["region"], segment=view.get("segment"), deal_value=view["deal_value"],
                           currency=view["currency"], closed_at=closed_at, decision=decision,
                           similarity=similarity))
    return found


__all__ = ["Found", "find"]

"""Schemathesis against the real stack: every role, `--checks all`, bounded and deterministic.

The app is served by uvicorn with the real worker and a Temporal dev server (the `stack` of
conftest.py). For each role's token Schemathesis loads `/openapi.json` and runs all its phases
(examples, coverage, fuzzing, stateful) with every check, as `st run --checks all` does: no 5xx, every
answer as documented (status, content type, headers, schema), schema-valid requests accepted, invalid
ones refused, credentials never ignored. It runs in a thread so that the server keeps serving in this
event loop.

Bounded and repeatable: `PARLEY_FUZZ_EXAMPLES` examples per operation (default 8), a fixed seed and
Hypothesis' derandomized mode, so a run is the same run every time. The coverage phase (every boundary
and enumeration value of the schema, some 1,500 requests whatever the examples) runs as the admin,
whose requests reach the validation of every parameter and body (a route checks who files or acts
only after FastAPI has validated the body); the other roles run the examples, fuzzing and stateful
phases. `PARLEY_FUZZ_FULL=1` (`make fuzz`) runs every phase for every role, on SQLite and PostgreSQL.
The figures are printed (`-s`).

The Slack routes are left out: Slack signs those requests with the app's signing secret, so every
generated request stops at the signature (401); tests/slack/ covers them, signed as Slack signs them.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from schemathesis.checks import load_all_checks
from schemathesis.engine import Status, events, from_schema

from tests.api.conftest import CRITERIA, OUTCOME, RATIONALE, Api

EXAMPLES = int(os.environ.get("PARLEY_FUZZ_EXAMPLES", "8"))
FULL = os.environ.get("PARLEY_FUZZ_FULL") == "1"
BACKENDS = ["sqlite", "postgresql"] if FULL else ["sqlite"]
SEED = 20261127
ROLES = {  # role → who in conftest.PEOPLE
    "rep (direct)": "dana",
    "rep (partner)": "pat",
    "mediator": "mediator",
    "executive": "exec",
    "auditor": "auditor",
    "admin": "admin",
}
COVERAGE_ROLES = frozenset(ROLES) if FULL else frozenset({"admin"})
# Rules OpenAPI cannot state (they relate fields, or depend on who exists): on these operations a
# schema-valid request may get the documented 422, but only naming one of these fields. Every other
# rule (lengths, patterns, enumerations, bounds) is in the schema, so any other 422 to a schema-valid
# request fails `only_unstatable_rules` below.
UNSTATABLE: dict[str, frozenset[str]] = {
    # the counterparty must be a Parley rep of the other channel; partner_org must be the partner
    # party's; the charter decides which conflict types it takes and what each requires; the registrations
    # named must exist, be the filer's and the counterparty's, and not already have an open dispute
    "POST /api/disputes": frozenset({"counterparty_email", "partner_org", "registration_ref", "opportunity_ref",
                                     "conflict_type", "registration_ids"}),
    # the credit split adds up to 100; `to` must be a Parley user
    "POST /api/disputes/{dispute_id}/actions": frozenset({"outcome.credit_split", "to"}),
    # a rep needs a channel, a partner user a partner_org; nobody is their own manager
    "POST /api/users": frozenset({"channel", "partner_org", "manager_email"}),
    # the owner an admin names must be a Parley rep; a domain must be one (IDNA, a real top-level label)
    "POST /api/registrations": frozenset({"owner_email", "account_domain"}),
    # an extension moves the end of the protection window later, within five years
    "POST /api/registrations/{registration_id}/actions": frozenset({"until"}),
    # the body is a CSV or JSON Lines file, which no schema of a string describes: a file that cannot be read as
    # one (no header line, a header lacking a column, not UTF-8) is refused naming its header or a row; a bad
    # row is one of a 200's errors
    "POST /api/registrations/import": frozenset({"header", "row"}),
    # a review period's dates must exist (2026-02-30 matches the pattern) and `to` may not come before `from`
    "GET /api/partners/{org}/review": frozenset({"from", "to"}),
    # a webhook must reach a public host (what its name resolves to), with a URL that parses
    "POST /api/webhooks": frozenset({"url"}),
    # a charter must parse and validate, and route only to Parley users with the role
    "POST /api/charter": frozenset({"toml"}),
    # an absence ends after it starts and is not over; its delegate is another user of the person's role, free
    # over those days and on their disputes; only mediators and executives hand work over (DESIGN §8)
    "PUT /api/users/{email}/away": frozenset({"from", "until", "delegate", "email"}),
}
POSITIVE_ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429"]  # Schemathesis' list, less 5xx
# Checks whose failures mean that an answer contradicts the OpenAPI document.
SCHEMA_CHECKS = frozenset({"status_code_conformance", "content_type_conformance", "response_schema_conformance",
                           "response_headers_conformance", "allow_header_conformance"})


@schemathesis.check
def only_unstatable_rules(ctx: Any, response: Any, case: Any) -> bool | None:
    """A schema-valid request refused with 422 names only fields of a rule OpenAPI cannot state."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 422:
        return None
    allowed = UNSTATABLE.get(case.operation.label, frozenset())
    fields = {problem.get("field") for problem in response.json()["detail"] if not _key_reused(problem)}
    if not fields <= allowed:
        raise AssertionError(f"a schema-valid request was refused for {sorted(fields - allowed)}: "
                             "state that rule in the OpenAPI document")
    return None


def _key_reused(problem: dict[str, Any]) -> bool:
    """An Idempotency-Key sent before with another request: a rule about past requests, which no
    schema can state (Schemathesis draws the same short keys again and again)."""
    return problem.get("field") == "Idempotency-Key" and "already used" in str(problem.get("message"))


@dataclass
class Figures:
    requests: int = 0
    server_errors: int = 0
    failures: Counter[str] = field(default_factory=Counter)  # check → failing cases
    phases: Counter[str] = field(default_factory=Counter)  # phase → requests
    reports: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # what Schemathesis could not test

    @property
    def schema_violations(self) -> int:
        return sum(n for check, n in self.failures.items() if check in SCHEMA_CHECKS)

    def add(self, other: Figures) -> None:
        self.requests += other.requests
        self.server_errors += other.server_errors
        self.failures.update(other.failures)
        self.phases.update(other.phases)
        self.reports += other.reports
        self.errors += other.errors

    def summary(self) -> str:
        return (f"{self.requests} requests ({', '.join(f'{p} {n}' for p, n in sorted(self.phases.items()))}), "
                f"{self.server_errors} 5xx, {self.schema_violations} schema violations, "
                f"{sum(self.failures.values())} failed checks" + (f" {dict(self.failures)}" if self.failures else ""))


def config_for(base_url: str, token: str, dispute_ids: list[str], coverage: bool) -> schemathesis.Config:
    """What `st run --checks all` would get from a schemathesis.toml and its options."""
    config = schemathesis.Config.from_dict({
        "phases": {"coverage": {"enabled": coverage}},
        "seed": SEED,
        "base-url": base_url,
        "headers": {"Authorization": f"Bearer {token}"},
        "workers": 1,
        "request-timeout": 30,
        # No NUL in generated text: the API refuses it in every text field (PostgreSQL cannot store
        # it) with the documented 422; a schema could only say so with a pattern on every string.
        "generation": {"max-examples": EXAMPLES, "deterministic": True, "database": "none", "allow-x00": False},
        # Half of the drawn dispute ids are real ones, of every state, so that the reads and the
        # actions meet real disputes and their answers are checked against the schema too.
        "dictionaries": {"disputes": {"values": dispute_ids}},
        "parameters": {"path.dispute_id": {"dictionary": "disputes", "probability": 0.5}},
        "operations": [
            {"include-name": label,
             "checks": {"positive_data_acceptance": {"expected-statuses": [*POSITIVE_ACCEPTED, 422]}}}
            for label in UNSTATABLE
        ],
    })
    config.projects.override.checks.update(included_check_names=["all"])  # --checks all
    return config


def fuzz(base_url: str, token: str, dispute_ids: list[str], coverage: bool) -> Figures:
    """One Schemathesis run with every check, as the owner of `token`; blocking."""
    load_all_checks()
    config = config_for(base_url, token, dispute_ids, coverage)
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json", config=config)
    schema = schema.exclude(path_regex="^/slack/")  # signed by Slack: see the module docstring
    figures = Figures()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            _count(event.recorder, figures, str(event.phase.value))
        elif isinstance(event, events.FuzzScenarioFinished):
            _count(event.recorder, figures, "fuzz")
        elif isinstance(event, events.NonFatalError):
            figures.errors.append(f"{event.label}: {event.info.format()}")
        elif isinstance(event, events.FatalError):
            figures.errors.append(f"fatal: {event.exception!r}")
    return figures


def _count(recorder: Any, figures: Figures, phase: str) -> None:
    for case_id, interaction in recorder.interactions.items():
        figures.requests += 1
        figures.phases[phase] += 1
        if interaction.response is not None and interaction.response.status_code >= 500:
            figures.server_errors += 1
            case = recorder.cases[case_id].value
            figures.reports.append(f"5xx: {interaction.response.status_code} {case.method} {case.formatted_path} "
                                   f"body={case.body!r} query={case.query!r}"[:600])
    for case_id, checks in recorder.checks.items():
        for check in checks:
            if check.status == Status.FAILURE and check.failure_info is not None:
                figures.failures[check.name] += 1
                failure = check.failure_info.failure
                response = recorder.find_response(case_id=failure.case_id or case_id)
                answer = f"{response.status_code} {response.text[:300]}" if response is not None else "no answer"
                figures.reports.append(f"{check.name}: {failure.title}: {failure.message}\n"
                                       f"    {check.failure_info.code_sample[:1000]}\n    → {answer}")


async def disputes_in_every_state(api: Api) -> list[str]:
    ids = [await api.in_state(state) for state in
           ("frontline", "proposed", "mediation", "paused", "appeal_window", "executive", "resolved")]
    await api.ok(ids[5], "exec", "decide", outcome=OUTCOME, criteria=CRITERIA, rationale=RATIONALE)
    return [*ids, await api.in_state("executive")]


@pytest.mark.parametrize("stack_db_url", BACKENDS, indirect=True)
async def test_schemathesis_every_role(api: Api) -> None:
    dispute_ids = await disputes_in_every_state(api)
    base_url = str(api.http.base_url).rstrip("/")
    total = Figures()
    started = time.monotonic()
    for role, who in ROLES.items():
        role_started = time.monotonic()
        figures = await asyncio.to_thread(fuzz, base_url, api.tokens[who], dispute_ids, role in COVERAGE_ROLES)
        total.add(figures)
        print(f"\nschemathesis as {role}: {figures.summary()} ({time.monotonic() - role_started:.0f}s)")
    print(f"\nschemathesis, {len(ROLES)} roles, {EXAMPLES} examples per operation, seed {SEED}: "
          f"{total.summary()} ({time.monotonic() - started:.0f}s)")
    for line in dict.fromkeys(total.reports + total.errors):  # each distinct report once
        print(line)
    assert total.requests > 0
    assert not total.errors, total.errors
    assert total.server_errors == 0
    assert total.schema_violations == 0
    assert not total.failures, dict(total.failures)

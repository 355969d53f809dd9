"""`make demo`: `parley up` on the fast charter, with two sample disputes filed once it is up.

`make demo` sets PARLEY_CHARTER=charters/fast.toml (second-long SLAs on a 24x7 calendar), its own data
dir (var/demo) and its own ports, then runs `python -m ops.demo`: this process is `parley up` (the
supervisor, in the main thread), and a helper thread waits until the stack is up and files, as the
seeded demo users,

- one dispute that nobody touches: it escalates to mediation when its 4 s frontline SLA runs out and
  to the executive 8 s later, where reminders and the backup's page follow (nobody decides for the
  executive);
- one that the two reps settle at frontline: Pat proposes a 60/40 co-sell, Dana accepts, the charter
  approves it at once.

The helper only talks HTTP to the API, as any client would; if that fails the stack keeps running.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

import httpx

from settings import Settings, get_settings

DANA = "dana.direct@example.com"
PAT = "pat.partner@example.com"
START_TIMEOUT_S = 180.0


def _ready(settings: Settings, api: str) -> bool:
    """The supervisor has written up.json (all parts healthy, banner next) and the API answers."""
    try:
        state = json.loads((settings.data_dir / "up.json").read_text())
        return bool(state.get("supervisor") == os.getpid()) and httpx.get(f"{api}/healthz", timeout=2).is_success
    except (OSError, ValueError, httpx.HTTPError):
        return False


def _dispute(title: str, account: str, **fields: Any) -> dict[str, Any]:
    return {"title": title, "conflict_type": "account_ownership", "account": account, "deal_value": 120_000,
            "region": "AMER", "description": f"{title}: both teams claim it.", "counterparty_email": PAT,
            **fields}


def file_samples(settings: Settings, api: str) -> list[str]:
    """File the two sample disputes; returns the lines that tell the user what to watch."""
    tokens: dict[str, str] = json.loads((settings.data_dir / "demo-tokens.json").read_text())

    def as_(email: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens[email]}"}

    with httpx.Client(base_url=api, timeout=30) as http:
        def post(path: str, who: str, body: dict[str, Any]) -> dict[str, Any]:
            response = http.post(path, json=body, headers=as_(who))
            response.raise_for_status()
            view: dict[str, Any] = response.json()
            return view

        stuck = post("/api/disputes", DANA, _dispute("Acme renewal quoted by both teams", "Acme"))
        settled = post("/api/disputes", DANA, _dispute("Initech expansion: who gets the credit", "Initech"))
        post(f"/api/disputes/{settled['id']}/actions", PAT, {
            "action": "propose", "note": "Let's co-sell it",
            "outcome": {"owner": "co_sell", "credit_split": {"direct": 60, "partner": 40}},
        })
        done = post(f"/api/disputes/{settled['id']}/actions", DANA, {"action": "accept"})
    return [
        "Sample disputes (fast charter: frontline 4 s, mediation 8 s, executive 4 s):",
        f"  {stuck['id']}  nobody acts: mediation in 4 s, the executive 8 s later   {api}/disputes/{stuck['id']}",
        f"  {settled['id']}  Pat proposed a 60/40 co-sell, Dana accepted: {done['status']}"
        f"   {api}/disputes/{settled['id']}",
        f"Sign in at {api}/sign-in with a token above (try the mediator's, then the executive's).",
    ]


def _samples_when_up(settings: Settings) -> None:
    api = f"http://{settings.http_host}:{settings.http_port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while not _ready(settings, api):
        if time.monotonic() > deadline:
            return  # the supervisor has said what went wrong
        time.sleep(0.5)
    time.sleep(0.5)  # after the banner
    try:
        lines = file_samples(settings, api)
    except (httpx.HTTPError, OSError, KeyError, ValueError) as exc:
        lines = [f"(could not file the sample disputes: {exc}; file your own at {api}/disputes/new)"]
    print("\n".join(["", *lines]), flush=True)


def main() -> None:
    from cli import main as parley

    threading.Thread(target=_samples_when_up, args=(get_settings(),), name="demo-samples", daemon=True).start()
    parley(["up"])  # leaves the process with os._exit, which ends the helper thread too


if __name__ == "__main__":
    main()

"""The whole stack for the e2e tests: `parley up` in a real process, and its HTTP API as the demo users.

`Stack` runs `python -m cli up` on free ports and its own data dir with `charters/fast.toml` (with
`--workers N --apis M` when asked: the M API processes on the ports after the front's), stops it
with SIGTERM (and kills whatever is left), and reads what the supervisor reports in `up.json`.
Every process of a stack carries its PARLEY_DATA_DIR, which is how leftovers are found.

`Parley` is an httpx client that speaks as any demo user, with helpers that poll with a deadline
instead of sleeping (tests/harness/waiting.py), and `act_eventually` for acting while the worker may be
down. Ports come from tests/harness/ports.py. (Over 300 lines: the process stack and the client that
drives it are read together when an e2e test fails.)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.harness.paths import ROOT
from tests.harness.ports import free_port, port_is_free
from tests.harness.waiting import TimedOut, eventually, eventually_blocking

CHARTER = "charters/fast.toml"
AUDITOR = "auditor@example.com"
START_TIMEOUT = 90.0
STOP_TIMEOUT = 30.0
LOG_TAIL_LINES = 300
# a record_event attempt lost with a killed worker is retried after its 30 s start-to-close timeout
RECORD_RETRY_WAIT = 45.0


# --- processes ---------------------------------------------------------------------------------------

def _pids_with_env(name: str, value: str) -> list[int]:
    """Processes of this user whose environment has name=value (the stack's children carry it)."""
    needle = f"{name}={value}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            status = (entry / "status").read_text()
        except OSError:
            continue
        if "State:\tZ" in status:  # a zombie waiting for its parent holds nothing any more
            continue
        if needle in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def _free_run(length: int, avoid: tuple[int, ...]) -> int:
    """The first of `length` consecutive free ports (the front's, then its API processes')."""
    for _ in range(200):
        first = free_port(avoid=avoid)
        run = range(first, first + length)
        if run[-1] < 65536 and not set(run) & set(avoid) and all(port_is_free(p) for p in run[1:]):
            return first
    raise RuntimeError(f"no {length} consecutive free ports found")


# --- the stack ----------------------------------------------------------------------------------------

class Stack:
    """One `parley up` on its own data dir and ports; can be stopped and started again."""

    def __init__(self, data_dir: Path, database_url: str | None, workers: int = 1, apis: int = 1) -> None:
        self.data_dir = data_dir
        self.temporal_port = free_port(with_offset=1000)  # its Web UI takes port + 1000
        self.http_port = _free_run(1 + (apis if apis > 1 else 0), avoid=(self.temporal_port, self.temporal_port + 1000))
        self.base_url = f"http://127.0.0.1:{self.http_port}"
        self.layout = ["--workers", str(workers), "--apis", str(apis)] if (workers, apis) != (1, 1) else []
        self.database_url = database_url
        env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
        env.update({
            "PARLEY_DATA_DIR": str(data_dir),
            "PARLEY_CHARTER": CHARTER,
            "PARLEY_TEMPORAL_DEV_PORT": str(self.temporal_port),
            "PARLEY_HTTP_PORT": str(self.http_port),
            "PYTHONUNBUFFERED": "1",
        })
        if database_url:
            env["PARLEY_DATABASE_URL"] = database_url
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.logs = data_dir / "logs"
        self.supervisor_log = self.logs / "supervisor.log"

    # starting and stopping

    def start(self, timeout: float = START_TIMEOUT) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        with self.supervisor_log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "cli", "up", *self.layout], cwd=ROOT, env=self.env, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
            )
        self.wait_healthy(timeout)
        self.wait_state(timeout=10)

    def wait_healthy(self, timeout: float) -> None:
        last = "no answer yet"

        def healthy() -> bool:
            nonlocal last
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"`parley up` exited with {self.proc.returncode} during start-up")
            try:
                response = httpx.get(f"{self.base_url}/healthz", timeout=3)
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
                return False
            last = f"{response.status_code} {response.text[:300]}"
            return response.status_code == 200

        eventually_blocking(healthy, timeout=timeout, interval=0.25, what=lambda: f"/healthz to be 200 (last: {last})")

    def terminate(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM the supervisor and wait: its exit status, or None when it is still running."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                return None
        return self.proc.returncode

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """`terminate`, then kill whatever of this stack is still running."""
        code = self.terminate(timeout)
        self.kill_leftovers()
        return code

    def kill_leftovers(self) -> None:
        """SIGKILL the supervisor's process group and every process running with this data dir."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(10)
        for pid in self.processes():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        while self.processes() and time.monotonic() < deadline:
            time.sleep(0.1)

    def processes(self) -> list[int]:
        """Every live process started by this stack (they all carry its PARLEY_DATA_DIR)."""
        return _pids_with_env("PARLEY_DATA_DIR", str(self.data_dir))

    # what the supervisor reports

    def state(self) -> dict[str, Any]:
        """`<data_dir>/up.json`: the supervisor's pid and its children's."""
        data: dict[str, Any] = json.loads((self.data_dir / "up.json").read_text())
        return data

    def wait_state(self, timeout: float, until: Callable[[dict[str, Any]], bool] = lambda s: True
                   ) -> dict[str, Any]:
        last: object = None

        def reached() -> dict[str, Any] | None:
            nonlocal last
            try:
                state = self.state()
            except (OSError, ValueError) as exc:  # not written yet, or caught mid-write
                last = exc
                return None
            last = state
            return state if until(state) else None

        return eventually_blocking(reached, timeout=timeout, interval=0.1,
                                   what=lambda: f"up.json to reach the expected state; last: {last!r}")

    def tokens(self) -> dict[str, str]:
        tokens: dict[str, str] = json.loads((self.data_dir / "demo-tokens.json").read_text())
        return tokens

    def log_dump(self) -> str:
        parts = []
        for path in sorted(self.logs.glob("*.log")):
            lines = path.read_text(errors="replace").splitlines()
            cut = f" (last {LOG_TAIL_LINES} of {len(lines)} lines)" if len(lines) > LOG_TAIL_LINES else ""
            parts.append(f"===== {path}{cut} =====\n" + "\n".join(lines[-LOG_TAIL_LINES:]))
        return "\n".join(parts) or f"(no logs in {self.logs})"


# --- the HTTP API as the demo users see it ------------------------------------------------------------

class ApiError(AssertionError):
    def __init__(self, response: httpx.Response, what: str) -> None:
        super().__init__(f"{what}: {response.status_code} {response.text[:500]}")
        self.status = response.status_code


class Parley:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.tokens = stack.tokens()
        self.client = httpx.AsyncClient(base_url=stack.base_url, timeout=30)

    async def reconnect(self) -> None:
        """A new connection pool and the tokens as they are now (after the stack restarted)."""
        await self.client.aclose()
        self.tokens = self.stack.tokens()
        self.client = httpx.AsyncClient(base_url=self.stack.base_url, timeout=30)

    async def aclose(self) -> None:
        await self.client.aclose()

    def auth(self, email: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[email]}"}

    # writing

    async def file(self, by: str, against: str, title: str, timeout: float = 30, **fields: Any) -> dict[str, Any]:
        body = {
            "title": title, "conflict_type": "account_ownership", "account": f"Globex {uuid.uuid4().hex[:6]}",
            "deal_value": 120_000, "region": "AMER", "description": f"{title}: who owns the account?",
            "counterparty_email": against, **fields,
        }
        response = await self.client.post("/api/disputes", json=body, headers=self.auth(by), timeout=timeout)
        if response.status_code != 201:
            raise ApiError(response, f"filing {title!r} as {by}")
        view: dict[str, Any] = response.json()
        return view

    async def send(self, dispute_id: str, by: str, action: str, timeout: float = 30,
                   **fields: Any) -> httpx.Response:
        return await self.client.post(f"/api/disputes/{dispute_id}/actions", json={"action": action, **fields},
                                      headers=self.auth(by), timeout=timeout)

    async def act(self, dispute_id: str, by: str, action: str, **fields: Any) -> dict[str, Any]:
        response = await self.send(dispute_id, by, action, **fields)
        if response.status_code != 200:
            raise ApiError(response, f"{action} on {dispute_id} by {by}; trail {await self.trail(dispute_id)}")
        view: dict[str, Any] = response.json()
        return view

    async def act_eventually(self, dispute_id: str, by: str, action: str, done: Callable[[dict[str, Any]], bool],
                             timeout: float = 90, attempt_timeout: float = 5, **fields: Any) -> dict[str, Any]:
        """Act while the worker may be down: an attempt may time out (the API keeps waiting on the
        workflow) or fail; the action counts once the dispute shows `done`, and is sent again
        otherwise. The workflow's validators refuse a second copy once the first has landed."""
        deadline = time.monotonic() + timeout
        last = "not sent"
        while time.monotonic() < deadline:
            try:
                response = await self.send(dispute_id, by, action, timeout=attempt_timeout, **fields)
            except httpx.TimeoutException as exc:
                last = f"{type(exc).__name__} after {attempt_timeout}s"
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code == 200:
                    view: dict[str, Any] = response.json()
                    return view
                last = f"{response.status_code} {response.text[:300]}"
                if response.status_code in (401, 422):  # the request itself is wrong
                    raise ApiError(response, f"{action} on {dispute_id} by {by}")
                if response.status_code < 500:
                    # Refused by the workflow: fine only when an earlier attempt has landed. Its audit
                    # event (and the projection) may lag by the record activity's 30 s start-to-close
                    # timeout when the worker died while writing it.
                    return await self.wait_for(dispute_id, done, f"{action} by {by} to take effect ({last})",
                                               timeout=RECORD_RETRY_WAIT)
            try:
                return await self.wait_for(dispute_id, done, f"{action} by {by}", timeout=attempt_timeout)
            except AssertionError:
                continue
        raise AssertionError(f"{action} by {by} on {dispute_id} never took effect; last attempt: {last}")

    # reading (as the auditor, who sees everything)

    async def get(self, dispute_id: str, as_: str = AUDITOR) -> dict[str, Any]:
        response = await self.client.get(f"/api/disputes/{dispute_id}", headers=self.auth(as_))
        if response.status_code != 200:
            raise ApiError(response, f"reading {dispute_id}")
        view: dict[str, Any] = response.json()
        return view

    async def disputes(self, **params: Any) -> list[dict[str, Any]]:
        response = await self.client.get("/api/disputes", params={"limit": 1000, **params},
                                          headers=self.auth(AUDITOR))
        if response.status_code != 200:
            raise ApiError(response, "listing disputes")
        rows: list[dict[str, Any]] = response.json()
        return rows

    async def audit(self, dispute_id: str) -> list[dict[str, Any]]:
        response = await self.client.get(f"/api/disputes/{dispute_id}/audit", headers=self.auth(AUDITOR))
        if response.status_code != 200:
            raise ApiError(response, f"reading the audit trail of {dispute_id}")
        events: list[dict[str, Any]] = response.json()
        return events

    async def verify(self) -> dict[str, Any]:
        response = await self.client.get("/api/audit/verify", headers=self.auth(AUDITOR))
        if response.status_code != 200:
            raise ApiError(response, "verifying the audit trail")
        result: dict[str, Any] = response.json()
        return result

    # waiting

    async def wait_for(self, dispute_id: str, predicate: Callable[[dict[str, Any]], bool], what: str,
                       timeout: float = 30) -> dict[str, Any]:
        view: dict[str, Any] | None = None

        async def matching() -> dict[str, Any] | None:
            nonlocal view
            try:
                view = await self.get(dispute_id)
            except (ApiError, httpx.TransportError):
                view = None
            return view if view is not None and predicate(view) else None

        try:
            return await eventually(matching, timeout=timeout, interval=0.2, what=what)
        except TimedOut:
            status = view["status"] if view else "unreadable"
            raise AssertionError(f"{dispute_id}: waited {timeout:.0f}s for {what}; status {status}, "
                                 f"trail {await self.trail(dispute_id)}") from None

    async def trail(self, dispute_id: str) -> list[tuple[int, str, str, str]]:
        """(seq, action, actor, time) of each event, for failure messages."""
        try:
            return [(e["seq"], e["action"], e["actor"], e["at"][11:23]) for e in await self.audit(dispute_id)]
        except (AssertionError, httpx.TransportError):
            return []

    async def wait_status(self, dispute_id: str, status: str, timeout: float = 30) -> dict[str, Any]:
        return await self.wait_for(dispute_id, lambda v: v["status"] == status, f"status {status}", timeout)

    async def wait_event(self, dispute_id: str, matches: Callable[[dict[str, Any]], bool], what: str,
                         timeout: float = 30) -> dict[str, Any]:
        async def found() -> dict[str, Any] | None:
            return next((e for e in await self.audit(dispute_id) if matches(e)), None)

        try:
            return await eventually(found, timeout=timeout, interval=0.2, what=what)
        except TimedOut:
            raise AssertionError(f"{dispute_id}: waited {timeout:.0f}s for {what}; "
                                 f"trail {await self.trail(dispute_id)}") from None

    async def find_by_title(self, title: str, timeout: float = 60) -> dict[str, Any]:
        async def titled() -> dict[str, Any] | None:
            rows = [r for r in await self.disputes() if r["title"] == title]
            assert len(rows) <= 1, f"{len(rows)} disputes titled {title!r}"
            return rows[0] if rows else None

        return await eventually(titled, timeout=timeout, interval=0.3, what=f"a dispute titled {title!r}")

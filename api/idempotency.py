"""The `Idempotency-Key` header of `POST /api/disputes` and `POST /api/disputes/{id}/actions`.

A client that got no answer (a 503, a dropped connection) sends the same request again with the same
key and gets the first answer; the work is never applied twice:

- The key is claimed in the store (`store.once`, table `once_keys`) as "idem:<user id>:<route>:<key>",
  with a fingerprint of the request (method, path, body). The same key with another request to the same
  route (another body, another dispute) is refused: 422 naming `Idempotency-Key`. The filing route and the
  actions route keep keys apart: a key is the sender's and the route's.
- Once the workflow has answered, that answer (the status and body, or the refusal) is kept with the
  key, and every retry gets it again (a replayed success carries `Idempotent-Replayed: true`).
- Until then a retry goes to Temporal again under names derived from the claim, so that Temporal
  itself applies the work once: the filing's dispute id (its workflow id, joined if it exists) and the
  update id of the action or of the filing's `settled` update (Temporal answers a known update id
  with its first outcome). A retry that arrives while the first attempt still waits, or after the
  process that sent it died, therefore joins it instead of repeating it.
- A refusal before anything reaches Temporal (unknown counterparty, a dispute you cannot see) is not
  kept: a retry is checked again.

Keys live 24 hours (`TTL`; Temporal keeps a closed workflow's history at least that long); after that
the same key starts a new request.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from api.deps import CurrentUser, EngineDep
from domain.errors import Forbidden, InvalidInput, NotAuthenticated, NotFound, ParleyError, Unavailable, WrongState
from store import once

HEADER = "Idempotency-Key"
TTL = timedelta(hours=24)
SCOPE = "idempotency"
# 1–200 printable ASCII characters; HTTP drops a header value's outer spaces, so those cannot be sent
KEY_PATTERN = r"^[!-~]([ -~]{0,198}[!-~])?$"
_VALID = re.compile(KEY_PATTERN)
_REFUSALS: dict[str, type[ParleyError]] = {
    cls.__name__: cls for cls in (InvalidInput, NotAuthenticated, Forbidden, NotFound, WrongState)}

T = TypeVar("T")

KeyHeader = Annotated[str | None, Header(
    alias=HEADER, description="Any 1–200 printable ASCII characters, new for each request (a UUID will do). "
    "A retry with the same key returns the first answer and never applies the request twice. A key is the "
    "sender's and this route's: the same key with another request to this route (another body, or another "
    "dispute) is refused (422), while the other keyed route keeps keys of its own. A request refused as "
    "invalid before it was taken (422 for its body) leaves the key unused. Keys expire after 24 hours.",
    # stated for clients and checkers; `idempotency` checks it, so that the 422 names `Idempotency-Key`
    json_schema_extra={"minLength": 1, "maxLength": 200, "pattern": KEY_PATTERN},
)]


@dataclass
class Once:
    """One request's `Idempotency-Key` (or none), bound to who sends it and where."""

    engine: Engine
    response: Response
    prefix: str  # "idem:<user id>:<route template>:", before the key itself
    method: str
    path: str
    key: str | None
    token: str | None = None  # set by `begin` while the key has no answer yet: names the work in Temporal

    @property
    def dispute_id(self) -> str | None:
        """The filing's dispute (and workflow) id: the same for every retry with the key."""
        return f"PRL-{self.token[:8].upper()}" if self.token else None

    @property
    def update_id(self) -> str | None:
        return f"idem-{self.token[:32]}" if self.token else None

    async def begin(self, payload: BaseModel) -> dict[str, Any] | None:
        """The first answer given to this key, if there is one (a refusal is raised again); None when
        the work is to be done, or to be done again under the same names."""
        if self.key is None:
            return None
        key = self.prefix + self.key
        fingerprint = _fingerprint(self.method, self.path, payload)
        seen = await self._store(_claim, self.engine, key, fingerprint)
        if seen.fingerprint != fingerprint:
            raise InvalidInput("this key was already used for a different request (another body or path); "
                               "use a new key for a new request", HEADER)
        if seen.status is None:  # not answered yet: in flight, or its process died; do it again, once
            self.token = _token(key, seen.created_at)
            return None
        kept: dict[str, Any] = json.loads(seen.result or "{}")
        if seen.status >= 400:
            raise _REFUSALS.get(kept["error"], WrongState)(kept["message"], kept["field"], kept.get("extra"))
        self.response.status_code = seen.status
        self.response.headers["Idempotent-Replayed"] = "true"
        return kept

    async def finish(self, status: int, work: Awaitable[dict[str, Any]]) -> dict[str, Any]:
        """Awaits the answer (the dispute as JSON) and keeps it with the key, the refusals as well as the
        successes."""
        try:
            answer = await work
        except Unavailable as exc:
            raise Unavailable(f"{exc.message}; {self._advice()}") from exc
        except ParleyError as exc:
            await self._keep(exc.status, {"error": type(exc).__name__, "message": exc.message, "field": exc.field,
                                          "extra": exc.extra})
            raise
        await self._keep(status, answer)
        return answer

    async def _keep(self, status: int, answer: Any) -> None:
        if self.token is not None and self.key is not None:
            await self._store(once.settle, self.engine, self.prefix + self.key, status, json.dumps(answer))

    async def _store(self, call: Callable[..., T], *args: Any) -> T:
        try:
            return await run_in_threadpool(call, *args)
        except SQLAlchemyError as exc:
            raise Unavailable(f"the store did not answer ({type(exc).__name__}); the request may still be "
                              f"applied; {self._advice()}") from exc

    def _advice(self) -> str:
        if self.key is not None:
            return f"retry with the same {HEADER} to get its result without applying it twice"
        return f"check before retrying, or send an {HEADER} header so that a retry is safe"


async def idempotency(request: Request, response: Response, engine: EngineDep, user: CurrentUser,
                      key: KeyHeader = None) -> Once:
    # (`async`: it does no I/O, and a plain `def` would cost a trip to the thread pool on every filing and action)
    if key is not None and not _VALID.fullmatch(key):
        raise InvalidInput("must be 1 to 200 printable ASCII characters (no spaces at either end)", HEADER)
    route = getattr(request.scope.get("route"), "path", request.url.path)
    return Once(engine=engine, response=response, prefix=f"idem:{user.id}:{route}:", method=request.method,
                path=request.url.path, key=key)


OnceDep = Annotated[Once, Depends(idempotency)]


def _claim(engine: Engine, key: str, fingerprint: str) -> once.Seen:
    """The key's row: claimed now, or as an earlier request left it (one statement, most of the time)."""
    for _ in range(3):  # an expired row may be purged between the claim and the read
        seen = once.claim_or_recall(engine, key, SCOPE, TTL, fingerprint)
        if seen is not None:
            return seen
    raise Unavailable(f"the {HEADER} could not be claimed; retry with the same key")


def _fingerprint(method: str, path: str, payload: BaseModel) -> str:
    canonical = json.dumps({"method": method, "path": path, "body": payload.model_dump(mode="json")},
                           sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _token(key: str, claimed_at: datetime) -> str:
    """The same for every use of the key while its claim lives; a new one once it has expired."""
    if claimed_at.tzinfo is not None:
        claimed_at = claimed_at.astimezone(UTC).replace(tzinfo=None)
    return hashlib.sha256(f"{key}\n{claimed_at.isoformat()}".encode()).hexdigest()

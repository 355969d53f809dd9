"""Every request to /slack/* must carry Slack's signature over its raw body.

slack-sdk's `SignatureVerifier` checks `v0=HMAC-SHA256(signing secret, "v0:{timestamp}:{body}")` and
refuses timestamps more than five minutes from its clock. A missing, malformed, wrong or stale
signature, or a body changed after signing gets 401 and nothing is done.

A command or an interaction does nothing when the same signed request was received before, by this
API process or any other, whatever its headers (`X-Slack-Retry-Num` included: Slack retries only
Events API deliveries): `OnceBody` holds the request's work until the request is claimed in the store
(`api.slack.guards`, one small insert). The claim is made once the work is about to start, after the
acknowledgement, so a replay is acknowledged 200 like any request and its work never starts; a form
submission, whose answer waits for its work, gets 401. Events are de-duplicated by their event id
instead (routes/slack.py).
"""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import Depends, Request

from api.slack import guards
from api.slack.service import RequestClaim, SlackService
from domain.errors import NotAuthenticated


def slack_service(request: Request) -> SlackService:
    service: SlackService = request.app.state.slack
    return service


async def signed_body(request: Request) -> bytes:
    service = slack_service(request)
    service.arrived()
    body = await request.body()
    if service.verifier is None:
        raise NotAuthenticated("this Parley has no Slack signing secret (PARLEY_SLACK_SIGNING_SECRET)")
    timestamp = request.headers.get("x-slack-request-timestamp")
    signature = request.headers.get("x-slack-signature")
    if not timestamp or not signature:
        raise NotAuthenticated("missing Slack signature headers")
    # Unix seconds in ASCII digits, and no more than 12 of them: "1e30", "-5" or a 400-digit number
    # (which slack-sdk's clock arithmetic cannot even turn into a float) is refused here, never a 500
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise NotAuthenticated("malformed Slack request timestamp")
    try:
        valid = service.verifier.is_valid(body=body, timestamp=timestamp, signature=signature)
    except (ValueError, OverflowError, UnicodeDecodeError):  # a body that is not UTF-8 was not signed by Slack
        valid = False
    if not valid:
        raise NotAuthenticated("invalid or stale Slack signature")
    request.state.slack_request_id = guards.request_id(timestamp, signature)
    return body


SignedBody = Annotated[bytes, Depends(signed_body)]


async def first_body(request: Request, body: SignedBody) -> bytes:
    """A signed request's body; the work it leads to runs only if this is the first time any Parley API
    process received the request (claimed in the store when that work starts)."""
    service, engine = slack_service(request), request.app.state.engine
    service.tidy(engine)
    service.hold_work_for(RequestClaim(partial(guards.first_request, engine, request.state.slack_request_id)))
    return body


OnceBody = Annotated[bytes, Depends(first_body)]
SlackDep = Annotated[SlackService, Depends(slack_service)]

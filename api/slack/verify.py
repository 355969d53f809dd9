"""Every request to /slack/* must carry Slack's signature over its raw body.

slack-sdk's `SignatureVerifier` checks `v0=HMAC-SHA256(signing secret, "v0:{timestamp}:{body}")` and
refuses timestamps more than five minutes from its clock. A missing, malformed, wrong or stale
signature, a body changed after signing, or the same signed request sent twice gets 401 and nothing
is done. (Slack re-sends an *event* it thinks was lost, marked `X-Slack-Retry-Num`; those are let
through and de-duplicated by their event id instead.)
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.slack.service import SlackService
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
    if not timestamp.isdigit():
        raise NotAuthenticated("malformed Slack request timestamp")
    try:
        valid = service.verifier.is_valid(body=body, timestamp=timestamp, signature=signature)
    except (ValueError, UnicodeDecodeError):  # a body that is not UTF-8 cannot have been signed by Slack
        valid = False
    if not valid:
        raise NotAuthenticated("invalid or stale Slack signature")
    if "x-slack-retry-num" not in request.headers and service.replayed(signature):
        raise NotAuthenticated("this signed Slack request was already received")
    return body


SignedBody = Annotated[bytes, Depends(signed_body)]
SlackDep = Annotated[SlackService, Depends(slack_service)]

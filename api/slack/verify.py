"""Every request to /slack/* must carry Slack's signature over its raw body.

`SignedBySlack` is Bolt's request verification (`AsyncRequestVerification`, the first middleware of the
app) on slack-sdk's `SignatureVerifier` with the app's clock (tests move it: `app.state.slack_clock`):
`v0=HMAC-SHA256(signing secret, "v0:{timestamp}:{body}")`, the timestamp within five minutes of that
clock. A missing, malformed, wrong or stale signature, or a body changed after signing, gets 401 and
nothing is done. A verified request carries its id (`guards.request_id`) in `context["request_id"]`:
its claim in the store and its workflow update id (`slack-<id>`) derive from it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from slack_bolt.middleware.request_verification.async_request_verification import AsyncRequestVerification
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.signature import Clock, SignatureVerifier

from api.slack import guards

NO_SECRET = "this Parley has no Slack signing secret (PARLEY_SLACK_SIGNING_SECRET)"


class SignedBySlack(AsyncRequestVerification):
    def __init__(self, signing_secret: str | None, clock: Clock | None = None) -> None:
        super().__init__(signing_secret or "")
        self._clocked = SignatureVerifier(signing_secret, clock or Clock()) if signing_secret else None

    @property
    def verifier(self) -> SignatureVerifier:
        assert self._clocked is not None
        return self._clocked

    def refusal(self, timestamp: str | None, signature: str | None, body: str | bytes) -> str | None:
        """Why the request was not sent by Slack; None when it was."""
        if self._clocked is None:
            return NO_SECRET
        if not timestamp or not signature:
            return "missing Slack signature headers"
        # Unix seconds in ASCII digits, and no more than 12 of them: "1e30", "-5" or a 400-digit number
        # (which slack-sdk's clock arithmetic cannot even turn into a float) is refused here, never a 500
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
            return "malformed Slack request timestamp"
        try:
            valid = self._clocked.is_valid(body=body, timestamp=timestamp, signature=signature)
        except (ValueError, OverflowError):  # a body that is not UTF-8 was not signed by Slack
            valid = False
        return None if valid else "invalid or stale Slack signature"

    async def async_process(self, *, req: AsyncBoltRequest, resp: BoltResponse,
                            next: Callable[[], Awaitable[BoltResponse]]) -> BoltResponse:  # noqa: A002 (Bolt's name)
        timestamp = req.headers.get("x-slack-request-timestamp", [None])[0]
        signature = req.headers.get("x-slack-signature", [None])[0]
        refused = self.refusal(timestamp, signature, req.raw_body)
        if refused is not None:
            self._debug_log_error(signature, timestamp, req.raw_body)
            return BoltResponse(status=401, body={"detail": refused})
        assert timestamp is not None and signature is not None
        req.context["request_id"] = guards.request_id(timestamp, signature)
        return await next()

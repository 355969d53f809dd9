"""The Events API: Bolt's event listener for `app_home_opened` (the App Home tab: the person's queue,
soonest deadline first). Bolt answers `url_verification` itself, once the request is verified.

Every delivery is acknowledged 200 at once, a copy Slack re-sent (`X-Slack-Retry-Num`) too, so that
Slack stops; the work starts only once the event id is claimed in the store, on whichever process.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from api.slack.listen import acknowledge, once
from api.slack.work import Ctx, publish_home


async def home_opened(ctx: Ctx, body: dict[str, Any]) -> None:
    event = body["event"]
    user = event.get("user")
    if event.get("tab", "home") == "home" and isinstance(user, str) and user:
        await publish_home(ctx, user)


def register(bolt: AsyncApp, base: Ctx) -> None:
    bolt.event("app_home_opened")(ack=acknowledge, lazy=[once(base, home_opened, by_event=True)])

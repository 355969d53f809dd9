"""Parley's Slack app: a slack_bolt `AsyncApp` with Parley's listeners, served through Bolt's FastAPI
adapter (`AsyncSlackRequestHandler`) by the three routes of `api/routes/slack.py`.

    middleware   SignedBySlack (Bolt's request verification on the app's clock), then Bolt's own:
                 authorization (the bot token from settings: no auth.test, no network at start-up or
                 per request), url_verification
    listeners    commands.py   @command("/conflict")
                 actions.py    @action("act:…"), the App Home's file button, a criterion changed in a
                               ruling modal, @shortcut("parley_file")
                 views.py      @view("parley:file"), @view("parley:act"): submissions answer with their result
                 events.py     @event("app_home_opened")
                 away.py       `/conflict away` (see, set or clear your absence)
                 registrations.py, registration_forms.py   `/conflict register|registrations`,
                               @action("reg:…"), @view("parley:register"), @view("parley:registration-reject")

Listeners acknowledge first; lazy listeners, which Bolt runs as asyncio tasks in this process, do the
work (`listen.once`). `process_before_response` only means that a listener's acknowledgement is
awaited in the request itself instead of being polled for: the lazy work still follows the answer.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.signature import Clock
from slack_sdk.web.async_client import AsyncWebClient

from api.slack import actions, commands, events, registration_forms, registrations, views
from api.slack import away as away_command
from api.slack.client import SlackClient
from api.slack.verify import SignedBySlack
from api.slack.work import Ctx
from settings import Settings


class SlackApp:
    """The Bolt app of one API process, its Slack client, and the request handler the routes use."""

    def __init__(self, state: Any, clock: Clock | None = None) -> None:
        settings: Settings = state.settings
        token = settings.slack_bot_token or None
        self.client = SlackClient(settings)
        self.verification = SignedBySlack(settings.slack_signing_secret, clock)

        async def authorize() -> AuthorizeResult:
            return AuthorizeResult(enterprise_id=None, team_id=None, bot_token=token)

        self.bolt = AsyncApp(
            name="parley",
            # Bolt's own client (listeners use `self.client`); the token comes from `authorize`
            client=AsyncWebClient(base_url=settings.slack_api_url, retry_handlers=[]),
            authorize=authorize,
            before_authorize=self.verification,
            request_verification_enabled=False,  # SignedBySlack instead: the same check, on the app's clock
            ssl_check_enabled=False,  # an ssl_check is acknowledged once verified, like any request
            process_before_response=True,
        )
        base = Ctx(self.client, state)
        # registrations first: their listeners are narrower than `/conflict`'s and the catch-alls'
        for listeners in (registrations, registration_forms, away_command, commands, actions, views, events):
            listeners.register(self.bolt, base)
        self.handler = AsyncSlackRequestHandler(self.bolt)

    async def close(self) -> None:
        await self.client.close()

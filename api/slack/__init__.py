"""The Slack app: slash command, buttons, modals and App Home, a slack_bolt `AsyncApp` over the service.

    api/routes/slack.py   the three endpoints Slack calls, handed to Bolt through its FastAPI adapter
    api/slack/
      app.py              the AsyncApp: its middleware, its listeners, Bolt's request handler
      verify.py           Bolt's request verification on the app's clock (slack-sdk's SignatureVerifier)
      payloads.py         what Slack sends to each endpoint (a signed body that is not: 400)
      listen.py           acknowledge, and `once`: a lazy listener's work claimed once in the store
      guards.py           replays, re-sent events and double presses, refused once across every process
      client.py           the Web API client (AsyncWebClient, retrying), response_url replies
      identity.py         a Slack user -> a Parley user (slack_user_id, else users.info e-mail, remembered)
      work.py             the shared work: who is asking, reading disputes, acting, answering
      commands.py         @command("/conflict")
      actions.py          @action (buttons), @shortcut
      views.py            @view (modal submissions)
      events.py           @event("app_home_opened")
      forms.py            reading submitted modals back into the API's models

The messages and modals themselves (Block Kit) are rendered in `render/`, which the delivery activity
uses too. Every action goes through the service (`Service.file` / `Service.act`), exactly as the JSON
API, so the workflow's validators decide; a refusal becomes an ephemeral answer or a modal message.
"""

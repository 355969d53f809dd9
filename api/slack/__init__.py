"""The Slack app: slash command, buttons, modals and App Home, on top of the same commands as the API.

    api/routes/slack.py   the three endpoints Slack calls; verify, acknowledge at once, work afterwards
    api/slack/
      verify.py           the signature check on the raw body (slack-sdk's SignatureVerifier)
      guards.py           replays, re-sent events and double presses, refused once across every process
      service.py          the app's Slack client, response_url replies and the background tasks
      identity.py         a Slack user -> a Parley user (slack_user_id, else users.info e-mail, remembered)
      modals.py           Block Kit for modals and reading their submissions back into API models
      work.py             the shared work: who is asking, reading disputes, acting, answering
      handlers.py         /conflict and the Events API (App Home)
      interactions.py     buttons, modal submissions and the shortcut

The messages themselves (Block Kit, the buttons a person gets) are rendered in `render/`, which the
delivery activity uses too. Every action goes through the service (`Service.file` / `Service.act`),
exactly as the JSON API, so the workflow's validators decide; a refusal becomes an ephemeral answer or
a modal message.
"""

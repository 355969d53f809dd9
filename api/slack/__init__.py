"""The Slack app: slash command, buttons, modals and App Home, on top of the same commands as the API.

    api/routes/slack.py   the three endpoints Slack calls; verify, acknowledge at once, work afterwards
    api/slack/
      verify.py           the signature check on the raw body (slack-sdk's SignatureVerifier)
      guards.py           replays, re-sent events and double presses, refused once across every process
      service.py          the app's Slack client, response_url replies and the background tasks
      identity.py         a Slack user -> a Parley user (slack_user_id, else users.info e-mail, remembered)
      offers.py           which actions a person may take on a dispute now (the buttons they get)
      blocks.py           Block Kit for messages: DMs with buttons, status answers, App Home
      modals.py           Block Kit for modals and reading their submissions back into API models
      work.py             the shared work: who is asking, reading disputes, acting, answering
      handlers.py         /conflict and the Events API (App Home)
      interactions.py     buttons, modal submissions and the shortcut

Every action goes through `api.commands.file_dispute` / `api.commands.act`, exactly as the JSON API,
so the workflow's validators decide; a refusal becomes an ephemeral answer or a modal message.
"""

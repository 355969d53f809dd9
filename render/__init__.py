"""What people read, rendered once for every sender: the Slack app (api/slack) and the delivery
activity (activities/notify) both build their messages here, below api/.

    render.slack_blocks   Block Kit (slack-sdk's models): the case message, DMs, App Home, modal parts
    render.slack_offers   which buttons a person gets (from `domain.offers`), their labels and "done" lines
"""

"""What people read, rendered once for every sender: the Slack app (api/slack) and the delivery
activity (activities/notify) both build their messages here, below api/.

    render.slack_text     escaping, dates, the due line, and the case message in the conflicts channel
    render.slack_blocks   Block Kit (slack-sdk's models): DMs, status answers, App Home
    render.slack_offers   which buttons a person gets (from `domain.offers`), their labels and "done" lines
"""

"""The one place the three surfaces (REST routes, web pages, the Slack app) call: filing, acting,
reading and "which actions are open to this person", written once over the pure rules of `domain`.

    service.disputes   Service.file / act / read / offers, and the store reads behind them
    service.temporal   the Temporal calls (update-with-start, validated updates) and their error mapping
    service.visibility who may see which disputes, as a filter on the projection
    service.ids        new dispute ids

A surface parses its input, calls the service, and renders what comes back; a rule written in a
surface is a rule the other two would get wrong.
"""

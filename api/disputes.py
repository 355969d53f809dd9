"""Moved to `service.disputes`; kept only until the Slack app calls the service (issue 9, in progress)."""

from service.disputes import prepare_filing, to_json, visible_row

__all__ = ["prepare_filing", "to_json", "visible_row"]

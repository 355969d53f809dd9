"""Moved to `service.visibility`; kept only until the Slack app calls the service (issue 9, in progress)."""

from service.visibility import mine, visible_to

__all__ = ["mine", "visible_to"]

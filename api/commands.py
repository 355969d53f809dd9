"""Moved to `service.temporal`; kept only until the Slack app calls the service (issue 9, in progress)."""

from service.temporal import act, file_dispute

__all__ = ["act", "file_dispute"]

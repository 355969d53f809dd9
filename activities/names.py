"""Activity names shared by the workflow and the worker (the workflow never imports I/O code)."""

RECORD_EVENT = "record_event"
DELIVER_NOTICES = "deliver_notices"

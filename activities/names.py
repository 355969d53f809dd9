"""Activity names shared by the workflow and the worker (the workflow never imports I/O code)."""

RECORD_EVENT = "record_event"
DELIVER_NOTICES = "deliver_notices"
RECORD_REGISTRATION_EVENT = "record_registration_event"
DELIVER_WEBHOOK = "deliver_webhook"
GIVE_UP_WEBHOOK = "give_up_webhook"

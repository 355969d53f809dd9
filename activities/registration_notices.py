"""The buttons a registration's direct message carries (`deliver_notices` asks, per person's row).

    submitted, approval_reminder   to the routed mediator, while the registration is still pending:
                                   Approve and Reject
    overlap_found                  to the registration's owner: File a conflict (this registration and
                                   the one it overlaps)

Any other notice, and any notice about a dispute, stays plain text. The text of the notice is the
message's fallback text either way; the buttons are drawn by `render.slack_registrations`, and what a
press may do is decided by the service when it is pressed.
"""

from __future__ import annotations

from slack_sdk.models.blocks import Block
from sqlalchemy import Engine

from domain.model import Event
from render.slack_registrations import approval_blocks, overlap_blocks, registration_line
from store import registrations
from store.db import session

APPROVAL_NOTICES = frozenset({"submitted", "approval_reminder"})
ASKING = frozenset({"action_required", "reminder"})  # the kinds of notice that ask the reader to act


def notice_blocks(engine: Engine, event: Event, recipient: str, kind: str, text: str) -> list[Block] | None:
    """The blocks of this person's direct message about `event`, or None for plain text."""
    if kind not in ASKING or event.action not in APPROVAL_NOTICES | {"overlap_found"}:
        return None
    with session(engine) as s:
        row = registrations.get(s, event.dispute_id)
        if row is None:
            return None
        status, owner, summary = row.status, row.owner_email, registration_line(row.model_dump())
    if event.action in APPROVAL_NOTICES:
        return approval_blocks(text, event.dispute_id, summary) if status == "pending" else None
    other = event.payload.get("registration_id")
    if recipient == owner and isinstance(other, str) and other:
        return overlap_blocks(text, event.dispute_id, other)
    return None

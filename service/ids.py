"""Dispute ids: `PRL-` and eight hex digits, random (a retry with an Idempotency-Key derives its own)."""

from __future__ import annotations

import secrets


def new_dispute_id() -> str:
    return f"PRL-{secrets.token_hex(4).upper()}"

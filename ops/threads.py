"""What every thread of this process is doing, logged when they seem stuck (a pool with no connection left to
give): at most once a minute, so that a wedged process says why without flooding its log."""

from __future__ import annotations

import logging
import sys
import threading
import time
import traceback

log = logging.getLogger(__name__)
EVERY_S = 60.0
_last = float("-inf")
_lock = threading.Lock()


def log_holders(why: str) -> bool:
    """Log `why` and every thread's stack, unless that was done less than `EVERY_S` ago; whether it was done."""
    global _last
    with _lock:
        now = time.monotonic()
        if now - _last < EVERY_S:
            return False
        _last = now
    names = {t.ident: t.name for t in threading.enumerate()}
    stacks = [f"--- thread {names.get(ident, ident)}\n{''.join(traceback.format_stack(frame))}"
              for ident, frame in sys._current_frames().items()]
    log.warning("%s; every thread's stack follows (at most once a minute):\n%s", why, "\n".join(stacks))
    return True

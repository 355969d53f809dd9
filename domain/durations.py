"""Charter duration strings ("90s", "15m", "4h", "2d", "1.5d", "1d4h").

Pure helpers; ``d`` is one *working* day, whose length the caller supplies
(``BusinessCalendar.day_seconds``), so "2d" is 16 business hours on a 09:00–17:00
calendar and 48 hours on a 24x7 one.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from domain.calendar import BusinessCalendar

__all__ = ["format_business_time", "format_due", "format_duration", "parse_duration", "plural"]

_UNIT_SECONDS: dict[str, float] = {"s": 1.0, "m": 60.0, "h": 3600.0}
_UNIT_ORDER = "dhms"
_PART = re.compile(r"(\d+(?:\.\d+)?|\.\d+)\s*([a-zA-Z]+)")


def parse_duration(text: str, day_seconds: float) -> float:
    """Parse a charter duration into seconds.

    Accepts one or more ``<number><unit>`` parts (units ``d``, ``h``, ``m``, ``s``,
    each at most once, largest first), decimals allowed: ``"1d4h"``, ``"1.5d"``,
    ``"2h 30m"``. Raises ValueError naming the text for empty, negative, zero,
    malformed input or unknown units.
    """
    if not isinstance(text, str):
        raise ValueError(f"invalid duration {text!r}: expected a string such as '4h' or '2d'")
    if not math.isfinite(day_seconds) or day_seconds <= 0:
        raise ValueError(f"invalid duration {text!r}: day length must be positive, got {day_seconds!r}")
    source = text.strip()
    if not source:
        raise ValueError(f"invalid duration {text!r}: empty")
    if source.startswith("-"):
        raise ValueError(f"invalid duration {text!r}: must not be negative")

    total = 0.0
    pos = 0
    last_rank = -1
    while pos < len(source):
        if source[pos].isspace():
            pos += 1
            continue
        m = _PART.match(source, pos)
        if m is None:
            raise ValueError(
                f"invalid duration {text!r}: expected parts like '90s', '15m', '4h', '2d' or '1d4h'"
            )
        number, unit = m.group(1), m.group(2).lower()
        if unit not in _UNIT_ORDER:
            raise ValueError(f"invalid duration {text!r}: unknown unit {m.group(2)!r} (use d, h, m or s)")
        rank = _UNIT_ORDER.index(unit)
        if rank <= last_rank:
            raise ValueError(f"invalid duration {text!r}: units must appear once each, largest first")
        last_rank = rank
        unit_seconds = day_seconds if unit == "d" else _UNIT_SECONDS[unit]
        total += float(number) * unit_seconds
        pos = m.end()

    if not math.isfinite(total):
        raise ValueError(f"invalid duration {text!r}: too large")
    if total <= 0:
        raise ValueError(f"invalid duration {text!r}: must be greater than zero")
    return total


def format_duration(seconds: float) -> str:
    """Compact human form for messages: ``"2h 30m"``, ``"45s"``, ``"3d 4h"`` (d = 86400 s).

    Shows the largest unit and the next one down (when non-zero), rounded to that
    smaller unit: 9000 -> "2h 30m", 8999 -> "2h 30m", 273600 -> "3d 4h", 90061 -> "1d 1h".
    Negative values get a leading ``-``; anything under half a second is ``"0s"``.
    """
    if not math.isfinite(seconds):
        raise ValueError(f"cannot format duration {seconds!r}")
    sign = "-" if seconds < 0 else ""
    magnitude = abs(seconds)
    units = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
    lead = next((i for i, (_, size) in enumerate(units) if magnitude >= size), len(units) - 1)
    precision = units[min(lead + 1, len(units) - 1)][1]
    remaining = int(round(magnitude / precision)) * precision
    if remaining == 0:
        return "0s"
    parts: list[str] = []
    for unit, size in units:
        amount, remaining = divmod(remaining, size)
        if amount:
            parts.append(f"{amount}{unit}")
        elif parts:
            break  # only adjacent units: "1d 5s" would read oddly
    return sign + " ".join(parts[:2])


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``"1 dispute"``, ``"12 disputes"``, ``"1,204 events"``; ``nouns`` for irregular plurals."""
    return f"{count:,} {noun if count == 1 else (nouns or noun + 's')}"


def format_business_time(seconds: float, calendar: BusinessCalendar) -> str:
    """Business time as people count it on the charter's calendar: ``"2 business days 3 h"``.

    A business day is the calendar's working day (``calendar.day_seconds``: 8 hours on a
    09:00–17:00 calendar), so three 8-hour days read "3 business days", never "1d 0h"; on a 24x7
    calendar a day is 24 hours and reads "day". Shows the largest unit and the next one down (when
    non-zero), rounded to that smaller unit: "2 business days 3 h", "5 h 30 min", "12 min 5 s",
    "8 s". The magnitude only: the caller says "left" or "over".
    """
    if not math.isfinite(seconds):
        raise ValueError(f"cannot format business time {seconds!r}")
    day_word = "day" if calendar.spec.kind == "24x7" else "business day"
    parts = [text for count, text in _business_parts(abs(seconds), calendar.day_seconds, day_word) if count]
    return " ".join(parts) or "0 s"


def _business_parts(s: float, day: float, day_word: str) -> list[tuple[int, str]]:
    if s >= day:
        days = int(s // day)
        hours = _half_up((s - days * day) / 3600)
        if hours * 3600 >= day:  # rounds up to a whole working day
            days, hours = days + 1, 0
        return [(days, plural(days, day_word)), (hours, f"{hours} h")]
    if s >= 3600:
        minutes = _half_up(s / 60)
        if minutes * 60 >= day:
            return _business_parts(minutes * 60.0, day, day_word)
        hours, minutes = divmod(minutes, 60)
        return [(hours, f"{hours} h"), (minutes, f"{minutes} min")]
    whole = _half_up(s)
    if whole >= 60:
        if whole >= min(3600.0, day):
            return _business_parts(float(whole), day, day_word)
        minutes, rest = divmod(whole, 60)
        return [(minutes, f"{minutes} min"), (rest, f"{rest} s")]
    return [(whole, f"{whole} s")]


def _half_up(x: float) -> int:
    """Rounds a non-negative number to the nearest whole, halves up (30 minutes count as an hour)."""
    return int(math.floor(x + 0.5))


def format_due(at: datetime, calendar: BusinessCalendar) -> str:
    """A wall-clock instant in the calendar's time zone, with the zone: ``"Tue 10 Mar 2026, 17:00 EST"``."""
    local = at.astimezone(calendar.timezone)
    return f"{local:%a} {local.day} {local:%b %Y, %H:%M} {local.tzname() or calendar.spec.timezone}"

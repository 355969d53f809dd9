"""Charter duration strings ("90s", "15m", "4h", "2d", "1.5d", "1d4h").

Pure helpers; ``d`` is one *working* day, whose length the caller supplies
(``BusinessCalendar.day_seconds``), so "2d" is 16 business hours on a 09:00–17:00
calendar and 48 hours on a 24x7 one.
"""

from __future__ import annotations

import math
import re

__all__ = ["format_duration", "parse_duration"]

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

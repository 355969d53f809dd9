"""Cron expressions as a Temporal Schedule takes them, checked when the charter is read (pure, no I/O).

    ┌ minute          0-59
    │ ┌ hour          0-23
    │ │ ┌ day         1-31
    │ │ │ ┌ month     1-12 or JAN-DEC
    │ │ │ │ ┌ weekday 0-7 or SUN-SAT (0 and 7 are Sunday)
    0 8 * * MON

A field is `*`, a value, a range `a-b`, either with a step (`*/15`, `9-17/2`, `5/10`), or a
comma-separated list of those; `?` means `*` in the day fields. The macros `@yearly` (`@annually`),
`@monthly`, `@weekly`, `@daily` (`@midnight`) and `@hourly` stand for their five fields. The time
zone is not part of the expression: the schedule runs in the charter calendar's zone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MACROS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()  # names for low, low + 1, …
    any_day: bool = False  # `?` is allowed


FIELDS = (
    _Field("minute", 0, 59), _Field("hour", 0, 23), _Field("day of the month", 1, 31, any_day=True),
    _Field("month", 1, 12, MONTHS), _Field("day of the week", 0, 7, DAYS, any_day=True),
)
_PART = re.compile(r"^(?P<range>\*|\?|[A-Za-z0-9]+(?:-[A-Za-z0-9]+)?)(?:/(?P<step>[0-9]+))?$")


def check_cron(text: str) -> str:
    """The expression with its spaces tidied; ValueError saying in plain words what is wrong."""
    expression = " ".join(text.split())
    if not expression:
        raise ValueError("is empty: give five fields, e.g. \"0 8 * * MON\" (08:00 every Monday)")
    if expression.startswith("@"):
        if expression.lower() not in MACROS:
            raise ValueError(f"{expression!r} is not one of {', '.join(MACROS)}")
        return expression.lower()
    if "=" in expression:
        raise ValueError("takes no CRON_TZ= or TZ=: the digest runs in the time zone of the charter's calendar")
    fields = expression.split(" ")
    if len(fields) != len(FIELDS):
        raise ValueError(f"{expression!r} has {len(fields)} fields; a cron expression has five: "
                         "minute, hour, day of the month, month, day of the week")
    for value, field in zip(fields, FIELDS, strict=True):
        for part in value.split(","):
            _check_part(part, field, expression)
    return expression


def five_fields(expression: str) -> str:
    """A checked expression with its macro spelt out: what the schedule is given."""
    return MACROS.get(expression, expression)


def _check_part(part: str, field: _Field, expression: str) -> None:
    match = _PART.match(part)
    if match is None:
        raise ValueError(f"{expression!r}: the {field.name} {part!r} is not a value, a range or a step")
    span, step = match.group("range"), match.group("step")
    if span == "?" and not field.any_day:
        raise ValueError(f"{expression!r}: '?' is only for the day fields, not the {field.name}")
    if step is not None and int(step) == 0:
        raise ValueError(f"{expression!r}: the {field.name} step must be 1 or more")
    if span in ("*", "?"):
        return
    start, _, end = span.partition("-")
    low = _value(start, field, expression)
    if end and _value(end, field, expression) < low:
        raise ValueError(f"{expression!r}: the {field.name} range {span!r} runs backwards")


def _value(text: str, field: _Field, expression: str) -> int:
    if text.isdigit():
        number = int(text)
    elif text.upper() in field.names:
        number = field.low + field.names.index(text.upper())
    else:
        named = f" or a name ({field.names[0]}-{field.names[-1]})" if field.names else ""
        raise ValueError(f"{expression!r}: the {field.name} {text!r} is not a number{named}")
    if not field.low <= number <= field.high:
        raise ValueError(f"{expression!r}: the {field.name} {number} is outside {field.low}-{field.high}")
    return number

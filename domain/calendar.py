"""Business-time arithmetic for SLA clocks.

Pure and deterministic: the only outside resource used is the IANA time zone
database (through :mod:`zoneinfo`), so the module is safe to call from inside a
Temporal workflow. It never reads the current time.

A business calendar is a set of *windows*: for each local date that is a
working day and not a holiday, the span ``[date + start, date + end)`` in the
calendar's time zone, converted to UTC. A window is measured in real elapsed
seconds, so on a DST change day a 09:00–17:00 window is still eight hours of
wall-clock time (the hours are local), while a window that spans the change
itself (e.g. 00:00–06:00 on a spring-forward day) is an hour shorter.

A ``24x7`` calendar is always open and is handled arithmetically; its
working days, hours and holidays are validated but otherwise ignored.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["MAX_WALK_DAYS", "BusinessCalendar", "CalendarSpec"]

# Upper bound on the number of local days a single add() may walk. Ten years is
# far beyond any realistic SLA; hitting it means the calendar (nearly) never
# opens, e.g. every working day in the range is a holiday.
MAX_WALK_DAYS = 3660

_KINDS = ("business", "24x7")
_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_HHMM = re.compile(r"^(\d{1,2}):(\d{2})$")
_ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class CalendarSpec:
    """The charter's ``[calendar]`` table."""

    kind: str = "business"  # "business" or "24x7"
    timezone: str = "UTC"  # IANA name
    working_days: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri")
    start: str = "09:00"  # local opening time, HH:MM
    end: str = "17:00"  # local closing time, HH:MM (> start); "24:00" means midnight
    holidays: tuple[str, ...] = ()  # ISO dates, local


def _parse_hhmm(value: object, field: str, *, allow_24: bool) -> int:
    """Return minutes after midnight for an ``HH:MM`` string."""
    if not isinstance(value, str):
        raise ValueError(f"calendar.{field}: expected 'HH:MM', got {value!r}")
    m = _HHMM.match(value.strip())
    if m is None:
        raise ValueError(f"calendar.{field}: expected 'HH:MM', got {value!r}")
    hours, minutes = int(m.group(1)), int(m.group(2))
    if allow_24 and hours == 24 and minutes == 0:
        return 24 * 60
    if hours > 23 or minutes > 59:
        raise ValueError(f"calendar.{field}: {value!r} is not a valid time of day")
    return hours * 60 + minutes


def _parse_days(value: object) -> frozenset[int]:
    if isinstance(value, str) or not isinstance(value, (tuple, list, set, frozenset)):
        raise ValueError(f"calendar.working_days: expected a list of day names, got {value!r}")
    days: set[int] = set()
    for name in value:
        key = name.strip().lower() if isinstance(name, str) else None
        if key in _DAY_NAMES:
            days.add(_DAY_NAMES.index(key))
        elif key in _FULL_DAY_NAMES:
            days.add(_FULL_DAY_NAMES.index(key))
        else:
            raise ValueError(
                f"calendar.working_days: unknown day name {name!r} (use {', '.join(_DAY_NAMES)})"
            )
    if not days:
        raise ValueError("calendar.working_days: at least one working day is required")
    return frozenset(days)


def _parse_holidays(value: object) -> frozenset[date]:
    if isinstance(value, str) or not isinstance(value, (tuple, list, set, frozenset)):
        raise ValueError(f"calendar.holidays: expected a list of ISO dates, got {value!r}")
    out: set[date] = set()
    for item in value:
        if isinstance(item, datetime):
            raise ValueError(f"calendar.holidays: expected a date, got datetime {item!r}")
        if isinstance(item, date):  # TOML parsers may already give dates
            out.add(item)
            continue
        if not isinstance(item, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", item.strip()):
            raise ValueError(f"calendar.holidays: {item!r} is not an ISO date (YYYY-MM-DD)")
        try:
            out.add(date.fromisoformat(item.strip()))
        except ValueError:
            raise ValueError(f"calendar.holidays: {item!r} is not a valid date") from None
    return frozenset(out)


def _load_zone(name: object) -> ZoneInfo:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"calendar.timezone: expected an IANA time zone name, got {name!r}")
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"calendar.timezone: unknown time zone {name!r}") from None


def _require_aware(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")
    return value.astimezone(UTC)


class BusinessCalendar:
    """Business-time arithmetic over a validated :class:`CalendarSpec`."""

    def __init__(self, spec: CalendarSpec) -> None:
        if spec.kind not in _KINDS:
            raise ValueError(f"calendar.kind: expected one of {', '.join(_KINDS)}, got {spec.kind!r}")
        self.spec = spec
        self._always_open = spec.kind == "24x7"
        self._tz = _load_zone(spec.timezone)
        self._days = _parse_days(spec.working_days)
        self._start_min = _parse_hhmm(spec.start, "start", allow_24=False)
        self._end_min = _parse_hhmm(spec.end, "end", allow_24=True)
        if self._end_min <= self._start_min:
            raise ValueError(f"calendar.end: {spec.end!r} must be later than calendar.start {spec.start!r}")
        self._holidays = _parse_holidays(spec.holidays)
        self._start_time = time(self._start_min // 60, self._start_min % 60)
        self._end_next_day = self._end_min == 24 * 60
        end_min = 0 if self._end_next_day else self._end_min
        self._end_time = time(end_min // 60, end_min % 60)

    def __repr__(self) -> str:
        return f"BusinessCalendar({self.spec!r})"

    # ------------------------------------------------------------------ basics

    @property
    def day_seconds(self) -> float:
        """Nominal length of one working day in seconds (86400 for 24x7)."""
        if self._always_open:
            return 86400.0
        return float((self._end_min - self._start_min) * 60)

    @property
    def timezone(self) -> ZoneInfo:
        return self._tz

    def is_working_day(self, day: date) -> bool:
        """True if ``day`` (a local date) has business hours."""
        if self._always_open:
            return True
        return day.weekday() in self._days and day not in self._holidays

    def _window(self, day: date) -> tuple[datetime, datetime] | None:
        """The UTC ``[open, close)`` window of local date ``day``, or None if closed."""
        if day.weekday() not in self._days or day in self._holidays:
            return None
        opening = datetime.combine(day, self._start_time, tzinfo=self._tz).astimezone(UTC)
        end_day = day + _ONE_DAY if self._end_next_day else day
        closing = datetime.combine(end_day, self._end_time, tzinfo=self._tz).astimezone(UTC)
        if closing <= opening:  # degenerate window swallowed by a DST gap
            return None
        return opening, closing

    def _windows_from(self, instant: datetime, last_day: date) -> Iterator[tuple[datetime, datetime]]:
        """Windows of local dates up to ``last_day``, in order, from the one that may contain ``instant``."""
        # Start one day early: with a 24:00 close the previous local day's window
        # can still be open just after midnight.
        day = instant.astimezone(self._tz).date()
        if day > date.min:
            day -= _ONE_DAY
        while day <= last_day:
            window = self._window(day)
            if window is not None:
                yield window
            if day == last_day:
                break
            day += _ONE_DAY

    def _walk_limit(self, instant: datetime) -> date:
        local_day = instant.astimezone(self._tz).date()
        try:
            return local_day + timedelta(days=MAX_WALK_DAYS)
        except OverflowError:
            return date.max

    # -------------------------------------------------------------- operations

    def add(self, start: datetime, seconds: float) -> datetime:
        """The UTC instant at which ``seconds`` of business time have elapsed after ``start``.

        If ``start`` is outside business hours, counting begins at the next opening.
        ``seconds == 0`` returns ``start`` (converted to UTC) unchanged.
        """
        begin = _require_aware(start, "start")
        if not math.isfinite(seconds):
            raise ValueError(f"seconds must be finite, got {seconds!r}")
        if seconds < 0:
            raise ValueError(f"seconds must not be negative, got {seconds!r}")
        if seconds == 0:
            return begin
        if self._always_open:
            try:
                return begin + timedelta(seconds=seconds)
            except OverflowError:
                raise ValueError(
                    f"cannot add {seconds:g} seconds to {begin.isoformat()}: out of range"
                ) from None

        remaining = timedelta(seconds=seconds)
        for opening, closing in self._windows_from(begin, self._walk_limit(begin)):
            if closing <= begin:
                continue
            cursor = max(opening, begin)
            available = closing - cursor
            if remaining <= available:
                return cursor + remaining
            remaining -= available
        raise ValueError(
            f"cannot add {seconds:g} business seconds from {begin.isoformat()}: the calendar does not "
            f"provide that much open time within {MAX_WALK_DAYS} days (check working_days and holidays)"
        )

    def between(self, a: datetime, b: datetime) -> float:
        """Business seconds in ``[a, b)``; 0 if ``b <= a``."""
        lo = _require_aware(a, "a")
        hi = _require_aware(b, "b")
        if hi <= lo:
            return 0.0
        if self._always_open:
            return (hi - lo).total_seconds()
        total = timedelta(0)
        for opening, closing in self._windows_from(lo, hi.astimezone(self._tz).date()):
            if opening >= hi:
                break
            overlap = min(closing, hi) - max(opening, lo)
            if overlap > timedelta(0):
                total += overlap
        return total.total_seconds()

    def is_open(self, at: datetime) -> bool:
        """True if ``at`` falls inside business hours (opening inclusive, closing exclusive)."""
        instant = _require_aware(at, "at")
        if self._always_open:
            return True
        local_day = instant.astimezone(self._tz).date()
        for day in (local_day - _ONE_DAY, local_day):
            window = self._window(day)
            if window is not None and window[0] <= instant < window[1]:
                return True
        return False

    def next_open(self, at: datetime) -> datetime:
        """``at`` (in UTC) if open, else the next opening instant."""
        instant = _require_aware(at, "at")
        if self._always_open:
            return instant
        for opening, closing in self._windows_from(instant, self._walk_limit(instant)):
            if closing > instant:
                return max(opening, instant)
        raise ValueError(f"calendar does not open within {MAX_WALK_DAYS} days of {instant.isoformat()}")

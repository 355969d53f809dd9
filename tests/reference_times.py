"""The moments the time-sensitive tests are pinned to, so that none depends on the day or the hour
it runs: a plain weekday, a weekend, the first minutes of a week, the last minute of one, a
daylight-saving change and New Year's Eve, all in the default charter's time zone (New York).

A suite that passed on Wednesday and failed on Sunday would block every landing on a weekend;
running each time-sensitive test at each of these moments proves it cannot.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

NEW_YORK = ZoneInfo("America/New_York")

REFERENCE_TIMES: dict[str, datetime] = {
    "wednesday-noon": datetime(2026, 3, 11, 12, 0, tzinfo=NEW_YORK),
    "saturday": datetime(2026, 3, 14, 11, 0, tzinfo=NEW_YORK),
    "monday-00:30": datetime(2026, 3, 16, 0, 30, tzinfo=NEW_YORK),
    "friday-23:59": datetime(2026, 3, 13, 23, 59, tzinfo=NEW_YORK),
    "dst-change-day": datetime(2026, 3, 8, 3, 30, tzinfo=NEW_YORK),  # clocks went 02:00 -> 03:00 today
    "new-years-eve-23:59": datetime(2026, 12, 31, 23, 59, tzinfo=NEW_YORK),
}

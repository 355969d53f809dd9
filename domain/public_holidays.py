"""Public holidays by country and subdivision, from the `holidays` package, as concrete dates.

A charter names them (`calendar.holidays_from = ["US", "GB-ENG"]`: an ISO 3166 country code, or a
country and one of its subdivisions joined by "-"). `parse_charter` expands the codes to dates for the
years of `YEARS` once, when the charter is read, and the dates travel with the charter into each
dispute's workflow (`calendar.public_holidays`). So the workflow never runs the package, and a later
release of it (a new holiday, a moved one) never moves the deadline of a dispute already running:
its deadlines come from the charter it pinned, like everything else in it.

Pure computation on the year (the package reads no clock, files or network); `holidays` is imported
on first use only, outside any workflow.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from functools import lru_cache
from typing import Any

__all__ = ["FIRST_YEAR", "LAST_YEAR", "YEARS", "expand", "names_in_year", "split_code"]

FIRST_YEAR, LAST_YEAR = 2024, 2040
YEARS = range(FIRST_YEAR, LAST_YEAR + 1)  # the years a charter's public holidays are expanded for
_EXAMPLE = '["US", "GB-ENG"]'


def _package() -> Any:
    import holidays  # noqa: PLC0415  (imported on first use: never inside a workflow sandbox)

    return holidays


@lru_cache(maxsize=1)
def _supported() -> dict[str, tuple[str, ...]]:
    countries: dict[str, list[str]] = _package().list_supported_countries()
    return {country: tuple(subdivisions) for country, subdivisions in countries.items()}


def split_code(code: object) -> tuple[str, str | None]:
    """("GB", "ENG") for "GB-ENG", ("US", None) for "US"; ValueError in plain words for a code the
    package does not know."""
    if not isinstance(code, str) or not code.strip():
        raise ValueError(f"{code!r} is not a country code: use codes such as {_EXAMPLE}")
    country, _, subdivision = code.strip().partition("-")
    known = _supported()
    if country not in known:
        hint = f" (did you mean {country.upper()!r}?)" if country.upper() in known else ""
        raise ValueError(f"{code!r} is not a country the holidays package knows{hint}; "
                         f"use ISO 3166 codes such as {_EXAMPLE}")
    if not subdivision:
        return country, None
    if subdivision not in known[country]:
        upper = subdivision.upper()
        hint = f"did you mean {country}-{upper}?" if upper in known[country] else \
            f"{country} has {', '.join(known[country]) or 'none'}"
        raise ValueError(f"{code!r}: {country} has no subdivision {subdivision!r} in the holidays package ({hint})")
    return country, subdivision


@lru_cache(maxsize=64)
def _dates(code: str) -> tuple[date, ...]:
    country, subdivision = split_code(code)
    found = _package().country_holidays(country, subdiv=subdivision, years=YEARS)
    return tuple(sorted(found))


def expand(codes: object) -> tuple[str, ...]:
    """The public holidays of `codes` in `YEARS`, as sorted, distinct ISO dates; ValueError (naming
    the code) for a code the package does not know."""
    if isinstance(codes, str) or not isinstance(codes, list | tuple):
        raise ValueError(f"must be a list of country codes such as {_EXAMPLE}, not {codes!r}")
    days: set[date] = set()
    for code in codes:
        if not isinstance(code, str):
            split_code(code)  # raises, naming it
        days.update(_dates(code.strip()))
    return tuple(day.isoformat() for day in sorted(days))


@lru_cache(maxsize=64)
def _named(code: str, year: int) -> tuple[tuple[date, str], ...]:
    country, subdivision = split_code(code)
    found = _package().country_holidays(country, subdiv=subdivision, years=year)
    return tuple((day, name) for day, name in sorted(found.items()))


def names_in_year(codes: Iterable[str], year: int) -> dict[date, list[str]]:
    """What each public holiday of `codes` in `year` is called, with the code it comes from
    ("Thanksgiving Day (US)"); for showing people, never for counting time."""
    names: dict[date, list[str]] = {}
    for code in codes:
        for day, name in _named(code.strip(), year):
            names.setdefault(day, []).append(f"{name} ({code.strip()})")
    return names

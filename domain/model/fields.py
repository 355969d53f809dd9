"""The validated field types every model is built from, and `Strict`, the base of every model.

Text is trimmed and must be storable; numbers are numbers (not true/false, not text unless a form sent
them); dates are dates (never a number, which pydantic would read as Unix time); e-mail addresses, currencies
and rationales are checked, and the OpenAPI document states each rule.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

import pycountry
from babel.numbers import get_currency_name, list_currencies
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

MAX_MONEY = 1e11  # a hundred billion: anything larger is a typo
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
# Read once, at import (validation also runs inside the workflow sandbox); never XXX ("no currency") or XTS
# (reserved for testing). What a new filing or registration may be in: ISO 4217's list of the currencies in use.
IN_USE = frozenset(currency.alpha_3 for currency in pycountry.currencies) - {"XXX", "XTS"}
# What a value already filed may be in: also the codes ISO has withdrawn that CLDR still knows (BGN, DEM …), so
# that a dispute filed in one before it was withdrawn stays readable, in the store and in its workflow's history.
CURRENCIES = IN_USE | (frozenset(list_currencies()) - {"XXX", "XTS"})


def _email(value: str) -> str:
    if not re.match(EMAIL_PATTERN, value):
        raise PydanticCustomError("email", "is not a valid e-mail address")
    return value


def _currency(value: str) -> str:
    if not re.fullmatch(r"[A-Z]{3}", value):
        raise PydanticCustomError("currency", "must be a three-letter ISO 4217 currency code in capitals, "
                                              "such as USD or EUR")
    if value not in CURRENCIES:
        raise PydanticCustomError("currency", "{code} is not an ISO 4217 currency code", {"code": value})
    return value


def check_in_use(code: str) -> str | None:
    """Why a new filing or registration may not be in `code` (a code that CURRENCIES holds), if it may not."""
    if code in IN_USE:
        return None
    return f"{code} ({get_currency_name(code, locale='en')}) is not an ISO 4217 currency in use"


def _currency_in_use(value: str) -> str:
    value = _currency(value)
    if (problem := check_in_use(value)) is not None:
        raise PydanticCustomError("currency", problem)
    return value


Email = Annotated[str, Field(min_length=3, max_length=254, json_schema_extra={"format": "email"}),
                  AfterValidator(_email)]
# The OpenAPI document lists the codes in use, so that a client (and Schemathesis) knows which are accepted.
# `Currency` reads what was filed (a filing travels in its workflow's history too): the service refuses a new
# filing in a code no longer in use (`check_in_use`). `CurrencyInUse` is for what is only ever a new input.
Currency = Annotated[str, Field(json_schema_extra={"enum": sorted(IN_USE)}), AfterValidator(_currency)]
CurrencyInUse = Annotated[str, Field(json_schema_extra={"enum": sorted(IN_USE)}), AfterValidator(_currency_in_use)]
# Text is trimmed before its length counts; the OpenAPI document says so with a pattern: at least one
# character that is not white space (for a title, two of them at least three apart). White space as
# pydantic trims it (Unicode White_Space) is spelled out, since the \s of regular-expression engines
# differ (JavaScript's lacks \x85, Python's adds \x1c-\x1f); str.split() also splits at \x1c-\x1f.
_WHITE = r"\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NONSPACE = rf"[^{_WHITE}]"
_SEPARATOR, _WORD = rf"[{_WHITE}\x1c-\x1f]", rf"[^{_WHITE}\x1c-\x1f]"
NOT_BLANK: dict[str, Any] = {"pattern": NONSPACE}
ShortText = Annotated[str, Field(min_length=1, max_length=2000, json_schema_extra=NOT_BLANK)]


TEXT_INPUT = "text_input"  # validation context: the input is a form's text, so "12.5" may be read as a number


def _a_number(value: Any, info: ValidationInfo) -> Any:
    """Where a number belongs, true/false and "1000" are refused (pydantic would read them as 1 and
    1000); a whole number is a number for a float field, 2.0 is one for an int field. An HTML form
    sends only text: it validates with `context={TEXT_INPUT: True}` to have its text read as numbers."""
    if isinstance(value, bool):
        raise PydanticCustomError("number_type", "must be a number, not true or false")
    if isinstance(value, str) and not (info.context or {}).get(TEXT_INPUT):
        raise PydanticCustomError("number_type", "must be a number, not text")
    return value


ANumber = BeforeValidator(_a_number)
# (the bounds before the validator: after it, they would be missing from the OpenAPI document)
Money = Annotated[float, Field(ge=0, le=MAX_MONEY, allow_inf_nan=False), ANumber]
Percent = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False), ANumber]


_NUMERIC = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
DATE_WORDS = "a date (YYYY-MM-DD)"
DATE_TIME_WORDS = "a date and time with its UTC offset (YYYY-MM-DDTHH:MM:SSZ or +02:00)"


def _not_a_number(value: Any, wanted: str) -> Any:
    """Where a date (or a date and time) belongs, a number is refused, and so is text that is one: pydantic
    would read 0 or "0" as 1970-01-01 and 12345 as a moment of that day (Unix time). Form or JSON, a date is
    written as ISO 8601 writes it; true/false is refused too, saying what it was."""
    if isinstance(value, bool):
        raise PydanticCustomError("date_number", "must be {wanted}, not true or false", {"wanted": wanted})
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMERIC.fullmatch(value.strip())):
        raise PydanticCustomError("date_number", "must be {wanted}, not a number", {"wanted": wanted})
    return value


def _a_date(value: Any) -> Any:
    return _not_a_number(value, DATE_WORDS)


def _a_date_time(value: Any) -> Any:
    return _not_a_number(value, DATE_TIME_WORDS)


# Every date and every date and time that is input (JSON, a form, an import) is one of these.
IsoDate = Annotated[date, BeforeValidator(_a_date)]
IsoDateTime = Annotated[AwareDatetime, BeforeValidator(_a_date_time)]


_SURROGATE = re.compile("[\ud800-\udfff]")


def unstorable(text: str) -> str | None:
    """Why `text` cannot be stored as text (PostgreSQL holds no NUL, and no string holds a lone
    surrogate once encoded as UTF-8), or None when it can."""
    if "\x00" in text:
        return "must not contain the NUL character"
    if _SURROGATE.search(text):
        return "must not contain an unpaired surrogate (text that is not valid Unicode)"
    return None


def _storable(value: Any) -> Any:
    """Every string in a value (lists and dicts included) can be stored, or a field error."""
    if isinstance(value, str):
        problem = unstorable(value)
        if problem:
            raise PydanticCustomError("unstorable_text", problem)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            _storable(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            _storable(key)
            _storable(item)
    return value


class Strict(BaseModel):
    """The base of every model that crosses the API or Temporal: unknown fields are refused,
    text is trimmed, and no text field holds what a store cannot keep (NUL, lone surrogates)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        return _storable(value)


def check_rationale(text: str) -> str:
    if len(text.split()) < 3 or len(text) < 15:
        raise ValueError("must explain the decision: at least three words and 15 characters")
    return text


# `check_rationale`'s rule in the OpenAPI document (after trimming: three words, 15 characters)
RATIONALE_PATTERN = (rf"^(?=[\s\S]*{_WORD}{_SEPARATOR}+{_WORD}+{_SEPARATOR}+{_WORD})"
                     rf"(?=[\s\S]*{NONSPACE}[\s\S]{{13,}}{NONSPACE})")
Rationale = Annotated[str, Field(max_length=8000, json_schema_extra={"pattern": RATIONALE_PATTERN})]

"""Validation errors in plain words: pydantic's errors ("String should have at least 3 characters", a
regular expression for a bad e-mail) as a person reads them ("must be at least 3 characters long").

The API's 422s (api/errors.py), the web forms, the Slack modals and the registration import all use
`plain_message`, so a field shows the same words wherever it is typed. Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pydantic_core import ErrorDetails


def _number(value: object) -> str:
    """A bound as people write it: 100, 0.5, 100,000,000,000 (not 1e+11)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.10g}" if abs(value) >= 1000 else f"{value:g}"


def a_or_an(word: str) -> str:
    """"a loopback", "an unspecified": the word with its indefinite article (by its first letter, which is
    right for the words Parley puts after one)."""
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"


def a_role(role: str) -> str:
    """"a rep", "a mediator", "an auditor", "an admin", "an executive": a role as a sentence names it."""
    return a_or_an(role)


def _plural(n: object, word: str) -> str:
    return f"{_number(n)} {word}" + ("" if n == 1 else "s")


def _kind_of(value: object) -> str:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, str):
        return "text"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "something else"


def _not(value: object, wanted: str) -> str:
    """'must be a number, not text' — what was sent, when that helps."""
    kind = _kind_of(value)
    return f"must be {wanted}" if kind in ("something else", wanted) else f"must be {wanted}, not {kind}"


def plain_message(err: ErrorDetails | Mapping[str, Any]) -> str:
    """pydantic's error in plain words, starting in lower case ("must be at least 3 characters long")."""
    kind = str(err.get("type", ""))
    ctx: Mapping[str, Any] = err.get("ctx") or {}
    value = err.get("input")
    match kind:
        case "missing" | "union_tag_not_found":
            return "is required"
        case "extra_forbidden" | "unexpected_keyword_argument":
            return "is not an accepted field"
        case "string_type":
            return _not(value, "text")
        case "string_too_short":
            n = ctx.get("min_length", 1)
            return "must not be empty" if n == 1 else f"must be at least {_plural(n, 'character')} long"
        case "string_too_long":
            return f"must be at most {_plural(ctx.get('max_length'), 'character')} long"
        case "string_pattern_mismatch":
            return "is not in the expected format"  # never show the regular expression
        case "string_unicode":
            return "must be valid Unicode text"
        case "string_sub_type":
            return "must be text"
        case "int_type" | "int_from_float":
            return _not(value, "a whole number")
        case "int_parsing" | "int_parsing_size":
            return "must be a whole number"
        case "float_type" | "float_parsing" | "decimal_type" | "decimal_parsing":
            return _not(value, "a number")
        case "finite_number":
            return "must be a finite number"
        case "greater_than":
            return f"must be greater than {_number(ctx.get('gt'))}"
        case "greater_than_equal":
            return f"must be at least {_number(ctx.get('ge'))}"
        case "less_than":
            return f"must be less than {_number(ctx.get('lt'))}"
        case "less_than_equal":
            return f"must be at most {_number(ctx.get('le'))}"
        case "multiple_of":
            return f"must be a multiple of {_number(ctx.get('multiple_of'))}"
        case "bool_type" | "bool_parsing":
            return "must be true or false"
        case "enum" | "literal_error":
            return f"must be one of {ctx.get('expected', 'the allowed values')}"
        case "union_tag_invalid":
            return f"must be one of {ctx.get('expected_tags', 'the known actions')}"
        case "json_invalid":
            return "is not valid JSON"
        case "json_type":
            return "must be JSON"
        case "model_type" | "model_attributes_type" | "dict_type" | "mapping_type":
            return _not(value, "an object")
        case "list_type" | "tuple_type" | "set_type" | "iterable_type":
            return _not(value, "a list")
        case "too_short":
            return f"must have at least {_plural(ctx.get('min_length'), 'item')}"
        case "too_long":
            return f"must have at most {_plural(ctx.get('max_length'), 'item')}"
        case "date_type" | "date_parsing" | "date_from_datetime_parsing" | "date_from_datetime_inexact":
            return "must be a date (YYYY-MM-DD)"
        case "datetime_type" | "datetime_parsing" | "datetime_from_date_parsing":
            return "must be a date and time (YYYY-MM-DDTHH:MM:SS)"
        case "timezone_aware":
            return "must be a date and time with its UTC offset (YYYY-MM-DDTHH:MM:SSZ or +02:00)"
        case "value_error" | "assertion_error":
            error = ctx.get("error")
            return _lower_first(str(error)) if error is not None else _fallback(err)
    return _fallback(err)


def _fallback(err: ErrorDetails | Mapping[str, Any]) -> str:
    """An error type not listed above: pydantic's own words, made to read like the others."""
    msg = str(err.get("msg") or "is not valid")
    for prefix in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    for prefix, replacement in (("Input should be ", "must be "), ("Input should ", "must "),
                                ("Value should be ", "must be "), ("Value should ", "must ")):
        if msg.startswith(prefix):
            msg = replacement + msg[len(prefix):]
            break
    return _lower_first(msg).rstrip(".")


def _lower_first(text: str) -> str:
    """"Must …" → "must …", but "PostgreSQL …" or "ZZZ …" stay as they are."""
    if len(text) > 1 and text[0].isupper() and not text[1].isupper():
        return text[0].lower() + text[1:]
    return text

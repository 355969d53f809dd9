"""One shape for every refused input: a list of `{field, message}`, the message in plain words.

pydantic's errors ("String should have at least 3 characters", a regular expression for a bad
e-mail) and the domain's `InvalidInput` ("counterparty_email: no Parley user …") both become
`{"field": "counterparty_email", "message": "no Parley user …"}`. The web forms and the Slack modals
use `plain_message` too, so a field shows the same words wherever it is typed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic_core import ErrorDetails

from domain.errors import ParleyError

Problem = dict[str, str]

_FIELD_PREFIX = re.compile(r"^([A-Za-z_][A-Za-z0-9_.]*): (.+)$", re.DOTALL)


def _number(value: object) -> str:
    """A bound as people write it: 100, 0.5, 100,000,000,000 (not 1e+11)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.10g}" if abs(value) >= 1000 else f"{value:g}"


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
        case "extra_forbidden":
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


def sentence(message: str) -> str:
    """A plain message as a sentence of its own, for a form: "Must not be empty."."""
    message = message.strip()
    if not message:
        return "Invalid value."
    return message[:1].upper() + message[1:] + ("" if message.endswith((".", "?", "!")) else ".")


def field_of(loc: Sequence[int | str], body: object = None) -> str:
    """The dotted name of the input a pydantic error is about, as the API names it."""
    parts = [str(p) for p in loc]
    if parts[:1] == ["body"]:
        parts = parts[1:]
        if parts and isinstance(body, dict) and parts[0] == body.get("action"):
            parts = parts[1:]  # the tag of the action union, not a field: "outcome", not "propose.outcome"
    return ".".join(parts) or "body"


def problems_of_validation(errors: Sequence[ErrorDetails], body: object = None) -> list[Problem]:
    """FastAPI's (or pydantic's) errors as `{field, message}`, one per error."""
    out: list[Problem] = []
    for err in errors:
        kind = err.get("type")
        if kind in ("union_tag_invalid", "union_tag_not_found"):
            field = "action"
        elif kind == "json_invalid":
            field = "body"  # pydantic's location is a character offset
        else:
            field = field_of(err.get("loc", ()), body)
        problem = {"field": field, "message": plain_message(err)}
        if problem not in out:
            out.append(problem)
    return out


def split_field(message: str, field: str | None = None) -> tuple[str, str]:
    """(field, message) of a domain error: "to: x is not a mediator" → ("to", "x is not a mediator").

    Errors that come back from the workflow's validator have lost their `field`; their message still
    starts with it."""
    match = _FIELD_PREFIX.match(message)
    if match and (field is None or match.group(1) == field):
        return match.group(1), match.group(2)
    return field or "body", message


def problems_of_domain(exc: ParleyError) -> list[Problem]:
    field, message = split_field(exc.message, exc.field)
    return [{"field": field, "message": message}]

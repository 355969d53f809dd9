"""One shape for every refused input: a list of `{field, message}`, the message in plain words.

pydantic's errors ("String should have at least 3 characters", a regular expression for a bad
e-mail) and the domain's `InvalidInput` ("counterparty_email: no Parley user …") both become
`{"field": "counterparty_email", "message": "no Parley user …"}`. The words are `plain_message`'s
(domain/plain_words.py), which the web forms, the Slack modals and the registration import use too,
so a field shows the same words wherever it is typed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydantic_core import ErrorDetails

from domain.errors import ParleyError
from domain.plain_words import plain_message

__all__ = ["field_of", "plain_message", "problems_of_domain", "problems_of_validation", "sentence", "split_field"]

Problem = dict[str, str]

_FIELD_PREFIX = re.compile(r"^([A-Za-z_][A-Za-z0-9_.]*): (.+)$", re.DOTALL)


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


# What FastAPI could not even parse (its 400): not UTF-8, or past what Python's JSON reader takes.
UNREADABLE_JSON = ("could not be read as JSON: it must be UTF-8 text, with no number longer than 4,300 digits "
                   "and no nesting deeper than about 1,000 levels")


def is_json(content_type: str | None) -> bool:
    """Whether a Content-Type says JSON (application/json, or a +json type), as FastAPI reads it."""
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    return kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))


def not_labelled_json(content_type: str | None) -> str:
    said = f"this request said {content_type!r}" if content_type else "this request had no Content-Type"
    return f"must be a JSON object sent with Content-Type: application/json ({said})"


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

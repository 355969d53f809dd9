"""HTML forms to the API's models: dotted field names ("outcome.credit_split.direct") become nested
values, and pydantic's errors come back keyed by the same names, so that each error is shown next
to its field. A form's values are all text, so they are validated as form text (`TEXT_INPUT`): "12.5"
is read as a number here (the JSON API refuses "12.5" where a number belongs); "nan", "inf" and
"1e400" are still refused as not finite."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter, ValidationError
from starlette.datastructures import FormData

from api.errors import plain_message, sentence
from domain.model import TEXT_INPUT, Action, Filing

ACTION_ADAPTER: TypeAdapter[Any] = TypeAdapter(Action)
FORM_TEXT = {TEXT_INPUT: True}
SKIP = {"csrf", "action", "form"}
MESSAGES = {
    "missing": "Required.",
    "string_too_short": "Required.",
    "int_parsing": "Enter a whole number.",
    "float_parsing": "Enter a number.",
    "date_from_datetime_parsing": "Enter a date (YYYY-MM-DD).",
    "date_parsing": "Enter a date (YYYY-MM-DD).",
    "enum": "Choose one of the options.",
    "literal_error": "Choose one of the options.",
    "extra_forbidden": "Not expected here.",
    "email": "Enter a valid e-mail address.",
}


def flat(form: FormData) -> dict[str, str]:
    """The submitted text fields, trimmed (what a re-rendered form shows back)."""
    return {k: v.strip() for k, v in form.multi_items() if isinstance(v, str) and k not in ("csrf",)}


def nest(values: dict[str, str]) -> dict[str, Any]:
    """{"outcome.owner": "x"} -> {"outcome": {"owner": "x"}}; empty fields are left out, so that the
    model's defaults apply and a missing required field is reported as such."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key in SKIP or value == "":
            continue
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def errors_by_field(exc: ValidationError, strip_first: str | None = None) -> dict[str, str]:
    """pydantic's errors keyed by dotted field name, one message per field (the first)."""
    out: dict[str, str] = {}
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        if strip_first is not None and loc[:1] == [strip_first]:
            loc = loc[1:]
        field = ".".join(loc) or "form"
        if field not in out:
            out[field] = _message(err)
    return out


def _message(err: Any) -> str:
    kind = str(err.get("type", ""))
    if kind in MESSAGES and not (kind == "string_too_short" and err.get("ctx", {}).get("min_length", 1) > 1):
        return MESSAGES[kind]
    return sentence(plain_message(err))  # the API's words for the same problem, as a sentence


def complete_split(values: dict[str, str]) -> None:
    """The credit split's second half from the first (the page's script does the same as you type);
    written into the form's values, so that a form shown again shows it too."""
    names = {"direct": "outcome.credit_split.direct", "partner": "outcome.credit_split.partner"}
    for known, other in (("direct", "partner"), ("partner", "direct")):
        given, missing = values.get(names[known], ""), values.get(names[other], "")
        if given and not missing:
            if given.isascii() and given.isdigit() and 0 <= int(given) <= 100:  # not "²", which int() refuses
                values[names[other]] = str(100 - int(given))
            return


def parse_action(action: str, values: dict[str, str]) -> tuple[Any | None, dict[str, str]]:
    """An Action model from the form, or the errors by field."""
    complete_split(values)
    data = nest(values)
    try:
        return ACTION_ADAPTER.validate_python({"action": action, **data}, context=FORM_TEXT), {}
    except ValidationError as exc:
        errors = errors_by_field(exc, strip_first=action)
        if "action" in errors:
            errors = {"form": f"Unknown action {action!r}."}
        return None, errors


def parse_filing(values: dict[str, str]) -> tuple[Filing | None, dict[str, str]]:
    data = nest({k: v for k, v in values.items() if k not in ("evidence", "registration_ids")})
    evidence = [line.strip() for line in values.get("evidence", "").splitlines() if line.strip()]
    if evidence:
        data["evidence"] = evidence
    if ids := registration_ids_in(values.get("registration_ids", "")):
        data["registration_ids"] = ids
    if "currency" in data:
        data["currency"] = str(data["currency"]).upper()
    try:
        return Filing.model_validate(data, context=FORM_TEXT), {}
    except ValidationError as exc:
        errors = errors_by_field(exc)
        # a bad evidence line is reported on the evidence box as a whole, a bad id on the registrations
        return None, {k.split(".")[0] if k.startswith(("evidence.", "registration_ids.")) else k: v
                      for k, v in errors.items()}


def registration_ids_in(text: str) -> list[str]:
    """The registrations a form names: "REG-A,REG-B" (a pair's value) or typed apart by spaces or commas."""
    return [part for part in text.replace(",", " ").split() if part]


class FormState:
    """What a form shows: the values typed, the errors by field, and a prefix for unique ids."""

    def __init__(self, prefix: str = "", values: dict[str, str] | None = None,
                 errors: dict[str, str] | None = None) -> None:
        self.prefix = prefix
        self.values = values or {}
        self.errors = errors or {}

    def id(self, name: str) -> str:
        return "-".join(p for p in (self.prefix, name.replace(".", "-").replace("_", "-")) if p)

    def value(self, name: str, default: object = "") -> str:
        return self.values.get(name, "" if default is None else str(default))

    def error(self, name: str) -> str | None:
        return self.errors.get(name)

    def errors_under(self, name: str) -> list[tuple[str, str]]:
        return [(k, v) for k, v in self.errors.items() if k == name or k.startswith(name + ".")]

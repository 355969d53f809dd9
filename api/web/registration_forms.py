"""The registration pages' forms and filters to the service's models: the register form to a
`RegistrationIn`, an action form to a `RegistrationAction`, the list's query to its filters. Errors come
back keyed by field, to be shown next to it (as `api.web.forms` does for disputes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import urlencode

from pydantic import TypeAdapter, ValidationError
from starlette.datastructures import QueryParams

from api.web.forms import FORM_TEXT, errors_by_field, nest
from domain.charter import Charter
from domain.registration_rules import RegistrationAction
from domain.registrations import STATUSES, RegistrationIn
from service.registration_views import ACTIONS, end_of_day

ACTION_ADAPTER: TypeAdapter[Any] = TypeAdapter(RegistrationAction)
PAGE_SIZE = 50


def parse_registration(values: dict[str, str], *, on_behalf: bool) -> tuple[RegistrationIn | None, dict[str, str]]:
    """The register form as a `RegistrationIn` (products comma-separated; `owner_email` only from an
    admin, who registers on a rep's behalf), or the errors by field."""
    data = nest({k: v for k, v in values.items() if k not in ("products", "owner_email")})
    products = [p.strip() for p in values.get("products", "").split(",") if p.strip()]
    if products:
        data["products"] = products
    if on_behalf and values.get("owner_email"):
        data["owner_email"] = values["owner_email"]
    if "currency" in data:
        data["currency"] = str(data["currency"]).upper()
    try:
        return RegistrationIn.model_validate(data, context=FORM_TEXT), {}
    except ValidationError as exc:
        errors = errors_by_field(exc)  # a bad product is reported on the products box as a whole
        return None, {("products" if k.startswith("products.") else k): v for k, v in errors.items()}


def parse_action(name: str, values: dict[str, str], charter: Charter) -> tuple[Any | None, dict[str, str]]:
    """An action form as a `RegistrationAction`: `extend` takes a day (to its end in the charter's time
    zone), `close` the outcome won or lost."""
    if name not in ACTIONS:
        return None, {"form": f"Unknown action {name!r}."}
    data: dict[str, Any] = {"action": name}
    errors: dict[str, str] = {}
    if name in ("reject", "withdraw") and values.get("reason"):
        data["reason"] = values["reason"]
    if name == "approve" and values.get("note"):
        data["note"] = values["note"]
    if name == "extend":
        try:
            data["until"] = end_of_day(date.fromisoformat(values.get("until", "")), charter)
        except ValueError:
            errors["until"] = "Enter a date (YYYY-MM-DD)." if values.get("until") else "Required."
    if name == "close":
        outcome = values.get("outcome", "")
        if outcome not in ("won", "lost"):
            errors["outcome"] = "Choose won or lost."
        data["won"] = outcome == "won"
    if errors:
        return None, errors
    try:
        return ACTION_ADAPTER.validate_python(data, context=FORM_TEXT), {}
    except ValidationError as exc:
        return None, errors_by_field(exc, strip_first=name)


@dataclass
class Filters:
    """The list's filters as typed; a value that is not one of the choices is explained, not refused."""

    status: str | None = None
    channel: str | None = None
    account: str | None = None
    mine: bool = False
    page: int = 1
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, query: QueryParams) -> Filters:
        found = cls(account=(query.get("account") or "").strip()[:200] or None,
                    mine=query.get("mine", "") in ("1", "true", "on", "yes"))
        status, channel, page = query.get("status") or None, query.get("channel") or None, query.get("page", "1")
        if status is not None and status not in STATUSES:
            found.errors["status"] = "Choose one of the statuses."
        else:
            found.status = status
        if channel is not None and channel not in ("direct", "partner"):
            found.errors["channel"] = "Choose direct or partner."
        else:
            found.channel = channel
        found.page = int(page) if page.isascii() and page.isdigit() and 0 < int(page) < 100_000 else 1
        return found

    @property
    def offset(self) -> int:
        return (self.page - 1) * PAGE_SIZE

    @property
    def any(self) -> bool:
        return bool(self.status or self.channel or self.account or self.mine)

    def query_string(self, **changes: Any) -> str:
        values: dict[str, Any] = {"status": self.status, "channel": self.channel, "account": self.account,
                                  "mine": "1" if self.mine else None, "page": self.page, **changes}
        if values["page"] == 1:
            del values["page"]
        return urlencode({k: v for k, v in values.items() if v not in (None, "")})

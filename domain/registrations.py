"""Registrations: a channel's claim on a deal (a partner's deal registration, a direct opportunity).

`RegistrationIn` is what a person, the CRM import or the API submits; the store keeps it with its
owner, channel and lifecycle (DESIGN §6). Validation names the field, as for filings.
"""

from __future__ import annotations

import re
import secrets
from typing import Annotated, Literal

import idna
from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from domain.model import MAX_MONEY, NONSPACE, NOT_BLANK, ANumber, CurrencyInUse, Email, IsoDate, Strict

Channel = Literal["direct", "partner"]
RegistrationStatus = Literal["pending", "approved", "rejected", "expired", "withdrawn", "closed"]
STATUSES: tuple[RegistrationStatus, ...] = ("pending", "approved", "rejected", "expired", "withdrawn", "closed")
LIVE: frozenset[str] = frozenset({"pending", "approved"})  # the registrations that can overlap

_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://")
_TLD = re.compile(r"^([a-z]{2,63}|xn--[a-z0-9-]{1,59})$")


def new_registration_id() -> str:
    return f"REG-{secrets.token_hex(4).upper()}"


# Labels of letters, digits and inner hyphens (1-63 characters), dot-separated: valid as they stand.
_PLAIN_ASCII = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def normalise_domain(value: str) -> str:
    """A web domain as the store keeps it: lower case, no scheme, path, port or "www.", IDNA-checked,
    in its Unicode form ("HTTPS://www.Bücher.de/shop" -> "bücher.de"). ValueError when it is none."""
    text = _SCHEME.sub("", value.strip().lower())
    text = re.split(r"[/?#]", text, maxsplit=1)[0]
    if "@" in text:
        raise ValueError("must be a domain name such as globex.com, not an e-mail address")
    if text.startswith("[") or text.count(":") > 1:
        raise ValueError("must be a domain name such as globex.com, not an IP address")
    text = re.sub(r":\d*$", "", text).rstrip(".").removeprefix("www.")
    if re.fullmatch(r"[0-9.]+", text):
        raise ValueError("must be a domain name such as globex.com, not an IP address")
    if "--" not in text and _PLAIN_ASCII.fullmatch(text):  # the common case needs no IDNA round trip
        ascii_form = text
    else:
        try:
            ascii_form = idna.encode(text, uts46=True).decode("ascii")
        except idna.IDNAError:
            raise ValueError(f"{value.strip()!r} is not a domain name such as globex.com") from None
    labels = ascii_form.split(".")
    if len(labels) < 2 or not _TLD.match(labels[-1]) or len(ascii_form) > 253:
        raise ValueError(f"{value.strip()!r} is not a domain name such as globex.com")
    return ascii_form if ascii_form is text else idna.decode(ascii_form)


def _domain(value: str) -> str:
    try:
        return normalise_domain(value)
    except ValueError as exc:
        raise PydanticCustomError("domain", str(exc)) from None


Domain = Annotated[str, Field(min_length=1, max_length=300, json_schema_extra={"examples": ["globex.com"]}),
                   AfterValidator(_domain)]
Product = Annotated[str, Field(min_length=1, max_length=100, json_schema_extra=NOT_BLANK)]


class RegistrationIn(Strict):
    """A registration as submitted (DESIGN §6, `POST /api/registrations`)."""

    account: str = Field(min_length=1, max_length=200, json_schema_extra=NOT_BLANK)
    account_domain: Domain | None = None
    title: str = Field(min_length=3, max_length=200, json_schema_extra={"pattern": rf"{NONSPACE}[\s\S]+{NONSPACE}"})
    deal_value: Annotated[float, ANumber] = Field(gt=0, le=MAX_MONEY, allow_inf_nan=False)
    currency: CurrencyInUse = "USD"
    region: str = Field(min_length=1, max_length=50, json_schema_extra=NOT_BLANK)
    segment: str | None = Field(default=None, max_length=50)
    expected_close: IsoDate | None = None
    external_ref: str | None = Field(default=None, min_length=1, max_length=100)
    products: list[Product] = Field(default_factory=list, max_length=50)
    owner_email: Email | None = None

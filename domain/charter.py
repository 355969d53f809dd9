"""The channel charter: tiers, calendar, routing, weights and conflict types, validated at load."""

from __future__ import annotations

import hashlib
import re
import tomllib
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from domain import public_holidays
from domain.calendar import BusinessCalendar, CalendarSpec
from domain.cron import check_cron
from domain.durations import parse_duration
from domain.model import ConflictType
from domain.model.fields import ANumber, Currency
from domain.plain_words import plain_message

CALENDAR_DAY = 86400.0  # "d" in calendar durations (the registration protection window)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CalendarSection(_Section):
    kind: Literal["business", "24x7"] = "business"
    timezone: str = "UTC"
    working_days: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri")
    start: str = "09:00"
    end: str = "17:00"
    holidays: tuple[str, ...] = ()  # the charter's own dates
    holidays_from: tuple[str, ...] = ()  # public holidays by country or subdivision: "US", "GB-ENG"
    public_holidays: tuple[str, ...] = ()  # holidays_from as dates, filled in by parse_charter

    def spec(self) -> CalendarSpec:
        """The calendar deadlines count on: the charter's own dates and the public holidays are days off alike."""
        own = self.model_dump(exclude={"holidays_from", "public_holidays"})
        return CalendarSpec(**{**own, "holidays": (*self.holidays, *self.public_holidays)})


class TierSection(_Section):
    sla: str
    reminders: tuple[float, ...] | None = None  # fractions of the SLA; the charter default otherwise


class ExecutiveTier(TierSection):
    breach_repeats: int = Field(default=3, ge=0, le=20)  # reminders after the breach, one per SLA


class Tiers(_Section):
    reminders: tuple[float, ...] = (0.5, 0.9)
    appeal_window: str = "1d"
    frontline: TierSection
    mediation: TierSection
    executive: ExecutiveTier

    @field_validator("reminders")
    @classmethod
    def _fractions(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0 < f < 1 for f in value):
            raise ValueError("reminder fractions must lie strictly between 0 and 1")
        return tuple(sorted(value))


class AutoApproval(_Section):
    max_share_pct: int = Field(default=70, ge=50, le=100)  # the larger share of the credit split
    allow_discount_cap: bool = False


class MediatorRoute(_Section):
    region: str = "*"
    segment: str = "*"
    mediator: str


def _mediators_form(value: Any) -> str:
    return "lists" if isinstance(value, dict) else "rows"


_MEDIATOR_TAGS = ("rows", "lists")  # the forms' tags in a validation error's location, dropped from the key


def _an_email(value: str) -> str:
    if not re.fullmatch(r"[^@\s]+@[^@\s]+", value.strip()):
        raise ValueError(f"{value!r} is not an e-mail address")
    return value.strip().lower()


_RoutedEmail = Annotated[str, AfterValidator(_an_email)]


def _another_currency(code: str, info: ValidationInfo) -> str:
    if code == info.data.get("currency"):  # (absent when `routing.currency` was refused itself)
        raise ValueError(f"{code} is the charter's own currency (routing.currency): a deal value in it is "
                         "compared as it is; leave it out")
    return code


# `routing.exchange_rates`: a currency other than the charter's -> the value of one unit of it in the charter's
_RatedCurrency = Annotated[Currency, AfterValidator(_another_currency)]
_ExchangeRate = Annotated[float, Field(gt=0, allow_inf_nan=False), ANumber]

# `routing.mediators` in either form: rows `[{region, segment, mediator}]` (the first row that matches
# wins), or DESIGN §8's lists `{ emea = ["a@…", "b@…"], "*" = ["c@…"] }`: region -> mediators in order.
Mediators = Annotated[
    Annotated[tuple[MediatorRoute, ...], Tag("rows")]
    | Annotated[dict[str, tuple[_RoutedEmail, ...]], Tag("lists")],
    Discriminator(_mediators_form),
]


class Routing(_Section):
    mediators: Mediators = ()
    default_mediator: str
    executive: str
    backup_executive: str | None = None
    priority_accounts: tuple[str, ...] = ()
    priority_tier: int = Field(default=2, ge=2, le=3)
    mediation_over: float | None = None  # deal value that skips frontline
    executive_over: float | None = None  # deal value that goes straight to the executive
    currency: Currency = "USD"  # the currency of the two thresholds
    # the value of one unit of another currency in `currency`: a deal in a currency listed here is converted
    # before it is compared with the thresholds; one in a currency not listed is not compared at all
    exchange_rates: dict[_RatedCurrency, _ExchangeRate] = Field(default_factory=dict)

    @field_validator("mediators")
    @classmethod
    def _nobody_listed(cls, value: tuple[MediatorRoute, ...] | dict[str, tuple[str, ...]]) -> Any:
        if isinstance(value, dict):
            empty = [region for region, emails in value.items() if not emails]
            if empty:
                raise ValueError(f"{', '.join(map(repr, empty))} routes to nobody: list at least one mediator "
                                 "(or leave the region out: it then goes to the default mediator)")
        return value

    @property
    def routes(self) -> tuple[MediatorRoute, ...]:
        """The mediators as rows, whichever form the charter uses (a list's order is kept)."""
        if isinstance(self.mediators, dict):
            return tuple(MediatorRoute(region=region, mediator=email)
                         for region, emails in self.mediators.items() for email in emails)
        return self.mediators

    def routed(self, region: str, segment: str | None) -> tuple[str, ...]:
        """The mediators the charter lists for this region (and segment), in order, without the default
        mediator: for the rows form every matching row in order; for the lists form the region's list,
        then the `"*"` list. Regions and segments match ignoring case."""
        want_region, want_segment = region.casefold(), (segment or "*").casefold()
        if isinstance(self.mediators, dict):
            lists = {key.casefold(): emails for key, emails in self.mediators.items()}
            found = [*lists.get(want_region, ()), *lists.get("*", ())]
        else:
            found = [r.mediator for r in self.mediators
                     if r.region.casefold() in ("*", want_region) and r.segment.casefold() in ("*", want_segment)]
        return tuple(dict.fromkeys(found))

    def mediator_candidates(self, region: str, segment: str | None) -> tuple[str, ...]:
        """Who may mediate a dispute of this region, in the order routing tries them: the charter's
        list for the region, then the default mediator (domain/eligibility.py skips the conflicted)."""
        return tuple(dict.fromkeys([*self.routed(region, segment), self.default_mediator]))

    def executive_candidates(self) -> tuple[str, ...]:
        """The executive sponsor, then the backup."""
        return tuple(dict.fromkeys([self.executive, *([self.backup_executive] if self.backup_executive else [])]))

    def mediator_for(self, region: str, segment: str | None) -> str:
        """The first mediator routed for the region, conflicts aside (service/routing.py applies them)."""
        return self.mediator_candidates(region, segment)[0]

    def in_charter_currency(self, deal_value: float, currency: str) -> float | None:
        """A deal value as the thresholds see it: as it is in the charter's currency, converted at the
        charter's rate in another; None in a currency the charter has no rate for."""
        if currency == self.currency:
            return deal_value
        rate = self.exchange_rates.get(currency)
        return None if rate is None else deal_value * rate

    def not_compared(self, currency: str) -> str | None:
        """Why a deal value in `currency` is not compared with the thresholds, in plain words; None when
        it is (or when the charter has no thresholds to compare it with)."""
        if (self.mediation_over is None and self.executive_over is None) or currency == self.currency \
                or currency in self.exchange_rates:
            return None
        return (f"the charter has no exchange rate for {currency} (routing.exchange_rates), so the deal value "
                f"was not compared with its thresholds for skipping tiers (in {self.currency})")

    def start_tier(self, account: str, deal_value: float, currency: str) -> int:
        """The tier a dispute starts at: mediation for a deal value over `mediation_over` or a priority
        account, the executive over `executive_over`. The value is compared in the charter's currency
        (`in_charter_currency`); in a currency without a rate only the priority accounts count."""
        value = self.in_charter_currency(deal_value, currency)
        tier = 1
        if value is not None and self.mediation_over is not None and value > self.mediation_over:
            tier = 2
        if account.casefold() in {a.casefold() for a in self.priority_accounts}:
            tier = max(tier, self.priority_tier)
        if value is not None and self.executive_over is not None and value > self.executive_over:
            tier = 3
        return tier


class Weights(_Section):
    win_probability: float = Field(default=0.5, ge=0)
    lifetime_value: float = Field(default=0.3, ge=0)
    strategic_fit: float = Field(default=0.2, ge=0)
    co_sell_margin: float = Field(default=0.05, ge=0, le=1)  # scores closer than this -> co-sell
    # An outcome follows the recommendation when its owner is the recommended one and each side's credit
    # share lies within this many percentage points of the recommended split (domain.scoring.follows).
    follows_tolerance_pct: float = Field(default=10, ge=0, le=100)

    @model_validator(mode="after")
    def _positive(self) -> Weights:
        if self.win_probability + self.lifetime_value + self.strategic_fit <= 0:
            raise ValueError("at least one criteria weight must be positive")
        return self


class ConflictTypeRules(_Section):
    requires: tuple[Literal["opportunity_ref", "registration_ref", "partner_org", "segment"], ...] = ()
    description: str = ""


class Notifications(_Section):
    channel: str = "#channel-conflicts"
    dm_on: tuple[str, ...] = ("action_required", "reminder", "escalated", "resolved")


class RegistrationRules(_Section):
    """The `[registrations]` section (DESIGN §6). `approval_sla` counts business time on the charter's
    calendar; `protection` and the reminders before its end count calendar time ("90d" is 90 days)."""

    approval_sla: str = "2d"
    protection: str = "90d"
    reminders_before_expiry: tuple[str, ...] = ("14d", "3d")
    match_threshold: int = Field(default=85, ge=0, le=100)
    auto_file: bool = False

    @field_validator("approval_sla", "protection")
    @classmethod
    def _a_duration(cls, value: str) -> str:
        parse_duration(value, CALENDAR_DAY)  # (the approval SLA's day length is the calendar's: checked again)
        return value

    @field_validator("reminders_before_expiry")
    @classmethod
    def _within_protection(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        protection = info.data.get("protection")  # absent when it was refused itself
        for text in value:
            before = parse_duration(text, CALENDAR_DAY)
            if protection is not None and before >= parse_duration(protection, CALENDAR_DAY):
                raise ValueError(f"{text!r} is not shorter than the protection window ({protection!r})")
        return value

    @property
    def protection_period(self) -> timedelta:
        return timedelta(seconds=parse_duration(self.protection, CALENDAR_DAY))

    @property
    def reminder_offsets(self) -> tuple[timedelta, ...]:
        """How long before the end of protection each reminder goes out, earliest reminder first."""
        offsets = {timedelta(seconds=parse_duration(t, CALENDAR_DAY)) for t in self.reminders_before_expiry}
        return tuple(sorted(offsets, reverse=True))


class DigestRules(_Section):
    """The `[digest]` section (DESIGN §7): when the digest goes out, in the calendar's time zone."""

    cron: str = "0 8 * * MON"

    @field_validator("cron")
    @classmethod
    def _a_cron(cls, value: str) -> str:
        return check_cron(value)


class Charter(_Section):
    name: str
    version: str = Field(min_length=1, max_length=40)
    calendar: CalendarSection = CalendarSection()
    tiers: Tiers
    auto_approval: AutoApproval = AutoApproval()
    routing: Routing
    weights: Weights = Weights()
    conflict_types: dict[ConflictType, ConflictTypeRules] = Field(
        default_factory=lambda: {t: ConflictTypeRules() for t in ConflictType}
    )
    notifications: Notifications = Notifications()
    registrations: RegistrationRules = RegistrationRules()
    digest: DigestRules = DigestRules()
    sha256: str = ""  # filled by parse_charter from the file's bytes

    @model_validator(mode="after")
    def _consistent(self) -> Charter:
        calendar = BusinessCalendar(self.calendar.spec())  # raises on a bad calendar
        durations = {
            "tiers.appeal_window": self.tiers.appeal_window,
            "tiers.frontline.sla": self.tiers.frontline.sla,
            "tiers.mediation.sla": self.tiers.mediation.sla,
            "tiers.executive.sla": self.tiers.executive.sla,
            "registrations.approval_sla": self.registrations.approval_sla,
        }
        for key, text in durations.items():
            try:
                parse_duration(text, calendar.day_seconds)
            except ValueError as exc:
                raise ValueError(f"{key}: {exc}") from None  # name the key, as for every other error
        return self

    @property
    def version_id(self) -> str:
        """What every dispute and audit event records: the declared version and the content hash."""
        return f"{self.version}+{self.sha256[:8]}"

    def business_calendar(self) -> BusinessCalendar:
        return BusinessCalendar(self.calendar.spec())

    def seconds(self, text: str) -> float:
        return parse_duration(text, self.business_calendar().day_seconds)

    def approval_sla_seconds(self) -> float:
        """The registration approval SLA in business seconds (add it with the business calendar)."""
        return self.seconds(self.registrations.approval_sla)

    def tier_rules(self, tier: int) -> TierSection:
        return (self.tiers.frontline, self.tiers.mediation, self.tiers.executive)[tier - 1]

    def reminder_fractions(self, tier: int) -> tuple[float, ...]:
        own = self.tier_rules(tier).reminders
        return tuple(sorted(own)) if own is not None else self.tiers.reminders


Problem = tuple[str, str]  # (the charter key, what is wrong with it in plain words); "" for the whole text
_KEY_FIRST = re.compile(r"^([a-z_][a-z0-9_]*(?:\.[a-z0-9_]+)+): (.+)$", re.DOTALL)


class CharterError(ValueError):
    """A charter that cannot be used; `problems` names each key."""

    def __init__(self, message: str, problems: tuple[Problem, ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems or (("", message),)


def parse_charter(text: str) -> Charter:
    """Parse and validate a charter; errors name the offending key. Public holidays named in
    `calendar.holidays_from` are expanded to dates here (domain/public_holidays.py)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CharterError(f"charter is not valid TOML: {exc}", (("", f"is not valid TOML: {exc}"),)) from exc
    data["sha256"] = hashlib.sha256(text.encode()).hexdigest()
    found = _expand_public_holidays(data)
    try:
        charter = Charter.model_validate(data)
    except ValidationError as exc:
        more = [p for p in _problems_of(exc) if not any(key and p[0].startswith(key) for key, _ in found)]
        words = [f"{_key(err['loc']) or 'charter'}: {err['msg']}" for err in exc.errors()]
        raise CharterError("invalid charter: " + "; ".join([*(f"{k}: {m}" for k, m in found), *words]),
                           (*found, *more)) from exc
    if found:
        raise CharterError("invalid charter: " + "; ".join(f"{k}: {m}" for k, m in found), tuple(found))
    return charter


def _expand_public_holidays(data: dict[str, Any]) -> list[Problem]:
    """`calendar.holidays_from` as dates in `calendar.public_holidays`; the problems with it."""
    calendar = data.get("calendar")
    if not isinstance(calendar, dict):
        return []  # the model names what is wrong with the section
    problems: list[Problem] = []
    if "public_holidays" in calendar:
        problems.append(("calendar.public_holidays", "is filled in from calendar.holidays_from; list the "
                                                     "charter's own dates in calendar.holidays"))
    try:
        calendar["public_holidays"] = list(public_holidays.expand(calendar.get("holidays_from", [])))
    except ValueError as exc:
        calendar["public_holidays"] = []
        problems.append(("calendar.holidays_from", str(exc)))
    return problems


def _problems_of(exc: ValidationError) -> list[Problem]:
    out: list[Problem] = []
    for err in exc.errors():
        key, message = _key(err["loc"]), plain_message(err)
        if not key and (match := _KEY_FIRST.match(message)):  # a check of the whole charter names its key first
            key, message = match.group(1), match.group(2)
        out.append((key, message))
    return out


def _key(loc: tuple[int | str, ...]) -> str:
    """A validation error's location as the charter's key; `routing.mediators`'s form tag left out, and
    pydantic's `[key]` after a table's key that was refused itself (`routing.exchange_rates.JPX`)."""
    parts = [str(p) for i, p in enumerate(loc)
             if p != "[key]" and not (p in _MEDIATOR_TAGS and i >= 2 and loc[i - 2:i] == ("routing", "mediators"))]
    return ".".join(parts)

"""A tier's SLA clock: business time consumed, pauses, and the milestones (reminders, breach)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from domain.calendar import BusinessCalendar


@dataclass
class Milestone:
    offset_s: float  # business seconds after the clock started
    kind: str  # "reminder" | "breach" | "repeat"
    fraction: float


@dataclass
class Clock:
    purpose: str  # "frontline" | "approval" | "mediation" | "appeal" | "executive"
    sla_s: float
    milestones: list[Milestone]
    anchor: datetime | None  # when the clock last started running; None while paused
    elapsed_before: float = 0.0  # business seconds consumed before `anchor`
    fired: int = 0  # milestones already handled
    paused_at: datetime | None = field(default=None)

    @classmethod
    def start(
        cls, purpose: str, sla_s: float, fractions: tuple[float, ...], now: datetime, repeats: int = 0
    ) -> Clock:
        marks = [Milestone(f * sla_s, "reminder", f) for f in fractions]
        marks.append(Milestone(sla_s, "breach", 1.0))
        marks += [Milestone(sla_s * (1 + k), "repeat", 1.0 + k) for k in range(1, repeats + 1)]
        return cls(purpose=purpose, sla_s=sla_s, milestones=marks, anchor=now)

    @property
    def paused(self) -> bool:
        return self.anchor is None

    def elapsed(self, cal: BusinessCalendar, now: datetime) -> float:
        running = cal.between(self.anchor, now) if self.anchor else 0.0
        return self.elapsed_before + running

    def at_offset(self, cal: BusinessCalendar, offset_s: float) -> datetime | None:
        if self.anchor is None:
            return None
        return cal.add(self.anchor, max(0.0, offset_s - self.elapsed_before))

    def due_at(self, cal: BusinessCalendar) -> datetime | None:
        return self.at_offset(cal, self.sla_s)

    def remaining(self, cal: BusinessCalendar, now: datetime) -> float:
        return self.sla_s - self.elapsed(cal, now)

    def breached(self) -> bool:
        return any(m.kind == "breach" for m in self.milestones[: self.fired])

    def next_at(self, cal: BusinessCalendar) -> datetime | None:
        if self.anchor is None or self.fired >= len(self.milestones):
            return None
        return self.at_offset(cal, self.milestones[self.fired].offset_s)

    def pop_due(self, cal: BusinessCalendar, now: datetime) -> list[Milestone]:
        """The milestones due by `now`, marked fired. When several are due at once (the worker was
        down), only the most important counts: a reminder overtaken by its deadline is not sent late."""
        due: list[Milestone] = []
        while (at := self.next_at(cal)) is not None and at <= now:
            due.append(self.milestones[self.fired])
            self.fired += 1
        breaches = [m for m in due if m.kind == "breach"]
        return breaches or due[-1:]

    def pause(self, cal: BusinessCalendar, now: datetime) -> None:
        self.elapsed_before = self.elapsed(cal, now)
        self.anchor = None
        self.paused_at = now

    def resume(self, now: datetime) -> None:
        self.anchor = now
        self.paused_at = None

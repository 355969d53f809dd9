"""An absence as the dispute workflow is told it (DESIGN §8; the rules about it are in `domain.away`)."""

from __future__ import annotations

from datetime import datetime

from domain.model.fields import Strict


class Absence(Strict):
    """Someone away over [starts_at, ends_at) (UTC), and who stands in for them; `cleared`: no longer away."""

    email: str
    starts_at: datetime
    ends_at: datetime
    stand_in: str
    cleared: bool = False

    def covers(self, at: datetime) -> bool:
        return not self.cleared and self.starts_at <= at < self.ends_at

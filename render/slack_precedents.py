"""The precedents a ruling or decision modal shows (DESIGN §9), in Slack's mrkdwn: each one's outcome, whether
it followed the recommendation, its similarity and why, and where most of them went."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from domain import precedents as rules
from domain.model import Decision
from domain.precedents import Similarity
from render.slack_blocks import clip, money_text, outcome_text
from render.slack_text import escape

TEXT_MAX = 1400  # what the modal's private_metadata may carry of it (it holds 3000 characters in all)


class Shown(Protocol):
    """A precedent as `store.precedents.Found` has it."""

    @property
    def id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def deal_value(self) -> float: ...
    @property
    def currency(self) -> str: ...
    @property
    def decision(self) -> Decision: ...
    @property
    def similarity(self) -> Similarity: ...


def precedents_text(found: Sequence[Shown]) -> str:
    """The modal's "Precedents" section."""
    if not found:
        return "*Precedents:* no resolved dispute you may see is like this one yet."
    lines = ["*Precedents* (how the most similar disputes were decided):"]
    for f in found:
        d = f.decision
        follows = "" if d.follows_recommendation is None else \
            ", followed the recommendation" if d.follows_recommendation else ", departed from the recommendation"
        why = ", ".join(f.similarity.reasons) or "little in common"
        lines.append(clip(f"• *{f.id}* ({f.similarity.score:.2f}) {escape(f.title)}, "
                          f"{money_text(f.deal_value, f.currency)}: {outcome_text(d.outcome, f.currency)} "
                          f"({d.kind}, tier {d.tier}{follows}). _Similar: {escape(why)}._", 280))
    if hint := rules.hint([f.decision.outcome.owner for f in found]):
        lines.append(f":information_source: {hint}")
    return clip("\n".join(lines), TEXT_MAX)

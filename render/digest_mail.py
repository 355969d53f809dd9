"""The digest as an e-mail: the subject, a plain-text part and an HTML part (templates/email/digest.*), built
from the same sections as Slack and the outbox (render.digest_text)."""

from __future__ import annotations

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from domain.calendar import BusinessCalendar
from domain.digest import Digest
from domain.durations import format_due
from render.digest_text import headline, sections
from render.email import SUBJECT_MAX, TEMPLATES_DIR, RenderedMail

_ENV = Environment(loader=FileSystemLoader(TEMPLATES_DIR), autoescape=select_autoescape(["html"]),
                   undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


def render_digest_mail(digest: Digest, cal: BusinessCalendar, base_url: str) -> RenderedMail:
    context = {
        "greeting": digest.recipient.name or digest.recipient.email, "when": format_due(digest.at, cal),
        "headline": headline(digest), "sections": sections(digest, cal, base_url),
        "link": base_url.rstrip("/") + "/",
    }
    return RenderedMail(subject=digest_subject(digest, cal), text=_ENV.get_template("digest.txt").render(context),
                        html=_ENV.get_template("digest.html").render(context))


def digest_subject(digest: Digest, cal: BusinessCalendar) -> str:
    local = digest.at.astimezone(cal.timezone)
    text = " ".join(f"[Parley] Your digest of {local:%a} {local.day} {local:%b %Y}: {headline(digest)}".split())
    return text if len(text) <= SUBJECT_MAX else text[: SUBJECT_MAX - 1] + "…"

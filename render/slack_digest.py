"""The digest as a Slack direct message: Block Kit built from the same sections as the e-mail
(render.digest_text). Pure: a digest in, `slack_sdk.models.blocks` out."""

from __future__ import annotations

from slack_sdk.models.blocks import Block, ContextBlock, DividerBlock, HeaderBlock, MarkdownTextObject, SectionBlock

from domain.calendar import BusinessCalendar
from domain.digest import Digest
from domain.durations import format_due
from render.digest_text import Line, headline, sections
from render.slack_blocks import SECTION_MAX
from render.slack_text import escape

BLOCKS_MAX = 50  # Slack's limit per message


def digest_fallback(digest: Digest) -> str:
    """The notification text (and what screen readers say)."""
    return f"Your Parley digest: {headline(digest)}."


def digest_blocks(digest: Digest, cal: BusinessCalendar, base_url: str) -> list[Block]:
    blocks: list[Block] = [
        HeaderBlock(text="Your Parley digest"),
        ContextBlock(elements=[MarkdownTextObject(text=escape(f"{format_due(digest.at, cal)}: {headline(digest)}."))]),
    ]
    for section in sections(digest, cal, base_url):
        blocks.append(DividerBlock())
        lines = [_line(line) for line in section.lines] or ([f"_{escape(section.empty)}_"] if section.empty else [])
        if section.more:
            lines.append(f"_… and {section.more} more in Parley_")
        blocks += _sections(f"*{escape(section.title)}*", lines)
    if len(blocks) > BLOCKS_MAX:
        blocks = blocks[: BLOCKS_MAX - 1] + [ContextBlock(elements=[MarkdownTextObject(text="… more in Parley")])]
    return blocks


def _line(line: Line) -> str:
    text = escape(line.text)
    if line.link:
        first, _, rest = text.partition(" ")
        if line.link.endswith(f"/{first}"):  # the id the line starts with links to its page
            text = f"<{line.link}|{first}> {rest}"
        else:
            text = f"{text} (<{line.link}|open>)"
    return f"• {text}"


def _sections(title: str, lines: list[str]) -> list[Block]:
    """One section per ~3000 characters: Slack's limit for a section's text."""
    out: list[Block] = []
    text = title
    for line in lines:
        line = line if len(line) <= SECTION_MAX - 10 else line[: SECTION_MAX - 11] + "…"
        if len(text) + 1 + len(line) > SECTION_MAX:
            out.append(SectionBlock(text=MarkdownTextObject(text=text)))
            text = line
        else:
            text = f"{text}\n{line}"
    out.append(SectionBlock(text=MarkdownTextObject(text=text)))
    return out

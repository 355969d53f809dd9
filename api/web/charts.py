"""Server-side SVG charts: horizontal bars and stacked bars, readable at a glance and by a screen
reader (each chart has a title and a description; the page adds a data table beside it).

No script and no external service: the markup is built here and embedded in the page.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

# Okabe–Ito: distinguishable with the common colour-vision deficiencies.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00")
WIDTH = 640
LABEL_W = 150
VALUE_W = 110
ROW_H = 30
BAR_H = 18
PAD = 8


def _svg(chart_id: str, title: str, desc: str, height: int, body: str) -> Markup:
    return Markup(
        f'<svg class="chart" id="{escape(chart_id)}" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-labelledby="{escape(chart_id)}-t {escape(chart_id)}-d" preserveAspectRatio="xMinYMin meet">'
        f'<title id="{escape(chart_id)}-t">{escape(title)}</title><desc id="{escape(chart_id)}-d">{escape(desc)}</desc>'
        f"{body}</svg>"
    )


def _label(x: float, y: float, text: str, anchor: str = "end", cls: str = "lbl") -> str:
    return (f'<text class="{cls}" x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" dominant-baseline="middle">'
            f"{escape(text)}</text>")


def bars(chart_id: str, title: str, rows: Sequence[tuple[str, float, str]], *, scale_max: float | None = None,
         color: str = PALETTE[0]) -> Markup:
    """One bar per row: (label, value, value as text)."""
    if not rows:
        return empty(chart_id, title)
    top = scale_max or max((v for _, v, _ in rows), default=0) or 1
    area = WIDTH - LABEL_W - VALUE_W - 2 * PAD
    parts = []
    for i, (label, value, shown) in enumerate(rows):
        y = PAD + i * ROW_H
        width = max(0.0, min(1.0, value / top)) * area
        mid = y + ROW_H / 2
        parts.append(_label(LABEL_W, mid, _clip(label)))
        parts.append(f'<rect x="{LABEL_W + PAD}" y="{mid - BAR_H / 2:.1f}" width="{width:.1f}" height="{BAR_H}" '
                     f'fill="{color}" rx="2"><title>{escape(label)}: {escape(shown)}</title></rect>')
        parts.append(_label(LABEL_W + 2 * PAD + width, mid, shown, anchor="start", cls="val"))
    desc = "; ".join(f"{label}: {shown}" for label, _, shown in rows)
    return _svg(chart_id, title, desc, 2 * PAD + len(rows) * ROW_H, "".join(parts))


def stacked(chart_id: str, title: str, series: Sequence[str], rows: Sequence[tuple[str, Sequence[float]]],
            *, unit: str = "") -> Markup:
    """One stacked bar per row, one segment per series; a legend on top and each total at the end."""
    if not rows:
        return empty(chart_id, title)
    legend_h = 26
    top = max((sum(values) for _, values in rows), default=0) or 1
    area = WIDTH - LABEL_W - VALUE_W - 2 * PAD
    parts = []
    x = float(PAD)
    for i, name in enumerate(series):
        parts.append(f'<rect x="{x:.1f}" y="6" width="12" height="12" fill="{PALETTE[i % len(PALETTE)]}"/>')
        parts.append(_label(x + 16, 12, name, anchor="start", cls="legend"))
        x += 22 + 7.2 * len(name)
    for r, (label, values) in enumerate(rows):
        y = legend_h + PAD + r * ROW_H
        mid = y + ROW_H / 2
        parts.append(_label(LABEL_W, mid, _clip(label)))
        x = float(LABEL_W + PAD)
        for i, value in enumerate(values):
            if value <= 0:
                continue
            width = value / top * area
            parts.append(f'<rect x="{x:.1f}" y="{mid - BAR_H / 2:.1f}" width="{width:.1f}" height="{BAR_H}" '
                         f'fill="{PALETTE[i % len(PALETTE)]}"><title>{escape(label)}, {escape(series[i])}: '
                         f"{_num(value)}{escape(unit)}</title></rect>")
            x += width
        parts.append(_label(x + PAD, mid, f"{_num(sum(values))}{unit}", anchor="start", cls="val"))
    desc = "; ".join(
        f"{label}: " + ", ".join(f"{name} {_num(v)}{unit}" for name, v in zip(series, values, strict=True))
        for label, values in rows
    )
    return _svg(chart_id, title, desc, legend_h + 2 * PAD + len(rows) * ROW_H, "".join(parts))


def empty(chart_id: str, title: str) -> Markup:
    return _svg(chart_id, title, "No data for this period.", 40,
                _label(WIDTH / 2, 20, "No data for this period", anchor="middle", cls="val"))


def _num(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _clip(text: str, limit: int = 22) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"

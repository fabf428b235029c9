"""The dashboard's charts as inline SVG, drawn here from the data on the page: no script
and no network needed to see them. Every text that comes from the database goes through
``escape``; numbers are formatted by us."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from markupsafe import Markup, escape

PALETTE = ("#2563eb", "#d97706", "#059669", "#db2777", "#7c3aed", "#0891b2", "#65a30d",
           "#dc2626")


def _num(value: float) -> str:
    """A short label: 1.2k, 3.4M, 0.52, 12."""
    magnitude = abs(value)
    if magnitude >= 1e9:
        return f"{value / 1e9:.1f}G"
    if magnitude >= 1e6:
        return f"{value / 1e6:.1f}M"
    if magnitude >= 1e4:
        return f"{value / 1e3:.0f}k"
    if magnitude >= 100 or value == int(value):
        return f"{value:.0f}"
    return f"{value:.2f}"


def bars(items: Sequence[tuple[str, float]], *, unit: str = "",
         marks: Sequence[tuple[float, str]] = (), title: str) -> Markup:
    """Horizontal bars, one per (label, value), with optional vertical marks (targets)."""
    if not items:
        return Markup("")
    width, label_w, row_h = 560, 150, 22
    top = max(value for _, value in items)
    top = max([top] + [m for m, _ in marks]) or 1.0
    height = row_h * len(items) + (22 if marks else 6)
    scale = (width - label_w - 60) / top
    parts = [f'<svg class="chart bars" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{escape(title)}" preserveAspectRatio="xMinYMin meet">',
             f"<title>{escape(title)}</title>"]
    for index, (label, value) in enumerate(items):
        y = index * row_h + 3
        w = max(value * scale, 1.0)
        colour = PALETTE[index % len(PALETTE)]
        parts.append(f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end" '
                     f'class="label">{escape(label)}</text>'
                     f'<rect class="bar" x="{label_w}" y="{y}" width="{w:.1f}" height="16" '
                     f'fill="{colour}" data-value="{value}"/>'
                     f'<text x="{label_w + w + 4:.1f}" y="{y + 13}" class="value">'
                     f"{escape(_num(value))}{escape(unit)}</text>")
    for value, label in marks:
        x = label_w + value * scale
        parts.append(f'<line class="mark" x1="{x:.1f}" x2="{x:.1f}" y1="0" '
                     f'y2="{height - 16}" stroke-dasharray="4 3"/>'
                     f'<text x="{x:.1f}" y="{height - 4}" text-anchor="middle" '
                     f'class="mark-label">{escape(label)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def lines(series: dict[str, list[tuple[float, float]]], *, unit: str = "",
          title: str) -> Markup:
    """Lines over time: ``series`` maps a name to (unix seconds, value) points."""
    points = [p for values in series.values() for p in values]
    if not points:
        return Markup("")
    width, height, left, bottom = 560, 160, 48, 22
    t0 = min(t for t, _ in points)
    t1 = max(t for t, _ in points)
    top = max(v for _, v in points) or 1.0
    span = (t1 - t0) or 1.0
    plot_w, plot_h = width - left - 8, height - bottom - 8

    def xy(t: float, v: float) -> str:
        return f"{left + (t - t0) / span * plot_w:.1f},{8 + plot_h - v / top * plot_h:.1f}"

    parts = [f'<svg class="chart lines" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{escape(title)}" preserveAspectRatio="xMinYMin meet">',
             f"<title>{escape(title)}</title>",
             f'<line class="axis" x1="{left}" x2="{left}" y1="8" y2="{8 + plot_h}"/>'
             f'<line class="axis" x1="{left}" x2="{width - 8}" y1="{8 + plot_h}" '
             f'y2="{8 + plot_h}"/>'
             f'<text class="value" x="{left - 4}" y="14" text-anchor="end">'
             f"{escape(_num(top))}{escape(unit)}</text>"
             f'<text class="value" x="{left - 4}" y="{8 + plot_h}" text-anchor="end">0</text>'
             f'<text class="value" x="{left}" y="{height - 4}">'
             f"{escape(_clock(t0))}</text>"
             f'<text class="value" x="{width - 8}" y="{height - 4}" text-anchor="end">'
             f"{escape(_clock(t1))}</text>"]
    for index, (name, values) in enumerate(sorted(series.items())):
        colour = PALETTE[index % len(PALETTE)]
        path = " ".join(xy(t, v) for t, v in values)
        if len(values) == 1:
            parts.append(f'<circle class="point" cx="{xy(*values[0]).split(",")[0]}" '
                         f'cy="{xy(*values[0]).split(",")[1]}" r="3" fill="{colour}"/>')
        else:
            parts.append(f'<polyline class="series" fill="none" stroke="{colour}" '
                         f'stroke-width="2" points="{path}"/>')
        parts.append(f'<text class="legend" x="{left + 6}" y="{22 + 14 * index}" '
                     f'fill="{colour}">{escape(name)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _clock(seconds: float) -> str:
    return datetime.fromtimestamp(seconds).strftime("%H:%M:%S")


def timeline(tables: Sequence[dict[str, object]], today: date) -> Markup:
    """Per range-partitioned table, its partitions as segments on one time axis, with today
    and the premake horizon marked: how far ahead partitions exist."""
    ranged = [t for t in tables if t.get("ranges")]
    if not ranged:
        return Markup("")
    starts = [r["lower"] for t in ranged for r in t["ranges"]  # type: ignore[attr-defined]
              if r["lower"]]
    ends = [r["upper"] for t in ranged for r in t["ranges"]  # type: ignore[attr-defined]
            if r["upper"]]
    ends += [t["premake_until"] for t in ranged if t.get("premake_until")]
    if not starts or not ends:
        return Markup("")
    first, last = min(starts + [today]), max(ends + [today])
    span = max((last - first).days, 1)
    width, label_w, row_h = 560, 150, 26
    height = row_h * len(ranged) + 24
    scale = (width - label_w - 10) / span

    def x(day: date) -> float:
        return float(label_w + (day - first).days * scale)

    parts = [f'<svg class="chart timeline" viewBox="0 0 {width} {height}" role="img" '
             'aria-label="partition horizon" preserveAspectRatio="xMinYMin meet">',
             "<title>partition horizon</title>"]
    for index, table in enumerate(ranged):
        y = index * row_h + 4
        parts.append(f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end" '
                     f'class="label">{escape(str(table["table"]))}</text>')
        for r in table["ranges"]:  # type: ignore[attr-defined]
            lower, upper = r["lower"] or first, r["upper"] or last
            parts.append(f'<rect class="segment" x="{x(lower):.1f}" y="{y}" '
                         f'width="{max((upper - lower).days * scale - 1, 1):.1f}" height="16">'
                         f"<title>{escape(str(r['name']))}: {lower} to {upper}, "
                         f"~{escape(_num(float(r['rows'])))} rows</title></rect>")
        horizon = table.get("premake_until")
        if isinstance(horizon, date):
            parts.append(f'<line class="horizon" x1="{x(horizon):.1f}" x2="{x(horizon):.1f}" '
                         f'y1="{y - 2}" y2="{y + 18}"/>')
    parts.append(f'<line class="today" x1="{x(today):.1f}" x2="{x(today):.1f}" y1="0" '
                 f'y2="{height - 18}"/><text class="mark-label" x="{x(today):.1f}" '
                 f'y="{height - 4}" text-anchor="middle">today</text>'
                 f'<text class="value" x="{label_w}" y="{height - 4}">{first}</text>'
                 f'<text class="value" x="{width - 10}" y="{height - 4}" '
                 f'text-anchor="end">{last}</text></svg>')
    return Markup("".join(parts))

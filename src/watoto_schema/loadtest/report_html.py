"""``loadtest --report FILE.html``: one self-contained page, charts drawn here as inline SVG.

The page needs no network and runs no script: CSS is inline, every chart is an SVG whose
coordinates this module computes (latency on a log scale: the targets span 1 ms to
500 ms). Everything shown passes jinja2's autoescape. Charts: latency over time per class
(p50/p95/p99 per second, from pgbench's per-transaction log), p50/p95/p99 per script
against both targets, and for a capacity search the curve (rate -> p95 per class) with the
two target lines.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BadConfig
from .scripts import BY_NAME, CLASSES, DESIGN_TARGET_MS, OUR_TARGET_MS

if TYPE_CHECKING:
    from . import LoadtestReport, Second
    from .capacity import CapacityReport

WIDTH, HEIGHT = 370, 230
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 16, 36
SCRIPT_WIDTH = 640


def check_writable(path: Path) -> None:
    """Raise ``BadConfig`` unless ``path`` can be written; nothing is created."""
    where = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise BadConfig(f"cannot write the report to {path}: it is a folder")
    if not where.is_dir():
        raise BadConfig(f"cannot write the report to {path}: folder {where} does not exist")
    if path.exists() and not os.access(path, os.W_OK):
        raise BadConfig(f"cannot write the report to {path}: permission denied")
    if not path.exists() and not os.access(where, os.W_OK | os.X_OK):
        raise BadConfig(f"cannot write the report to {path}: folder {where} is not writable")


def write(path: Path, page: str) -> None:
    try:
        path.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise BadConfig(f"cannot write the report to {path}: {exc.strerror or exc}") from exc


@dataclass
class Axis:
    lo: float
    hi: float
    log: bool
    ticks: list[tuple[float, str]] = field(default_factory=list)

    def at(self, value: float, length: float) -> float:
        """Position of ``value`` along an axis of ``length`` pixels (0 at ``lo``)."""
        if self.log:
            value = max(value, self.lo)
            span = math.log10(self.hi) - math.log10(self.lo)
            return (math.log10(value) - math.log10(self.lo)) / span * length if span else 0
        span = self.hi - self.lo
        return (value - self.lo) / span * length if span else 0


def _fmt(value: float) -> str:
    return f"{value:g}" if value >= 1 else f"{value:.1g}"


def _log_axis(values: list[float]) -> Axis:
    positive = [v for v in values if v and v > 0]
    lo = 10 ** math.floor(math.log10(min(positive))) if positive else 0.1
    hi = 10 ** math.ceil(math.log10(max(positive))) if positive else 1000.0
    if hi <= lo:
        hi = lo * 10
    ticks = []
    exponent = round(math.log10(lo))
    while 10 ** exponent <= hi * 1.0001:
        ticks.append((10.0 ** exponent, _fmt(10.0 ** exponent)))
        exponent += 1
    return Axis(lo, hi, True, ticks)


def _linear_axis(lo: float, hi: float, count: int = 6, whole: bool = False) -> Axis:
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / count
    step = 10 ** math.floor(math.log10(raw))
    step = next(m * step for m in (1, 2, 5, 10) if m * step >= raw)
    if whole:
        step = max(step, 1)
    first = math.ceil(lo / step) * step
    ticks = []
    value = first
    while value <= hi + 1e-9:
        ticks.append((value, f"{value:g}"))
        value += step
    return Axis(lo, hi, False, ticks)


def _chart(title: str, x: Axis, y: Axis, series: list[dict[str, Any]],
           lines: list[dict[str, Any]], marks: list[dict[str, Any]] | None = None,
           x_label: str = "", y_label: str = "latency, ms (log scale)") -> dict[str, Any]:
    """A line chart: ``series`` of points, horizontal target ``lines``, vertical ``marks``."""
    width, height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(value: float) -> float:
        return round(LEFT + x.at(value, width), 1)

    def py(value: float) -> float:
        return round(TOP + height - y.at(value, height), 1)

    drawn = []
    for item in series:
        points = [(px(a), py(b), f"{item['name']}: {b:.2f} ms at {a:g}{item.get('unit', '')}")
                  for a, b in item["points"] if b is not None]
        drawn.append({"name": item["name"], "css": item["css"], "points": points,
                      "path": " ".join(f"{a},{b}" for a, b, _ in points)})
    return {
        "title": title, "width": WIDTH, "height": HEIGHT, "left": LEFT, "right": WIDTH - RIGHT,
        "top": TOP, "bottom": HEIGHT - BOTTOM, "x_label": x_label, "y_label": y_label,
        "x_ticks": [(m["x"], m["label"]) for m in _spaced(
            [{"x": px(v), "label": label} for v, label in x.ticks if x.lo <= v <= x.hi])],
        "y_ticks": [(py(v), label) for v, label in y.ticks if y.lo <= v <= y.hi],
        "series": drawn,
        "lines": [{"y": py(line["value"]), "label": line["label"], "css": line["css"]}
                  for line in lines if y.lo <= line["value"] <= y.hi],
        "marks": _spaced([{"x": px(mark["value"]), "label": mark["label"]}
                          for mark in (marks or []) if x.lo <= mark["value"] <= x.hi]),
    }


def _spaced(marks: list[dict[str, Any]], room: float = 30) -> list[dict[str, Any]]:
    """Every mark keeps its line; a label too close to the previous shown one is left off."""
    shown = -room
    for mark in marks:
        if mark["x"] - shown < room:
            mark["label"] = ""
        else:
            shown = mark["x"]
    return marks


def _targets(kind: str) -> list[dict[str, Any]]:
    return [{"value": OUR_TARGET_MS[kind], "label": f"ours {OUR_TARGET_MS[kind]:g} ms",
             "css": "ours"},
            {"value": DESIGN_TARGET_MS[kind],
             "label": f"design {DESIGN_TARGET_MS[kind]:g} ms", "css": "design"}]


def _timeline_charts(timeline: list[Second], marks: list[dict[str, Any]]
                     ) -> list[dict[str, Any]]:
    charts = []
    last = max((s.second for s in timeline), default=0)
    for kind in CLASSES:
        seconds = [s for s in timeline if s.kind == kind]
        if not seconds:
            continue
        values = [v for s in seconds for v in (s.p50_ms, s.p95_ms, s.p99_ms) if v]
        y = _log_axis([*values, OUR_TARGET_MS[kind], DESIGN_TARGET_MS[kind]])
        x = _linear_axis(0, max(last, 1), whole=True)
        series = [{"name": name, "css": name, "unit": " s",
                   "points": [(s.second, getattr(s, f"{name}_ms")) for s in seconds]}
                  for name in ("p50", "p95", "p99")]
        charts.append(_chart(f"{kind}: latency over time (per second)", x, y, series,
                             _targets(kind), marks, x_label="seconds"))
    return charts


def _script_rows(report: LoadtestReport) -> dict[str, Any]:
    """p50/p95/p99 of every script on one log axis, with both targets of its class."""
    values = [v for s in report.scripts for v in (s.stats.p50_ms, s.stats.p95_ms,
                                                   s.stats.p99_ms) if v]
    targets = [t for kind in CLASSES for t in (OUR_TARGET_MS[kind], DESIGN_TARGET_MS[kind])]
    axis = _log_axis([*values, *targets])
    row, label_width = 26, 190
    width = SCRIPT_WIDTH - label_width - 3 * RIGHT
    rows = []
    for index, script in enumerate(report.scripts):
        y = TOP + index * row + row / 2
        kind = BY_NAME[script.name].kind

        def x(value: float) -> float:
            return round(label_width + axis.at(value, width), 1)

        points = [{"css": name, "x": x(value), "title": f"{script.name} {name} {value:.2f} ms"}
                  for name, value in (("p50", script.stats.p50_ms), ("p95", script.stats.p95_ms),
                                      ("p99", script.stats.p99_ms)) if value]
        rows.append({"name": script.name, "kind": kind, "y": y, "points": points,
                     "ours": x(OUR_TARGET_MS[kind]), "design": x(DESIGN_TARGET_MS[kind])})
    height = TOP + len(rows) * row + BOTTOM
    return {"width": SCRIPT_WIDTH, "height": height, "label_width": label_width, "row": row,
            "rows": rows, "bottom": height - BOTTOM + 4,
            "ticks": [(round(label_width + axis.at(v, width), 1), label)
                      for v, label in axis.ticks]}


def _context(report: LoadtestReport) -> dict[str, Any]:
    return {"report": report, "classes": report.classes, "scripts": report.scripts,
            "script_chart": _script_rows(report), "ours": OUR_TARGET_MS,
            "design": DESIGN_TARGET_MS, "made": datetime.now(UTC)
            .strftime("%Y-%m-%d %H:%M UTC")}


def _page(**values: Any) -> str:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    from ..resources import data_dir

    env = Environment(loader=FileSystemLoader(data_dir("sql") / "templates" / "loadtest"),
                      autoescape=select_autoescape(["html", "j2"], default=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return env.get_template("report.html.j2").render(**values)


def render_run(report: LoadtestReport) -> str:
    """The page of one load-test run."""
    return _page(kind="run", capacity=None,
                 timeline=_timeline_charts(report.timeline, []), **_context(report))


def render_capacity(result: CapacityReport) -> str:
    """The page of a capacity search: the curve, then the first failing step (or the last)."""
    from .capacity import achieved_tps, unjudged, worst

    curve = result.curve
    shown = result.first_failing or (curve[-1] if curve else None)
    assert shown is not None
    rates = [step.rate for step in curve]
    x = _log_axis(rates) if len(rates) > 1 else _linear_axis(0, rates[0] * 2)
    x.ticks = [(rate, f"{rate:g}") for rate in rates] if len(rates) <= 8 else x.ticks
    curves = []
    for kind in CLASSES:
        values = [c.stats.p95_ms for step in curve for c in step.report.classes
                  if c.kind == kind and c.stats.p95_ms]
        if not values:
            continue
        y = _log_axis([*values, OUR_TARGET_MS[kind], DESIGN_TARGET_MS[kind]])
        series = [{"name": f"{name}", "css": name, "unit": " tps",
                   "points": [(step.rate, getattr(next(c for c in step.report.classes
                                                       if c.kind == kind).stats, f"{name}_ms"))
                              for step in curve]}
                  for name in ("p95", "p99")]
        marks = ([{"value": result.capacity, "label": f"capacity {result.capacity:g} tps"}]
                 if result.capacity else [])
        curves.append(_chart(f"{kind}: p95 by arrival rate", x, y, series, _targets(kind),
                             marks, x_label="asked rate, tps (log scale)"))
    # Latency over time through the whole search: the steps one after another.
    stitched: list[Second] = []
    marks = []
    offset = 0
    from dataclasses import replace

    for step in result.steps:
        marks.append({"value": offset, "label": f"{step.rate:g}"})
        stitched.extend(replace(s, second=s.second + offset) for s in step.report.timeline)
        offset += max((s.second for s in step.report.timeline), default=0) + 1
    worst_class, worst_script = (worst(result.first_failing) if result.first_failing
                                 else (None, None))
    return _page(kind="capacity", capacity=result, curves=curves, shown=shown,
                 achieved=achieved_tps, unjudged=unjudged,
                 worst_class=worst_class, worst_script=worst_script,
                 timeline=_timeline_charts(stitched, marks), **_context(shown.report))

"""Renders the dashboard: jinja2 templates with autoescape on (everything the database says
is text), the charts of ``charts``, and the same data as JSON. A value the data lacks
renders as nothing or "-", never as an error page."""

from __future__ import annotations

from dataclasses import asdict, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from ..units import format_bytes
from . import charts
from .state import View

TEMPLATES = Path(__file__).resolve().parent / "templates"
ORDER = ("migrations", "drift", "partitions", "maintenance", "health", "activity",
         "statements", "loadtest")
TITLES = {"migrations": "Migrations", "drift": "Drift", "partitions": "Partitions",
          "maintenance": "Maintenance", "health": "Health", "activity": "Sessions",
          "statements": "Slow statements", "loadtest": "Load test"}


def _ago(value: Any, now: datetime | None = None) -> str:
    if not isinstance(value, datetime):
        return "-" if value is None else str(value)
    now = now or datetime.now(UTC)
    moment = value if value.tzinfo else value.replace(tzinfo=UTC)
    seconds = (now - moment).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 90:
        text = f"{seconds:.0f} s"
    elif seconds < 5400:
        text = f"{seconds / 60:.0f} min"
    elif seconds < 172800:
        text = f"{seconds / 3600:.1f} h"
    else:
        text = f"{seconds / 86400:.0f} days"
    return f"in {text}" if future else f"{text} ago"


def _stamp(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    return "-" if value is None else str(value)


def _num(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{int(value):,}"


def _duration(seconds: Any) -> str:
    if seconds is None:
        return "-"
    seconds = float(seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


_WORST = {"ok": 0, "unknown": 1, "warning": 2, "error": 3, "critical": 4}


def shown(sections: dict[str, Any]) -> dict[str, Any]:
    """The sections as the page shows them: the Health box holds the checks read live and
    those judged from the maintenance plan and the partitions (bloat, partition runway);
    its status is the worst of them."""
    out = dict(sections)
    live = out.get("health")
    extra = [check for name in ("maintenance", "partitions") if name in out
             for check in out[name].data.get("health_checks", [])]
    if live is None or not extra:
        return out
    checks = list(live.data.get("checks", [])) + extra
    status = max([live.status] + [c["status"] for c in extra], key=_WORST.__getitem__)
    out["health"] = replace(live, data={**live.data, "checks": checks}, status=status)
    return out


def _defined(function: Any) -> Any:
    """A filter that takes a missing value (an older loadtest JSON, say) as None: a page
    renders what it has rather than failing."""
    from jinja2 import Undefined

    def wrapped(value: Any, *args: Any) -> Any:
        return function(None if isinstance(value, Undefined) else value, *args)

    return wrapped


class Renderer:
    def __init__(self, target_display: str, *, refresh: float, slow_every: float,
                 show_queries: bool = False) -> None:
        from jinja2 import ChainableUndefined, Environment, FileSystemLoader

        self.target_display = target_display
        self.refresh = refresh
        self.slow_every = slow_every
        self.show_queries = show_queries
        self.env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True,
                               undefined=ChainableUndefined, trim_blocks=True,
                               lstrip_blocks=True)
        self.env.filters.update({name: _defined(f) for name, f in (
            ("ago", _ago), ("stamp", _stamp), ("bytes", format_bytes), ("num", _num),
            ("duration", _duration))})
        self.env.globals.update(charts=charts, titles=TITLES, order=ORDER)

    def _context(self, view: View) -> dict[str, Any]:
        sections = shown(view.sections)
        health = sections.get("health")
        partitions = sections.get("partitions")
        statements = sections.get("statements")
        today = date.today()
        return {"view": view, "s": sections, "target": self.target_display,
                "pending": any(name not in sections for name in ORDER),
                "refresh": self.refresh, "slow_every": self.slow_every,
                "show_queries": self.show_queries, "today": today,
                "now": datetime.now(UTC),
                "connections_chart": charts.bars(
                    sorted((health.data.get("connections") or {}).items()) if health else [],
                    title="connections by state"),
                "lag_chart": charts.lines(view.history.get("lag", {}), unit=" s",
                                          title="replica lag over time"),
                "connections_over_time": charts.lines(view.history.get("connections", {}),
                                                      title="connections over time"),
                "statements_chart": charts.bars(
                    [(f"#{n}", float(r["share"] or 0))
                     for n, r in enumerate(statements.data.get("statements", []), 1)]
                    if statements else [], unit="%",
                    title="share of the database's statement time"),
                "timeline": charts.timeline(partitions.data.get("tables", [])
                                            if partitions else [], today)}

    def page(self, view: View, *, nonce: str) -> str:
        return self.env.get_template("page.html.j2").render(
            nonce=nonce, **self._context(view))

    def sections(self, view: View) -> str:
        return self.env.get_template("sections.html.j2").render(**self._context(view))

    def document(self, view: View) -> dict[str, Any]:
        return {"target": self.target_display,
                "refreshed_at": view.refreshed_at,
                "database_unreachable_since": view.down_since,
                "database_unreachable": view.down_reason,
                "sections": {name: asdict(section) for name, section in view.sections.items()}}

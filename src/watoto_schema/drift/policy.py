"""Partitions judged by the partition policy: those ``partitions ensure`` makes are not
drift; a gap between partitions is."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from ..catalog import SchemaObject
from .model import Difference

_BOUND = re.compile(r"FOR VALUES FROM \('([^']+)'\) TO \('([^']+)'\)")


def _period(lower: str, upper: str) -> str | None:
    try:
        lo, hi = datetime.fromisoformat(lower), datetime.fromisoformat(upper)
    except ValueError:
        return None
    if lo.time() != datetime.min.time() or hi.time() != datetime.min.time():
        return None
    if lo.day == 1 and lo.month == 1 and hi == lo.replace(year=lo.year + 1):
        return "yearly"
    nxt = lo.replace(year=lo.year + lo.month // 12, month=lo.month % 12 + 1)
    if lo.day == 1 and hi == nxt:
        return "monthly"
    if (hi - lo).days == 1:
        return "daily"
    return None


def _name_template(name: str, lower: str) -> str:
    lo = datetime.fromisoformat(lower)
    table = name.rsplit(".", 1)[-1]
    return (table.replace(f"{lo.year:04d}", "{Y}", 1).replace(f"{lo.month:02d}", "{M}", 1)
            if f"{lo.year:04d}" in table else table)


def _declared_partitions(policy: dict[str, Any], today: date, actual: Sequence[SchemaObject],
                         diffs: list[Difference]) -> tuple[list[Difference], set[str]]:
    """Judge partitions of tables declared in the partition policy.

    An extra partition whose bounds are one policy period on calendar boundaries, at or
    after ``start``, named by the policy's naming, is what ``partitions ensure`` makes: not
    drift. A period that no partition covers *between* two partitions and before the
    premake horizon is drift (``missing``: its rows land in DEFAULT now or soon;
    ``partitions ensure`` fills it). The runway ahead and partitions retired at the old end
    are the partition lifecycle's business, reported by ``partitions list``, not schema
    drift: a database that ``migrate`` just built is in sync whatever the date.
    """
    from .. import partitions as lib

    conforming: set[str] = set()
    covered: dict[str, list[tuple[date, date]]] = {}
    for o in actual:
        if o.kind == "partition" and (m := _BOUND.match(o.definition)):
            lo, hi = _as_day(m.group(1)), _as_day(m.group(2))
            if lo and hi:
                covered.setdefault(o.object, []).append((lo, hi))
    added: list[Difference] = []
    for spec in policy.values():
        if spec.strategy != "range":
            continue
        parent = f"public.{spec.table}"
        for d in diffs:
            if d.object != parent or d.kind != "partition" or d.change != "unexpected":
                continue
            m = _BOUND.match(d.actual or "")
            lo, hi = (_as_day(m.group(1)), _as_day(m.group(2))) if m else (None, None)
            if (lo and hi and lo >= spec.start and lo == lib.period_start(lo, spec.interval)
                    and hi == lib.next_period(lo, spec.interval)
                    and d.name == f"public.{spec.name_for(lo)}"):
                conforming.add(d.name)
        ranges = covered.get(parent)
        if not ranges:
            continue
        first = max(spec.start, min(a for a, _ in ranges))
        last = min(max(b for _, b in ranges), spec.premake_horizon(today))
        for lo, hi in lib.periods(lib.period_start(first, spec.interval), last, spec.interval):
            if not any(a < hi and lo < b for a, b in ranges):
                added.append(Difference(
                    parent, "partition", f"public.{spec.name_for(lo)}", "missing",
                    f"FOR VALUES FROM ('{lo} 00:00:00') TO ('{hi} 00:00:00') "
                    f"(a gap between partitions: run `partitions ensure`)", None))
    return added, conforming


def _as_day(text: str) -> date | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.date() if moment.time() == datetime.min.time() else None


def policy_partitions(expected: Sequence[SchemaObject], actual: Sequence[SchemaObject],
                       diffs: list[Difference], policy: dict[str, Any],
                       today: date) -> tuple[list[Difference], list[str]]:
    """Apply the partition policy to the differences.

    Declared tables follow ``sql/partitions.toml`` (see ``_declared_partitions``). For
    other tables the policy is inferred: all expected partitions of a parent cover the
    same period (yearly, monthly or daily, on calendar boundaries) under one naming
    pattern; an extra partition with that period and pattern is not drift.
    """
    added, conforming = _declared_partitions(policy, today, actual, diffs)
    declared = {f"public.{t}" for t in policy}
    patterns: dict[str, set[tuple[str | None, str]]] = {}
    for o in expected:
        if o.kind == "partition" and o.object not in declared and (
                m := _BOUND.match(o.definition)):
            patterns.setdefault(o.object, set()).add(
                (_period(*m.groups()), _name_template(o.name, m.group(1))))
    for d in diffs:
        if d.kind != "partition" or d.change != "unexpected" or not d.actual:
            continue
        m = _BOUND.match(d.actual)
        known = patterns.get(d.object, set())
        if m and len(known) == 1:
            period, template = next(iter(known))
            if period and (_period(*m.groups()), _name_template(d.name, m.group(1))) == (
                    period, template):
                conforming.add(d.name)
    kept = [d for d in diffs if not (d.change == "unexpected" and
                                     (d.name in conforming or d.object in conforming))]
    return kept + added, sorted(conforming)

"""The partition policy: ``sql/partitions.toml`` read into a ``TablePolicy`` per table, and
the period arithmetic (yearly, monthly, daily) its range tables are cut by."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from ..errors import BadConfig
from ..resources import data_dir
from ..target import one_line

INTERVALS = ("yearly", "monthly", "daily")


@dataclass
class TablePolicy:
    """One partitioned table's declared layout and lifecycle."""

    table: str
    strategy: str  # range | hash
    key: str
    naming: str
    interval: str | None = None
    start: date | None = None
    initial_until: date | None = None
    premake: int = 1
    retention: str | None = None
    default: bool = False
    modulus: int | None = None

    def premake_horizon(self, today: date) -> date:
        """The end of the runway ``ensure`` keeps: the current period plus ``premake`` more."""
        assert self.interval
        horizon = period_start(today, self.interval)
        for _ in range(self.premake + 1):
            horizon = next_period(horizon, self.interval)
        return horizon

    def name_for(self, lower: date | None = None, remainder: int | None = None) -> str:
        if self.strategy == "hash":
            return self.naming.format(table=self.table, remainder=remainder)
        assert lower is not None
        return self.naming.format(table=self.table, year=lower.year, month=lower.month,
                                  day=lower.day)


def policy_path() -> Path:
    return data_dir("sql") / "partitions.toml"


def load_policy(path: Path | None = None) -> dict[str, TablePolicy]:
    """Read and validate the partition policy (default: the shipped ``sql/partitions.toml``)."""
    path = path or policy_path()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BadConfig(f"partition policy {path}: {one_line(exc)}") from exc
    policies: dict[str, TablePolicy] = {}
    for table, spec in raw.items():
        try:
            policy = TablePolicy(
                table=table, strategy=spec["strategy"], key=spec["key"], naming=spec["naming"],
                interval=spec.get("interval"),
                start=date.fromisoformat(spec["start"]) if "start" in spec else None,
                initial_until=(date.fromisoformat(spec["initial_until"])
                               if "initial_until" in spec else None),
                premake=int(spec.get("premake", 1)), retention=spec.get("retention"),
                default=bool(spec.get("default", False)), modulus=spec.get("modulus"))
        except (KeyError, ValueError, TypeError) as exc:
            raise BadConfig(f"partition policy {path}, table {table}: {exc!r}") from exc
        if policy.strategy == "range" and (policy.interval not in INTERVALS or not policy.start):
            raise BadConfig(f"partition policy {path}, table {table}: a range table needs "
                            f"interval ({', '.join(INTERVALS)}) and start")
        if policy.strategy == "hash" and not policy.modulus:
            raise BadConfig(f"partition policy {path}, table {table}: a hash table needs modulus")
        if policy.strategy not in ("range", "hash"):
            raise BadConfig(f"partition policy {path}, table {table}: strategy must be range "
                            "or hash")
        policies[table] = policy
    return policies


def period_start(day: date, interval: str) -> date:
    if interval == "yearly":
        return date(day.year, 1, 1)
    if interval == "monthly":
        return date(day.year, day.month, 1)
    return day


def next_period(day: date, interval: str) -> date:
    if interval == "yearly":
        return date(day.year + 1, 1, 1)
    if interval == "monthly":
        return date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return day + timedelta(days=1)


def periods(lower: date, upper: date, interval: str) -> list[tuple[date, date]]:
    """Consecutive ``[lo, hi)`` periods covering ``[lower, upper)``."""
    out, current = [], period_start(lower, interval)
    while current < upper:
        out.append((current, next_period(current, interval)))
        current = next_period(current, interval)
    return out

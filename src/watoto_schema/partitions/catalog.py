"""Reading the database: every partitioned table with its partitions, their bounds parsed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from ..errors import BadConfig
from ..resources import sql_text
from ..target import Target, connect

_BOUND = re.compile(r"FOR VALUES FROM \('([^']+)'\) TO \('([^']+)'\)")
_HASH = re.compile(r"FOR VALUES WITH \(modulus (\d+), remainder (\d+)\)")


@dataclass
class PartitionInfo:
    name: str
    bound: str
    estimated_rows: int
    bytes: int
    lower: date | None = None
    upper: date | None = None
    remainder: int | None = None
    detach_pending: bool = False

    @property
    def is_default(self) -> bool:
        return self.bound == "DEFAULT"


@dataclass
class TableInfo:
    table: str
    key: str
    partitions: list[PartitionInfo]

    @property
    def default(self) -> PartitionInfo | None:
        return next((p for p in self.partitions if p.is_default), None)


def _as_date(text: str) -> date | None:
    try:
        return datetime.fromisoformat(text).date()
    except ValueError:
        return None


def read_tables(conn: Any) -> dict[str, TableInfo]:
    """Every partitioned table of the database with its partitions (keyed by table name)."""
    return tables_of(conn.execute(sql_text("partitions/tables.sql")).fetchall())


def tables_of(rows: Any) -> dict[str, TableInfo]:
    """``read_tables`` of the rows of ``partitions/tables.sql``."""
    tables: dict[str, TableInfo] = {}
    for row in rows:
        parent, _, key, _, name, bound, rows, size, pending = row
        short = parent.rsplit(".", 1)[-1].strip('"')
        info = tables.setdefault(short, TableInfo(short, key, []))
        if name is None:
            continue  # no partitions yet
        part = PartitionInfo(name, bound, int(rows), int(size), detach_pending=bool(pending))
        if m := _BOUND.match(bound):
            part.lower, part.upper = _as_date(m.group(1)), _as_date(m.group(2))
        if m := _HASH.match(bound):
            part.remainder = int(m.group(2))
        info.partitions.append(part)
    return tables


def _open(target: Target) -> Any:
    """A connection whose rows the code below reads by position (typed loosely)."""
    return connect(target)


def _range_key(info: TableInfo) -> str:
    match = re.fullmatch(r"RANGE \((\w+)\)", info.key)
    if not match:
        raise BadConfig(f"{info.table}: only single-column range keys are supported "
                        f"({info.key})")
    return match.group(1)

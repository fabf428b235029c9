"""Side by side with pg_partman 4.7 (#4): for the same yearly and monthly policy, both tools
make the same partition bounds. Skipped where the extension is not installed."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from watoto_schema import partitions
from watoto_schema.partitions import TablePolicy
from watoto_schema.target import Target


@pytest.fixture
def partman(db_conn: Any) -> Any:
    if db_conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_partman'"
                       ).fetchone() is None:
        pytest.skip("pg_partman is not installed (Debian: postgresql-15-partman)")
    db_conn.execute("CREATE SCHEMA partman")
    db_conn.execute("CREATE EXTENSION pg_partman SCHEMA partman")
    return db_conn


def bounds(conn: Any, table: str) -> list[tuple[str, str]]:
    rows = conn.execute(
        "SELECT pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass ORDER BY 1",
        (table,)).fetchall()
    return sorted(r[0] for r in rows)


@pytest.mark.parametrize(("interval", "start", "premake"), [
    ("yearly", date(2020, 1, 1), 2),
    ("monthly", date(2025, 7, 1), 3),
])
def test_same_bounds_as_pg_partman(db: Target, partman: Any, interval: str, start: date,
                                   premake: int) -> None:
    for name in ("by_partman", "by_watoto"):
        partman.execute(f"CREATE TABLE {name} (id int, ts timestamp NOT NULL) "
                        "PARTITION BY RANGE (ts)")
    partman.execute(
        "SELECT partman.create_parent(p_parent_table := 'public.by_partman', p_control := 'ts', "
        "p_type := 'native', p_interval := %s, p_premake := %s, p_start_partition := %s)",
        (interval, premake, start.isoformat()))
    policy = {"by_watoto": TablePolicy(table="by_watoto", strategy="range", key="ts",
                                       naming="{table}_p{year}_{month:02d}", interval=interval,
                                       start=start, premake=premake, default=True)}

    partitions.ensure(db, policy=policy)

    ours, theirs = bounds(partman, "by_watoto"), bounds(partman, "by_partman")
    assert ours == theirs
    assert len(ours) > premake + 1 and "DEFAULT" in ours

"""Before the load: refuse a database with data; after it: what constraints cannot say."""

from __future__ import annotations

from typing import Any

import psycopg

from ..errors import BadConfig, WatotoError
from ..resources import sql_text


class GuaranteeBroken(WatotoError):
    """A guarantee of the schema does not hold after a bulk load (nothing was kept)."""

    def __init__(self, broken: dict[str, int]) -> None:
        self.broken = broken
        listed = ", ".join(f"{name}: {count}" for name, count in broken.items())
        super().__init__(f"sample data rolled back: a guarantee does not hold ({listed})")


def _has_data(cur: psycopg.Cursor[Any]) -> bool:
    try:
        cur.execute("SELECT EXISTS (SELECT 1 FROM users), EXISTS (SELECT 1 FROM courses)")
    except psycopg.errors.UndefinedTable as exc:
        raise BadConfig(
            "the database has no watoto schema (table missing): run the migrations first"
        ) from exc
    row = cur.fetchone()
    return row is not None and bool(row[0] or row[1])


def _refuse_unless_empty(cur: psycopg.Cursor[Any]) -> None:
    if _has_data(cur):
        raise BadConfig("the database already has data; load sample data into a fresh, "
                        "migrated database")


def is_empty(conn: psycopg.Connection[Any]) -> bool:
    """True when the migrated schema holds no users and no courses yet."""
    with conn.cursor() as cur:
        return not _has_data(cur)



def _check_guarantees(cur: psycopg.Cursor[Any]) -> None:
    broken = {str(name): int(n) for name, n in
              cur.execute(sql_text("sample_data/guarantees.sql")).fetchall() if n}
    if broken:
        raise GuaranteeBroken(broken)



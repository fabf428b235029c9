"""Read a database's schema from the catalog as comparable data."""

from __future__ import annotations

from typing import Any

from .resources import sql_text


def snapshot(conn: Any) -> list[tuple[str, str, str]]:
    """Return every schema object as ``(kind, name, definition)``, sorted.

    Covers tables (kind, partition key and bounds), columns, constraints, indexes (with
    validity), views, triggers, functions, sequences and extensions; yoyo's own tables are
    left out. Two databases with equal snapshots have the same schema.
    """
    rows = conn.execute(sql_text("catalog/objects.sql")).fetchall()
    return [(str(k), str(n), str(d)) for k, n, d in rows]

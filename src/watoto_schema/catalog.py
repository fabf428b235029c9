"""Read a database's schema from the catalog as comparable data."""

from __future__ import annotations

from typing import Any, NamedTuple

from .resources import sql_text


class SchemaObject(NamedTuple):
    """One catalog fact: ``kind`` of thing, the ``object`` it belongs to, its ``name``, and
    its ``definition`` as PostgreSQL's own deparser prints it."""

    kind: str
    object: str
    name: str
    definition: str


def snapshot(conn: Any, *, privileges: bool = False) -> list[SchemaObject]:
    """Return every schema object of the connected database, sorted.

    Covers schemas, tables (persistence, partition key), partitions (bounds), columns (type,
    collation, NOT NULL, default, identity, generated), constraints (by definition, with
    validity), indexes (with validity), view definitions, triggers (with enabled state),
    functions, sequences and extensions; with ``privileges``, owners and grants too. The
    migration engine's own tables are left out. Equal snapshots mean equal schemas.
    """
    rows = [SchemaObject(*map(str, row))
            for row in conn.execute(sql_text("catalog/objects.sql")).fetchall()]
    if privileges:
        rows += [SchemaObject(*map(str, row))
                 for row in conn.execute(sql_text("catalog/privileges.sql")).fetchall()]
    return sorted(rows)


def dependents(conn: Any) -> dict[str, list[str]]:
    """Which views read what: referenced object (relation, ``relation.column``, function
    signature or type) -> the views and materialized views that depend on it directly."""
    found: dict[str, list[str]] = {}
    for referenced, dependent, _kind in conn.execute(
            sql_text("catalog/dependents.sql")).fetchall():
        found.setdefault(str(referenced), []).append(str(dependent))
    return found

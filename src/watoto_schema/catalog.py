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


# Read on every snapshot: relations and what hangs on them (row-level security and
# inheritance included, sharing objects.sql's one list of managed relations), then types
# and collations. ``privileges.sql`` and ``comments.sql`` only when asked.
QUERIES = ("catalog/objects.sql", "catalog/types.sql")
OPTIONAL_QUERIES = ("catalog/privileges.sql", "catalog/comments.sql")


def snapshot(conn: Any, *, privileges: bool = False, comments: bool = False
             ) -> list[SchemaObject]:
    """Return every schema object of the connected database, sorted.

    Covers schemas, tables (persistence, partition key), partitions (bounds), columns (type,
    collation, NOT NULL, default, identity, generated; storage and compression where not
    the type's default; inherited or local in an inheritance child), constraints (by
    definition, with validity), indexes (with validity), view definitions, triggers (with
    enabled state), functions, sequences and extensions (``objects.sql``); enums (labels in
    order), domains and their constraints, composite and range types, collations
    (``types.sql``); row-level security flags and policies, table inheritance
    (``objects.sql``). With ``privileges``, owners and grants too; with ``comments``,
    the ``COMMENT ON`` texts. The migration engine's own tables are left out. Equal
    snapshots mean equal schemas.
    """
    queries = list(QUERIES)
    if privileges:
        queries.append("catalog/privileges.sql")
    if comments:
        queries.append("catalog/comments.sql")
    rows = [SchemaObject(*map(str, row)) for query in queries
            for row in conn.execute(sql_text(query)).fetchall()]
    return sorted(rows)


def dependents(conn: Any) -> dict[str, list[str]]:
    """Which views read what: referenced object (relation, ``relation.column``, function
    signature or type) -> the views and materialized views that depend on it directly."""
    found: dict[str, list[str]] = {}
    for referenced, dependent, _kind in conn.execute(
            sql_text("catalog/dependents.sql")).fetchall():
        found.setdefault(str(referenced), []).append(str(dependent))
    return found

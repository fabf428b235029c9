"""The catalog as maintenance sees it: tables, indexes and their quoted names."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import (
    BadConfig,
)
from ..resources import sql_text
from ..target import dict_rows, one_line

if TYPE_CHECKING:
    import psycopg

# -- the catalog ---------------------------------------------------------------------------

def _ident(conn: psycopg.Connection[Any], schema: str, name: str) -> str:
    from psycopg import sql

    return sql.Identifier(schema, name).as_string(conn)


def _statement(conn: psycopg.Connection[Any], template: str, schema: str, name: str) -> str:
    from psycopg import sql

    return sql.SQL(template).format(sql.Identifier(schema, name)).as_string(conn)


class _Catalog:
    """Tables and indexes of the user schemas, read once."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self.tables = {int(r["oid"]): r
                       for r in dict_rows(conn, sql_text("maintenance/tables.sql"))}
        self.indexes = {int(r["oid"]): r
                        for r in dict_rows(conn, sql_text("maintenance/indexes.sql"))}

    def leaves(self, oid: int) -> list[int]:
        """The leaf partitions under a partitioned table (the table itself otherwise)."""
        if self.tables[oid]["relkind"] != "p":
            return [oid]
        return [o for o, r in self.tables.items()
                if r["relkind"] != "p" and oid in (r["ancestors"] or [])]

    def resolve(self, name: str, kind: str) -> int:
        """The oid of the ``kind`` ("table" or "index") named on the command line."""
        import psycopg

        try:
            row = self.conn.execute("SELECT c.oid, c.relkind FROM pg_class c "
                                    "WHERE c.oid = to_regclass(%s)", (name,)).fetchone()
        except psycopg.Error as exc:
            raise BadConfig(f"{kind} name {name!r}: {one_line(exc)}") from exc
        if row is None:
            raise BadConfig(f"no {kind} named {name!r} in this database")
        oid, relkind = int(row[0]), str(row[1])
        if kind == "table" and oid not in self.tables:
            hint = " (it is an index: use --index)" if relkind in ("i", "I") else ""
            raise BadConfig(f"{name!r} is not a table of the user schemas{hint}")
        if kind == "index" and oid not in self.indexes and relkind != "I":
            raise BadConfig(f"{name!r} is not an index of the user schemas")
        return oid



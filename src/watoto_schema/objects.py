"""Which schema objects a list of SQL statements creates, and whether a database has them.

Uses PostgreSQL's own parser (pglast) rather than regular expressions, so names are
found the way the server would read them (quoting, schema qualification, ``IF NOT EXISTS``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from psycopg import sql

if TYPE_CHECKING:
    import psycopg


def created(statements: Iterable[str]) -> list[tuple[str, str | None, str, str | None]]:
    """``(kind, schema, name, table)`` of every object the statements create."""
    from pglast import parse_sql

    found: list[tuple[str, str | None, str, str | None]] = []
    for statement in statements:
        for raw in parse_sql(statement):
            node = raw.stmt
            kind = type(node).__name__
            if kind == "CreateStmt":
                found.append(("table", node.relation.schemaname, node.relation.relname, None))
                for element in node.tableElts or ():
                    if type(element).__name__ == "Constraint" and element.conname:
                        found.append(("constraint", node.relation.schemaname, element.conname,
                                      node.relation.relname))
            elif kind == "IndexStmt" and node.idxname:
                found.append(("index", node.relation.schemaname, node.idxname, None))
            elif kind == "ViewStmt":
                found.append(("view", node.view.schemaname, node.view.relname, None))
            elif kind == "CreateTableAsStmt":
                rel = node.into.rel
                found.append(("view", rel.schemaname, rel.relname, None))
            elif kind == "CreateSeqStmt":
                found.append(("sequence", node.sequence.schemaname, node.sequence.relname, None))
            elif kind == "CreateFunctionStmt":
                parts = [str(p.sval) for p in node.funcname]
                found.append(("function", parts[0] if len(parts) == 2 else None, parts[-1], None))
            elif kind == "CreateTrigStmt":
                found.append(("trigger", node.relation.schemaname, node.trigname,
                              node.relation.relname))
            elif kind == "CreateExtensionStmt":
                found.append(("extension", None, node.extname, None))
            elif kind == "AlterTableStmt":
                for cmd in node.cmds:
                    definition: Any = getattr(cmd, "def_", None)
                    if type(definition).__name__ == "Constraint" and definition.conname:
                        found.append(("constraint", node.relation.schemaname,
                                      definition.conname, node.relation.relname))
    return found


def _regclass(schema: str | None, name: str) -> str:
    ident = sql.Identifier(schema, name) if schema else sql.Identifier(name)
    return ident.as_string(None)


def missing(conn: psycopg.Connection[Any], statements: Iterable[str]) -> list[str]:
    """The objects ``statements`` create that the database lacks, as ``kind name`` strings."""
    absent: list[str] = []
    for kind, schema, name, table in created(statements):
        if kind in ("table", "index", "view", "sequence"):
            row = conn.execute("SELECT to_regclass(%s) IS NOT NULL",
                               (_regclass(schema, name),)).fetchone()
        elif kind == "function":
            row = conn.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace n "
                "ON n.oid = p.pronamespace WHERE p.proname = %s "
                "AND (%s::text IS NULL OR n.nspname = %s))", (name, schema, schema)).fetchone()
        elif kind in ("trigger", "constraint"):
            catalog = "pg_trigger" if kind == "trigger" else "pg_constraint"
            column = ("tgname", "tgrelid") if kind == "trigger" else ("conname", "conrelid")
            assert table is not None
            row = conn.execute(
                sql.SQL("SELECT EXISTS (SELECT 1 FROM {} WHERE {} = %s AND {} = to_regclass(%s))")
                .format(sql.Identifier(catalog), sql.Identifier(column[0]),
                        sql.Identifier(column[1])),
                (name, _regclass(schema, table))).fetchone()
        else:  # extension
            row = conn.execute("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = %s)",
                               (name,)).fetchone()
        if not (row and row[0]):
            absent.append(f"{kind} {name}" + (f" on {table}" if table else ""))
    return absent

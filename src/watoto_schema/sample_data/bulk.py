"""What a bulk load sets aside and puts back: keys, indexes and row triggers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from ..resources import sql_text
from .tables import _ANALYZE, _KEY_SOURCES


@dataclass(frozen=True)
class _Deferred:
    """An index or constraint dropped for the load, and how to put it back."""

    table: str
    name: str
    kind: str  # "index", "p", "u" or "f"
    position: int  # creation order (the oid of its index; constraints for "f")
    definition: str
    referenced: str | None = None  # the table a foreign key references

    def drop(self) -> sql.Composed:
        if self.kind == "index":
            return sql.SQL("DROP INDEX {}").format(sql.SQL(self.name))
        return sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
            sql.SQL(self.table), sql.Identifier(self.name))

    def create(self) -> sql.SQL | sql.Composed:
        # Names and definitions come from the catalog's own deparsers (regclass text,
        # pg_get_indexdef, pg_get_constraintdef): already quoted where they need it.
        if self.kind == "index":
            return sql.SQL(self.definition)
        return sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
            sql.SQL(self.table), sql.Identifier(self.name),
            sql.SQL(self.definition))


def _deferrable(cur: psycopg.Cursor[Any]) -> list[_Deferred]:
    """Every key and secondary index of the loaded and key tables, in re-creation order."""
    tables = list(_ANALYZE)
    found: list[_Deferred] = []
    for table, name, position, definition in cur.execute(
            sql_text("sample_data/deferrable_indexes.sql"), {"tables": tables}).fetchall():
        found.append(_Deferred(table, name, "index", int(position), definition))
    foreign: list[_Deferred] = []
    for table, name, kind, position, definition, referenced in cur.execute(
            sql_text("sample_data/deferrable_constraints.sql"), {"tables": tables}).fetchall():
        (foreign if kind == "f" else found).append(
            _Deferred(table, name, kind, int(position), definition, referenced))
    found.sort(key=lambda item: item.position)
    return found + foreign  # foreign keys last: they need the keys they reference



def _set_triggers(cur: psycopg.Cursor[Any], enabled: bool) -> None:
    verb = sql.SQL("ENABLE" if enabled else "DISABLE")
    for table in _KEY_SOURCES:  # the tables whose row triggers fill KEY_TABLES
        cur.execute(sql.SQL("ALTER TABLE {} {} TRIGGER USER").format(
            sql.Identifier(table), verb))



def _unpartitioned(cur: psycopg.Cursor[Any], tables: Sequence[str]) -> list[str]:
    rows = cur.execute("SELECT relname FROM pg_class WHERE oid = ANY (%s::regclass[]) "
                       "AND relkind = 'r'", (list(tables),)).fetchall()
    return [str(name) for (name,) in rows]



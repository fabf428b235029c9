"""SQL expressions of an online migration, read and rewritten with PostgreSQL's own parser.

An ``up`` expression (``USING``, ``-- online: up``) is written against the old shape of
the table and a ``down`` expression (``-- online: down``) against the new one; the sync
trigger needs them against ``NEW``'s physical columns, the backfill against the leaf's
columns. pglast gives the column references; nothing here pastes names into SQL text.
"""

from __future__ import annotations

from typing import Any

from ...errors import BadMigration


def parse(text: str, what: str) -> Any:
    """The parse tree of one SQL expression, or ``BadMigration`` naming ``what``."""
    from pglast import parse_sql
    from pglast.parser import ParseError

    try:
        statements = parse_sql(f"SELECT ({text})")
    except ParseError as exc:
        raise BadMigration(f"{what}: {text!r} is not an SQL expression ({exc})") from None
    select: Any = statements[0].stmt if len(statements) == 1 else None
    if (type(select).__name__ != "SelectStmt" or select.fromClause or select.whereClause
            or len(select.targetList or ()) != 1):
        raise BadMigration(f"{what}: {text!r} is not one SQL expression")
    return select.targetList[0].val


def deparse(node: Any) -> str:
    from pglast.stream import RawStream

    return str(RawStream()(node))


def column_names(node: Any) -> set[str]:
    """The (unqualified) column names an expression refers to."""
    from pglast.visitors import Visitor

    found: set[str] = set()

    class Names(Visitor):  # type: ignore[misc]
        def visit_ColumnRef(self, ancestors: Any, ref: Any) -> None:
            fields = ref.fields
            last: Any = fields[-1] if fields else None
            if type(last).__name__ == "String":
                found.add(str(last.sval))

    Names()(node)
    return found


def rewrite(text: str, mapping: dict[str, str], *, prefix: str | None = None,
            what: str = "expression") -> str:
    """``text`` with each column reference ``c`` in ``mapping`` turned into ``mapping[c]``.

    A qualified reference (``users.c``) loses its qualifier; with ``prefix`` every mapped
    reference becomes ``prefix.mapped`` (``NEW.c`` in a trigger). References to names not
    in ``mapping`` are left alone (a function's parameter, a constant's name).
    """
    from pglast import ast
    from pglast.visitors import Visitor

    node = parse(text, what)

    class Rename(Visitor):  # type: ignore[misc]
        def visit_ColumnRef(self, ancestors: Any, ref: Any) -> Any:
            fields = ref.fields or ()
            last: Any = fields[-1] if fields else None
            if type(last).__name__ != "String" or str(last.sval) not in mapping:
                return None
            parts = [prefix, mapping[str(last.sval)]] if prefix else [mapping[str(last.sval)]]
            return ast.ColumnRef(fields=tuple(ast.String(sval=p) for p in parts))

    holder = ast.ResTarget(val=node)
    Rename()(holder)
    return "(" + deparse(holder.val) + ")"

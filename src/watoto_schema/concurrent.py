"""Statements of non-transactional migrations: expansion and resume-safe preparation.

A ``-- transactional: false`` migration runs one statement at a time in autocommit. This
module, using PostgreSQL's own parser (pglast):

* expands ``CREATE INDEX CONCURRENTLY`` on a *partitioned* table, which PostgreSQL
  refuses, into ``CREATE INDEX ... ON ONLY parent`` + a concurrent build per partition +
  ``ALTER INDEX ... ATTACH PARTITION``;
* makes every statement safe to run again after a failure or a kill: an INVALID index
  left by a failed concurrent build is dropped (concurrently) and rebuilt, ``_ccnew``
  leftovers of a failed ``REINDEX CONCURRENTLY`` are dropped, work already done (a valid
  index, an attached partition, an index already dropped) is skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

MAX_IDENT = 63


@dataclass
class Prepared:
    """What to do for one statement right now."""

    statement: str
    skip: str | None = None  # why it is already done, if it is
    cleanup: list[str] = field(default_factory=list)  # run first, each in autocommit


def build_concurrently(index_def: str) -> str:
    """Turn ``pg_get_indexdef()`` output into the same index built ``CONCURRENTLY``."""
    built, count = re.subn(r"^CREATE (UNIQUE )?INDEX ", r"CREATE \1INDEX CONCURRENTLY ",
                           index_def, count=1)
    if count != 1:
        raise ValueError(f"not a CREATE INDEX statement: {index_def}")
    return built


def _parse(statement: str) -> Any:
    from pglast import parse_sql
    from pglast.parser import ParseError

    try:
        stmts = parse_sql(statement)
    except ParseError:
        return None
    return stmts[0].stmt if len(stmts) == 1 else None


def _deparse(node: Any) -> str:
    from pglast.stream import RawStream

    return str(RawStream()(node))


def _quote(name: str) -> str:
    """Quote an identifier the way PostgreSQL's own deparser would: only when needed."""
    from pglast.keywords import RESERVED_KEYWORDS, TYPE_FUNC_NAME_KEYWORDS

    if re.fullmatch(r"[a-z_][a-z0-9_$]*", name) and name not in RESERVED_KEYWORDS \
            and name not in TYPE_FUNC_NAME_KEYWORDS:
        return name
    return '"' + name.replace('"', '""') + '"'


def _qualified(schema: str | None, name: str) -> str:
    return f"{_quote(schema)}.{_quote(name)}" if schema else _quote(name)


def _regclass(conn: psycopg.Connection[Any], schema: str | None, name: str) -> int | None:
    row = conn.execute("SELECT to_regclass(%s)::oid", (_qualified(schema, name),)).fetchone()
    return int(row[0]) if row and row[0] is not None else None


def _index_state(conn: psycopg.Connection[Any], oid: int) -> tuple[bool, str]:
    row = conn.execute(
        "SELECT x.indisvalid, n.nspname FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE x.indexrelid = %s", (oid,)
    ).fetchone()
    assert row is not None
    return bool(row[0]), str(row[1])


def expand(conn: psycopg.Connection[Any], statement: str) -> list[str]:
    """Return the statements that implement ``statement`` on this database.

    Only ``CREATE INDEX CONCURRENTLY`` on a partitioned table changes; its index name must
    be given (partition indexes are named ``<partition>_<name>``).
    """
    node = _parse(statement)
    if type(node).__name__ != "IndexStmt" or not node.concurrent or not node.idxname:
        return [statement]
    parent = _regclass(conn, node.relation.schemaname, node.relation.relname)
    if parent is None:
        return [statement]
    kind = conn.execute("SELECT relkind FROM pg_class WHERE oid = %s", (parent,)).fetchone()
    if not kind or kind[0] != "p":
        return [statement]
    return _expand_partitioned(conn, node, parent)


def _expand_partitioned(conn: psycopg.Connection[Any], node: Any, parent: int) -> list[str]:
    import copy

    on_only = copy.deepcopy(node)
    on_only.concurrent = False
    on_only.relation.inh = False
    on_only.if_not_exists = True
    out = [_deparse(on_only)]
    children = conn.execute(
        "SELECT n.nspname, c.relname, c.relkind FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE i.inhparent = %s ORDER BY c.relname", (parent,)).fetchall()
    for schema, relname, relkind in children:
        child = copy.deepcopy(node)
        child.relation.schemaname = schema
        child.relation.relname = relname
        child.idxname = f"{relname}_{node.idxname}"[:MAX_IDENT]
        if relkind == "p":
            child_oid = _regclass(conn, schema, relname)
            assert child_oid is not None
            out.extend(_expand_partitioned(conn, child, child_oid))
        else:
            out.append(_deparse(child))
        out.append(
            f"ALTER INDEX {_qualified(node.relation.schemaname, node.idxname)} "
            f"ATTACH PARTITION {_qualified(schema, child.idxname)}")
    return out


def prepare(conn: psycopg.Connection[Any], statement: str) -> Prepared:
    """Decide how to run ``statement`` now so that a re-run after a failure is safe."""
    node = _parse(statement)
    kind = type(node).__name__
    prepared = Prepared(statement)
    if kind == "IndexStmt" and node.idxname:
        oid = _regclass(conn, node.relation.schemaname, node.idxname)
        if oid is not None:
            valid, schema = _index_state(conn, oid)
            partitioned_parent = not node.relation.inh
            if valid or partitioned_parent:
                prepared.skip = f"index {node.idxname} already exists"
            else:
                prepared.cleanup.append(
                    f"DROP INDEX CONCURRENTLY IF EXISTS {_qualified(schema, node.idxname)}")
    elif kind == "ReindexStmt" and _is_concurrent_reindex(node):
        prepared.cleanup.extend(_ccnew_leftovers(conn, node))
    elif kind == "DropStmt" and node.concurrent and type(node.removeType).__name__:
        names = [tuple(str(part.sval) for part in obj) for obj in node.objects]
        if all(_regclass(conn, *(n if len(n) == 2 else (None, n[0]))) is None for n in names):
            prepared.skip = "already dropped"
    elif kind == "AlterTableStmt" and _is_index_attach(node):
        cmd = node.cmds[0].def_
        attached = conn.execute(
            "SELECT 1 FROM pg_inherits WHERE inhrelid = to_regclass(%s) "
            "AND inhparent = to_regclass(%s)",
            (_qualified(cmd.name.schemaname, cmd.name.relname),
             _qualified(node.relation.schemaname, node.relation.relname))).fetchone()
        if attached:
            prepared.skip = "partition index already attached"
    return prepared


def _is_concurrent_reindex(node: Any) -> bool:
    return any(getattr(p, "defname", None) == "concurrently" for p in (node.params or ()))


def _is_index_attach(node: Any) -> bool:
    return (type(node.objtype).__name__ == "ObjectType" and node.objtype.name == "OBJECT_INDEX"
            and len(node.cmds) == 1 and node.cmds[0].subtype.name == "AT_AttachPartition")


def _ccnew_leftovers(conn: psycopg.Connection[Any], node: Any) -> list[str]:
    """DROP statements for INVALID ``*_ccnew*`` indexes a failed REINDEX CONCURRENTLY left."""
    target = _qualified(node.relation.schemaname, node.relation.relname) if node.relation else None
    if target is None:
        return []
    rows = conn.execute(
        """
        SELECT n.nspname, i.relname
          FROM pg_index x
          JOIN pg_class i ON i.oid = x.indexrelid
          JOIN pg_namespace n ON n.oid = i.relnamespace
         WHERE NOT x.indisvalid AND i.relname ~ '_ccnew[0-9]*$'
           AND (x.indrelid = to_regclass(%s) OR x.indexrelid IN (
                SELECT c.oid FROM pg_class c
                 WHERE c.relname = regexp_replace(i.relname, '_ccnew[0-9]*$', '')
                   AND c.oid = to_regclass(%s)))
           AND NOT EXISTS (SELECT 1 FROM pg_stat_progress_create_index p
                            WHERE p.relid = x.indrelid)
        """, (target, target)).fetchall()
    return [f"DROP INDEX CONCURRENTLY IF EXISTS {_qualified(s, n)}" for s, n in rows]

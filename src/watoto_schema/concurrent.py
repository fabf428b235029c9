"""Statements of non-transactional migrations: expansion and resume-safe preparation.

A ``-- transactional: false`` migration runs one statement at a time in autocommit. This
module, using PostgreSQL's own parser (pglast) when the head of a statement does not tell
(``_light``: a plain ``CREATE INDEX``, or a statement it leaves alone, needs no parser):

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


@dataclass
class _Relation:
    schemaname: str | None
    relname: str
    inh: bool  # False: ON ONLY


@dataclass
class _IndexHead:
    """What ``expand`` and ``prepare`` need of a ``CREATE INDEX`` (a pglast IndexStmt's
    attributes of the same names), read from its head without pglast."""

    concurrent: bool
    idxname: str | None
    relation: _Relation


class _Plain:
    """A statement that needs nothing from this module (neither expanded nor prepared)."""


# The head of a statement: words, quoted names, dots, line comments and whitespace.
_HEAD_TOKEN = re.compile(r'\s+|--[^\n]*|(?P<word>[A-Za-z_][A-Za-z0-9_$]*)'
                         r'|"(?P<quoted>(?:[^"]|"")*)"|(?P<dot>\.)')


def _head(statement: str) -> tuple[list[tuple[str, str]], str]:
    """The tokens at the start of ``statement`` as (kind, value): ("word", lower-cased),
    ("name", a quoted name) or ("dot", "."), up to the first other character, returned
    too ("" at the end)."""
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(statement):
        match = _HEAD_TOKEN.match(statement, position)
        if match is None:
            break
        position = match.end()
        if match.group("word") is not None:
            tokens.append(("word", match.group("word").lower()))
        elif match.group("quoted") is not None:
            tokens.append(("name", match.group("quoted").replace('""', '"')))
        elif match.group("dot") is not None:
            tokens.append(("dot", "."))
    return tokens, statement[position:position + 1]


def _light(statement: str) -> _IndexHead | _Plain | None:
    """What ``statement`` is, read without pglast (whose import costs a fresh ``migrate``
    ~35 ms): the head of a ``CREATE [UNIQUE] INDEX ... ON table (`` or ``USING``, or a
    statement of a kind this module leaves alone; None: pglast decides."""
    tokens, stop = _head(statement)
    words = [value if kind == "word" else "" for kind, value in tokens]
    if not words or not statement.isascii():
        return None
    first = words[0]
    if first in ("reindex", "alter", "drop"):  # REINDEX, ALTER INDEX, DROP ... CONCURRENTLY
        if first == "alter" and words[1:2] == ["table"] or \
                first == "drop" and "concurrently" not in words[:3]:
            return _Plain()
        return None
    if first != "create":
        return _Plain() if first in _PLAIN_VERBS else None
    at = 2 if words[1:2] == ["unique"] else 1
    if words[at:at + 1] != ["index"]:
        return _Plain() if words[1:2] != ["unique"] else None
    at += 1
    concurrent = words[at:at + 1] == ["concurrently"]
    at += concurrent
    if words[at:at + 3] == ["if", "not", "exists"]:
        at += 3
    name = None
    if words[at:at + 1] != ["on"]:
        if at >= len(tokens) or tokens[at][0] == "dot":
            return None
        name, at = tokens[at][1], at + 1
    if words[at:at + 1] != ["on"]:
        return None
    inh = words[at + 1:at + 2] != ["only"]
    rest = tokens[at + (1 if inh else 2):]
    if len(rest) >= 3 and rest[1][0] == "dot" and rest[0][0] != "dot" and rest[2][0] != "dot":
        schema, relation, rest = rest[0][1], rest[2][1], rest[3:]
    elif rest and rest[0][0] != "dot":
        schema, relation, rest = None, rest[0][1], rest[1:]
    else:
        return None
    if not (rest[:1] == [("word", "using")] or (not rest and stop == "(")):
        return None
    return _IndexHead(concurrent, name, _Relation(schema, relation, inh))


# Statements that are never expanded or prepared (CREATE is read above).
_PLAIN_VERBS = {"insert", "update", "delete", "select", "with", "grant", "revoke", "comment",
                "set", "analyze", "vacuum", "do", "call", "truncate", "lock", "refresh"}


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
    quoted = ".".join('"' + part.replace('"', '""') + '"' for part in (schema, name) if part)
    row = conn.execute("SELECT to_regclass(%s)::oid", (quoted,)).fetchone()
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
    light = _light(statement)
    if isinstance(light, _Plain):
        return [statement]
    node: Any = light if light is not None else _parse(statement)
    if type(node).__name__ not in ("IndexStmt", "_IndexHead") or not node.concurrent or \
            not node.idxname:
        return [statement]
    parent = _regclass(conn, node.relation.schemaname, node.relation.relname)
    if parent is None:
        return [statement]
    kind = conn.execute("SELECT relkind FROM pg_class WHERE oid = %s", (parent,)).fetchone()
    if not kind or kind[0] != "p":
        return [statement]
    return _expand_partitioned(conn, _parse(statement), parent)


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
    light = _light(statement)
    if isinstance(light, _Plain):
        return Prepared(statement)
    node: Any = light if light is not None else _parse(statement)
    kind = "IndexStmt" if isinstance(node, _IndexHead) else type(node).__name__
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

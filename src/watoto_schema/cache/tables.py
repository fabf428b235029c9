"""Which tables a migration changes, read with PostgreSQL's own parser (pglast).

A table changes when a statement alters, renames, drops, truncates or writes it (ALTER
TABLE, ALTER ... RENAME, DROP, TRUNCATE, INSERT, UPDATE, DELETE, COPY FROM, ATTACH or
DETACH PARTITION). Creating a table or an index changes no row anyone has cached. A partition
counts for its partitioned table, and a view change (CREATE OR REPLACE, ALTER, DROP) for
the tables the view reads, through views on views: the cached values of an API response
built from a view have that view's shape. View definitions and partition parents come from
the migration files (a dropped view is gone from the catalog) and from the catalog (objects
made outside the migrations).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..resources import sql_text

if TYPE_CHECKING:
    import psycopg

    from ..sources import MigrationFile

# Statements that may change rows or shapes but whose tables the parser cannot tell.
_OPAQUE = {"DoStmt": "a DO block", "CallStmt": "a CALL", "ExecuteStmt": "an EXECUTE"}
# Object kinds whose ALTER/RENAME/DROP changes what a cached row looks like.
_RELATIONS = {"OBJECT_TABLE", "OBJECT_VIEW", "OBJECT_MATVIEW", "OBJECT_FOREIGN_TABLE",
              "OBJECT_COLUMN", "OBJECT_TABCONSTRAINT"}


@dataclass
class Changes:
    """What a migration's statements touch: relation names as written, unresolved."""

    relations: set[str] = field(default_factory=set)
    views: dict[str, set[str]] = field(default_factory=dict)  # views it (re)defines
    opaque: list[str] = field(default_factory=list)  # e.g. "a DO block"


@dataclass
class Relations:
    """What the names resolve through: view → relations it reads, partition → its parent."""

    views: dict[str, set[str]] = field(default_factory=dict)
    parents: dict[str, str] = field(default_factory=dict)

    def update(self, other: Relations) -> None:
        for view, bases in other.views.items():
            self.views.setdefault(view, set()).update(bases)
        self.parents.update(other.parents)

    def base_tables(self, names: Iterable[str]) -> set[str]:
        """The tables behind ``names``: views unfolded (recursively), partitions to parents."""
        found: set[str] = set()
        todo, seen = list(names), set()
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            if name in self.views:
                todo.extend(self.views[name])
                continue
            while name in self.parents and self.parents[name] != name:
                name = self.parents[name]
            found.add(name)
        return found


def _name(range_var: Any) -> str:
    return str(range_var.relname)


def _kind(value: Any) -> str:
    return str(getattr(value, "name", value))


def changes(sql: str) -> Changes:
    """The relations ``sql`` changes and the views it defines (unparsable SQL is opaque)."""
    from pglast import parse_sql
    from pglast.parser import ParseError
    from pglast.visitors import referenced_relations

    found = Changes()
    try:
        statements = parse_sql(sql)
    except ParseError as exc:
        found.opaque.append(f"SQL the parser does not read ({exc})")
        return found
    for raw in statements:
        node = raw.stmt
        kind = type(node).__name__
        if kind in _OPAQUE:
            found.opaque.append(_OPAQUE[kind])
        elif kind == "AlterTableStmt" and _kind(node.objtype) in _RELATIONS:
            found.relations.add(_name(node.relation))
        elif kind in ("RenameStmt", "AlterObjectSchemaStmt"):
            what = _kind(node.renameType if kind == "RenameStmt" else node.objectType)
            relation_type = _kind(getattr(node, "relationType", ""))
            if node.relation is not None and (what in _RELATIONS
                                              or relation_type in _RELATIONS):
                found.relations.add(_name(node.relation))
        elif kind == "DropStmt" and _kind(node.removeType) in _RELATIONS:
            for parts in node.objects or ():
                found.relations.add(str(parts[-1].sval))
        elif kind in ("InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt"):
            found.relations.add(_name(node.relation))
        elif kind == "TruncateStmt":
            found.relations.update(_name(r) for r in node.relations)
        elif kind == "CopyStmt" and node.is_from and node.relation is not None:
            found.relations.add(_name(node.relation))
        elif kind == "ViewStmt":
            view = _name(node.view)
            found.views[view] = set(referenced_relations(node.query))
            if node.replace:
                found.relations.add(view)
        elif kind == "CreateTableAsStmt" and _kind(node.objtype) == "OBJECT_MATVIEW":
            found.views[_name(node.into.rel)] = set(referenced_relations(node.query))
        elif kind == "RefreshMatViewStmt":
            found.relations.add(_name(node.relation))
    return found


def parents_in(sql: str) -> dict[str, str]:
    """Partition → parent for every ``CREATE TABLE ... PARTITION OF`` in ``sql``."""
    from pglast import parse_sql
    from pglast.parser import ParseError

    try:
        statements = parse_sql(sql)
    except ParseError:
        return {}
    out: dict[str, str] = {}
    for raw in statements:
        node = raw.stmt
        if type(node).__name__ == "CreateStmt" and node.partbound is not None:
            for parent in node.inhRelations or ():
                out[_name(node.relation)] = _name(parent)
    return out


def from_files(files: Sequence[MigrationFile]) -> Relations:
    """Views and partitions as the migration files define them (later definitions win)."""
    known = Relations()
    for migration in files:
        found = changes(migration.sql("apply"))
        known.views.update(found.views)
        known.parents.update(parents_in(migration.sql("apply")))
    return known


def from_catalog(conn: psycopg.Connection[Any]) -> Relations:
    """Views (the relations their rules read) and partitions (their root) in the database."""
    known = Relations()
    for view, base in conn.execute(sql_text("cache/view_relations.sql")).fetchall():
        known.views.setdefault(str(view), set()).add(str(base))
    for partition, root in conn.execute(sql_text("cache/partition_roots.sql")).fetchall():
        known.parents[str(partition)] = str(root)
    return known


def changed_tables(sql: str, known: Relations) -> tuple[set[str], list[str]]:
    """The base tables ``sql`` changes, and what in it could not be read (opaque parts)."""
    found = changes(sql)
    resolved = Relations(dict(known.views), dict(known.parents))
    tables = resolved.base_tables(found.relations)
    # A view this very migration replaces: the tables of its old and its new definition.
    for view in found.relations & set(found.views):
        tables |= resolved.base_tables(found.views[view])
    return tables, found.opaque

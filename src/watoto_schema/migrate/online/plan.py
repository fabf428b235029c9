"""Turn the plain SQL of an ``-- online: true`` migration into expand, contract and abort steps.

The DBA writes the statements they mean (``ALTER TABLE users ALTER COLUMN last_login TYPE
timestamptz``); this module reads them with PostgreSQL's own parser, looks at the tables in
the catalog and decides, statement by statement, how to serve the old and the new shape at
once (docs/online.md):

* a column whose type changes or that gains NOT NULL, a CHECK, a FOREIGN KEY or UNIQUE gets a
  **shadow column** ``_w_<column>``, kept in step with the old one by a trigger in both
  directions (``up`` from the old shape, ``down`` from the new), backfilled in batches, its
  indexes and constraints rebuilt beside the old ones (CONCURRENTLY, NOT VALID + VALIDATE);
* renames, dropped columns and new defaults cost nothing until the contract: the new
  version's views show them;
* each version is a schema of views (``security_invoker``, auto-updatable) over the touched
  tables; an application picks its version with ``search_path``.

A statement that cannot be run this way is refused (``NotOnline``, exit 3) before anything
runs, naming it and the reason. The plan is plain data (JSON), stored with the migration's
state so that a run killed at any step resumes from the same plan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ...errors import BadMigration, NotOnline, Refused
from ...resources import sql_text
from . import expr

if TYPE_CHECKING:
    import psycopg

    from ...sources import MigrationFile

MAX_IDENT = 63
SHADOW = "_w_"  # prefix of every object the expand phase adds to a live table
# BEFORE triggers fire in name order: the sync trigger's name sorts after the table's own
# (lower-case) ones, so a value one of them sets (updated_at) reaches the other shape too
SYNC_TRIGGER = "zz_w_sync"
_ANNOTATION = re.compile(r"--\s*online\s*:\s*(up|down)\s+(.+?)\s*$", re.MULTILINE)


def shadow_name(name: str) -> str:
    return (SHADOW + name)[:MAX_IDENT]


def version_schema(version: str) -> str:
    """The schema that serves ``version``'s shape: ``watoto_<version>`` (at most 63 bytes)."""
    return ("watoto_" + version)[:MAX_IDENT]


def _q(name: str) -> str:
    """Quote an identifier exactly as PostgreSQL's quote_ident() and psycopg's sql.Identifier
    do for names that need it (used to build DDL text that is stored in the plan)."""
    from psycopg import sql

    return sql.Identifier(name).as_string(None)


def _lit(value: str) -> str:
    from psycopg import sql

    return sql.Literal(value).as_string(None)


@dataclass
class Step:
    kind: str  # tx | concurrent | backfill | validate
    sql: str
    what: str

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "sql": self.sql, "what": self.what}


@dataclass
class ColumnWork:
    """What the migration does to one existing column."""

    name: str
    info: dict[str, Any]
    new_name: str | None = None
    new_type: str | None = None
    using: str | None = None
    up: str | None = None
    down: str | None = None
    set_not_null: bool = False
    drop_not_null: bool = False
    default: str | None = None
    default_changed: bool = False
    checks: list[tuple[str, str]] = field(default_factory=list)  # (name, expr in new names)
    fks: list[tuple[str, str]] = field(default_factory=list)  # (name, REFERENCES ... clause)
    unique: str | None = None
    dropped: bool = False
    statements: list[str] = field(default_factory=list)

    @property
    def shadowed(self) -> bool:
        return bool(self.new_type or self.set_not_null or self.drop_not_null or self.checks
                    or self.fks or self.unique)

    @property
    def final_name(self) -> str:
        return self.new_name or self.name

    @property
    def physical(self) -> str:
        """The column that holds the new shape's values during the migration."""
        return shadow_name(self.name) if self.shadowed else self.name


@dataclass
class AddedColumn:
    name: str
    type: str
    default: str | None
    volatile_default: bool
    not_null: bool
    checks: list[tuple[str, str]]
    fks: list[tuple[str, str]]
    unique: str | None


@dataclass
class TableWork:
    info: dict[str, Any]
    columns: dict[str, ColumnWork] = field(default_factory=dict)
    added: list[AddedColumn] = field(default_factory=list)
    rename_to: str | None = None

    @property
    def name(self) -> str:
        return str(self.info["name"])

    @property
    def ident(self) -> str:
        return f"{_q(self.info['schema'])}.{_q(self.name)}"

    def column(self, name: str, statement: str, version: str) -> ColumnWork:
        if name in self.columns:
            return self.columns[name]
        for info in self.info["columns"]:
            if info["name"] == name:
                self.columns[name] = ColumnWork(name, info)
                return self.columns[name]
        raise NotOnline(version, statement, f"{self.name} has no column {name}")



@dataclass
class Plan:
    """What an online migration does, phase by phase; stored as JSON with its state."""

    version: str
    old_schema: str
    new_schema: str
    expand: list[Step] = field(default_factory=list)
    contract: list[Step] = field(default_factory=list)
    abort: list[Step] = field(default_factory=list)
    backfills: list[dict[str, Any]] = field(default_factory=list)
    owned: dict[str, list[str]] = field(default_factory=dict)
    operations: list[str] = field(default_factory=list)  # one line per statement: how

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "old_schema": self.old_schema,
                "new_schema": self.new_schema,
                "expand": [s.as_dict() for s in self.expand],
                "contract": [s.as_dict() for s in self.contract],
                "abort": [s.as_dict() for s in self.abort],
                "backfills": self.backfills, "owned": self.owned,
                "operations": self.operations}


def online_comments(text: str) -> dict[str, str]:
    """The ``-- online: up EXPR`` / ``-- online: down EXPR`` comments in ``text``."""
    return {kind: value for kind, value in _ANNOTATION.findall(text)}


def statements(m: MigrationFile) -> list[tuple[Any, str, dict[str, str]]]:
    """Each statement of ``m``: its parse tree, its text and its ``-- online:`` comments."""
    from pglast import parse_sql
    from pglast.parser import ParseError

    raw = m.text.encode("utf-8")
    try:
        parsed = parse_sql(m.text)
    except ParseError as exc:
        raise BadMigration(f"{m.version}: {exc}") from None
    out = []
    for stmt in parsed:
        start = stmt.stmt_location or 0
        end = start + stmt.stmt_len if stmt.stmt_len else len(raw)
        chunk = raw[start:end].decode("utf-8")
        code = "\n".join(line for line in chunk.splitlines()
                         if not line.strip().startswith("--")).strip()
        out.append((stmt.stmt, " ".join(code.split()), online_comments(chunk)))
    return out


def _short(statement: str) -> str:
    return statement if len(statement) <= 90 else statement[:87] + "..."


class Planner:
    def __init__(self, conn: psycopg.Connection[Any], m: MigrationFile, old_version: str) -> None:
        self.conn = conn
        self.m = m
        self.tables: dict[str, TableWork] = {}
        self.created_tables: dict[str, str] = {}  # name -> CREATE TABLE statement
        self.created_indexes: list[tuple[str, str, bool]] = []  # (name, statement, partitioned)
        self.dropped_indexes: list[tuple[str, bool]] = []
        self.index_copies: list[Step] = []  # partitions' copies of created indexes
        self.plan = Plan(m.version, version_schema(old_version), version_schema(m.version))
        self.later: list[str] = []  # statements on tables this migration creates

    def refuse(self, statement: str, why: str) -> NotOnline:
        return NotOnline(self.m.version, _short(statement), why)

    # -- reading ---------------------------------------------------------------------------
    def table(self, relation: Any, statement: str) -> TableWork:
        name = (f"{relation.schemaname}.{relation.relname}" if relation.schemaname
                else str(relation.relname))
        key = name
        if key in self.tables:
            return self.tables[key]
        row = self.conn.execute(sql_text("online/table.sql"),
                                {"table": _regclass_text(relation)}).fetchone()
        if row is None or row[0] is None:
            raise self.refuse(statement, f"no table {name} in the database")
        work = TableWork(row[0])
        self.tables[key] = work
        return work

    def read(self) -> None:
        for node, statement, notes in statements(self.m):
            kind = type(node).__name__
            if kind == "AlterTableStmt" and _objtype(node) == "OBJECT_TABLE":
                if node.relation.relname in self.created_tables:
                    self.later.append(statement)
                    continue
                work = self.table(node.relation, statement)
                for cmd in node.cmds:
                    self.alter(work, cmd, statement, notes)
            elif kind == "RenameStmt" and node.renameType.name in ("OBJECT_COLUMN",
                                                                   "OBJECT_TABLE"):
                if node.relation.relname in self.created_tables:
                    self.later.append(statement)
                    continue
                work = self.table(node.relation, statement)
                if node.renameType.name == "OBJECT_COLUMN":
                    self.rename_column(work, node.subname, node.newname, statement)
                else:
                    self.rename_table(work, node.newname, statement)
            elif kind == "IndexStmt":
                self.create_index(node, statement)
            elif kind == "DropStmt" and node.removeType.name == "OBJECT_INDEX":
                self.drop_index(node, statement)
            elif kind == "CreateStmt":
                if node.partbound is not None:
                    raise self.refuse(statement, "CREATE TABLE ... PARTITION OF takes an ACCESS "
                                      "EXCLUSIVE lock on the parent; use `partitions ensure`, "
                                      "or a plain migration")
                self.created_tables[str(node.relation.relname)] = statement
                self.plan.operations.append(f"{_short(statement)}: created at expand "
                                            "(a new table blocks nobody)")
            else:
                raise self.refuse(statement, f"{_statement_kind(node)} has no online form "
                                  "(supported: ALTER TABLE column and constraint changes, "
                                  "RENAME, CREATE/DROP INDEX, CREATE TABLE)")

    def alter(self, work: TableWork, cmd: Any, statement: str, notes: dict[str, str]) -> None:
        sub = cmd.subtype.name
        if sub == "AT_AlterColumnType":
            col = work.column(cmd.name, statement, self.m.version)
            col.new_type = expr.deparse(cmd.def_.typeName)
            if cmd.def_.raw_default is not None:
                col.using = expr.deparse(cmd.def_.raw_default)
            col.up = notes.get("up", col.up)
            col.down = notes.get("down", col.down)
            if cmd.def_.collClause is not None:
                raise self.refuse(statement, "a COLLATE clause is not supported online")
        elif sub == "AT_SetNotNull":
            col = work.column(cmd.name, statement, self.m.version)
            if col.info["not_null"]:
                return
            col.set_not_null = True
            col.up = notes.get("up", col.up)
        elif sub == "AT_DropNotNull":
            col = work.column(cmd.name, statement, self.m.version)
            if not col.info["not_null"]:
                return
            col.drop_not_null = True
            col.down = notes.get("down", col.down)
        elif sub == "AT_ColumnDefault":
            col = work.column(cmd.name, statement, self.m.version)
            col.default = expr.deparse(cmd.def_) if cmd.def_ is not None else None
            col.default_changed = True
        elif sub == "AT_AddColumn":
            self.add_column(work, cmd.def_, statement)
        elif sub == "AT_DropColumn":
            col = work.column(cmd.name, statement, self.m.version)
            col.dropped = True
            col.down = notes.get("down", col.down)
        elif sub == "AT_AddConstraint":
            self.add_constraint(work, cmd.def_, statement, notes)
        else:
            raise self.refuse(statement, f"ALTER TABLE {sub[3:]} has no online form")
        if getattr(cmd, "name", None) and cmd.name in work.columns:
            work.columns[cmd.name].statements.append(statement)

    def add_constraint(self, work: TableWork, con: Any, statement: str,
                       notes: dict[str, str]) -> None:
        kind = con.contype.name
        if kind == "CONSTR_CHECK":
            names = expr.column_names(con.raw_expr) & {c["name"] for c in work.info["columns"]}
            if len(names) != 1:
                raise self.refuse(statement, "an online CHECK must name exactly one column "
                                  "(its shadow column carries it)")
            col = work.column(names.pop(), statement, self.m.version)
            name = con.conname or f"{work.name}_{col.name}_check"[:MAX_IDENT]
            col.checks.append((name, expr.deparse(con.raw_expr)))
        elif kind == "CONSTR_FOREIGN":
            if len(con.fk_attrs or ()) != 1:
                raise self.refuse(statement, "an online FOREIGN KEY must be on one column")
            col = work.column(str(con.fk_attrs[0].sval), statement, self.m.version)
            name = con.conname or f"{work.name}_{col.name}_fkey"[:MAX_IDENT]
            col.fks.append((name, _references(con)))
        elif kind == "CONSTR_UNIQUE":
            if len(con.keys or ()) != 1:
                raise self.refuse(statement, "an online UNIQUE must be on one column")
            col = work.column(str(con.keys[0].sval), statement, self.m.version)
            col.unique = con.conname or f"{work.name}_{col.name}_key"[:MAX_IDENT]
        else:
            raise self.refuse(statement, f"ADD CONSTRAINT {kind[7:]} has no online form")
        col.up = notes.get("up", col.up)
        col.statements.append(statement)

    def add_column(self, work: TableWork, coldef: Any, statement: str) -> None:
        name = str(coldef.colname)
        if any(c["name"] == name for c in work.info["columns"]):
            raise self.refuse(statement, f"{work.name} already has a column {name}")
        if (coldef.identity or "\x00") != "\x00" or (coldef.generated or "\x00") != "\x00":
            raise self.refuse(statement, "identity and generated columns rewrite the table")
        type_name = expr.deparse(coldef.typeName)
        if type_name.lower() in ("serial", "bigserial", "smallserial", "serial2", "serial4",
                                 "serial8"):
            raise self.refuse(statement, f"a {type_name} column fills every row from a sequence: "
                              "the table is rewritten under an ACCESS EXCLUSIVE lock")
        default, not_null, checks, fks, unique = None, False, [], [], None
        for con in coldef.constraints or ():
            kind = con.contype.name
            if kind == "CONSTR_DEFAULT":
                default = expr.deparse(con.raw_expr)
            elif kind == "CONSTR_NOTNULL":
                not_null = True
            elif kind == "CONSTR_NULL":
                pass
            elif kind == "CONSTR_CHECK":
                checks.append((con.conname or f"{work.name}_{name}_check"[:MAX_IDENT],
                               expr.deparse(con.raw_expr)))
            elif kind == "CONSTR_FOREIGN":
                fks.append((con.conname or f"{work.name}_{name}_fkey"[:MAX_IDENT],
                            _references(con)))
            elif kind == "CONSTR_UNIQUE":
                unique = con.conname or f"{work.name}_{name}_key"[:MAX_IDENT]
            else:
                raise self.refuse(statement, f"a {kind[7:]} column constraint has no online "
                                  "form")
        if not_null and default is None:
            raise self.refuse(statement, "a NOT NULL column without a DEFAULT would make the "
                              "old version's inserts fail: give it a DEFAULT")
        if unique and work.info["partitioned"]:
            raise self.refuse(statement, "UNIQUE on a partitioned table must include the "
                              "partition key: keep it in a key table (decision 0001)")
        if fks and work.info["partitioned"]:
            raise self.refuse(statement, "a FOREIGN KEY added to a partitioned table cannot be "
                              "NOT VALID in PostgreSQL 15; add it in a plain migration")
        volatile = default is not None and _volatile(self.conn, default)
        work.added.append(AddedColumn(name, expr.deparse(coldef.typeName), default, volatile,
                                      not_null, checks, fks, unique))

    def rename_column(self, work: TableWork, old: str, new: str, statement: str) -> None:
        col = work.column(old, statement, self.m.version)
        for trigger in work.info["triggers"]:
            if re.search(rf"\b{re.escape(old)}\b", trigger["source"] or ""):
                raise self.refuse(statement, f"trigger {trigger['name']} ({trigger['function']})"
                                  f" refers to {old} by name; renaming it would break the "
                                  "trigger (a key table of decision 0001?)")
        col.new_name = new

    def rename_table(self, work: TableWork, new: str, statement: str) -> None:
        own = {f"{shadow_name('sync_' + work.name)}()"}
        naming = [f for f in work.info["functions_naming_it"] if f not in own]
        if naming:
            raise self.refuse(statement, f"function {naming[0]} refers to {work.name} by name; "
                              "renaming the table would break it")
        work.rename_to = new

    def create_index(self, node: Any, statement: str) -> None:
        if not node.idxname:
            raise self.refuse(statement, "an online CREATE INDEX must name its index")
        relname = str(node.relation.relname)
        if relname in self.created_tables:
            self.later.append(statement)
            return
        work = self.table(node.relation, statement)
        node.concurrent = True
        self.created_indexes.append((str(node.idxname), expr.deparse(node),
                                     bool(work.info["partitioned"])))
        # a partition's copy built but not yet attached when a run was killed is not
        # dropped with the parent index: an abort drops the copies by name (concurrent.py)
        for leaf in work.info["leaves"] if work.info["partitioned"] else ():
            schema, _, relname = leaf.rpartition(".")
            copy = f"{relname.strip(chr(34))}_{node.idxname}"[:MAX_IDENT]
            self.index_copies.append(Step("concurrent", f"DROP INDEX CONCURRENTLY IF EXISTS "
                                          f"{schema}.{_q(copy)}", f"drop index {copy}"))

    def drop_index(self, node: Any, statement: str) -> None:
        for obj in node.objects:
            parts = [str(p.sval) for p in obj]
            row = self.conn.execute(
                "SELECT c.relkind = 'I', EXISTS (SELECT 1 FROM pg_constraint k "
                "WHERE k.conindid = c.oid) FROM pg_class c WHERE c.oid = to_regclass(%s)",
                (".".join(_q(p) for p in parts),)).fetchone()
            if row is None:
                if node.missing_ok:
                    continue
                raise self.refuse(statement, f"no index {'.'.join(parts)}")
            if row[1]:
                raise self.refuse(statement, f"index {'.'.join(parts)} backs a constraint")
            self.dropped_indexes.append((".".join(_q(p) for p in parts), bool(row[0])))

    # -- deciding --------------------------------------------------------------------------
    def check_column(self, work: TableWork, col: ColumnWork) -> None:
        statement = col.statements[0] if col.statements else f"ALTER TABLE {work.name}"
        info = work.info
        if col.info["generated"] or col.info["identity"]:
            raise self.refuse(statement, f"{col.name} is a generated or identity column")
        if col.name in (info["primary_key"] or []) or col.name in info["partition_key"]:
            raise self.refuse(statement, f"{col.name} is part of {work.name}'s primary or "
                              "partition key")
        for con in info["constraints"]:
            if col.name in con["columns"] and (con["type"] in ("p", "u", "x")
                                               or len(con["columns"]) > 1):
                raise self.refuse(statement, f"{col.name} is part of constraint {con['name']} "
                                  f"({con['definition']})")
            if col.name in con["columns"] and con["type"] == "f" and info["partitioned"]:
                raise self.refuse(statement, f"{col.name} has foreign key {con['name']} on a "
                                  "partitioned table; rebuild it in a plain migration")
        for ref in info["referenced_by"]:
            if col.name in ref["columns"]:
                raise self.refuse(statement, f"{col.name} is referenced by foreign key "
                                  f"{ref['name']} of {ref['table']}")
        for trigger in info["triggers"]:
            if col.name in trigger["update_of"]:
                raise self.refuse(statement, f"trigger {trigger['name']} fires on UPDATE OF "
                                  f"{col.name} (a key table of decision 0001): change it in a "
                                  "plain migration with its trigger")
        ours = (f"view {self.plan.old_schema}.", f"view {self.plan.new_schema}.",
                f'view "{self.plan.old_schema}".', f'view "{self.plan.new_schema}".')
        for dep in info["column_dependents"]:
            if dep["column"] != col.name or dep["object"].startswith(ours):
                continue
            if dep["object"].startswith("view ") and col.shadowed and not col.new_type:
                continue  # re-created over the swapped column at the contract (views_over)
            raise self.refuse(statement, f"{dep['object']} depends on {col.name}")

    def build(self) -> Plan:
        self.read()
        plan = self.plan
        owned: dict[str, list[str]] = {"schemas": [plan.new_schema, plan.old_schema],
                                       "columns": [],
                                       "indexes": [], "constraints": [], "tables": [],
                                       "functions": [], "triggers": []}
        # the old version's schema at once; the new one only with its views, at the end: a
        # session of the new release that connects during the expand must not be taken for
        # the new version (the sync trigger goes by the first schema of its search_path)
        plan.expand.append(Step("tx", f"CREATE SCHEMA IF NOT EXISTS {_q(plan.old_schema)}",
                                f"version schema {plan.old_schema}"))
        old_views: list[str] = []
        new_views: list[str] = []
        old_grants: list[str] = []
        new_grants: list[str] = []
        validate: list[Step] = []
        concurrent: list[Step] = []
        for work in self.tables.values():
            self.table_steps(work, owned, old_views, new_views, old_grants, new_grants,
                             validate, concurrent)
        for name, statement in self.created_tables.items():
            plan.expand.append(Step("tx", statement, f"create table {name}"))
            plan.abort.append(Step("tx", f"DROP TABLE IF EXISTS {_q(name)}",
                                   f"drop table {name}"))
            owned["tables"].append(name)
        for statement in self.later:
            plan.expand.append(Step("tx", statement, "on a table this migration creates"))
        if old_views:
            plan.expand.append(Step("tx", "; ".join(old_views + old_grants),
                                    f"views of version {plan.old_schema}"))
        for name, statement, partitioned in self.created_indexes:
            concurrent.append(Step("concurrent", statement, f"build index {name}"))
            plan.abort.append(Step("tx" if partitioned else "concurrent",
                                   f"DROP INDEX {'' if partitioned else 'CONCURRENTLY '}"
                                   f"IF EXISTS {_q(name)}", f"drop index {name}"))
            owned["indexes"].append(name)
            plan.operations.append(f"CREATE INDEX {name}: built CONCURRENTLY at expand"
                                   + (", per partition, then attached" if partitioned else ""))
        plan.abort.extend(self.index_copies)  # after their parents: attached ones go with them
        plan.expand.extend(concurrent)
        for i, spec in enumerate(plan.backfills):
            plan.expand.append(Step("backfill", str(i), f"backfill {spec['table']}"))
        plan.expand.extend(validate)
        plan.expand.append(Step("tx", "; ".join([f"CREATE SCHEMA IF NOT EXISTS "
                                                 f"{_q(plan.new_schema)}"]
                                                + new_views + new_grants),
                                f"version schema {plan.new_schema} and its views"))
        for name, partitioned in self.dropped_indexes:
            plan.contract.append(Step("tx" if partitioned else "concurrent",
                                      f"DROP INDEX {'' if partitioned else 'CONCURRENTLY '}"
                                      f"IF EXISTS {name}", f"drop index {name}"))
            plan.operations.append(f"DROP INDEX {name}: at the contract"
                                   + ("" if partitioned else ", CONCURRENTLY"))
        # The old version's schema goes first at the contract (its views read the old
        # columns) and the new one last, once the tables have its shape: a search_path
        # naming a schema that no longer exists falls through to the tables themselves, so
        # applications keep their search_path. An abort drops the new one first.
        plan.contract.insert(0, Step("tx", f"DROP SCHEMA IF EXISTS {_q(plan.old_schema)} "
                                     "CASCADE", f"drop version {plan.old_schema}"))
        plan.contract.append(Step("tx", f"DROP SCHEMA IF EXISTS {_q(plan.new_schema)} CASCADE",
                                  f"the tables have the shape of {plan.new_schema}: drop its "
                                  "views"))
        plan.abort.insert(0, Step("tx", f"DROP SCHEMA IF EXISTS {_q(plan.new_schema)} CASCADE",
                                  f"drop version {plan.new_schema}"))
        plan.abort.append(Step("tx", f"DROP SCHEMA IF EXISTS {_q(plan.old_schema)} CASCADE",
                               f"the tables have the shape of {plan.old_schema}: drop its "
                               "views"))
        plan.owned = owned
        return plan

    def table_steps(self, work: TableWork, owned: dict[str, list[str]], old_views: list[str],
                    new_views: list[str], old_grants: list[str], new_grants: list[str],
                    validate: list[Step], concurrent: list[Step]) -> None:
        plan, t = self.plan, work.ident
        info = work.info
        expand: list[str] = []
        contract: list[str] = []
        abort: list[str] = []
        backfill_sets: list[tuple[str, str]] = []
        old_to_new: dict[str, str] = {}  # old name -> name in the new shape
        new_branch: list[str] = []
        old_branch: list[str] = []
        physical_by_new: dict[str, str] = {}
        for info_col in info["columns"]:
            col = work.columns.get(info_col["name"])
            name = info_col["name"]
            if col is not None and col.dropped:
                continue
            final = col.final_name if col else name
            old_to_new[name] = final
            physical_by_new[final] = col.physical if col else name
        for added in work.added:
            physical_by_new[added.name] = added.name
        for col in work.columns.values():
            if col.shadowed or col.dropped:  # a rename or a default follows dependants
                self.check_column(work, col)
            self.column_steps(work, col, expand, contract, abort, backfill_sets, new_branch,
                              old_branch, validate, concurrent, physical_by_new, owned)
        for added in work.added:
            self.added_steps(work, added, expand, contract, abort, backfill_sets, validate,
                             concurrent, owned)
        if work.rename_to:
            plan.operations.append(f"RENAME TABLE {work.name} TO {work.rename_to}: the new "
                                   "version's view has the new name; the table is renamed at "
                                   "the contract")
        if new_branch or old_branch:
            function = f"{_q(info['schema'])}.{_q(shadow_name('sync_' + work.name))}"
            trigger = _q(SYNC_TRIGGER)
            body = _trigger_body(plan.new_schema, new_branch, old_branch)
            expand.append(f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger "
                          f"LANGUAGE plpgsql AS {body}")
            expand.append(f"CREATE TRIGGER {trigger} BEFORE INSERT OR UPDATE ON {t} "
                          f"FOR EACH ROW EXECUTE FUNCTION {function}()")
            drop = [f"DROP TRIGGER IF EXISTS {trigger} ON {t}",
                    f"DROP FUNCTION IF EXISTS {function}()"]
            contract[:0] = drop
            abort[:0] = drop
            owned["functions"].append(shadow_name("sync_" + work.name))
            owned["triggers"].append(f"{work.name}.{SYNC_TRIGGER}")
        views = self.views_over(work, [c.name for c in work.columns.values() if c.shadowed])
        if views:  # they read a column the contract swaps: dropped and made again around it
            contract.insert(0, "DROP VIEW " + ", ".join(v["name"] for v in reversed(views)))
            for view in views:
                options = f" WITH ({view['options']})" if view["options"] else ""
                contract.append(f"CREATE VIEW {view['name']}{options} AS "
                                f"{view['definition'].rstrip().rstrip(';')}")
                contract.extend(f"GRANT {grant.split(' TO ')[0]} ON {view['name']} TO "
                                f"{grant.split(' TO ')[1]}" for grant in view["grants"])
            plan.operations.append(f"views reading the swapped columns of {work.name} ("
                                   + ", ".join(v["name"] for v in views)
                                   + ") are dropped and made again in the contract's "
                                   "transaction")
        if work.rename_to:
            contract.append(f"ALTER TABLE {t} RENAME TO {_q(work.rename_to)}")
        if expand:
            plan.expand.append(Step("tx", "; ".join(expand), f"expand {work.name}"))
        if contract:
            plan.contract.append(Step("tx", "; ".join(contract), f"contract {work.name}"))
        if abort:
            plan.abort.append(Step("tx", "; ".join(abort), f"abort {work.name}"))
        if backfill_sets:
            if not info["primary_key"]:
                raise self.refuse(f"ALTER TABLE {work.name}", f"{work.name} has no primary key "
                                  "to backfill it in batches by")
            types = {c["name"]: c["type"] for c in info["columns"]}
            plan.backfills.append({
                "table": work.ident, "leaves": info["leaves"] or [work.ident],
                "key": info["primary_key"], "key_types": [types[k] for k in info["primary_key"]],
                "sets": backfill_sets, "rows_estimate": info["rows_estimate"]})
        # the views: every version sees the table in its own shape
        old_cols = ", ".join(_q(c["name"]) for c in info["columns"])
        new_cols = []
        for c in info["columns"]:
            if c["name"] not in old_to_new:
                continue
            final, physical = old_to_new[c["name"]], physical_by_new[old_to_new[c["name"]]]
            new_cols.append(_q(physical) if physical == final
                            else f"{_q(physical)} AS {_q(final)}")
        new_cols += [_q(a.name) for a in work.added]
        old_view = f"{_q(plan.old_schema)}.{_q(work.name)}"
        new_view = f"{_q(plan.new_schema)}.{_q(work.rename_to or work.name)}"
        old_views.append(f"DROP VIEW IF EXISTS {old_view}; CREATE VIEW {old_view} WITH "
                         f"(security_invoker = true) AS SELECT {old_cols} FROM {t}")
        new_views.append(f"DROP VIEW IF EXISTS {new_view}; CREATE VIEW {new_view} WITH "
                         f"(security_invoker = true) AS SELECT {', '.join(new_cols)} FROM {t}")
        for col in work.columns.values():
            if col.default_changed and not col.shadowed and not col.dropped:
                # a view without a default of its own takes the table's: NULL overrides it
                # a view column without a default of its own takes the table's, and a NULL
                # constant is no default: an expression that is NULL overrides it
                default = col.default if col.default is not None else \
                    f"CASE WHEN false THEN NULL::{col.info['type']} END"
                new_views.append(f"ALTER VIEW {new_view} ALTER COLUMN {_q(col.final_name)} "
                                 f"SET DEFAULT {default}")
        for grant in info["grants"]:  # the views are used with the table's privileges
            for schema, on, out in ((plan.old_schema, old_view, old_grants),
                                    (plan.new_schema, new_view, new_grants)):
                out.append(f"GRANT USAGE ON SCHEMA {_q(schema)} TO {grant['grantee']}; "
                           f"GRANT {grant['privilege']} ON {on} TO {grant['grantee']}")

    def column_steps(self, work: TableWork, col: ColumnWork, expand: list[str],
                     contract: list[str], abort: list[str], backfill_sets: list[tuple[str, str]],
                     new_branch: list[str], old_branch: list[str], validate: list[Step],
                     concurrent: list[Step], physical_by_new: dict[str, str],
                     owned: dict[str, list[str]]) -> None:
        plan, t = self.plan, work.ident
        statement = col.statements[0] if col.statements else f"ALTER TABLE {work.name}"
        names = [c["name"] for c in work.info["columns"]]
        to_new_physical = {**physical_by_new}
        old_type = col.info["type"]
        if col.dropped:
            if col.info["not_null"] and col.info["default"] is None and col.down is None:
                raise self.refuse(statement, f"{col.name} is NOT NULL without a default: the "
                                  "new version's inserts need `-- online: down <expr>` to fill it")
            if col.down is not None:
                down = expr.rewrite(col.down, to_new_physical, prefix="new",
                                    what=f"{self.m.version}: -- online: down")
                new_branch.append(f"IF TG_OP = 'INSERT' AND NEW.{_q(col.name)} IS NULL THEN "
                                  f"NEW.{_q(col.name)} := {down}; END IF;")
            contract.append(f"ALTER TABLE {t} DROP COLUMN {_q(col.name)}")
            plan.operations.append(f"DROP COLUMN {work.name}.{col.name}: hidden from the new "
                                   "version at once, dropped at the contract")
            return
        if not col.shadowed:
            if col.new_name:
                contract.append(f"ALTER TABLE {t} RENAME COLUMN {_q(col.name)} TO "
                                f"{_q(col.new_name)}")
                plan.operations.append(f"RENAME COLUMN {work.name}.{col.name} TO {col.new_name}"
                                       ": the new version's view shows the new name; renamed "
                                       "at the contract")
            if col.default_changed:
                contract.append(f"ALTER TABLE {t} ALTER COLUMN {_q(col.final_name)} "
                                + (f"SET DEFAULT {col.default}" if col.default is not None
                                   else "DROP DEFAULT"))
                plan.operations.append(f"SET DEFAULT on {work.name}.{col.name}: the new "
                                       "version's view has it at once; the table at the "
                                       "contract")
            return
        shadow = shadow_name(col.name)
        new_type = col.new_type or old_type
        what_up = f"{self.m.version}: the way up for {work.name}.{col.name}"
        what_down = f"{self.m.version}: -- online: down for {work.name}.{col.name}"
        up = col.up or col.using or (f"{_q(col.name)}::{new_type}" if col.new_type
                                     else _q(col.name))
        if col.set_not_null and col.up is None and col.info["default"] is not None:
            up = f"COALESCE({up}, ({col.info['default']})::{new_type})"
        elif col.set_not_null and col.up is None and self.has_nulls(work, col.name):
            raise self.refuse(statement, f"{col.name} has NULLs and no default: give "
                              "`-- online: up <expr>` for the value the new shape has instead")
        expr.parse(up, what_up)
        final = col.final_name
        if col.down is not None:
            down = col.down
        elif col.new_type:
            down = f"{_q(final)}::{old_type}"
        else:
            down = _q(final)
        if col.drop_not_null and col.down is None:
            if col.info["default"] is None:
                raise self.refuse(statement, f"{col.name} loses NOT NULL but the old version "
                                  "still needs a value: give `-- online: down <expr>` (the "
                                  "column has no default to use)")
            down = f"COALESCE({down}, {col.info['default']})"
        expr.parse(down, what_down)
        if col.new_type:  # a way down of a type change must give the old values back
            self.check_inverse(work, col, up, down, new_type)
        default = (col.default if col.default_changed
                   else None if col.info["default"] is None
                   else f"({col.info['default']})::{new_type}" if col.new_type
                   else col.info["default"])
        expand.append(f"ALTER TABLE {t} ADD COLUMN {_q(shadow)} {new_type}")
        if default is not None:
            expand.append(f"ALTER TABLE {t} ALTER COLUMN {_q(shadow)} SET DEFAULT {default}")
        to_shadow = {col.name: shadow}
        not_null = (col.info["not_null"] or col.set_not_null) and not col.drop_not_null
        nn_check = shadow_name(f"nn_{col.name}")
        if not_null:
            expand.append(f"ALTER TABLE {t} ADD CONSTRAINT {_q(nn_check)} CHECK ({_q(shadow)} "
                          "IS NOT NULL) NOT VALID")
            validate.append(_validate(t, nn_check, f"validate NOT NULL of {shadow}"))
        renames: list[str] = []
        for con in work.info["constraints"]:
            if con["type"] == "c" and con["columns"] == [col.name]:
                copy = shadow_name(con["name"])
                check = expr.rewrite(con["definition"].removeprefix("CHECK ")
                                     .removesuffix(" NOT VALID"), to_shadow)
                expand.append(f"ALTER TABLE {t} ADD CONSTRAINT {_q(copy)} CHECK {check} "
                              "NOT VALID")
                validate.append(_validate(t, copy, f"validate {copy}"))
                renames.append(f"ALTER TABLE {t} RENAME CONSTRAINT {_q(copy)} TO "
                               f"{_q(con['name'])}")
            elif con["type"] == "f" and con["columns"] == [col.name]:
                copy = shadow_name(con["name"])
                clause = con["definition"].split(" REFERENCES ", 1)[1]
                expand.append(f"ALTER TABLE {t} ADD CONSTRAINT {_q(copy)} FOREIGN KEY "
                              f"({_q(shadow)}) REFERENCES {clause} NOT VALID")
                validate.append(_validate(t, copy, f"validate {copy}"))
                renames.append(f"ALTER TABLE {t} RENAME CONSTRAINT {_q(copy)} TO "
                               f"{_q(con['name'])}")
        for name, check in col.checks:
            rewritten = expr.rewrite(check, {final: shadow, col.name: shadow})
            expand.append(f"ALTER TABLE {t} ADD CONSTRAINT {_q(name)} CHECK {rewritten} "
                          "NOT VALID")
            validate.append(_validate(t, name, f"validate {name}"))
            owned["constraints"].append(f"{work.name}.{name}")
        for name, clause in col.fks:
            if work.info["partitioned"]:
                raise self.refuse(statement, "a FOREIGN KEY added to a partitioned table cannot "
                                  "be NOT VALID in PostgreSQL 15; add it in a plain migration")
            expand.append(f"ALTER TABLE {t} ADD CONSTRAINT {_q(name)} FOREIGN KEY "
                          f"({_q(shadow)}) {clause} NOT VALID")
            validate.append(_validate(t, name, f"validate {name}"))
            owned["constraints"].append(f"{work.name}.{name}")
        for index in work.info["indexes"]:
            if col.name not in index["columns"] or index["constraint"]:
                continue
            copy = shadow_name(index["name"])
            definition, keyed = _index_copy(index["definition"], col.name, shadow, copy)
            concurrent.append(Step("concurrent", definition, f"build index {copy}"))
            renames.append(f"ALTER INDEX {_q(work.info['schema'])}.{_q(copy)} RENAME TO "
                           f"{_q(index['name'])}")
            if keyed:  # the index's own column is named after the shadow: as the plain ALTER
                renames.append(f"ALTER TABLE {_q(work.info['schema'])}.{_q(index['name'])} "
                               f"RENAME COLUMN {_q(shadow)} TO {_q(final)}")
            for leaf, child in index["children"].items():
                leaf_name = leaf.rsplit(".", 1)[-1].strip('"')
                child_copy = f"{leaf_name}_{copy}"[:MAX_IDENT]
                renames.append(f"ALTER INDEX {_q(work.info['schema'])}.{_q(child_copy)} "
                               f"RENAME TO {_q(child)}")
            owned["indexes"].append(copy)
        if col.unique:
            if work.info["partitioned"]:
                raise self.refuse(statement, "UNIQUE on a partitioned table must include the "
                                  "partition key: keep it in a key table (decision 0001)")
            build, finish = _unique(t, shadow, col.unique)
            concurrent.append(build)
            renames.append(finish)
            owned["indexes"].append(shadow_name(col.unique))
        trigger_up = expr.rewrite(up, {n: n for n in names}, prefix="new", what=what_up)
        trigger_down = expr.rewrite(down, to_new_physical | {final: shadow}, prefix="new",
                                    what=what_down)
        old_branch.append(f"NEW.{_q(shadow)} := {trigger_up};")
        # a write of the new shape goes down; a value another trigger set in the old column
        # (the table's own BEFORE triggers fire first) goes up
        new_branch.append(f"IF TG_OP = 'INSERT' OR NEW.{_q(shadow)} IS DISTINCT FROM "
                          f"OLD.{_q(shadow)} THEN NEW.{_q(col.name)} := {trigger_down}; "
                          f"ELSIF NEW.{_q(col.name)} IS DISTINCT FROM OLD.{_q(col.name)} THEN "
                          f"NEW.{_q(shadow)} := {trigger_up}; END IF;")
        backfill_sets.append((shadow, expr.rewrite(up, {n: n for n in names})))
        contract.append(f"ALTER TABLE {t} DROP COLUMN {_q(col.name)}")
        contract.append(f"ALTER TABLE {t} RENAME COLUMN {_q(shadow)} TO {_q(final)}")
        if not_null:
            contract.append(f"ALTER TABLE {t} ALTER COLUMN {_q(final)} SET NOT NULL")
            contract.append(f"ALTER TABLE {t} DROP CONSTRAINT {_q(nn_check)}")
        contract.extend(renames)
        abort.append(f"ALTER TABLE {t} DROP COLUMN IF EXISTS {_q(shadow)}")
        owned["columns"].append(f"{work.name}.{shadow}")
        owned["constraints"].append(f"{work.name}.{nn_check}")
        how = []
        if col.new_type:
            how.append(f"type {old_type} -> {new_type}")
        if col.set_not_null:
            how.append("SET NOT NULL")
        if col.drop_not_null:
            how.append("DROP NOT NULL")
        how += [f"CHECK {n}" for n, _ in col.checks] + [f"FOREIGN KEY {n}" for n, _ in col.fks]
        if col.unique:
            how.append(f"UNIQUE {col.unique}")
        if col.new_name:
            how.append(f"renamed {col.new_name}")
        plan.operations.append(
            f"{work.name}.{col.name} ({', '.join(how)}): shadow column {shadow} kept in step by "
            f"a trigger (up {up}; down {down}), backfilled in batches, constraints NOT VALID "
            "then validated, indexes rebuilt CONCURRENTLY; swapped in at the contract")

    def views_over(self, work: TableWork, columns: list[str]) -> list[dict[str, Any]]:
        """The views reading ``columns`` (directly or not), in creation order."""
        if not columns:
            return []
        from psycopg.rows import dict_row

        with self.conn.cursor(row_factory=dict_row) as cur:
            views = cur.execute(sql_text("online/dependent_views.sql"),
                                {"table": work.ident, "columns": columns}).fetchall()
        for view in views:
            if view["relkind"] != "v":
                raise self.refuse(f"ALTER TABLE {work.name}", f"materialized view "
                                  f"{view['name']} reads a column the contract swaps")
        return views

    def has_nulls(self, work: TableWork, column: str) -> bool:
        row = self.conn.execute(f"SELECT EXISTS (SELECT 1 FROM {work.ident} WHERE "
                                f"{_q(column)} IS NULL)").fetchone()
        return bool(row and row[0])

    def check_inverse(self, work: TableWork, col: ColumnWork, up: str, down: str,
                      new_type: str) -> None:
        """Refuse a ``down`` that does not give back the old value on sample rows."""
        import psycopg

        names = [c["name"] for c in work.info["columns"]]
        sample_up = expr.rewrite(up, {n: n for n in names})
        back = expr.rewrite(down, {col.final_name: "_w_up"} | {
            (work.columns[n].final_name if n in work.columns else n): n for n in names
            if n != col.name})
        query = (f"SELECT {_q(col.name)}::text, s.\"_w_up\"::text FROM (SELECT *, "
                 f"({sample_up})::{new_type} AS \"_w_up\" FROM {work.ident} "
                 f"WHERE {_q(col.name)} IS NOT NULL LIMIT 1000) s "
                 f"WHERE {back} IS DISTINCT FROM s.{_q(col.name)} LIMIT 1")
        try:
            with self.conn.transaction():
                self.conn.execute(f"SELECT count(({sample_up})::{new_type}) FROM (SELECT * "
                                  f"FROM {work.ident} LIMIT 1000) s")
        except psycopg.Error:
            return  # the way up fails on a sample row: the backfill stops there, naming it
        try:
            with self.conn.transaction():
                row = self.conn.execute(query).fetchone()
        except psycopg.Error as exc:
            from ...target import one_line

            raise BadMigration(f"{self.m.version}: the ways up and down of {work.name}."
                               f"{col.name} fail on sample rows: {one_line(exc)}") from None
        if row is not None:
            raise Refused(f"{self.m.version}: the way down ({down}) does not give back "
                          f"{work.name}.{col.name}: {row[0]!r} goes up to {row[1]!r} and "
                          "comes back different; nothing was run (give `-- online: down "
                          "<expr>` that inverts the way up)")

    def added_steps(self, work: TableWork, added: AddedColumn, expand: list[str],
                    contract: list[str], abort: list[str],
                    backfill_sets: list[tuple[str, str]], validate: list[Step],
                    concurrent: list[Step], owned: dict[str, list[str]]) -> None:
        t, c = work.ident, _q(added.name)
        definition = f"ALTER TABLE {t} ADD COLUMN {c} {added.type}"
        if added.default is not None and not added.volatile_default:
            definition += f" DEFAULT {added.default}"
            if added.not_null:
                definition += " NOT NULL"  # a constant default: no rewrite, no scan
        expand.append(definition)
        if added.volatile_default:
            expand.append(f"ALTER TABLE {t} ALTER COLUMN {c} SET DEFAULT {added.default}")
            backfill_sets.append((added.name, f"COALESCE({c}, {added.default})"))
            if added.not_null:
                check = shadow_name(f"nn_{added.name}")
                expand.append(f"ALTER TABLE {t} ADD CONSTRAINT {_q(check)} CHECK ({c} IS NOT "
                              "NULL) NOT VALID")
                validate.append(_validate(t, check, f"validate NOT NULL of {added.name}"))
                contract.append(f"ALTER TABLE {t} ALTER COLUMN {c} SET NOT NULL")
                contract.append(f"ALTER TABLE {t} DROP CONSTRAINT {_q(check)}")
                owned["constraints"].append(f"{work.name}.{check}")
        for name, check in added.checks:
            expand.append(f"ALTER TABLE {t} ADD CONSTRAINT {_q(name)} CHECK ({check}) NOT VALID")
            validate.append(_validate(t, name, f"validate {name}"))
            owned["constraints"].append(f"{work.name}.{name}")
        for name, clause in added.fks:
            expand.append(f"ALTER TABLE {t} ADD CONSTRAINT {_q(name)} FOREIGN KEY ({c}) "
                          f"{clause} NOT VALID")
            validate.append(_validate(t, name, f"validate {name}"))
            owned["constraints"].append(f"{work.name}.{name}")
        if added.unique:
            build, finish = _unique(t, added.name, added.unique)
            concurrent.append(build)
            contract.append(finish)
            owned["indexes"].append(shadow_name(added.unique))
        abort.append(f"ALTER TABLE {t} DROP COLUMN IF EXISTS {c}")
        owned["columns"].append(f"{work.name}.{added.name}")
        self.plan.operations.append(
            f"ADD COLUMN {work.name}.{added.name}: added at expand ("
            + ("a constant default: no rewrite" if not added.volatile_default
               else "a volatile default: filled by the backfill")
            + "), hidden from the old version's view; constraints NOT VALID then validated")


def _unique(table: str, column: str, constraint: str) -> tuple[Step, str]:
    """A UNIQUE constraint online: its index built CONCURRENTLY at the expand, and the
    contract's ``ADD CONSTRAINT ... USING INDEX`` (no scan; renames the index)."""
    index = shadow_name(constraint)
    return (Step("concurrent", f"CREATE UNIQUE INDEX CONCURRENTLY {_q(index)} ON {table} "
                 f"({_q(column)})", f"build unique index {index}"),
            f"ALTER TABLE {table} ADD CONSTRAINT {_q(constraint)} UNIQUE USING INDEX "
            f"{_q(index)}")


def _validate(table: str, constraint: str, what: str) -> Step:
    """VALIDATE CONSTRAINT: SHARE UPDATE EXCLUSIVE, a scan that blocks no read or write."""
    return Step("validate", f"ALTER TABLE {table} VALIDATE CONSTRAINT {_q(constraint)}", what)


def _trigger_body(new_schema: str, new_branch: list[str], old_branch: list[str]) -> str:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    from ...resources import data_dir

    env = Environment(loader=FileSystemLoader(data_dir("sql") / "online"),
                      undefined=StrictUndefined, keep_trailing_newline=False)
    body = env.get_template("sync_trigger.sql.j2").render(
        new_schema=_lit(new_schema), new_branch=new_branch, old_branch=old_branch)
    tag = "$_w_sync$"
    if tag in body:
        raise BadMigration(f"an expression of the migration contains {tag}")
    return f"{tag}{body}{tag}"


def _index_copy(definition: str, column: str, shadow: str, name: str) -> tuple[str, bool]:
    """``pg_get_indexdef()`` of an index on ``column``, as the same index on ``shadow``, and
    whether ``column`` is one of its keys (then the index's column is named ``shadow``)."""
    from pglast import parse_sql
    from pglast.visitors import Visitor

    node = parse_sql(definition)[0].stmt
    node.idxname = name
    node.concurrent = True
    node.relation.inh = True  # pg_get_indexdef says ON ONLY for a partitioned parent

    class Rename(Visitor):  # type: ignore[misc]
        def visit_ColumnRef(self, ancestors: Any, ref: Any) -> None:
            fields = ref.fields or ()
            if fields and type(fields[-1]).__name__ == "String" and \
                    str(fields[-1].sval) == column:
                from pglast import ast

                ref.fields = (ast.String(sval=shadow),)

        def visit_IndexElem(self, ancestors: Any, elem: Any) -> None:
            if elem.name == column:
                elem.name = shadow
                keyed.append(True)

    keyed: list[bool] = []
    Rename()(node)
    return expr.deparse(node), bool(keyed)


def _references(con: Any) -> str:
    """The ``REFERENCES ...`` clause of a foreign key constraint node."""
    from pglast import ast

    clause = ast.Constraint(contype=con.contype, pktable=con.pktable, pk_attrs=con.pk_attrs,
                            fk_matchtype=con.fk_matchtype, fk_upd_action=con.fk_upd_action,
                            fk_del_action=con.fk_del_action, initially_valid=True)
    text = expr.deparse(clause)
    return text[text.index("REFERENCES"):]


def _volatile(conn: psycopg.Connection[Any], default: str) -> bool:
    """Whether a default expression calls a volatile function (ADD COLUMN would rewrite)."""
    from pglast.visitors import Visitor

    names: set[str] = set()

    class Calls(Visitor):  # type: ignore[misc]
        def visit_FuncCall(self, ancestors: Any, call: Any) -> None:
            names.add(str(call.funcname[-1].sval))

    from pglast import ast

    Calls()(ast.ResTarget(val=expr.parse(default, "DEFAULT")))
    if not names:
        return False
    row = conn.execute("SELECT bool_or(provolatile = 'v') FROM pg_proc WHERE proname = ANY(%s)",
                       (list(names),)).fetchone()
    return bool(row and row[0])


def _objtype(node: Any) -> str:
    return str(node.objtype.name) if node.objtype is not None else ""


def _statement_kind(node: Any) -> str:
    kind = type(node).__name__
    words = re.sub(r"(?<!^)([A-Z])", r" \1", kind.removesuffix("Stmt")).upper()
    return words or kind


def _regclass_text(relation: Any) -> str:
    return (f"{_q(relation.schemaname)}.{_q(relation.relname)}" if relation.schemaname
            else _q(relation.relname))


def plan(conn: psycopg.Connection[Any], m: MigrationFile, old_version: str) -> Plan:
    """Plan ``m`` online against this database; raises ``NotOnline`` for what cannot be."""
    return Planner(conn, m, old_version).build()


_HOW = {
    "AT_AlterColumnType": "a shadow column kept in step by a trigger and backfilled in batches, "
                          "swapped in at `migrate --complete`",
    "AT_SetNotNull": "a shadow column with a NOT VALID check validated online; SET NOT NULL "
                     "behind it at `migrate --complete`",
    "AT_DropNotNull": "a shadow column; the old version keeps its NOT NULL until "
                      "`migrate --complete`",
    "AT_ColumnDefault": "the new version's view has the default; the table gets it at "
                        "`migrate --complete`",
    "AT_AddColumn": "added without a rewrite, constraints NOT VALID then validated, hidden from "
                    "the old version's view",
    "AT_DropColumn": "hidden from the new version's view; dropped at `migrate --complete`",
    "AT_AddConstraint": "a shadow column carrying the constraint NOT VALID, validated online",
}


def how_online(node: Any) -> str | None:
    """How an online migration makes ``node`` safe (None: it cannot run it online)."""
    kind = type(node).__name__
    if kind == "AlterTableStmt":
        subs = [cmd.subtype.name for cmd in node.cmds]
        if any(s not in _HOW for s in subs):
            return None
        return "run online: " + "; ".join(dict.fromkeys(_HOW[s] for s in subs))
    if kind == "RenameStmt" and node.renameType.name in ("OBJECT_COLUMN", "OBJECT_TABLE"):
        return ("run online: the new version's view shows the new name; renamed at "
                "`migrate --complete`")
    if kind == "IndexStmt" and node.idxname:
        return "run online: built CONCURRENTLY (per partition on a partitioned table)"
    if kind == "DropStmt" and node.removeType.name == "OBJECT_INDEX":
        return "run online: dropped CONCURRENTLY at `migrate --complete`"
    if kind == "CreateStmt" and node.partbound is None:
        return "run online: a new table blocks nobody"
    return None


def check_supported(m: MigrationFile) -> list[tuple[str, str | None]]:
    """Each statement of ``m`` with the reason it cannot run online (None: it can), judged
    from the SQL alone (the catalog has the last word when ``migrate`` plans it)."""
    out: list[tuple[str, str | None]] = []
    for node, statement, _ in statements(m):
        why = None
        if how_online(node) is None:
            if type(node).__name__ == "IndexStmt":
                why = "an online CREATE INDEX must name its index"
            elif type(node).__name__ == "CreateStmt":
                why = "CREATE TABLE ... PARTITION OF takes an ACCESS EXCLUSIVE lock on the parent"
            elif type(node).__name__ == "AlterTableStmt":
                bad = [c.subtype.name for c in node.cmds if c.subtype.name not in _HOW]
                why = f"ALTER TABLE {bad[0][3:]} has no online form"
            else:
                why = f"{_statement_kind(node)} has no online form"
        out.append((_short(statement), why))
    return out

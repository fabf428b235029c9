"""The rules, and the walk that applies them statement by statement.

Each statement is first judged against the schema the migrations built before it (so a
table created earlier in the same file is new, and one created by an earlier migration is
existing), then its effects are applied to that schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .model import (
    BLOCKS,
    BLOCKS_WRITES,
    INTEGER_TYPES,
    LOCK_MODES,
    SERIAL_TYPES,
    VOLATILE_FUNCTIONS,
    Check,
    Column,
    Schema,
    Table,
    Type,
    dotted,
    is_rewrite_free_change,
    name_of,
    narrows,
    type_of,
)
from .parse import ParsedFile, Statement
from .report import ERROR, WARNING, Finding, display


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str
    summary: str
    rewrite: str


_RULES = [
    Rule("rewrite-column-type", ERROR,
         "ALTER COLUMN ... TYPE that rewrites (or rescans) an existing table and its indexes",
         "add a column of the new type, backfill it in batches, switch the application "
         "over, then drop the old column; varchar(n) -> varchar(m>n)/text and "
         "numeric(p,s) -> numeric(q>p,s) need no rewrite"),
    Rule("narrow-column-type", ERROR,
         "a type that holds fewer values than before: existing rows or the application's "
         "writes may no longer fit",
         "keep the wider type and validate with a CHECK ... NOT VALID, then VALIDATE "
         "CONSTRAINT"),
    Rule("volatile-default", ERROR,
         "ADD COLUMN with a volatile default, a serial/identity or a stored generated "
         "column: the whole table is rewritten",
         "add the column without the default (or with a constant one), SET DEFAULT for new "
         "rows, then backfill existing rows in batches"),
    Rule("add-required-column", ERROR,
         "ADD COLUMN ... NOT NULL without a default: fails on a table with rows, and the "
         "running application's INSERTs fail",
         "add the column nullable (or with a constant DEFAULT), backfill, then add a "
         "CHECK (col IS NOT NULL) NOT VALID, VALIDATE it, and SET NOT NULL"),
    Rule("set-not-null", ERROR,
         "SET NOT NULL scans the whole table under ACCESS EXCLUSIVE unless a validated "
         "CHECK (col IS NOT NULL) proves it",
         "ADD CONSTRAINT c CHECK (col IS NOT NULL) NOT VALID; VALIDATE CONSTRAINT c (in a "
         "later migration); then SET NOT NULL skips the scan"),
    Rule("constraint-not-valid", ERROR,
         "ADD CONSTRAINT FOREIGN KEY or CHECK without NOT VALID checks every row while "
         "holding its lock; VALIDATE in the same transaction keeps that lock",
         "ADD CONSTRAINT ... NOT VALID in one migration, VALIDATE CONSTRAINT in a later one "
         "(it takes SHARE UPDATE EXCLUSIVE: reads and writes go on)"),
    Rule("unique-without-index", ERROR,
         "ADD PRIMARY KEY / UNIQUE without USING INDEX builds the index under ACCESS "
         "EXCLUSIVE",
         "CREATE UNIQUE INDEX CONCURRENTLY in a `-- transactional: false` migration, then "
         "ADD CONSTRAINT ... PRIMARY KEY / UNIQUE USING INDEX"),
    Rule("attach-partition-scan", ERROR,
         "ATTACH PARTITION scans the partition under ACCESS EXCLUSIVE unless a validated "
         "CHECK constraint implies its bounds",
         "ADD CONSTRAINT ... CHECK (the bounds) NOT VALID and VALIDATE it on the table "
         "first; ATTACH PARTITION then skips the scan; drop the CHECK afterwards"),
    Rule("rewrite-table", ERROR,
         "SET LOGGED / SET UNLOGGED / SET TABLESPACE / SET ACCESS METHOD rewrites an existing "
         "table under ACCESS EXCLUSIVE",
         "pg_repack (--tablespace), or a maintenance window with an explicit allow"),
    Rule("detach-partition", ERROR,
         "DETACH PARTITION without CONCURRENTLY takes ACCESS EXCLUSIVE on the partitioned "
         "table: every query on it waits",
         "DETACH PARTITION ... CONCURRENTLY in a `-- transactional: false` migration (not "
         "possible while the table has a DEFAULT partition), or `watoto-schema partitions "
         "retire`"),
    Rule("vacuum-full", ERROR,
         "VACUUM FULL rewrites the table under ACCESS EXCLUSIVE",
         "pg_repack, or plain VACUUM (`watoto-schema maintain`)"),
    Rule("cluster", ERROR,
         "CLUSTER rewrites the table under ACCESS EXCLUSIVE",
         "pg_repack --order-by, or leave the physical order alone"),
    Rule("lock-table", ERROR,
         "LOCK TABLE in a mode that blocks the application's writes (or reads)",
         "rely on the locks the statements take themselves, under lock_timeout"),
    Rule("index-not-concurrently", ERROR,
         "CREATE INDEX / DROP INDEX without CONCURRENTLY on a table that existed before "
         "this migration",
         "CREATE INDEX CONCURRENTLY / DROP INDEX CONCURRENTLY, in a migration headed "
         "`-- transactional: false`"),
    Rule("reindex-not-concurrently", ERROR,
         "REINDEX without CONCURRENTLY blocks writes to the table (and reads through the "
         "index)",
         "REINDEX ... CONCURRENTLY in a `-- transactional: false` migration, or "
         "`watoto-schema maintain reindex`"),
    Rule("cannot-run-in-transaction", ERROR,
         "CONCURRENTLY (or VACUUM, CREATE DATABASE, ...) in a transactional migration: "
         "PostgreSQL refuses it inside a transaction block",
         "move the statement to its own migration headed `-- transactional: false`"),
    Rule("rename-table", ERROR,
         "renaming a table or view the running application uses breaks its queries",
         "create the new name alongside (a view or a copy kept in sync), switch the "
         "application over, then drop the old name in a later release"),
    Rule("rename-column", ERROR,
         "renaming a column the running application uses breaks its queries",
         "add the new column, write both, backfill, switch reads, then drop the old column "
         "in a later release"),
    Rule("drop-table", ERROR,
         "dropping an existing table loses its data and breaks the running application",
         "stop using it in a release first; drop it later, with an explicit "
         "`-- lint: allow drop-table (why)`"),
    Rule("drop-column", ERROR,
         "dropping an existing column loses its data and breaks the running application",
         "stop reading and writing it in a release first; drop it later, with an explicit "
         "`-- lint: allow drop-column (why)`"),
    Rule("drop-default", ERROR,
         "dropping a column default breaks the application's INSERTs that leave it out",
         "keep the default until no INSERT relies on it, then drop it with an explicit "
         "allow"),
    Rule("drop-object", ERROR,
         "dropping an existing view, sequence, function, type, schema, trigger, ... is "
         "destructive",
         "make sure nothing uses it, then drop it with an explicit "
         "`-- lint: allow drop-object (why)`"),
    Rule("truncate", ERROR,
         "TRUNCATE of an existing table takes ACCESS EXCLUSIVE and loses every row",
         "delete in batches, or drop the data with an explicit `-- lint: allow truncate "
         "(why)`"),
    Rule("unbatched-backfill", ERROR,
         "UPDATE or DELETE of a whole existing table in one transaction locks every row "
         "until commit (and bloats the table)",
         "backfill in batches of a few thousand rows, each committed, outside the "
         "migration or in a `-- transactional: false` one"),
    Rule("integer-id", WARNING,
         "an integer (serial, int, smallint) id overflows",
         "bigint GENERATED ALWAYS AS IDENTITY"),
    Rule("timestamp-without-time-zone", WARNING,
         "timestamp without time zone stores wall-clock times that are ambiguous",
         "timestamptz"),
    Rule("no-primary-key", WARNING,
         "a table without a primary key (logical replication, pg_repack and ORMs need one)",
         "add a PRIMARY KEY (bigint GENERATED ALWAYS AS IDENTITY)"),
    Rule("unindexed-foreign-key", WARNING,
         "a foreign key whose columns lead no index: deletes and updates of the referenced "
         "rows scan the referencing table",
         "CREATE INDEX on the referencing columns (CONCURRENTLY on an existing table)"),
    Rule("bad-allow", WARNING,
         "a `-- lint: allow` comment that names an unknown rule or none, gives no reason, or "
         "allows what nothing there raises",
         "`-- lint: allow RULE[, RULE] (the reason)`"),
]
RULES: dict[str, Rule] = {r.id: r for r in _RULES}


def _walk(node: Any) -> Iterator[Any]:
    """``node`` and every pglast node below it (pglast's nodes list their fields in
    ``__slots__``; this module never imports pglast itself, so `migrate` with nothing pending
    does not pay for it)."""
    if isinstance(node, tuple | list):
        for item in node:
            yield from _walk(item)
    elif type(node).__module__ == "pglast.ast":
        yield node
        for attr in type(node).__slots__:
            yield from _walk(getattr(node, attr, None))


def _kind(node: Any) -> str:
    return type(node).__name__


def _enum(value: Any) -> str:
    return str(getattr(value, "name", value))


@dataclass
class _ForeignKey:
    table: str
    columns: tuple[str, ...]
    statement: Statement
    file: ParsedFile


@dataclass
class Walker:
    """Walks migration files in order, judging those marked for linting."""

    schema: Schema = field(default_factory=Schema)
    findings: list[tuple[ParsedFile, Statement, Finding]] = field(default_factory=list)
    not_judged: list[str] = field(default_factory=list)  # statements a rule failed on
    _foreign_keys: list[_ForeignKey] = field(default_factory=list)
    # per file
    _file: ParsedFile | None = None
    _statement: Statement | None = None
    _judge: bool = False
    _not_valid: set[tuple[str, str]] = field(default_factory=set)

    # -- driving ---------------------------------------------------------------------------

    def walk(self, parsed: ParsedFile, judge: bool) -> None:
        """Apply ``parsed`` to the schema; record findings when ``judge``."""
        self._file, self._judge, self._not_valid = parsed, judge, set()
        created: list[tuple[str, Statement]] = []
        for statement in parsed.statements:
            self._statement = statement
            handler = getattr(self, f"_on_{_kind(statement.node)}", None)
            if handler is None:
                continue
            try:
                result = handler(statement.node)
            except Exception as exc:  # a shape the rules do not expect: say so, never block
                if judge:
                    self.not_judged.append(f"{display(parsed.path)}:{statement.line}:"
                                           f"{statement.column} ({type(exc).__name__}: {exc})")
                continue
            if result:
                created.append((result, statement))
        if judge:
            self._bad_allows(parsed)
            for table_name, statement in created:
                table = self.schema.tables.get(table_name)
                if table is not None and table.origin == self._origin and \
                        table.primary_key is None and table.partition_of is None:
                    self._statement = statement
                    self._report("no-primary-key", f"table {table_name} has no primary key")
        self._file = None

    @property
    def judged_at_the_end(self) -> set[str]:
        """The files (their ``str(path)``) with findings judged at the end of the set by
        ``finish``: their verdict depends on the migrations after them too."""
        return {str(fk.file.path) for fk in self._foreign_keys}

    def finish(self) -> None:
        """Judge what needs the whole set: foreign keys without an index by the end."""
        for fk in self._foreign_keys:
            table = self.schema.tables.get(fk.table)
            if table is None or table.has_index_on(fk.columns):
                continue
            self._file, self._statement, self._judge = fk.file, fk.statement, True
            self._report("unindexed-foreign-key",
                         f"foreign key {fk.table} ({', '.join(fk.columns)}) has no index "
                         "leading with its columns")
        self._file = None

    # -- helpers ---------------------------------------------------------------------------

    @property
    def _origin(self) -> str:
        assert self._file is not None
        return str(self._file.path)

    @property
    def _transactional(self) -> bool:
        assert self._file is not None
        return self._file.transactional

    def _existing(self, table: str) -> bool:
        """A table (or view, or unknown relation) not created earlier in this file."""
        known = self.schema.tables.get(table)
        if known is not None:
            return known.origin != self._origin
        return self.schema.others.get(f"relation:{table}") != self._origin

    def _table(self, name: str) -> Table:
        table = self.schema.tables.get(name)
        if table is None:
            table = self.schema.tables[name] = Table(name, origin="")
        return table

    def _report(self, rule: str, message: str, lock: str | None = None,
                on: str | None = None, rewrite: str | None = None) -> None:
        if not self._judge:
            return
        assert self._file is not None and self._statement is not None
        spec = RULES[rule]
        self.findings.append((self._file, self._statement, Finding(
            rule=rule, severity=spec.severity, path=self._file.path,
            line=self._statement.line, column=self._statement.column,
            statement=self._statement.text, message=message, rewrite=rewrite or spec.rewrite,
            lock=f"{lock} on {on}" if lock and on else lock,
            blocks=BLOCKS.get(lock) if lock else None)))

    def _bad_allows(self, parsed: ParsedFile) -> None:
        for allow in parsed.allows:
            unknown = [r for r in allow.rules if r not in RULES]
            problem = (f"names unknown rule(s) {', '.join(unknown)}" if unknown
                       else "names no rule" if not allow.rules
                       else "gives no reason in parentheses" if not allow.reason else None)
            if problem:
                self._statement = Statement(None, f"-- lint: allow {' '.join(allow.rules)}",
                                            allow.line, allow.column, allow.line, allow.line)
                self._report("bad-allow", f"this allow comment {problem}")

    def _integer_id(self, table: Table, column: Any) -> None:
        """integer-id for a new column: a serial, an int/smallint identity, or an int/smallint
        primary key named ``id`` (a natural key such as a grade number does not grow)."""
        if column.typeName is None:
            return
        kind = type_of(column.typeName)
        identity = any(_enum(c.contype) == "CONSTR_IDENTITY" for c in column.constraints or ())
        key = table.primary_key == (column.colname,) and column.colname == "id"
        if kind.name in INTEGER_TYPES and (kind.name in SERIAL_TYPES or identity or key):
            self._report("integer-id", f"id {table.name}.{column.colname} is {kind.name}: it "
                         f"overflows after {INTEGER_TYPES[kind.name]:,}")

    def _volatile(self, expr: Any) -> str | None:
        for node in _walk(expr):
            if _kind(node) == "FuncCall":
                name = dotted(node.funcname)
                short = name.split(".")[-1]
                if short in VOLATILE_FUNCTIONS or self.schema.functions.get(name) == "v":
                    return f"{name}()"
        return None

    # -- CREATE ----------------------------------------------------------------------------

    def _on_CreateStmt(self, node: Any) -> str | None:
        name = name_of(node.relation)
        if node.if_not_exists and name in self.schema.tables:
            return None  # a no-op: the table stays what (and as old as) it was
        table = Table(name, origin=self._origin)
        if node.partbound is not None and node.inhRelations:
            table.partition_of = name_of(node.inhRelations[0])
            parent = self.schema.tables.get(table.partition_of)
            if parent is not None and node.partbound.is_default:
                parent.has_default_partition = True
            if parent is not None:
                table.columns = dict(parent.columns)
                table.primary_key = parent.primary_key
        table.partitioned = node.partspec is not None
        temporary = node.relation.relpersistence == "t"
        self.schema.tables[name] = table
        has_like = False
        for element in node.tableElts or ():
            kind = _kind(element)
            if kind == "ColumnDef":
                self._column_def(table, element, judge_types=not temporary)
            elif kind == "Constraint":
                self._constraint(table, element, new_table=True)
            elif kind == "TableLikeClause":
                has_like = True
        if temporary:
            return None
        for element in node.tableElts or ():
            if _kind(element) == "ColumnDef":
                self._integer_id(table, element)
        return None if has_like else name

    def _column_def(self, table: Table, column: Any, judge_types: bool) -> None:
        kind = type_of(column.typeName) if column.typeName is not None else None
        entry = Column(column.colname, kind, not_null=bool(column.is_not_null))
        if kind is not None and kind.name in SERIAL_TYPES:
            entry.has_default = entry.not_null = True
        table.columns[column.colname] = entry
        if judge_types and kind is not None and kind.name == "timestamp":
            self._report("timestamp-without-time-zone",
                         f"{table.name}.{column.colname} is timestamp without time zone")
        for constraint in column.constraints or ():
            contype = _enum(constraint.contype)
            if contype == "CONSTR_NOTNULL":
                entry.not_null = True
            elif contype in ("CONSTR_DEFAULT", "CONSTR_IDENTITY", "CONSTR_GENERATED"):
                entry.has_default = True
                entry.not_null = entry.not_null or contype == "CONSTR_IDENTITY"
            elif contype in ("CONSTR_PRIMARY", "CONSTR_UNIQUE", "CONSTR_FOREIGN",
                             "CONSTR_CHECK"):
                self._constraint(table, constraint, new_table=True, column=column.colname)

    def _constraint(self, table: Table, constraint: Any, new_table: bool,
                    column: str | None = None) -> None:
        """Record a constraint on ``table`` (judged by the caller for existing tables)."""
        contype = _enum(constraint.contype)
        keys = tuple(k.sval for k in constraint.keys or ()) or ((column,) if column else ())
        if contype == "CONSTR_PRIMARY":
            if constraint.indexname:
                keys = self._index_columns(constraint.indexname) or keys
            table.primary_key = keys
            for key in keys:
                if key in table.columns:
                    table.columns[key].not_null = True
        elif contype == "CONSTR_UNIQUE":
            if constraint.indexname:
                keys = self._index_columns(constraint.indexname) or keys
            name = constraint.conname or f"{table.name}_{'_'.join(keys)}_key"
            table.indexes[name] = keys
            table.unique.add(name)
        elif contype == "CONSTR_FOREIGN":
            columns = tuple(a.sval for a in constraint.fk_attrs or ()) or (
                (column,) if column else ())
            assert self._file is not None and self._statement is not None
            if columns and self._judge:
                self._foreign_keys.append(_ForeignKey(table.name, columns, self._statement,
                                                      self._file))
        elif contype == "CONSTR_CHECK":
            expr = constraint.raw_expr
            not_null_of = None
            if _kind(expr) == "NullTest" and _enum(expr.nulltesttype) == "IS_NOT_NULL" \
                    and _kind(expr.arg) == "ColumnRef":
                not_null_of = expr.arg.fields[-1].sval
            referenced = frozenset(n.fields[-1].sval for n in _walk(expr)
                                   if _kind(n) == "ColumnRef" and hasattr(n.fields[-1], "sval"))
            table.checks.append(Check(constraint.conname, not_null_of,
                                      validated=new_table or not constraint.skip_validation,
                                      columns=referenced))

    def _index_columns(self, index: str) -> tuple[str, ...] | None:
        table = self.schema.tables.get(self.schema.index_table.get(index, ""))
        return table.indexes.get(index) if table is not None else None

    def _on_CreateTableAsStmt(self, node: Any) -> str | None:
        name = name_of(node.into.rel)
        if _enum(node.objtype) == "OBJECT_MATVIEW":
            self.schema.others[f"relation:{name}"] = self._origin
            return None
        self.schema.tables[name] = Table(name, origin=self._origin)
        return name

    def _on_SelectStmt(self, node: Any) -> str | None:
        if node.intoClause is None:
            return None
        name = name_of(node.intoClause.rel)
        self.schema.tables[name] = Table(name, origin=self._origin)
        return name

    def _on_ViewStmt(self, node: Any) -> None:
        self.schema.others[f"relation:{name_of(node.view)}"] = self._origin

    def _on_CreateSeqStmt(self, node: Any) -> None:
        self.schema.others[f"relation:{name_of(node.sequence)}"] = self._origin

    def _on_CreateFunctionStmt(self, node: Any) -> None:
        volatility = "v"
        for option in node.options or ():
            if option.defname == "volatility":
                volatility = option.arg.sval[0]
        name = dotted(node.funcname)
        self.schema.functions[name] = volatility
        self.schema.others[f"function:{name}"] = self._origin

    def _on_CreateTrigStmt(self, node: Any) -> None:
        self.schema.others[f"trigger:{node.trigname}"] = self._origin

    def _on_CreateSchemaStmt(self, node: Any) -> None:
        self.schema.others[f"schema:{node.schemaname}"] = self._origin

    def _on_CreateEnumStmt(self, node: Any) -> None:
        self.schema.others[f"type:{dotted(node.typeName)}"] = self._origin

    def _on_CompositeTypeStmt(self, node: Any) -> None:
        self.schema.others[f"type:{name_of(node.typevar)}"] = self._origin

    def _on_CreateDomainStmt(self, node: Any) -> None:
        self.schema.others[f"type:{dotted(node.domainname)}"] = self._origin

    def _on_IndexStmt(self, node: Any) -> None:
        table_name = name_of(node.relation)
        existing = self._existing(table_name)
        if node.concurrent and self._transactional:
            self._report("cannot-run-in-transaction",
                         "CREATE INDEX CONCURRENTLY cannot run inside a transaction block: "
                         "this migration has no `-- transactional: false` header")
        elif not node.concurrent and existing and node.relation.inh:
            self._report("index-not-concurrently",
                         f"CREATE INDEX on existing table {table_name} blocks its writes for "
                         "the whole build", "SHARE", table_name,
                         "CREATE INDEX CONCURRENTLY, in a migration headed `-- transactional: "
                         "false` (migrate resumes it after a failure)")
        table = self._table(table_name)
        columns = tuple(e.name if e.name else "(expression)" for e in node.indexParams or ())
        name = node.idxname or f"{table_name}_{'_'.join(columns)}_idx"
        if node.if_not_exists and name in self.schema.index_table:
            return
        table.indexes[name] = columns
        if node.unique:
            table.unique.add(name)
        self.schema.index_table[name] = table_name
        self.schema.index_origin[name] = self._origin

    # -- ALTER -----------------------------------------------------------------------------

    def _on_AlterTableStmt(self, node: Any) -> None:
        if _enum(node.objtype) != "OBJECT_TABLE":
            return
        name = name_of(node.relation)
        existing = self._existing(name)
        table = self._table(name)
        for cmd in node.cmds or ():
            handler = getattr(self, f"_alter_{_enum(cmd.subtype)}", None)
            if handler is not None:
                handler(table, cmd, existing)

    def _alter_AT_AddColumn(self, table: Table, cmd: Any, existing: bool) -> None:
        column = cmd.def_
        kind = type_of(column.typeName) if column.typeName is not None else None
        constraints = column.constraints or ()
        contypes = {_enum(c.contype) for c in constraints}
        if existing:
            default = next((c.raw_expr for c in constraints
                            if _enum(c.contype) == "CONSTR_DEFAULT"), None)
            volatile = self._volatile(default) if default is not None else None
            rewrite_reason = (
                f"its default {volatile} is volatile" if volatile
                else f"{kind.name} fills every row from a sequence" if kind is not None
                and kind.name in SERIAL_TYPES
                else "an identity column fills every row" if "CONSTR_IDENTITY" in contypes
                else "a stored generated column is computed for every row"
                if "CONSTR_GENERATED" in contypes else None)
            if rewrite_reason:
                self._report("volatile-default",
                             f"ADD COLUMN {column.colname} rewrites existing table "
                             f"{table.name}: {rewrite_reason}", "ACCESS EXCLUSIVE", table.name)
            elif (column.is_not_null or "CONSTR_NOTNULL" in contypes) and default is None:
                self._report("add-required-column",
                             f"ADD COLUMN {column.colname} NOT NULL without a default fails on "
                             f"existing table {table.name} once it has rows, and breaks "
                             "INSERTs that do not name it", "ACCESS EXCLUSIVE", table.name)
            if contypes & {"CONSTR_PRIMARY", "CONSTR_UNIQUE"}:
                self._report("unique-without-index",
                             f"ADD COLUMN {column.colname} with PRIMARY KEY/UNIQUE builds an "
                             f"index on existing table {table.name} under its lock",
                             "ACCESS EXCLUSIVE", table.name)
            if contypes & {"CONSTR_FOREIGN", "CONSTR_CHECK"}:
                self._report("constraint-not-valid",
                             f"ADD COLUMN {column.colname} with an inline REFERENCES/CHECK "
                             f"checks every row of existing table {table.name} under its lock",
                             "ACCESS EXCLUSIVE", table.name,
                             "add the column, then ADD CONSTRAINT ... NOT VALID, then "
                             "VALIDATE CONSTRAINT in a later migration")
        self._column_def(table, column, judge_types=True)
        self._integer_id(table, column)

    def _alter_AT_DropColumn(self, table: Table, cmd: Any, existing: bool) -> None:
        if existing:
            self._report("drop-column", f"drops column {table.name}.{cmd.name}: its data goes "
                         "and the running application's queries that name it fail",
                         "ACCESS EXCLUSIVE", table.name)
        table.columns.pop(cmd.name, None)

    def _alter_AT_AlterColumnType(self, table: Table, cmd: Any, existing: bool) -> None:
        new = type_of(cmd.def_.typeName)
        known = table.columns.get(cmd.name)
        old: Type | None = known.type if known is not None else None
        if existing:
            using = cmd.def_.raw_default is not None
            if using or not is_rewrite_free_change(old, new):
                was = f" from {old}" if old is not None else ""
                why = " (USING forces it)" if using else ""
                self._report("rewrite-column-type",
                             f"ALTER COLUMN {cmd.name} TYPE {new}{was} rewrites existing table "
                             f"{table.name} and its indexes{why}", "ACCESS EXCLUSIVE",
                             table.name)
            narrowing = narrows(old, new)
            if narrowing:
                self._report("narrow-column-type",
                             f"{table.name}.{cmd.name}: {narrowing}; rows or the application's "
                             "writes may no longer fit")
        if new.name == "timestamp":
            self._report("timestamp-without-time-zone",
                         f"{table.name}.{cmd.name} becomes timestamp without time zone")
        if known is not None:
            known.type = new
        else:
            table.columns[cmd.name] = Column(cmd.name, new)

    def _alter_AT_SetNotNull(self, table: Table, cmd: Any, existing: bool) -> None:
        if existing and not any(c.not_null_of == cmd.name and c.validated
                                for c in table.checks):
            self._report("set-not-null",
                         f"SET NOT NULL on {table.name}.{cmd.name} scans the whole existing "
                         "table: no validated CHECK (" + cmd.name + " IS NOT NULL) proves it",
                         "ACCESS EXCLUSIVE", table.name)
        column = table.columns.setdefault(cmd.name, Column(cmd.name, None))
        column.not_null = True

    def _alter_AT_DropNotNull(self, table: Table, cmd: Any, existing: bool) -> None:
        if cmd.name in table.columns:
            table.columns[cmd.name].not_null = False

    def _alter_AT_ColumnDefault(self, table: Table, cmd: Any, existing: bool) -> None:
        column = table.columns.setdefault(cmd.name, Column(cmd.name, None))
        if cmd.def_ is None:
            if existing and (column.has_default or column.type is None):
                self._report("drop-default",
                             f"drops the default of {table.name}.{cmd.name}: the running "
                             "application's INSERTs that leave it out change meaning or "
                             "fail", "ACCESS EXCLUSIVE", table.name)
            column.has_default = False
        else:
            column.has_default = True

    def _alter_AT_AddConstraint(self, table: Table, cmd: Any, existing: bool) -> None:
        constraint = cmd.def_
        contype = _enum(constraint.contype)
        if existing:
            if contype == "CONSTR_FOREIGN" and not constraint.skip_validation:
                target = name_of(constraint.pktable)
                self._report("constraint-not-valid",
                             f"ADD FOREIGN KEY on existing table {table.name} checks every "
                             f"row while blocking writes to {table.name} and {target}",
                             "SHARE ROW EXCLUSIVE", f"{table.name} and {target}")
            elif contype == "CONSTR_CHECK" and not constraint.skip_validation:
                self._report("constraint-not-valid",
                             f"ADD CHECK on existing table {table.name} checks every row "
                             "under its lock", "ACCESS EXCLUSIVE", table.name)
            elif contype in ("CONSTR_PRIMARY", "CONSTR_UNIQUE") and not constraint.indexname:
                what = "PRIMARY KEY" if contype == "CONSTR_PRIMARY" else "UNIQUE"
                self._report("unique-without-index",
                             f"ADD {what} on existing table {table.name} builds its index "
                             "under the table's lock", "ACCESS EXCLUSIVE", table.name)
            elif contype == "CONSTR_EXCLUSION":
                self._report("unique-without-index",
                             f"ADD EXCLUDE on existing table {table.name} builds its index "
                             "under the table's lock", "ACCESS EXCLUSIVE", table.name,
                             "an exclusion constraint cannot use an existing index: add it "
                             "while the table is new, or accept the lock explicitly")
            if constraint.skip_validation and constraint.conname:
                self._not_valid.add((table.name, constraint.conname))
        self._constraint(table, constraint, new_table=not existing)

    def _alter_AT_ValidateConstraint(self, table: Table, cmd: Any, existing: bool) -> None:
        if self._transactional and (table.name, cmd.name) in self._not_valid:
            self._report("constraint-not-valid",
                         f"VALIDATE CONSTRAINT {cmd.name} in the same transaction that added "
                         "it keeps the ADD's lock while every row is checked",
                         "ACCESS EXCLUSIVE", table.name,
                         "VALIDATE CONSTRAINT in a later migration than the ADD ... NOT VALID")
        for check in table.checks:
            if check.name == cmd.name:
                check.validated = True

    def _alter_AT_DropConstraint(self, table: Table, cmd: Any, existing: bool) -> None:
        table.checks = [c for c in table.checks if c.name != cmd.name]
        table.indexes.pop(cmd.name, None)

    def _alter_AT_AttachPartition(self, table: Table, cmd: Any, existing: bool) -> None:
        partition_name = name_of(cmd.def_.name)
        partition = self._table(partition_name)
        if self._existing(partition_name) and not any(
                c.validated and c.not_null_of is None for c in partition.checks):
            also = (f"; the DEFAULT partition of {table.name} is scanned too"
                    if table.has_default_partition else "")
            self._report("attach-partition-scan",
                         f"ATTACH PARTITION {partition_name} scans it to prove its bounds: it "
                         f"has no validated CHECK constraint implying them{also}",
                         "ACCESS EXCLUSIVE", partition_name)
        partition.partition_of = table.name

    def _on_AlterDomainStmt(self, node: Any) -> None:
        name = dotted(node.typeName)
        constraint = node.def_
        if node.subtype == "C" and constraint is not None and \
                _enum(constraint.contype) == "CONSTR_CHECK" and not constraint.skip_validation \
                and self.schema.others.get(f"type:{name}") != self._origin:
            self._report("constraint-not-valid",
                         f"ALTER DOMAIN {name} ADD CHECK checks every column of that domain in "
                         "every table, under a SHARE lock on each", "SHARE",
                         f"the tables using {name}",
                         "ADD CONSTRAINT ... NOT VALID, then VALIDATE CONSTRAINT in a later "
                         "migration")

    def _rewrite(self, table: Table, existing: bool, what: str) -> None:
        if existing:
            self._report("rewrite-table", f"{what} rewrites existing table {table.name}",
                         "ACCESS EXCLUSIVE", table.name)

    def _alter_AT_SetLogged(self, table: Table, cmd: Any, existing: bool) -> None:
        self._rewrite(table, existing, "SET LOGGED")

    def _alter_AT_SetUnLogged(self, table: Table, cmd: Any, existing: bool) -> None:
        self._rewrite(table, existing, "SET UNLOGGED")

    def _alter_AT_SetTableSpace(self, table: Table, cmd: Any, existing: bool) -> None:
        self._rewrite(table, existing, "SET TABLESPACE")

    def _alter_AT_SetAccessMethod(self, table: Table, cmd: Any, existing: bool) -> None:
        self._rewrite(table, existing, "SET ACCESS METHOD")

    def _alter_AT_DetachPartition(self, table: Table, cmd: Any, existing: bool) -> None:
        partition = name_of(cmd.def_.name)
        if cmd.def_.concurrent:
            self._outside_transaction_only("DETACH PARTITION CONCURRENTLY")
        elif existing:
            self._report("detach-partition",
                         f"DETACH PARTITION {partition} waits for, then blocks, every query on "
                         f"{table.name}", "ACCESS EXCLUSIVE", table.name)
        known = self.schema.tables.get(partition)
        if known is not None:
            known.partition_of = None

    # -- RENAME, DROP, TRUNCATE --------------------------------------------------------------

    def _on_RenameStmt(self, node: Any) -> None:
        kind = _enum(node.renameType)
        if kind in ("OBJECT_TABLE", "OBJECT_VIEW", "OBJECT_MATVIEW"):
            old = name_of(node.relation)
            if self._existing(old):
                what = {"OBJECT_TABLE": "table", "OBJECT_VIEW": "view",
                        "OBJECT_MATVIEW": "materialized view"}[kind]
                self._report("rename-table", f"renames existing {what} {old} to "
                             f"{node.newname}: the running application's queries fail",
                             "ACCESS EXCLUSIVE", old)
            schema = node.relation.schemaname
            new = node.newname if schema in (None, "public") else f"{schema}.{node.newname}"
            if old in self.schema.tables:
                table = self.schema.tables.pop(old)
                table.name = new
                self.schema.tables[new] = table
            origin = self.schema.others.pop(f"relation:{old}", None)
            if origin is not None:
                self.schema.others[f"relation:{new}"] = origin
        elif kind == "OBJECT_COLUMN" and node.relation is not None:
            name = name_of(node.relation)
            if self._existing(name):
                self._report("rename-column", f"renames column {name}.{node.subname} to "
                             f"{node.newname}: the running application's queries fail",
                             "ACCESS EXCLUSIVE", name)
            renamed = self.schema.tables.get(name)
            if renamed is not None and node.subname in renamed.columns:
                column = renamed.columns.pop(node.subname)
                column.name = node.newname
                renamed.columns[node.newname] = column
        elif kind == "OBJECT_INDEX":
            old = name_of(node.relation)
            if old in self.schema.index_table:
                owner = self.schema.index_table.pop(old)
                self.schema.index_table[node.newname] = owner
                self.schema.index_origin[node.newname] = self.schema.index_origin.pop(old, "")
                indexed = self.schema.tables.get(owner)
                if indexed is not None and old in indexed.indexes:
                    indexed.indexes[node.newname] = indexed.indexes.pop(old)

    def _on_DropStmt(self, node: Any) -> None:
        kind = _enum(node.removeType)
        for obj in node.objects or ():
            if kind == "OBJECT_TABLE":
                self._drop_table(dotted(obj))
            elif kind == "OBJECT_INDEX":
                self._drop_index(dotted(obj), node.concurrent)
            else:
                self._drop_other(kind, obj)

    def _drop_table(self, name: str) -> None:
        if self._existing(name):
            self._report("drop-table", f"drops existing table {name}: its data goes and the "
                         "running application's queries fail", "ACCESS EXCLUSIVE", name)
        table = self.schema.tables.pop(name, None)
        if table is not None:
            for index in table.indexes:
                self.schema.index_table.pop(index, None)

    def _drop_index(self, name: str, concurrent: bool) -> None:
        owner = self.schema.index_table.get(name)
        new = self.schema.index_origin.get(name) == self._origin or (
            owner is not None and not self._existing(owner))
        if concurrent and self._transactional:
            self._report("cannot-run-in-transaction",
                         "DROP INDEX CONCURRENTLY cannot run inside a transaction block: this "
                         "migration has no `-- transactional: false` header")
        elif not concurrent and not new:
            on = owner or "its table"
            self._report("index-not-concurrently",
                         f"DROP INDEX {name} waits for and then blocks every query on {on}",
                         "ACCESS EXCLUSIVE", on,
                         "DROP INDEX CONCURRENTLY, in a migration headed `-- transactional: "
                         "false`")
        if owner is not None:
            self.schema.index_table.pop(name, None)
            table = self.schema.tables.get(owner)
            if table is not None:
                table.indexes.pop(name, None)

    _KINDS = {"OBJECT_VIEW": "relation", "OBJECT_MATVIEW": "relation",
              "OBJECT_SEQUENCE": "relation", "OBJECT_FUNCTION": "function",
              "OBJECT_PROCEDURE": "function", "OBJECT_TRIGGER": "trigger",
              "OBJECT_SCHEMA": "schema", "OBJECT_TYPE": "type", "OBJECT_DOMAIN": "type"}

    def _drop_other(self, kind: str, obj: Any) -> None:
        if _kind(obj) == "ObjectWithArgs":
            name = dotted(obj.objname)
        elif _kind(obj) == "TypeName":
            name = dotted(obj.names)
        elif isinstance(obj, tuple | list):
            name = dotted(obj) if kind != "OBJECT_TRIGGER" else obj[-1].sval
        else:
            name = getattr(obj, "sval", str(obj))
        key = f"{self._KINDS.get(kind, kind)}:{name}"
        if self.schema.others.get(key) != self._origin:
            what = kind.removeprefix("OBJECT_").lower().replace("_", " ")
            self._report("drop-object", f"drops {what} {name}, which existed before this "
                         "migration: whatever uses it breaks")
        self.schema.others.pop(key, None)
        if kind in ("OBJECT_FUNCTION", "OBJECT_PROCEDURE"):
            self.schema.functions.pop(name, None)

    def _on_DropOwnedStmt(self, node: Any) -> None:
        self._report("drop-object", "DROP OWNED drops every object the role(s) own")

    def _on_TruncateStmt(self, node: Any) -> None:
        for relation in node.relations or ():
            name = name_of(relation)
            if self._existing(name):
                self._report("truncate", f"TRUNCATE {name} removes every row of an existing "
                             "table", "ACCESS EXCLUSIVE", name)

    # -- maintenance commands ----------------------------------------------------------------

    def _outside_transaction_only(self, what: str) -> bool:
        if self._transactional:
            self._report("cannot-run-in-transaction",
                         f"{what} cannot run inside a transaction block: this migration has no "
                         "`-- transactional: false` header")
            return True
        return False

    def _on_VacuumStmt(self, node: Any) -> None:
        if not node.is_vacuumcmd:
            return  # ANALYZE: fine anywhere
        options = {o.defname for o in node.options or ()}
        names = [name_of(r.relation) for r in node.rels or () if r.relation is not None]
        self._outside_transaction_only("VACUUM")
        if "full" in options and (not names or any(self._existing(n) for n in names)):
            on = ", ".join(names) or "every table"
            self._report("vacuum-full", f"VACUUM FULL rewrites {on}", "ACCESS EXCLUSIVE", on)

    def _on_ClusterStmt(self, node: Any) -> None:
        name = name_of(node.relation) if node.relation is not None else None
        if name is None or self._existing(name):
            on = name or "every clustered table"
            self._report("cluster", f"CLUSTER rewrites {on}", "ACCESS EXCLUSIVE", on)

    def _on_LockStmt(self, node: Any) -> None:
        mode = LOCK_MODES.get(int(node.mode), "ACCESS EXCLUSIVE")
        names = [name_of(r) for r in node.relations or ()]
        existing = [n for n in names if self._existing(n)]
        if mode in BLOCKS_WRITES and existing:
            self._report("lock-table", f"LOCK TABLE {', '.join(existing)} IN {mode} MODE "
                         "holds the lock until the migration commits", mode,
                         ", ".join(existing))

    def _on_ReindexStmt(self, node: Any) -> None:
        concurrently = any(p.defname == "concurrently" for p in node.params or ())
        kind = _enum(node.kind).removeprefix("REINDEX_OBJECT_").lower()
        if concurrently:
            self._outside_transaction_only("REINDEX CONCURRENTLY")
            return
        target = name_of(node.relation) if node.relation is not None else node.name
        if kind == "index":
            owner = self.schema.index_table.get(target)
            if self.schema.index_origin.get(target) == self._origin or (
                    owner is not None and not self._existing(owner)):
                return
            on = owner or f"the table of {target}"
        elif kind == "table":
            if not self._existing(target):
                return
            on = target
        else:
            on = f"every table of {kind} {target}"
        self._report("reindex-not-concurrently", f"REINDEX {kind.upper()} {target} blocks "
                     f"writes to {on} and reads through the rebuilt index(es)", "SHARE", on)

    def _on_CreatedbStmt(self, node: Any) -> None:
        self._outside_transaction_only("CREATE DATABASE")

    def _on_DropdbStmt(self, node: Any) -> None:
        if not self._outside_transaction_only("DROP DATABASE"):
            self._report("drop-object", f"drops database {node.dbname}")

    def _on_AlterSystemStmt(self, node: Any) -> None:
        self._outside_transaction_only("ALTER SYSTEM")

    # -- data ------------------------------------------------------------------------------

    def _whole_table(self, node: Any, verb: str) -> None:
        name = name_of(node.relation)
        where = node.whereClause
        everything = where is None or (
            _kind(where) == "A_Const" and getattr(where.val, "boolval", False) is True)
        if everything and self._existing(name):
            self._report("unbatched-backfill",
                         f"{verb} of every row of existing table {name} in one transaction "
                         "locks them all until it commits", "ROW LOCKS", name)

    def _on_UpdateStmt(self, node: Any) -> None:
        self._whole_table(node, "UPDATE")

    def _on_DeleteStmt(self, node: Any) -> None:
        self._whole_table(node, "DELETE")

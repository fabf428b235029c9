"""A script that brings a drifted database back to the expected schema.

Each difference becomes ``Step``s (``steps.py``). The script runs, in order:

1. the views that must go around a change (they read a column whose type changes, a
   function dropped and created again, a view that ``CREATE OR REPLACE`` cannot change):
   dropped, the most dependent first;
2. every drop, the most dependent kinds first (views, triggers, indexes, constraints
   (foreign keys first), columns, tables, functions, sequences, types, schemas);
3. every create or change in dependency order (schemas, extensions, types, sequences,
   functions with ``check_function_bodies`` off, tables, columns, constraints (keys
   before the foreign keys that use them), indexes, views, triggers, policies);
4. the views of step 1 created again from their expected definitions.

Safe means no data lost and no long ACCESS EXCLUSIVE lock: indexes are built
``CONCURRENTLY``, constraints added ``NOT VALID`` then validated, a missing NOT NULL goes
through a validated CHECK. Destructive or lock-heavy steps (drops, type changes, keys on
partitioned tables) are printed commented out, unless ``destructive``: then the script,
run with ``psql -v ON_ERROR_STOP=1 -f``, converges (``drift`` exits 0 afterwards), except
for what ``report.unfixable`` names with its reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .model import Difference, DriftReport
from .steps import ORDER, FixContext, Handler, Step, literal

_COLUMN = re.compile(r"^(?P<type>.*?)(?: COLLATE (?P<collation>\S+))?(?P<notnull> NOT NULL)?"
                     r"(?: DEFAULT (?P<default>.*?))?"
                     r"(?: (?P<generated>GENERATED ALWAYS AS \(.*\) STORED))?"
                     r"(?: GENERATED (?P<identity>ALWAYS|BY DEFAULT) AS IDENTITY)?"
                     r"(?: STORAGE (?P<storage>\S+))?(?: COMPRESSION (?P<compression>\S+))?"
                     r"(?: \[(?P<inherited>INHERITED(?:, LOCAL)?)\])?$")
_ATTACHED = re.compile(r" \[ATTACHED TO (\S+)\]$")
_KEY = re.compile(r"^(PRIMARY KEY|UNIQUE|EXCLUDE) ")


def _split(name: str) -> tuple[str, str]:
    """``schema.table.column`` -> (``schema.table``, ``column``)."""
    head, _, tail = _rsplit_ident(name)
    return head, tail


def _rsplit_ident(name: str) -> tuple[str, str, str]:
    """Split a qualified name at its last dot outside double quotes."""
    depth = False
    for i in range(len(name) - 1, -1, -1):
        if name[i] == '"':
            depth = not depth
        elif name[i] == "." and not depth:
            return name[:i], ".", name[i + 1:]
    return "", "", name


def _column_parts(definition: str | None) -> dict[str, str | None]:
    match = _COLUMN.match(definition or "")
    assert match is not None
    return match.groupdict()


def _short(name: str) -> str:
    return _split(name)[1]


# -- the renderer ----------------------------------------------------------------------------

def fix_sql(report: DriftReport, destructive: bool = False) -> str:
    """The fix script for ``report``: safe statements as they are, destructive ones
    commented out unless ``destructive``."""
    ctx = FixContext.of(report, destructive)
    lines = ["-- watoto-schema drift --sql" + (" --destructive" if destructive else ""),
             f"-- target: {report.target}",
             "-- Run with psql -v ON_ERROR_STOP=1 -f (no -1: CONCURRENTLY statements cannot"
             " run in a transaction).",
             "-- Commented lines are destructive or lock-heavy"
             + (": none, --destructive emits them." if destructive
                else ": run with --destructive to emit them, or decide for yourself."),
             ""]
    if report.in_sync:
        lines.append("-- in sync: nothing to do")
        return "\n".join(lines) + "\n"
    lines += ["SET check_function_bodies = off;", ""]
    steps: list[tuple[Difference, Step]] = []
    for d in _relevant(report, ctx):
        steps += [(d, s) for s in _steps(d, ctx)]
    around = _views_around(ctx, [s for _, s in steps])
    if around:
        lines.append("-- views that read what changes: dropped now, created again at the end")
        lines += [f"DROP {kind.upper()} IF EXISTS {name};" for name, kind in reversed(around)]
        lines.append("")
    redone = {name for name, _ in around}
    for d, step in steps:  # what is made again at the end needs nothing else
        if step.kind in (*_VIEWS, "function") and not step.drop and d.name in redone:
            step.sql, step.note = [], "dropped and created again around the changes"
    depth = _view_depths(ctx, [d.name for d, s in steps if s.kind in _VIEWS and not s.drop])
    drops = sorted((p for p in steps if p[1].drop), key=lambda p: (
        -_rank(p[1].kind), _drop_rank(p[1]), p[0].name))
    early = [p for p in drops if p[1].kind not in _BASE]
    late = [p for p in drops if p[1].kind in _BASE]
    changes = sorted((p for p in steps if not p[1].drop), key=lambda p: (
        _rank(p[1].kind), _create_rank(p[0]), depth.get(p[0].name, 0), p[0].name))
    for d, step in early + changes + late:
        if step.sql or step.unfixable or step.destructive or step.note:
            lines += _render(d, step, destructive)
    if around:
        lines.append("-- what was dropped at the start, created again")
        for name, kind in around:
            definition = _expected_definition(ctx, name, kind)
            if definition is None:
                continue
            if kind in _VIEWS:
                lines += [f"CREATE {kind.upper()} {name} AS",
                          definition.strip().rstrip(";") + ";"]
            else:
                lines.append(definition.rstrip().rstrip(";") + ";")
    for name, reason in report.unfixable.items():
        lines.append(f"-- cannot be fixed by a script: {name}: {reason}")
    return "\n".join(lines) + "\n"


_VIEWS = ("view", "materialized view")
# Dropped after the changes: a column's type, collation or default may still use them
# until its change has run.
_BASE = ("schema", "extension", "collation", "type", "sequence", "function")


def _rank(kind: str) -> int:
    return ORDER.index(kind) if kind in ORDER else len(ORDER)


def _drop_rank(step: Step) -> int:
    """Among drops of one kind: foreign keys before the keys they use."""
    return 0 if any(" FOREIGN KEY " in s for s in step.sql) else 1


def _create_rank(d: Difference) -> int:
    """Among creates of one kind: keys before checks before foreign keys."""
    text = d.expected or ""
    return 2 if text.startswith("FOREIGN KEY") else 1 if text.startswith("CHECK") else 0


def _runs(step: Step, destructive: bool) -> bool:
    return step.unfixable is None and bool(step.sql) and (destructive or not step.destructive)


def _render(d: Difference, step: Step, destructive: bool) -> list[str]:
    out = [f"-- {d.change} {d.kind} {d.name}" + (f": {step.note}" if step.note else "")]
    if step.unfixable is not None:
        return [*out, f"-- cannot be fixed by a script: {step.unfixable}"]
    body = list(step.sql)
    if step.transaction and len(body) > 1:
        body = ["BEGIN;", *body, "COMMIT;"]
    if _runs(step, destructive):
        return [*out, *body]
    return [*out, *("-- " + line for stmt in body for line in stmt.splitlines())]


def _views_around(ctx: FixContext, steps: list[Step]) -> list[tuple[str, str]]:
    """The live views to drop before the steps that run and create again after them, in
    create order: those reading what a step changes or drops (``touches``), and views
    ``CREATE OR REPLACE`` cannot change (a step of their own with no statement).

    A view that would have to go but has no expected definition (made by hand) is not
    dropped without --destructive: the steps that need it gone are commented out, and
    the search starts again without them."""
    blocked: set[int] = set()
    while True:
        runs = [s for s in steps if id(s) not in blocked and (
            _runs(s, ctx.destructive)
            or (s.kind in _VIEWS and not s.sql and s.touches and not s.drop))]
        own = [n for s in runs if s.kind in _VIEWS and not s.sql and not s.drop
               for n in s.touches if (s.kind, n) in ctx.actual]
        names = list(dict.fromkeys(own + ctx.dependent_views(
            own + [t for s in runs for t in s.touches])))
        kept = [n for n in names if _live_kind(ctx, n) is not None]
        hand_made = {n for n in kept
                     if _expected_definition(ctx, n, str(_live_kind(ctx, n))) is None}
        if ctx.destructive or not hand_made:
            order = _view_depths(ctx, kept)
            return [(n, str(_live_kind(ctx, n))) for n in sorted(
                kept, key=lambda n: (order.get(n, 0), kept.index(n)))]
        for s in runs:
            reach = set(ctx.dependent_views(s.touches)) | set(
                s.touches if s.kind in _VIEWS and not s.sql else [])
            if reach & hand_made:
                blocked.add(id(s))
                s.destructive = True
                s.note = (f"{', '.join(sorted(reach & hand_made))} (not in the expected "
                          "schema) reads what it changes: --destructive drops it")


def _live_kind(ctx: FixContext, name: str) -> str | None:
    for kind in (*_VIEWS, "function", "procedure"):
        if (kind, name) in ctx.actual:
            return kind
    return None


def _expected_definition(ctx: FixContext, name: str, kind: str) -> str | None:
    if kind in _VIEWS:
        return ctx.expected_of(f"{kind} definition", name)
    return ctx.expected_of(kind, name)


def _view_depths(ctx: FixContext, names: list[str]) -> dict[str, int]:
    """How deep each view sits among ``names``: a view after the views it reads (by the
    live dependencies, and for views not there yet by their expected definitions)."""
    reads: dict[str, set[str]] = {n: set() for n in names}
    for referenced, views in ctx.report.dependents.items():
        if referenced not in reads:  # a column: its relation
            referenced = _split(referenced)[0]
        for view in views:
            if view in reads and referenced in reads and referenced != view:
                reads[view].add(referenced)
    for n in names:
        definition = ctx.expected_of("view definition", n) or ctx.expected_of(
            "materialized view definition", n) or ""
        for other in names:
            short = _short(other)
            if other != n and re.search(rf"(?<![\w.]){re.escape(short)}(?!\w)", definition):
                reads[n].add(other)
    depth: dict[str, int] = {}

    def visit(n: str, trail: frozenset[str]) -> int:
        if n not in depth:
            depth[n] = 1 + max((visit(r, trail | {n}) for r in reads[n] if r not in trail),
                               default=-1)
        return depth[n]

    for n in names:
        visit(n, frozenset())
    return depth


def _relevant(report: DriftReport, ctx: FixContext) -> Iterable[Difference]:
    missing_tables = {d.name for d in report.differences
                      if d.change == "missing" and d.kind == "table"}
    missing_partitions = {d.name for d in report.differences
                          if d.change == "missing" and d.kind == "partition"}
    extra_partitions = {d.name for d in report.differences
                        if d.change == "unexpected" and d.kind == "partition"}
    extra_tables = {d.name for d in report.differences
                    if d.change == "unexpected" and d.kind == "table"}
    # a plain table to attach as a partition, a partition to detach as a plain table: its
    # columns are the parent's on one side and its own on the other
    attached = {n for n in missing_partitions if ("table", n) in ctx.actual}
    detached = {n for n in extra_partitions if ("table", n) in ctx.expected}
    for d in report.differences:
        if d.kind == "column" and d.object in missing_tables and d.change == "missing":
            continue  # created with its table
        if d.kind == "table" and d.change == "missing" and d.name in missing_partitions:
            continue  # created as a partition
        if d.kind == "table" and d.change == "unexpected" and d.name in extra_partitions:
            continue  # dropped as a partition
        if d.object in extra_tables and d.kind in ("column", "constraint", "index",
                                                   "trigger", "policy", "row level security",
                                                   "inherits") and d.name != d.object:
            continue  # goes with its table
        if d.kind == "column" and d.object in attached | detached:
            continue  # the partition's columns are its parent's
        if d.kind in ("constraint", "index", "trigger") and d.object in detached:
            continue  # a detached partition keeps its own copies
        if d.kind in ("index", "constraint", "trigger") and d.object in missing_partitions:
            continue  # a partition gets its parent's from ATTACH
        if d.kind == "column" and (ctx.report.relations.get(d.object) in _VIEWS
                                   or _live_kind(ctx, d.object) is not None):
            continue  # a view's columns follow its definition
        yield d


def _steps(d: Difference, ctx: FixContext) -> list[Step]:
    if d.name in ctx.report.unfixable:
        return [Step(d.kind, [], unfixable=ctx.report.unfixable[d.name])]
    handler = _handlers().get(d.kind)
    if handler is None:
        return [Step(d.kind, [], note=f"not fixed automatically: expected {d.expected!r}, "
                     f"found {d.actual!r}", destructive=True)]
    return handler(d, ctx)


def _handlers() -> dict[str, Handler]:
    handlers: dict[str, Handler] = {
        "schema": _schema, "extension": _extension, "table": _table, "partition": _partition,
        "column": _column, "constraint": _constraint, "index": _index,
        "view": _view, "materialized view": _view, "view definition": _view_definition,
        "materialized view definition": _view_definition, "trigger": _trigger,
        "function": _function, "procedure": _function, "sequence": _sequence,
        "sequence definition": _sequence_definition, "migration": _migration,
    }
    from .fix_kinds import HANDLERS

    return {**handlers, **HANDLERS}


# -- handlers --------------------------------------------------------------------------------

def _migration(d: Difference, ctx: FixContext) -> list[Step]:
    return [Step("comment", [], unfixable="the migration history, not the schema: see "
                 "`watoto-schema verify` and `repair`")]


def _schema(d: Difference, ctx: FixContext) -> list[Step]:
    if d.change == "missing":
        return [Step("schema", [f"CREATE SCHEMA {d.name};"])]
    return [Step("schema", [f"DROP SCHEMA {d.name};"], drop=True, destructive=True)]


def _extension(d: Difference, ctx: FixContext) -> list[Step]:
    match = re.match(r"VERSION (\S+) SCHEMA (\S+)", d.expected or "")
    if d.change == "unexpected" or not match:
        return [Step("extension", [f"DROP EXTENSION {d.name};"], drop=True, destructive=True)]
    version, schema = match.groups()
    if d.change == "missing":
        return [Step("extension", [f"CREATE EXTENSION IF NOT EXISTS {d.name} WITH SCHEMA "
                                   f"{schema} VERSION {literal(version)};"])]
    have = re.match(r"VERSION (\S+) SCHEMA (\S+)", d.actual or "")
    out = []
    if have and have.group(1) != version:
        out.append(f"ALTER EXTENSION {d.name} UPDATE TO {literal(version)};")
    if have and have.group(2) != schema:
        out.append(f"ALTER EXTENSION {d.name} SET SCHEMA {schema};")
    return [Step("extension", out)]


def _table(d: Difference, ctx: FixContext) -> list[Step]:
    if d.change == "unexpected":
        keep = [f"ALTER SEQUENCE {name} OWNED BY NONE;"  # the expected schema uses them
                for (kind, name), obj in ctx.actual.items()
                if kind == "sequence definition" and ("sequence", name) in ctx.expected
                and _owner_of(ctx, name, "actual") is not None
                and _split(str(_owner_of(ctx, name, "actual")))[0] == d.name]
        return [Step("table", [*keep, f"DROP TABLE {d.name};"], drop=True, destructive=True,
                     touches=[d.name])]
    if d.change == "missing":
        columns = sorted(ctx.expected_named("column", d.name + "."), key=lambda o: o.name)
        parts = [f"{_short(c.name)} {_column_sql(c.definition)}" for c in columns]
        persistence = "UNLOGGED " if (d.expected or "").startswith("UNLOGGED") else ""
        partition = re.search(r"(PARTITION BY .*)$", d.expected or "")
        body = ",\n    ".join(parts)
        return [Step("table", [f"CREATE {persistence}TABLE {d.name} (\n    {body}\n)"
                               + (f" {partition.group(1)}" if partition else "") + ";"])]
    if "PARTITION BY" in (d.expected or "") + (d.actual or ""):
        return [Step("table", [], destructive=True,
                     note="the partitioning differs: a new table and a data copy")]
    verb = "SET UNLOGGED" if (d.expected or "").startswith("UNLOGGED") else "SET LOGGED"
    return [Step("table", [f"ALTER TABLE {d.name} {verb};"], destructive=True,
                 note="rewrites the table")]


def _column_sql(definition: str) -> str:
    """A column definition as it goes into CREATE TABLE (identity and generated kept)."""
    parts = _column_parts(definition)
    text = str(parts["type"])
    if parts["collation"]:
        text += f" COLLATE {parts['collation']}"
    if parts["generated"]:
        text += f" {parts['generated']}"
    elif parts["default"]:
        text += f" DEFAULT {parts['default']}"
    if parts["identity"]:
        text += f" GENERATED {parts['identity']} AS IDENTITY"
    if parts["notnull"]:
        text += " NOT NULL"
    return text


def _partition(d: Difference, ctx: FixContext) -> list[Step]:
    parent = d.object
    detach = f"ALTER TABLE {parent} DETACH PARTITION {d.name};"
    if d.change == "unexpected":
        if ("table", d.name) in ctx.expected:  # a plain table of its own there
            return [Step("partition", [detach], drop=True)]
        # detached first: a foreign key to the parent has a row per partition
        return [Step("partition", [detach, f"DROP TABLE {d.name};"], drop=True,
                     destructive=True, touches=[d.name])]
    if d.change == "missing":
        if ("table", d.name) in ctx.actual:  # there as a plain table: attach it
            return [Step("partition", [f"ALTER TABLE {parent} ATTACH PARTITION {d.name} "
                                       f"{d.expected};"], note="scans it under lock")]
        return [Step("partition", [f"CREATE TABLE {d.name} PARTITION OF {parent} "
                                   f"{d.expected};"])]
    return [Step("partition", [f"ALTER TABLE {parent} DETACH PARTITION {d.name};",
                               f"ALTER TABLE {parent} ATTACH PARTITION {d.name} "
                               f"{d.expected};"], destructive=True,
                 note="re-attaching scans the partition under lock")]


def _identity_sequence(ctx: FixContext, table: str, column: str, side: str) -> str | None:
    """The sequence behind an identity column, by its ``OWNED BY`` in that side's rows."""
    rows = ctx.expected if side == "expected" else ctx.actual
    short_table = _short(table)
    for (kind, name), obj in rows.items():
        if kind == "sequence definition" and str(obj.definition).endswith(
                f"OWNED BY {short_table}.{column}") and _split(name)[0] == _split(table)[0]:
            return name
    return None


def _column(d: Difference, ctx: FixContext) -> list[Step]:
    """A column's type, collation, default, NOT NULL, identity and generation here; its
    storage, compression and inheritance in ``fix_kinds.column_steps``."""
    from .fix_kinds import column_steps

    return _column_own(d, ctx) + column_steps(d, ctx)


def _column_own(d: Difference, ctx: FixContext) -> list[Step]:
    table, column = _split(d.name)
    if d.change == "unexpected":
        if _column_parts(d.actual)["inherited"] == "INHERITED":
            return []  # a parent's column: goes with the inheritance (the inherits step)
        return [Step("column", [f"ALTER TABLE {table} DROP COLUMN {column};"], drop=True,
                     destructive=True, touches=[d.name])]
    want = _column_parts(d.expected)
    if d.change == "missing":
        clause = f"ALTER TABLE {table} ADD COLUMN {column} {want['type']}"
        if want["collation"]:
            clause += f" COLLATE {want['collation']}"
        if want["generated"]:
            return [Step("column", [f"{clause} {want['generated']};"], destructive=True,
                         note="rewrites the table")]
        if want["identity"]:
            sequence = _identity_sequence(ctx, table, column, "expected")
            named = f" (SEQUENCE NAME {sequence})" if sequence else ""
            return [Step("column", [f"{clause} NOT NULL GENERATED {want['identity']} AS "
                                    f"IDENTITY{named};"], destructive=True,
                         note="fills every row: rewrites the table")]
        if want["default"]:
            clause += f" DEFAULT {want['default']}"
        if want["notnull"] and not want["default"]:
            return [Step("column", [clause + " NOT NULL;"], destructive=True,
                         note="needs a value for existing rows")]
        return [Step("column", [clause + (" NOT NULL;" if want["notnull"] else ";")])]
    have = _column_parts(d.actual)
    steps: list[Step] = []
    alter = f"ALTER TABLE {table} ALTER COLUMN {column}"
    if want["generated"] and want["generated"] != have["generated"]:
        # the column's indexes go with it: made again (the table is locked already)
        indexes = [_ATTACHED.sub("", str(o.definition)) + ";"
                   for o in ctx.expected_named("index", _split(table)[0] + ".")
                   if re.search(rf" ON (?:ONLY )?{re.escape(table)} USING .*\b"
                                rf"{re.escape(column)}\b", str(o.definition))
                   and not _ATTACHED.search(str(o.definition))]
        return [Step("column", [f"ALTER TABLE {table} DROP COLUMN {column};",
                                f"ALTER TABLE {table} ADD COLUMN {column} "
                                f"{_column_sql(str(d.expected))};", *indexes],
                     destructive=True, touches=[d.name],
                     note="a generated column is dropped and added again: rewrites the table")]
    if have["generated"] and not want["generated"]:
        steps.append(Step("column", [f"{alter} DROP EXPRESSION;"],
                          note="its values stay, computed no more"))
    if have["identity"] and want["identity"] and have["identity"] != want["identity"]:
        steps.append(Step("column", [f"{alter} SET GENERATED {want['identity']};"]))
    elif have["identity"] and not want["identity"]:
        steps.append(_identity_to_sequence(ctx, table, column, alter))
    if (want["type"], want["collation"]) != (have["type"], have["collation"]):
        collate = f" COLLATE {want['collation']}" if want["collation"] else ""
        using = f" USING {column}::{want['type']}"
        default_first = [f"{alter} DROP DEFAULT;"] if have["default"] else []
        default_after = ([f"{alter} SET DEFAULT {want['default']};"]
                         if have["default"] and want["default"] == have["default"] else [])
        steps.append(Step("column", [*default_first, f"{alter} TYPE {want['type']}{collate}"
                                     f"{using};", *default_after], destructive=True,
                          touches=[d.name], note="rewrites the table under ACCESS EXCLUSIVE"))
    if want["default"] != have["default"] and not want["identity"]:
        steps.append(Step("column", [f"{alter} " + (f"SET DEFAULT {want['default']};"
                                                     if want["default"] else "DROP DEFAULT;")]))
    elif have["default"] and want["identity"] and not have["identity"]:
        steps.append(Step("column", [f"{alter} DROP DEFAULT;"]))
    if want["notnull"] and not have["notnull"] and not have["identity"]:
        check = _literal_ident(
            f"{_short(table).strip(chr(34))}_{column.strip(chr(34))}_not_null"[:63])
        steps.append(Step("column", [
            f"ALTER TABLE {table} ADD CONSTRAINT {check} CHECK ({column} IS NOT NULL) "
            "NOT VALID;",
            f"ALTER TABLE {table} VALIDATE CONSTRAINT {check};",
            f"{alter} SET NOT NULL;",
            f"ALTER TABLE {table} DROP CONSTRAINT {check};"], transaction=False,
            note="through a validated CHECK: SET NOT NULL needs no scan then"))
    elif have["notnull"] and not want["notnull"] and not want["identity"]:
        steps.append(_drop_not_null(d, ctx, table, column))
    if want["identity"] and not have["identity"]:
        sequence = _identity_sequence(ctx, table, column, "expected")
        named = f" (SEQUENCE NAME {sequence})" if sequence else ""
        # a serial's sequence of that name makes way (its position carried over)
        serial = sequence is not None and ("sequence", sequence) in ctx.actual
        steps.append(Step("column", [
            *([f"DROP SEQUENCE {sequence};"] if serial else []),
            f"{alter} ADD GENERATED {want['identity']} AS IDENTITY{named};",
            *([_continue(sequence, table, column)] if serial and sequence else [])],
            note="the serial's sequence replaced by the identity's" if serial else None))
    return steps


def _continue(sequence: str, table: str, column: str) -> str:
    """Set a new sequence past the column's values, so inserts go on without a clash."""
    return (f"SELECT setval({literal(sequence)}, coalesce(max({column}), 0) + 1, false) "
            f"FROM {table};")


def _identity_to_sequence(ctx: FixContext, table: str, column: str, alter: str) -> Step:
    """DROP IDENTITY takes its sequence: when the expected schema has a plain sequence of
    that name (a serial), it is made again and set past the column's values."""
    sequence = _identity_sequence(ctx, table, column, "actual")
    definition = ctx.expected_of("sequence definition", sequence) if sequence else None
    if sequence is None or definition is None:
        return Step("column", [f"{alter} DROP IDENTITY;"], destructive=True,
                    note="its sequence goes with it")
    options = re.sub(r" OWNED BY .*$", "", definition)
    return Step("column", [f"{alter} DROP IDENTITY;", f"CREATE SEQUENCE {sequence} {options};",
                           f"ALTER SEQUENCE {sequence} OWNED BY {table}.{column};",
                           _continue(sequence, table, column)],
                note="the identity's sequence becomes a plain one")


def _literal_ident(text: str) -> str:
    from psycopg import sql

    return sql.Identifier(text).as_string(None)


def _drop_not_null(d: Difference, ctx: FixContext, table: str, column: str) -> Step:
    """DROP NOT NULL cannot run while the column is in a primary key: the key's drop (an
    unexpected constraint, destructive) runs first, or this waits for it."""
    for (kind, name), obj in ctx.actual.items():
        if (kind == "constraint" and _split(name)[0] == table
                and str(obj.definition).startswith("PRIMARY KEY")
                and column in re.findall(r'"[^"]+"|[^(), ]+',
                                         str(obj.definition)[len("PRIMARY KEY "):])
                and ctx.expected.get(("constraint", name)) is None and not ctx.destructive):
            return Step("column", [f"ALTER TABLE {table} ALTER COLUMN {column} DROP NOT "
                                       "NULL;"], destructive=True,
                            note=f"after the primary key {_short(name)} is dropped")
    return Step("column", [f"ALTER TABLE {table} ALTER COLUMN {column} DROP NOT NULL;"])


def _constraint(d: Difference, ctx: FixContext) -> list[Step]:
    table, name = _split(d.name)
    if d.change == "renamed":
        return [Step("constraint", [f"ALTER TABLE {table} RENAME CONSTRAINT "
                                    f"{_split(d.actual or '')[1]} TO {name};"])]
    if d.change == "unexpected":
        steps = [Step("constraint", [f"ALTER TABLE {table} DROP CONSTRAINT {name};"],
                      drop=True, destructive=True)]
        index = f"{_split(table)[0]}.{name}"
        plain = ctx.expected_of("index", index)
        if plain is not None and ctx.actual_of("index", index) == plain:
            from ..concurrent import build_concurrently

            # the expected schema keeps a plain index of the key's name: made again
            steps.append(Step("index", [build_concurrently(_ATTACHED.sub("", plain)) + ";"],
                              transaction=False, destructive=True))
        return steps
    definition = (d.expected or "").removesuffix(" NOT VALID")
    not_valid = (d.expected or "").endswith(" NOT VALID")
    if d.change == "different" and (d.actual or "") == definition + " NOT VALID":
        return [Step("constraint", [f"ALTER TABLE {table} VALIDATE CONSTRAINT {name};"])]
    drop = [Step("constraint", [f"ALTER TABLE {table} DROP CONSTRAINT {name};"], drop=True,
                 destructive=True)] if d.change == "different" else []
    add = f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}"
    key = _KEY.match(definition)
    if key:
        columns = re.match(r"(?:PRIMARY KEY|UNIQUE) (\(.*\))$", definition)
        if table in ctx.partitioned or not columns or d.change != "missing":
            return [*drop, Step("constraint", [add + ";"], destructive=True,
                                note="takes a long lock: plan it")]
        from ..concurrent import build_concurrently

        index = f"{_split(table)[0]}.{name}"
        index_def = ctx.expected_of("index", index)
        build = (build_concurrently(_ATTACHED.sub("", index_def)) if index_def else
                 f"CREATE UNIQUE INDEX CONCURRENTLY {name} ON {table} {columns.group(1)}")
        if index_def is not None and ctx.actual_of("index", index) == index_def:
            build = f"-- its index {name} is there already"  # a plain index of that name
        return [Step("constraint", [
            f"{build};" if not build.startswith("--") else build,
            f"ALTER TABLE {table} ADD CONSTRAINT {name} {key.group(1)} USING INDEX {name};"],
            transaction=False, note="its index built CONCURRENTLY first")]
    if not re.match(r"(CHECK|FOREIGN KEY) ", definition):
        return [*drop, Step("constraint", [add + ";"], destructive=True)]
    # a CHECK or FOREIGN KEY replaced loses nothing: dropped and added back in one
    # transaction, NOT VALID, then validated (SHARE UPDATE EXCLUSIVE only)
    replace = [f"ALTER TABLE {table} DROP CONSTRAINT {name};"] if d.change == "different" else []
    if table in ctx.partitioned:  # NOT VALID is not available on partitioned tables
        return [Step("constraint", [*replace, add + ";"])]
    if not_valid:
        return [Step("constraint", [*replace, add + " NOT VALID;"])]
    return [Step("constraint", [*replace, f"{add} NOT VALID;"]),
            Step("constraint", [f"ALTER TABLE {table} VALIDATE CONSTRAINT {name};"])]


def _backs_constraint(ctx: FixContext, index: str, side: str) -> bool:
    rows = ctx.expected if side == "expected" else ctx.actual
    schema, short = _split(index)
    return any(kind == "constraint" and _split(name)[1] == short
               and _split(_split(name)[0])[0] == schema and _KEY.match(str(obj.definition))
               for (kind, name), obj in rows.items())


def _index(d: Difference, ctx: FixContext) -> list[Step]:
    steps = _index_steps(d, ctx)
    if _live_kind(ctx, d.object) == "materialized view" or ctx.expected_of(
            "materialized view", d.object) is not None:
        for step in steps:  # after the materialized view is made, before it goes
            step.kind = "view index"
    return steps


def _index_steps(d: Difference, ctx: FixContext) -> list[Step]:
    short = _short(d.name)
    if d.change == "renamed":
        if _backs_constraint(ctx, d.name, "expected"):
            return []  # renamed with its constraint (RENAME CONSTRAINT renames the index)
        return [Step("index", [f"ALTER INDEX {d.actual} RENAME TO {short};"])]
    partitioned = " ON ONLY " in (d.expected or d.actual or "")
    if d.change == "unexpected":
        if _ATTACHED.search(d.actual or ""):
            return []  # goes with its parent index
        if _backs_constraint(ctx, d.name, "actual"):
            return []  # goes with its constraint
        verb = "DROP INDEX" if partitioned else "DROP INDEX CONCURRENTLY"
        return [Step("index", [f"{verb} {d.name};"], drop=True, destructive=True,
                     transaction=partitioned)]
    if _backs_constraint(ctx, d.name, "expected"):
        return []  # created with its constraint
    if _ATTACHED.search(d.expected or "") and d.change == "missing":
        parent = _ATTACHED.search(d.expected or "")
        assert parent is not None
        if ("index", parent.group(1)) not in ctx.actual:
            return []  # comes with its parent index
    definition = _ATTACHED.sub("", d.expected or "").removesuffix(" INVALID")
    if partitioned:
        create = Step("index", [definition.replace(" ON ONLY ", " ON ", 1) + ";"],
                      destructive=True, note="a partitioned index: built on every partition "
                      "under lock (a `-- transactional: false` migration builds it per "
                      "partition)")
    else:
        from ..concurrent import build_concurrently

        create = Step("index", [build_concurrently(definition) + ";"], transaction=False)
    if d.change == "missing":
        return [create]
    on = re.search(r" ON (?:ONLY )?(\S+) USING ", d.actual or "")
    if on and ("table", on.group(1)) in ctx.actual and ("table", on.group(1)) not in ctx.expected:
        return [create]  # the live one is on a table that goes: it goes with it
    if partitioned:
        return [Step("index", [f"DROP INDEX IF EXISTS {d.name};"], drop=True,
                     destructive=True), create]
    # built again beside the old one, which serves queries until the swap
    from ..concurrent import build_concurrently

    fresh = _literal_ident(f"{short.strip(chr(34))}_rebuilt"[:63])
    schema = _split(d.name)[0]
    renamed = re.sub(rf"INDEX {re.escape(short)} ON", f"INDEX {fresh} ON", definition, count=1)
    return [Step("index", [f"DROP INDEX CONCURRENTLY IF EXISTS {schema}.{fresh};",
                           build_concurrently(renamed) + ";",
                           f"DROP INDEX CONCURRENTLY {d.name};",
                           f"ALTER INDEX {schema}.{fresh} RENAME TO {short};"],
                 transaction=False, note="built again beside the old one, then swapped")]


def _view(d: Difference, ctx: FixContext) -> list[Step]:
    kind = d.kind
    if d.change == "unexpected":
        return [Step(kind, [f"DROP {kind.upper()} IF EXISTS {d.name};"], drop=True,
                     destructive=True, touches=[d.name])]
    if d.change == "missing":
        definition = ctx.expected_of(f"{kind} definition", d.name) or ""
        return [Step(kind, [f"CREATE {kind.upper()} {d.name} AS",
                            definition.strip().rstrip(";") + ";"])]
    return []


def _view_definition(d: Difference, ctx: FixContext) -> list[Step]:
    kind = d.kind.removesuffix(" definition")
    if d.change != "different":
        return []  # the view's own missing/unexpected row says it
    body = (d.expected or "").strip().rstrip(";")
    if kind == "view" and _same_columns(ctx, d.object):
        return [Step(kind, [f"CREATE OR REPLACE VIEW {d.name} AS", body + ";"])]
    # CREATE OR REPLACE cannot rename, drop or retype a column: dropped and created again
    # around the changes, with the views that read it (``touches`` its own name)
    return [Step(kind, [], touches=[d.name])]


def _same_columns(ctx: FixContext, view: str) -> bool:
    want = {(o.name, o.definition) for o in ctx.expected_named("column", view + ".")}
    have = {(o.name, o.definition) for o in ctx.actual_named("column", view + ".")}
    return want == have


def _trigger(d: Difference, ctx: FixContext) -> list[Step]:
    table, name = _split(d.name)
    if d.change == "unexpected":
        return [Step("trigger", [f"DROP TRIGGER {name} ON {table};"], drop=True,
                     destructive=True)]
    states = re.compile(r" \[(DISABLED|ENABLED REPLICA|ENABLED ALWAYS)\]$")
    want, have = d.expected or "", d.actual or ""
    state = states.search(want)
    verb = {"DISABLED": "DISABLE", "ENABLED REPLICA": "ENABLE REPLICA",
            "ENABLED ALWAYS": "ENABLE ALWAYS"}.get(state.group(1) if state else "", "")
    enable = [f"ALTER TABLE {table} {verb} TRIGGER {name};"] if verb else []
    if d.change == "different" and states.sub("", want) == states.sub("", have):
        return [Step("trigger", [f"ALTER TABLE {table} {verb or 'ENABLE'} TRIGGER {name};"])]
    create = states.sub("", want) + ";"
    if d.change == "missing":
        return [Step("trigger", [create, *enable])]
    return [Step("trigger", [f"DROP TRIGGER {name} ON {table};", create, *enable])]


def _function(d: Difference, ctx: FixContext) -> list[Step]:
    kind = d.kind
    if d.change == "unexpected":
        return [Step("function", [f"DROP {kind.upper()} IF EXISTS {d.name};"], drop=True,
                     destructive=True, touches=[d.name])]
    create = (d.expected or "").rstrip().rstrip(";") + ";"
    if d.change == "missing":
        return [Step("function", [create])]
    if _head(d.expected) == _head(d.actual):
        return [Step("function", [create])]
    # another return type or argument names: CREATE OR REPLACE refuses
    return [Step("function", [f"DROP {kind.upper()} {d.name};", create], destructive=True,
                 touches=[d.name], note="its return type or argument names changed")]


def _head(definition: str | None) -> str:
    """A function definition's name, arguments and RETURNS lines."""
    return "\n".join((definition or "").splitlines()[:2])


def _sequence(d: Difference, ctx: FixContext) -> list[Step]:
    if d.change == "different":  # persistence (a table SET UNLOGGED takes its sequences)
        verb = "SET UNLOGGED" if (d.expected or "").startswith("UNLOGGED") else "SET LOGGED"
        return [Step("sequence", [f"ALTER SEQUENCE {d.name} {verb};"])]
    owned = _owner_of(ctx, d.name, "expected" if d.change == "missing" else "actual")
    if owned is not None and _is_identity(ctx, owned, "expected" if d.change == "missing"
                                          else "actual"):
        return []  # an identity's sequence comes and goes with the identity
    if d.change == "unexpected":
        return [Step("sequence", [f"DROP SEQUENCE IF EXISTS {d.name};"], drop=True,
                     destructive=True, touches=[d.name])]
    definition = ctx.expected_of("sequence definition", d.name) or ""
    options = re.sub(r" OWNED BY .*$", "", definition)
    steps = [Step("sequence", [f"CREATE SEQUENCE {d.name} {options};"])]
    if owned is not None:
        steps.append(Step("sequence owner", [f"ALTER SEQUENCE {d.name} OWNED BY {owned};"]))
    return steps


def _owner_of(ctx: FixContext, sequence: str, side: str) -> str | None:
    rows = ctx.expected if side == "expected" else ctx.actual
    found = rows.get(("sequence definition", sequence))
    match = re.search(r" OWNED BY (.+)$", str(found.definition)) if found else None
    if match is None:
        return None
    return f"{_split(sequence)[0]}.{match.group(1)}"


def _is_identity(ctx: FixContext, column: str, side: str) -> bool:
    definition = (ctx.expected_of if side == "expected" else ctx.actual_of)("column", column)
    return definition is not None and bool(_column_parts(definition)["identity"])


def _sequence_definition(d: Difference, ctx: FixContext) -> list[Step]:
    if d.change != "different":
        return []  # the sequence's own row says it
    want = re.sub(r" OWNED BY .*$", "", d.expected or "")
    out = [f"ALTER SEQUENCE {d.name} {want}"
           + ("" if " CYCLE" in want else " NO CYCLE") + ";"]
    owner = re.search(r" OWNED BY (.+)$", d.expected or "")
    if owner:
        out.append(f"ALTER SEQUENCE {d.name} OWNED BY {_split(d.name)[0]}.{owner.group(1)};")
    elif " OWNED BY " in (d.actual or ""):
        out.append(f"ALTER SEQUENCE {d.name} OWNED BY NONE;")
    return [Step("sequence owner", out)]

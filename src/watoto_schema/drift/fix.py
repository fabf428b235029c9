"""A script that brings a drifted database back to the expected schema, safe parts only.

Safe means: no data is lost, and no long ACCESS EXCLUSIVE lock is taken. Indexes are built
``CONCURRENTLY``; constraints are added ``NOT VALID`` and then validated (which only takes
SHARE UPDATE EXCLUSIVE); a missing NOT NULL goes through a validated CHECK first so
``SET NOT NULL`` needs no table scan; views and functions are replaced in place.
Everything else (drops, type changes, missing tables, partitions) is printed as a
commented-out line for a person to decide.
"""

from __future__ import annotations

import re

from .model import Difference, DriftReport

_ORDER = ["schema", "extension", "function", "procedure", "column", "constraint", "index",
          "view definition", "trigger"]
_COLUMN = re.compile(r"^(?P<type>.*?)(?: COLLATE (?P<collation>\S+))?(?P<notnull> NOT NULL)?"
                     r"(?: DEFAULT (?P<default>.*?))?(?: (?P<generated>GENERATED .*))?$")


def _split(name: str) -> tuple[str, str]:
    """``schema.table.column`` -> (``schema.table``, ``column``)."""
    head, _, tail = name.rpartition(".")
    return head, tail


def _column_parts(definition: str | None) -> dict[str, str | None]:
    match = _COLUMN.match(definition or "")
    assert match is not None
    return match.groupdict()


def _concurrently(index_def: str) -> str:
    from ..concurrent import build_concurrently

    return build_concurrently(index_def)


def _index_short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def fix_sql(report: DriftReport) -> str:
    """Return the fix script for ``report``, safe statements first-class, the rest commented."""
    partitioned = {name for name, kind in report.relations.items()
                   if kind == "partitioned table"}
    missing_relations = {d.name for d in report.differences
                         if d.change == "missing" and d.kind in ("table", "view")}
    lines = ["-- watoto-schema drift --sql", f"-- target: {report.target}",
             "-- Safe statements run as they are; commented lines need a person's decision.",
             "-- Run with psql (no -1): CONCURRENTLY statements cannot run in a transaction.",
             ""]
    if report.in_sync:
        lines.append("-- in sync: nothing to do")
    constraint_indexes = {
        (d.object, _split(d.name)[1]) for d in report.differences
        if d.kind == "constraint" and d.change == "missing"
        and re.match(r"(PRIMARY KEY|UNIQUE) ", d.expected or "")}
    ordered = sorted(report.differences,
                     key=lambda d: (_ORDER.index(d.kind) if d.kind in _ORDER else 99, d.name))
    for diff in ordered:
        if diff.object in missing_relations and diff.name != diff.object:
            continue  # comes with its table or view
        if diff.kind == "column" and report.relations.get(diff.object) != "table" \
                and diff.object in report.relations and diff.object not in partitioned:
            continue  # a view's columns follow its definition
        statements = _fix(diff, partitioned, constraint_indexes)
        lines.append(f"-- {diff.change} {diff.kind} {diff.name}")
        lines.extend(statements)
    return "\n".join(lines) + "\n"


def _comment(text: str) -> list[str]:
    return ["-- " + line for line in text.splitlines()]


def _fix(d: Difference, partitioned: set[str],
         constraint_indexes: set[tuple[str, str]]) -> list[str]:
    if d.kind in ("view", "materialized view", "table") and d.change == "unexpected":
        return _comment(f"DROP {d.kind.upper()} {d.name};")
    if d.kind == "view" and d.change == "missing":
        return ["-- created from its definition below"]
    handler = {
        "index": _fix_index, "constraint": _fix_constraint, "column": _fix_column,
        "view definition": _fix_view, "trigger": _fix_trigger, "function": _fix_function,
        "procedure": _fix_function, "schema": _fix_schema, "extension": _fix_extension,
    }.get(d.kind)
    if handler is None:
        return _comment(f"not fixed automatically: expected {d.expected!r}, found {d.actual!r}")
    return handler(d, partitioned, constraint_indexes)


def _fix_index(d: Difference, partitioned: set[str],
               constraint_indexes: set[tuple[str, str]]) -> list[str]:
    short = _index_short(d.name)
    if d.change == "renamed":
        return [f"ALTER INDEX {d.actual} RENAME TO {short};"]
    if d.change == "unexpected":
        return _comment(f"DROP INDEX CONCURRENTLY {d.name};")
    if (d.object, short) in constraint_indexes:
        return ["-- created with its constraint below"]
    definition = re.sub(r" \[ATTACHED TO \S+\]$", "", d.expected or "").removesuffix(" INVALID")
    if " ON ONLY " in definition:
        return _comment(f"{definition};  -- a partitioned index: build it with a "
                        "`-- transactional: false` migration, which builds it per partition")
    create = _concurrently(definition) + ";"
    if d.change == "missing":
        return [create]
    return [f"DROP INDEX CONCURRENTLY IF EXISTS {d.name};", create]


def _fix_constraint(d: Difference, partitioned: set[str],
                    constraint_indexes: set[tuple[str, str]]) -> list[str]:
    table, name = _split(d.name)
    if d.change == "renamed":
        return [f"ALTER TABLE {table} RENAME CONSTRAINT {_split(d.actual or '')[1]} TO {name};"]
    if d.change == "unexpected":
        return _comment(f"ALTER TABLE {table} DROP CONSTRAINT {name};")
    definition = (d.expected or "").removesuffix(" NOT VALID")
    if d.change == "different" and (d.actual or "") == definition + " NOT VALID":
        return [f"ALTER TABLE {table} VALIDATE CONSTRAINT {name};"]
    key = re.match(r"(PRIMARY KEY|UNIQUE) \((.*)\)$", definition)
    if key:
        if table in partitioned or d.change != "missing":
            return _comment(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition};"
                            "  -- takes a long lock: plan it")
        return [f"CREATE UNIQUE INDEX CONCURRENTLY {name} ON {table} ({key.group(2)});",
                f"ALTER TABLE {table} ADD CONSTRAINT {name} {key.group(1)} USING INDEX {name};"]
    if not re.match(r"(CHECK|FOREIGN KEY) ", definition):
        return _comment(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition};")
    drop = [f"ALTER TABLE {table} DROP CONSTRAINT {name};"] if d.change == "different" else []
    if table in partitioned:  # NOT VALID is not available on partitioned tables
        return ["BEGIN;", *drop, f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition};",
                "COMMIT;"]
    return ["BEGIN;", *drop,
            f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition} NOT VALID;", "COMMIT;",
            f"ALTER TABLE {table} VALIDATE CONSTRAINT {name};"]


def _fix_column(d: Difference, partitioned: set[str],
                constraint_indexes: set[tuple[str, str]]) -> list[str]:
    table, column = _split(d.name)
    if d.change == "unexpected":
        return _comment(f"ALTER TABLE {table} DROP COLUMN {column};")
    want = _column_parts(d.expected)
    if d.change == "missing":
        clause = f"ALTER TABLE {table} ADD COLUMN {column} {want['type']}"
        if want["collation"]:
            clause += f" COLLATE {want['collation']}"
        if want["generated"]:
            return _comment(f"{clause} {want['generated']};  -- rewrites the table")
        if want["default"]:
            clause += f" DEFAULT {want['default']}"
        if want["notnull"] and not want["default"]:
            return _comment(f"{clause} NOT NULL;  -- needs a value for existing rows")
        return [clause + (" NOT NULL;" if want["notnull"] else ";")]
    have = _column_parts(d.actual)
    out: list[str] = []
    for part in ("type", "collation", "generated"):
        if want[part] != have[part]:
            out += _comment(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE {want['type']}"
                            + (f" COLLATE {want['collation']}" if want["collation"] else "")
                            + ";  -- rewrites the table under ACCESS EXCLUSIVE")
            break
    if want["default"] != have["default"]:
        out.append(f"ALTER TABLE {table} ALTER COLUMN {column} "
                   + (f"SET DEFAULT {want['default']};" if want["default"] else "DROP DEFAULT;"))
    if want["notnull"] and not have["notnull"]:
        check = f"{table.rsplit('.', 1)[-1]}_{column}_not_null"[:63]
        out += [f"ALTER TABLE {table} ADD CONSTRAINT {check} CHECK ({column} IS NOT NULL) "
                "NOT VALID;",
                f"ALTER TABLE {table} VALIDATE CONSTRAINT {check};",
                f"ALTER TABLE {table} ALTER COLUMN {column} SET NOT NULL;  -- uses the check",
                f"ALTER TABLE {table} DROP CONSTRAINT {check};"]
    elif have["notnull"] and not want["notnull"]:
        out.append(f"ALTER TABLE {table} ALTER COLUMN {column} DROP NOT NULL;")
    return out


def _fix_view(d: Difference, partitioned: set[str],
              constraint_indexes: set[tuple[str, str]]) -> list[str]:
    if d.change == "unexpected":
        return _comment(f"DROP VIEW {d.name};")
    body = (d.expected or "").strip().rstrip(";")
    return [f"CREATE OR REPLACE VIEW {d.name} AS", f"{body};"]


def _fix_trigger(d: Difference, partitioned: set[str],
                 constraint_indexes: set[tuple[str, str]]) -> list[str]:
    table, name = _split(d.name)
    if d.change == "unexpected":
        return _comment(f"DROP TRIGGER {name} ON {table};")
    states = re.compile(r" \[(DISABLED|ENABLED REPLICA|ENABLED ALWAYS)\]$")
    want, have = d.expected or "", d.actual or ""
    if d.change == "different" and states.sub("", want) == states.sub("", have):
        state = states.search(want)
        verb = {"DISABLED": "DISABLE", "ENABLED REPLICA": "ENABLE REPLICA",
                "ENABLED ALWAYS": "ENABLE ALWAYS"}.get(state.group(1) if state else "", "ENABLE")
        return [f"ALTER TABLE {table} {verb} TRIGGER {name};"]
    create = states.sub("", want) + ";"
    if d.change == "missing":
        return [create]
    return ["BEGIN;", f"DROP TRIGGER {name} ON {table};", create, "COMMIT;"]


def _fix_function(d: Difference, partitioned: set[str],
                  constraint_indexes: set[tuple[str, str]]) -> list[str]:
    if d.change == "unexpected":
        return _comment(f"DROP {d.kind.upper()} {d.name};")
    return [(d.expected or "").rstrip() + ";"]


def _fix_schema(d: Difference, partitioned: set[str],
                constraint_indexes: set[tuple[str, str]]) -> list[str]:
    if d.change == "missing":
        return [f"CREATE SCHEMA {d.name};"]
    return _comment(f"DROP SCHEMA {d.name};")


def _fix_extension(d: Difference, partitioned: set[str],
                   constraint_indexes: set[tuple[str, str]]) -> list[str]:
    match = re.match(r"VERSION (\S+) SCHEMA (\S+)", d.expected or "")
    if d.change == "unexpected" or not match:
        return _comment(f"DROP EXTENSION {d.name};")
    if d.change == "missing":
        return [f"CREATE EXTENSION IF NOT EXISTS {d.name} WITH SCHEMA {match.group(2)} "
                f"VERSION '{match.group(1)}';"]
    return [f"ALTER EXTENSION {d.name} UPDATE TO '{match.group(1)}';"]

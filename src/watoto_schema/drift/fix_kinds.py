"""Fix steps for the kinds drift compares beyond relations and code: enums, domains and their
constraints, composite and range types, collations, row-level security and policies, table
inheritance, comments; and (``column_steps``) the storage, compression and inheritance part
of a column difference.

Every handler takes a ``Difference`` and the ``FixContext`` and returns ``Step``s
(``steps.py``); ``HANDLERS`` maps a difference's kind to its handler. Names in the catalog
rows are already quoted (``quote_ident``), so they go into statements as they are; the
short name of an object inside its parent (a policy of a table, a constraint of a domain)
is the row's name after its ``object`` and a dot. Literals are written with doubled quotes
(``standard_conforming_strings`` is on since PostgreSQL 9.1).
"""

from __future__ import annotations

import re

from .model import Difference
from .steps import FixContext, Handler, Step, literal

# An identifier as quote_ident prints it, and a possibly qualified one.
_IDENT = r'(?:"(?:[^"]|"")*"|[^\s."(),\[\]]+)'
_QNAME = rf"{_IDENT}(?:\.{_IDENT})?"
# ORDER (steps.py) has no place of its own for inheritance: INHERIT must come after the
# child's columns and CHECK constraints (the parent's must be on the child), NO INHERIT
# before the child's columns and constraints are dropped; index is the rank between.
INHERITS_KIND = "index"


def _own(d: Difference) -> str:
    """The short name of what ``d`` names inside its ``object`` (policy, constraint)."""
    return d.name[len(d.object) + 1:] if d.name.startswith(d.object + ".") else d.name


def _split_top(text: str) -> list[str]:
    """Split a comma-separated list at the top level (outside quotes and parentheses)."""
    parts: list[str] = []
    depth, quote, start, i = 0, "", 0, 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == quote:
                if i + 1 < len(text) and text[i + 1] == quote:
                    i += 1
                else:
                    quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
        i += 1
    if text[start:].strip():
        parts.append(text[start:].strip())
    return parts


def _unquote(ident: str) -> str:
    return ident[1:-1].replace('""', '"') if ident.startswith('"') else ident


def _quote(name: str) -> str:
    """Quote an identifier (always; the server folds nothing inside quotes)."""
    return '"' + name.replace('"', '""') + '"'


def _schema_and_name(qname: str) -> tuple[str, str]:
    match = re.fullmatch(rf"({_IDENT})\.({_IDENT})", qname)
    return (match.group(1), match.group(2)) if match else ("", qname)


def _drop(kind: str, d: Difference, statement: str, *, destructive: bool = True) -> list[Step]:
    return [Step(kind, [statement], drop=True, destructive=destructive, touches=[d.name])]


# -- enums -----------------------------------------------------------------------------------

_LABEL = re.compile(r"'((?:[^']|'')*)'")


def _labels(definition: str | None) -> list[str]:
    return [m.replace("''", "'") for m in _LABEL.findall(definition or "")]


def _is_subsequence(short: list[str], long: list[str]) -> bool:
    rest = iter(long)
    return all(any(x == y for y in rest) for x in short)


def _enum(d: Difference, ctx: FixContext) -> list[Step]:
    if d.change == "unexpected":
        return _drop("type", d, f"DROP TYPE {d.name};")
    if d.change == "missing":
        return [Step("type", [f"CREATE TYPE {d.name} AS {d.expected};"])]
    want, have = _labels(d.expected), _labels(d.actual)
    if _is_subsequence(have, want):
        statements, present = [], set(have)
        for i, label in enumerate(want):
            if label in present:
                continue
            after = next((w for w in want[i + 1:] if w in present), None)
            where = (f" BEFORE {literal(after)}" if after is not None
                     else f" AFTER {literal(want[i - 1])}" if i > 0 else "")
            statements.append(f"ALTER TYPE {d.name} ADD VALUE {literal(label)}{where};")
            present.add(label)
        return [Step("type", statements, transaction=False,
                     note="a new enum value cannot be used in the transaction that adds it")]
    return _enum_recreated(d, ctx)


def _columns_of_type(ctx: FixContext, qname: str) -> list[tuple[str, str, str, str]]:
    """The live table columns of type ``qname`` (or arrays of it): (table, column, array
    suffix, definition). format_type writes the type unqualified when it is visible."""
    _, bare = _schema_and_name(qname)
    head = re.compile(rf"^(?:{re.escape(qname)}|{re.escape(bare)})((?:\[\])*)(?: |$)")
    found = []
    for (kind, name), row in sorted(ctx.actual.items()):
        match = head.match(str(row.definition)) if kind == "column" else None
        if match and ("table", row.object) in ctx.actual:
            found.append((str(row.object), name[len(row.object) + 1:], match.group(1),
                          str(row.definition)))
    return found


def _column_default(definition: str | None) -> str | None:
    from .fix import _COLUMN  # fix imports this module: import at call time

    match = _COLUMN.match(definition or "")
    return match.group("default") if match else None


def _enum_recreated(d: Difference, ctx: FixContext) -> list[Step]:
    """Values removed or reordered: the type made again and every column cast to it."""
    schema, bare = _schema_and_name(d.name)
    old_bare = _quote(_unquote(bare)[:55] + "_drift_old")
    old = f"{schema}.{old_bare}" if schema else old_bare
    statements = [f"ALTER TYPE {d.name} RENAME TO {old_bare};",
                  f"CREATE TYPE {d.name} AS {d.expected};"]
    touched = [d.name]
    for table, column, array, definition in _columns_of_type(ctx, d.name):
        default = _column_default(ctx.expected_of("column", f"{table}.{column}")
                                  or definition)
        alter = f"ALTER TABLE {table} ALTER COLUMN {column}"
        if default:
            statements.append(f"{alter} DROP DEFAULT;")
        statements.append(f"{alter} TYPE {d.name}{array} "
                          f"USING {column}::text{array}::{d.name}{array};")
        if default:
            statements.append(f"{alter} SET DEFAULT {default};")
        touched.append(f"{table}.{column}")
    statements.append(f"DROP TYPE {old};")
    removed = sorted(set(_labels(d.actual)) - set(_labels(d.expected)))
    return [Step("type", statements, destructive=True, touches=touched,
                 note="values reordered or removed: the type is made again and its columns "
                 "rewritten under ACCESS EXCLUSIVE" + (
                     f"; rows holding {', '.join(map(literal, removed))} make it fail"
                     if removed else ""))]


# -- domains ---------------------------------------------------------------------------------

_DOMAIN = re.compile(rf"^AS (?P<type>.*?)(?: COLLATE (?P<collation>{_QNAME}))?"
                     r"(?: DEFAULT (?P<default>.*?))?(?P<notnull> NOT NULL)?$")


def _domain_parts(definition: str | None) -> dict[str, str | None]:
    match = _DOMAIN.match(definition or "")
    assert match is not None, definition
    return match.groupdict()


def _domain(d: Difference, ctx: FixContext) -> list[Step]:
    if d.change == "unexpected":
        return _drop("type", d, f"DROP DOMAIN {d.name};")
    if d.change == "missing":
        statements = [f"CREATE DOMAIN {d.name} {d.expected};"]
        for row in sorted(ctx.expected_named("domain constraint", d.name + "."),
                          key=lambda r: str(r.name)):
            if row.object == d.name:
                statements.append(f"ALTER DOMAIN {d.name} ADD CONSTRAINT "
                                  f"{row.name[len(d.name) + 1:]} {row.definition};")
        return [Step("type", statements)]
    want, have = _domain_parts(d.expected), _domain_parts(d.actual)
    if (want["type"], want["collation"]) != (have["type"], have["collation"]):
        return [Step("type", [], unfixable="a domain's base type or collation cannot be "
                     "altered: create a new domain and move the columns to it")]
    statements = []
    if want["default"] != have["default"]:
        statements.append(f"ALTER DOMAIN {d.name} " + (
            f"SET DEFAULT {want['default']};" if want["default"] else "DROP DEFAULT;"))
    if want["notnull"] != have["notnull"]:
        statements.append(f"ALTER DOMAIN {d.name} "
                          + ("SET NOT NULL;" if want["notnull"] else "DROP NOT NULL;"))
    return [Step("type", statements)]


def _domain_constraint(d: Difference, ctx: FixContext) -> list[Step]:
    name, domain = _own(d), d.object
    if d.change == "unexpected":
        if ctx.expected_of("domain", domain) is None:
            return []  # goes with its domain
        return [Step("type", [f"ALTER DOMAIN {domain} DROP CONSTRAINT {name};"], drop=True)]
    if ctx.actual_of("domain", domain) is None:
        return []  # made with its domain
    expected = d.expected or ""
    definition = expected.removesuffix(" NOT VALID")
    validate = [] if expected.endswith(" NOT VALID") else [
        f"ALTER DOMAIN {domain} VALIDATE CONSTRAINT {name};"]
    if d.change == "different" and d.actual == definition + " NOT VALID" and validate:
        return [Step("type", validate)]
    add = f"ALTER DOMAIN {domain} ADD CONSTRAINT {name} {definition} NOT VALID;"
    if d.change == "missing":
        return [Step("type", [add, *validate], transaction=False)]
    return [Step("type", [f"ALTER DOMAIN {domain} DROP CONSTRAINT {name};", add, *validate])]


# -- composite and range types, collations -----------------------------------------------------

def _attributes(definition: str | None) -> list[tuple[str, str]]:
    body = (definition or "").removeprefix("AS (").removesuffix(")")
    out = []
    for part in _split_top(body):
        match = re.match(rf"({_IDENT}) (.*)$", part)
        assert match is not None, part
        out.append((match.group(1), match.group(2)))
    return out


def _composite(d: Difference, ctx: FixContext) -> list[Step]:
    if d.change == "unexpected":
        return _drop("type", d, f"DROP TYPE {d.name};")
    if d.change == "missing":
        return [Step("type", [f"CREATE TYPE {d.name} {d.expected};"])]
    want, have = _attributes(d.expected), _attributes(d.actual)
    same = 0  # attributes kept in place: the common prefix by name
    while same < min(len(want), len(have)) and want[same][0] == have[same][0]:
        same += 1
    statements = [f"ALTER TYPE {d.name} DROP ATTRIBUTE {name};" for name, _ in have[same:]]
    statements += [f"ALTER TYPE {d.name} ALTER ATTRIBUTE {name} TYPE {kind};"
                   for (name, kind), (_, had) in zip(want[:same], have[:same], strict=True)
                   if kind != had]
    adds = [f"ALTER TYPE {d.name} ADD ATTRIBUTE {name} {kind};" for name, kind in want[same:]]
    if not statements:
        return [Step("type", adds)]
    return [Step("type", statements + adds, destructive=True, touches=[d.name],
                 note="attributes dropped or retyped (ALTER TYPE refuses while a table "
                 "column uses the type)")]


def _range(d: Difference, ctx: FixContext) -> list[Step]:
    if d.change == "unexpected":
        return _drop("type", d, f"DROP TYPE {d.name};")
    create = f"CREATE TYPE {d.name} {d.expected};"
    if d.change == "missing":
        return [Step("type", [create])]
    return [Step("type", [f"DROP TYPE {d.name};", create], destructive=True, touches=[d.name],
                 note="a range type cannot be altered: dropped and made again")]


def _collation(d: Difference, ctx: FixContext) -> list[Step]:
    if d.change == "unexpected":
        return _drop("collation", d, f"DROP COLLATION {d.name};")
    create = f"CREATE COLLATION {d.name} ({d.expected});"
    if d.change == "missing":
        return [Step("collation", [create])]
    return [Step("collation", [f"DROP COLLATION {d.name};", create], destructive=True,
                 note="a collation cannot be altered: dropped and made again (refused while "
                 "a column or index uses it)")]


# -- row-level security ----------------------------------------------------------------------

def _rls(d: Difference, ctx: FixContext) -> list[Step]:
    want, have = set((d.expected or "").split()), set((d.actual or "").split())
    statements = []
    for flag, on, off in (("ENABLED", "ENABLE", "DISABLE"), ("FORCED", "FORCE", "NO FORCE")):
        if (flag in want) != (flag in have):
            statements.append(f"ALTER TABLE {d.object} {on if flag in want else off} "
                              "ROW LEVEL SECURITY;")
    return [Step("rls", statements)]


_POLICY = re.compile(r"^AS (?P<permissive>\w+) FOR (?P<command>\w+) TO (?P<roles>.*?)"
                     r"(?: USING \((?P<using>.*?)\))?(?: WITH CHECK \((?P<check>.*)\))?$")


def _policy(d: Difference, ctx: FixContext) -> list[Step]:
    name, table = _own(d), d.object
    drop = f"DROP POLICY {name} ON {table};"
    if d.change == "unexpected":
        return [Step("policy", [drop], drop=True)]
    create = f"CREATE POLICY {name} ON {table} {d.expected};"
    if d.change == "missing":
        return [Step("policy", [create])]
    want, have = _POLICY.match(d.expected or ""), _POLICY.match(d.actual or "")
    assert want is not None and have is not None, (d.expected, d.actual)
    if (want["permissive"], want["command"]) != (have["permissive"], have["command"]) or (
            have["using"] and not want["using"]) or (have["check"] and not want["check"]):
        return [Step("policy", [drop, create],
                     note="its command, kind or a removed clause: dropped and made again")]
    clauses = [f"TO {want['roles']}" if want["roles"] != have["roles"] else "",
               f"USING ({want['using']})" if want["using"] != have["using"] else "",
               f"WITH CHECK ({want['check']})" if want["check"] != have["check"] else ""]
    return [Step("policy", [f"ALTER POLICY {name} ON {table} "
                            + " ".join(c for c in clauses if c) + ";"])]


# -- inheritance -----------------------------------------------------------------------------

def _inherits(d: Difference, ctx: FixContext) -> list[Step]:
    want, have = _split_top(d.expected or ""), _split_top(d.actual or "")
    kept = [p for p in have if p in want]
    if kept != [p for p in want if p in have]:
        kept = []  # the same parents in another order: detach and attach them all again
    detach = [f"ALTER TABLE {d.name} NO INHERIT {p};" for p in have if p not in kept]
    attach = [f"ALTER TABLE {d.name} INHERIT {p};" for p in want if p not in kept]
    steps = []
    if detach:
        steps.append(Step(INHERITS_KIND, detach, drop=True, touches=[d.name],
                          note="the child keeps its rows and columns"))
    if attach:
        steps.append(Step(INHERITS_KIND, attach, touches=[d.name]))
    return steps


# -- comments --------------------------------------------------------------------------------

_COLUMN_TYPES = ("table column", "view column", "materialized view column",
                 "foreign table column", "composite type column")
_ON_TABLE = {"table constraint": "CONSTRAINT {} ON {}",
             "domain constraint": "CONSTRAINT {} ON DOMAIN {}",
             "trigger": "TRIGGER {} ON {}", "policy": "POLICY {} ON {}", "rule": "RULE {} ON {}"}
_PLAIN_TYPES = ("materialized view", "foreign table", "table", "view", "index", "sequence",
                "type", "domain", "schema", "function", "procedure", "aggregate", "collation",
                "conversion", "statistics object", "text search configuration",
                "text search dictionary", "text search parser", "text search template",
                "foreign-data wrapper", "server", "event trigger", "publication",
                "subscription", "cast", "operator", "operator class", "operator family",
                "access method", "language", "transform")


def comment_target(name: str) -> str | None:
    """``COMMENT ON`` what, for a comment row's name (``<type> <identity>``)."""
    for kind in sorted((*_COLUMN_TYPES, *_ON_TABLE, *_PLAIN_TYPES), key=len, reverse=True):
        if not name.startswith(kind + " "):
            continue
        identity = name[len(kind) + 1:]
        if kind in _COLUMN_TYPES:
            return f"COLUMN {identity}"
        if kind in _ON_TABLE:
            match = re.fullmatch(rf"({_IDENT}) on (.+)", identity)
            return _ON_TABLE[kind].format(*match.groups()) if match else None
        return f"{kind.upper()} {identity}"
    return None


def _comment(d: Difference, ctx: FixContext) -> list[Step]:
    target = comment_target(d.name)
    if target is None:
        return [Step("comment", [], unfixable=f"no COMMENT ON form known for {d.name}")]
    text = "NULL" if d.change == "unexpected" else literal(d.expected or "")
    return [Step("comment", [f"COMMENT ON {target} IS {text};"],
                 drop=d.change == "unexpected")]


# -- a column's storage, compression and inheritance -------------------------------------------

_STORAGE_OF_TYPE = (
    "DO $watoto$ BEGIN EXECUTE (SELECT format('ALTER TABLE %s ALTER COLUMN %s SET STORAGE %s', "
    "{table}, {column}, CASE t.typstorage WHEN 'p' THEN 'PLAIN' WHEN 'e' THEN 'EXTERNAL' "
    "WHEN 'm' THEN 'MAIN' ELSE 'EXTENDED' END) FROM pg_attribute a JOIN pg_type t ON t.oid = "
    "a.atttypid WHERE a.attrelid = {table}::regclass AND quote_ident(a.attname) = {column}); "
    "END $watoto$;")


def column_steps(d: Difference, ctx: FixContext) -> list[Step]:
    """The part of a column difference this module owns: storage and compression (set to
    the expected, or back to the type's default), and whether the column is inherited
    (converged by the table's ``inherits`` step where PostgreSQL allows it). For the
    column handler of ``fix.py`` to add to its own steps; [] when nothing of it differs."""
    from .fix import _COLUMN

    if d.change == "unexpected":
        return []
    want = _COLUMN.match(d.expected or "")
    have = _COLUMN.match(d.actual or "") if d.change == "different" else None
    if want is None:
        return []
    table, column = d.object, _own(d)
    alter = f"ALTER TABLE {table} ALTER COLUMN {column}"
    statements = []
    storage = have["storage"] if have else None
    if want["storage"] != storage:
        statements.append(f"{alter} SET STORAGE {want['storage']};" if want["storage"] else
                          _STORAGE_OF_TYPE.format(table=literal(table),
                                                  column=literal(column)))
    compression = have["compression"] if have else None
    if want["compression"] != compression:
        statements.append(f"{alter} SET COMPRESSION {want['compression'] or 'default'};")
    steps = [Step("column", statements)] if statements else []
    inherited = have["inherited"] if have else None
    if have and want["inherited"] != inherited and not _inherits_converges(
            ctx, table, want["inherited"], inherited):
        steps.append(Step("column", [], unfixable=(
            "PostgreSQL has no statement that makes a column inherited only (not local): "
            "the table must be made again with CREATE TABLE ... INHERITS"
            if want["inherited"] == "INHERITED" else
            "only detaching and attaching the table again (NO INHERIT, INHERIT) makes an "
            "inherited column local too")))
    return steps


def _inherits_converges(ctx: FixContext, table: str, want: str | None,
                        have: str | None) -> bool:
    """Whether the table's ``inherits`` step turns ``have`` into ``want``: NO INHERIT
    leaves a column local only, INHERIT makes a local column ``INHERITED, LOCAL``."""
    if ctx.expected_of("inherits", table) == ctx.actual_of("inherits", table):
        return False
    return want is None or (want == "INHERITED, LOCAL" and have is None)


HANDLERS: dict[str, Handler] = {
    "enum": _enum, "domain": _domain, "domain constraint": _domain_constraint,
    "composite type": _composite, "range type": _range, "collation": _collation,
    "row level security": _rls, "policy": _policy, "inherits": _inherits,
    "comment": _comment,
}

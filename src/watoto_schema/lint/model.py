"""What the linter knows: the schema the migration set builds, and PostgreSQL's locks.

The model is built by walking every migration in order (the ones linted and the ones only
read for context, e.g. already applied). It knows tables (columns with types, NOT NULL,
defaults, primary key, indexes, CHECK and foreign-key constraints, partitioning), indexes by
name, and the volatility of functions the migrations create. It is deliberately partial:
whatever it does not know is treated as "an existing object of unknown shape".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# -- locks ---------------------------------------------------------------------------------

# What each table lock mode blocks, in the application's terms (PostgreSQL's conflict table).
BLOCKS = {
    "ACCESS EXCLUSIVE": "every read and write of the table",
    "EXCLUSIVE": "every write of the table (reads go on)",
    "SHARE ROW EXCLUSIVE": "every write of the table (reads go on)",
    "SHARE": "every write of the table (reads go on)",
    "SHARE UPDATE EXCLUSIVE": "other schema changes and VACUUM (reads and writes go on)",
    "ROW EXCLUSIVE": "SHARE and stronger locks: schema changes and index builds",
    "ROW LOCKS": "concurrent UPDATE, DELETE and SELECT FOR UPDATE of the same rows",
}
# LOCK TABLE's modes, by pglast's number (lockdefs.h).
LOCK_MODES = {1: "ACCESS SHARE", 2: "ROW SHARE", 3: "ROW EXCLUSIVE", 4: "SHARE UPDATE EXCLUSIVE",
              5: "SHARE", 6: "SHARE ROW EXCLUSIVE", 7: "EXCLUSIVE", 8: "ACCESS EXCLUSIVE"}
# Modes that conflict with ROW EXCLUSIVE, i.e. block INSERT, UPDATE and DELETE.
BLOCKS_WRITES = {"SHARE", "SHARE ROW EXCLUSIVE", "EXCLUSIVE", "ACCESS EXCLUSIVE"}

# -- types ---------------------------------------------------------------------------------

INTEGER_TYPES = {"int2": 32_767, "int4": 2_147_483_647, "smallserial": 32_767,
                 "serial2": 32_767, "serial": 2_147_483_647, "serial4": 2_147_483_647}
SERIAL_TYPES = {"smallserial", "serial2", "serial", "serial4", "bigserial", "serial8"}
# Integer widths, for "narrowing": a smaller number holds fewer values.
INTEGER_WIDTH = {"int2": 2, "int4": 4, "int8": 8, "smallserial": 2, "serial2": 2, "serial": 4,
                 "serial4": 4, "bigserial": 8, "serial8": 8}
# Volatile functions a DEFAULT commonly calls (a volatile default rewrites the table).
VOLATILE_FUNCTIONS = {"random", "gen_random_uuid", "uuid_generate_v1", "uuid_generate_v1mc",
                      "uuid_generate_v4", "clock_timestamp", "timeofday", "nextval",
                      "txid_current", "pg_current_xact_id", "setseed", "random_normal"}


@dataclass(frozen=True)
class Type:
    """A column type as written: its name (pg_catalog's), modifiers and array-ness."""

    name: str
    mods: tuple[int | None, ...] = ()
    array: bool = False

    def __str__(self) -> str:
        mods = f"({', '.join('?' if m is None else str(m) for m in self.mods)})" if self.mods \
            else ""
        return f"{self.name}{mods}{'[]' if self.array else ''}"


def type_of(type_name: Any) -> Type:
    """The ``Type`` of a pglast ``TypeName`` node."""
    names = [n.sval for n in type_name.names]
    name = names[-1].lower()
    mods: list[int | None] = []
    for mod in type_name.typmods or ():
        value = getattr(getattr(mod, "val", None), "ival", None)
        mods.append(value if isinstance(value, int) else None)
    return Type(name, tuple(mods), bool(type_name.arrayBounds))


def is_rewrite_free_change(old: Type | None, new: Type) -> bool:
    """Whether ALTER COLUMN ... TYPE from ``old`` to ``new`` needs neither a rewrite nor a
    scan of the table (the binary-compatible changes PostgreSQL recognises)."""
    if old is None or old.array != new.array:
        return False
    if old == new:
        return True
    text_like = {"varchar", "text", "bpchar"}
    if old.name == "varchar" and new.name == "text":
        return True
    if old.name == "varchar" and new.name == "varchar":
        return not new.mods or (bool(old.mods) and _wider(old.mods[0], new.mods[0]))
    if old.name == "text" and new.name == "varchar":
        return not new.mods
    if old.name in text_like and old.name == new.name == "bpchar":
        return False  # char(n) pads: any change of n rewrites
    if old.name == new.name == "numeric":
        if not new.mods:
            return True
        if not old.mods:
            return False
        old_scale = old.mods[1] if len(old.mods) > 1 else 0
        new_scale = new.mods[1] if len(new.mods) > 1 else 0
        return old_scale == new_scale and _wider(old.mods[0], new.mods[0])
    if old.name == new.name and old.name in ("varbit", "bit varying"):
        return not new.mods or (bool(old.mods) and _wider(old.mods[0], new.mods[0]))
    return old.name == "cidr" and new.name == "inet"


def _wider(old: int | None, new: int | None) -> bool:
    return old is not None and new is not None and new >= old


def narrows(old: Type | None, new: Type) -> str | None:
    """Why ``new`` holds fewer values than ``old`` (a type narrowing), or None."""
    if old is None or old.array != new.array:
        return None
    if old.name in INTEGER_WIDTH and new.name in INTEGER_WIDTH:
        if INTEGER_WIDTH[new.name] < INTEGER_WIDTH[old.name]:
            return f"{new} holds smaller numbers than {old}"
        return None
    length_types = {"varchar", "bpchar", "varbit", "bit"}
    if new.name in length_types and new.mods and new.mods[0] is not None:
        if old.name == "text" or (old.name in length_types and not old.mods):
            return f"{new} is shorter than unlimited {old}"
        if old.name in length_types and old.mods and old.mods[0] is not None \
                and new.mods[0] < old.mods[0]:
            return f"{new} is shorter than {old}"
    if new.name == "numeric" and new.mods:
        if old.name in INTEGER_WIDTH or (old.name == "numeric" and not old.mods):
            return f"{new} holds fewer digits than {old}"
        if old.name == "numeric" and old.mods:
            old_scale = old.mods[1] if len(old.mods) > 1 else 0
            new_scale = new.mods[1] if len(new.mods) > 1 else 0
            old_int = (old.mods[0] or 0) - (old_scale or 0)
            new_int = (new.mods[0] or 0) - (new_scale or 0)
            if new_int < old_int or (new_scale or 0) < (old_scale or 0):
                return f"{new} holds fewer digits than {old}"
    if old.name in ("text", "varchar", "bpchar") and new.name not in (
            "text", "varchar", "bpchar", "citext"):
        return f"not every {old} value converts to {new}"
    return None


# -- the schema ----------------------------------------------------------------------------

@dataclass
class Column:
    name: str
    type: Type | None
    not_null: bool = False
    has_default: bool = False


@dataclass
class Check:
    name: str | None
    not_null_of: str | None  # the column of a `CHECK (col IS NOT NULL)`
    validated: bool
    columns: frozenset[str] = frozenset()


@dataclass
class Table:
    name: str
    origin: str  # the file that created it ("" when it came from outside the set)
    columns: dict[str, Column] = field(default_factory=dict)
    primary_key: tuple[str, ...] | None = None
    indexes: dict[str, tuple[str, ...]] = field(default_factory=dict)  # name -> leading cols
    unique: set[str] = field(default_factory=set)  # names of the unique indexes
    checks: list[Check] = field(default_factory=list)
    partitioned: bool = False
    partition_of: str | None = None
    has_default_partition: bool = False

    def has_index_on(self, columns: tuple[str, ...]) -> bool:
        """Whether an index serves lookups by ``columns``: its leading columns are them (in
        any order), or it is unique on some of them."""
        wanted = set(columns)
        keys = [(key, name in self.unique) for name, key in self.indexes.items()]
        if self.primary_key:
            keys.append((self.primary_key, True))
        return any(set(key[:len(wanted)]) == wanted or (unique and set(key) <= wanted)
                   for key, unique in keys)


@dataclass
class Schema:
    """The objects the migrations built so far."""

    tables: dict[str, Table] = field(default_factory=dict)
    index_table: dict[str, str] = field(default_factory=dict)  # index name -> table name
    index_origin: dict[str, str] = field(default_factory=dict)  # index name -> creating file
    functions: dict[str, str] = field(default_factory=dict)  # name -> i | s | v
    others: dict[str, str] = field(default_factory=dict)  # "kind name" -> creating file


def name_of(range_var: Any) -> str:
    """A relation's name as the model keys it: ``schema.name``, or ``name`` in public."""
    schema = getattr(range_var, "schemaname", None)
    return range_var.relname if schema in (None, "public") else f"{schema}.{range_var.relname}"


def dotted(names: Any) -> str:
    """``schema.name`` of a list of pglast ``String`` nodes (public dropped)."""
    parts = [n.sval for n in names if hasattr(n, "sval")]
    if len(parts) > 1 and parts[0] == "public":
        parts = parts[1:]
    return ".".join(parts)

"""Comparing two catalog snapshots: differences by kind and name, renames paired up, a
partitioned index reported once."""

from __future__ import annotations

import re
from collections.abc import Iterable
from collections.abc import Set as AbstractSet

from ..catalog import SchemaObject
from .model import Difference


def compare(expected: Iterable[SchemaObject], actual: Iterable[SchemaObject]) -> list[Difference]:
    """Differences between two snapshots, renamed constraints/indexes paired up."""
    exp = {(o.kind, o.name): o for o in expected}
    act = {(o.kind, o.name): o for o in actual}
    diffs: list[Difference] = []
    for key in sorted(exp.keys() | act.keys()):
        e, a = exp.get(key), act.get(key)
        if e and a:
            if e.definition != a.definition and (
                    _canonical(e.definition) != _canonical(a.definition)):
                diffs.append(Difference(e.object, e.kind, e.name, "different",
                                        e.definition, a.definition))
        elif e:
            diffs.append(Difference(e.object, e.kind, e.name, "missing", e.definition, None))
        elif a:
            diffs.append(Difference(a.object, a.kind, a.name, "unexpected", None, a.definition))
    return _collapse_partition_indexes(_pair_renames(diffs, _key_indexes(exp.values()),
                                                     _key_indexes(act.values())))


_KEY = re.compile(r"^(PRIMARY KEY|UNIQUE|EXCLUDE) ")


def _key_indexes(objects: Iterable[SchemaObject]) -> set[str]:
    """The indexes behind a primary key, unique or exclusion constraint (by index name:
    such an index is named after its constraint, in the table's schema)."""
    found = set()
    for o in objects:
        if o.kind == "constraint" and _KEY.match(o.definition):
            table, _, constraint = o.name.rpartition(".")
            schema = table.rpartition(".")[0]
            found.add(f"{schema}.{constraint}")
    return found


_ATTACHED = re.compile(r" \[ATTACHED TO (\S+)\]$")
_CAST_ARRAY = re.compile(r"\(ARRAY\[((?:'(?:[^']|'')*'::[a-z][a-z ]*[a-z](?:, )?)+)\]\)::"
                         r"([a-z][a-z ]*[a-z])\[\]")
_CAST_ELEMENT = re.compile(r"'(?:[^']|'')*'::[a-z][a-z ]*[a-z]")


def _canonical(definition: str) -> str:
    """A definition as it reads after a pg_dump/pg_restore round trip (#11).

    ``CHECK (v IN ('a', 'b'))`` on a varchar column is stored as ``(ARRAY['a'::character
    varying, ...])::text[]`` when created, but a restored copy deparses it as
    ``ARRAY[('a'::character varying)::text, ...]``: the same constraint, written twice.
    """
    def element_casts(match: re.Match[str]) -> str:
        cast = match.group(2)
        return "ARRAY[" + ", ".join(f"({e})::{cast}" for e in
                                    _CAST_ELEMENT.findall(match.group(1))) + "]"

    return _CAST_ARRAY.sub(element_casts, definition)


def _collapse_partition_indexes(diffs: list[Difference]) -> list[Difference]:
    """Report a partitioned index once: drop the rows of its partitions' attached copies
    when the parent index itself differs in the same way."""
    parents = {(d.name, d.change) for d in diffs if d.kind == "index"}
    kept = []
    for d in diffs:
        match = _ATTACHED.search(d.expected or d.actual or "") if d.kind == "index" else None
        if match and (match.group(1), d.change) in parents:
            continue
        kept.append(d)
    return kept


def _unnamed(diff: Difference, definition: str | None) -> str:
    """A definition with the object's own name taken out, to spot renames."""
    text = definition or ""
    if diff.kind == "index":
        short = diff.name.rsplit(".", 1)[-1]
        text = re.sub(rf"INDEX {re.escape(short)} ON", "INDEX ? ON", text, count=1)
    return text


def _pair_renames(diffs: list[Difference], expected_keys: AbstractSet[str],
                  actual_keys: AbstractSet[str]) -> list[Difference]:
    """Pair a missing constraint or index with an unexpected one of the same definition as
    a rename; an index behind a key constraint never pairs with a plain one (renaming it
    would not make the constraint)."""
    missing = [d for d in diffs if d.change == "missing" and d.kind in ("constraint", "index")]
    unexpected = [d for d in diffs if d.change == "unexpected"
                  and d.kind in ("constraint", "index")]
    for m in missing:
        for u in unexpected:
            if (u.kind == m.kind and u.object == m.object
                    and _unnamed(u, u.actual) == _unnamed(m, m.expected)
                    and (m.kind != "index"
                         or (m.name in expected_keys) == (u.name in actual_keys))):
                m.change, m.actual = "renamed", u.name
                diffs.remove(u)
                unexpected.remove(u)
                break
    # A partition's copy of a partitioned index, attached to the same parent index with the
    # same definition, under another name: PostgreSQL names the copies itself for a plain
    # CREATE INDEX, a concurrent build per partition names them (concurrent.py); the name
    # of a copy carries nothing (docs/drift.md).
    return [d for d in diffs if not (d.kind == "index" and d.change == "renamed"
                                     and _ATTACHED.search(d.expected or ""))]

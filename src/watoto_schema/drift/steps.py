"""The fix script's vocabulary: a ``Step`` per thing to do, the context a handler reads,
and the order steps run in.

Each difference becomes steps (``fix.py`` for relations and code, ``fix_kinds.py`` for types,
collations, row-level security, inheritance, storage and comments). The script runs every
*drop* first, the most dependent kinds first (views before tables, tables before types),
then every *create or change* in dependency order (types before tables, tables before
views and functions). A view that reads something a step drops or changes is dropped
before it and created again after (``Step.touches``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .model import Difference, DriftReport

# Creates and changes run in this order; drops in the reverse one.
ORDER = ["schema", "extension", "collation", "type", "sequence", "function", "table",
         "partition", "column", "constraint", "index", "sequence owner", "view",
         "materialized view", "view index", "trigger", "rls", "policy", "privilege",
         "comment"]


@dataclass
class Step:
    """Statements for one difference (or part of one)."""

    kind: str  # one of ORDER: where the step sorts
    sql: list[str]  # the statements, in order
    drop: bool = False  # a removal: runs in the drop pass (reverse ORDER)
    destructive: bool = False  # loses data or an object, or locks for long: commented
                               # out unless --destructive
    note: str | None = None  # a comment printed above the statements
    transaction: bool = True  # False: must not run inside BEGIN ... COMMIT
    # Objects whose change or drop the dependent views must not see: relations
    # (schema.table), columns (schema.table.column), functions (schema.f(args)) or types.
    touches: list[str] = field(default_factory=list)
    unfixable: str | None = None  # no statement can converge it: why (reported, exit 2)


@dataclass
class FixContext:
    """What a handler may read besides its difference."""

    report: DriftReport
    destructive: bool
    expected: dict[tuple[str, str], Any] = field(default_factory=dict)  # (kind, name) -> obj
    actual: dict[tuple[str, str], Any] = field(default_factory=dict)
    partitioned: set[str] = field(default_factory=set)  # partitioned tables (expected)

    @classmethod
    def of(cls, report: DriftReport, destructive: bool) -> FixContext:
        return cls(report, destructive,
                   {(o.kind, o.name): o for o in report.expected_objects},
                   {(o.kind, o.name): o for o in report.actual_objects},
                   {n for n, k in report.relations.items() if k == "partitioned table"})

    def expected_of(self, kind: str, name: str) -> str | None:
        found = self.expected.get((kind, name))
        return None if found is None else str(found.definition)

    def actual_of(self, kind: str, name: str) -> str | None:
        found = self.actual.get((kind, name))
        return None if found is None else str(found.definition)

    def expected_named(self, kind: str, prefix: str) -> list[Any]:
        """Expected objects of ``kind`` whose name starts with ``prefix`` (e.g. the
        columns of a table: ``("column", "public.t.")``)."""
        return [o for (k, n), o in self.expected.items() if k == kind and n.startswith(prefix)]

    def actual_named(self, kind: str, prefix: str) -> list[Any]:
        return [o for (k, n), o in self.actual.items() if k == kind and n.startswith(prefix)]

    def dependent_views(self, names: Sequence[str]) -> list[str]:
        """The live views (and functions, of a type) reading any of ``names``, directly or
        through each other, the most dependent last (create order; drop them reversed)."""
        graph = self.report.dependents
        seen: list[str] = []

        def visit(name: str) -> None:
            for view in graph.get(name, []):
                if view not in seen:
                    visit(view)
                    seen.append(view)

        for name in names:
            visit(name)
            # a relation's columns are dependencies of their own
            for key in [k for k in graph if k.startswith(name + ".")]:
                visit(key)
        return list(reversed(seen))


Handler = Callable[[Difference, FixContext], list[Step]]


def literal(text: str) -> str:
    """``text`` as an SQL string literal (standard_conforming_strings, as since 9.1)."""
    return "'" + text.replace("'", "''") + "'"

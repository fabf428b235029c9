"""What an online migration in progress added is not drift (docs/online.md)."""

from __future__ import annotations

import re
from typing import Any

from .model import Difference


def online_owned(conn: Any) -> dict[str, list[str]]:
    """What an online migration in progress added (docs/online.md): not drift."""
    from ..migrate.model import ONLINE_STATE

    row = conn.execute("SELECT to_regclass(%s)", (ONLINE_STATE,)).fetchone()
    if row is None or row[0] is None:  # never ran an online migration: no engine import
        return {}
    from ..migrate import online

    state = online.active(conn)
    return state.plan["owned"] if state is not None else {}


_SHADOW = re.compile(r'(^|[."_])_w_')


def without_online(diffs: list[Difference], owned: dict[str, list[str]]) -> list[Difference]:
    """Drop the differences an active online migration explains: its version schemas and
    their views, its shadow columns, indexes, constraints and triggers (``_w_``), and what
    its plan says it added; anything else is still drift."""
    if not owned:
        return diffs
    schemas = owned.get("schemas", [])
    names = [n for key in ("columns", "indexes", "constraints", "tables", "functions",
                           "triggers") for n in owned.get(key, [])]

    def explained(d: Difference) -> bool:
        for schema in schemas:
            if d.name in (schema, f'"{schema}"') or d.name.startswith((f"{schema}.",
                                                                        f'"{schema}".')):
                return True
        if _SHADOW.search(d.name):
            return True
        bare, table = d.name.replace('"', ""), d.object.replace('"', "")
        if d.kind.startswith("sequence") and any(  # an identity or serial of a new table
                re.search(rf"(^|\.){re.escape(n)}_\w+_seq$", bare)
                for n in owned.get("tables", [])):
            return True
        return any(bare == n or bare.endswith("." + n) for n in names) or any(
            table == n or table.endswith("." + n) for n in owned.get("tables", []))

    return [d for d in diffs if not explained(d)]

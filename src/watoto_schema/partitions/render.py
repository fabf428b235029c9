"""DDL from the jinja2 templates in ``sql/templates/partitions/``, identifiers and literals
quoted by psycopg; ``render_initial`` is what a table's creating migration carries."""

from __future__ import annotations

import re
from datetime import date
from functools import cache
from typing import Any

from ..resources import data_dir
from .policy import TablePolicy, periods


def _ident(name: str) -> str:
    from psycopg import sql

    schema, _, relname = name.rpartition(".")
    parts = [schema, relname] if schema else [relname]
    return sql.Identifier(*parts).as_string(None)


def _literal(value: object) -> str:
    from psycopg import sql

    return sql.Literal(value).as_string(None)


# A template that only puts values in (`{{ name }}`, no tags, filters or comments) is
# filled in here, as jinja2 would fill it in; others go through jinja2, whose import costs
# ~20 ms (`migrate` premakes partitions with the one-line templates of this folder).
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


@cache
def _source(name: str) -> str:
    return (data_dir("sql") / "templates" / "partitions" / name).read_text(encoding="utf-8")


def _template(name: str, **values: Any) -> str:
    text = _source(name)
    if not any(mark in _PLACEHOLDER.sub("", text) for mark in ("{{", "{%", "{#")):
        def value(match: re.Match[str]) -> str:
            if match.group(1) not in values:  # jinja2's StrictUndefined
                raise KeyError(f"{name}: no value for {match.group(1)}")
            return str(values[match.group(1)])

        return _PLACEHOLDER.sub(value, text).strip()
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(loader=FileSystemLoader(data_dir("sql") / "templates" / "partitions"),
                      undefined=StrictUndefined, keep_trailing_newline=True)
    return env.get_template(name).render(**values).strip()


def _range_bound(lo: date, hi: date) -> str:
    return f"FOR VALUES FROM ({_literal(lo.isoformat())}) TO ({_literal(hi.isoformat())})"


def render_initial(policy: TablePolicy) -> str:
    """The DDL the migration creating ``policy.table`` carries for its first partitions."""
    parent = _ident(policy.table)
    statements = []
    if policy.strategy == "hash":
        assert policy.modulus
        for remainder in range(policy.modulus):
            statements.append(_template("hash.sql.j2", parent=parent, modulus=policy.modulus,
                                        remainder=remainder,
                                        partition=_ident(policy.name_for(remainder=remainder))))
    else:
        assert policy.start and policy.initial_until and policy.interval
        for lo, hi in periods(policy.start, policy.initial_until, policy.interval):
            statements.append(_template("range.sql.j2", parent=parent,
                                        partition=_ident(policy.name_for(lo)),
                                        lower=_literal(lo.isoformat()),
                                        upper=_literal(hi.isoformat())))
        if policy.default:
            statements.append(_template("default.sql.j2", parent=parent,
                                        partition=_ident(f"{policy.table}_default")))
    return "\n".join(statements) + "\n"

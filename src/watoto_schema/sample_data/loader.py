"""``load``: the bulk load in one transaction, step by step."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from ..errors import BadConfig
from .bulk import _deferrable, _Deferred, _set_triggers, _unpartitioned
from .generator import _Generator
from .guarantees import _check_guarantees, _refuse_unless_empty
from .mark import _mark
from .producer import _Producer
from .server import companion
from .tables import (
    _ANALYZE,
    _COLUMNS,
    _KEY_SOURCES,
    _MADE_ON_SERVER,
    KEY_TABLES,
    SEQUENCES,
    TABLES,
)

# Rows between two progress reports while a table is copied.
_REPORT_EVERY = 200_000


@dataclass
class SampleDataResult:
    """What ``load`` did: students generated, rows per table (load order) and wall time."""

    students: int
    rows: dict[str, int]  # table name -> rows loaded
    seconds: float
    steps: dict[str, float] = field(default_factory=dict)  # phase -> seconds
    marked: bool = False  # the database carries the sample-data mark


def load(
    conn: psycopg.Connection[Any],
    students: int,
    *,
    seed: int = 7,
    progress: Callable[[str, int], None] | None = None,
    on_step: Callable[[str], None] | None = None,
) -> SampleDataResult:
    """Fill an empty, migrated database with sample data for ``students`` students.

    All in one transaction: on any failure nothing is left behind. Raises ``BadConfig``
    when ``students < 1``, when the schema is missing, or when ``users``/``courses``
    already hold rows; ``GuaranteeBroken`` when a check after the load fails.
    ``progress(table, rows)`` is called after each table is copied, ``on_step(text)``
    whenever the load enters a phase (and every 200,000 rows of a COPY).
    """
    if students < 1:
        raise BadConfig(f"the number of students must be at least 1 (got {students})")
    step = on_step or (lambda text: None)
    began = time.perf_counter()
    clock = began
    steps: dict[str, float] = {}

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        steps[name] = round(steps.get(name, 0.0) + now - clock, 3)
        clock = now

    rows: dict[str, int] = {}
    with conn.transaction(), conn.cursor() as cur:
        _refuse_unless_empty(cur)
        # Empty (users and courses are, so everything that references them is): keys and
        # indexes are cheaper built once over the loaded rows than maintained row by row.
        step("dropping keys and indexes for the load")
        deferred = _deferrable(cur)
        for item in reversed(deferred):
            cur.execute(item.drop())
        _set_triggers(cur, enabled=False)
        plain = _unpartitioned(cur, TABLES)
        cur.execute(sql.SQL("TRUNCATE {}").format(
            sql.SQL(", ").join(sql.Identifier(name) for name in plain)))
        cur.execute("SET LOCAL maintenance_work_mem = '256MB'")
        lap("prepare")

        # Everything that can follow a table's COPY does, while the producer thread makes
        # the next table's rows (the connection waits on the server, the GIL is free): the
        # table's own keys and indexes, its ANALYZE, the key table filled from it with that
        # key table's keys, indexes and ANALYZE, then each foreign key whose two ends are
        # in and keyed. Only what involves the last table is left for the end.
        from . import _FILL_KEYS  # through the package, where a test may replace it

        own: dict[str, list[_Deferred]] = {}
        foreign: list[_Deferred] = []
        for item in deferred:
            (foreign if item.kind == "f" else own.setdefault(item.table, [])).append(item)
        fills = dict(zip(_KEY_SOURCES, zip(KEY_TABLES, _FILL_KEYS, strict=True), strict=True))
        ready: set[str] = set()  # loaded, keyed and analyzed (tables outside: always)

        def finish(table: str) -> None:
            for item in own.pop(table, []):
                step(f"building {item.name}")
                cur.execute(item.create())
            step(f"analyzing {table}")
            cur.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))
            lap("indexes and analyze")
            ready.add(table)

        def add_foreign_keys(every: bool = False) -> None:
            for item in list(foreign):
                ends = (item.table, item.referenced or item.table)
                if every or all(end in ready or end not in _ANALYZE for end in ends):
                    step(f"validating {item.name}")
                    cur.execute(item.create())
                    foreign.remove(item)
            lap("keys and foreign keys")

        with _Producer(_Generator(students, seed), seed,
                       lambda: companion(conn)) as producer:
            for table in TABLES:
                step(f"loading {table}")
                count = 0
                from_server = table in _MADE_ON_SERVER
                options = [option for option, wanted in (("FORMAT binary", from_server),
                                                         ("FREEZE", table in plain)) if wanted]
                statement = sql.SQL("COPY {} ({}) FROM STDIN{}").format(
                    sql.Identifier(table), sql.SQL(_COLUMNS[table]),
                    sql.SQL(f" WITH ({', '.join(options)})" if options else ""))
                reported = 0
                with cur.copy(statement) as copy:
                    write = copy.write_row
                    for chunk in producer.chunks(table):
                        if isinstance(chunk, list):
                            for row in chunk:
                                write(row)
                            count += len(chunk)
                        else:  # the second session's binary stream, passed on as it is
                            data, messages = chunk
                            copy.write(data)
                            count += messages
                        if count - reported >= _REPORT_EVERY:
                            reported = count
                            step(f"loading {table}: {count:,} rows")
                if from_server:  # exact (the messages count the stream's trailer too)
                    count = cur.rowcount
                rows[table] = count
                if progress is not None:
                    progress(table, count)
                lap("copy")
                finish(table)
                if table in fills:
                    key_table, fill = fills[table]
                    step(f"filling {key_table}")
                    cur.execute(fill)
                    lap("key tables")
                    finish(key_table)
                add_foreign_keys()

        for table in list(own):  # none should be left: tables are finished as they load
            finish(table)
        add_foreign_keys(every=True)  # none should be left either; in the catalog's order
        _set_triggers(cur, enabled=True)
        lap("keys and foreign keys")
        step("checking the guarantees")
        _check_guarantees(cur)
        lap("checks")

        # Ids are 1..count: move each sequence to the largest one (to 1, unused, if none).
        # setval is not undone by a rollback, so it runs only once every COPY has succeeded.
        for table, count in rows.items():
            cur.execute(
                "SELECT setval(%s::regclass, %s, %s)",
                (SEQUENCES[table], max(count, 1), count > 0),
            )
        marked = _mark(cur, students, seed)
        lap("checks")
    return SampleDataResult(students=students, rows=rows, seconds=time.perf_counter() - began,
                            steps=steps, marked=marked)

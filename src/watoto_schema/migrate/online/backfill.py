"""The backfill of an online migration: batched, paced, resumable, per leaf partition.

Each batch is one short transaction that fills the shadow columns of up to ``batch_rows``
rows, taken in primary-key order after the last key done, and records that key in
``watoto_online_backfill`` in the same transaction: a run killed at any moment resumes after
the last committed batch, and no batch is ever applied twice (re-applying one would be
harmless anyway: the values are computed from the old columns).

The table's own triggers do not fire for a backfill when the role may set
``session_replication_role`` (a superuser): a backfill is not an application write, and a
``BEFORE UPDATE`` trigger stamping ``updated_at`` would otherwise change every row. Without
that right they fire, as they do for pgroll's and Reshape's backfills (docs/online.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...errors import BackfillFailed
from ...retry import LOCK_NOT_AVAILABLE, backoff_delay
from ...target import one_line

if TYPE_CHECKING:
    import psycopg


@dataclass
class Pace:
    rows: int = 1000  # rows per batch
    pause: float = 0.0  # seconds between batches
    lock_retries: int = 50  # a batch whose row locks are not granted is taken again
    skip_triggers: bool = False  # the role may set session_replication_role (a superuser)
    # called before each batch (e.g. waiting while a standby lags); may raise to stop
    before_batch: Callable[[psycopg.Connection[Any], str], None] | None = None
    on_progress: Callable[[str, int], None] | None = None  # (leaf, rows of the batch)


def _q(name: str) -> str:
    from psycopg import sql

    return sql.Identifier(name).as_string(None)


@dataclass
class _Keys:
    """The primary key of a spec as SQL text: quoted names, typed parameters, the keyset."""

    names: list[str]
    types: list[str]

    @property
    def columns(self) -> str:
        return ", ".join(_q(k) for k in self.names)

    @property
    def as_text(self) -> str:
        return "ARRAY[" + ", ".join(f"{_q(k)}::text" for k in self.names) + "]"

    def after(self, last: list[str] | None) -> str:
        """``WHERE (key) > (last)``, or nothing for the first batch."""
        if last is None:
            return ""
        typed = ", ".join(f"%s::{t}" for t in self.types)
        return f"WHERE ({self.columns}) > ({typed})"

    def equal(self, left: str, right: str) -> str:
        return (f"({', '.join(f'{left}.{_q(k)}' for k in self.names)}) = "
                f"({', '.join(f'{right}.{_q(k)}' for k in self.names)})")

    def describe(self, key: list[str]) -> str:
        return "(" + ", ".join(self.names) + ")=(" + ", ".join(key) + ")"


@contextmanager
def _batch(conn: psycopg.Connection[Any], skip_triggers: bool) -> Iterator[None]:
    """One batch's transaction; the table's own triggers off when the role may."""
    with conn.transaction():
        if skip_triggers:
            conn.execute("SET LOCAL session_replication_role = replica")
        yield


def run(conn: psycopg.Connection[Any], version: str, spec: dict[str, Any], pace: Pace) -> None:
    """Backfill every leaf of ``spec['table']`` (idempotent; resumes where it stopped)."""
    for leaf in spec["leaves"]:  # every leaf counted first: progress has its whole total
        if conn.execute("SELECT 1 FROM watoto_online_backfill WHERE version = %s AND "
                        "relation = %s", (version, leaf)).fetchone() is None:
            total = conn.execute(f"SELECT count(*) FROM ONLY {leaf}").fetchone()
            conn.execute("INSERT INTO watoto_online_backfill (version, relation, rows_total, "
                         "started_at) VALUES (%s, %s, %s, clock_timestamp()) "
                         "ON CONFLICT DO NOTHING", (version, leaf, total[0] if total else 0))
    for leaf in spec["leaves"]:
        _leaf(conn, version, spec, leaf, pace)


def _leaf(conn: psycopg.Connection[Any], version: str, spec: dict[str, Any], leaf: str,
          pace: Pace) -> None:
    import psycopg

    row = conn.execute("SELECT last_key, done, rows_done FROM watoto_online_backfill "
                       "WHERE version = %s AND relation = %s", (version, leaf)).fetchone()
    assert row is not None
    if row[1]:
        return
    last: list[str] | None = row[0]
    if row[2] == 0:  # the rate counts from the first batch, not from the count
        conn.execute("UPDATE watoto_online_backfill SET started_at = clock_timestamp() "
                     "WHERE version = %s AND relation = %s", (version, leaf))
    keys = _Keys(spec["key"], spec["key_types"])
    sets = ", ".join(f"{_q(column)} = {value}" for column, value in spec["sets"])
    waits = 0
    while True:
        if pace.before_batch is not None:
            pace.before_batch(conn, version)
        # One statement per batch: pick the next keys, update those rows, return the count
        # and the last key. ONLY: the leaf itself (a partitioned table's leaves are listed).
        statement = (f"WITH batch AS (SELECT {keys.columns} FROM ONLY {leaf} "
                     f"{keys.after(last)} ORDER BY {keys.columns} LIMIT %s), "
                     f"done AS (UPDATE ONLY {leaf} t SET {sets} FROM batch "
                     f"WHERE {keys.equal('t', 'batch')} RETURNING 1) "
                     f"SELECT (SELECT count(*) FROM done), (SELECT {keys.as_text} FROM batch "
                     f"ORDER BY {keys.columns} DESC LIMIT 1)")
        try:
            with _batch(conn, pace.skip_triggers):
                result = conn.execute(statement, [*(last or []), pace.rows]).fetchone()
                assert result is not None
                count, key = int(result[0]), result[1]
                conn.execute(
                    "UPDATE watoto_online_backfill SET last_key = coalesce(%s, last_key), "
                    "rows_done = rows_done + %s, done = %s, updated_at = now() "
                    "WHERE version = %s AND relation = %s",
                    (key, count, count < pace.rows, version, leaf))
        except psycopg.Error as exc:
            if conn.broken:
                raise
            if exc.sqlstate == LOCK_NOT_AVAILABLE and waits < pace.lock_retries:
                # an application holds a row of the batch: wait and take the batch again
                waits += 1
                time.sleep(min(backoff_delay(0.05, waits - 1), 2.0))
                continue
            if exc.sqlstate == LOCK_NOT_AVAILABLE:
                from ...errors import MigrationBlocked

                raise MigrationBlocked(version, waits + 1, f"backfill of {leaf}",
                                       "sessions holding rows of the batch (see pg_locks); "
                                       "run migrate again to carry on") from None
            failed = _failing_row(conn, leaf, keys, sets, last, pace)
            raise BackfillFailed(version, leaf, failed or "?", one_line(exc)) from None
        if pace.on_progress is not None:
            pace.on_progress(leaf, count)
        if count < pace.rows:
            return
        last, waits = key, 0
        if pace.pause:
            time.sleep(pace.pause)


def _failing_row(conn: psycopg.Connection[Any], leaf: str, keys: _Keys, sets: str,
                 last: list[str] | None, pace: Pace) -> str | None:
    """Find the first row of the failed batch whose update fails: its key, as text."""
    import psycopg

    candidates = conn.execute(
        f"SELECT {keys.as_text} FROM ONLY {leaf} {keys.after(last)} ORDER BY {keys.columns} "
        "LIMIT %s", [*(last or []), pace.rows]).fetchall()
    match = " AND ".join(f"{_q(k)} = %s::{t}" for k, t in zip(keys.names, keys.types,
                                                                strict=True))
    for (key,) in candidates:
        try:
            with _batch(conn, pace.skip_triggers):
                conn.execute(f"UPDATE ONLY {leaf} SET {sets} WHERE {match}", key)
                raise _Undo
        except _Undo:
            continue
        except psycopg.Error:
            return keys.describe(key)
    return None


class _Undo(Exception):
    """Roll back a probe that succeeded (finding the failing row changes nothing)."""

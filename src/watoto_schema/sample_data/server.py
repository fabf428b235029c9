"""Module progress and submissions, made by the server in a second session.

They are three quarters of the rows, and making them in Python was most of the load's
Python time. The generator plans every enrollment (pace, mean score, modules completed and
started) as before; a second session on the same server receives that plan in temporary
tables and turns it into both tables' rows with ``sql/sample_data/server/*.sql``, as a
binary COPY stream (cheaper to make and to read than text), which the loading session's
``COPY ... FREEZE`` takes in as it comes. The second session writes nothing but its own
temporary objects (rolled back): it cannot see the loading session's uncommitted rows,
and does not need to.

Every random value is a hash of a key (progress, enrollment or submission id), the seed
and a stream number (``pg_temp.sample_u``), so the rows do not depend on the order the
server computes them in: the same seed and size give the same rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from ..errors import ConnectionFailed
from ..resources import sql_text
from ..target import one_line
from .dates import _REF, _T0
from .generator import _Generator
from .vocabulary import _FEEDBACK, _RETURN_FEEDBACK, _SUBMIT_SHARE

# Bytes of the COPY stream handed over at a time.
_PIECE = 1 << 20
# What each temporary table of prepare.sql is filled from (a generator method).
_PLAN_TABLES = (("sample_modules", "module_plan"), ("sample_assessments", "assessment_plan"),
                ("sample_enrollments", "progress_plan"))


def companion(conn: psycopg.Connection[Any]) -> psycopg.Connection[Any]:
    """A second connection to the same server and database with the same parameters
    (password included: libpq reports what it connected with; of several hosts, the one
    ``conn`` reached). ``ConnectionFailed`` when the server refuses it (no free connection
    for the role, the database or the server)."""
    params = {option.keyword.decode(): option.val.decode()
              for option in conn.pgconn.info if option.val is not None}
    params.update(host=conn.info.host, port=str(conn.info.port))
    if "hostaddr" in params:
        params["hostaddr"] = conn.info.hostaddr
    try:
        return psycopg.connect(make_conninfo(**params))
    except psycopg.OperationalError as exc:
        raise ConnectionFailed(
            "sample-data opens a second connection to make module progress and submissions "
            f"on the server, and the server refused it: {one_line(exc)}") from exc


def _salt(seed: int) -> int:
    # Streams are added to it; any seed maps into bigint range.
    return (seed * 64) % (1 << 62)


class _ServerRows:
    """The second session: the plan shipped once (``ship_plan``), then each table's rows
    as a binary COPY stream in pieces."""

    def __init__(self, conn: psycopg.Connection[Any], generator: _Generator) -> None:
        self.conn = conn
        self.generator = generator

    def ship_plan(self, seed: int) -> None:
        """The temporary tables and functions of prepare.sql, filled from the generator."""
        with self.conn.cursor() as cur:
            cur.execute("SET LOCAL work_mem = '256MB'")
            # Compiling the two queries cost about 0.8 s of CPU and gained nothing
            # measurable up to 100,000 students (20,000: 1.5 s instead of 3.1 s).
            cur.execute("SET LOCAL jit = off")
            cur.execute(sql.SQL(sql_text("sample_data/server/prepare.sql")).format(
                salt=sql.Literal(_salt(seed)),
                t0=sql.Literal(_T0.strftime("%Y-%m-%d %H:%M:%S"))))
            for table, method in _PLAN_TABLES:
                statement = sql.SQL("COPY {} FROM STDIN").format(sql.Identifier(table))
                with cur.copy(statement) as copy:
                    write = copy.write_row
                    for row in getattr(self.generator, method)():
                        write(row)
            cur.execute(sql.SQL("ANALYZE {}").format(
                sql.SQL(", ").join(sql.Identifier(table) for table, _ in _PLAN_TABLES)))

    def pieces(self, table: str) -> Iterator[tuple[bytes, int]]:
        """``table``'s rows as a binary COPY stream, about ``_PIECE`` bytes at a time, each
        with the number of messages in it: one a row, the stream's trailer one more.
        ``ship_plan`` first."""
        params: dict[str, Any] = {}
        if table == "assessment_submissions":
            params = {"share": _SUBMIT_SHARE, "reference": _REF, "feedback": list(_FEEDBACK),
                      "returned": list(_RETURN_FEEDBACK)}
        with self.conn.cursor() as cur, cur.copy(
                sql_text(f"sample_data/server/{table}.sql"), params or None) as out:
            buffer, messages = bytearray(), 0
            for data in out:
                buffer += data
                messages += 1
                if len(buffer) >= _PIECE:
                    yield bytes(buffer), messages
                    buffer, messages = bytearray(), 0
            if buffer:
                yield bytes(buffer), messages
